"""Fit ``check``'s reranker (``vocabulary/check_ranker.json``) on SciFact's training claims.

SciFact (Wadden et al. 2020; CC BY-NC 2.0): pass the paths of ``corpus.jsonl``
and ``claims_train.jsonl``. Only the *development* half of the claims (the same
hash split as ``bench/check_eval.py``) is used; the held-out half is never read
here. For each development claim with evidence, ``check``'s own first stage and
feature code (:func:`kettrack.tools.check.candidate_features`) give the
candidates; a pairwise logistic regression (scikit-learn, no intercept) learns
weights such that an evidence abstract scores above each non-evidence candidate.
Printed: five-fold cross-validation over the development claims of the top-3
share for the first stage alone, the learned order alone and the fused order
``check`` uses. ``--write`` stores the weights fitted on all development claims.

    python bench/fit_check_ranker.py ../shared/eval/scifact/corpus.jsonl \\
        ../shared/eval/scifact/claims_train.jsonl --write
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from check_eval import development_claims, open_library, require_files
from sklearn.linear_model import LogisticRegression

from kettrack.library.store import Library
from kettrack.tools.check import (
    BACKGROUND_KINDS,
    FEATURES,
    Reranker,
    candidate_features,
    load_vocabulary,
    read_claim,
)

TARGET = Path(__file__).resolve().parent.parent / "src/kettrack/vocabulary/check_ranker.json"


def claim_rows(library: Library, claims: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(claim id, candidate ids, features, evidence ids) per claim with evidence."""
    vocab = load_vocabulary()
    out = []
    for c in claims:
        evidence = {str(k) for k in c["evidence"]}
        if not evidence:
            continue
        concepts = read_claim(c["claim"], vocab)
        found = [x for x in candidate_features(library, c["claim"], concepts, vocab)
                 if any(concepts[i].kind not in BACKGROUND_KINDS for i in x.found)]
        out.append((c["id"], [x.pmid for x in found], np.array([x.features for x in found]),
                    evidence))
    return out


def fit(rows: list[tuple[Any, ...]], c: float) -> tuple[float, ...]:
    xs, ys = [], []
    for _, ids, features, evidence in rows:
        good = [i for i, p in enumerate(ids) if p in evidence]
        bad = [i for i, p in enumerate(ids) if p not in evidence]
        for i in good:
            for j in bad:
                xs += [features[i] - features[j], features[j] - features[i]]
                ys += [1, 0]
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=5000)
    model.fit(np.array(xs), np.array(ys))
    return tuple(round(float(w), 3) for w in model.coef_[0])


def top3(rows: list[tuple[Any, ...]], reranker: Reranker | None, learned: bool = False) -> int:
    hits = 0
    for _, ids, features, evidence in rows:
        if not ids:
            continue
        if reranker is None:
            order = list(range(len(ids)))
        else:
            score = (features @ np.array(reranker.weights) if learned
                     else np.array(reranker.order(features.tolist())))
            order = sorted(range(len(ids)), key=lambda i: (-score[i], i))
        hits += bool({ids[i] for i in order[:3]} & evidence)
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="SciFact corpus.jsonl")
    parser.add_argument("claims", type=Path, help="SciFact claims_train.jsonl")
    parser.add_argument("--keep", type=Path, metavar="DB", help="build the library here once")
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularisation")
    parser.add_argument("--fusion", type=float, default=5.0, help="k of 1/(k + rank)")
    parser.add_argument("--write", action="store_true", help=f"write {TARGET.name}")
    args = parser.parse_args()
    require_files(args.corpus, args.claims)
    dev = development_claims(args.claims)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "scifact.db"
        library = open_library(path, args.corpus)
        rows = claim_rows(library, dev)
        library.close()
    n = len(rows)
    first = learned = fused = 0
    for fold in range(5):
        train = [r for i, r in enumerate(rows) if i % 5 != fold]
        test = [r for i, r in enumerate(rows) if i % 5 == fold]
        reranker = Reranker(fit(train, args.c), args.fusion)
        first += top3(test, None)
        learned += top3(test, reranker, learned=True)
        fused += top3(test, reranker)
    print(f"development claims with evidence: {n}; five-fold cross-validation, top-3:")
    print(f"  first stage (BM25) {first / n:.3f} ({first}/{n})   learned alone "
          f"{learned / n:.3f} ({learned}/{n})   fused {fused / n:.3f} ({fused}/{n})")
    weights = fit(rows, args.c)
    print("weights fitted on all development claims:")
    for name, w in zip(FEATURES, weights, strict=True):
        print(f"  {name:28} {w:8.3f}")
    if args.write:
        TARGET.write_text(json.dumps({
            "fitted": "SciFact training claims, development half (Wadden et al. 2020, "
                      "CC BY-NC 2.0), by bench/fit_check_ranker.py",
            "features": list(FEATURES), "weights": list(weights), "fusion": args.fusion},
            indent=1) + "\n", encoding="utf-8")
        print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
