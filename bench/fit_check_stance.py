"""Fit ``check``'s stance model (``vocabulary/check_stance.json``) on SciFact's training claims.

SciFact (Wadden et al. 2020; CC BY-NC 2.0): pass the paths of ``corpus.jsonl``
and ``claims_train.jsonl``. Only the *development* half of the claims (the hash
split of ``bench/check_eval.py``) is used; the held-out half is never read here.
For every (claim, evidence abstract) pair, :func:`kettrack.tools.check.judge`
picks the finding sentences ``check`` would quote, and
:func:`~kettrack.tools.check.stance_features` describes them; a logistic
regression (scikit-learn) learns whether the label is CONTRADICT. Printed:
five-fold cross-validation over the development claims of the stance accuracy
(as ``bench/check_eval.py`` counts it: ``unclear`` is wrong), next to the hand
rules alone and to always answering "supports". ``--write`` stores the weights
fitted on all development pairs.

    python bench/fit_check_stance.py ../shared/eval/scifact/corpus.jsonl \\
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
    STANCE_FEATURES,
    StanceModel,
    judge,
    read_claim,
    rule_stance,
    stance_features,
)

TARGET = Path(__file__).resolve().parent.parent / "src/kettrack/vocabulary/check_stance.json"


def pairs(library: Library, claims: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(claim index, features or None, rule stance, is CONTRADICT) per evidence pair."""
    out = []
    for n, c in enumerate(claims):
        concepts = read_claim(c["claim"])
        for doc_id, anns in c["evidence"].items():
            article = library.article(str(doc_id))
            if article is None:
                continue
            findings = judge(article, concepts, c["claim"]).findings
            features = (stance_features(c["claim"], findings, article.abstract)
                        if findings else None)
            out.append((n, features, rule_stance(c["claim"], findings, article.abstract),
                        anns[0]["label"] == "CONTRADICT"))
    return out


def fit(rows: list[tuple[Any, ...]], c: float) -> tuple[float, ...]:
    xs = np.array([r[1] for r in rows if r[1] is not None])
    ys = np.array([r[3] for r in rows if r[1] is not None])
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=5000)
    model.fit(xs, ys)
    return tuple(round(float(w), 3) for w in model.coef_[0])


def right(rows: list[tuple[Any, ...]], model: StanceModel | None) -> int:
    hits = 0
    for _, features, rule, contradict in rows:
        if features is None:
            continue  # unclear: wrong
        against = (rule != "supports" if model is None
                   else model.against(features) >= model.threshold)
        hits += against == contradict
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="SciFact corpus.jsonl")
    parser.add_argument("claims", type=Path, help="SciFact claims_train.jsonl")
    parser.add_argument("--keep", type=Path, metavar="DB", help="build the library here once")
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularisation")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--write", action="store_true", help=f"write {TARGET.name}")
    args = parser.parse_args()
    require_files(args.corpus, args.claims)
    dev = [c for c in development_claims(args.claims) if c["evidence"]]
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "scifact.db"
        library = open_library(path, args.corpus)
        rows = pairs(library, dev)
        library.close()
    n = len(rows)
    learned = 0
    for fold in range(5):
        train = [r for r in rows if r[0] % 5 != fold]
        test = [r for r in rows if r[0] % 5 == fold]
        learned += right(test, StanceModel(fit(train, args.c), args.threshold))
    rules = right(rows, None)
    supports = sum(1 for r in rows if not r[3])
    print(f"development evidence pairs: {n}; five-fold cross-validation by claim:")
    print(f"  model {learned / n:.3f} ({learned}/{n})   rules alone {rules / n:.3f} "
          f"({rules}/{n})   always 'supports' {supports / n:.3f} ({supports}/{n})")
    weights = fit(rows, args.c)
    print("weights fitted on all development pairs:")
    for name, w in zip(STANCE_FEATURES, weights, strict=True):
        print(f"  {name:28} {w:8.3f}")
    if args.write:
        TARGET.write_text(json.dumps({
            "fitted": "SciFact training claims, development half (Wadden et al. 2020, "
                      "CC BY-NC 2.0), by bench/fit_check_stance.py",
            "features": list(STANCE_FEATURES), "weights": list(weights),
            "threshold": args.threshold}, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
