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
