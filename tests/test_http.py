"""The HTTP layer: rate limit, retries, backoff, Retry-After, incomplete answers; and a
hostile server on loopback: redirects, endless bodies, gzip bombs."""

from __future__ import annotations

import gzip
import io
import logging
import threading
import time
import tracemalloc
import zlib

import httpx
import pytest

from kettrack.dev.faultserver import FaultPlan, serve
from kettrack.errors import NetworkError, ServiceError
from kettrack.sources.http import (
    RATE_MARGIN,
    HttpClient,
    Incomplete,
    RateLimiter,
    retry_after_seconds,
)

from .conftest import scripted


class Clock:
    """A fake monotonic clock whose sleep advances time."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client(transport: httpx.BaseTransport, clock: Clock, **kw: object) -> HttpClient:
    # rate 0: no spacing, so every recorded sleep is a backoff
    limiter = RateLimiter(0, clock=clock.time, sleep=clock.sleep)
    return HttpClient(service="NCBI E-utilities", rate=0, transport=transport, limiter=limiter,
                      sleep=clock.sleep, backoff_base=1.0, **kw)  # type: ignore[arg-type]


def test_rate_limiter_spaces_requests() -> None:
    clock = Clock()
    limiter = RateLimiter(3, clock=clock.time, sleep=clock.sleep)
    for _ in range(4):
        limiter.wait()
    # first request goes at once; the next three each wait a third of a second
    # and the safety margin (Bio.Entrez: 0.37 s)
    assert clock.sleeps == pytest.approx([(1 + RATE_MARGIN) / 3] * 3)


def test_rate_limiter_counts_starts_across_threads_even_when_one_wakes_late() -> None:
    # eight threads share one limiter; one of them always wakes 30 ms late (a
    # busy interpreter). No one-second window may hold more than the rate.
    rate = 50

    def sleep(seconds: float) -> None:
        time.sleep(seconds + (0.03 if threading.current_thread().name == "late" else 0))

    limiter = RateLimiter(rate, sleep=sleep)
    starts: list[float] = []
    lock = threading.Lock()

    def fetch() -> None:
        for _ in range(8):
            limiter.wait()
            with lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=fetch, name="late" if i == 0 else f"t{i}")
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts.sort()
    assert len(starts) == 64
    most = max(sum(1 for t in starts if first <= t < first + 1.0) for first in starts)
    assert most <= rate
    # and the limiter kept them apart: 64 starts took at least 63 intervals
    assert starts[-1] - starts[0] >= 63 * limiter.interval * 0.95


def test_rate_limiter_does_not_wait_after_idle_time() -> None:
    clock = Clock()
    limiter = RateLimiter(3, clock=clock.time, sleep=clock.sleep)
    limiter.wait()
    clock.now += 5
    limiter.wait()
    assert clock.sleeps == []


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retries_retryable_status_then_succeeds(status: int) -> None:
    clock = Clock()
    transport, seen = scripted(httpx.Response(status), httpx.Response(200, text="ok"))
    with client(transport, clock) as http:
        response = http.request("GET", "https://x.test/esearch.fcgi", endpoint="esearch")
    assert response.text == "ok"
    assert len(seen) == 2 and http.log.retried == 1 and http.log.sent == 2
    assert 0.5 <= clock.sleeps[0] <= 1.0  # jittered, within the first backoff step


def test_honours_retry_after_seconds() -> None:
    clock = Clock()
    transport, _ = scripted(
        httpx.Response(429, headers={"Retry-After": "7"},
                       json={"error": "API rate limit exceeded", "count": "4", "limit": "3"}),
        httpx.Response(200, text="ok"),
    )
    with client(transport, clock) as http:
        http.request("GET", "https://x.test/efetch.fcgi", endpoint="efetch")
    assert clock.sleeps == [7.0]


def test_retry_after_http_date() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_backoff_grows_exponentially_and_gives_up() -> None:
    clock = Clock()
    transport, seen = scripted(*[httpx.Response(503)] * 4)
    with client(transport, clock, max_retries=3) as http, pytest.raises(NetworkError) as err:
        http.request("GET", "https://x.test/esearch.fcgi", endpoint="esearch")
    assert len(seen) == 4
    assert "esearch: no usable answer after 4 tries (last: HTTP 503)" in str(err.value)
    for step, slept in enumerate(clock.sleeps):
        assert 2**step / 2 <= slept <= 2**step


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadError, httpx.ReadTimeout,
                                   httpx.RemoteProtocolError])
def test_transport_errors_are_retried(error: type[Exception]) -> None:
    clock = Clock()
    transport, seen = scripted(error, httpx.Response(200, text="ok"))
    with client(transport, clock) as http:
        assert http.request("GET", "https://x.test/e", endpoint="efetch").text == "ok"
    assert len(seen) == 2


def test_client_errors_are_answers_not_retries() -> None:
    clock = Clock()
    transport, seen = scripted(httpx.Response(400, text="bad request"))
    with client(transport, clock) as http:
        assert http.request("GET", "https://x.test/e", endpoint="esearch").status_code == 400
    assert len(seen) == 1 and clock.sleeps == []


def test_check_rejects_incomplete_answers_and_retries() -> None:
    clock = Clock()
    transport, seen = scripted(httpx.Response(200, text="<a>cut"), httpx.Response(200, text="<a/>"))

    def check(response: httpx.Response) -> None:
        if not response.text.endswith("/>"):
            raise Incomplete("cut short")

    with client(transport, clock) as http:
        answer = http.request("GET", "https://x.test/e", endpoint="efetch", check=check)
    assert answer.text == "<a/>"
    assert len(seen) == 2


def test_error_message_never_contains_the_query_string() -> None:
    clock = Clock()
    transport, _ = scripted(httpx.ConnectError, httpx.ConnectError)
    with client(transport, clock, max_retries=1) as http, pytest.raises(NetworkError) as err:
        http.request("GET", "https://x.test/e", endpoint="esearch",
                     params={"api_key": "SECRETKEY123", "term": "ketamine"})
    assert "SECRETKEY123" not in str(err.value) and "ketamine" not in str(err.value)


def test_sends_user_agent() -> None:
    clock = Clock()
    transport, seen = scripted(httpx.Response(200))
    with client(transport, clock) as http:
        http.request("GET", "https://x.test/e", endpoint="einfo")
    assert seen[0].headers["User-Agent"].startswith("kettrack/")


def test_no_retries_means_one_try() -> None:
    clock = Clock()
    transport, seen = scripted(httpx.Response(503))
    with client(transport, clock, max_retries=0) as http, pytest.raises(NetworkError) as err:
        http.request("GET", "https://x.test/esearch.fcgi", endpoint="esearch")
    assert len(seen) == 1 and clock.sleeps == []
    assert "after 1 try (last: HTTP 503)" in str(err.value)


def test_each_retry_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    transport, _ = scripted(httpx.ConnectError, httpx.Response(200, text="ok"))
    with caplog.at_level(logging.WARNING, logger="kettrack.http"), client(transport, clock) as http:
        http.request("GET", "https://x.test/e", endpoint="esearch",
                     params={"api_key": "SECRETKEY123"})
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("NCBI E-utilities esearch: connection failed (ConnectError")
    assert "retrying in" in line and "try 2 of 6" in line and "SECRETKEY123" not in line


# -- a hostile server: redirects, endless bodies, bombs (real sockets) ------------------

def answer_xml(request: httpx.Request) -> httpx.Response:
    """The whole "service": a small XML answer that echoes how it was asked."""
    body = f"<r method='{request.method}' query='{request.url.query.decode()}'/>"
    return httpx.Response(200, headers={"Content-Type": "text/xml"}, content=body.encode())


def loopback_client(**kw: object) -> HttpClient:
    options: dict[str, object] = {"max_retries": 1, "backoff_base": 0, "read_timeout": 2.0,
                                  "connect_timeout": 2.0}
    options.update(kw)
    return HttpClient(service="NCBI E-utilities", rate=0, sleep=lambda s: None,
                      secrets=["SECRETKEY123"], url_setting="KETTRACK_EUTILS_URL",
                      **options)  # type: ignore[arg-type]


def test_redirect_to_another_host_is_refused_and_the_key_never_goes_there() -> None:
    plan = FaultPlan().on("efetch", "redirect_away")
    with serve(answer_xml, plan) as base, loopback_client() as http, \
            pytest.raises(ServiceError) as err:
        # a long ID list goes by POST, with the key in the body: 307 keeps both
        http.request("POST", base + "efetch.fcgi", endpoint="efetch",
                     data={"api_key": "SECRETKEY123", "id": "1,2,3"})
    message = str(err.value)
    assert "redirected to another host (http://localhost:" in message
    assert "KETTRACK_EUTILS_URL" in message and "\n" not in message
    assert "SECRETKEY123" not in message
    assert plan.hosts == [base.split("/")[2]]  # nothing reached "localhost"


def test_same_host_redirect_keeps_the_post_body() -> None:
    plan = FaultPlan().on("efetch", "redirect_same")
    with serve(answer_xml, plan) as base, loopback_client() as http:
        response = http.request("POST", base + "efetch.fcgi", endpoint="efetch",
                                data={"id": "1,2,3"})
    assert response.text == "<r method='POST' query='redirected=1'/>"
    assert len(plan.hosts) == 2


def test_redirect_loop_is_one_line() -> None:
    plan = FaultPlan().on("esearch", "redirect_loop", times=100)
    with serve(answer_xml, plan) as base, loopback_client() as http, \
            pytest.raises(ServiceError) as err:
        http.request("GET", base + "esearch.fcgi", endpoint="esearch",
                     params={"api_key": "SECRETKEY123"})
    assert "esearch: more than 5 redirects (a redirect loop?)" in str(err.value)
    assert "SECRETKEY123" not in str(err.value)
    assert len(plan.fired) == 6  # the first request and five hops: not retried


def test_an_endless_slow_body_meets_the_overall_deadline() -> None:
    # a byte every 50 ms never trips the 2 s read timeout; the deadline ends it
    plan = FaultPlan().on("efetch", "trickle", times=2, seconds=0.05)
    with serve(answer_xml, plan) as base, loopback_client(deadline=0.5) as http, \
            pytest.raises(NetworkError) as err:
        http.request("GET", base + "efetch.fcgi", endpoint="efetch")
    assert "no complete answer within 0.5 s" in str(err.value)
    assert plan.fired == [("efetch", "trickle")] * 2


def test_endless_slow_headers_meet_the_overall_deadline_too() -> None:
    plan = FaultPlan().on("esearch", "slowheaders", times=2, seconds=0.05)
    with serve(answer_xml, plan) as base, loopback_client(deadline=0.5) as http, \
            pytest.raises(NetworkError) as err:
        http.request("GET", base + "esearch.fcgi", endpoint="esearch")
    assert "no complete answer within 0.5 s" in str(err.value)
    assert plan.fired == [("esearch", "slowheaders")] * 2


def test_a_slow_body_within_the_deadline_is_read() -> None:
    plan = FaultPlan().on("efetch", "slow", seconds=0.2)
    with serve(answer_xml, plan) as base, loopback_client(deadline=30) as http:
        assert http.request("GET", base + "efetch.fcgi", endpoint="efetch").text.startswith("<r")


def test_a_gzip_bomb_is_capped_as_it_is_inflated() -> None:
    plan = FaultPlan().on("efetch", "bomb")
    tracemalloc.start()
    try:
        with serve(answer_xml, plan) as base, loopback_client(max_bytes=4 << 20) as http, \
                pytest.raises(ServiceError) as err:
            http.request("GET", base + "efetch.fcgi", endpoint="efetch")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "efetch: an answer larger than 4 MB decoded" in str(err.value)
    assert len(plan.fired) == 1  # not retried: the same bomb would come again
    assert peak < 40 << 20  # the 100 MB it inflates to were never held


def test_bad_gzip_is_retried_and_gzip_is_decoded() -> None:
    plan = FaultPlan().on("efetch", "badgzip")
    with serve(answer_xml, plan) as base, loopback_client() as http:
        assert http.request("GET", base + "efetch.fcgi", endpoint="efetch").text.startswith("<r")
    assert plan.fired == [("efetch", "badgzip")]
    clock = Clock()
    for coding, packed in [("gzip", gzip.compress(b"<ok/>")), ("deflate", zlib.compress(b"<ok/>")),
                           ("deflate", zlib.compress(b"<ok/>")[2:-4])]:
        # stream=: the body arrives as bytes off the wire, not already decoded
        transport, _ = scripted(httpx.Response(200, headers={"Content-Encoding": coding},
                                               stream=httpx.ByteStream(packed)))
        with client(transport, clock) as http:
            assert http.request("GET", "https://x.test/e", endpoint="efetch").text == "<ok/>"


def test_decoding_errors_and_bad_redirects_never_escape_as_httpx_errors() -> None:
    clock = Clock()
    transport, seen = scripted(httpx.DecodingError, httpx.TooManyRedirects,
                               httpx.Response(200, text="ok"))
    with client(transport, clock) as http:
        assert http.request("GET", "https://x.test/e", endpoint="efetch").text == "ok"
    assert len(seen) == 3
    transport, _ = scripted(*[httpx.Response(302, headers={"Location": "http://[::1/x"})] * 2)
    with client(transport, clock, max_retries=1) as http, pytest.raises(NetworkError) as err:
        http.request("GET", "https://x.test/e", endpoint="efetch")
    assert "Invalid URL in location header" in str(err.value)


def test_retries_are_shown_on_a_terminal_only() -> None:
    from kettrack.cli import show_retries

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, pipe = Terminal(), io.StringIO()
    show_retries(terminal)
    show_retries(terminal)  # once, however often a command starts
    show_retries(pipe)
    log = logging.getLogger("kettrack.http")
    try:
        clock = Clock()
        transport, _ = scripted(httpx.ConnectError, httpx.Response(200, text="ok"))
        with client(transport, clock) as http:
            http.request("GET", "https://x.test/e", endpoint="esearch")
    finally:
        for handler in [h for h in log.handlers if getattr(h, "kettrack_for", None) is terminal]:
            log.removeHandler(handler)
    assert terminal.getvalue().count("\n") == 1
    assert terminal.getvalue().startswith("kettrack: NCBI E-utilities esearch: connection failed")
    assert pipe.getvalue() == ""


# -- service URLs are checked at start-up ---------------------------------------------

@pytest.mark.parametrize("url", ["eutils.ncbi.nlm.nih.gov/entrez/eutils/", "http://[::1",
                                 "ftp://example.org/", "http:///path", "http://h:99999/",
                                 "http://h/x?api_key=SECRETKEY123", "http://h/ x"])
def test_a_bad_service_url_is_bad_input_before_any_request(url: str) -> None:
    from typer.testing import CliRunner

    from kettrack.cli import app

    env = {"KETTRACK_EUTILS_URL": url, "NCBI_API_KEY": "SECRETKEY123"}
    result = CliRunner().invoke(app, ["run"], env=env, catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: KETTRACK_EUTILS_URL=")
    assert result.stderr.count("\n") == 1 and "SECRETKEY123" not in result.output
    assert "Traceback" not in result.output


def test_a_good_service_url_passes() -> None:
    from kettrack.settings import Settings

    env = {"KETTRACK_EUTILS_URL": "http://127.0.0.1:8080/entrez/eutils/",
           "KETTRACK_CTGOV_URL": "https://[::1]:8443/api/v2/", "KETTRACK_MAX_RETRIES": "0"}
    settings = Settings.from_env(env)
    assert settings.eutils_url == env["KETTRACK_EUTILS_URL"] and settings.max_retries == 0


def test_redirect_may_upgrade_to_https_but_never_downgrade() -> None:
    clock = Clock()
    transport, seen = scripted(
        httpx.Response(301, headers={"Location": "https://x.test/e?x=1"}),
        httpx.Response(200, text="ok"),
        httpx.Response(302, headers={"Location": "http://x.test/e"}))
    with client(transport, clock) as http:
        assert http.request("GET", "http://x.test/e", endpoint="esearch").text == "ok"
        with pytest.raises(ServiceError, match="redirected from https to http"):
            http.request("GET", "https://x.test/e", endpoint="esearch")
    assert [str(r.url) for r in seen] == ["http://x.test/e", "https://x.test/e?x=1",
                                          "https://x.test/e"]


@pytest.mark.parametrize(("name", "value", "message"), [
    ("KETTRACK_REQUEST_TIMEOUT", "0", "must be more than 0"),
    ("KETTRACK_MAX_RESPONSE_MB", "0", "must be at least 1"),
    ("KETTRACK_MAX_RETRIES", "-1", "must be at least 0"),
])
def test_limits_that_would_make_every_request_fail_are_refused(name: str, value: str,
                                                               message: str) -> None:
    from kettrack.errors import ConfigError
    from kettrack.settings import Settings

    with pytest.raises(ConfigError, match=message):
        Settings.from_env({name: value})
