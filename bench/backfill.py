"""Benchmark: a backfill of N records, kettrack next to the Biopython tutorial loop.

Replicates the bundled snapshot to N records under fresh PMIDs (entrez dates
spread evenly over the snapshot's span) and serves it with the E-utilities
stand-in in a separate process, over real HTTP on loopback, so that its CPU and
memory are not counted as the client's (they are NCBI's in real use). Against
that same server, each in a fresh process of its own, one after the other:

1. **kettrack**: ``kettrack run`` (the CLI, in-process in the driver) with one
   saved query, the tutorial's search (it matches every record, so past 9,999
   the ceiling forces date slices), into a new SQLite file, at NCBI's rate
   without an API key (3 requests/s): a user backfilling one broad query.
   ``--shipped-queries`` adds the shipped PubMed saved queries (a new library
   for the field: their searches, six more requests, go out too);
2. **tutorial loop**: what the Biopython tutorial does: ``Entrez.esearch`` with
   ``usehistory``, ``Entrez.efetch`` 500 at a time from the history server,
   ``Entrez.read``, and PMID, title and abstract stored in SQLite, one commit
   per batch; Bio.Entrez keeps its own 0.37 s between requests. PubMed's
   history serves only 9,999 records a search, so the loop searches per
   entrez-date range, ranges the benchmark hands it for free (it knows how the
   replica's dates are spread; kettrack has to find out with requests);
3. **kettrack again**: the weekly incremental run on the library just made.

Each runs once with the server answering at once (pure CPU: the client is the
bottleneck), and once with a remote-like latency model: esearch, epost and
elink answer after 0.4 s, efetch after 0.5 s + 2 ms per record asked for. The
server counts requests and the most request starts it saw in any one second
(NCBI allows 3). Printed per size and latency: wall time (from process start,
imports included), CPU seconds per 1,000 records (the process and its worker
processes), peak RSS (main process; worker processes apart), requests, the
peak rate, how long before the first request, and kettrack / tutorial ratios.
Targets: no latency <= 1.25x the tutorial's time; remote <= 0.5x; peak RSS
< 300 MB and flat in N; the rate never past 3/s.

    python bench/backfill.py                              # 20,000 records
    python bench/backfill.py --sizes 5000,20000,40000
    python bench/backfill.py --sizes 20000 --latency remote
    python bench/backfill.py --before ../old-checkout/src    # and an older kettrack
    python bench/backfill.py --shipped-queries               # with the shipped queries
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVERYTHING = 'term = "1800:3000[dp]"\ndescription = "every record (benchmark)"\n'
NCBI = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
#: the remote-like latency model: seconds before the server answers
LATENCY = {"esearch": 0.4, "epost": 0.4, "elink": 0.4, "einfo": 0.4}
EFETCH_BASE, EFETCH_PER_RECORD = 0.5, 0.002


def latency_of(endpoint: str, params: dict[str, str]) -> float:
    if endpoint == "efetch":
        asked = len([p for p in params.get("id", "").split(",") if p]) or int(
            params.get("retmax", "0") or 0)
        return EFETCH_BASE + EFETCH_PER_RECORD * asked
    return LATENCY.get(endpoint, 0.4)


# -- the server process ---------------------------------------------------------------

def serve_snapshot(n: int, remote: bool) -> None:
    """Child process: serve an n-record replica on loopback. Each line on stdin
    asks for the figures since the last one (printed as JSON); EOF stops it."""
    import httpx

    from kettrack.dev.faultserver import serve
    from kettrack.dev.replicate import replicate
    from kettrack.standin.eutils import EutilsStandin, endpoint_of, request_params
    from kettrack.standin.snapshot import Snapshot, default_snapshot_dir

    folder = default_snapshot_dir() / "pubmed"
    base = Snapshot.load(folder / "snapshot.xml", folder / "pending_indexing.json")
    replica = replicate(base, n)
    dates = sorted(d for p in replica.pmids if (d := replica.record(p).entrez_date))
    holder = {"standin": EutilsStandin(replica)}
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            standin = holder["standin"]
        response = standin(request)
        if remote:
            time.sleep(latency_of(endpoint_of(request.url), request_params(request)))
        return response

    with serve(handler) as url:
        print(json.dumps({"url": url, "first": dates[0].isoformat(),
                          "last": dates[-1].isoformat()}), flush=True)
        for _line in sys.stdin:
            with lock:
                standin, holder["standin"] = holder["standin"], EutilsStandin(replica)
            counts: dict[str, int] = {}
            for r in standin.requests:
                counts[r.endpoint] = counts.get(r.endpoint, 0) + 1
            print(json.dumps({"requests": counts, "peak_per_second": standin.peak_rate(1.0),
                              "first_at": min(standin.arrivals, default=None)}), flush=True)


class Server:
    def __init__(self, n: int, remote: bool) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(n)]
                                     + (["--remote"] if remote else []),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        self.url: str = info["url"]
        self.first = date.fromisoformat(info["first"])
        self.last = date.fromisoformat(info["last"])

    def figures(self) -> dict[str, Any]:
        """What it served since the last call."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        out: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return out

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# -- the measured processes -----------------------------------------------------------

def own_figures() -> dict[str, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
            "main_cpu": me.ru_utime + me.ru_stime,
            "rss_mb": me.ru_maxrss / 1024, "worker_rss_mb": kids.ru_maxrss / 1024}


def kettrack_job(url: str, db: str, queries: str) -> dict[str, Any]:
    """``kettrack run`` against ``url``, as a user starts it (in this process)."""
    os.environ.update(KETTRACK_DB=db, KETTRACK_EUTILS_URL=url, KETTRACK_QUERIES=queries)
    from kettrack.cli import app

    try:
        app(["run", "--json"], standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            raise
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    reap_forkserver()
    return {"stored": stored, **own_figures()}


def reap_forkserver() -> None:
    """Stop the fork server that started kettrack's worker processes and wait for
    it, so that their CPU time (it reaped them) counts in this process's
    children: the figures are kettrack's whole cost, workers included."""
    from multiprocessing import forkserver

    server = forkserver._forkserver  # type: ignore[attr-defined]  # noqa: SLF001
    pid, alive = server._forkserver_pid, server._forkserver_alive_fd  # noqa: SLF001
    if pid:
        os.close(alive)
        os.waitpid(pid, 0)


def tutorial_job(url: str, db: str, ranges: list[tuple[str, str]], batch: int
                 ) -> dict[str, Any]:
    """The Biopython tutorial's history-server loop, per entrez-date range."""
    import urllib.request

    from Bio import Entrez

    def to_standin(request: urllib.request.Request) -> Any:
        moved = urllib.request.Request(request.full_url.replace(NCBI, url), data=request.data,
                                       headers=dict(request.header_items()))
        return urllib.request.urlopen(moved)

    Entrez.urlopen = to_standin  # type: ignore[attr-defined]  # the one change: the host
    Entrez.email = "bench@example.org"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE articles (pmid TEXT PRIMARY KEY, title TEXT, abstract TEXT)")
    stored = 0
    for mindate, maxdate in ranges:
        with Entrez.esearch(db="pubmed", term="1800:3000[dp]", usehistory="y", retmax=0,
                            datetype="edat", mindate=mindate, maxdate=maxdate) as handle:
            found = Entrez.read(handle)
        count, webenv, key = int(found["Count"]), found["WebEnv"], found["QueryKey"]
        for start in range(0, count, batch):
            with Entrez.efetch(db="pubmed", retmode="xml", retstart=start, retmax=batch,
                               webenv=webenv, query_key=key) as handle:
                records = Entrez.read(handle)
            rows = []
            for article in records["PubmedArticle"]:
                citation = article["MedlineCitation"]
                text = citation["Article"].get("Abstract", {}).get("AbstractText", [])
                rows.append((str(citation["PMID"]), str(citation["Article"]["ArticleTitle"]),
                             " ".join(str(part) for part in text)))
            conn.executemany("INSERT OR REPLACE INTO articles VALUES (?, ?, ?)", rows)
            conn.commit()
            stored += len(rows)
    conn.close()
    return {"stored": stored, **own_figures()}


def measure(server: Server, args: list[str], src: str | None = None) -> dict[str, Any]:
    """Run one job in a fresh process (kettrack from ``src``, if given); its
    figures, the wall time and the server's."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    started = time.monotonic()
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         check=False, env=env)
    wall = time.monotonic() - started
    if out.returncode:
        raise SystemExit(f"{args[:2]} failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    served = server.figures()
    result.update(wall=wall, requests=served["requests"], peak=served["peak_per_second"],
                  first_request_s=(served["first_at"] - started) if served["first_at"] else None)
    return result


def tutorial_ranges(first: date, last: date, n: int) -> list[tuple[str, str]]:
    """Entrez-date ranges of at most ~9,000 records of a replica spread evenly."""
    parts = max(1, math.ceil(n / 9000))
    days = (last - first).days + 1
    starts = [first + timedelta(days * i // parts) for i in range(parts)]
    ends = [s - timedelta(1) for s in starts[1:]] + [last + timedelta(1)]
    return [(a.strftime("%Y/%m/%d"), b.strftime("%Y/%m/%d")) for a, b in zip(starts, ends,
                                                                            strict=True)]


def one_size(n: int, remote: bool, batch: int, before: str | None, *, shipped: bool
             ) -> dict[str, Any]:
    server = Server(n, remote)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            queries = Path(tmp) / "queries"
            queries.mkdir()
            for path in sorted((ROOT / "queries").glob("*.toml")) if shipped else ():
                text = path.read_text()
                if "source" not in text:  # the PubMed queries
                    (queries / path.name).write_text(text)
            (queries / "bench-everything.toml").write_text(EVERYTHING)
            db = str(Path(tmp) / "kettrack.db")
            kettrack = measure(server, ["--job", "kettrack", server.url, db, str(queries)])
            again = measure(server, ["--job", "kettrack", server.url, db, str(queries)])
            earlier = earlier_again = None
            if before:
                old_db = str(Path(tmp) / "before.db")
                earlier = measure(server, ["--job", "kettrack", server.url, old_db,
                                           str(queries)], src=before)
                earlier_again = measure(server, ["--job", "kettrack", server.url, old_db,
                                                 str(queries)], src=before)
            ranges = tutorial_ranges(server.first, server.last, n)
            tutorial = measure(server, ["--job", "tutorial", server.url,
                                        str(Path(tmp) / "tutorial.db"), json.dumps(ranges),
                                        str(batch)])
    finally:
        server.stop()
    return {"records": n, "latency": "remote" if remote else "none", "kettrack": kettrack,
            "incremental": again, "tutorial": tutorial, "before": earlier,
            "before_incremental": earlier_again}


def show(r: dict[str, Any]) -> None:
    k, t, inc = r["kettrack"], r["tutorial"], r["incremental"]
    per = {name: 1000 * x["cpu"] / max(x["stored"], 1) for name, x in (("k", k), ("t", t))}
    target = 1.25 if r["latency"] == "none" else 0.5
    ratio = k["wall"] / t["wall"]
    print(f"records {r['records']:>6}, latency {r['latency']:<6}: kettrack {k['wall']:6.2f} s "
          f"vs tutorial {t['wall']:6.2f} s, ratio {ratio:.2f} (target <= {target}); "
          f"stored {k['stored']} vs {t['stored']}")
    print(f"    CPU per 1,000 records: kettrack {per['k']:.2f} s (main process "
          f"{1000 * k['main_cpu'] / max(k['stored'], 1):.2f} s), tutorial {per['t']:.2f} s "
          f"(ratio {per['k'] / per['t']:.2f})")
    print(f"    peak RSS: kettrack {k['rss_mb']:.0f} MB main process (worker processes "
          f"{k['worker_rss_mb']:.0f} MB each at most), tutorial {t['rss_mb']:.0f} MB "
          "(target < 300, flat in N)")
    print(f"    requests: kettrack {sum(k['requests'].values())} {k['requests']}, "
          f"tutorial {sum(t['requests'].values())} {t['requests']}")
    print(f"    most request starts in one second: kettrack {k['peak']}, tutorial {t['peak']} "
          "(NCBI's limit 3); first request after "
          f"{k['first_request_s']:.2f} s (kettrack) / {t['first_request_s']:.2f} s (tutorial)")
    print(f"    incremental run after it: {inc['wall']:.2f} s, requests "
          f"{sum(inc['requests'].values())} {inc['requests']}, peak {inc['peak']}/s")
    if r["before"]:
        b = r["before"]
        print(f"    kettrack from --before: {b['wall']:.2f} s, CPU per 1,000 "
              f"{1000 * b['cpu'] / max(b['stored'], 1):.2f} s, RSS {b['rss_mb']:.0f} MB, "
              f"requests {sum(b['requests'].values())} {b['requests']}, peak {b['peak']}/s, "
              f"first request after {b['first_request_s']:.2f} s")
        b = r["before_incremental"]
        print(f"    incremental run of --before after it: {b['wall']:.2f} s, requests "
              f"{sum(b['requests'].values())} {b['requests']}, peak {b['peak']}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000", help="comma-separated record counts")
    parser.add_argument("--latency", default="none,remote",
                        help="none, remote, or both (none,remote)")
    parser.add_argument("--batch", type=int, default=500, help="tutorial loop's retmax")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--before", metavar="SRC",
                        help="also run the kettrack in this src/ folder (an older checkout)")
    parser.add_argument("--shipped-queries", action="store_true",
                        help="kettrack runs the shipped PubMed saved queries too")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--remote", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--job", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_snapshot(args.serve, args.remote)
        return
    if args.job:
        kind, *rest = args.job
        if kind == "kettrack":
            result = kettrack_job(*rest)
        else:
            url, db, ranges, batch = rest
            result = tutorial_job(url, db, [tuple(r) for r in json.loads(ranges)], int(batch))
        print(json.dumps(result))
        return
    print(f"latency model 'remote': esearch/epost/elink {LATENCY['esearch']} s; efetch "
          f"{EFETCH_BASE} s + {EFETCH_PER_RECORD * 1000:g} ms per record; {os.cpu_count()} cores; "
          "kettrack's saved queries: "
          + ("the shipped PubMed ones and the tutorial's search" if args.shipped_queries
             else "the tutorial's search alone"))
    for latency in args.latency.split(","):
        for n in [int(s) for s in args.sizes.split(",")]:
            result = one_size(n, latency == "remote", args.batch, args.before,
                              shipped=args.shipped_queries)
            show(result)
            if args.json:
                print(json.dumps(result))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
