"""The HTTP layer: rate limit, retries, backoff, Retry-After, incomplete answers."""

from __future__ import annotations

import httpx
import pytest

from kettrack.errors import NetworkError
from kettrack.sources.http import HttpClient, Incomplete, RateLimiter, retry_after_seconds

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
    assert clock.sleeps == pytest.approx([1 / 3] * 3)


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
