"""Where PubMed requests are built: esearch, efetch and epost over E-utilities.

NCBI etiquette lives here and nowhere else: ``tool=kettrack`` on every request,
``email`` and ``api_key`` when configured, POST once an ID list or term is long,
the history server (``usehistory=y``) for searches, and the 9,999-record
ceiling of PubMed's esearch, which :meth:`EutilsClient.search_ids` works around
by splitting a large search into entrez-date slices, planned from counts,
whose counts must add up to the total. ELink (:meth:`EutilsClient.elink_citedin`,
:meth:`EutilsClient.elink_similar`) sends one ``id=`` per PMID, so NCBI answers
one LinkSet per paper rather than one merged list. Transport concerns
(timeouts, retries, rate limit) are in :mod:`kettrack.sources.http`.
"""

from __future__ import annotations

import html
import math
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from kettrack.errors import QuerySyntaxError, ServiceError
from kettrack.library.identifiers import valid_pmid
from kettrack.settings import Settings, redact
from kettrack.sources import entrez_xml
from kettrack.sources.http import Incomplete, RequestLog, ServiceClient
from kettrack.text import one_line

#: PubMed's esearch returns at most the first 9,999 IDs of a result
ESEARCH_CEILING = 9999
#: records a planned date slice aims at: under the ceiling, with room for a
#: count that grows while the run plans
SLICE_TARGET = 8000
#: the earliest entrez date a slice plan covers
FIRST_DAY = date(1780, 1, 1)
#: the first cut of a large search assumes PubMed's records double every this
#: many years (they crowd into recent decades); a part it gets wrong is cut again
#: from its count
PRIOR_DOUBLING_YEARS = 20.0
#: above this many characters of parameters, NCBI wants POST
POST_THRESHOLD = 1800
#: PMIDs per ELink request (one ``id=`` each, POSTed once the list is long)
ELINK_BATCH = 200
#: the LinkSetDb of papers citing a paper (from PMC full texts and publishers' lists)
CITEDIN = "pubmed_pubmed_citedin"
#: the LinkSetDb of PubMed's similar articles
SIMILAR = "pubmed_pubmed"
#: esearch errors that mean the query itself is wrong (NCBI words and the stand-in's)
_SYNTAX_ERROR = re.compile(
    r"parenthes|quot|operator|empty|syntax|invalid query|unbalanced|unexpected", re.IGNORECASE
)
_TRANSIENT_ERROR = re.compile(r"backend failed|temporarily|try again|timeout|unavailable",
                              re.IGNORECASE)
_ERROR_ELEMENT = re.compile(rb"<ERROR>(.*?)</ERROR>", re.DOTALL)


@dataclass
class SearchPage:
    """One esearch answer."""

    count: int
    ids: list[str]
    webenv: str | None = None
    query_key: str | None = None
    translation: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)  # PhraseNotFound: [...]
    warnings: dict[str, list[str]] = field(default_factory=dict)  # OutputMessage: [...]


@dataclass
class SearchOutcome:
    """Every ID a term finds, however many; with NCBI's notes on the term."""

    count: int
    ids: list[str]
    translation: str
    errors: dict[str, list[str]]
    warnings: dict[str, list[str]]
    slices: int = 1


def ncbi_error(body: bytes) -> str | None:
    """NCBI's own words in an ``<ERROR>`` element of ``body`` (one line, control
    characters out), or None when there is none."""
    found = _ERROR_ELEMENT.search(body)
    if found is None:
        return None
    words = one_line(html.unescape(found.group(1).decode("utf-8", "replace")))[:300]
    return words or "an empty <ERROR>"


def is_transient(message: str) -> bool:
    """Whether an NCBI ``<ERROR>`` is a passing backend failure, worth retrying."""
    return bool(_TRANSIENT_ERROR.search(message))


def _check_xml(closing: bytes) -> Callable[[httpx.Response], None]:
    """Reject 200 answers that are HTML, JSON errors, XML cut short or NCBI's
    transient ``<ERROR>`` ("Search Backend failed"): each is retried like a 5xx."""

    def check(response: httpx.Response) -> None:
        body = response.content.rstrip()
        head = body[:200].lstrip().lower()
        if head.startswith(b"{"):
            shown = one_line(body[:120].decode("utf-8", "replace"))
            raise Incomplete(f"JSON instead of XML: {shown!r}")
        if head.startswith(b"<!doctype html") or head.startswith(b"<html"):
            raise Incomplete("an HTML page instead of XML")
        error = ncbi_error(body) if b"<ERROR>" in body else None
        if error is not None:
            if is_transient(error):
                raise Incomplete(f"NCBI said {error!r}")
            return  # NCBI's answer, not a blip: the caller reports it
        if not body.endswith(closing):
            raise Incomplete(f"body cut short ({len(body)} bytes, no {closing.decode()})")

    return check


def _check_elink(response: httpx.Response) -> None:
    """ELink answers as XML; a transient backend ``<ERROR>`` on HTTP 200 ("Search
    Backend failed", "temporarily unavailable") is retried like a 503."""
    _check_xml(b"</eLinkResult>")(response)
    match = re.search(rb"<ERROR>([^<]*)</ERROR>", response.content)
    if match and _TRANSIENT_ERROR.search(match.group(1).decode("utf-8", "replace")):
        raise Incomplete(f"ELink backend error: {match.group(1)[:120]!r}")


class EutilsClient(ServiceClient):
    """E-utilities for PubMed, over one :class:`~kettrack.sources.http.HttpClient`."""

    service = "NCBI E-utilities"
    url_setting = "KETTRACK_EUTILS_URL"

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] | None = None,
                 log: RequestLog | None = None) -> None:
        super().__init__(settings, rate=settings.requests_per_second, transport=transport,
                         sleep=sleep, log=log)
        self.base = settings.eutils_url.rstrip("/") + "/"
        # esearch answers are parsed one at a time: parsing holds the GIL anyway,
        # and a page of 9,999 IDs is ~5 MB parsed, so slices in flight together
        # would otherwise hold one each (memory growing with the backfill)
        self._parsing = threading.Lock()

    # -- request building -------------------------------------------------

    def _params(self, **params: Any) -> dict[str, str]:
        out = {"db": "pubmed", "tool": "kettrack"}
        if self.settings.email:
            out["email"] = self.settings.email
        if self.settings.api_key:
            out["api_key"] = self.settings.api_key
        out.update({k: str(v) for k, v in params.items() if v is not None})
        return out

    def _call(self, utility: str, closing: bytes, **params: Any) -> bytes:
        full = self._params(**params)
        url = self.base + f"{utility}.fcgi"
        size = sum(len(k) + len(v) + 2 for k, v in full.items())
        method = "POST" if size > POST_THRESHOLD else "GET"
        response = self.http.request(
            method, url, endpoint=utility,
            params=full if method == "GET" else None,
            data=full if method == "POST" else None,
            check=_check_xml(closing),
        )
        secrets = self.settings.secrets()
        if response.status_code >= 400:
            detail = redact(one_line(response.text), secrets)[:160]
            raise ServiceError(f"NCBI {utility} answered HTTP {response.status_code}: {detail}")
        body = response.content
        if not body.rstrip().endswith(closing):
            # only an <ERROR> answer gets here (see _check_xml): NCBI's own words,
            # not a parser's complaint about an unexpected document
            error = ncbi_error(body) or "an answer kettrack cannot read"
            raise ServiceError(redact(f"NCBI {utility} failed: {error}", secrets))
        return body

    # -- esearch ----------------------------------------------------------

    def esearch(self, term: str, *, retstart: int = 0, retmax: int = ESEARCH_CEILING,
                usehistory: bool = True, datetype: str | None = None,
                mindate: str | None = None, maxdate: str | None = None,
                rettype: str | None = None, webenv: str | None = None) -> SearchPage:
        """One esearch request; NCBI's ``<ERROR>`` becomes an exception."""
        data = self._call(
            "esearch", b"</eSearchResult>", term=term, retstart=retstart, retmax=retmax,
            usehistory="y" if usehistory else None, datetype=datetype, mindate=mindate,
            maxdate=maxdate, rettype=rettype, WebEnv=webenv,
        )
        with self._parsing:
            record = entrez_xml.read(data)
            del data
            error = record.get("ERROR")
            if error:
                message = redact(one_line(error), self.settings.secrets())
                if _SYNTAX_ERROR.search(message) and not _TRANSIENT_ERROR.search(message):
                    raise QuerySyntaxError(f"NCBI rejected the search: {message}")
                raise ServiceError(f"NCBI esearch failed: {message}")
            page = SearchPage(
                count=int(record.get("Count", 0)),
                ids=_pmids(record.get("IdList", [])),
                webenv=record.get("WebEnv"),
                query_key=record.get("QueryKey"),
                translation=str(record.get("QueryTranslation", "")),
                errors=_notes(record.get("ErrorList")),
                warnings=_notes(record.get("WarningList")),
            )
            del record  # the parse tree goes before the next page is parsed
        return page

    def search_ids(self, term: str, *, in_flight: int = 1) -> SearchOutcome:
        """Every PMID ``term`` finds; one request unless the result passes 9,999.

        A larger result is split into entrez-date slices: first as many as its
        count needs plus one, cut where PubMed's records lie
        (:data:`PRIOR_DOUBLING_YEARS`), their IDs asked for ``in_flight`` at a
        time; a slice still over the ceiling is planned again from its count
        (:meth:`plan_slices`). The slices' counts must add up to the total, or
        the search fails rather than silently missing records.
        """
        first = self.esearch(term, retmax=ESEARCH_CEILING, usehistory=False)
        outcome = SearchOutcome(first.count, list(first.ids), first.translation, first.errors,
                                first.warnings)
        if first.count <= ESEARCH_CEILING:
            if len(first.ids) < first.count:  # a server that pages smaller than asked
                while len(outcome.ids) < first.count:
                    page = self.esearch(term, retstart=len(outcome.ids), usehistory=False)
                    if not page.ids:
                        break
                    outcome.ids.extend(page.ids)
            return outcome
        ids: list[str] = []
        total = 0
        slices = 0
        with ThreadPoolExecutor(max_workers=max(1, in_flight),
                                thread_name_prefix="esearch") as pool:
            # first guess: one part more than the count needs, where PubMed's
            # records lie; IDs asked for at once (a part over the ceiling says
            # its count, and only that part is planned again, from it)
            plan = _prior_cut(FIRST_DAY, date.today() + timedelta(1),
                              math.ceil(first.count / SLICE_TARGET) + 1)
            while plan:
                pages = list(pool.map(lambda piece: self._slice(term, *piece), plan))
                again: list[tuple[date, date]] = []
                for (lo, hi), page in zip(plan, pages, strict=True):
                    if page.count <= ESEARCH_CEILING:
                        ids.extend(page.ids)
                        total += page.count
                        slices += 1
                    elif lo == hi:
                        raise ServiceError(f"more than {ESEARCH_CEILING} records entered "
                                           f"PubMed on {lo}; cannot split further")
                    else:  # records arrived since the counts were asked: plan it again
                        again += self.plan_slices(term, page.count, pool, lo, hi)
                plan = again
        if total != first.count:
            raise ServiceError(
                f"esearch date slices add up to {total} records, not the {first.count} "
                "NCBI counts for the whole search; try again later"
            )
        outcome.ids = list(dict.fromkeys(ids))
        outcome.slices = slices
        return outcome

    def plan_slices(self, term: str, total: int, pool: ThreadPoolExecutor,
                    lo: date = FIRST_DAY, hi: date | None = None) -> list[tuple[date, date]]:
        """Entrez-date ranges that cover ``lo``..``hi`` with at most 9,999 records
        each, planned from counts rather than by halving blind.

        A range over the ceiling is cut into as many parts as its count asks for
        (``ceil(count / SLICE_TARGET)``, of equal length); each part's count is asked with
        ``rettype=count`` (a few bytes; all parts at once, through ``pool``), but
        the last part's is known without asking: the range's count less the
        others'. Parts still over the ceiling are cut again; then neighbours are
        joined while their counts fit, so the IDs take as few requests as the
        counts allow.
        """
        hi = hi or date.today() + timedelta(1)
        pieces: list[tuple[date, date, int]] = [(lo, hi, total)]
        while any(count > ESEARCH_CEILING for _, _, count in pieces):
            cut: list[tuple[date, date, int | None]] = []
            for start, end, count in pieces:
                if count <= ESEARCH_CEILING:
                    cut.append((start, end, count))
                    continue
                if start == end:
                    raise ServiceError(f"more than {ESEARCH_CEILING} records entered PubMed on "
                                       f"{start}; cannot split further")
                parts = _cut(start, end, math.ceil(count / SLICE_TARGET))
                cut += [(a, b, None) for a, b in parts[:-1]]
                cut.append((parts[-1][0], parts[-1][1], -count))  # the rest, by subtraction
            asked = {(a, b): pool.submit(self._count, term, a, b)
                     for a, b, given in cut if given is None}
            pieces = []
            known = 0  # the counts asked so far of the range being cut
            for start, end, given in cut:
                if given is None:
                    found = asked[(start, end)].result()
                    known += found
                elif given < 0:  # the range's last part: what the others left
                    found, known = max(0, -given - known), 0
                else:
                    found, known = given, 0
                pieces.append((start, end, found))
        plan: list[tuple[date, date]] = []
        size = ESEARCH_CEILING + 1
        for start, end, count in pieces:
            if count == 0 and plan:
                plan[-1] = (plan[-1][0], end)
                continue
            if plan and size + count <= ESEARCH_CEILING:
                plan[-1] = (plan[-1][0], end)
                size += count
            else:
                plan.append((start, end))
                size = count
        return plan

    def _count(self, term: str, lo: date, hi: date) -> int:
        page = self.esearch(term, retmax=0, usehistory=False, datetype="edat",
                            mindate=lo.strftime("%Y/%m/%d"), maxdate=hi.strftime("%Y/%m/%d"),
                            rettype="count")
        return page.count

    def _slice(self, term: str, lo: date, hi: date) -> SearchPage:
        return self.esearch(term, retmax=ESEARCH_CEILING, usehistory=False, datetype="edat",
                            mindate=lo.strftime("%Y/%m/%d"), maxdate=hi.strftime("%Y/%m/%d"))

    # -- efetch / epost ---------------------------------------------------

    def efetch(self, ids: Sequence[str]) -> bytes:
        """Full PubMed XML for ``ids`` (POSTed once the list is long)."""
        return self._call("efetch", b"</PubmedArticleSet>", id=",".join(ids), retmode="xml")

    def epost(self, ids: Sequence[str]) -> tuple[str, str]:
        """Put ``ids`` on the history server; returns (WebEnv, query_key)."""
        data = self._call("epost", b"</ePostResult>", id=",".join(ids))
        record = entrez_xml.read(data)
        if record.get("ERROR") and not record.get("WebEnv"):
            raise ServiceError(f"NCBI epost failed: {' '.join(str(record['ERROR']).split())}")
        return str(record["WebEnv"]), str(record["QueryKey"])

    # -- elink --------------------------------------------------------------


    def elink_citedin(self, pmids: Sequence[str], *,
                      batch_size: int = ELINK_BATCH) -> dict[str, list[str]]:
        """The PMIDs of papers citing each of ``pmids`` (``pubmed_pubmed_citedin``).

        One ``id=`` per PMID, so the answer is one LinkSet per paper; at most
        ``batch_size`` PMIDs per request, POSTed when the parameters are long.
        Every asked PMID is a key (an empty list when nothing cites it, or when
        NCBI gave no LinkSet for it). IDs that are not PMIDs are never sent.
        """
        from kettrack.library.identifiers import valid_pmid

        wanted = list(dict.fromkeys(p for p in pmids if valid_pmid(p)))
        found: dict[str, list[str]] = {p: [] for p in wanted}
        for start in range(0, len(wanted), batch_size):
            batch = wanted[start:start + batch_size]
            data = self._call_links(batch, linkname=CITEDIN)
            for linkset in entrez_xml.link_sets(data):
                source = linkset.ids[0] if len(linkset.ids) == 1 else None
                if source is None or source not in found:
                    continue  # a merged or foreign LinkSet cannot be attributed
                citing = linkset.links.get(CITEDIN, [])
                found[source] = list(dict.fromkeys(
                    [*found[source], *(i for i, _ in citing if valid_pmid(i) and i != source)]))
        return found

    def elink_similar(self, pmid: str, limit: int = 20) -> list[tuple[str, int]]:
        """PubMed's similar articles for ``pmid`` (``cmd=neighbor_score``), best
        first, as (PMID, score); the paper itself (NCBI lists it first, with
        the top score) is left out."""
        data = self._call_links([pmid], linkname=SIMILAR, cmd="neighbor_score")
        from kettrack.library.identifiers import valid_pmid

        scores: dict[str, int] = {}
        for linkset in entrez_xml.link_sets(data):
            for other, score in linkset.links.get(SIMILAR, []):
                if other != pmid and valid_pmid(other):
                    scores.setdefault(other, score or 0)
        ranked = sorted(scores.items(), key=lambda pair: -pair[1])  # stable: NCBI's order on ties
        return ranked[:limit]

    def _call_links(self, ids: Sequence[str], *, linkname: str,
                    cmd: str = "neighbor") -> bytes:
        """One ELink request with one ``id=`` per PMID. GET while the parameters
        are short, POST otherwise; a 414 (URI too long) to a GET is sent again
        as POST, once."""
        # db (the target) and dbfrom are both pubmed; a list value is sent as repeated id=
        params: dict[str, Any] = {**self._params(dbfrom="pubmed", cmd=cmd, linkname=linkname),
                                  "id": list(ids)}
        size = sum(len(k) + len(str(v)) + 2 for k, v in params.items() if k != "id")
        size += sum(len(i) + 4 for i in ids)
        url = self.base + "elink.fcgi"
        method = "POST" if size > POST_THRESHOLD else "GET"
        for attempt in (method, "POST"):
            response = self.http.request(
                attempt, url, endpoint="elink",
                params=params if attempt == "GET" else None,
                data=params if attempt == "POST" else None,
                check=_check_elink,
            )
            if response.status_code == 414 and attempt == "GET":
                continue
            break
        if response.status_code >= 400:
            detail = " ".join(response.text.split())[:160]
            raise ServiceError(f"NCBI elink answered HTTP {response.status_code}: {detail}")
        return response.content


def _cut(lo: date, hi: date, parts: int) -> list[tuple[date, date]]:
    """``lo``..``hi`` (inclusive days) in ``parts`` (at least two) contiguous
    ranges of about equal length."""
    days = (hi - lo).days + 1
    parts = max(2, min(parts, days))
    starts = [lo + timedelta(days * i // parts) for i in range(parts)]
    ends = [s - timedelta(1) for s in starts[1:]] + [hi]
    return list(zip(starts, ends, strict=True))


def _prior_cut(lo: date, hi: date, parts: int) -> list[tuple[date, date]]:
    """``lo``..``hi`` in ``parts`` ranges that would hold equal shares if records
    doubled every :data:`PRIOR_DOUBLING_YEARS` years up to ``hi``."""
    rate = math.log(2) / (PRIOR_DOUBLING_YEARS * 365.25)
    span = (hi - lo).days
    floor = math.exp(-rate * span)
    bounds: list[date] = []
    for i in range(1, parts):
        # the day before which a share i/parts of the records lies
        back = -math.log(floor + (1 - floor) * i / parts) / rate
        day = hi - timedelta(days=int(back))
        if (bounds[-1] if bounds else lo) < day <= hi:
            bounds.append(day)
    starts = [lo, *bounds]
    ends = [b - timedelta(1) for b in bounds] + [hi]
    return list(zip(starts, ends, strict=True))


def _pmids(values: Iterable[Any]) -> list[str]:
    """esearch's IdList, each checked: an ID that is not a PMID (``../../x``) is no
    NCBI answer and never becomes a row or a URL."""
    ids = [str(v).strip() for v in values]
    for pmid in ids:
        if not valid_pmid(pmid):
            shown = "".join(c if c.isprintable() else "?" for c in pmid)[:40]
            raise ServiceError(f"NCBI esearch answered an ID that is not a PMID: {shown!r}")
    return ids


def _notes(element: Any) -> dict[str, list[str]]:
    """ErrorList / WarningList as {kind: [terms]}, dropping empty entries."""
    if not element:
        return {}
    out: dict[str, list[str]] = {}
    for kind, values in dict(element).items():
        items = [str(v) for v in (values if isinstance(values, list) else [values]) if str(v)]
        if items:
            out[kind] = items
    return out
