"""``watch add`` / ``watch list`` / ``watch remove`` and ``similar``.

How an ID the user types becomes the PMID to watch (:func:`resolve`):

1. the library first: a PMID, DOI or PMCID of a record it holds (no request);
2. otherwise a PMID is taken as written, and a DOI or PMCID is looked up with
   one esearch (``"DOI"[aid]``, ``PMCnnn[pmcid]``) that must find exactly one
   record. (NCBI's PMC ID converter would also do, but it is another service
   with its own URL; esearch goes through the same client, limits and
   stand-in as everything else.) Offline, the stand-in's search has no
   identifier fields: only DOIs and PMCIDs the library holds resolve;
3. the record is then fetched (one efetch) for its label ("Grabski 2022"),
   unless the library holds it. Nothing is stored by ``watch add``.

Snapshot-only identifiers (:func:`~kettrack.library.identifiers.is_reserved_pmid`)
are never sent to NCBI: they resolve only from the library or offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kettrack.errors import BadIdentifier, NotInLibrary
from kettrack.library.article import Article
from kettrack.library.identifiers import is_reserved_pmid, parse_identifier, pmid_label
from kettrack.library.store import Library
from kettrack.library.watches import Watch, check_name, default_label, default_name
from kettrack.queries import SavedQuery
from kettrack.sources.eutils import EutilsClient

#: the membership prefix of papers stored by ``similar --add``
SIMILAR_PREFIX = "similar:"


@dataclass
class Resolved:
    """The paper an ID names: its PMID, and the record when known."""

    pmid: str
    given: str
    article: Article | None


def resolve(library: Library, client: EutilsClient | None, text: str, *,
            offline: bool = False) -> Resolved:
    """The PMID ``text`` (a PMID, DOI or PMCID) names; see the module docstring.
    ``client`` None means: the library only."""
    ident = parse_identifier(text)
    if ident.kind == "nct":
        raise BadIdentifier(f"{ident.value} is a registered trial; give a paper's PMID, DOI "
                            "or PMCID")
    held = library.find_article(ident)
    if held:
        return Resolved(held, text.strip(), library.article(held))
    if ident.kind == "pmid":
        pmid = ident.value
        if is_reserved_pmid(pmid) and not offline:
            raise NotInLibrary(f"{pmid} is a snapshot-only identifier, unknown to NCBI, and "
                               "not in the library")
    else:
        if client is None:
            raise NotInLibrary(f"{ident} is not in the library")
        term = f'"{ident.value}"[aid]' if ident.kind == "doi" else f"{ident.value}[pmcid]"
        page = client.esearch(term, retmax=2, usehistory=False)
        if page.count != 1 or page.errors or len(page.ids) != 1:
            where = " (offline, only DOIs and PMCIDs in the library resolve)" if offline else ""
            raise NotInLibrary(f"{ident}: PubMed has no single record with it{where}")
        pmid = page.ids[0]
    article = None
    if client is not None:
        article = fetch_one(client, pmid)
        if article is None:
            raise NotInLibrary(f"{pmid_label(pmid)}: PubMed has no such record")
    return Resolved(pmid, text.strip(), article)


def fetch_one(client: EutilsClient, pmid: str) -> Article | None:
    """One PubMed record, parsed (None when efetch does not return it)."""
    from kettrack.run.runner import prepare

    records, _deleted = prepare(client.efetch([pmid]))
    return next((a for a, _raw in records if a.pmid == pmid), None)


def add_watch(library: Library, found: Resolved, name: str | None = None) -> Watch:
    """Watch the resolved paper under ``name`` (default: first author and year)."""
    first = found.article.authors[0] if found.article and found.article.authors else None
    year = found.article.year if found.article else None
    chosen = check_name(name) if name is not None else default_name(first, year, found.pmid)
    return library.add_watch(chosen, found.pmid, given=found.given,
                             label=default_label(first, year, found.pmid))


@dataclass
class Suggestion:
    """One similar article: its score, and the record when fetched."""

    pmid: str
    score: int
    article: Article | None = None


@dataclass
class Similar:
    """``similar ID``'s answer: PubMed's similar articles not yet in the library."""

    pmid: str
    suggestions: list[Suggestion] = field(default_factory=list)
    #: how many of NCBI's neighbours the library already holds
    held: int = 0
    added: list[str] = field(default_factory=list)


def similar(library: Library, client: EutilsClient, found: Resolved, *, limit: int,
            add: bool = False, offline: bool = False) -> Similar:
    """PubMed's similar articles for the paper (one ELink), those the library lacks,
    best first, fetched (one efetch) for their titles; with ``add``, stored with
    the membership ``similar:PMID`` through the normal store (one run)."""
    from kettrack.run.runner import prepare

    sent_before = client.http.log.sent
    scored = client.elink_similar(found.pmid, limit=10_000)
    if not offline:
        scored = [(p, s) for p, s in scored if not is_reserved_pmid(p)]
    known = library.known_pmids(p for p, _ in scored)
    fresh = [(p, s) for p, s in scored if p not in known][:limit]
    answer = Similar(found.pmid, [Suggestion(p, s) for p, s in fresh], held=len(known))
    if not fresh:
        return answer
    data = client.efetch([p for p, _ in fresh])
    records, _deleted = prepare(data)
    by_pmid = {a.pmid: (a, raw) for a, raw in records}
    for s in answer.suggestions:
        s.article = by_pmid[s.pmid][0] if s.pmid in by_pmid else None
    if add:
        answer.added = _store_similar(library, found.pmid, list(by_pmid.values()),
                                      offline=offline,
                                      requests=client.http.log.sent - sent_before)
    return answer


def _store_similar(library: Library, pmid: str, records: list[tuple[Article, bytes | None]],
                   *, offline: bool, requests: int) -> list[str]:
    """Store suggested records as one run, with the membership ``similar:PMID``."""
    query = SavedQuery(name=SIMILAR_PREFIX + pmid, term=f"similar articles of {pmid}",
                       source="similar", description=f"PubMed's similar articles of {pmid}")
    with library.writer_lock():
        run_id = library.start_run(offline=offline)
        try:
            qv_id, _ = library.query_version_id(query, run_id)
            ids = [a.pmid for a, _ in records]
            stored = library.store_batch(records, {p: [qv_id] for p in ids}, run_id)
            library.record_query(run_id, qv_id, count=len(ids), hits=ids,
                                 new=len(stored.new), updated=len(stored.updated))
        except BaseException as exc:
            library.finish_run(run_id, status="failed", requests=requests, new=0, updated=0,
                               error=" ".join(str(exc).split())[:300])
            raise
        library.finish_run(run_id, status="ok", requests=requests, new=len(stored.new),
                           updated=len(stored.updated))
    return stored.new
