"""Benchmark: simulated screening with kettrack's ranking, next to ASReview's default.

Takes one or more CSV files of labelled screening data (columns
``record_id,title,abstract,label_included``) and, for each file and each seed,
simulates a reviewer who answers every record with its true label:

1. the prior knowledge is one random inclusion and one random exclusion (seeded);
2. the model is retrained after every decision for the first ``--warm``
   decisions, then after every ``--every`` decisions (default 10), and the
   highest-scoring records not yet screened are screened next;
3. the simulation stops once 95 % of the inclusions are found and 30 % of the
   pool is screened (what follows cannot change the figures below).

Two rankers run on the same records, priors and schedule:

- ``kettrack``: the product's own :class:`kettrack.review.ranking.Ranker`;
- ``baseline``: ASReview's default model, written out here: TF-IDF unigrams
  (English stop words), multinomial naive Bayes (alpha 3.822) trained on a
  "double"-balanced sample, certainty (max) sampling.

Figures (the two prior records are left out of the pool, as ASReview's
metrics do): WSS@95 = (N - n95) / N - 0.05, where n95 is how many records were
screened to find ceil(0.95 x inclusions); and recall after 10, 20 and 30 % of
the pool screened. Each is printed per seed and as the mean over seeds.

Then the time to re-rank a queue of ``--queue`` records (10,000) after a
decision: features are built once per screening session (timed separately),
and each decision retrains and re-scores the whole queue.

    python bench/screening_sim.py data/*.csv --seeds 5
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kettrack.review.ranking import Ranker

Scorer = Callable[[list[int], list[int]], np.ndarray]


def load(path: Path) -> tuple[list[str], np.ndarray]:
    """Texts (title + abstract) and labels of a screening CSV."""
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"title", "abstract", "label_included"} - set(rows[0] if rows else {})
    if missing:
        raise SystemExit(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    texts = [f"{r['title'] or ''}\n{r['abstract'] or ''}" for r in rows]
    labels = np.array([int(r["label_included"] or 0) for r in rows])
    return texts, labels


class Baseline:
    """ASReview's default: TF-IDF unigrams + naive Bayes, double balance, max sampling."""

    def __init__(self, texts: Sequence[str], seed: int) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.matrix = TfidfVectorizer(stop_words="english").fit_transform(texts)
        self.rng = np.random.default_rng(seed)

    def scores(self, included: list[int], excluded: list[int]) -> np.ndarray:
        from sklearn.naive_bayes import MultinomialNB

        ones, zeros = np.array(included), np.array(excluded)
        n_one, n_zero = len(ones), len(zeros)
        n_train = n_one + n_zero
        one_weight = 2.155 * (n_one / n_zero) ** -0.94
        zero_weight = 1 - (1 - 0.789) * (1 + math.log(n_train)) ** -1.0
        want = one_weight * n_one * n_train / (one_weight * n_one + zero_weight * n_zero)
        n_one_train = int(math.floor(want) + (self.rng.random() < want - math.floor(want)))
        n_one_train = max(1, min(n_train - 2, n_one_train))

        def fill(src: np.ndarray, n: int) -> np.ndarray:
            copies, rest = divmod(n, len(src))
            return np.concatenate([np.tile(src, copies), self.rng.choice(src, rest,
                                                                         replace=False)])

        x = np.concatenate([fill(ones, n_one_train), fill(zeros, n_train - n_one_train)])
        y = np.concatenate([np.ones(n_one_train, int), np.zeros(n_train - n_one_train, int)])
        model = MultinomialNB(alpha=3.822).fit(self.matrix[x], y)
        result: np.ndarray = model.predict_proba(self.matrix)[:, 1]
        return result


def simulate(labels: np.ndarray, scorer: Scorer, seed: int, *, warm: int,
             every: int) -> tuple[list[int], int]:
    """Positions (1-based, in the pool) at which inclusions were found, and the pool size."""
    rng = np.random.default_rng(seed)
    prior_in = int(rng.choice(np.flatnonzero(labels == 1)))
    prior_out = int(rng.choice(np.flatnonzero(labels == 0)))
    included, excluded = [prior_in], [prior_out]
    unscreened = np.ones(len(labels), dtype=bool)
    unscreened[[prior_in, prior_out]] = False
    pool = len(labels) - 2
    to_find = int(labels.sum()) - 1
    found: list[int] = []
    screened = 0
    need, share = math.ceil(0.95 * to_find), math.ceil(0.3 * pool)

    def finished() -> bool:
        return len(found) >= need and screened >= share

    while not finished() and unscreened.any():
        scores = scorer(included, excluded)
        batch = 1 if screened < warm else every
        candidates = np.flatnonzero(unscreened)
        ordered = candidates[np.argsort(-scores[candidates], kind="stable")][:batch]
        for i in ordered.tolist():
            unscreened[i] = False
            screened += 1
            if labels[i]:
                included.append(i)
                found.append(screened)
            else:
                excluded.append(i)
            if finished():
                break
    return found, pool


def figures(found: list[int], pool: int, total: int) -> dict[str, float]:
    need = math.ceil(0.95 * total)
    n95 = found[need - 1]
    out = {"wss95": (pool - n95) / pool - 0.05}
    for share in (10, 20, 30):
        cut = math.ceil(pool * share / 100)
        out[f"recall{share}"] = sum(1 for p in found if p <= cut) / total
    return out


def timing(texts: Sequence[str], size: int) -> None:
    corpus = [texts[i % len(texts)] + f" r{i}" for i in range(size)]
    start = time.perf_counter()
    ranker = Ranker(corpus, seed=0)
    built = time.perf_counter() - start
    rng = np.random.default_rng(0)
    labelled = rng.choice(size, 500, replace=False).tolist()
    included, excluded = labelled[:25], labelled[25:]
    times = []
    for n in range(5):
        start = time.perf_counter()
        scores = ranker.scores(included, excluded + [labelled[-1] + n])
        assert scores is not None
        np.argsort(-scores, kind="stable")
        times.append(time.perf_counter() - start)
    print(f"\nqueue of {size:,} records: features built once per session in {built:.2f} s; "
          f"re-ranking after a decision (500 decided, retrain + score + sort): "
          f"median {statistics.median(times):.3f} s, max {max(times):.3f} s "
          f"(target < 1 s; 2 shared cores)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", nargs="+", type=Path)
    parser.add_argument("--seeds", type=int, default=5, help="seeds per file [5]")
    parser.add_argument("--warm", type=int, default=100,
                        help="retrain after every decision for this many decisions [100]")
    parser.add_argument("--every", type=int, default=10,
                        help="then retrain after every N decisions [10]")
    parser.add_argument("--queue", type=int, default=10_000, help="records in the timed queue")
    args = parser.parse_args(argv)

    keys = ("wss95", "recall10", "recall20", "recall30")
    summary: list[tuple[str, str, dict[str, float]]] = []
    all_texts: list[str] = []
    for path in args.csv:
        texts, labels = load(path)
        all_texts += texts
        total = int(labels.sum()) - 1
        print(f"{path.name}: {len(labels)} records, {int(labels.sum())} included; "
              f"seeds 0..{args.seeds - 1}")
        print(f"  {'ranker':<9} {'seed':>4} " + " ".join(f"{k:>8}" for k in keys))
        for name in ("kettrack", "baseline"):
            runs = []
            for seed in range(args.seeds):
                model: Any = (Ranker(texts, seed=seed) if name == "kettrack"
                              else Baseline(texts, seed))
                found, pool = simulate(labels, model.scores, seed, warm=args.warm,
                                       every=args.every)
                result = figures(found, pool, total)
                runs.append(result)
                print(f"  {name:<9} {seed:>4} " + " ".join(f"{result[k]:8.3f}" for k in keys),
                      flush=True)
            mean = {k: statistics.mean(r[k] for r in runs) for k in keys}
            summary.append((path.name, name, mean))
            print(f"  {name:<9} {'mean':>4} " + " ".join(f"{mean[k]:8.3f}" for k in keys))
    print("\nmeans over seeds")
    print(f"  {'file':<32} {'ranker':<9} " + " ".join(f"{k:>8}" for k in keys))
    for file, name, mean in summary:
        print(f"  {file:<32} {name:<9} " + " ".join(f"{mean[k]:8.3f}" for k in keys))
    timing(all_texts, args.queue)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
