"""Shared test set-up: every test runs in its own folder, with no network.

The autouse fixture points ``KETTRACK_DB`` and friends at a temporary folder so
a test can never touch a real library, removes any real API key or SMTP URL
from the environment, and sets HOME so nothing writes to the user's caches.
Sockets are blocked by pytest-socket (see pyproject's addopts) except loopback.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def kettrack_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("NCBI_API_KEY", "NCBI_EMAIL", "KETTRACK_SMTP_URL", "KETTRACK_MAIL_FROM",
                 "KETTRACK_EUTILS_URL", "KETTRACK_CTGOV_URL", "KETTRACK_SNAPSHOT_DIR",
                 "KETTRACK_EUROPEPMC_URL",
                 "KETTRACK_BATCH_SIZE", "KETTRACK_RATE_LIMIT", "KETTRACK_DTD_DIR",
                 "KETTRACK_WORKERS", "KETTRACK_WORKERS_FROM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KETTRACK_DB", str(tmp_path / "library.db"))
    monkeypatch.setenv("KETTRACK_QUERIES", str(ROOT / "queries"))
    monkeypatch.setenv("KETTRACK_BACKOFF", "0")
    monkeypatch.setenv("KETTRACK_LOCK_TIMEOUT", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fixture_bytes(name: str) -> bytes:
    """A real NCBI response from tests/fixtures/ncbi (provenance: tests/fixtures/README.md)."""
    return (FIXTURES / "ncbi" / name).read_bytes()


def scripted(*answers: object) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport answering each request with the next scripted answer (an
    httpx.Response, or an exception class to raise); also returns the requests seen."""
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, type) and issubclass(answer, Exception):
            raise answer("scripted failure", request=request)  # type: ignore[call-arg]
        assert isinstance(answer, httpx.Response)
        return answer

    return httpx.MockTransport(handler), seen
