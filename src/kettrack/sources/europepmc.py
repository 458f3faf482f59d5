"""Where Europe PMC requests are built and its records normalised: REST ``search``
and ``{source}/{id}/citations``.

Europe PMC's etiquette lives here, as E-utilities' lives in
:mod:`kettrack.sources.eutils`: ``format=json``, ``resultType=core`` (the
fields kettrack reads: abstract, publication types, MeSH, comment/correction
links, the preprint server), ``pageSize`` up to 1000 and ``cursorMark`` paging
from ``*`` until ``nextCursorMark`` is absent or stops changing. A search for
N hits costs ``ceil(N / 1000)`` requests (one when there are none). Transport
concerns (timeouts, retries, ``Retry-After``, the rate limit, redaction) are in
:mod:`kettrack.sources.http`, shared with the other clients.

Europe PMC answers a page kettrack cannot use (not JSON, or JSON without a
``resultList``: a bad ``cursorMark`` is answered with HTTP 200 and only
``{"version": ...}``) with 200; that is retried as incomplete, then a
:class:`~kettrack.errors.NetworkError`. HTTP 400 on a search is the saved
query's fault (:class:`~kettrack.errors.QuerySyntaxError`); any other answer
kettrack cannot read is a :class:`~kettrack.errors.ServiceError`.

:func:`parse_record` turns one core result into an :class:`Article` keyed by its
work key (:func:`work_key`): the PMID when Europe PMC gives one, else the
preprint's ``PPR`` id, else the PMCID. Server data is hostile: identifiers are
validated, text loses control characters and markup.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from kettrack.errors import QuerySyntaxError, ServiceError
from kettrack.library.article import (
    AbstractSection,
    Article,
    Correction,
    MeshHeading,
    PublicationType,
    VersionLink,
)
from kettrack.library.identifiers import normalise_doi, valid_pmcid, valid_pmid
from kettrack.settings import Settings
from kettrack.sources.http import Incomplete, RequestLog, ServiceClient
from kettrack.text import one_line, strip_control

#: Europe PMC publishes no hard limit; kettrack stays well under what its docs ask
EUROPEPMC_RATE = 5.0
#: Europe PMC's largest pageSize for search and citations
MAX_PAGE_SIZE = 1000
_PPR = re.compile(r"^PPR\d{1,12}$")
_SOURCE = re.compile(r"^[A-Z]{3}$")
_OTHER_ID = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
_NCT = re.compile(r"\bNCT\d{8}\b")
_TAG = re.compile(r"<[^>]{0,200}>")
_HEADING = re.compile(r"<h4>(.{0,120}?)</h4>", re.IGNORECASE | re.DOTALL)
#: commentCorrection types that flag a problem with *this* record (Europe PMC's words)
_CORRECTION_TYPES = {
    "retraction in": "RetractionIn",
    "erratum in": "ErratumIn",
    "expression of concern in": "ExpressionOfConcernIn",
}


@dataclass
class SearchPage:
    """One ``search`` answer."""

    hit_count: int
    records: list[dict[str, Any]]
    cursor: str
    next_cursor: str | None


@dataclass
class SearchOutcome:
    """A whole search: its hit count, the query sent, and the pages' records."""

    count: int
    query: str
    pages: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Citation:
    """One work that cites another, as the citations endpoint names it."""

    source: str
    id: str
    pmid: str | None = None
    title: str = ""
    year: int | None = None


def _check_json(response: httpx.Response) -> None:
    try:
        data = json.loads(response.content)
    except ValueError:
        raise Incomplete("answer is not JSON (cut short?)") from None
    if not isinstance(data, dict) or not ({"resultList", "citationList", "hitCount"} & set(data)):
        raise Incomplete("answer has no results and no hit count (a bad cursorMark?)")


class EuropePmcClient(ServiceClient):
    """Europe PMC REST: search with cursor paging, and the citations of a work."""

    service = "Europe PMC"

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None,
                 rate: float | None = None, sleep: Callable[[float], None] | None = None,
                 log: RequestLog | None = None, page_size: int = MAX_PAGE_SIZE) -> None:
        super().__init__(settings, rate=rate or settings.rate_limit or EUROPEPMC_RATE,
                         transport=transport, sleep=sleep, log=log)
        self.base = settings.europepmc_url.rstrip("/") + "/"
        self.page_size = max(1, min(page_size, MAX_PAGE_SIZE))

    def _get(self, path: str, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        response = self.http.request("GET", self.base + path, endpoint=endpoint,
                                     params=params, check=_check_json)
        if response.status_code == 400 and endpoint == "search":
            detail = one_line(response.text)[:200]
            raise QuerySyntaxError(f"Europe PMC rejected the query (HTTP 400: {detail})")
        if response.status_code >= 400:
            raise ServiceError(f"Europe PMC {endpoint}: HTTP {response.status_code}")
        data = json.loads(response.content)
        assert isinstance(data, dict)  # _check_json
        return data

    def search_page(self, query: str, *, cursor: str = "*", page_size: int | None = None,
                    result_type: str = "core") -> SearchPage:
        """One ``GET search`` request."""
        params = {"query": query, "format": "json", "resultType": result_type,
                  "pageSize": str(page_size or self.page_size), "cursorMark": cursor}
        data = self._get("search", "search", params)
        result = data.get("resultList")
        records = result.get("result") if isinstance(result, dict) else None
        if not isinstance(records, list):
            raise ServiceError("Europe PMC search: resultList.result is not a list")
        try:
            hit_count = int(data.get("hitCount") or 0)
        except (TypeError, ValueError):
            raise ServiceError("Europe PMC search: hitCount is not a number") from None
        nxt = data.get("nextCursorMark")
        return SearchPage(hit_count=max(hit_count, 0),
                          records=[r for r in records if isinstance(r, dict)],
                          cursor=cursor, next_cursor=nxt if isinstance(nxt, str) else None)

    def pages(self, query: str) -> Iterator[SearchPage]:
        """Every page of ``query``, from ``cursorMark=*`` until every hit is in,
        or ``nextCursorMark`` is absent or repeats the cursor just sent (Europe
        PMC's end of results): one request per 1000 hits, one when there are
        none, and never more than the first hit count allows, plus one."""
        cursor = "*"
        page = self.search_page(query, cursor=cursor)
        limit = page.hit_count // self.page_size + 2
        sent, seen = 1, len(page.records)
        yield page
        while (page.records and seen < page.hit_count and page.next_cursor
               and page.next_cursor != cursor and sent < limit):
            cursor = page.next_cursor
            page = self.search_page(query, cursor=cursor)
            sent += 1
            seen += len(page.records)
            yield page

    def count(self, query: str) -> int:
        """The hit count of ``query``, in one request (``queries check``)."""
        return self.search_page(query, page_size=1, result_type="idlist").hit_count

    def citations(self, source: str, ident: str) -> list[Citation]:
        """The works Europe PMC says cite ``source``/``ident`` (e.g. ``MED``/``35068196``),
        paged with ``page`` and ``pageSize`` (the citations endpoint has no cursor)."""
        source = source.upper()
        if not _SOURCE.match(source) or not _OTHER_ID.match(ident):
            raise ValueError(f"not a Europe PMC record id: {source}/{ident}")
        found: list[Citation] = []
        page = 1
        while True:
            data = self._get(f"{source}/{ident}/citations", "citations",
                             {"format": "json", "pageSize": str(self.page_size),
                              "page": str(page)})
            listing = data.get("citationList")
            items = listing.get("citation") if isinstance(listing, dict) else None
            if not isinstance(items, list):
                items = []
            for item in items:
                cited = _citation(item)
                if cited:
                    found.append(cited)
            try:
                total = int(data.get("hitCount") or 0)
            except (TypeError, ValueError):
                total = 0
            if not items or page * self.page_size >= total:
                return found
            page += 1


def _citation(item: object) -> Citation | None:
    if not isinstance(item, dict):
        return None
    source = str(item.get("source") or "").upper()
    ident = str(item.get("id") or "")
    if not _SOURCE.match(source) or not _OTHER_ID.match(ident):
        return None
    pmid = ident if source == "MED" and valid_pmid(ident) else None
    try:
        year = int(str(item.get("pubYear"))) if item.get("pubYear") else None
    except (TypeError, ValueError):
        year = None
    return Citation(source=source, id=ident, pmid=pmid, title=one_line(item.get("title"))[:500],
                    year=year)


# -- records --------------------------------------------------------------------


def record_key(record: dict[str, Any]) -> str | None:
    """Europe PMC's own key for a record, ``SOURCE:id`` (``PPR:PPR123``, ``MED:123``)."""
    source = str(record.get("source") or "").upper()
    ident = str(record.get("id") or "")
    if not _SOURCE.match(source) or not _OTHER_ID.match(ident):
        return None
    return f"{source}:{ident}"


def work_key(record: dict[str, Any]) -> str | None:
    """The library key of the work a record is: its PMID, else its preprint id
    (``PPR123``), else its PMCID; None for a record kettrack cannot key."""
    pmid = str(record.get("pmid") or "")
    if valid_pmid(pmid):
        return pmid
    source = str(record.get("source") or "").upper()
    ident = str(record.get("id") or "")
    if source == "PPR" and _PPR.match(ident):
        return ident
    pmcid = str(record.get("pmcid") or "")
    if valid_pmcid(pmcid):
        return pmcid
    return None


def _text(value: object) -> str:
    """Markup out, entities decoded, one line."""
    if value is None:
        return ""
    return one_line(html.unescape(_TAG.sub(" ", str(value))))


def _abstract(value: object) -> list[AbstractSection]:
    if not isinstance(value, str) or not value.strip():
        return []
    text = strip_control(value)
    parts = _HEADING.split(text)
    sections: list[AbstractSection] = []
    if parts[0].strip():
        sections.append(AbstractSection(_text(parts[0])))
    for i in range(1, len(parts) - 1, 2):
        body = _text(parts[i + 1])
        if body:
            label = _text(parts[i]).rstrip(":").upper() or None
            sections.append(AbstractSection(body, label=label))
    return [s for s in sections if s.text]


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object, key: str) -> list[Any]:
    inner = value.get(key) if isinstance(value, dict) else None
    return inner if isinstance(inner, list) else []


def _authors(record: dict[str, Any]) -> list[str]:
    names = []
    for author in _list(record.get("authorList"), "author"):
        if isinstance(author, dict):
            name = _text(author.get("fullName") or author.get("collectiveName"))
            if name:
                names.append(name)
    if not names and record.get("authorString"):
        names = [n for n in (_text(p) for p in str(record["authorString"]).rstrip(".")
                             .split(",")) if n]
    return names[:500]


def _pub_types(record: dict[str, Any]) -> list[str]:
    listed = _list(record.get("pubTypeList"), "pubType")
    if not listed and isinstance(record.get("pubType"), str):
        listed = [p for p in record["pubType"].split(";")]
    out: list[str] = []
    for name in (_text(p) for p in listed):
        if name and name.lower() not in (o.lower() for o in out):
            out.append(name[:1].upper() + name[1:])
    return out


def _year(value: object) -> int | None:
    try:
        year = int(str(value)[:4])
    except (TypeError, ValueError):
        return None
    return year if 1800 <= year <= 2200 else None


def _iso_day(value: object) -> str | None:
    text = str(value or "")
    return text if re.match(r"^\d{4}-\d{2}-\d{2}$", text) else None


def parse_record(record: dict[str, Any]) -> Article | None:
    """One core (or lite) search result as an Article; None when it has no usable key."""
    key = work_key(record)
    epmc = record_key(record)
    if key is None or epmc is None:
        return None
    source, ident = epmc.split(":", 1)
    journal_info = _dict(record.get("journalInfo"))
    journal = _dict(journal_info.get("journal"))
    book = _dict(record.get("bookOrReportDetails"))
    types = _pub_types(record)
    is_preprint = source == "PPR" or any(t.lower() == "preprint" for t in types)
    if is_preprint and not any(t.lower() == "preprint" for t in types):
        types.append("Preprint")
    types = ["Preprint" if t.lower() == "preprint" else t for t in types]
    corrections: list[Correction] = []
    links: list[VersionLink] = []
    withdrawn = False
    for cc in _list(record.get("commentCorrectionList"), "commentCorrection"):
        if not isinstance(cc, dict):
            continue
        kind = _text(cc.get("type")).lower()
        cc_source = str(cc.get("source") or "").upper()
        cc_id = str(cc.get("id") or "")
        if not _SOURCE.match(cc_source) or not _OTHER_ID.match(cc_id):
            cc_source, cc_id = "", ""
        cc_pmid = cc_id if cc_source == "MED" and valid_pmid(cc_id) else None
        if kind in _CORRECTION_TYPES:
            corrections.append(Correction(_CORRECTION_TYPES[kind], cc_pmid,
                                          _text(cc.get("reference"))[:300] or None))
        elif "withdraw" in kind:
            withdrawn = True
            corrections.append(Correction("WithdrawalIn", cc_pmid,
                                          _text(cc.get("reference"))[:300] or None))
        elif kind.startswith("preprint") and cc_source:
            links.append(VersionLink(relation=kind, source=cc_source, id=cc_id,
                                     doi=normalise_doi(str(cc.get("doi") or "")) or None))
    if any(t.lower() in ("withdrawn publication", "withdrawn preprint") for t in types):
        withdrawn = True
    abstract = _abstract(record.get("abstractText"))
    text = " ".join(s.text for s in abstract)
    mesh = []
    for m in _list(record.get("meshHeadingList"), "meshHeading"):
        if isinstance(m, dict) and _text(m.get("descriptorName")):
            mesh.append(MeshHeading(_text(m.get("descriptorName")),
                                    major=m.get("majorTopic_YN") == "Y"))
    pmcid = str(record.get("pmcid") or "")
    title = _text(record.get("title")).rstrip(".") if record.get("title") else ""
    return Article(
        pmid=key,
        title=title + "." if title and not title.endswith(("?", "!")) else title,
        abstract_sections=abstract,
        doi=normalise_doi(str(record.get("doi") or "")),
        pmcid=pmcid if valid_pmcid(pmcid) else None,
        authors=_authors(record),
        journal=(_text(journal.get("title")) or None) if not is_preprint else (
            _text(book.get("publisher")) or None),
        journal_iso=_text(journal.get("isoabbreviation") or journal.get("medlineAbbreviation"))
        or None,
        volume=_text(journal_info.get("volume")) or None,
        issue=_text(journal_info.get("issue")) or None,
        pages=_text(record.get("pageInfo")) or None,
        pub_date=_text(journal_info.get("dateOfPublication")) or _iso_day(
            record.get("firstPublicationDate")),
        year=_year(record.get("pubYear")) or _year(record.get("firstPublicationDate")),
        entrez_date=_iso_day(record.get("firstIndexDate")),
        languages=[_text(record.get("language"))] if record.get("language") else [],
        publication_types=[PublicationType(t) for t in types],
        mesh=mesh,
        keywords=[k for k in (_text(k) for k in _list(record.get("keywordList"), "keyword"))
                  if k],
        nct_ids=sorted(set(_NCT.findall(text))),
        corrections=corrections,
        publication_status=_text(record.get("publicationStatus")) or None,
        epmc_source=source,
        epmc_id=ident,
        is_preprint=is_preprint,
        preprint_server=(_text(book.get("publisher")) or None) if is_preprint else None,
        version=_text(record.get("versionNumber")) or None if is_preprint else None,
        withdrawn=withdrawn,
        version_links=links,
        revised_on=_iso_day(record.get("dateOfRevision")),
    )
