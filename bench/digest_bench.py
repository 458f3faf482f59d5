"""How long does ``kettrack digest`` take on a 100,000-article library?

Builds a synthetic library in a temporary file (rows inserted directly: 100,000
articles with realistic JSON, each found by one or two of six saved queries),
marks all but the newest 200 as reported in an earlier digest, adds 50
unreported events on reported articles, then times the weekly case end to end
through the CLI code path's pieces: collect, render (text and HTML), mark.
Target: under one second. Also times a first-ever digest of all 100,000
(collect + JSON), which a new user hits once.

    python bench/digest_bench.py [N]
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kettrack.digest import collect as digests  # noqa: E402
from kettrack.library import design  # noqa: E402
from kettrack.library.article import AbstractSection, Article  # noqa: E402
from kettrack.library.store import Library, article_row  # noqa: E402
from kettrack.render.digest import render  # noqa: E402

TITLES = ["Ketamine for alcohol use disorder: a randomized placebo-controlled trial",
          "Ketamine and relapse in detoxified drinkers: a retrospective cohort",
          "Ketamine for alcohol use disorder: a systematic review and meta-analysis",
          "Ketamine reduces ethanol intake in rats",
          "Esketamine in alcohol withdrawal: a case report",
          "Ketamine-assisted psychotherapy: an open-label pilot study"]
QUERIES = ["ketamine-aud", "ketamine-aud-trials", "ketamine-aud-reviews",
           "ketamine-alcohol-withdrawal", "ketamine-ethanol-preclinical",
           "ketamine-memory-reconsolidation"]


def build(path: Path, n: int, fresh: int) -> Library:
    library = Library.open(path, lock_timeout=10)
    rng = random.Random(42)
    run = library.start_run(offline=True)
    with library.transaction() as conn:
        for i, name in enumerate(QUERIES):
            conn.execute("INSERT INTO query_versions (id, name, version, source, term, "
                         "created_run) VALUES (?, ?, 'v1', 'pubmed', 'ketamine', ?)",
                         (i + 1, name, run))
        rows, members = [], []
        for i in range(n):
            pmid = str(30_000_000 + i)
            article = Article(
                pmid=pmid, title=f"{TITLES[i % len(TITLES)]} ({i})",
                abstract_sections=[
                    AbstractSection(f"We enrolled {rng.randint(12, 400)} patients.", "METHODS",
                                    "METHODS"),
                    AbstractSection("Ketamine reduced heavy drinking days.", "CONCLUSIONS",
                                    "CONCLUSIONS")],
                authors=[f"Author{j} A" for j in range(rng.randint(1, 8))],
                journal="J Psychopharmacol", pub_date="2024 Jun", year=2024,
                entrez_date=f"20{10 + i * 15 // n:02d}-06-15", doi=f"10.1000/{pmid}",
                nct_ids=["NCT02649231"] if i % 9 == 0 else [])
            design.classify(article)
            row = article_row(article, None, article.source_hash(), "2025-01-01T00:00:00+00:00")
            row.update(first_seen_run=run, first_seen_at="2025-01-01T00:00:00+00:00")
            rows.append(row)
            for q in {i % 6 + 1, (i * 7) % 6 + 1}:
                members.append((pmid, q, run))
        cols = list(rows[0])
        conn.executemany(f"INSERT INTO articles ({', '.join(cols)}) VALUES "
                         f"({', '.join('?' * len(cols))})", [list(r.values()) for r in rows])
        conn.executemany("INSERT INTO memberships (pmid, query_version_id, run_id) "
                         "VALUES (?, ?, ?)", members)
        cur = conn.execute("INSERT INTO digests (created_at, since, format, status) VALUES "
                           "('2025-01-01T00:00:00+00:00', NULL, 'text', 'printed')")
        conn.executemany("INSERT INTO digest_items VALUES (?, 'article', ?, 'studies')",
                         [(cur.lastrowid, r["pmid"]) for r in rows[:n - fresh]])
        conn.executemany(
            "INSERT INTO events (pmid, run_id, kind, detail, created_at) VALUES (?, ?, ?, ?, ?)",
            [(rows[(j * 997) % n]["pmid"], run, "design_changed",
              json.dumps({"from": "trial", "to": "rct"}), "2025-01-02") for j in range(50)])
    return library


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    fresh = 200
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        library = build(Path(folder) / "bench.db", n, fresh)
        print(f"built a {n:,}-article library in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        found = digests.collect(library)
        collected = time.perf_counter() - started
        text = render(found, "text")
        html = render(found, "html")
        rendered = time.perf_counter() - started - collected
        digests.mark(library, found, format="text")
        total = time.perf_counter() - started
        print(f"weekly digest ({found.counts()}): collect {collected * 1000:.0f} ms, "
              f"render text+html {rendered * 1000:.0f} ms ({len(text) + len(html):,} chars), "
              f"total with marking {total * 1000:.0f} ms (target < 1000 ms)")

        started = time.perf_counter()
        empty = digests.collect(library)
        print(f"next digest (nothing new: {empty.is_empty}): "
              f"{(time.perf_counter() - started) * 1000:.0f} ms")

        library.db.execute("DELETE FROM digest_items")
        library.db.execute("DELETE FROM digests")
        started = time.perf_counter()
        everything = digests.collect(library)
        out = render(everything, "json")
        print(f"first-ever digest of all {n:,} articles: collect + JSON "
              f"{time.perf_counter() - started:.1f} s ({len(out) / 1e6:.0f} MB)")
        library.close()


if __name__ == "__main__":
    main()
