"""The run pipeline end to end against the E-utilities stand-in: backfill,
incremental weeks, dedupe across queries, reconciliation, faults, kills."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from kettrack.dev.faultserver import FaultPlan, serve
from kettrack.errors import Failure, NetworkError
from kettrack.library.store import Library
from kettrack.queries import SavedQuery, load_queries
from kettrack.run.corrections import KINDS
from kettrack.run.runner import Runner
from kettrack.settings import Settings
from kettrack.sources.eutils import EutilsClient
from kettrack.sources.offline import europepmc_client
from kettrack.standin.eutils import EutilsStandin
from kettrack.standin.snapshot import Snapshot, default_snapshot_dir

from .conftest import ROOT

QUERIES = [q for q in load_queries(ROOT / "queries") if q.source == "pubmed"]


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    folder = default_snapshot_dir() / "pubmed"
    return Snapshot.load(folder / "snapshot.xml", folder / "pending_indexing.json")


def client_for(standin: EutilsStandin, **settings: object) -> EutilsClient:
    base = Settings(backoff_base=0, max_retries=3, rate_limit=1000, batch_size=20)
    return EutilsClient(base.with_(**settings), transport=httpx.MockTransport(standin),
                        sleep=lambda s: None)


def run_once(library: Library, snapshot: Snapshot, as_of: date | None = None,
             queries: list[SavedQuery] = QUERIES, **settings: object):  # type: ignore[no-untyped-def]
    standin = EutilsStandin(snapshot, as_of=as_of)
    with client_for(standin, **settings) as client:
        runner = Runner(library, client, client.settings, offline=True, today=as_of)
        return runner.run(queries), standin


def state(library: Library) -> dict[str, object]:
    """What must be equal between two libraries that saw the same literature."""
    db = library.db
    return {
        "articles": dict(db.execute("SELECT pmid, record_hash FROM articles").fetchall()),
        "memberships": set(db.execute(
            "SELECT m.pmid, q.name FROM memberships m JOIN query_versions q "
            "ON q.id = m.query_version_id").fetchall()),
        "trial_ids": set(db.execute("SELECT pmid, trial_id FROM article_trial_ids").fetchall()),
        "fts": db.execute("SELECT count(*) FROM articles_fts").fetchone()[0],
    }


def expected_hits(snapshot: Snapshot, as_of: date | None) -> set[str]:
    view = snapshot.view(as_of)
    found: set[str] = set()
    for q in QUERIES:
        found.update(view.search(q.term).ids)
    return found


def test_backfill_then_nothing_new(snapshot: Snapshot) -> None:
    library = Library.memory()
    first, standin = run_once(library, snapshot)
    hits = expected_hits(snapshot, None)
    assert first.new_total == len(hits) > 20
    assert set(state(library)["articles"]) == hits  # type: ignore[arg-type]
    # the floor: one esearch per query, then ceil(new / batch) efetch; a backfill
    # adds no corrections check (every record was just fetched, flags and all)
    assert standin.count("esearch") == len(QUERIES)
    assert standin.count("efetch") == -(-len(hits) // 20)
    assert standin.count("epost") == 0
    assert first.corrections_requests == 0 and first.corrections["checked"] == 0
    assert all(q.backfill for q in first.queries)

    again, standin = run_once(library, snapshot)
    assert again.new_total == 0 and all(q.new == 0 for q in again.queries)
    # the library-wide corrections check of what this run did not re-fetch
    # (one epost, one esearch per kind)
    assert again.corrections["checked"] == len(hits) - again.refetched
    assert standin.count("esearch") == len(QUERIES) + len(KINDS)
    assert standin.count("epost") == 1
    # nothing else but the bounded refetch of records NLM has not finished indexing
    assert standin.count("efetch") == -(-again.refetched // 20)
    assert {q.name: q.count for q in again.queries} == {q.name: q.count for q in first.queries}


def test_paper_found_by_several_queries_is_fetched_once(snapshot: Snapshot) -> None:
    library = Library.memory()
    _, standin = run_once(library, snapshot)
    fetched: list[str] = []
    for r in standin.requests:
        if r.endpoint == "efetch":
            fetched += r.params["id"].split(",")
    assert len(fetched) == len(set(fetched))
    names = library.query_names(list(state(library)["articles"]))  # type: ignore[call-overload]
    assert any(len(n) > 1 for n in names.values())


def weeks(snapshot: Snapshot) -> tuple[date, date]:
    """Two consecutive weeks ending on the newest entrez date that adds matching records."""
    dates = sorted({snapshot.record(p).entrez_date for p in expected_hits(snapshot, None)
                    if snapshot.record(p).entrez_date}, reverse=True)
    second = dates[0]
    return second - timedelta(days=7), second


def test_replaying_two_weeks_fetches_only_that_weeks_records(snapshot: Snapshot) -> None:
    week1, week2 = weeks(snapshot)
    library = Library.memory()
    run_once(library, snapshot, as_of=week1)
    before = set(state(library)["articles"])  # type: ignore[call-overload]
    added_that_week = expected_hits(snapshot, week2) - expected_hits(snapshot, week1)
    assert added_that_week  # the replay really adds something

    report, standin = run_once(library, snapshot, as_of=week2)
    after = set(state(library)["articles"])  # type: ignore[call-overload]
    assert after - before == added_that_week
    assert report.new_total == len(added_that_week)
    fetched: set[str] = set()
    for r in standin.requests:
        if r.endpoint == "efetch":
            fetched.update(r.params["id"].split(","))
    refetched = set(library.pmids_to_refetch(max_age_days=365, today=week2,
                                            include_reserved=True)) - added_that_week
    assert fetched - refetched == added_that_week


def test_interrupted_run_keeps_finished_batches_and_converges(snapshot: Snapshot) -> None:
    class Stop(Exception):
        pass

    class StopAfterFirstBatch:
        def searched(self, query: object, outcome: object) -> None:
            pass

        def fetching(self, total: int) -> None:
            pass

        def fetched(self, count: int) -> None:
            sizes.append(count)
            raise Stop

    sizes: list[int] = []
    library = Library.memory()
    standin = EutilsStandin(snapshot)
    with client_for(standin) as client:
        runner = Runner(library, client, client.settings, observer=StopAfterFirstBatch(),
                        offline=True)
        with pytest.raises(Stop):
            runner.run(QUERIES)
    # one whole batch (batches finish in any order: whichever came first)
    assert len(sizes) == 1 and 0 < sizes[0] <= 20
    assert len(state(library)["articles"]) == sizes[0]  # type: ignore[arg-type]
    assert library.db.execute("SELECT status FROM runs").fetchone()[0] == "failed"
    run_once(library, snapshot)
    reference = Library.memory()
    run_once(reference, snapshot)
    assert state(library) == state(reference)


def test_worker_processes_and_any_order_make_the_same_library(
        snapshot: Snapshot) -> None:
    reference = Library.memory()
    run_once(reference, snapshot, workers=0)

    class StopAfterSecondBatch:
        seen = 0

        def searched(self, query: object, outcome: object) -> None:
            pass

        def fetching(self, total: int) -> None:
            pass

        def fetched(self, count: int) -> None:
            self.seen += 1
            if self.seen == 2:
                raise KeyboardInterrupt

    library = Library.memory()
    standin = EutilsStandin(snapshot)
    with client_for(standin, workers=2, workers_from=1, batch_size=7) as client:  # small
        with pytest.raises(KeyboardInterrupt):
            Runner(library, client, client.settings, observer=StopAfterSecondBatch(),
                   offline=True).run(QUERIES)
        assert 0 < len(state(library)["articles"]) <= 14  # type: ignore[arg-type]
        # stopped with batches in flight; the next run (workers again) converges
        report = Runner(library, client, client.settings, offline=True).run(QUERIES)
    assert report.missing == []
    assert state(library) == state(reference)


@pytest.mark.parametrize(
    ("endpoint", "kind"),
    [("esearch", "429"), ("esearch", "500"), ("efetch", "502"), ("efetch", "503"),
     ("efetch", "reset"), ("efetch", "truncate"), ("esearch", "stall"), ("efetch", "html"),
     ("efetch", "short"), ("esearch", "html"), ("esearch", "reset")],
)
def test_faults_over_loopback_recover_to_the_fault_free_library(
    snapshot: Snapshot, endpoint: str, kind: str
) -> None:
    reference = Library.memory()
    run_once(reference, snapshot)

    plan = FaultPlan().on(endpoint, kind, times=2, seconds=1.0)
    library = Library.memory()
    with serve(EutilsStandin(snapshot), plan) as base_url:
        settings = Settings(eutils_url=base_url, backoff_base=0, max_retries=3, rate_limit=1000,
                            batch_size=20, read_timeout=0.4, connect_timeout=1)
        with EutilsClient(settings, sleep=lambda s: None) as client:
            report = Runner(library, client, settings, offline=True).run(QUERIES)
    assert plan.fired and all(k == kind for _, k in plan.fired)
    assert report.missing == []
    assert state(library) == state(reference)


@pytest.mark.parametrize(("endpoint", "kind"), [("esearch", "503"), ("efetch", "reset"),
                                                ("esearch", "error200")])
def test_persistent_faults_fail_and_leave_the_library_as_it_was(
    snapshot: Snapshot, endpoint: str, kind: str
) -> None:
    week1, week2 = weeks(snapshot)
    library = Library.memory()
    run_once(library, snapshot, as_of=week1)
    before = state(library)
    plan = FaultPlan().on(endpoint, kind, times=1000)
    with serve(EutilsStandin(snapshot, as_of=week2), plan) as base_url:
        settings = Settings(eutils_url=base_url, backoff_base=0, max_retries=2, rate_limit=1000,
                            batch_size=20)
        with EutilsClient(settings, sleep=lambda s: None) as client, pytest.raises(Failure):
            Runner(library, client, settings, offline=True, today=week2).run(QUERIES)
    assert state(library) == before
    last = library.db.execute("SELECT status, error FROM runs ORDER BY id DESC").fetchone()
    assert last[0] == "failed" and last[1]
    run_once(library, snapshot, as_of=week2)  # and a re-run converges
    reference = Library.memory()
    run_once(reference, snapshot, as_of=week2)
    assert state(library) == state(reference)


def test_network_down_is_a_network_error() -> None:
    settings = Settings(eutils_url="http://127.0.0.1:9/", backoff_base=0, max_retries=1,
                        rate_limit=1000, connect_timeout=0.5)
    with EutilsClient(settings, sleep=lambda s: None) as client, pytest.raises(NetworkError):
        client.search_ids("ketamine")


def test_pending_indexing_arrives_as_an_update(snapshot: Snapshot) -> None:
    pending = sorted(snapshot.pending, key=lambda p: snapshot.pending[p].due)
    if not pending:
        pytest.fail("the snapshot should hold records awaiting indexing")
    pmid = next(p for p in pending if p in expected_hits(snapshot, None))
    entered = snapshot.record(pmid).entrez_date
    due = snapshot.pending[pmid].due
    assert entered and entered < due
    library = Library.memory()
    run_once(library, snapshot, as_of=entered)
    assert library.article(pmid).citation_status != "MEDLINE"  # type: ignore[union-attr]
    report, _ = run_once(library, snapshot, as_of=due)
    assert library.article(pmid).citation_status == "MEDLINE"  # type: ignore[union-attr]
    assert report.updated_total >= 1
    kinds = {k for (k,) in library.db.execute("SELECT kind FROM events WHERE pmid = ?", (pmid,))}
    assert {"status_changed", "publication_types_changed"} <= kinds


@pytest.fixture
def offline_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = dict(os.environ, KETTRACK_DB=str(tmp_path / "k.db"), KETTRACK_BATCH_SIZE="5",
               KETTRACK_QUERIES=str(ROOT / "queries"))
    yield env


def processes_of(db: Path) -> list[str]:
    """The processes (this user's) whose environment names the library ``db``."""
    marker = f"KETTRACK_DB={db}".encode() + b"\0"
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if marker in environ and int(pid) != os.getpid():
            found.append(pid)
    return found


@pytest.mark.parametrize("workers", [False, True], ids=["in-process", "worker-processes"])
def test_killed_process_leaves_a_consistent_library_that_converges(
    tmp_path: Path, offline_env: dict[str, str], workers: bool
) -> None:
    db = tmp_path / "k.db"
    if workers:  # the worker path, whatever the snapshot's size
        offline_env.update(KETTRACK_WORKERS="2", KETTRACK_WORKERS_FROM="1")
    proc = subprocess.Popen([sys.executable, "-m", "kettrack", "run", "--offline"],
                            env=offline_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    stored = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(db, timeout=0.1) as conn:
                stored = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        except sqlite3.Error:
            stored = 0
        if stored:
            break
        time.sleep(0.01)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert killed or not workers  # 43 records in batches of 5: killed mid-backfill
    # nothing it started outlives it (a worker would wait on its queue forever)
    deadline = time.monotonic() + 30
    while processes_of(db) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_of(db) == []
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        fts = conn.execute("SELECT count(*) FROM articles_fts").fetchone()[0]
    assert count == fts  # nothing half-written: each batch went in whole
    done = subprocess.run([sys.executable, "-m", "kettrack", "run", "--offline"],
                          env=offline_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        statuses = [r[0] for r in conn.execute("SELECT status FROM runs ORDER BY id")]
    assert "running" not in statuses  # the killed run was closed by the next one
    assert statuses[-1] == "ok" and (not killed or statuses[0] == "interrupted")
    resumed = Library.open(db)
    reference = Library.memory()
    snapshot = Snapshot.load(default_snapshot_dir() / "pubmed" / "snapshot.xml",
                             default_snapshot_dir() / "pubmed" / "pending_indexing.json")
    # the offline run also runs the saved Europe PMC queries
    preprints = [q for q in load_queries(ROOT / "queries") if q.source == "europepmc"]
    with client_for(EutilsStandin(snapshot)) as client, \
            europepmc_client(client.settings, offline=True) as epmc:
        Runner(reference, client, client.settings, offline=True, europepmc=epmc).run(
            [*QUERIES, *preprints])
    assert state(resumed) == state(reference)
