"""How the registry step scales: a week-by-week replay of an enlarged registry snapshot.

The bundled snapshot (12 studies) is cloned under fresh NCT numbers (``--copies``
times), then replayed weekly through the real client, stand-in and store, as
``kettrack run --offline --as-of`` does. Prints the backfill, the incremental
weeks and the totals; never fails on time. Run from the repository root::

    python bench/registry_replay.py              # 12 x 200 = 2,400 studies, 2015-2026
    python bench/registry_replay.py --copies 50 --page-size 20
"""

from __future__ import annotations

import argparse
import copy
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

from kettrack.library.store import Library
from kettrack.queries import SavedQuery
from kettrack.run.runner import Runner
from kettrack.settings import Settings
from kettrack.sources.ctgov import CtgovClient
from kettrack.sources.eutils import EutilsClient
from kettrack.standin.ctgov import CtgovStandin, RegistrySnapshot, Version

ROOT = Path(__file__).resolve().parents[1]
QUERY = SavedQuery(name="ketamine-aud-registry", source="clinicaltrials",
                   term='cond: "alcohol use disorder" OR "alcohol dependence" OR alcoholism OR '
                        '"alcohol abuse"; intr: ketamine OR esketamine')


def enlarged(copies: int) -> RegistrySnapshot:
    base = RegistrySnapshot.load(ROOT / "data" / "clinicaltrials" / "studies.json")
    studies: dict[str, list[Version]] = {}
    for k in range(copies):
        for i, versions in enumerate(base.studies.values()):
            nct = f"NCT9{k:03d}{i:04d}"
            cloned = []
            for v in versions:
                study = copy.deepcopy(v.study)
                study["protocolSection"]["identificationModule"]["nctId"] = nct
                cloned.append(Version(v.posted, study))
            studies[nct] = cloned
    return RegistrySnapshot(studies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=200)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--db", type=Path, default=None, help="library file (default: memory)")
    args = parser.parse_args()
    snapshot = enlarged(args.copies)
    library = Library.open(args.db) if args.db else Library.memory()
    standin = CtgovStandin(snapshot)
    settings = Settings(max_retries=1, backoff_base=0)
    ctgov = CtgovClient(settings, transport=httpx.MockTransport(standin), rate=0,
                        page_size=args.page_size)
    eutils = EutilsClient(settings, transport=httpx.MockTransport(
        lambda r: httpx.Response(500)))
    print(f"{len(snapshot.studies)} studies, page size {args.page_size}")
    weeks, requests, seconds, slowest = 0, 0, 0.0, 0.0
    as_of, end = date(2015, 12, 27), date(2026, 1, 4)
    while as_of <= end:
        standin.as_of = as_of
        started = time.perf_counter()
        report = Runner(library, eutils, settings, offline=True, today=as_of,
                        ctgov=ctgov).run([QUERY])
        took = time.perf_counter() - started
        if weeks == 0:
            print(f"backfill {as_of}: {report.new_trials} trials, {report.requests} requests, "
                  f"{took * 1000:.0f} ms")
        else:
            slowest = max(slowest, took)
        weeks += 1
        requests += report.requests
        seconds += took
        as_of += timedelta(weeks=1)
    events = library.db.execute("SELECT count(*) FROM events").fetchone()[0]
    trials = library.db.execute("SELECT count(*) FROM trials").fetchone()[0]
    print(f"{weeks} weekly runs: {trials} trials, {events} events, {requests} requests")
    print(f"total {seconds:.2f} s; mean {seconds / weeks * 1000:.1f} ms/run; "
          f"slowest incremental run {slowest * 1000:.1f} ms")


if __name__ == "__main__":
    main()
