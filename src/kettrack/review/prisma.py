"""The PRISMA 2020 flow of a living review: counts, and the diagram as a standalone SVG.

Identification counts each source's distinct records (PubMed and Europe PMC
are databases, ClinicalTrials.gov a register), with each saved query's own
count beneath; a work that two sources found is one row in the library, and
the difference is "duplicate records removed". Screening is one stage here
(title and abstract): screened, excluded with reasons, marked maybe (awaiting a
second look), awaiting screening; included is the current inclusions.

kettrack does not track full-text retrieval: the reports-sought and
reports-assessed boxes of PRISMA 2020 are left to the reviewer, and the
diagram says so.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from kettrack.review.queue import Screening
from kettrack.text import strip_control

FORMATS = ("text", "json", "svg")
SOURCES = {"pubmed": ("PubMed", "database"), "europepmc": ("Europe PMC", "database"),
           "clinicaltrials": ("ClinicalTrials.gov", "register")}
NOTE = ("Single-stage (title/abstract) screening in kettrack; full-text retrieval and "
        "assessment are not tracked.")


@dataclass
class SourceCount:
    source: str
    label: str
    kind: str                       # database or register
    records: int
    queries: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Flow:
    """A review's PRISMA 2020 counts."""

    review: str
    sources: list[SourceCount]
    records: int                    # after duplicates were removed
    screened: int
    excluded: int
    reasons: list[tuple[str, int]]
    maybe: int
    included: int
    awaiting: int

    @property
    def identified(self) -> int:
        return sum(s.records for s in self.sources)

    @property
    def duplicates(self) -> int:
        return self.identified - self.records


def flow(screening: Screening) -> Flow:
    """The counts of ``screening``'s review as they stand."""
    per_source: dict[str, set[tuple[str, str]]] = {}
    per_query: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for kind, ident, query, source in screening.library.review_hits(screening.review):
        per_source.setdefault(source, set()).add((kind, ident))
        per_query.setdefault((source, query), set()).add((kind, ident))
    sources = []
    for source in sorted(per_source, key=lambda s: (list(SOURCES).index(s)
                                                    if s in SOURCES else 99, s)):
        label, kind = SOURCES.get(source, (source, "database"))
        queries = sorted((q, len(keys)) for (s, q), keys in per_query.items() if s == source)
        sources.append(SourceCount(source, label, kind, len(per_source[source]), queries))
    done = screening.progress()
    return Flow(
        review=screening.review.name, sources=sources, records=done.records,
        screened=done.screened, excluded=done.exclude,
        reasons=sorted(done.reasons.items(), key=lambda r: (-r[1], r[0])),
        maybe=done.maybe, included=done.include, awaiting=done.awaiting)


def to_json(f: Flow) -> dict[str, Any]:
    """The counts as JSON (docs/review.md)."""
    return {
        "review": f.review,
        "identified": {
            "total": f.identified,
            "sources": [{"source": s.source, "kind": s.kind, "records": s.records,
                         "queries": [{"name": q, "records": n} for q, n in s.queries]}
                        for s in f.sources],
        },
        "duplicates_removed": f.duplicates,
        "records": f.records,
        "screened": f.screened,
        "excluded": {"total": f.excluded, "reasons": [{"reason": r, "records": n}
                                                      for r, n in f.reasons]},
        "maybe": f.maybe,
        "included": f.included,
        "awaiting": f.awaiting,
        "note": NOTE,
    }


def _identified_lines(f: Flow, kind: str) -> list[str]:
    lines = []
    for s in f.sources:
        if s.kind != kind:
            continue
        lines.append(f"{s.label} (n = {s.records})")
        lines += [f"  query {q} (n = {n})" for q, n in s.queries]
    return lines


def to_text(f: Flow) -> str:
    """The counts as plain text, in PRISMA's order."""
    out = [f"PRISMA 2020 flow: review {strip_control(f.review)}", "", "Identification"]
    databases = _identified_lines(f, "database")
    registers = _identified_lines(f, "register")
    if databases:
        out += ["  Records identified from databases:"] + [f"    {x}" for x in databases]
    if registers:
        out += ["  Records identified from registers:"] + [f"    {x}" for x in registers]
    if not f.sources:
        out.append("  No records identified yet (run the review's queries: kettrack run)")
    out += [f"  Duplicate records removed: {f.duplicates}", "", "Screening",
            f"  Records screened: {f.screened} of {f.records}",
            f"  Records excluded: {f.excluded}"]
    out += [f"    {strip_control(r)}: {n}" for r, n in f.reasons]
    out += [f"  Marked maybe (awaiting a second look): {f.maybe}",
            f"  Records awaiting screening: {f.awaiting}", "", "Included",
            f"  Records included: {f.included}", "", NOTE]
    return "\n".join(out) + "\n"


# -- the diagram ----------------------------------------------------------------

WIDTH = 820
BOX_W = 330
LINE_H = 17
PAD = 10
WRAP = 44


def _wrap(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        clean = strip_control(line)
        indent = len(clean) - len(clean.lstrip(" "))
        out += textwrap.wrap(clean, WRAP, initial_indent="", subsequent_indent=" " * (indent + 2),
                             drop_whitespace=False) or [""]
    return [x.rstrip() for x in out]


def _box(x: int, y: int, lines: list[str], *, bold_first: bool = True) -> tuple[str, int]:
    wrapped = _wrap(lines)
    height = PAD * 2 + LINE_H * len(wrapped)
    parts = [f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{height}" '
             'fill="#ffffff" stroke="#333333" stroke-width="1.2"/>']
    for n, line in enumerate(wrapped):
        weight = ' font-weight="bold"' if bold_first and n == 0 else ""
        parts.append(f'<text x="{x + PAD}" y="{y + PAD + LINE_H * (n + 1) - 4}"{weight} '
                     f'xml:space="preserve">{escape(line)}</text>')
    return "\n".join(parts), height


def _arrow(x1: int, y1: int, x2: int, y2: int) -> str:
    return (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#333333" '
            'stroke-width="1.2" marker-end="url(#arrow)"/>')


def _phase(y: int, height: int, label: str) -> str:
    cx, cy = 22, y + height // 2
    return (f'<rect x="8" y="{y}" width="28" height="{height}" rx="4" fill="#cfe2f3" '
            f'stroke="#333333" stroke-width="0.8"/>\n'
            f'<text x="{cx}" y="{cy}" text-anchor="middle" font-weight="bold" '
            f'transform="rotate(-90 {cx} {cy})">{escape(label)}</text>')


def to_svg(f: Flow) -> str:
    """The PRISMA 2020 flow diagram as a standalone SVG (every text escaped)."""
    left, right = 60, 60 + BOX_W + 60
    y = 50
    parts: list[str] = []
    ident = ["Records identified from:"]
    databases = _identified_lines(f, "database")
    registers = _identified_lines(f, "register")
    ident += [f"Databases (n = {sum(s.records for s in f.sources if s.kind == 'database')})"]
    ident += [f"  {x}" for x in databases]
    if registers:
        ident += [f"Registers (n = {sum(s.records for s in f.sources if s.kind == 'register')})"]
        ident += [f"  {x}" for x in registers]
    box, h1 = _box(left, y, ident)
    parts.append(box)
    removed, h2 = _box(right, y, ["Records removed before screening:",
                                  f"Duplicate records (n = {f.duplicates})"])
    parts.append(removed)
    parts.append(_arrow(left + BOX_W, y + min(h1, h2) // 2, right, y + min(h1, h2) // 2))
    ident_h = max(h1, h2)
    parts.append(_phase(y, ident_h, "Identification"))
    y2 = y + ident_h + 40
    parts.append(_arrow(left + BOX_W // 2, y + h1, left + BOX_W // 2, y2))
    screened, h3 = _box(left, y2, [f"Records screened (n = {f.screened})",
                                   f"of {f.records} records after duplicates were removed"])
    parts.append(screened)
    excluded, h4 = _box(right, y2, [f"Records excluded (n = {f.excluded})"]
                        + [f"  {r} (n = {n})" for r, n in f.reasons])
    parts.append(excluded)
    parts.append(_arrow(left + BOX_W, y2 + h3 // 2, right, y2 + h3 // 2))
    y3 = y2 + max(h3, h4) + 20
    waiting, h5 = _box(right, y3, [f"Records awaiting screening (n = {f.awaiting})",
                                   f"Marked maybe (n = {f.maybe})"], bold_first=False)
    parts.append(waiting)
    screen_h = y3 + h5 - y2
    parts.append(_phase(y2, screen_h, "Screening"))
    y4 = y3 + h5 + 40
    parts.append(_arrow(left + BOX_W // 2, y2 + h3, left + BOX_W // 2, y4))
    included, h6 = _box(left, y4, [f"Records included in review (n = {f.included})"])
    parts.append(included)
    parts.append(_phase(y4, h6, "Included"))
    height = y4 + h6 + 50
    title = f"PRISMA 2020 flow diagram: {f.review}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="13">\n'
        f"<title>{escape(strip_control(title))}</title>\n"
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#333333"/></marker></defs>\n'
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>\n'
        f'<text x="{WIDTH // 2}" y="28" text-anchor="middle" font-size="15" '
        f'font-weight="bold">{escape(strip_control(title))}</text>\n'
        + "\n".join(parts) + "\n"
        f'<text x="{left}" y="{height - 18}" font-size="11" fill="#555555">'
        f'{escape(NOTE)}</text>\n'
        "</svg>\n")
