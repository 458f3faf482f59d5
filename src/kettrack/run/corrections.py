"""Retractions, errata and expressions of concern, checked for the whole library every run.

A paper is retracted or corrected years after kettrack stored it, and NCBI
does not tell anyone: the record just gains a ``RetractionIn`` /
``ErratumIn`` / ``ExpressionOfConcernIn`` link and, for a retraction, the
"Retracted Publication" publication type. Re-fetching the whole library every
week would cost one efetch per 500 records; instead, per 9,999 PMIDs:

1. one ``epost`` puts the library's PMIDs on the history server (snapshot-only
   reserved PMIDs are never sent);
2. one ``esearch`` per kind combines that set with what NCBI indexes for it::

       #1 AND (retracted publication[pt] OR hasretractionin)
       #1 AND (haserratumin)
       #1 AND (hasexpressionofconcernin)

   (``has...in`` are PubMed's comment/correction filters; the publication
   types "Published Erratum", "Retraction of Publication" and "Expression of
   Concern" label the *notices*, not the papers they concern, so they are not
   what is searched here);
3. the PMIDs found whose stored record does not yet carry that flag are
   re-fetched through the normal path (:func:`kettrack.run.runner.prepare` and
   :meth:`Library.store_batch`), which turns the change into ``retracted`` /
   ``erratum`` / ``concern`` events.

``found`` in the report is the news: per kind, the PMIDs the searches flag
that the library neither carries the flag for yet nor holds a notice about
(a paper flagged weeks ago is found by every run's search, and is not news).

Records fetched earlier in the same run are left out: their answer carries
NCBI's flags as of now. So a run costs ``4 * ceil(H / 9999)`` requests, ``H``
the records held before it that it did not re-fetch, plus one efetch per 500
newly flagged records: a backfill of N new records adds nothing to it, and
the check grows with the library, not with what a run fetched. The eposts go
out together, then the searches, within the run's rate limit. Notices held in the library itself
(a ``RetractionOf`` / ``ErratumFor`` / ``ExpressionOfConcernFor`` link to a
held record that lacks the flag) add their targets to the re-fetch, at no
request cost.

NCBI drops a search term it cannot find and widens the search; if it dropped
every term of a kind, ``#1`` alone would come back as "the whole library is
retracted". A search whose translation has nothing left but the history
reference is therefore read as finding nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kettrack.errors import QuerySyntaxError
from kettrack.library.identifiers import is_reserved_pmid
from kettrack.library.store import Library
from kettrack.sources.eutils import ESEARCH_CEILING, EutilsClient

#: kind -> (stored flag column, PubMed terms that find papers of that kind)
KINDS: dict[str, tuple[str, str]] = {
    "retracted": ("retracted", "retracted publication[pt] OR hasretractionin"),
    "erratum": ("has_erratum", "haserratumin"),
    "concern": ("has_concern", "hasexpressionofconcernin"),
}
#: notice link type -> the flag its target should carry
_NOTICE_LINKS = {"RetractionOf": "retracted", "ErratumFor": "has_erratum",
                 "ExpressionOfConcernFor": "has_concern"}
#: PMIDs per epost; with at most this many in a set, a search of it fits under
#: esearch's 9,999-record ceiling
CHUNK = ESEARCH_CEILING

if TYPE_CHECKING:
    from kettrack.run.parallel import FetchedBatch

#: the run's efetch pass: batches in, each reconciled batch out (in any order)
Fetch = Callable[[Iterable[list[str]]], Iterable["FetchedBatch"]]


@dataclass
class CorrectionsReport:
    """What the corrections check of one run found and changed."""

    checked: int = 0
    #: kind -> PMIDs the searches flagged that the library did not know about
    #: (not yet flagged, and named by no held notice)
    found: dict[str, list[str]] = field(default_factory=dict)
    refetched: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)  # (pmid, kind)
    deleted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # kinds NCBI rejected
    #: every event the re-fetch stored (a revision may bring more than the flag)
    event_total: int = 0

    def to_json(self) -> dict[str, object]:
        return {"checked": self.checked, "found": self.found, "refetched": self.refetched,
                "events": [{"pmid": p, "kind": k} for p, k in self.events],
                "skipped": self.skipped}


def has_terms(translation: str) -> bool:
    """NCBI kept something of the search beyond the ``#N`` history reference."""
    return bool(re.search(r"[A-Za-z]", re.sub(r"#\d+|\b(?:AND|OR|NOT)\b", "", translation)))


def search_flagged(client: EutilsClient, pmids: Sequence[str], report: CorrectionsReport,
                   *, in_flight: int = 1) -> dict[str, set[str]]:
    """kind -> the ``pmids`` NCBI flags as retracted / corrected / of concern.

    One epost per 9,999 PMIDs, all sent together, then one esearch per posted
    set and kind, all sent together (``in_flight`` at a time; the client's rate
    limiter spaces their starts).
    """
    found: dict[str, set[str]] = {kind: set() for kind in KINDS}
    chunks = [list(pmids[start:start + CHUNK]) for start in range(0, len(pmids), CHUNK)]

    def search(posted: tuple[str, str], kind: str) -> tuple[str, int, list[str], str] | None:
        webenv, key = posted
        try:
            page = client.esearch(f"#{key} AND ({KINDS[kind][1]})", retmax=ESEARCH_CEILING,
                                  usehistory=True, webenv=webenv)
        except QuerySyntaxError:
            return None
        return kind, page.count, page.ids, page.translation

    with ThreadPoolExecutor(max_workers=max(1, in_flight),
                            thread_name_prefix="corrections") as pool:
        posted = list(pool.map(client.epost, chunks))
        asked = [(chunk, pool.submit(search, where, kind))
                 for chunk, where in zip(chunks, posted, strict=True) for kind in KINDS]
        for (chunk, future), kind in zip(asked, [k for _ in chunks for k in KINDS],
                                         strict=True):
            answer = future.result()
            if answer is None:
                if kind not in report.skipped:
                    report.skipped.append(kind)
                continue
            _, count, ids, translation = answer
            if count and has_terms(translation):
                allowed = set(chunk)
                found[kind].update(p for p in ids if p in allowed)
    return found


def check_library(library: Library, client: EutilsClient, run_id: int, fetch: Fetch, *,
                  batch_size: int = 500, include_reserved: bool = False,
                  fresh: Collection[str] = (), in_flight: int = 1) -> CorrectionsReport:
    """Find the library's newly retracted / corrected records and re-fetch them.

    ``fetch`` is the run's efetch pass (reconciled batches, any order); each
    re-fetched batch is stored in one transaction by ``store_prepared``.
    ``fresh`` are the PMIDs this run already fetched, left out of the searches.
    ``include_reserved`` is for offline runs, whose stand-in serves the
    snapshot's reserved PMIDs.
    """
    report = CorrectionsReport()
    pmids = [p for p in library.pmids(include_reserved=include_reserved) if p not in fresh]
    report.checked = len(pmids)
    found = (search_flagged(client, pmids, report, in_flight=in_flight) if pmids
             else {k: set() for k in KINDS})
    notices = library.notice_targets(_NOTICE_LINKS)
    stale: set[str] = set()
    for kind, ids in found.items():
        flag = KINDS[kind][0]
        news = library.unflagged(flag, ids)
        stale |= news
        if news - notices[flag]:
            report.found[kind] = sorted(news - notices[flag])
    for flag, ids in notices.items():
        stale |= {p for p in library.unflagged(flag, ids)
                  if include_reserved or not is_reserved_pmid(p)}
    report.refetched = sorted(stale, key=int)
    batches = [report.refetched[start:start + batch_size]
               for start in range(0, len(report.refetched), batch_size)]
    for fetched in fetch(batches):
        stored = library.store_prepared(fetched.records, {}, run_id)
        report.updated.extend(stored.updated)
        report.event_total += len(stored.events)
        report.events.extend((p, k) for p, k, _ in stored.events
                             if k in ("retracted", "erratum", "concern"))
        if fetched.deleted:
            report.deleted.extend(library.record_deleted(fetched.deleted, run_id,
                                                         "DeleteCitation in efetch"))
    report.updated.sort()  # batches finish in any order; the report does not
    report.events.sort()
    report.deleted.sort()
    return report
