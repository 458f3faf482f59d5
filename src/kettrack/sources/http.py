"""One HTTP client per run: timeouts, retries with backoff, and a shared rate limit.

Every request kettrack makes (E-utilities and ClinicalTrials.gov) goes through
:class:`HttpClient`. The transport is injectable, so the same code talks to NCBI,
to the in-process snapshot stand-in (``--offline``) or to a loopback server in
tests.

Retry policy (what NCBI and CT.gov need): HTTP 429 and 5xx, connection errors,
timeouts, truncated or undecodable bodies are retried with exponential backoff
and full jitter, honouring ``Retry-After``; anything else is an answer. A
caller may pass ``check`` to reject a 200 answer as incomplete (e.g. XML cut
short, NCBI's transient ``<ERROR>``), which is retried the same way. After the
last try the error is a :class:`~kettrack.errors.NetworkError` naming the
service and the last cause, never the URL's query string (it may hold an API
key). Each retry is logged on ``kettrack.http`` (the CLI shows it on a terminal).

Hostile or broken servers: every try has an overall deadline
(``KETTRACK_REQUEST_TIMEOUT``), not just a per-read timeout, so a server that
trickles a byte a second cannot hold a run (and its writer lock) forever; the
decoded size of an answer is capped (``KETTRACK_MAX_RESPONSE_MB``) as it is
inflated, so a gzip bomb costs a few kilobytes of memory, not gigabytes.
Redirects are followed only to the configured host (http may become https);
one to another host is refused with a one-line
:class:`~kettrack.errors.ServiceError`, so nothing kettrack sends, the API key
in a query string or a 307-redirected POST body included, goes there. A
redirect loop is refused after a few hops the same way.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

import httpcore
import httpx

from kettrack import __version__
from kettrack.errors import NetworkError, ServiceError
from kettrack.settings import redact

if TYPE_CHECKING:
    from kettrack.settings import Settings

RETRY_STATUS = {429, 500, 502, 503, 504}
#: redirects followed within one try (same host only)
MAX_REDIRECTS = 5
#: "retrying in N s" notices; the CLI shows them on a terminal
logger = logging.getLogger("kettrack.http")
logger.addHandler(logging.NullHandler())
USER_AGENT = f"kettrack/{__version__} (+https://pypi.org/project/kettrack/)"


class Incomplete(Exception):
    """Raised by a response ``check`` when a 200 answer is unusable but worth retrying."""


class _Retry(Exception):
    """An attempt that failed in a way worth trying again (the message says how)."""


class _Decoder:
    """``Content-Encoding`` undone chunk by chunk, never past ``limit`` bytes in all.

    kettrack asks only for gzip and deflate; httpx's own decoders would inflate a
    small compressed chunk whole (a gzip bomb), so the size is capped here, as
    the bytes are inflated.
    """

    def __init__(self, codings: list[str], limit: int) -> None:
        self.limit = limit
        self.total = 0
        self._stages: list[Any] = []
        for coding in reversed(codings):  # applied in order listed, so undone backwards
            if coding in ("gzip", "x-gzip"):
                self._stages.append(zlib.decompressobj(zlib.MAX_WBITS | 16))
            elif coding == "deflate":
                self._stages.append("deflate")  # zlib-wrapped or raw: decided on first bytes
            elif coding not in ("identity", ""):
                raise _Retry(f"an answer in an encoding kettrack did not ask for ({coding})")

    def _inflate(self, index: int, data: bytes) -> bytes:
        stage = self._stages[index]
        if stage == "deflate":
            wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (
                (data[0] << 8) | data[1]) % 31 == 0
            raw = not wrapped  # servers send either; raw deflate has no zlib header
            stage = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
            self._stages[index] = stage
        room = self.limit - self.total + 1
        parts = [stage.decompress(data, room)]
        size = len(parts[0])
        while stage.unconsumed_tail and size < room:
            parts.append(stage.decompress(stage.unconsumed_tail, room - size))
            size += len(parts[-1])
        if stage.unconsumed_tail:
            raise TooLarge(self.limit)
        return b"".join(parts)

    def feed(self, data: bytes) -> bytes:
        try:
            for index in range(len(self._stages)):
                data = self._inflate(index, data)
        except zlib.error as exc:
            raise _Retry(f"an answer that could not be decoded ({exc})") from None
        self.total += len(data)
        if self.total > self.limit:
            raise TooLarge(self.limit)
        return data

    def finish(self) -> None:
        for stage in self._stages:
            if isinstance(stage, str):
                continue
            if not stage.eof:
                raise _Retry("an answer whose compressed stream was cut short")


class TooLarge(Exception):
    """A response past the size cap (decoded)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"an answer larger than {limit // (1024 * 1024)} MB decoded "
                         "(KETTRACK_MAX_RESPONSE_MB)")


#: the monotonic time by which the current thread's try must be done (None: no deadline)
_DEADLINE = threading.local()


def _clamped(timeout: float | None) -> float | None:
    """A socket timeout no later than the current try's deadline."""
    end = getattr(_DEADLINE, "at", None)
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request's overall deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the try's deadline, so a
    server trickling its headers (not just its body) a byte at a time is cut off."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamped(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamped(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
                                                     _clamped(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(host, port, _clamped(timeout),
                                                       local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(path, _clamped(timeout),
                                                               socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _with_deadlines(client: httpx.Client) -> bool:
    """Route the client's sockets through :class:`_DeadlineBackend` (httpx offers
    no public hook for it; its transports keep an httpcore pool whose backend is
    replaceable). False when the transport is not httpx's own (a MockTransport):
    then only the body is held to the deadline, as it arrives."""
    done = False
    for transport in [client._transport, *client._mounts.values()]:  # noqa: SLF001
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]  # noqa: SLF001
            done = True
    return done


#: starts are spaced this much wider than ``1/rate``, so that jitter after the
#: start (a thread that must wait for the interpreter before its bytes leave,
#: a busy server stamping arrivals late) never puts ``rate + 1`` starts into
#: one second of the server's clock. Bio.Entrez keeps 0.37 s for 3/s, for the same
#: reason.
RATE_MARGIN = 0.1


class RateLimiter:
    """Request starts at least ``(1 + margin)/rate`` seconds apart, across threads.

    It counts *starts*, whoever makes them: every try of every request (retries
    included) of every thread sharing the limiter takes the next slot. Requests
    may overlap (several in flight, each waiting for its answer); only their
    starts are spaced, so with NCBI's 3 per second no one-second window ever
    holds a fourth start, however many threads fetch at once. The spacing is
    kept between the moments callers actually go, not just between their
    slots: a thread woken late pushes the ones after it back.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, *,
                 margin: float = RATE_MARGIN) -> None:
        self.rate = rate
        self.interval = (1.0 + margin) / rate if rate > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._last = -math.inf
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until the next request may be started (each caller gets its own slot)."""
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        while True:
            if slot > now:
                self._sleep(slot - now)
            with self._lock:
                now = self._clock()
                if now >= self._last + self.interval:
                    self._last = now
                    self._next = max(self._next, now + self.interval)
                    return
                slot = self._last + self.interval  # the one before went late


@dataclass
class RequestLog:
    """What a run sent, for ``--json`` summaries and the benchmark (thread-safe:
    a run fetches the next efetch batch on a second thread)."""

    sent: int = 0
    retried: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, endpoint: str) -> None:
        with self._lock:
            self.sent += 1
            self.by_endpoint[endpoint] = self.by_endpoint.get(endpoint, 0) + 1

    def retry(self) -> None:
        with self._lock:
            self.retried += 1


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse ``Retry-After`` (seconds or an HTTP date) into seconds to wait."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class HttpClient:
    """An httpx client with kettrack's timeouts, rate limit and retry policy."""

    def __init__(
        self,
        *,
        service: str,
        rate: float,
        transport: httpx.BaseTransport | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        deadline: float = 300.0,
        max_bytes: int = 256 * 1024 * 1024,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        max_backoff: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        limiter: RateLimiter | None = None,
        log: RequestLog | None = None,
        secrets: Sequence[str] = (),
        url_setting: str = "the service URL",
    ) -> None:
        self.service = service
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.max_backoff = max_backoff
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.secrets = [s for s in secrets if s]
        self.url_setting = url_setting
        self._sleep = sleep
        self.limiter = limiter or RateLimiter(rate, sleep=sleep)
        self.log = log or RequestLog()
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        # Redirects are followed by hand (same host only), so an API key in a
        # query string or a POST body never reaches another host.
        self._client = httpx.Client(
            transport=transport, timeout=timeout, follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        )
        _with_deadlines(self._client)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        ceiling = min(self.max_backoff, self.backoff_base * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)

    def _fail(self, endpoint: str, message: str) -> ServiceError:
        return ServiceError(redact(f"{self.service} {endpoint}: {message}", self.secrets))

    def request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        check: Callable[[httpx.Response], None] | None = None,
    ) -> httpx.Response:
        """Send with retries; return the first good response (2xx, or 4xx other than 429).

        ``endpoint`` names the call in logs and errors ("esearch", "efetch").
        Each try has an overall deadline and a cap on the decoded size; the
        response returned is read whole (``response.content``).
        """
        last = "no attempt"
        tries = self.max_retries + 1
        for attempt in range(tries):
            if attempt:
                self.log.retry()
            self.limiter.wait()
            self.log.count(endpoint)
            retry_after: float | None = None
            try:
                response = self._send(method, url, endpoint, params, data)
            except httpx.TimeoutException as exc:
                last = f"timed out ({type(exc).__name__})"
            except httpx.InvalidURL as exc:
                raise self._fail(endpoint, f"bad address ({_first_line(exc)})") from None
            except (httpx.TransportError, httpx.DecodingError) as exc:
                last = f"connection failed ({type(exc).__name__}: {_first_line(exc)})"
            except httpx.HTTPError as exc:
                last = f"failed ({type(exc).__name__}: {_first_line(exc)})"
            except _Retry as exc:
                last = str(exc)
            else:
                if response.status_code in RETRY_STATUS:
                    last = f"HTTP {response.status_code}"
                    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                else:
                    if check is None or response.status_code >= 400:
                        return response
                    try:
                        check(response)
                    except Incomplete as exc:
                        last = str(exc)
                    else:
                        return response
            last = redact(last, self.secrets)
            if attempt < self.max_retries:
                pause = self._backoff(attempt, retry_after)
                logger.warning("%s %s: %s; retrying in %.1f s (try %d of %d)", self.service,
                               endpoint, last, pause, attempt + 2, tries)
                self._sleep(pause)
        raise NetworkError(
            f"{self.service} {endpoint}: no usable answer after {tries} "
            f"{'try' if tries == 1 else 'tries'} (last: {last})"
        )

    def _send(self, method: str, url: str, endpoint: str, params: Mapping[str, Any] | None,
              data: Mapping[str, Any] | None) -> httpx.Response:
        """One try: send, follow same-host redirects, read the body within the
        deadline and the size cap."""
        start = time.monotonic()
        _DEADLINE.at = start + self.deadline
        try:
            return self._send_within(start, method, url, endpoint, params, data)
        except httpx.TimeoutException:
            if time.monotonic() - start < self.deadline:
                raise
            raise _Retry(self._past_deadline()) from None
        finally:
            _DEADLINE.at = None

    def _past_deadline(self) -> str:
        return (f"timed out (no complete answer within {self.deadline:g} s; "
                "KETTRACK_REQUEST_TIMEOUT)")

    def _send_within(self, start: float, method: str, url: str, endpoint: str,
                     params: Mapping[str, Any] | None,
                     data: Mapping[str, Any] | None) -> httpx.Response:
        request = self._client.build_request(method, url, params=params, data=data)
        origin = request.url
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._client.send(request, stream=True)
            try:
                if response.is_redirect:
                    request = self._redirected(request, response, origin, endpoint)
                    continue
                body = self._read(response, start, endpoint)
            finally:
                response.close()
            headers = [(k, v) for k, v in response.headers.multi_items()
                       if k.lower() not in ("content-encoding", "content-length",
                                            "transfer-encoding")]
            return httpx.Response(response.status_code, headers=headers, content=body,
                                  request=request)
        raise self._fail(endpoint, f"more than {MAX_REDIRECTS} redirects (a redirect loop?); "
                                   f"last to {_where(request.url)}")

    def _redirected(self, request: httpx.Request, response: httpx.Response,
                    origin: httpx.URL, endpoint: str) -> httpx.Request:
        """The request a 3xx answer asks for, if it stays on the configured host."""
        try:
            target = request.url.join(response.headers["Location"])
        except httpx.InvalidURL as exc:
            raise self._fail(endpoint, f"redirected to a bad address ({_first_line(exc)})"
                             ) from None
        if target.host != origin.host:
            raise self._fail(
                endpoint, f"redirected to another host ({_where(target)}); not followed, so "
                f"nothing kettrack sends (the API key included) goes there. If the service "
                f"has moved, set {self.url_setting} to its new address")
        if target.scheme != origin.scheme and (origin.scheme, target.scheme) != ("http",
                                                                                  "https"):
            raise self._fail(endpoint, f"redirected from {origin.scheme} to {target.scheme} "
                                       f"({_where(target)}); not followed")
        method = request.method
        if response.status_code == 303 and method != "HEAD" or (
                response.status_code in (301, 302) and method == "POST"):
            return self._client.build_request("GET", target)
        # 307/308 keep the method and the body (same host, so the key may go along)
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("content-type",)}
        return self._client.build_request(method, target, content=request.content,
                                          headers=headers)

    def _read(self, response: httpx.Response, start: float, endpoint: str) -> bytes:
        if response.is_stream_consumed:
            # an in-process transport (httpx.MockTransport) hands over a body
            # already read and decoded: only the cap is left to apply
            if len(response.content) > self.max_bytes:
                raise self._fail(endpoint, str(TooLarge(self.max_bytes)))
            return response.content
        codings = [c.strip().lower()
                   for c in response.headers.get("Content-Encoding", "").split(",")]
        decoder = _Decoder(codings, self.max_bytes)
        parts: list[bytes] = []
        try:
            for chunk in response.iter_raw():
                if time.monotonic() - start > self.deadline:
                    raise _Retry(self._past_deadline())
                parts.append(decoder.feed(chunk))
        except TooLarge as exc:
            raise self._fail(endpoint, str(exc)) from None
        decoder.finish()
        return b"".join(parts)


class ServiceClient:
    """Base of kettrack's service clients (E-utilities, ClinicalTrials.gov): one
    :class:`HttpClient` built from the settings' timeouts and retry policy,
    closed when the client is."""

    service = "a service"
    #: the setting that holds this service's base URL (named in redirect errors)
    url_setting = "the service URL"

    def __init__(self, settings: Settings, *, rate: float,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] | None = None,
                 log: RequestLog | None = None) -> None:
        self.settings = settings
        extra: dict[str, Any] = {"sleep": sleep} if sleep else {}
        self.http = HttpClient(
            service=self.service,
            rate=rate,
            transport=transport,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_retries=settings.max_retries,
            backoff_base=settings.backoff_base,
            deadline=settings.request_timeout,
            max_bytes=settings.max_response_mb * 1024 * 1024,
            secrets=settings.secrets(),
            url_setting=self.url_setting,
            log=log,
            **extra,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _where(url: httpx.URL) -> str:
    """A URL's host and path for messages: never its query string (it may hold a key)."""
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}{url.path}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__
