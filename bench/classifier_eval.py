"""How well does kettrack tell a study's design from its text alone?

Takes every record NLM (or, for the snapshot, the kettrack team) has indexed,
hides its publication types and MeSH, classifies it from title, abstract,
keywords and trial numbers (``design.text_design``), and compares with the
label its indexing gives (``design.indexed_design``; a record whose indexing
names no design counts as ``other``). Prints precision and recall per design.

Run from the repository root::

    python bench/classifier_eval.py

Honesty notes, printed with the table: the snapshot's labels were assigned by
the kettrack team from the corpus's design notes, the fixtures' by NLM; the
rules in ``kettrack/design.py`` were written with these records in view, so
the figures are in-sample, not held-out.
"""

from __future__ import annotations

import copy
import gzip
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kettrack.errors import KettrackError  # noqa: E402
from kettrack.library import design  # noqa: E402
from kettrack.library.article import Article  # noqa: E402
from kettrack.sources import pubmed  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "ncbi"
SNAPSHOT = ROOT / "data" / "pubmed" / "snapshot.xml"


def snapshot_records() -> list[Article]:
    """Every snapshot record in its indexed form (pending ones revealed)."""
    if not SNAPSHOT.exists():
        return []
    from kettrack.standin.snapshot import Snapshot

    snap = Snapshot.load_default(ROOT / "data")
    out = []
    for pmid in snap.pmids:
        raw = snap.revealed(pmid) if pmid in snap.pending else snap.raw(pmid)
        out.append(pubmed.article_from_raw(raw))
    return out


def fixture_records() -> list[Article]:
    """Every PubMed record in tests/fixtures/ncbi that parses (real NCBI answers)."""
    out: dict[str, Article] = {}
    for path in sorted(FIXTURES.glob("*.xml*")):
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        try:
            for item in pubmed.parse_efetch(data):
                if isinstance(item, Article):
                    out.setdefault(item.pmid, item)
        except KettrackError:
            continue  # esearch/epost answers and error pages: no records
    return list(out.values())


def labelled(records: list[Article]) -> list[tuple[Article, str]]:
    """(record, label) for records whose indexing is final or names a design."""
    out = []
    for article in records:
        if article.is_book:
            continue
        label = design.indexed_design(article)
        if label is None and not article.indexed:
            continue  # not indexed yet: no label to compare with
        out.append((article, label or "other"))
    return out


def hidden(article: Article) -> Article:
    """The record as it arrives before indexing: no publication types, no MeSH."""
    bare = copy.deepcopy(article)
    bare.publication_types = []
    bare.mesh = []
    return bare


def table(pairs: list[tuple[str, str]]) -> list[str]:
    truth = Counter(t for t, _ in pairs)
    guessed = Counter(g for _, g in pairs)
    hits = Counter(t for t, g in pairs if t == g)
    lines = [f"{'design':<18} {'labelled':>8} {'predicted':>9} {'correct':>7} "
             f"{'precision':>9} {'recall':>7}"]
    for name in design.DESIGNS:
        if not truth[name] and not guessed[name]:
            continue
        precision = hits[name] / guessed[name] if guessed[name] else float("nan")
        recall = hits[name] / truth[name] if truth[name] else float("nan")
        lines.append(f"{name:<18} {truth[name]:>8} {guessed[name]:>9} {hits[name]:>7} "
                     f"{precision:>9.2f} {recall:>7.2f}")
    accuracy = sum(hits.values()) / len(pairs) if pairs else float("nan")
    lines.append(f"{'all':<18} {len(pairs):>8} {'':>9} {sum(hits.values()):>7} "
                 f"{'accuracy':>9} {accuracy:>7.2f}")
    return lines


def main() -> None:
    sets = {
        "snapshot (labels assigned by the kettrack team from corpus design notes)":
            labelled(snapshot_records()),
        "fixtures (labels assigned by NLM indexers)": labelled(fixture_records()),
    }
    everything: list[tuple[str, str]] = []
    for title, records in sets.items():
        pairs = [(label, design.text_design(hidden(a))) for a, label in records]
        everything += pairs
        print(f"\n== {title}: {len(pairs)} records ==")
        if not pairs:
            print("(none found)")
            continue
        print("\n".join(table(pairs)))
        wrong = [(a.pmid, label, guess) for (a, label), (_, guess) in zip(records, pairs,
                                                                          strict=True)
                 if label != guess]
        if wrong:
            print("misclassified: " + ", ".join(f"{p} {t}->{g}" for p, t, g in wrong))
    print(f"\n== both sets: {len(everything)} records ==")
    print("\n".join(table(everything)))
    rct = [(t == "rct", g == "rct") for t, g in everything]
    tp = sum(1 for t, g in rct if t and g)
    precision = tp / max(1, sum(1 for _, g in rct if g))
    recall = tp / max(1, sum(1 for t, _ in rct if t))
    print(f"\nRCT from text alone: recall {recall:.2f}, precision {precision:.2f} "
          "(aim: recall >= 0.95 at precision >= 0.90)")
    print("Caveat: the rules in kettrack/design.py were written with these records in view; "
          "the figures are in-sample, not held-out.")


if __name__ == "__main__":
    main()
