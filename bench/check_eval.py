"""``kettrack check`` on SciFact: real biomedical claims and abstracts, expert labels.

SciFact (Wadden et al., "Fact or Fiction: Verifying Scientific Claims", EMNLP
2020; the original release files, CC BY-NC 2.0) gives 5,183 abstracts and
claims whose evidence abstracts, rationale sentences and SUPPORT / CONTRADICT
labels experts marked. The data are not in this repository: pass the paths of
``corpus.jsonl`` and ``claims_train.jsonl``.

The corpus is stored in a real kettrack library (``Library.store_batch`` with
``Article`` objects, designs classified as a run does), and the product's own
``check()`` answers each claim. Printed, per split and with counts:

- top-3: share of claims with evidence whose evidence abstract is among the
  first three hits; next to it a plain SQLite FTS5 BM25 baseline run here on the
  same abstracts (porter tokenizer, title + abstract, claim words OR-ed, a small
  stop list).
- empty: claims that got no answer at all (with evidence / without).
- rationale in quotes: of the evidence abstracts ``check`` lists, the share whose
  quoted sentences include a rationale sentence.
- stance: over every (claim, evidence abstract) pair, ``check``'s stance for that
  abstract (:func:`kettrack.tools.check.judge`, what ``check`` runs on each hit)
  against the label. ``supports`` = SUPPORT; ``contradicts`` and
  ``no-clear-effect`` = CONTRADICT (the study did not find what the claim says);
  ``unclear`` is counted wrong. Always answering "supports" is printed beside it.

Claims are split in two by a hash of their id: ``dev`` (tune on this) and
``held-out`` (report; not tuned on). ``--split`` picks one; both by default.

    python bench/check_eval.py ../shared/eval/scifact/corpus.jsonl \\
        ../shared/eval/scifact/claims_train.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from kettrack.library import design
from kettrack.library.article import AbstractSection, Article
from kettrack.library.store import Library
from kettrack.tools.check import check, judge, read_claim

#: the baseline's stop list (small, as plain BM25 setups use)
BASELINE_STOP = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is",
    "it", "its", "of", "on", "or", "that", "the", "this", "to", "was", "were", "with"})


def split_of(claim_id: int) -> str:
    """``dev`` or ``held-out``, fixed by the claim's id."""
    digest = hashlib.sha1(f"scifact-claim-{claim_id}".encode()).digest()
    return "dev" if digest[0] % 2 == 0 else "held-out"


def require_files(*paths: Path) -> None:
    """Bad input, said in one line (exit 2): a data file that is not there."""
    for path in paths:
        if not path.is_file():
            print(f"Error: no such file: {path} (pass the SciFact corpus.jsonl and "
                  f"claims_train.jsonl)", file=sys.stderr)
            raise SystemExit(2)


def load_corpus(path: Path) -> dict[str, dict[str, Any]]:
    docs = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            doc = json.loads(line)
            docs[str(doc["doc_id"])] = doc
    return docs


def article_of(doc: dict[str, Any]) -> Article:
    text = " ".join(s.strip() for s in doc["abstract"])
    article = Article(pmid=str(doc["doc_id"]), title=doc["title"].strip(),
                      abstract_sections=[AbstractSection(text)])
    return design.classify(article)


def load_claims(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def development_claims(path: Path) -> list[dict[str, Any]]:
    """The claims of the development half, the only ones the fitting scripts read."""
    return [c for c in load_claims(path) if split_of(int(c["id"])) == "dev"]


def open_library(path: Path, corpus: Path | dict[str, dict[str, Any]]) -> Library:
    """The library at ``path``, built from the corpus first when it is not there yet."""
    if path.exists():
        return Library.open(path)
    return build_library(path, load_corpus(corpus) if isinstance(corpus, Path) else corpus)


def build_library(path: Path, docs: dict[str, dict[str, Any]]) -> Library:
    library = Library.open(path)
    run_id = library.start_run(offline=True)
    batch = [(article_of(d), None) for d in docs.values()]
    for start in range(0, len(batch), 1000):
        library.store_batch(batch[start:start + 1000], {}, run_id)
    return library


class Baseline:
    """Plain FTS5 BM25 over title + abstract, claim words OR-ed."""

    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE VIRTUAL TABLE t USING fts5(doc_id UNINDEXED, title, abstract, "
                        "tokenize='porter')")
        self.db.executemany("INSERT INTO t VALUES (?, ?, ?)",
                            [(k, d["title"], " ".join(d["abstract"])) for k, d in docs.items()])

    def top(self, claim: str, n: int) -> list[str]:
        import re

        words = [w for w in re.findall(r"[^\W_]+", claim.lower()) if w not in BASELINE_STOP]
        if not words:
            return []
        expression = " OR ".join(f'"{w}"' for w in dict.fromkeys(words))
        rows = self.db.execute("SELECT doc_id FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT ?",
                               (expression, n)).fetchall()
        return [r[0] for r in rows]


def rationale_indices(doc: dict[str, Any], quotes: list[str]) -> set[int]:
    """The SciFact sentence indices a quote covers (kettrack splits sentences its own way)."""
    found = set()
    norm = [" ".join(s.split()) for s in doc["abstract"]]
    for quote in quotes:
        q = " ".join(quote.split())
        for i, s in enumerate(norm):
            if s and (s in q or q in s):
                found.add(i)
    return found


def evaluate(library: Library, baseline: Baseline, docs: dict[str, dict[str, Any]],
             claims: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    top3 = base3 = with_evidence = 0
    empty = Counter[str]()
    listed = quoted_rationale = 0
    direct_pairs = direct_rationale = 0
    stance_total = stance_right = always_supports = strict_right = 0
    stances: Counter[tuple[str, str]] = Counter()
    times = []
    misses = []
    for c in claims:
        t0 = time.perf_counter()
        result = check(library, c["claim"], limit=limit)
        times.append((time.perf_counter() - t0) * 1000)
        ids = [e.item.id for e in result.evidence]
        evidence = {str(k): v for k, v in c["evidence"].items()}
        if not result.ranked:
            empty["with evidence" if evidence else "without evidence"] += 1
        if not evidence:
            continue
        with_evidence += 1
        if set(ids[:3]) & set(evidence):
            top3 += 1
        else:
            misses.append((c["id"], c["claim"], list(evidence), ids[:3]))
        if set(baseline.top(c["claim"], 3)) & set(evidence):
            base3 += 1
        for e in result.evidence:
            if e.item.id in evidence:
                listed += 1
                wanted = {i for ann in evidence[e.item.id] for i in ann["sentences"]}
                if rationale_indices(docs[e.item.id], e.sentences) & wanted:
                    quoted_rationale += 1
        concepts = read_claim(c["claim"])
        for doc_id, anns in evidence.items():
            article = library.article(doc_id)
            if article is None:
                continue
            verdict = judge(article, concepts, c["claim"])
            wanted = {i for ann in anns for i in ann["sentences"]}
            direct_pairs += 1
            if rationale_indices(docs[doc_id], verdict.quotes) & wanted:
                direct_rationale += 1
            label = anns[0]["label"]
            stance_total += 1
            stances[(label, verdict.stance)] += 1
            always_supports += label == "SUPPORT"
            said = {"supports": "SUPPORT", "contradicts": "CONTRADICT",
                    "no-clear-effect": "CONTRADICT"}.get(verdict.stance)
            stance_right += said == label
            strict_right += (verdict.stance == "supports") == (label == "SUPPORT") and (
                verdict.stance in ("supports", "contradicts"))
    return {"claims": len(claims), "with_evidence": with_evidence, "top3": top3,
            "baseline_top3": base3, "empty": empty, "listed": listed,
            "quoted_rationale": quoted_rationale, "direct_pairs": direct_pairs,
            "direct_rationale": direct_rationale, "stance_total": stance_total,
            "stance_right": stance_right, "strict_right": strict_right,
            "always_supports": always_supports, "stances": stances, "times": times,
            "misses": misses}


def share(a: int, b: int) -> str:
    return f"{a / b:.3f} ({a}/{b})" if b else "n/a (0)"


def report(name: str, r: dict[str, Any], show_misses: int) -> None:
    print(f"\n== {name}: {r['claims']} claims, {r['with_evidence']} with evidence")
    print(f"top-3 evidence   check {share(r['top3'], r['with_evidence'])}   "
          f"FTS5 BM25 baseline {share(r['baseline_top3'], r['with_evidence'])}")
    print(f"empty answers    {r['empty']['with evidence']} of the claims with evidence, "
          f"{r['empty']['without evidence']} of the {r['claims'] - r['with_evidence']} without")
    print(f"rationale quoted {share(r['quoted_rationale'], r['listed'])} of evidence abstracts "
          f"check listed; {share(r['direct_rationale'], r['direct_pairs'])} of all evidence pairs")
    print(f"stance accuracy  {share(r['stance_right'], r['stance_total'])} "
          f"(no-clear-effect read as CONTRADICT; only supports/contradicts: "
          f"{share(r['strict_right'], r['stance_total'])}); "
          f"always 'supports' {share(r['always_supports'], r['stance_total'])}")
    table = r["stances"]
    print("  label       supports contradicts no-clear-effect unclear")
    for label in ("SUPPORT", "CONTRADICT"):
        cells = " ".join(f"{table[(label, s)]:>{len(s)}}" for s in
                         ("supports", "contradicts", "no-clear-effect", "unclear"))
        print(f"  {label:11} {cells}")
    times = sorted(r["times"])
    if times:
        print(f"check time       median {statistics.median(times):.1f} ms, "
              f"p95 {times[int(0.95 * (len(times) - 1))]:.1f} ms (5k abstracts)")
    for miss in r["misses"][:show_misses]:
        print("  miss", miss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="SciFact corpus.jsonl")
    parser.add_argument("claims", type=Path, help="SciFact claims_train.jsonl")
    parser.add_argument("--split", choices=("dev", "held-out", "both"), default="both")
    parser.add_argument("--limit", type=int, default=10, help="check --limit (default 10)")
    parser.add_argument("--misses", type=int, default=0, help="print this many top-3 misses")
    parser.add_argument("--keep", type=Path, metavar="DB",
                        help="build the library here once and reuse it")
    args = parser.parse_args()
    require_files(args.corpus, args.claims)
    docs = load_corpus(args.corpus)
    claims = load_claims(args.claims)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = args.keep or Path(tmp) / "scifact.db"
        library = open_library(path, docs)
        print(f"library: {len(docs)} abstracts ({time.perf_counter() - t0:.1f}s); "
              f"{len(claims)} claims")
        baseline = Baseline(docs)
        splits = ("dev", "held-out") if args.split == "both" else (args.split,)
        for name in splits:
            chosen = [c for c in claims if split_of(int(c["id"])) == name]
            report(name, evaluate(library, baseline, docs, chosen, args.limit), args.misses)
        library.close()


if __name__ == "__main__":
    main()
