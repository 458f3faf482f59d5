"""How fast ``search`` and ``check`` answer on a 100,000-article library.

Builds a temporary library of synthetic articles and registered trials (rows
inserted directly, the FTS indexes filled by sqlite-utils' triggers as in a real
library; search and check answer with both), then times
realistic searches and claims, each run several times, and prints the median
and 95th percentile per query and overall. The target: check under 50 ms at the
95th percentile.
Nothing here fails on time: it prints figures.

    python bench/search_bench.py              # 100,000 articles
    python bench/search_bench.py --articles 20000 --repeat 5 --trials 300
    python bench/search_bench.py --keep /tmp/k.db --before ../older-checkout/src

With ``--before``, this checkout's code and the older one's are timed in
fresh processes, a round of each in turn, on the same library file, so that
the machine's ups and downs fall on both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kettrack.library.article import AbstractSection, Article, MeshHeading
from kettrack.library.store import Library
from kettrack.library.trial import Trial
from kettrack.render.json import check_json, search_json
from kettrack.tools.check import check
from kettrack.tools.search import search

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

#: (phrase, share of articles that use it): the field's phrases at rates like those
#: of PubMed's ketamine literature, where "relapse" is common and "reconsolidation" rare
_PHRASES = [
    ("relapse to heavy drinking", 0.06), ("percentage of days abstinent", 0.04),
    ("craving and urges to drink", 0.05), ("intravenous infusion of {drug} 0.71 mg/kg", 0.10),
    ("memory reconsolidation", 0.005), ("synaptogenesis and neuroplasticity", 0.01),
    ("adverse events were mild", 0.08), ("dissociative side effects", 0.05),
    ("tolerability and safety", 0.06), ("relapse prevention psychological therapy", 0.02),
    ("motivational enhancement therapy", 0.01), ("sample of {n} participants", 0.30),
    ("in rats and mice", 0.10), ("heavy drinking days decreased", 0.02),
    ("midazolam as an active placebo", 0.02), ("blood pressure rose transiently", 0.03),
    ("depressive symptoms improved", 0.15), ("follow-up at six months", 0.05),
    ("open-label pilot study", 0.03), ("retrospective cohort", 0.06),
    ("BDNF and mTOR signalling", 0.02), ("a single dose", 0.05),
]
_DRUGS = [("ketamine", 0.85), ("esketamine", 0.10), ("arketamine", 0.02), ("Spravato", 0.03)]
_CONDITIONS = [("alcohol use disorder", 0.25), ("alcohol dependence", 0.08), ("alcoholism", 0.04),
               ("major depression", 0.30), ("chronic pain", 0.15), ("anaesthesia", 0.18)]
_DESIGNS = ["rct", "trial", "observational", "review", "systematic-review", "meta-analysis",
            "case-report", "preclinical", "protocol", "other"]
_SYLLABLES = ["ka", "ri", "mo", "ne", "lu", "sta", "pro", "gen", "tor", "vi", "dal", "ex",
              "ine", "ase", "ol", "ic", "ent", "um", "pa", "te"]


def _general_words(rng: random.Random, n: int = 4000) -> tuple[list[str], list[float]]:
    """General scientific vocabulary stand-ins, used with Zipf's frequencies."""
    words = sorted({"".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
                    for _ in range(n * 2)})[:n]
    rng.shuffle(words)
    return words, [1 / (rank + 1) for rank in range(len(words))]


def synthetic_article(i: int, rng: random.Random,
                      vocab: tuple[list[str], list[float]]) -> Article:
    """One made-up article: general words plus the field's phrases at their rates."""
    drug = rng.choices([d for d, _ in _DRUGS], [w for _, w in _DRUGS])[0]
    condition = rng.choices([c for c, _ in _CONDITIONS], [w for _, w in _CONDITIONS])[0]
    phrases = [p.format(drug=drug, n=rng.randint(8, 400)) for p, share in _PHRASES
               if rng.random() < share]
    sentences = []
    for k in range(rng.randint(7, 11)):
        filler = " ".join(rng.choices(vocab[0], vocab[1], k=rng.randint(12, 24)))
        extra = f" {phrases[k]}" if k < len(phrases) else ""
        subject = drug if k % 3 == 0 else condition
        sentences.append(f"{filler.capitalize()} {subject}{extra}.")
    return Article(
        pmid=str(10_000_000 + i),
        title=f"{drug.capitalize()} in {condition}"
              + (f": {phrases[0]}" if phrases else f": {' '.join(rng.choices(*vocab, k=4))}"),
        abstract_sections=[AbstractSection(" ".join(sentences[:4]), "METHODS", "METHODS"),
                           AbstractSection(" ".join(sentences[4:]), "RESULTS", "RESULTS")],
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


_STATUSES = ["RECRUITING", "NOT_YET_RECRUITING", "ACTIVE_NOT_RECRUITING", "COMPLETED",
             "COMPLETED", "TERMINATED", "WITHDRAWN", "UNKNOWN"]


def synthetic_trial(i: int, rng: random.Random) -> Trial:
    """One made-up registered trial: the field's drugs, conditions and interventions."""
    drug = rng.choices([d for d, _ in _DRUGS], [w for _, w in _DRUGS])[0]
    condition = rng.choices([c for c, _ in _CONDITIONS], [w for _, w in _CONDITIONS])[0]
    extra = rng.choice(["Midazolam", "Saline", "Motivational Enhancement Therapy",
                        "Relapse Prevention Therapy", "Mindfulness", "Naltrexone"])
    status = rng.choice(_STATUSES)
    phrase = rng.choice(_PHRASES)[0].format(drug=drug, n=40)
    return Trial(
        nct_id=f"NCT{90_000_000 + i:08d}",
        title=f"{drug.capitalize()} for {condition}: {phrase}",
        official_title=f"A randomised trial of {drug} in {condition}",
        overall_status=status, phases=["PHASE2"], enrollment=rng.randint(10, 300),
        conditions=[condition.title()], interventions=[drug.capitalize(), extra],
        first_posted=f"{rng.randint(2005, 2025)}-{rng.randint(1, 12):02d}-01",
        has_results=status == "COMPLETED" and rng.random() < 0.5,
    )


def build(path: Path, n: int, trials: int = 0) -> Library:
    """A library of ``n`` synthetic articles (one transaction per 5,000 rows) and
    ``trials`` synthetic registered trials."""
    from kettrack.library.store import article_row, trial_row, utcnow

    library = Library.open(path)
    rng = random.Random(4)
    vocab = _general_words(rng)
    run_id = library.start_run(offline=True)
    now = utcnow()
    for start in range(0, n, 5000):
        with library.transaction() as conn:
            for i in range(start, min(n, start + 5000)):
                article = synthetic_article(i, rng, vocab)
                row = article_row(article, None, article.source_hash(), now)
                row.update(first_seen_run=run_id, first_seen_at=now)
                cols = ", ".join(row)
                conn.execute(f"INSERT INTO articles ({cols}) VALUES "
                             f"({', '.join('?' * len(row))})", list(row.values()))
    with library.transaction() as conn:
        for i in range(trials):
            trow = trial_row(synthetic_trial(i, rng), {}, now)
            trow.update(first_seen_run=run_id, first_seen_at=now)
            conn.execute(f"INSERT INTO trials ({', '.join(trow)}) VALUES "
                         f"({', '.join('?' * len(trow))})", list(trow.values()))
    library.db.execute("ANALYZE")
    return library


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def measure(path: Path, repeat: int) -> dict[str, dict[str, list[float]]]:
    """{"search": {text: [ms, ...]}, "check": {claim: [ms, ...]}} on the library at
    ``path``, with whatever ``kettrack`` this process imports."""
    library = Library.open(path)
    out: dict[str, dict[str, list[float]]] = {"search": {}, "check": {}, "hits": {}}
    for text in SEARCHES:
        def run_search(text: str = text) -> int:
            return len(json.dumps(search_json(search(library, text, limit=20))))
        out["search"][text] = timed(run_search, repeat)
        out["hits"][text] = [len(search(library, text, limit=20))]
    for claim in CLAIMS:
        def run_check(claim: str = claim) -> int:
            return len(json.dumps(check_json(check(library, claim, limit=10))))
        out["check"][claim] = timed(run_check, repeat)
        out["hits"][claim] = [len(check(library, claim, limit=10).ranked)]
    library.close()
    return out


def child(path: Path, repeat: int, src: str | None) -> dict[str, dict[str, list[float]]]:
    """:func:`measure` in a fresh process, on this checkout's code or on ``src``'s."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = str(Path(src).resolve())
    done = subprocess.run([sys.executable, __file__, "--measure", str(path),
                           "--repeat", str(repeat)], env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def p95(times: list[float]) -> float:
    return sorted(times)[int(0.95 * (len(times) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--trials", type=int, default=300,
                        help="synthetic registered trials (a real library holds hundreds)")
    parser.add_argument("--keep", type=Path, metavar="DB",
                        help="build the library here once and reuse it on later runs")
    parser.add_argument("--before", metavar="SRC",
                        help="also time an older kettrack (its src folder) on the same "
                             "library, in rounds taken in turn with this one")
    parser.add_argument("--rounds", type=int, default=4,
                        help="with --before: rounds of --repeat runs for each code")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.repeat)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = args.keep or Path(tmp) / "bench.db"
        reused = path.exists()
        library = Library.open(path) if reused else build(path, args.articles, args.trials)
        args.articles = library.db.execute("SELECT count(*) FROM articles").fetchone()[0]
        args.trials = library.db.execute("SELECT count(*) FROM trials").fetchone()[0]
        library.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        library.close()
        size = path.stat().st_size / 1e6
        how = f"reused {path}" if reused else f"built in {time.perf_counter() - t0:.1f}s"
        print(f"library: {args.articles} articles, {args.trials} trials, {size:.0f} MB, {how}")
        runs: dict[str, dict[str, dict[str, list[float]]]] = {}
        codes = ["this"] + (["before"] if args.before else [])
        for _ in range(args.rounds if args.before else 1):
            for code in codes:
                got = (child(path, args.repeat, args.before) if code == "before"
                       else measure(path, args.repeat) if not args.before
                       else child(path, args.repeat, None))
                mine = runs.setdefault(code, {"search": {}, "check": {}, "hits": got["hits"]})
                for command in ("search", "check"):
                    for text, times in got[command].items():
                        mine[command].setdefault(text, []).extend(times)
        header = "".join(f" {c + ' median':>13} {c + ' p95':>10}" for c in codes)
        print(f"\n{'command':7}{header} {'hits':>5}  text")
        for command in ("search", "check"):
            for text in runs["this"][command]:
                cells = "".join(f" {statistics.median(runs[c][command][text]):13.1f} "
                                f"{p95(runs[c][command][text]):10.1f}" for c in codes)
                print(f"{command:7}{cells} {runs['this']['hits'][text][0]:5}  {text}")
        print()
        for command in ("search", "check"):
            for code in codes:
                times = [t for ts in runs[code][command].values() for t in ts]
                print(f"{command} ({code}): median {statistics.median(times):.1f} ms, "
                      f"p95 {p95(times):.1f} ms over {len(times)} runs (target < 50 ms)")


if __name__ == "__main__":
    main()
