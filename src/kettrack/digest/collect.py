"""What is new since the last digest, in sections.

:func:`collect` builds a :class:`Digest` (reading only):

- **new works** are those no marked digest has reported (plus, with
  ``since=DATE``, those first seen on or after DATE); each article goes to the
  section its design belongs to: trials = rct, trial, protocol and registered
  trials; reviews = meta-analysis, systematic-review, review; studies = the rest;
- new works that cite a watched paper (``watch add``) stay in their sections and
  are also grouped per watched paper (:meth:`Digest.citing_watched`: "3 new
  papers cite Grabski 2022");
- **updates** are events no marked digest has reported (retractions, errata,
  expressions of concern, design / status / publication-type changes,
  deletions, trial status, results and completion changes) on works reported
  earlier, grouped per work. An event on a work that is new in the same digest
  is folded into that work's entry instead (its ``news``);
- **screening**: for each living review, how many of the digest's new works
  await screening in it ("N new records to screen in NAME").

:func:`mark` records that a digest reached its readers; it is
:func:`kettrack.digest.deliver.deliver`'s last step, taken only once the
printer, the file or the mail server accepted. :func:`rebuild` reads an earlier
digest back, for re-sending.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from kettrack.errors import NotInLibrary
from kettrack.library.items import ArticleItem, Event, Item
from kettrack.library.store import Library
from kettrack.library.watches import Watch
from kettrack.text import plural

SECTIONS = ("trials", "studies", "reviews", "updates")
TRIAL_DESIGNS = ("rct", "trial", "protocol")
REVIEW_DESIGNS = ("meta-analysis", "systematic-review", "review")
#: display order inside a section: strongest evidence first
DESIGN_ORDER = ("rct", "trial", "protocol", "meta-analysis", "systematic-review", "review",
                "observational", "case-report", "preclinical", "other")
#: events a reader is told about ("revised" alone, a cosmetic change, is not news)
UPDATE_KINDS = ("retracted", "erratum", "concern", "design_changed", "status_changed",
                "publication_types_changed", "deleted", "trial_status_changed",
                "published_version", "new_version", "withdrawn", "probable_version",
                "trial_results_posted", "trial_completion_changed")


def section_of(item: Item) -> str:
    """The digest section a new work belongs to."""
    if not isinstance(item, ArticleItem) or item.design in TRIAL_DESIGNS:
        return "trials"
    if item.design in REVIEW_DESIGNS:
        return "reviews"
    return "studies"


@dataclass
class DigestEntry:
    """One entry of a digest: a work, and the events this digest reports about it."""

    item: Item
    section: str
    news: list[Event] = field(default_factory=list)

    @property
    def retracted(self) -> bool:
        """The work is retracted (or this entry reports its retraction)."""
        return self.item.retracted or any(e.kind in ("retracted", "withdrawn")
                                          for e in self.news)


@dataclass
class Digest:
    """What is new, in sections, and since when."""

    since: str | None
    created_at: str
    sections: dict[str, list[DigestEntry]]
    id: int | None = None
    #: (review name, new works of this digest awaiting screening in it, all awaiting)
    screening: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """Nothing new and nothing updated."""
        return not any(self.sections.values())

    def counts(self) -> dict[str, int]:
        """Entries per section."""
        return {name: len(self.sections.get(name, [])) for name in SECTIONS}

    def entries(self) -> Iterable[DigestEntry]:
        """Every entry, section by section."""
        for name in SECTIONS:
            yield from self.sections.get(name, [])

    def citing_watched(self) -> list[tuple[Watch, list[DigestEntry]]]:
        """The new works (not updates) citing each watched paper, by watch name."""
        groups: dict[str, tuple[Watch, list[DigestEntry]]] = {}
        for name in ("trials", "studies", "reviews"):
            for entry in self.sections.get(name, []):
                if isinstance(entry.item, ArticleItem):
                    for watch in entry.item.cites_watched:
                        groups.setdefault(watch.name, (watch, []))[1].append(entry)
        return [groups[name] for name in sorted(groups)]

    def marks(self) -> list[tuple[str, str, str]]:
        """What marking this digest records: each work and each event it reports."""
        rows: list[tuple[str, str, str]] = []
        for entry in self.entries():
            kind, ident = entry.item.key
            rows.append((kind, ident, entry.section))
            rows.extend(("event", str(e.id), entry.section) for e in entry.news)
        return rows


def headline(digest: Digest) -> str:
    """The counts in words, for titles and mail subjects:
    "3 new trials, 5 new studies, 1 new review, 2 updates" (or "nothing new")."""
    c = digest.counts()
    if digest.is_empty:
        return "nothing new"
    parts = [plural(c["trials"], "new trial"), plural(c["studies"], "new study",
                                                         "new studies")]
    if c["reviews"]:
        parts.append(plural(c["reviews"], "new review"))
    if c["updates"]:
        parts.append(plural(c["updates"], "update"))
    return ", ".join(parts)


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def collect(library: Library, since: date | None = None) -> Digest:
    """The digest of everything not yet reported (and, with ``since``, everything
    first seen on or after that day). Reads only."""
    previous = library.last_digest()
    since_label = since.isoformat() if since else (previous["created_at"] if previous else None)
    cutoff = since.isoformat() if since else None
    sections: dict[str, list[DigestEntry]] = {name: [] for name in SECTIONS}

    keys = [("article", p) for p in library.unreported("article", cutoff)]
    keys += [("trial", n) for n in library.unreported("trial", cutoff)]
    new: dict[tuple[str, str], DigestEntry] = {}
    for item in library.items(keys):
        entry = DigestEntry(item, section_of(item))
        new[item.key] = entry
        sections[entry.section].append(entry)

    pending: dict[tuple[str, str], list[Event]] = {}
    for key, event in library.unreported_events(UPDATE_KINDS, cutoff):
        if key in new:
            new[key].news.append(event)
        else:
            pending.setdefault(key, []).append(event)
    updates = [DigestEntry(item, "updates", pending[item.key])
               for item in library.items(list(pending))]
    sections["updates"] = sorted(updates, key=_update_order)
    for name in ("trials", "studies", "reviews"):
        _sort_section(sections[name])
    return Digest(since=since_label, created_at=utcnow(), sections=sections,
                  screening=to_screen(library, set(new)))


def to_screen(library: Library, new: set[tuple[str, str]]) -> list[tuple[str, int, int]]:
    """Per review with new works to screen: (name, how many of ``new`` await
    screening in it, how many await in all)."""
    from kettrack.review.queue import Screening

    out = []
    for review in library.reviews() if new else []:
        screening = Screening(library, review)
        waiting = [k for k in screening.records if k not in screening.decisions]
        fresh = sum(1 for k in waiting if k in new)
        if fresh:
            out.append((review.name, fresh, len(waiting)))
    return out


def screening_lines(digest: Digest) -> list[str]:
    """"N new records to screen in NAME (M awaiting): kettrack screen NAME"."""
    return [f"{n} new record{'' if n == 1 else 's'} to screen in {name} ({total} awaiting): "
            f"kettrack screen {name}" for name, n, total in digest.screening]


def mark(library: Library, digest: Digest, *, format: str,
         sent_to: Sequence[str] | None = None) -> int:
    """Record ``digest`` and every work and event it reported, in one transaction.

    Call only once the digest was printed, or the mail server accepted it.
    Returns the new digest's id.
    """
    digest.id = library.mark_digest(created_at=digest.created_at, since=digest.since,
                                    format=format, sent_to=sent_to, items=digest.marks())
    return digest.id


def _sort_section(entries: list[DigestEntry]) -> None:
    """Strongest design first; within a design, newest entry first."""
    entries.sort(key=lambda e: e.item.id)
    entries.sort(key=lambda e: e.item.date, reverse=True)
    entries.sort(key=lambda e: DESIGN_ORDER.index(e.item.design)
                 if e.item.design in DESIGN_ORDER else len(DESIGN_ORDER))


def _update_order(entry: DigestEntry) -> tuple[int, str, str]:
    # retractions first: they change what a reader should believe
    return (0 if entry.retracted else 1, *entry.item.key)


def rebuild(library: Library, digest_id: int) -> Digest:
    """An earlier marked digest, read back from its items (to re-send it).

    Works are shown as they are now (a later retraction shows); the events it
    reported are re-attached to their works.
    """
    listing = library.digest_listing(digest_id)
    if listing is None:
        raise NotInLibrary(f"digest {digest_id}: no such digest in the library")
    created_at, since, listed = listing
    sections: dict[str, list[DigestEntry]] = {name: [] for name in SECTIONS}
    placed = {(t, i): s for t, i, s in listed if t != "event"}
    events = library.events_by_id([int(i) for t, i, _ in listed if t == "event"])
    by_key: dict[tuple[str, str], DigestEntry] = {}
    for item in library.items(list(placed)):
        entry = DigestEntry(item, placed[item.key])
        by_key[item.key] = entry
        sections[entry.section].append(entry)
    for key, event in events.values():
        if key in by_key:
            by_key[key].news.append(event)
    for name in ("trials", "studies", "reviews"):
        _sort_section(sections[name])
    sections["updates"].sort(key=_update_order)
    return Digest(since=since, created_at=created_at, sections=sections, id=digest_id)
