"""Benchmark: an offline backfill of N records, end to end, against bare parsing.

Replicates the bundled snapshot to N records under fresh PMIDs (entrez dates
spread over the snapshot's span) and serves it with the E-utilities stand-in
in a separate process, over real HTTP on loopback, so that the figures below
are kettrack's own (the server's CPU and memory are NCBI's in real use). Then,
in the measuring process:

1. backfill: ``Runner.run`` with the shipped saved queries plus one query that
   matches every record (so the 9,999 ceiling forces date slicing), into a
   SQLite file;
2. bare parse: the same efetch batches fetched again and parsed with
   ``Bio.Entrez.read`` (through kettrack's DTD-safe handler) and nothing else,
   timing only the parse;
3. incremental: the same run again, nothing new; requests are counted by kind.

Prints records/s for both, their ratio (target >= 0.8: normalising and storing
cost under a quarter of parsing), peak RSS of the measuring process (target
< 300 MB, flat as N grows: ``--sizes`` runs each size in its own process), and
requests per run against the floor (one esearch per query + ceil(new / batch)
efetch).

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

from kettrack.dev.faultserver import serve
from kettrack.dev.replicate import replicate
from kettrack.library.store import Library
from kettrack.queries import SavedQuery, load_queries
from kettrack.run.runner import Runner, batched
from kettrack.settings import Settings
from kettrack.sources import entrez_xml
from kettrack.sources.eutils import EutilsClient
from kettrack.standin.eutils import EutilsStandin
from kettrack.standin.snapshot import Snapshot, default_snapshot_dir

ROOT = Path(__file__).resolve().parents[1]
EVERYTHING = SavedQuery("bench-everything", "1800:3000[dp]", description="every record")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def serve_snapshot(n: int) -> None:
    """Child process: serve an n-record replica on loopback until stdin closes."""
    folder = default_snapshot_dir() / "pubmed"
    base = Snapshot.load(folder / "snapshot.xml", folder / "pending_indexing.json")
    standin = EutilsStandin(replicate(base, n))
    with serve(standin) as url:
        print(url, flush=True)
        sys.stdin.read()
        counts = {k: standin.count(k) for k in ("esearch", "efetch", "epost")}
    print(json.dumps(counts), flush=True)


class Server:
    """The stand-in in its own process; ``requests()`` asks it what it served."""

    def __init__(self, n: int) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(n)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def stop(self) -> dict[str, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        counts: dict[str, int] = json.loads(self.proc.stdout.readline())
        self.proc.wait(timeout=30)
        return counts


def bare_read_rate(client: EutilsClient, pmids: list[str], batch: int) -> tuple[float, int]:
    """Records/s of Bio.Entrez.read alone over the same efetch answers."""
    parse_seconds = 0.0
    records = 0
    for chunk in batched(pmids, batch):
        body = client.efetch(chunk)
        started = time.perf_counter()
        parsed = entrez_xml._handler().read(io.BytesIO(body))  # the handler the run uses
        parse_seconds += time.perf_counter() - started
        records += len(parsed)
    return records / parse_seconds, records


def one_size(n: int, batch: int) -> dict[str, object]:
    queries = [q for q in load_queries(ROOT / "queries") if q.source == "pubmed"] + [EVERYTHING]
    server = Server(n)
    settings = Settings(eutils_url=server.url, rate_limit=1e9, batch_size=batch,
                        backoff_base=0, read_timeout=300)
    with tempfile.TemporaryDirectory() as tmp:
        library = Library.open(Path(tmp) / "bench.db")
        with EutilsClient(settings) as client:
            started = time.perf_counter()
            report = Runner(library, client, settings, offline=True).run(queries)
            seconds = time.perf_counter() - started
            rss_after_backfill = peak_rss_mb()
            backfill_requests = dict(client.http.log.by_endpoint)
            stored = library.db.execute("SELECT count(*) FROM articles").fetchone()[0]
            pmids = [r[0] for r in library.db.execute("SELECT pmid FROM articles ORDER BY pmid")]
            bare_rate, bare_n = bare_read_rate(client, pmids, batch)
        with EutilsClient(settings) as client:
            again = Runner(library, client, settings, offline=True).run(queries)
            incremental = dict(client.http.log.by_endpoint)
        library.close()
    server.stop()
    return {
        "records": n,
        "stored": stored,
        "backfill_seconds": round(seconds, 2),
        "end_to_end_records_per_s": round(report.new_total / seconds, 1),
        "bare_entrez_read_records_per_s": round(bare_rate, 1),
        "bare_parsed": bare_n,
        "ratio": round(report.new_total / seconds / bare_rate, 3),
        "peak_rss_mb": round(rss_after_backfill, 1),
        "queries": len(queries),
        "backfill_requests": backfill_requests,
        "backfill_floor": {"esearch": len(queries),
                           "efetch": math.ceil(report.new_total / batch)},
        "corrections_requests": report.corrections_requests,
        "esearch_date_slices": backfill_requests.get("esearch", 0) - len(queries)
        - (report.corrections_requests - backfill_requests.get("epost", 0)),
        "incremental_new": again.new_total,
        "incremental_requests": incremental,
        "incremental_refetched": again.refetched,
        "incremental_corrections": again.corrections_requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000", help="comma-separated record counts")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_snapshot(args.serve)
        return
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
