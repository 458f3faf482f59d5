"""The proof: seeded random fault schedules over the loopback stand-in.

Each schedule mixes 429 with Retry-After, 5xx, resets, truncated and short
bodies, stalls, slow and endless bodies, ERROR-in-200, HTML pages, bad gzip and
duplicated records; a few are run as a subprocess killed with SIGKILL at a
random moment. After the faults stop and kettrack runs again, the library must
be exactly the fault-free library, pass SQLite's integrity checks, and nothing
may have ended in a traceback (see :mod:`kettrack.dev.faultschedule`).

A few dozen schedules here; ``bench/fault_schedules.py`` runs hundreds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kettrack.dev import faultschedule
from kettrack.dev.faultschedule import Tally, run_schedule
from kettrack.queries import SavedQuery
from kettrack.standin.snapshot import Snapshot

from .test_standin_eutils import PENDING, SNAPSHOT_XML

SCHEDULES = 24
KILLS = 2
QUERIES = [SavedQuery(name="ketamine", term="ketamine"),
           SavedQuery(name="alcohol", term="alcohol")]


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return Snapshot.from_bytes(SNAPSHOT_XML, json.dumps(PENDING))


@pytest.fixture(scope="module")
def reference(snapshot: Snapshot) -> dict[str, Any]:
    state = faultschedule.reference_state(snapshot, QUERIES)
    assert len(state["articles"]) >= 4 and state["memberships"]  # something to lose
    return state


def test_random_fault_schedules_converge_to_the_fault_free_library(
        snapshot: Snapshot, reference: dict[str, Any], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    tally = Tally()
    for seed in range(SCHEDULES):
        run_schedule(seed, snapshot, QUERIES, reference, tally)
    for seed in range(1000, 1000 + KILLS):
        run_schedule(seed, snapshot, QUERIES, reference, tally, workdir=tmp_path, kill=True)
    with capsys.disabled():
        print(f"\n{tally.line()}")
    assert tally.schedules == SCHEDULES + KILLS
    # the schedules really were hostile: most kinds fired, and some runs failed
    assert len(tally.by_kind) >= 10 and tally.faults >= 2 * SCHEDULES
    assert tally.failed_runs > 0


def test_the_same_pmid_twice_in_one_efetch_answer_is_stored_once(
        snapshot: Snapshot, reference: dict[str, Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from kettrack.cli import app
    from kettrack.dev.faultserver import FaultPlan, serve
    from kettrack.library.store import Library
    from kettrack.standin.eutils import EutilsStandin

    folder = tmp_path / "queries"
    folder.mkdir()
    for query in QUERIES:
        (folder / f"{query.name}.toml").write_text(f'term = "{query.term}"\n')
    plan = FaultPlan().on("efetch", "dup", times=1000)
    with serve(EutilsStandin(snapshot), plan) as base_url:
        monkeypatch.setenv("KETTRACK_EUTILS_URL", base_url)
        monkeypatch.setenv("KETTRACK_QUERIES", str(folder))
        monkeypatch.setenv("KETTRACK_BATCH_SIZE", str(faultschedule.BATCH_SIZE))
        monkeypatch.setenv("KETTRACK_RATE_LIMIT", "1000000")
        result = CliRunner().invoke(app, ["run", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert plan.fired and json.loads(result.stdout)["status"] == "ok"
    library = Library.open(tmp_path / "library.db")
    try:
        assert faultschedule.library_state(library) == reference
    finally:
        library.close()
