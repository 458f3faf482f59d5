"""How well does kettrack tell a study's design from its text alone?

Reads PubMed records NLM has indexed, hides their publication types and MeSH
(as on a record NLM has not indexed yet), classifies each from title, abstract,
keywords and trial numbers (``design.text_design``) and compares with the label
NLM's indexing gives (``design.indexed_design``; a record whose indexing names
no design counts as ``other``). Prints, for the current rules and for two
baselines run on the same records,

- precision and recall for the classes NLM labels consistently: RCT, the review
  family (review, systematic review, meta-analysis) and case reports, with counts;
- the whole confusion table (NLM label x predicted design).

Run from the repository root with the records' path (PubmedArticleSet XML,
``.gz`` or plain)::

    python bench/classifier_eval.py medline_records.xml.gz

Split: within each NLM label, records are ordered by sha1(PMID) and dealt
alternately to a development half and a held-out half (fixed, stratified, so
each half has the same label counts). The rules were revised reading only
development-half errors; the held-out half was scored, not read. Both halves and
the whole set are printed.

Baselines: ``keywords`` is a plain keyword match ("randomi[sz]ed" -> rct,
"review|meta-analysis" -> review, "case report|year-old" -> case report);
``previous`` is the text classifier as it stood before this revision (commit
8914210, the end of the second round of issue 10, read with ``git show``; skipped
when git or the commit is missing).

``--half development`` prints only the development half: rule work reads that,
so that held-out figures are seen only at the checkpoints the honesty note names.

Records in older MEDLINE layouts (``DateCreated``, a bare ``Affiliation``) are
brought to the current DTD by dropping those elements before parsing; neither
is read by the classifier.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import re
import subprocess
import sys
import time
import types
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kettrack.library import design  # noqa: E402
from kettrack.library.article import Article  # noqa: E402
from kettrack.sources import pubmed  # noqa: E402

PREVIOUS_COMMIT = "8914210"
FAMILIES = {"rct": {"rct"}, "review family": {"review", "systematic-review", "meta-analysis"},
            "case report": {"case-report"}}
TARGETS = {"rct": (0.95, 0.90), "review family": (0.90, 0.90), "case report": (0.90, 0.90)}
_LEGACY = re.compile(rb"<DateCreated>.*?</DateCreated>\s*|<AffiliationInfo>.*?</AffiliationInfo>\s*"
                     rb"|<Affiliation>.*?</Affiliation>\s*", re.S)

Classifier = Callable[[Article], str]


def load(path: Path) -> list[Article]:
    """Every journal article in ``path`` (PubmedArticleSet XML, gzipped or not)."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    out = []
    for raw in pubmed.split_records(data).values():
        article = pubmed.article_from_raw(_LEGACY.sub(b"", raw))
        if not article.is_book:
            out.append(article)
    return out


def hidden(article: Article) -> Article:
    """The record as it arrives before indexing: no publication types, no MeSH."""
    bare = copy.copy(article)
    bare.publication_types = []
    bare.mesh = []
    return bare


def split(labelled: list[tuple[Article, str]]) -> dict[str, list[tuple[Article, str]]]:
    """The fixed stratified development / held-out halves."""
    by_label: dict[str, list[tuple[Article, str]]] = defaultdict(list)
    for pair in labelled:
        by_label[pair[1]].append(pair)
    halves: dict[str, list[tuple[Article, str]]] = {"development": [], "held-out": []}
    for pairs in by_label.values():
        pairs.sort(key=lambda p: hashlib.sha1(p[0].pmid.encode()).hexdigest())
        for i, pair in enumerate(pairs):
            halves["development" if i % 2 == 0 else "held-out"].append(pair)
    return halves


def keyword_baseline(article: Article) -> str:
    text = f"{article.title} {article.abstract}"
    if re.search(r"randomi[sz]ed", text, re.I):
        return "rct"
    if re.search(r"\bcase report|year-old", text, re.I):
        return "case-report"
    if re.search(r"\breview|meta-analy", text, re.I):
        return "review"
    return "other"


def previous_classifier() -> Classifier | None:
    """The text rules as they stood at :data:`PREVIOUS_COMMIT`, or None."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{PREVIOUS_COMMIT}:src/kettrack/library/design.py"],
            capture_output=True, check=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("previous_design")
    exec(compile(source, "previous_design.py", "exec"), module.__dict__)  # noqa: S102
    return module.text_design  # type: ignore[no-any-return]


def family_lines(pairs: list[tuple[str, str]]) -> list[str]:
    lines = [f"  {'class':<14} {'labelled':>8} {'predicted':>9} {'correct':>7} "
             f"{'recall':>7} {'precision':>9}   target"]
    for name, members in FAMILIES.items():
        truth = sum(1 for t, _ in pairs if t in members)
        guessed = sum(1 for _, g in pairs if g in members)
        hits = sum(1 for t, g in pairs if t in members and g in members)
        recall = hits / truth if truth else float("nan")
        precision = hits / guessed if guessed else float("nan")
        want_r, want_p = TARGETS[name]
        met = "met" if recall >= want_r and precision >= want_p else "not met"
        lines.append(f"  {name:<14} {truth:>8} {guessed:>9} {hits:>7} {recall:>7.2f} "
                     f"{precision:>9.2f}   R>={want_r} P>={want_p}: {met}")
    return lines


def confusion_lines(pairs: list[tuple[str, str]]) -> list[str]:
    counts = Counter(pairs)
    names = [d for d in design.DESIGNS
             if any(t == d for t, _ in pairs) or any(g == d for _, g in pairs)]
    short = {d: d[:6] for d in names}
    lines = ["  NLM label \\ predicted  " + " ".join(f"{short[d]:>6}" for d in names)
             + "   total"]
    for t in names:
        row = [counts[(t, g)] for g in names]
        lines.append(f"  {t:<22} " + " ".join(f"{n:>6}" for n in row) + f"   {sum(row):>5}")
    correct = sum(counts[(d, d)] for d in names)
    lines.append(f"  exact design agreement: {correct}/{len(pairs)}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", type=Path, help="PubmedArticleSet XML (.xml or .xml.gz)")
    parser.add_argument("--errors", action="store_true",
                        help="list the development half's misclassified PMIDs")
    parser.add_argument("--half", choices=["development", "held-out", "all"],
                        help="score only this half (rule work reads --half development "
                             "so that held-out figures are not seen between checkpoints)")
    parser.add_argument("--no-baselines", action="store_true",
                        help="skip the keyword and previous-rules baselines")
    args = parser.parse_args()
    articles = load(args.records)
    labelled = [(a, design.indexed_design(a) or "other") for a in articles]
    halves = split(labelled)
    classifiers: dict[str, Classifier] = {"current rules": design.text_design,
                                          "keywords (baseline)": keyword_baseline}
    previous = None if args.no_baselines else previous_classifier()
    if args.no_baselines:
        del classifiers["keywords (baseline)"]
    elif previous is not None:
        classifiers[f"previous rules, {PREVIOUS_COMMIT} (baseline)"] = previous
    elif not args.no_baselines:
        print(f"(previous rules skipped: git or commit {PREVIOUS_COMMIT} not available)")
    bare = {a.pmid: hidden(a) for a in articles}
    print(f"{len(articles)} records from {args.records.name}; label counts: "
          + ", ".join(f"{k} {v}" for k, v in Counter(lab for _, lab in labelled).most_common()))
    for name, classify in classifiers.items():
        started = time.perf_counter()
        guesses = {pmid: classify(a) for pmid, a in bare.items()}
        per_record = (time.perf_counter() - started) / max(1, len(bare)) * 1e6
        print(f"\n=== {name} ({per_record:.0f} us per record, machine shared, indicative) ===")
        for half, members in [*halves.items(), ("all", labelled)]:
            if args.half and half != args.half:
                continue
            pairs = [(label, guesses[a.pmid]) for a, label in members]
            print(f"\n-- {half}: {len(pairs)} records --")
            print("\n".join(family_lines(pairs)))
            if name == "current rules":
                print("\n".join(confusion_lines(pairs)))
        if name == "current rules" and args.errors:
            wrong = [(a.pmid, label, guesses[a.pmid]) for a, label in halves["development"]
                     if label != guesses[a.pmid]]
            print("\ndevelopment misclassified: "
                  + ", ".join(f"{p} {t}->{g}" for p, t, g in wrong))
    print("\nHonesty: the current rules were written reading development-half errors only "
          "(rule work ran with --half development). In each round of rule work the held-out "
          "half was scored twice, at the start and at the end (its figures, never its records); "
          "between those, changes came from development errors, published filter and "
          "reporting-guideline wording, and unit tests with sentences written for them. "
          "NLM's labels are themselves noisy for reviews and case series, and the set is small: "
          "read every figure with its counts. The acceptance set is a further part kept back.")


if __name__ == "__main__":
    main()
