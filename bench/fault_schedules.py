"""The full fault-schedule proof: hundreds of seeded random schedules over loopback.

Each schedule (see :mod:`kettrack.dev.faultschedule`) runs ``kettrack run``
against the E-utilities stand-in with random faults (429 + Retry-After, 5xx,
resets, truncated and short bodies, stalls, slow and endless bodies,
ERROR-in-200, HTML pages, bad gzip, duplicated records), some as a subprocess
killed with SIGKILL at a random moment; then the faults stop, kettrack runs
again, and the library must equal the fault-free library (content), pass
SQLite's integrity checks, and nothing may end in a traceback. The first
failing schedule stops the script with its seed (replay it with
``--first SEED --schedules 1``).

    python bench/fault_schedules.py                        # 300 schedules, 30 of them killed
    python bench/fault_schedules.py --schedules 1000 --kills 100 --first 5000
    python bench/fault_schedules.py --snapshot data/pubmed/snapshot.xml --queries queries

Default data: the bundled PubMed snapshot and the saved PubMed queries. Prints the
number of schedules, faults injected (by kind), kills and the runs that failed
under faults (exit 1, as they should when retries run out), and the time taken.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from kettrack.dev import faultschedule
from kettrack.queries import load_queries
from kettrack.standin.snapshot import Snapshot

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=300)
    parser.add_argument("--kills", type=int, default=30,
                        help="how many of the schedules run as a subprocess killed at random")
    parser.add_argument("--first", type=int, default=0, help="the first seed")
    parser.add_argument("--snapshot", type=Path,
                        default=ROOT / "data" / "pubmed" / "snapshot.xml")
    parser.add_argument("--pending", type=Path, default=None,
                        help="pending_indexing.json (default: beside the snapshot, if any)")
    parser.add_argument("--queries", type=Path, default=ROOT / "queries")
    args = parser.parse_args()
    pending = args.pending or args.snapshot.with_name("pending_indexing.json")
    snapshot = Snapshot.load(args.snapshot, pending if pending.exists() else None)
    queries = [q for q in load_queries(args.queries) if q.source == "pubmed"]
    reference = faultschedule.reference_state(snapshot, queries)
    print(f"{len(reference['articles'])} articles in the fault-free library, "
          f"{len(queries)} saved PubMed queries")
    tally = faultschedule.Tally()
    started = time.perf_counter()
    every = max(1, args.schedules // max(1, args.kills)) if args.kills else 0
    with tempfile.TemporaryDirectory(prefix="kettrack-faults-") as work:
        for n in range(args.schedules):
            seed = args.first + n
            kill = bool(every) and n % every == every - 1
            try:
                faultschedule.run_schedule(seed, snapshot, queries, reference, tally,
                                           workdir=Path(work), kill=kill)
            except faultschedule.ScheduleFailed as exc:
                print(f"FAILED: {exc}", file=sys.stderr)
                print(tally.line())
                return 1
    took = time.perf_counter() - started
    print(tally.line())
    print(f"{took:.1f} s ({took / max(1, tally.schedules) * 1000:.0f} ms a schedule)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
