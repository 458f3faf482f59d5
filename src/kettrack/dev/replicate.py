"""Synthetic snapshots for benchmarks and tests: the bundled records cloned
under fresh PMIDs (a development tool; nothing in a run imports it)."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta

from kettrack.standin.pubmed_query import IndexedRecord
from kettrack.standin.snapshot import (
    OWN_PMID,
    PUBMED_DATE,
    PendingIndexing,
    Rendered,
    Snapshot,
    replace_record,
)


class _CloneTemplate:
    """A record's bytes cut at its own PMID and its entrez/pubmed dates, so a
    clone is one ``bytes.join`` instead of a regex pass over a long record."""

    __slots__ = ("parts", "slots")

    def __init__(self, pmid: str, raw: bytes) -> None:
        cuts: list[tuple[int, int, str]] = []
        own = OWN_PMID.search(raw)
        if own:
            cuts.append((own.start(1), own.end(1), "pmid"))
        self_id = re.compile(rb'(<ArticleId\s+IdType="pubmed"\s*>)' + re.escape(pmid.encode()))
        cuts += [(m.end(1), m.end(), "pmid") for m in self_id.finditer(raw)]
        for m in PUBMED_DATE.finditer(raw):
            cuts.append((m.end(1), m.start(2), "year"))
            cuts.append((m.end(2), m.start(3), "month"))
            cuts.append((m.end(3), m.start(4), "day"))
        cuts.sort()
        self.parts: list[bytes] = []
        self.slots: list[str] = []
        pos = 0
        for start, end, slot in cuts:
            self.parts.append(raw[pos:start])
            self.slots.append(slot)
            pos = end
        self.parts.append(raw[pos:])

    def render(self, pmid: str, entrez: date) -> bytes:
        values = {
            "pmid": pmid.encode(),
            "year": str(entrez.year).encode(),
            "month": str(entrez.month).encode(),
            "day": str(entrez.day).encode(),
        }
        out = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:], strict=True):
            out.append(values[slot])
            out.append(part)
        return b"".join(out)


class _Clone:
    """A replicated record, rendered only when served: 20,000 clones of long
    records would otherwise hold hundreds of megabytes."""

    __slots__ = ("entrez", "pmid", "template")

    def __init__(self, template: _CloneTemplate, pmid: str, entrez: date) -> None:
        self.template = template
        self.pmid = pmid
        self.entrez = entrez

    def render(self) -> bytes:
        return self.template.render(self.pmid, self.entrez)


def replicate(
    snapshot: Snapshot,
    n: int,
    start_pmid: int = 90_000_001,
    *,
    first: date | None = None,
    last: date | None = None,
) -> Snapshot:
    """A synthetic snapshot of ``n`` clones of ``snapshot``'s records.

    Clone ``i`` copies record ``i mod len(snapshot)`` under PMID ``start_pmid + i``
    (rewritten in MedlineCitation/PMID and the pubmed ArticleId) with an
    entrez date spread evenly from ``first`` to ``last`` (default: the span
    of the snapshot's entrez dates, or the ten years to today), so date-split
    searches see a steady flow. Pending records stay pending, their due date
    moved with the entrez date.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    base = list(snapshot.pmids)
    if not base:
        raise ValueError("cannot replicate an empty snapshot")
    dates = sorted(d for p in base if (d := snapshot.record(p).entrez_date))
    last = last or (dates[-1] if dates else date.today())
    first = first or (dates[0] if dates and dates[0] < last else last - timedelta(days=3652))
    span = (last - first).days
    templates = {pmid: _CloneTemplate(pmid, snapshot.raw(pmid)) for pmid in base}
    raw: dict[str, bytes | Rendered] = {}
    records: dict[str, IndexedRecord] = {}
    pending: dict[str, PendingIndexing] = {}
    for i in range(n):
        source = base[i % len(base)]
        pmid = str(start_pmid + i)
        entrez = first + timedelta(days=(span * i) // max(n - 1, 1))
        raw[pmid] = _Clone(templates[source], pmid, entrez)
        original = snapshot.record(source)
        records[pmid] = replace_record(original, pmid=pmid, entrez_date=entrez)
        if source in snapshot.pending:
            shift = entrez - (original.entrez_date or entrez)
            todo = snapshot.pending[source]
            pending[pmid] = dataclasses.replace(todo, due=todo.due + shift)
    return Snapshot(raw, records, pending, mesh_tree=snapshot.mesh_tree,
                    mesh_uis=snapshot.mesh_uis())
