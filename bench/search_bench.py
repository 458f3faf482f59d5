"""How fast ``search`` and ``check`` answer on a 100,000-article library.

Builds a temporary library of synthetic articles (rows inserted directly, the
FTS index filled by sqlite-utils' triggers as in a real library), then times
realistic searches and claims, each run several times, and prints the median
and 95th percentile per query and overall. The target is a median under 50 ms.
Nothing here fails on time: it prints figures.

    python bench/search_bench.py              # 100,000 articles
    python bench/search_bench.py --articles 20000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from kettrack.article import AbstractSection, Article, MeshHeading
from kettrack.claims import check
from kettrack.search import search, search_results
from kettrack.store import Library

SEARCHES = [
    "ketamine relapse",
    "esketamine alcohol use disorder",
    "\"heavy drinking days\"",
    "memory reconsolidation",
    "open-label pilot",
    "synaptogenesis",
    "ketamine AND (craving",
    "spravato",
]
CLAIMS = [
    "a single dose of ketamine with therapy cut relapse dramatically",
    "ketamine rewrites drinking memories",
    "esketamine nasal spray is safe for alcoholics",
    "ketamine reduces craving in alcohol dependence",
    "ketamine promotes synaptogenesis",
    "ketamine cures diabetes",
]

_DRUGS = ["ketamine", "esketamine", "arketamine", "Spravato", "ketamine", "ketamine"]
_CONDITIONS = ["alcohol use disorder", "alcohol dependence", "alcoholism", "problem drinking",
               "major depression", "treatment-resistant depression", "chronic pain", "anaesthesia"]
_DESIGNS = ["rct", "trial", "observational", "review", "systematic-review", "meta-analysis",
            "case-report", "preclinical", "protocol", "other"]
_PHRASES = [
    "relapse to heavy drinking", "percentage of days abstinent", "craving and urges to drink",
    "infusion of {drug} 0.71 mg/kg", "intravenous administration", "memory reconsolidation",
    "synaptogenesis and neuroplasticity in the prefrontal cortex", "adverse events were mild",
    "dissociative side effects", "tolerability and safety", "psychological therapy",
    "motivational enhancement therapy", "sample of {n} participants", "in rats and mice",
    "heavy drinking days decreased", "the placebo group", "midazolam as an active placebo",
    "blood pressure rose transiently", "depressive symptoms improved", "follow-up at six months",
    "open-label pilot study", "retrospective cohort", "BDNF and mTOR signalling",
]
_WORDS = ("patients outcome measure baseline week month analysis primary secondary effect "
          "treatment group control significant results conclusion method data clinical study "
          "dose response receptor glutamate NMDA antagonist brain network imaging").split()


def synthetic_article(i: int, rng: random.Random) -> Article:
    """One made-up article with the field's vocabulary in realistic proportions."""
    drug = rng.choice(_DRUGS)
    condition = rng.choice(_CONDITIONS)
    sentences = []
    for _ in range(rng.randint(6, 10)):
        phrase = rng.choice(_PHRASES).format(drug=drug, n=rng.randint(8, 400))
        filler = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 20)))
        sentences.append(f"{filler.capitalize()} {phrase} in {condition}.")
    return Article(
        pmid=str(10_000_000 + i),
        title=f"{drug.capitalize()} and {rng.choice(_PHRASES).format(drug=drug, n=40)} "
              f"in {condition}",
        abstract_sections=[AbstractSection(" ".join(sentences[:3]), "METHODS", "METHODS"),
                           AbstractSection(" ".join(sentences[3:]), "RESULTS", "RESULTS")],
        authors=[f"Author{rng.randint(1, 5000)} {rng.choice('ABCDEFG')}" for _ in range(4)],
        journal="Journal of Synthetic Psychopharmacology",
        year=rng.randint(1995, 2025),
        entrez_date=f"{rng.randint(1995, 2025)}-{rng.randint(1, 12):02d}-15",
        mesh=[MeshHeading("Ketamine"), MeshHeading("Humans" if rng.random() < 0.8 else "Rats")],
        keywords=[drug, condition],
        design=rng.choice(_DESIGNS),
        species="human",
        sample_size=rng.randint(8, 400),
    )


def build(path: Path, n: int) -> Library:
    """A library of ``n`` synthetic articles (one transaction per 5,000 rows)."""
    from kettrack.store import _row, utcnow

    library = Library.open(path)
    rng = random.Random(4)
    run_id = library.start_run(offline=True)
    now = utcnow()
    for start in range(0, n, 5000):
        with library.transaction() as conn:
            for i in range(start, min(n, start + 5000)):
                article = synthetic_article(i, rng)
                row = _row(article, None, f"h{i}", now)
                row.update(first_seen_run=run_id, first_seen_at=now)
                cols = ", ".join(row)
                conn.execute(f"INSERT INTO articles ({cols}) VALUES "
                             f"({', '.join('?' * len(row))})", list(row.values()))
    library.db.execute("ANALYZE")
    return library


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", type=Path, metavar="DB",
                        help="build the library here once and reuse it on later runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = args.keep or Path(tmp) / "bench.db"
        library = Library.open(path) if path.exists() else build(path, args.articles)
        args.articles = library.db.execute("SELECT count(*) FROM articles").fetchone()[0]
        size = path.stat().st_size / 1e6
        print(f"library: {args.articles} articles, {size:.0f} MB, built in "
              f"{time.perf_counter() - t0:.1f}s")
        everything: dict[str, list[float]] = {"search": [], "check": []}
        print(f"\n{'command':7} {'median ms':>9} {'p95 ms':>7} {'hits':>5}  text")
        for text in SEARCHES:
            def run_search(text: str = text) -> int:
                hits = search(library, text, limit=20)
                return len(json.dumps(search_results(library, hits)))
            times = timed(run_search, args.repeat)
            everything["search"] += times
            n = len(search(library, text, limit=20))
            print(f"{'search':7} {statistics.median(times):9.1f} "
                  f"{sorted(times)[int(0.95 * (len(times) - 1))]:7.1f} {n:5}  {text}")
        for claim in CLAIMS:
            def run_check(claim: str = claim) -> int:
                return len(json.dumps(check(library, claim, limit=10).to_json()))
            times = timed(run_check, args.repeat)
            everything["check"] += times
            n = len(check(library, claim, limit=10).evidence)
            print(f"{'check':7} {statistics.median(times):9.1f} "
                  f"{sorted(times)[int(0.95 * (len(times) - 1))]:7.1f} {n:5}  {claim}")
        print()
        for command, times in everything.items():
            print(f"{command}: median {statistics.median(times):.1f} ms over {len(times)} runs "
                  f"(target < 50 ms)")
        library.close()


if __name__ == "__main__":
    main()
