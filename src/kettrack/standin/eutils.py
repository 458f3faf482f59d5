"""NCBI E-utilities, spoken over the bundled snapshot.

:class:`EutilsStandin` is an httpx handler: ``httpx.MockTransport(standin)``
makes it an in-process transport, and :func:`kettrack.dev.faultserver.serve`
puts it on a loopback socket. It answers ``esearch``, ``efetch``, ``epost``,
``einfo`` and ``elink`` for ``db=pubmed`` with the bytes NCBI would send: the same
DOCTYPEs, element order, ``<ERROR>`` bodies on HTTP 200, the 9,999-record
ceiling on PubMed searches, the history server (``usehistory``, ``WebEnv``,
``query_key``, ``#N`` in terms) and, on request, the 3-or-10-per-second rate
limit with NCBI's 429 JSON body. ELink answers from a
:class:`~kettrack.standin.links.CitationGraph` (``pubmed_pubmed_citedin``,
``pubmed_pubmed_refs``) and :func:`~kettrack.standin.links.neighbor_scores`
(``pubmed_pubmed``), one LinkSet per ``id=`` parameter as NCBI does. A GET
whose request line passes Apache's 8,190 bytes answers 414, as NCBI's front end
does.

What is approximated is listed in :data:`APPROXIMATIONS`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import NamedTuple
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import httpx

from kettrack.errors import QuerySyntaxError
from kettrack.standin.links import CitationGraph, neighbor_scores
from kettrack.standin.pubmed_query import SearchResult
from kettrack.standin.snapshot import Snapshot, SnapshotView

__all__ = [
    "APPROXIMATIONS",
    "PUBMED_LIMIT",
    "EutilsStandin",
    "RecordedRequest",
    "esearch_error",
]

#: PubMed's ceiling: esearch (and history fetches) reach only this many records.
PUBMED_LIMIT = 9999
#: NCBI's largest retmax.
MAX_RETMAX = 10000

APPROXIMATIONS: tuple[str, ...] = (
    "Only db=pubmed is served; any other db name answers 'Invalid db name specified'. "
    "A missing db means pubmed, as on NCBI.",
    "efetch serves retmode=xml only (rettype empty or 'xml'); MEDLINE text and abstracts "
    "answer an <ERROR>.",
    "sort, field, idtype and retmode=json are ignored: esearch always answers XML in "
    "PubMed's 'most recent' order (Entrez date, then PMID, newest first).",
    "efetch from the history server returns the whole stored set (up to the 9,999 "
    "ceiling) when retmax is not given.",
    "retstart+retmax beyond 9,999 is cut silently at 9,999; retstart of 9,999 or more "
    "is an <ERROR> (NCBI's message since 2023).",
    "#N history references are evaluated left to right with AND/OR/NOT like PubMed; "
    "the QueryTranslation keeps #N as written. TranslationSet is always empty.",
    "epost reports non-numeric IDs in InvalidIdList; numeric IDs are stored whether "
    "or not the snapshot holds them (efetch then skips them, as NCBI does).",
    "WebEnv values never expire.",
    "The 429 body echoes the api_key (as NCBI does) or 127.0.0.1 in place of the "
    "caller's IP address.",
    "elink serves dbfrom=db=pubmed with cmd neighbor, neighbor_score and neighbor_history, "
    "and the link names pubmed_pubmed, pubmed_pubmed_citedin and pubmed_pubmed_refs (all "
    "three when none is named); other commands answer an <ERROR>, other link names an empty "
    "LinkSet.",
    "pubmed_pubmed_citedin comes from data/source/citations.toml (real reference lists, and "
    "assumed relations marked as such); a citation shows from the citing paper's entrez "
    "date, while both papers are visible.",
    "pubmed_pubmed scores are a shared-MeSH/keyword/title-word cosine scaled to integers, "
    "not PubMed's model; the paper itself comes first with 2147483647, as on NCBI.",
    "A GET whose request line is longer than 8,190 bytes answers HTTP 414 with an HTML page "
    "(Apache's LimitRequestLine, which NCBI's front end enforces).",
)

_XML_HEAD = b'<?xml version="1.0" encoding="UTF-8" ?>\n'
_ESEARCH_DOCTYPE = (
    b'<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
)
_EPOST_DOCTYPE = (
    b'<!DOCTYPE ePostResult PUBLIC "-//NLM//DTD epost 20090526//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20090526/epost.dtd">'
)
_EINFO_DOCTYPE = (
    b'<!DOCTYPE eInfoResult PUBLIC "-//NLM//DTD einfo 20190110//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20190110/einfo.dtd">\n'
)
_EFETCH_ERROR_DOCTYPE = (
    b'<!DOCTYPE eFetchResult PUBLIC "-//NLM//DTD efetch 20131226//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20131226/efetch.dtd">\n'
)
#: efetch's own head: NCBI writes no encoding here (see 37909814.xml)
PUBMED_SET_HEAD = (
    b'<?xml version="1.0" ?>\n'
    b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
    b"<PubmedArticleSet>\n"
)
PUBMED_SET_TAIL = b"</PubmedArticleSet>"

RETSTART_TOO_LARGE = (
    "Search Backend failed: Exception: 'retstart' cannot be larger than 9998. For PubMed, "
    "ESearch can only retrieve the first 9,999 records matching the query. To obtain more "
    "than 9,999 PubMed records, consider using EDirect that contains additional logic to "
    "batch PubMed search results automatically so that an arbitrary number can be retrieved. "
    "For details see https://www.ncbi.nlm.nih.gov/books/NBK25499/"
)

_XML_TYPE = "text/xml; charset=UTF-8"
_ENDPOINTS = ("esearch", "efetch", "epost", "einfo", "elink")
_ELINK_DOCTYPE = (
    b'<!DOCTYPE eLinkResult PUBLIC "-//NLM//DTD elink 20101123//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20101123/elink.dtd">\n'
)
#: the link names the stand-in serves, in the order NCBI lists them
_LINK_NAMES = ("pubmed_pubmed", "pubmed_pubmed_citedin", "pubmed_pubmed_refs")
#: Apache's default LimitRequestLine: a longer GET request line is refused with 414
MAX_REQUEST_LINE = 8190
_URI_TOO_LONG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 '
    b'Strict//EN"\n  "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n<html '
    b'xmlns="http://www.w3.org/1999/xhtml" lang="en" xml:lang="en">\n<head>\n<title>'
    b"Submitted URI too large!</title>\n</head>\n\n<body>\n<h1>Submitted URI too large!</h1>"
    b"\n<p>\n\n\n    The length of the requested URL exceeds the capacity limit for\n\tthis "
    b"server. The request cannot be processed.\n   \n</p>\n<h2>Error 414</h2>\n</body>\n"
    b"</html>\n\n"
)


class RecordedRequest(NamedTuple):
    """One request the stand-in answered: endpoint without ``.fcgi``
    (``esearch``...), HTTP method, and merged query/form parameters."""

    endpoint: str
    method: str
    params: dict[str, str]


def endpoint_of(url: httpx.URL) -> str:
    """``esearch`` for ``.../esearch.fcgi``; the last path segment otherwise."""
    last = url.path.rstrip("/").rsplit("/", 1)[-1]
    return last[: -len(".fcgi")] if last.endswith(".fcgi") else last


def request_params(request: httpx.Request) -> dict[str, str]:
    """Query-string and form-body parameters; repeated ``id`` values are joined
    with commas (NCBI accepts both spellings), and ``webenv`` is ``WebEnv``."""
    pairs = parse_qsl(request.url.query.decode("latin-1"), keep_blank_values=True)
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and "application/x-www-form-urlencoded" in content_type:
        pairs += parse_qsl(request.read().decode("utf-8"), keep_blank_values=True)
    params: dict[str, str] = {}
    for key, value in pairs:
        if key.lower() == "webenv":  # NCBI takes webenv= (Bio.Entrez sends it) as WebEnv=
            key = "WebEnv"
        if key == "id" and params.get("id"):
            params[key] = f"{params[key]},{value}"
        else:
            params[key] = value
    return params


def id_groups(request: httpx.Request) -> list[list[str]]:
    """The ``id`` parameters as sent: one list per ``id=`` (a comma list is one group)."""
    pairs = parse_qsl(request.url.query.decode("latin-1"), keep_blank_values=True)
    if request.method == "POST" and "application/x-www-form-urlencoded" in request.headers.get(
            "content-type", ""):
        pairs += parse_qsl(request.read().decode("utf-8"), keep_blank_values=True)
    groups = [[i.strip() for i in value.split(",") if i.strip()] for key, value in pairs
              if key == "id"]
    return [g for g in groups if g]


def _xml(body: bytes, status: int = 200) -> httpx.Response:
    return httpx.Response(status, headers={"Content-Type": _XML_TYPE}, content=body)


#: each utility's result element and DOCTYPE, for its HTTP-200 ``<ERROR>`` answers
_ERROR_SHAPES = {
    "esearch": ("eSearchResult", _ESEARCH_DOCTYPE),
    "epost": ("ePostResult", _EPOST_DOCTYPE),
    "einfo": ("eInfoResult", _EINFO_DOCTYPE),
    "efetch": ("eFetchResult", _EFETCH_ERROR_DOCTYPE),
    "elink": ("eLinkResult", _ELINK_DOCTYPE),
}


def error_body(endpoint: str, message: str) -> bytes:
    """The HTTP-200 ``<ERROR>`` answer in the result element ``endpoint`` uses
    (esearch's for any other endpoint), as NCBI sends them."""
    root, doctype = _ERROR_SHAPES.get(endpoint, _ERROR_SHAPES["esearch"])
    return (_XML_HEAD + doctype
            + f"<{root}>\n\t<ERROR>{escape(message)}</ERROR>\n</{root}>\n".encode())


def esearch_error(message: str) -> bytes:
    """An eSearchResult carrying only an ``<ERROR>``."""
    return error_body("esearch", message)


def efetch_error(message: str) -> bytes:
    """An eFetchResult carrying only an ``<ERROR>`` (efetch's error shape)."""
    return error_body("efetch", message)


def rate_limit_response(who: str, count: int, limit: int) -> httpx.Response:
    """NCBI's 429: JSON body naming the key (or IP), the count and the limit."""
    body = json.dumps(
        {
            "error": "API rate limit exceeded",
            "api-key": who,
            "count": str(count),
            "limit": str(limit),
        },
        separators=(",", ":"),
    )
    return httpx.Response(
        429,
        headers={"Content-Type": "application/json", "Retry-After": "1"},
        content=body.encode(),
    )


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    value = params.get(name, "").strip()
    try:
        return max(int(value), 0) if value else default
    except ValueError:
        return default


class EutilsStandin:
    """An E-utilities server over a snapshot, as an httpx handler.

    ``source`` is a :class:`Snapshot` (viewed on ``as_of``, today by default)
    or a ready :class:`SnapshotView`; ``links`` is the citation graph ELink
    answers from (none: nothing cites anything). With ``enforce_rate_limit``, more than 3
    requests in any one-second window (10 with an ``api_key``) answer HTTP 429.
    Safe to call from several threads (the loopback server does).
    """

    def __init__(
        self,
        source: Snapshot | SnapshotView,
        *,
        as_of: date | None = None,
        enforce_rate_limit: bool = False,
        clock: Callable[[], float] = time.monotonic,
        links: CitationGraph | None = None,
    ) -> None:
        if isinstance(source, SnapshotView):
            if as_of is not None and as_of != source.as_of:
                raise ValueError("as_of given with a view of another day")
            self.view = source
        else:
            self.view = source.view(as_of)
        self.enforce_rate_limit = enforce_rate_limit
        self.links = links or CitationGraph()
        self.clock = clock
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        #: WebEnv -> stored sets; query key N is index N-1
        self._history: dict[str, list[list[str]]] = {}
        self._webenv_serial = itertools.count(1)
        self._recent: dict[str, deque[float]] = {}
        #: when each request arrived (``clock``), to check a client's rate
        self.arrivals: list[float] = []

    # ------------------------------------------------------------------ plumbing

    def count(self, endpoint: str | None = None) -> int:
        """How many requests were made (to ``endpoint``, if given)."""
        return sum(1 for r in self.requests if endpoint is None or r.endpoint == endpoint)

    def peak_rate(self, window: float = 1.0) -> int:
        """The most requests that arrived within any ``window`` seconds (NCBI's
        limit is 3 per second, 10 with an API key)."""
        with self._lock:
            times = sorted(self.arrivals)
        peak = 0
        first = 0
        for last, at in enumerate(times):
            while at - times[first] >= window:
                first += 1
            peak = max(peak, last - first + 1)
        return peak

    def __call__(self, request: httpx.Request) -> httpx.Response:
        endpoint = endpoint_of(request.url)
        params = request_params(request)
        with self._lock:
            self.arrivals.append(self.clock())
            self.requests.append(RecordedRequest(endpoint, request.method, params))
            limited = self._rate_limited(params) if self.enforce_rate_limit else None
        if limited is not None:
            return limited
        if request.method == "GET" and len(request.url.raw_path) + 16 > MAX_REQUEST_LINE:
            return httpx.Response(414, headers={"Content-Type": "text/html; charset=utf-8"},
                                  content=_URI_TOO_LONG)
        if endpoint not in _ENDPOINTS:
            return httpx.Response(
                404, headers={"Content-Type": "text/plain"}, content=b"404 Not Found\n"
            )
        db = params.get("db", "pubmed").strip() or "pubmed"
        if endpoint == "einfo" and "db" not in params:
            return _xml(self._einfo_list())
        if db != "pubmed":
            return _xml(error_body(endpoint, f"Invalid db name specified: {db}"))
        if endpoint == "elink":
            return self._elink(params, id_groups(request))
        handler = {
            "esearch": self._esearch,
            "efetch": self._efetch,
            "epost": self._epost,
            "einfo": self._einfo,
        }[endpoint]
        return handler(params)

    def _rate_limited(self, params: Mapping[str, str]) -> httpx.Response | None:
        key = params.get("api_key") or ""
        limit = 10 if key else 3
        now = self.clock()
        recent = self._recent.setdefault(key, deque())
        while recent and now - recent[0] >= 1.0:
            recent.popleft()
        if len(recent) >= limit:
            # Refused requests do not count, so a client that backs off recovers.
            return rate_limit_response(key or "127.0.0.1", len(recent) + 1, limit)
        recent.append(now)
        return None

    # ------------------------------------------------------------------ history

    def _new_webenv(self) -> str:
        serial = next(self._webenv_serial)
        return f"MCID_{id(self) & 0xFFFFFFFF:08x}{serial:016x}"

    def _store(self, webenv: str | None, ids: list[str]) -> tuple[str, int]:
        with self._lock:
            if not webenv:
                webenv = self._new_webenv()
            sets = self._history.setdefault(webenv, [])
            sets.append(ids)
            return webenv, len(sets)

    def history(self, webenv: str, query_key: int) -> list[str] | None:
        """A stored set, or None if the WebEnv or key is unknown."""
        with self._lock:
            sets = self._history.get(webenv)
            if sets is None or not 1 <= query_key <= len(sets):
                return None
            return sets[query_key - 1]

    # ------------------------------------------------------------------ esearch

    def _esearch(self, params: Mapping[str, str]) -> httpx.Response:
        term = params.get("term", "").strip()
        webenv = params.get("WebEnv", "").strip() or None
        query_key = params.get("query_key", "").strip()
        if query_key:
            term = f"#{query_key} AND ({term})" if term else f"#{query_key}"
        if not term:
            return _xml(esearch_error("Empty term and query_key - nothing todo"))
        retstart = _int_param(params, "retstart", 0)
        retmax = min(_int_param(params, "retmax", 20), MAX_RETMAX)
        datetype = params.get("datetype") or None
        mindate = params.get("mindate") or None
        maxdate = params.get("maxdate") or None
        reldate = _int_param(params, "reldate", 0)
        if reldate and not (mindate or maxdate):
            mindate = (self.view.as_of - timedelta(days=reldate)).strftime("%Y/%m/%d")
            maxdate = self.view.as_of.strftime("%Y/%m/%d")
            datetype = datetype or "edat"
        try:
            result = self._search(term, webenv, datetype, mindate, maxdate)
        except QuerySyntaxError as exc:
            return _xml(esearch_error(str(exc)))
        except LookupError as exc:  # an unknown #N or WebEnv
            return _xml(esearch_error(str(exc.args[0])))

        if params.get("rettype", "").strip().lower() == "count":
            body = f"<eSearchResult><Count>{result.count}</Count></eSearchResult>\n"
            return _xml(_XML_HEAD + _ESEARCH_DOCTYPE + body.encode())
        if retstart >= PUBMED_LIMIT and result.count > 0:
            return _xml(esearch_error(RETSTART_TOO_LARGE))

        parts = [f"<eSearchResult><Count>{result.count}</Count>"]
        page = result.ids[retstart : min(retstart + retmax, PUBMED_LIMIT)]
        parts.append(f"<RetMax>{len(page)}</RetMax><RetStart>{retstart}</RetStart>")
        if params.get("usehistory", "").strip().lower() == "y":
            webenv, key = self._store(webenv, result.ids)
            parts.append(f"<QueryKey>{key}</QueryKey><WebEnv>{escape(webenv)}</WebEnv>")
        if page:
            parts.append("<IdList>\n" + "".join(f"<Id>{pmid}</Id>\n" for pmid in page))
            parts.append("</IdList>")
        else:
            parts.append("<IdList/>")
        parts.append("<TranslationSet/>")
        parts.append(f"<QueryTranslation>{escape(result.translation)}</QueryTranslation>")
        errors = [f"<PhraseNotFound>{escape(p)}</PhraseNotFound>" for p in result.phrases_not_found]
        errors += [f"<FieldNotFound>{escape(f)}</FieldNotFound>" for f in result.fields_not_found]
        if errors:
            parts.append("<ErrorList>" + "".join(errors) + "</ErrorList>")
        warnings = [
            f"<QuotedPhraseNotFound>{escape(q)}</QuotedPhraseNotFound>"
            for q in result.quoted_phrases_not_found
        ]
        warnings += [f"<OutputMessage>{escape(w)}</OutputMessage>" for w in result.warnings]
        if result.count == 0:
            warnings.append("<OutputMessage>No items found.</OutputMessage>")
        if warnings:
            parts.append("<WarningList>" + "".join(warnings) + "</WarningList>")
        parts.append("</eSearchResult>\n")
        return _xml(_XML_HEAD + _ESEARCH_DOCTYPE + "".join(parts).encode())

    def _search(
        self,
        term: str,
        webenv: str | None,
        datetype: str | None,
        mindate: str | None,
        maxdate: str | None,
    ) -> SearchResult:
        """A search whose term may name history sets (``#1 AND (...)``): one
        parser (:func:`kettrack.standin.pubmed_query.parse`) reads both."""
        def stored(number: int) -> list[str] | None:
            return self.history(webenv, number) if webenv else None

        return self.view.search(term, datetype=datetype, mindate=mindate, maxdate=maxdate,
                                history=stored)

    # ------------------------------------------------------------------ efetch

    def _efetch(self, params: Mapping[str, str]) -> httpx.Response:
        retmode = params.get("retmode", "xml").strip().lower() or "xml"
        rettype = params.get("rettype", "").strip().lower()
        if retmode != "xml" or rettype not in ("", "xml", "full"):
            return _xml(efetch_error(f"stand-in serves retmode=xml only, not {retmode}/{rettype}"))
        ids_param = params.get("id", "").strip()
        if ids_param:
            pmids = [p.strip() for p in ids_param.split(",") if p.strip()]
        elif params.get("query_key") and params.get("WebEnv"):
            key = params["query_key"].strip()
            stored = self.history(params["WebEnv"].strip(), int(key) if key.isdigit() else 0)
            if stored is None:
                return _xml(efetch_error(f"Unable to obtain query #{key}"))
            retstart = _int_param(params, "retstart", 0)
            retmax = min(_int_param(params, "retmax", MAX_RETMAX), MAX_RETMAX)
            if retstart >= PUBMED_LIMIT and stored:
                return _xml(efetch_error(RETSTART_TOO_LARGE))
            pmids = stored[retstart : min(retstart + retmax, PUBMED_LIMIT)]
        else:
            return _xml(efetch_error("Empty id list - nothing todo"))
        return _xml(self.article_set(pmids))

    def article_set(self, pmids: list[str]) -> bytes:
        """A PubmedArticleSet of the visible records among ``pmids``, in order."""
        view = self.view
        chunks = [PUBMED_SET_HEAD]
        for pmid in pmids:
            raw = view.raw(pmid)
            if raw is not None:
                chunks.append(raw)
                chunks.append(b"\n")
        chunks.append(PUBMED_SET_TAIL)
        return b"".join(chunks)

    # ------------------------------------------------------------------ epost

    def _epost(self, params: Mapping[str, str]) -> httpx.Response:
        given = [p.strip() for p in params.get("id", "").split(",") if p.strip()]
        valid = [p for p in given if p.isdigit() and int(p) > 0]
        accepted = set(valid)
        invalid = [p for p in given if p not in accepted]
        parts = []
        if invalid:
            ids = "".join(f"<Id>{escape(p)}</Id>" for p in invalid)
            parts.append(f"\t<InvalidIdList>{ids}</InvalidIdList>\n")
        if valid:
            webenv, key = self._store(params.get("WebEnv", "").strip() or None, valid)
            parts.append(f"\t<QueryKey>{key}</QueryKey>\n\t<WebEnv>{escape(webenv)}</WebEnv>\n")
        else:
            parts.append("\t<ERROR>Empty ID list; Nothing to store</ERROR>\n")
        body = "<ePostResult>\n" + "".join(parts) + "</ePostResult>\n"
        return _xml(_XML_HEAD + _EPOST_DOCTYPE + body.encode())

    # ------------------------------------------------------------------ elink

    def _elink(self, params: Mapping[str, str], groups: list[list[str]]) -> httpx.Response:
        dbfrom = params.get("dbfrom", "pubmed").strip() or "pubmed"
        if dbfrom != "pubmed":
            return _xml(error_body("elink", f"Invalid dbfrom name specified: {dbfrom}"))
        cmd = params.get("cmd", "neighbor").strip() or "neighbor"
        if cmd not in ("neighbor", "neighbor_score", "neighbor_history"):
            return _xml(error_body("elink", f"stand-in serves cmd neighbor, neighbor_score "
                                            f"and neighbor_history, not {cmd}"))
        if not groups:
            return _xml(error_body("elink", "Empty id list - nothing todo"))
        wanted = params.get("linkname", "").strip()
        names = [wanted] if wanted else list(_LINK_NAMES)
        scored = cmd == "neighbor_score"
        parts = [b"<eLinkResult>\n"]
        webenv = params.get("WebEnv", "").strip() or None
        for group in groups:
            parts.append(b"\n  <LinkSet>\n    <DbFrom>pubmed</DbFrom>\n    <IdList>\n")
            parts.extend(f"      <Id>{escape(i)}</Id>\n".encode() for i in group)
            parts.append(b"    </IdList>\n")
            histories = []
            for name in names:
                links = self._links(name, group)
                if not links:
                    continue
                if cmd == "neighbor_history":
                    webenv, key = self._store(webenv, [p for p, _ in links])
                    histories.append((name, key))
                    continue
                parts.append(f"    <LinkSetDb>\n      <DbTo>pubmed</DbTo>\n      <LinkName>"
                             f"{name}</LinkName>\n".encode())
                for pmid, score in links:
                    shown = f"\n\t\t\t\t<Score>{score}</Score>" if scored and score else ""
                    parts.append(f"        <Link>\n\t\t\t\t<Id>{pmid}</Id>{shown}\n"
                                 "\t\t\t</Link>\n".encode())
                parts.append(b"    </LinkSetDb>\n")
            for name, key in histories:
                parts.append(f"    <LinkSetDbHistory>\n      <DbTo>pubmed</DbTo>\n      "
                             f"<LinkName>{name}</LinkName>\n      <QueryKey>{key}</QueryKey>\n"
                             "    </LinkSetDbHistory>\n".encode())
            if histories and webenv:
                parts.append(f"    <WebEnv>{escape(webenv)}</WebEnv>\n".encode())
            parts.append(b"  </LinkSet>\n")
        parts.append(b"</eLinkResult>\n")
        return _xml(_XML_HEAD + _ELINK_DOCTYPE + b"".join(parts))

    def _links(self, name: str, group: list[str]) -> list[tuple[str, int | None]]:
        """One LinkSetDb's links for the IDs of one ``id=`` (merged when several)."""
        view = self.view
        merged: dict[str, int | None] = {}
        for pmid in group:
            if name == "pubmed_pubmed":
                found: list[tuple[str, int | None]] = list(neighbor_scores(view, pmid))
            elif name == "pubmed_pubmed_citedin":
                found = [(p, None) for p in self.links.cited_by(pmid, view)]
            elif name == "pubmed_pubmed_refs":
                found = [(p, None) for p in self.links.references(pmid, view)]
            else:
                found = []
            for other, score in found:
                best = merged.get(other)
                merged[other] = score if best is None or (score or 0) > best else best
        if name == "pubmed_pubmed" and len(group) > 1:
            return sorted(merged.items(), key=lambda pair: -(pair[1] or 0))
        return list(merged.items())

    # ------------------------------------------------------------------ einfo

    def _einfo_list(self) -> bytes:
        return (
            _XML_HEAD
            + _EINFO_DOCTYPE
            + (b"<eInfoResult>\n<DbList>\n\t<DbName>pubmed</DbName>\n</DbList>\n</eInfoResult>\n")
        )

    def _einfo(self, params: Mapping[str, str]) -> httpx.Response:
        day = self.view.as_of
        body = (
            "<eInfoResult>\n\t<DbInfo>\n"
            "\t\t<DbName>pubmed</DbName>\n"
            "\t\t<MenuName>PubMed</MenuName>\n"
            "\t\t<Description>PubMed bibliographic record</Description>\n"
            f"\t\t<DbBuild>Build-{day:%Y.%m.%d}.00.00</DbBuild>\n"
            f"\t\t<Count>{len(self.view)}</Count>\n"
            f"\t\t<LastUpdate>{day:%Y/%m/%d} 00:00</LastUpdate>\n"
            "\t</DbInfo>\n</eInfoResult>\n"
        )
        return _xml(_XML_HEAD + _EINFO_DOCTYPE + body.encode())


