"""One HTTP client per run: timeouts, retries with backoff, and a shared rate limit.

Every request kettrack makes (E-utilities and ClinicalTrials.gov) goes through
:class:`HttpClient`. The transport is injectable, so the same code talks to NCBI,
to the in-process snapshot stand-in (``--offline``) or to a loopback server in
tests.

Retry policy (what NCBI and CT.gov need): HTTP 429 and 5xx, connection errors,
timeouts and truncated bodies are retried with exponential backoff and full
jitter, honouring ``Retry-After``; anything else is an answer. A caller may
pass ``check`` to reject a 200 answer as incomplete (e.g. XML cut short), which
is retried the same way. After the last try the error is a
:class:`~kettrack.errors.NetworkError` naming the service and the last cause,
never the URL's query string (it may hold an API key).
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

import httpx

from kettrack import __version__
from kettrack.errors import NetworkError

if TYPE_CHECKING:
    from kettrack.settings import Settings

RETRY_STATUS = {429, 500, 502, 503, 504}
USER_AGENT = f"kettrack/{__version__} (+https://pypi.org/project/kettrack/)"


class Incomplete(Exception):
    """Raised by a response ``check`` when a 200 answer is unusable but worth retrying."""


class RateLimiter:
    """Space requests at least ``1/rate`` seconds apart, across threads."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until the next request may be sent."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


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
        max_retries: int = 5,
        backoff_base: float = 0.5,
        max_backoff: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        limiter: RateLimiter | None = None,
        log: RequestLog | None = None,
    ) -> None:
        self.service = service
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.max_backoff = max_backoff
        self._sleep = sleep
        self.limiter = limiter or RateLimiter(rate, sleep=sleep)
        self.log = log or RequestLog()
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._client = httpx.Client(
            transport=transport, timeout=timeout, headers={"User-Agent": USER_AGENT},
            follow_redirects=True,
        )

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
        """
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.log.retry()
            self.limiter.wait()
            self.log.count(endpoint)
            retry_after: float | None = None
            try:
                response = self._client.request(method, url, params=params, data=data)
            except httpx.TimeoutException as exc:
                last = f"timed out ({type(exc).__name__})"
            except httpx.TransportError as exc:
                last = f"connection failed ({type(exc).__name__}: {_first_line(exc)})"
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
            if attempt < self.max_retries:
                self._sleep(self._backoff(attempt, retry_after))
        raise NetworkError(
            f"{self.service} {endpoint}: no usable answer after {self.max_retries + 1} tries "
            f"(last: {last})"
        )


class ServiceClient:
    """Base of kettrack's service clients (E-utilities, ClinicalTrials.gov): one
    :class:`HttpClient` built from the settings' timeouts and retry policy,
    closed when the client is."""

    service = "a service"

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
            log=log,
            **extra,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__
