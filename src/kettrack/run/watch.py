"""The watch step of ``kettrack run``: who cites each watched paper.

Order of work (inside :class:`kettrack.run.runner.Runner`):

1. :func:`ask`, before the efetch pass: every :class:`CitationSource` is asked,
   once for all watches, which papers cite each watched PMID; the answers are
   unioned and deduplicated per watch. Nothing is written.
2. The citing PMIDs the library does not hold join the run's one efetch pass
   (with the saved queries' hits, so a paper found both ways is fetched once),
   stored batch by batch with the membership ``cited-by:NAME``.
3. :func:`record`, one transaction per watch: the citing relations, the
   membership for citing papers already held, and the watch's summary.

A run killed before step 3 has stored only whole batches; the next run asks
again and converges. A citing paper that could not be fetched is not marked
as seen: it is asked for again next run (the same seen-ID rule as queries).

A second citation source (Europe PMC's citations endpoint) is one more
:class:`CitationSource`: anything with a ``name`` (recorded in
``citations.source``) and a ``cited_by(pmids)`` method returning the citing
PMIDs per watched PMID. Citers without a PMID are that source's to store
through its own path; this step deals in PMIDs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kettrack.library.identifiers import is_reserved_pmid, valid_pmid
from kettrack.library.store import Library
from kettrack.library.watches import Watch
from kettrack.sources.europepmc import EuropePmcClient
from kettrack.sources.eutils import CITEDIN, EutilsClient


class CitationSource(Protocol):
    """Something that says which papers cite a paper."""

    #: recorded as ``citations.source``
    name: str

    def cited_by(self, pmids: Sequence[str]) -> Mapping[str, Sequence[str]]:
        """Citing PMIDs for each of ``pmids`` (a PMID it knows nothing about may be
        left out or map to an empty list)."""
        ...

    def requests(self) -> int:
        """HTTP requests this source has sent so far (for the run's count)."""
        ...


class ElinkCitations:
    """NCBI's ``pubmed_pubmed_citedin`` links, through the E-utilities client.

    Snapshot-only identifiers (:func:`~kettrack.library.identifiers.is_reserved_pmid`)
    are never sent to NCBI; offline (``include_reserved``) the stand-in knows them.
    """

    name = CITEDIN

    def __init__(self, client: EutilsClient, *, include_reserved: bool = False) -> None:
        self.client = client
        self.include_reserved = include_reserved

    def cited_by(self, pmids: Sequence[str]) -> dict[str, list[str]]:
        asked = [p for p in pmids if self.include_reserved or not is_reserved_pmid(p)]
        if not asked:
            return {}
        return self.client.elink_citedin(asked)

    def requests(self) -> int:
        # by endpoint: other requests on the same client (esearch, efetch) never count here
        return self.client.http.log.by_endpoint.get("elink", 0)


class EuropePmcCitations:
    """Europe PMC's citations endpoint (its own citation graph: it covers
    citing works in journals PubMed does not list as citing, from full texts
    and reference lists Europe PMC holds). One paged request per watched paper.

    Only citing works with a PubMed ID are taken (``MED`` records): they are
    fetched through the normal PubMed path like every other work. A citing
    preprint (``PPR``) is left out here; a Europe PMC query finds preprints.
    """

    name = "europepmc"

    def __init__(self, client: EuropePmcClient, *, include_reserved: bool = False) -> None:
        self.client = client
        self.include_reserved = include_reserved

    def cited_by(self, pmids: Sequence[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for pmid in pmids:
            if not valid_pmid(pmid) or (is_reserved_pmid(pmid) and not self.include_reserved):
                continue
            citing = [c.pmid or c.id for c in self.client.citations("MED", pmid)
                      if c.source == "MED" or c.pmid]
            found[pmid] = [p for p in dict.fromkeys(citing) if valid_pmid(p)]
        return found

    def requests(self) -> int:
        return self.client.http.log.by_endpoint.get("citations", 0)


@dataclass
class WatchAnswers:
    """What the citation sources said about every watch, before anything is stored."""

    watches: list[Watch]
    #: watch name -> source name -> citing PMIDs (deduplicated, in the source's order)
    citing: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def citers(self, watch: Watch) -> list[str]:
        """The union of every source's citing PMIDs for ``watch``, deduplicated."""
        by_source = self.citing.get(watch.name, {})
        return list(dict.fromkeys(p for pmids in by_source.values() for p in pmids))

    def found_by(self) -> dict[str, list[int]]:
        """Citing PMID -> the watches' query versions (for ``store_batch``)."""
        out: dict[str, list[int]] = {}
        for watch in self.watches:
            for pmid in self.citers(watch):
                out.setdefault(pmid, []).append(watch.query_version_id)
        return out


@dataclass
class WatchReport:
    """One watch's line in the run summary."""

    watch: Watch
    count: int
    new: int
    updated: int


def ask(library: Library, sources: Sequence[CitationSource]) -> WatchAnswers:
    """Ask every source who cites each watched paper (one batched call per source)."""
    watches = library.watches()
    answers = WatchAnswers(watches)
    if not watches:
        return answers
    pmids = [w.pmid for w in watches]
    for source in sources:
        said = source.cited_by(pmids)
        for watch in watches:
            citing = [p for p in said.get(watch.pmid, ()) if p != watch.pmid]
            bucket = answers.citing.setdefault(watch.name, {})
            bucket[source.name] = list(dict.fromkeys([*bucket.get(source.name, []), *citing]))
    return answers


def record(library: Library, answers: WatchAnswers, run_id: int, *, new: set[str],
           updated: set[str]) -> list[WatchReport]:
    """Store each watch's step (one transaction each) and summarise it."""
    reports = []
    for watch in answers.watches:
        citers = answers.citers(watch)
        w_new = sum(1 for p in citers if p in new)
        w_updated = sum(1 for p in citers if p in updated)
        library.record_watch(run_id, watch, answers.citing.get(watch.name, {}),
                             new=w_new, updated=w_updated)
        reports.append(WatchReport(watch, len(citers), w_new, w_updated))
    return reports
