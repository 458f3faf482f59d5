"""The E-utilities stand-in on a real loopback socket, with injected faults.

Tests that need a socket (timeouts, resets, truncated bodies) use::

    plan = FaultPlan().on("efetch", "reset").on("esearch", "429", times=2)
    with serve(standin, plan) as base_url:
        client = httpx.Client(base_url=base_url)
        ...
    assert plan.fired == [...]

The server listens on 127.0.0.1 only, on a free port, in a daemon thread, and
stops when the ``with`` block ends, even while a ``stall`` fault is sleeping.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from kettrack.standin.eutils import (
    PUBMED_SET_HEAD,
    PUBMED_SET_TAIL,
    endpoint_of,
    error_body,
    rate_limit_response,
)
from kettrack.standin.snapshot import split_records

__all__ = ["FAULT_HELP", "FAULT_KINDS", "Fault", "FaultPlan", "gzip_bomb", "serve"]

FAULT_KINDS = frozenset(
    {"429", "500", "502", "503", "reset", "truncate", "stall", "error200", "html", "short",
     "slow", "trickle", "bomb", "badgzip", "redirect_away", "redirect_loop", "redirect_same",
     "dup", "slowheaders"}
)
#: what each kind does (``seconds`` is the stall, the slow body's whole time, or
#: the trickle's interval between bytes)
FAULT_HELP = {
    "429": "HTTP 429 with Retry-After, NCBI's rate-limit answer",
    "500": "HTTP 500 HTML page", "502": "HTTP 502 HTML page", "503": "HTTP 503 HTML page",
    "reset": "connection reset (RST) before any answer",
    "truncate": "the full Content-Length promised, half the body sent, connection closed",
    "stall": "sleep `seconds`, then answer normally",
    "error200": "HTTP 200 <ERROR>Search Backend failed</ERROR>",
    "html": "HTTP 200 HTML 'service unavailable' page",
    "short": "efetch: a well-formed answer with only half the records",
    "slow": "the right answer, trickled out over `seconds`",
    "dup": "efetch: the right answer with its first record repeated at the end",
    "trickle": "an endless body, one byte every `seconds` (never completes)",
    "slowheaders": "endless headers, one byte every `seconds` (the body never starts)",
    "bomb": "a gzip bomb: about 100 KB that inflate to 100 MB",
    "badgzip": "Content-Encoding: gzip on bytes that are not gzip",
    "redirect_away": "307 to the same port under another host name (localhost)",
    "redirect_loop": "302 to the very same URL",
    "redirect_same": "307 to the same URL with ?redirected=1 (same host: to be followed)",
}

#: what NCBI's front end sends when the backend is down: HTML on HTTP 200
SERVICE_UNAVAILABLE_HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Service unavailable</title></head>\n"
    b"<body><h1>Service unavailable</h1>\n"
    b"<p>The service is temporarily unavailable. Please try again later.</p></body></html>\n"
)
#: a transient backend failure NCBI reports inside a 200 answer
BACKEND_ERROR = "Search Backend failed: Database is not supported: pubmed"

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Fault:
    """Misbehave on requests to ``endpoint`` (``"*"`` for any).

    With ``nth``, only on the nth request to that endpoint (counting from 1,
    every request, whatever other faults did to it). Otherwise on ``times``
    requests: the first ones that no earlier fault in the plan took, so
    ``.on("efetch", "truncate").on("efetch", "503")`` truncates the first
    efetch and fails the second.
    """

    kind: str
    endpoint: str = "*"
    times: int = 1
    nth: int | None = None
    #: how long a ``stall`` sleeps before answering
    seconds: float = 5.0
    #: requests to ``endpoint`` seen so far, and how many this fault took
    seen: int = 0
    used: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; one of {sorted(FAULT_KINDS)}")

    def applies_to(self, endpoint: str) -> bool:
        """Whether requests to ``endpoint`` concern this fault."""
        return self.endpoint in ("*", endpoint)

    def due(self) -> bool:
        """Whether this fault wants the request just counted in ``seen``."""
        if self.nth is not None:
            return self.seen == self.nth
        return self.used < self.times


@dataclass
class FaultPlan:
    """Faults to inject, checked in the order added; the first that is due wins.

    ``fired`` records ``(endpoint, kind)`` for every fault injected, in order.
    """

    faults: list[Fault] = field(default_factory=list)
    fired: list[tuple[str, str]] = field(default_factory=list)
    #: the Host header of every request the server saw, in order
    hosts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def on(
        self,
        endpoint: str,
        kind: str,
        *,
        times: int = 1,
        nth: int | None = None,
        seconds: float = 5.0,
    ) -> FaultPlan:
        """Add a fault (chainable)."""
        self.faults.append(Fault(kind, endpoint, times=times, nth=nth, seconds=seconds))
        return self

    def pick(self, endpoint: str) -> Fault | None:
        """The fault to inject on this request, if any (and note that it fired)."""
        with self._lock:
            chosen = None
            for fault in self.faults:
                if not fault.applies_to(endpoint):
                    continue
                fault.seen += 1
                if chosen is None and fault.due():
                    chosen = fault
            if chosen is not None:
                chosen.used += 1
                self.fired.append((endpoint, chosen.kind))
            return chosen


_BOMB: list[bytes] = []


def gzip_bomb() -> bytes:
    """About 100 KB of gzip that inflates to 100 MB of spaces (built once)."""
    if not _BOMB:
        packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        block = b" " * (1024 * 1024)
        _BOMB.append(b"".join(packer.compress(block) for _ in range(100)) + packer.flush())
    return _BOMB[0]


def _halve_article_set(body: bytes) -> bytes:
    """An efetch answer holding only the first half of its records."""
    records = [raw for _pmid, raw in split_records(body)]
    kept = records[: len(records) // 2]
    return PUBMED_SET_HEAD + b"".join(r + b"\n" for r in kept) + PUBMED_SET_TAIL


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = False

    def __init__(self, handler: Handler, faults: FaultPlan | None) -> None:
        self.standin = handler
        self.faults = faults
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-answer is what these tests provoke; stay quiet.
        pass

    def close_all(self) -> None:
        """Drop every open connection (idle keep-alive ones included)."""
        with self.connections_lock:
            open_now = list(self.connections)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as NCBI does
    server: _Server
    # An idle keep-alive connection gives up after this, so no thread lingers.
    timeout = 10

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without NODELAY each answer
        # waits out the client's delayed ACK (40 ms a request on Linux)
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._answer()

    def do_POST(self) -> None:  # noqa: N802
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        port = self.server.server_address[1]
        request = httpx.Request(
            self.command,
            f"http://127.0.0.1:{port}{self.path}",
            headers=[(k, v) for k, v in self.headers.items() if k.lower() != "host"],
            content=body,
        )
        endpoint = endpoint_of(request.url)
        if self.server.faults is not None:
            self.server.faults.hosts.append(self.headers.get("Host", ""))
        fault = self.server.faults.pick(endpoint) if self.server.faults else None
        kind = fault.kind if fault else None
        if kind is not None and kind.startswith("redirect"):
            if kind == "redirect_away":
                location = f"http://localhost:{port}{self.path}"
            elif kind == "redirect_loop":
                location = self.path
            else:
                location = self.path + ("&" if "?" in self.path else "?") + "redirected=1"
            self._send(httpx.Response(302 if kind == "redirect_loop" else 307,
                                      headers={"Location": location}))
            return
        if kind in ("trickle", "slowheaders"):
            assert fault is not None
            self._trickle(fault.seconds, headers=kind == "slowheaders")
            return
        if kind == "bomb":
            self._send(httpx.Response(200, headers={"Content-Type": "text/xml",
                                                    "Content-Encoding": "gzip"}),
                       raw=gzip_bomb())
            return
        if kind == "badgzip":
            self._send(httpx.Response(200, headers={"Content-Type": "text/xml",
                                                    "Content-Encoding": "gzip"}),
                       raw=b"this is not gzip at all" * 10)
            return

        if kind == "reset":
            self._reset()
            return
        if kind == "stall":
            assert fault is not None
            if self.server.stopping.wait(fault.seconds):
                self._reset()
                return
        if kind == "429":
            # The stand-in's own rate-limit answer, so the body matches NCBI's.
            self._send(rate_limit_response("127.0.0.1", 4, 3))
            return
        if kind in ("500", "502", "503"):
            assert kind is not None
            phrase = {"500": "Internal Server Error", "502": "Bad Gateway"}.get(
                kind, "Service Unavailable"
            )
            html = f"<html><body><h1>{kind} {phrase}</h1></body></html>\n".encode()
            self._send(
                httpx.Response(int(kind), headers={"Content-Type": "text/html"}, content=html)
            )
            return
        if kind == "html":
            self._send(
                httpx.Response(
                    200,
                    headers={"Content-Type": "text/html; charset=UTF-8"},
                    content=SERVICE_UNAVAILABLE_HTML,
                )
            )
            return
        if kind == "error200":
            self._send(
                httpx.Response(
                    200,
                    headers={"Content-Type": "text/xml; charset=UTF-8"},
                    content=error_body(endpoint, BACKEND_ERROR),
                )
            )
            return

        try:
            response = self.server.standin(request)
        except Exception as exc:  # a stand-in bug: say so, rather than drop the connection
            message = f"stand-in failed: {type(exc).__name__}: {exc}\n".encode()
            response = httpx.Response(500, headers={"Content-Type": "text/plain"}, content=message)
        if kind == "short" and endpoint == "efetch" and response.status_code == 200:
            response = httpx.Response(
                200,
                headers={"Content-Type": response.headers.get("Content-Type", "text/xml")},
                content=_halve_article_set(response.content),
            )
        if kind == "dup" and endpoint == "efetch" and response.status_code == 200:
            records = [raw for _pmid, raw in split_records(response.content)]
            response = httpx.Response(
                200,
                headers={"Content-Type": response.headers.get("Content-Type", "text/xml")},
                content=PUBMED_SET_HEAD + b"".join(r + b"\n" for r in records + records[:1])
                + PUBMED_SET_TAIL,
            )
        seconds = fault.seconds if fault is not None and kind == "slow" else None
        self._send(response, truncate=kind == "truncate", slow=seconds)

    def _send(self, response: httpx.Response, *, truncate: bool = False,
              slow: float | None = None, raw: bytes | None = None) -> None:
        content = response.content if raw is None else raw
        self.send_response(response.status_code)
        # response.content is decoded already: its Content-Encoding no longer applies
        skip = ("content-length", "transfer-encoding", "connection") + (
            ("content-encoding",) if raw is None else ())
        for name, value in response.headers.items():
            if name.lower() not in skip:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if truncate:
            # The full length was promised; half arrives, then the connection ends.
            self.wfile.write(content[: len(content) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if slow is not None:
            pieces = 20
            step = max(1, -(-len(content) // pieces))
            for i in range(0, len(content), step):
                if self.server.stopping.wait(slow / pieces):
                    break
                self.wfile.write(content[i:i + step])
                self.wfile.flush()
            return
        self.wfile.write(content)
        self.wfile.flush()

    def _trickle(self, interval: float, *, headers: bool = False) -> None:
        """Promise a large body and send it a byte at a time (or, with
        ``headers``, never finish the headers), until the client hangs up or
        the server stops."""
        self.close_connection = True
        try:
            if headers:
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                byte = b"a"
            else:
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(10**9))
                self.end_headers()
                self.wfile.write(b"<")
                byte = b" "
            while not self.server.stopping.wait(interval):
                self.wfile.write(byte)
                self.wfile.flush()
        except OSError:
            pass

    def _reset(self) -> None:
        """Close with RST: SO_LINGER 0 makes close() abort the connection."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()


@contextlib.contextmanager
def serve(standin: Handler, faults: FaultPlan | None = None) -> Iterator[str]:
    """Serve ``standin`` on 127.0.0.1 (a free port) and yield its E-utilities base
    URL, ``http://127.0.0.1:PORT/entrez/eutils/``; stop on leaving the block."""
    server = _Server(standin, faults)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="kettrack-eutils-standin",
        daemon=True,
    )
    thread.start()
    port = server.server_address[1]
    try:
        yield f"http://127.0.0.1:{port}/entrez/eutils/"
    finally:
        server.stopping.set()
        server.shutdown()
        server.close_all()
        server.server_close()
        thread.join(timeout=5)
