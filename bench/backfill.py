"""Benchmark: an offline backfill of N records, end to end, against bare parsing.

Replicates the bundled snapshot to N records under fresh PMIDs (entrez dates
spread over the snapshot's span), then, in one process:

1. backfill: ``Runner.run`` with the shipped saved queries plus one query that
   matches every record (so the 9,999 ceiling forces date slicing), through the
   in-process E-utilities stand-in, into a SQLite file;
2. bare parse: the same efetch batches requested again from the stand-in and
   parsed with ``Bio.Entrez.read`` (through kettrack's DTD-safe handler) and
   nothing else, timed without the stand-in's own serving time;
3. incremental: the same run again, nothing new; requests are counted by kind.

Prints records/s for both, their ratio (target >= 0.8: normalising and storing
cost under a quarter of parsing), peak RSS (target < 300 MB, flat as N grows:
``--sizes 5000,10000,20000`` runs each size in its own process), and requests
per run against the floor (one esearch per query + ceil(new / batch) efetch).

    python bench/backfill.py                      # 20,000 records
    python bench/backfill.py --sizes 5000,10000,20000,40000
"""

from __future__ import annotations

import argparse
import io
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from kettrack import entrez_xml
from kettrack.config import Settings
from kettrack.eutils import EutilsClient
from kettrack.queries import SavedQuery, load_queries
from kettrack.run import Runner, batched
from kettrack.standin.eutils import EutilsStandin
from kettrack.standin.snapshot import Snapshot, default_snapshot_dir
from kettrack.store import Library

ROOT = Path(__file__).resolve().parents[1]
EVERYTHING = SavedQuery("bench-everything", "1800:3000[dp]", description="every record")


class Timed:
    """Wraps the stand-in to add up the time it spends serving: in real use that
    time is NCBI's, on NCBI's machines, so kettrack's own time excludes it."""

    def __init__(self, standin: EutilsStandin) -> None:
        self.standin = standin
        self.seconds = 0.0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            return self.standin(request)
        finally:
            self.seconds += time.perf_counter() - started


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bare_read_rate(standin: EutilsStandin, pmids: list[str], batch: int) -> tuple[float, int]:
    """Records/s of Bio.Entrez.read alone over the same efetch answers."""
    parse_seconds = 0.0
    records = 0
    for chunk in batched(pmids, batch):
        body = standin(httpx.Request("POST", "https://eutils.test/efetch.fcgi",
                                     data={"db": "pubmed", "id": ",".join(chunk)})).content
        started = time.perf_counter()
        parsed = entrez_xml._handler().read(io.BytesIO(body))  # the same handler the run uses
        parse_seconds += time.perf_counter() - started
        records += len(parsed)
    return records / parse_seconds, records


def one_size(n: int, batch: int) -> dict[str, object]:
    folder = default_snapshot_dir() / "pubmed"
    base = Snapshot.load(folder / "snapshot.xml", folder / "pending_indexing.json")
    snapshot = base.replicate(n)
    queries = [q for q in load_queries(ROOT / "queries") if q.source == "pubmed"] + [EVERYTHING]
    settings = Settings(rate_limit=1e9, batch_size=batch, backoff_base=0)
    with tempfile.TemporaryDirectory() as tmp:
        library = Library.open(Path(tmp) / "bench.db")
        standin = EutilsStandin(snapshot)
        timed = Timed(standin)
        client = EutilsClient(settings, transport=httpx.MockTransport(timed))
        started = time.perf_counter()
        report = Runner(library, client, settings, offline=True).run(queries)
        seconds = time.perf_counter() - started
        own = seconds - timed.seconds
        rss_after_backfill = peak_rss_mb()
        by_kind = {k: standin.count(k) for k in ("esearch", "efetch", "epost")}
        stored = library.db.execute("SELECT count(*) FROM articles").fetchone()[0]

        pmids = [r[0] for r in library.db.execute("SELECT pmid FROM articles ORDER BY pmid")]
        bare_rate, bare_n = bare_read_rate(standin, pmids, batch)

        standin2 = EutilsStandin(snapshot)
        client2 = EutilsClient(settings, transport=httpx.MockTransport(standin2))
        again = Runner(library, client2, settings, offline=True).run(queries)
        incremental = {k: standin2.count(k) for k in ("esearch", "efetch", "epost")}
        incremental_corrections = again.corrections_requests
        library.close()
    return {
        "records": n,
        "stored": stored,
        "backfill_seconds": round(seconds, 2),
        "end_to_end_records_per_s": round(report.new_total / seconds, 1),
        "standin_seconds": round(timed.seconds, 2),
        "own_records_per_s": round(report.new_total / own, 1),
        "own_ratio": round(report.new_total / own / bare_rate, 3),
        "corrections_requests": report.corrections_requests,
        "bare_entrez_read_records_per_s": round(bare_rate, 1),
        "bare_parsed": bare_n,
        "ratio": round(report.new_total / seconds / bare_rate, 3),
        "peak_rss_mb": round(rss_after_backfill, 1),
        "queries": len(queries),
        "backfill_requests": by_kind,
        "backfill_floor": {"esearch": len(queries),
                           "efetch": math.ceil(report.new_total / batch)},
        "esearch_date_slices": by_kind["esearch"] - len(queries)
        - (report.corrections_requests - by_kind["epost"]),
        "incremental_new": again.new_total,
        "incremental_requests": incremental,
        "incremental_refetched": again.refetched,
        "incremental_corrections": incremental_corrections,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000", help="comma-separated record counts")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.batch)))
        return
    for n in [int(s) for s in args.sizes.split(",")]:
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--batch",
                              str(args.batch)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        print(f"records {r['records']:>6}: backfill {r['backfill_seconds']:>6}s, "
              f"end to end {r['end_to_end_records_per_s']:>7} rec/s, bare Entrez.read "
              f"{r['bare_entrez_read_records_per_s']:>7} rec/s, ratio {r['ratio']:.3f} "
              f"(target >= 0.8), peak RSS {r['peak_rss_mb']} MB (target < 300)")
        print(f"    without the stand-in's own serving time ({r['standin_seconds']}s, NCBI's "
              f"in real use): {r['own_records_per_s']} rec/s, ratio {r['own_ratio']:.3f}")
        print(f"    backfill requests {r['backfill_requests']} vs floor {r['backfill_floor']}: "
              f"+{r['esearch_date_slices']} esearch for date slices past 9,999, "
              f"+{r['corrections_requests']} for the library-wide corrections check "
              "(1 epost + 1 esearch per kind)")
        print(f"    incremental run: {r['incremental_new']} new, requests "
              f"{r['incremental_requests']}: one esearch per query ({r['queries']}, plus date "
              f"slices), {r['incremental_corrections']} for the corrections check, and the "
              f"bounded refetch of {r['incremental_refetched']} not-yet-indexed records")


if __name__ == "__main__":
    main()
