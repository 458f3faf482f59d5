"""Backfills at NCBI's rate: efetch batches in flight together, parsed on every core.

A run's efetch pass is three kinds of work: waiting for NCBI (a batch of 500
takes about a second to answer), parsing and normalising its XML (CPU), and
storing it (CPU, one SQLite writer). Here they overlap:

- **Requests in flight together.** :func:`fetch_batches` hands the batches to a
  few threads, as many as NCBI's rate can keep busy (:func:`in_flight`); each
  request waits for its slot in the client's shared
  :class:`~kettrack.sources.http.RateLimiter`, which counts request *starts*
  across the whole run (3 a second, 10 with an API key), so the rate is never
  passed however many are in flight. A batch's answer is reconciled (IDs left
  out asked for again) by the thread that fetched it.
- **Parsing on every core.** With :class:`Workers` open for a big job
  (1,500 records or more by default: ``KETTRACK_WORKERS_FROM``), each answer is parsed
  (``Bio.Entrez``) and normalised into :class:`~kettrack.library.store.PreparedArticle`
  rows in a worker process (``KETTRACK_WORKERS``, one per core by default);
  smaller jobs, where starting processes would cost more than it saves, are
  parsed on the fetching thread.
- **One writer.** The main process stores each batch as it arrives, in
  whatever order they finish, in one transaction each
  (:meth:`~kettrack.library.store.Library.store_prepared`). At most
  ``in_flight + workers`` batches are fetched or held at once, however big the
  backfill, so memory stays flat; a run killed at any moment keeps every batch
  it stored, and the next run fetches only what is still missing.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import select
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from typing import Protocol

from kettrack.library import design
from kettrack.library.article import Article
from kettrack.library.store import PreparedArticle
from kettrack.sources import pubmed

#: most requests a run keeps in flight at once
MAX_IN_FLIGHT = 16

Prepared = tuple[Article, bytes | None]


def prepare(data: bytes) -> tuple[list[Prepared], list[str]]:
    """Normalise one efetch response: (article, raw XML) pairs and deleted PMIDs."""
    raw = pubmed.split_records(data)
    records: list[Prepared] = []
    deleted: list[str] = []
    for item in pubmed.parse_efetch(data):
        if isinstance(item, pubmed.Deletion):
            deleted.extend(item.pmids)
            continue
        design.classify(item)
        records.append((item, raw.get(item.pmid)))
    return records, deleted


def prepare_rows(data: bytes) -> tuple[list[PreparedArticle], list[str]]:
    """:func:`prepare`, then each article's row computed (what a worker process does)."""
    records, deleted = prepare(data)
    return [PreparedArticle.of(article, raw) for article, raw in records], deleted


def default_workers() -> int:
    """One worker process per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def in_flight(rate: float) -> int:
    """Requests worth keeping in flight at ``rate`` requests/s: enough that NCBI's
    answer time (about a second for 500 records) never leaves a slot unused."""
    return max(2, min(MAX_IN_FLIGHT, math.ceil(rate * 2)))


def _exit_with(main_pid: int) -> None:
    """Worker process start-up: exit as soon as the main process ``main_pid`` is
    gone. A run killed with SIGKILL (a power cut, the OOM killer) never shuts
    its pool down, and a worker blocked on its queue would wait forever."""
    try:
        watched = os.pidfd_open(main_pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # pragma: no cover - not Linux 5.3+: poll instead
        watched = None

    def watch() -> None:
        if watched is not None:
            select.select([watched], [], [])
        else:  # pragma: no cover
            while os.getppid() != 1 and _alive(main_pid):
                time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="main-process-watch", daemon=True).start()


def _alive(pid: int) -> bool:  # pragma: no cover - the pidfd fallback
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Workers:
    """Worker processes that parse efetch answers, or none (parse in-thread).

    A context manager: the processes start on entering (with ``count`` > 1) and
    stop on leaving. They are started by a fork server, so a worker never
    inherits the main process's threads, SQLite connection or locks. Starting
    them (the fork server imports kettrack) happens on a thread of its own, so
    the first requests go out meanwhile; the first answer to parse waits for it.
    """

    def __init__(self, count: int) -> None:
        self.count = count if count > 1 else 0
        self._starting: Future[ProcessPoolExecutor] | None = None
        self._starter: ThreadPoolExecutor | None = None

    def __enter__(self) -> Workers:
        if self.count:
            self._starter = ThreadPoolExecutor(1, thread_name_prefix="workers-start")
            self._starting = self._starter.submit(self._start)
        return self

    def _start(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["kettrack.run.parallel"])
        pool = ProcessPoolExecutor(self.count, mp_context=context,
                                   initializer=_exit_with, initargs=(os.getpid(),))
        for _ in range(self.count):  # every process started now, before the first answer
            pool.submit(default_workers)
        return pool

    def __exit__(self, *exc: object) -> None:
        if self._starter is not None:
            self._starter.shutdown(wait=True)
            self._starter = None
        if self._starting is not None and self._starting.exception() is None:
            self._starting.result().shutdown(wait=True, cancel_futures=True)
        self._starting = None

    def prepare(self, data: bytes) -> tuple[list[PreparedArticle], list[str]]:
        """One efetch answer parsed into rows (in a worker when there are workers)."""
        if self._starting is None:
            return prepare_rows(data)
        return self._starting.result().submit(prepare_rows, data).result()


class Efetch(Protocol):
    def efetch(self, ids: Sequence[str]) -> bytes: ...


PrepareRows = Callable[[bytes], tuple[list[PreparedArticle], list[str]]]


@dataclass
class FetchedBatch:
    """One efetch batch, reconciled: its records, what NCBI deleted, what is missing."""

    pmids: list[str]
    records: list[PreparedArticle]
    deleted: list[str]

    @property
    def missing(self) -> list[str]:
        """Asked for, but neither returned nor reported deleted (tried next run)."""
        returned = {p.article.pmid for p in self.records} | set(self.deleted)
        return [p for p in self.pmids if p not in returned]


def fetch_reconciled(client: Efetch, batch: list[str], prepare_rows: PrepareRows = prepare_rows,
                     *, max_retries: int = 5) -> FetchedBatch:
    """efetch ``batch``; ask again for IDs NCBI left out, while that brings more back.

    Whatever is still missing after that is left for the next run.
    """
    requested = set(batch)
    records, deleted = prepare_rows(client.efetch(batch))
    for _ in range(max_retries):
        got = {p.article.pmid for p in records} | set(deleted)
        short = [p for p in batch if p not in got]
        if not short:
            break
        more, more_deleted = prepare_rows(client.efetch(short))
        more = [p for p in more if p.article.pmid in requested and p.article.pmid not in got]
        if not more and not more_deleted:
            break
        records += more
        deleted += more_deleted
    return FetchedBatch(batch, [p for p in records if p.article.pmid in requested], deleted)


def fetch_batches(client: Efetch, batches: Iterable[list[str]], *, in_flight: int,
                  prepare_rows: PrepareRows = prepare_rows,
                  max_retries: int = 5) -> Iterator[FetchedBatch]:
    """Each batch fetched and reconciled, ``in_flight`` at a time, yielded as it
    is done (any order).

    At most ``in_flight`` batches are fetched, parsed or waiting to be taken at
    once: a new one starts only when the caller has taken one. A failed batch
    raises when it is taken; batches not yet started are then never sent.
    """
    queue = iter(batches)
    pending: dict[Future[FetchedBatch], list[str]] = {}
    with ThreadPoolExecutor(max_workers=max(1, in_flight),
                            thread_name_prefix="efetch") as pool:

        def start() -> None:
            batch = next(queue, None)
            if batch is not None:
                pending[pool.submit(fetch_reconciled, client, batch, prepare_rows,
                                    max_retries=max_retries)] = batch

        try:
            for _ in range(max(1, in_flight)):
                start()
            while pending:
                done, _ = wait_for(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: pending[f][0]):
                    del pending[future]
                    fetched = future.result()
                    start()
                    yield fetched
        finally:
            for future in pending:
                future.cancel()
