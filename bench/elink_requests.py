"""Benchmark: what citation watches cost in requests, on a week with nothing new.

For each number of watches W, a library watching W papers (the snapshot papers
with recorded or assumed citers from ``citations.toml``, then PMIDs the snapshot
lacks, so nothing cites them) runs the saved queries twice against the
E-utilities stand-in, in process; the second run is the "weekly run with nothing
new". Requests are counted by the stand-in, by endpoint.

Printed per W: ELink requests of the second run (kettrack: one ``id=`` per PMID,
200 PMIDs per request, POST when long), the baseline of one ELink request per
watched paper (what asking paper by paper would cost), the records fetched as
new (0: no citer is fetched twice), the efetch requests (the refetch of records
NLM has not finished indexing, and the corrections check's fetches), and the
run's whole request count (queries and corrections check included), which the
run prints.

    python bench/elink_requests.py                          # W = 1, 10, 200, 201, 1000
    python bench/elink_requests.py --watches 1,5000 --snapshot data
"""

from __future__ import annotations

import argparse
import math
from datetime import date
from pathlib import Path

import httpx

from kettrack.library.store import Library
from kettrack.queries import load_queries
from kettrack.run.runner import Runner
from kettrack.settings import Settings
from kettrack.sources.eutils import ELINK_BATCH, EutilsClient
from kettrack.standin.eutils import EutilsStandin
from kettrack.standin.links import CitationGraph
from kettrack.standin.snapshot import Snapshot

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 7, 1)


def weekly(snapshot: Snapshot, graph: CitationGraph, watches: int) -> dict[str, int]:
    library = Library.memory()
    cited = sorted({c.cited for c in graph.citations})
    pmids = (cited + [str(20_000_000 + i) for i in range(watches)])[:watches]
    for i, pmid in enumerate(pmids):
        library.add_watch(f"w{i}", pmid, given=pmid, label=f"watch {i}")
    queries = [q for q in load_queries(ROOT / "queries") if q.source == "pubmed"]
    settings = Settings(rate_limit=1e6, backoff_base=0)
    counts: dict[str, int] = {}
    for week in (1, 2):
        standin = EutilsStandin(snapshot, as_of=AS_OF, links=graph)
        with EutilsClient(settings, transport=httpx.MockTransport(standin)) as client:
            report = Runner(library, client, settings, offline=True, today=AS_OF,
                            watches=True).run(queries)
        if week == 2:
            counts = {"elink": standin.count("elink"), "efetch": standin.count("efetch"),
                      "fetched": report.fetched,
                      "total": report.requests, "watch_requests": report.watch_requests,
                      "new": report.new_total}
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watches", default="1,10,200,201,1000",
                        help="comma-separated numbers of watches")
    parser.add_argument("--snapshot", type=Path, default=ROOT / "data",
                        help="snapshot folder (pubmed/snapshot.xml, source/citations.toml)")
    args = parser.parse_args()
    snapshot = Snapshot.load_default(args.snapshot)
    graph = CitationGraph.load(args.snapshot / "source" / "citations.toml", snapshot)
    print(f"{'watches':>8} {'elink':>6} {'baseline':>9} {'floor':>6} {'fetched':>8} "
          f"{'efetch':>7} {'run total':>10} {'new':>4}")
    for w in (int(x) for x in args.watches.split(",")):
        c = weekly(snapshot, graph, w)
        floor = math.ceil(w / ELINK_BATCH)
        print(f"{w:>8} {c['elink']:>6} {w:>9} {floor:>6} {c['fetched']:>8} {c['efetch']:>7} "
              f"{c['total']:>10} {c['new']:>4}")
        assert c["elink"] == c["watch_requests"]


if __name__ == "__main__":
    main()
