"""Seeded random fault schedules over the loopback stand-in, and what must hold after each.

A schedule is a handful of faults (:data:`KINDS` on esearch, efetch, epost or
any request; on the nth request, or on the next few) drawn from
``random.Random(seed)``, so any failing schedule is replayed by its seed. For
each schedule, :func:`run_schedule`:

1. runs ``kettrack run`` against :func:`~kettrack.dev.faultserver.serve` with
   the faults, in-process (:class:`~kettrack.run.runner.Runner`) or, for a
   kill schedule, as ``python -m kettrack run`` that is sent SIGKILL at a
   random moment;
2. stops the faults and runs again;
3. checks that the library holds exactly what a fault-free run stored
   (:func:`library_state`: content, never run ids or times), that SQLite's
   integrity and foreign-key checks pass, and that nothing ended in a
   traceback: in-process only :class:`~kettrack.errors.KettrackError` may
   escape; a subprocess must exit 0 or 1 (or die by the kill) with no
   "Traceback" on stderr.

``tests/test_fault_schedule.py`` runs a few dozen schedules;
``bench/fault_schedules.py`` runs hundreds and prints the same counts.
"""

from __future__ import annotations

import os
import random
import signal
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from kettrack.dev.faultserver import FaultPlan, serve
from kettrack.errors import KettrackError
from kettrack.library.store import Library
from kettrack.queries import SavedQuery
from kettrack.run.runner import Runner
from kettrack.settings import Settings
from kettrack.sources.eutils import EutilsClient
from kettrack.standin.eutils import EutilsStandin
from kettrack.standin.snapshot import Snapshot

#: what a schedule draws from (the gzip bomb is left to the HTTP tests: it is
#: one fault that costs a second to build, not a schedule's worth of chaos)
KINDS = ("429", "500", "502", "503", "reset", "truncate", "short", "stall", "slow", "trickle",
         "slowheaders", "error200", "html", "badgzip", "dup")
ENDPOINTS = ("esearch", "efetch", "epost", "*")
#: seconds for the kinds that take time (a stall outlasts the read timeout, a
#: trickle the overall deadline; a slow body finishes within it)
SECONDS = {"stall": 0.25, "slow": 0.05, "trickle": 0.02, "slowheaders": 0.02}
READ_TIMEOUT = 0.1
REQUEST_TIMEOUT = 0.3
MAX_RETRIES = 2
BATCH_SIZE = 2


@dataclass
class Tally:
    """What a set of schedules did."""

    schedules: int = 0
    faults: int = 0
    kills: int = 0
    failed_runs: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.by_kind.items()))
        return (f"fault schedules: {self.schedules}; faults injected: {self.faults} ({kinds}); "
                f"kills: {self.kills}; runs that failed under faults (exit 1): "
                f"{self.failed_runs}")


class ScheduleFailed(AssertionError):
    """A schedule broke a promise; the message names its seed."""


def draw(rng: random.Random, kinds: Sequence[str] = KINDS) -> FaultPlan:
    """One to six faults, each on the nth request to its endpoint or the next few."""
    plan = FaultPlan()
    for _ in range(rng.randint(1, 6)):
        kind = rng.choice(kinds)
        endpoint = rng.choice(ENDPOINTS)
        seconds = SECONDS.get(kind, 0.0)
        if rng.random() < 0.5:
            plan.on(endpoint, kind, nth=rng.randint(1, 8), seconds=seconds)
        else:
            plan.on(endpoint, kind, times=rng.randint(1, 3), seconds=seconds)
    return plan


def settings_for(base_url: str, *, calm: bool = False) -> Settings:
    """Small batches, short timeouts, few retries: faults bite, and some runs fail.
    ``calm`` (the fault-free runs): timeouts a loaded machine cannot trip."""
    return Settings(eutils_url=base_url, backoff_base=0, max_retries=MAX_RETRIES,
                    rate_limit=1e6, batch_size=BATCH_SIZE,
                    read_timeout=30.0 if calm else READ_TIMEOUT, connect_timeout=10.0,
                    request_timeout=120.0 if calm else REQUEST_TIMEOUT)


_TLS: list[ssl.SSLContext] = []


def _transport() -> httpx.HTTPTransport:
    # the stand-in is plain http; one TLS context for the process saves loading
    # the trust store for every client (tens of ms each)
    if not _TLS:
        _TLS.append(ssl.create_default_context())
    return httpx.HTTPTransport(verify=_TLS[0])


def library_state(library: Library) -> dict[str, Any]:
    """Everything a reader could see, without run ids or times."""
    db = library.db

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return sorted(tuple(r) for r in db.execute(sql).fetchall())

    return {
        "articles": rows("SELECT pmid, record_hash, data, raw_xml IS NOT NULL FROM articles"),
        "memberships": rows("SELECT m.pmid, q.name, q.version FROM memberships m "
                            "JOIN query_versions q ON q.id = m.query_version_id"),
        "trial_ids": rows("SELECT pmid, trial_id FROM article_trial_ids"),
        "events": rows("SELECT pmid, nct_id, kind, detail FROM events"),
        "deleted": rows("SELECT pmid, reason FROM deleted_pmids"),
        "fts": rows("SELECT a.pmid, f.title, f.abstract FROM articles_fts f "
                    "JOIN articles a ON a.rowid = f.rowid"),
    }


def check_integrity(library: Library) -> None:
    ok = library.db.execute("PRAGMA integrity_check").fetchone()[0]
    if ok != "ok":
        raise ScheduleFailed(f"integrity_check: {ok}")
    broken = library.db.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise ScheduleFailed(f"foreign_key_check: {broken[:3]}")


def run_in_process(library: Library, settings: Settings,
                   queries: Sequence[SavedQuery]) -> bool:
    """``kettrack run``'s pipeline; True if it finished, False if it failed as
    kettrack fails (a KettrackError). Anything else propagates: a traceback."""
    try:
        with EutilsClient(settings, transport=_transport(), sleep=lambda s: None) as client:
            Runner(library, client, settings).run(queries)
    except KettrackError:
        return False
    return True


def reference_state(snapshot: Snapshot, queries: Sequence[SavedQuery]) -> dict[str, Any]:
    """The library a fault-free run stores."""
    library = Library.memory()
    with serve(EutilsStandin(snapshot)) as base_url:
        if not run_in_process(library, settings_for(base_url, calm=True), queries):
            raise ScheduleFailed("the fault-free run failed")
    check_integrity(library)
    return library_state(library)


def run_schedule(seed: int, snapshot: Snapshot, queries: Sequence[SavedQuery],
                 reference: dict[str, Any], tally: Tally, *, workdir: Path | None = None,
                 kill: bool = False) -> None:
    """One schedule (see the module docstring); raises :class:`ScheduleFailed`."""
    rng = random.Random(seed)
    # a killed subprocess honours Retry-After for real: leave 429 to in-process schedules
    plan = draw(rng, [k for k in KINDS if k != "429"] if kill else KINDS)
    path = None
    if kill:
        if workdir is None:
            raise ValueError("a kill schedule needs a workdir")
        path = workdir / f"schedule-{seed}.db"
    library = Library.memory() if path is None else None
    with serve(EutilsStandin(snapshot), plan) as base_url:
        settings = settings_for(base_url)
        if kill:
            assert path is not None and workdir is not None
            killed, failed = _run_and_kill(rng, plan, base_url, path, workdir, queries, seed)
            tally.kills += killed
            library = Library.open(path)
        else:
            assert library is not None
            failed = not run_in_process(library, settings, queries)
        tally.failed_runs += failed
        fired = list(plan.fired)
        plan.faults.clear()  # the faults stop; kettrack runs again
        assert library is not None
        try:
            if not run_in_process(library, settings_for(base_url, calm=True), queries):
                raise ScheduleFailed(f"seed {seed}: the run after the faults failed "
                                     f"(faults: {fired})")
            check_integrity(library)
            if library_state(library) != reference:
                raise ScheduleFailed(f"seed {seed}: the library differs from the fault-free "
                                     f"one (faults: {fired})")
        finally:
            library.close()
    tally.schedules += 1
    tally.faults += len(fired)
    tally.by_kind.update(kind for _endpoint, kind in fired)


def _run_and_kill(rng: random.Random, plan: FaultPlan, base_url: str, db: Path,
                  workdir: Path, queries: Sequence[SavedQuery],
                  seed: int) -> tuple[bool, bool]:
    """``python -m kettrack run`` with SIGKILL at a random moment once its requests
    have begun (mostly mid-run, sometimes after it ended); returns (killed, failed)."""
    folder = workdir / f"queries-{seed}"
    folder.mkdir(exist_ok=True)
    for query in queries:
        term = query.term.replace("\\", "\\\\").replace('"', '\\"')
        (folder / f"{query.name}.toml").write_text(f'term = "{term}"\n')
    env = {**os.environ, "KETTRACK_EUTILS_URL": base_url, "KETTRACK_DB": str(db),
           "KETTRACK_QUERIES": str(folder), "KETTRACK_BACKOFF": "0",
           "KETTRACK_MAX_RETRIES": str(MAX_RETRIES), "KETTRACK_BATCH_SIZE": str(BATCH_SIZE),
           "KETTRACK_RATE_LIMIT": "1000000", "KETTRACK_READ_TIMEOUT": str(READ_TIMEOUT),
           "KETTRACK_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT)}
    env.pop("NCBI_API_KEY", None)
    proc = subprocess.Popen([sys.executable, "-m", "kettrack", "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed = False
    # interpreter start-up takes a second or more on a loaded machine: count the
    # random moment from the first request, so the kill lands inside the run
    while not plan.hosts and proc.poll() is None:
        time.sleep(0.005)
    try:
        proc.wait(timeout=rng.uniform(0.0, 0.4))
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        killed = True
    _, stderr = proc.communicate(timeout=60)
    text = stderr.decode("utf-8", "replace")
    if "Traceback" in text:
        raise ScheduleFailed(f"seed {seed}: kettrack printed a traceback:\n{text}")
    if killed and proc.returncode == -signal.SIGKILL:
        return True, False
    if proc.returncode not in (0, 1):
        raise ScheduleFailed(f"seed {seed}: kettrack exited {proc.returncode}: {text}")
    return False, proc.returncode == 1
