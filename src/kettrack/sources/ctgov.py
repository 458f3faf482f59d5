"""Where ClinicalTrials.gov requests are built: API v2 ``/studies`` and ``/studies/{NCT}``.

The registry's etiquette lives here, as E-utilities' lives in :mod:`kettrack.sources.eutils`:
JSON only, one ``fields`` list naming the modules kettrack reads, ``pageSize``
with ``pageToken``/``nextPageToken`` paging until the token is absent (only the
first page carries ``totalCount``, and only when ``countTotal=true`` is asked),
and incremental searches that add ``AREA[LastUpdatePostDate]RANGE[date,MAX]`` to
``query.term``. Transport concerns (timeouts, retries, ``Retry-After``) are in
:mod:`kettrack.sources.http`, shared with the PubMed client.

CT.gov answers a bad parameter with HTTP 400 and an unknown NCT number with 404,
both as plain text (``query.recrs is unknown parameter``): 400 on a search is
:class:`~kettrack.errors.QuerySyntaxError` (the saved query is at fault), 404 on
a study is :class:`~kettrack.errors.NotInLibrary`-like :class:`StudyNotFound`
(bad input), any other answer kettrack cannot read is a
:class:`~kettrack.errors.ServiceError`.

Saved registry queries (``source = "clinicaltrials"``) write their ``term`` in a
small clause syntax, parsed by :func:`parse_registry_term`::

    cond: alcohol use disorder OR alcohol dependence; intr: ketamine OR esketamine

Clauses are separated by ``;``; ``cond:`` goes to ``query.cond``, ``intr:`` to
``query.intr`` and ``term:`` (or a clause with no prefix) to ``query.term``.
Each clause's text is CT.gov search syntax (Essie: AND, OR, NOT, quotes, parentheses).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from kettrack.errors import BadIdentifier, BadInput, QuerySyntaxError, ServiceError
from kettrack.settings import Settings
from kettrack.sources.http import Incomplete, RequestLog, ServiceClient
from kettrack.text import one_line

#: CT.gov asks API users to stay under about 50 requests a minute
CTGOV_RATE = 50 / 60
#: CT.gov's largest pageSize
MAX_PAGE_SIZE = 1000
#: the page size kettrack asks for (few kettrack searches pass one page)
DEFAULT_PAGE_SIZE = 100
#: the v2 modules (piece names) kettrack reads; CT.gov sends nothing else
FIELDS = (
    "IdentificationModule",
    "StatusModule",
    "SponsorCollaboratorsModule",
    "ConditionsModule",
    "DesignModule",
    "ArmsInterventionsModule",
    "ReferencesModule",
    "HasResults",
)
_NCT = re.compile(r"^NCT\d{8}$")
_CLAUSE = re.compile(r"^\s*(cond|intr|term)\s*:\s*(.*)$", re.IGNORECASE | re.DOTALL)


class StudyNotFound(BadInput):
    """A well-formed NCT number ClinicalTrials.gov does not hold (HTTP 404)."""


@dataclass(frozen=True)
class RegistrySearch:
    """A registry search split into CT.gov's three query parameters."""

    cond: str = ""
    intr: str = ""
    term: str = ""

    def params(self, since: date | None = None) -> dict[str, str]:
        """``query.*`` parameters; ``since`` adds the last-update filter to ``query.term``."""
        term = self.term
        if since is not None:
            area = f"AREA[LastUpdatePostDate]RANGE[{since.isoformat()},MAX]"
            term = f"({term}) AND {area}" if term else area
        out = {"query.cond": self.cond, "query.intr": self.intr, "query.term": term}
        return {k: v for k, v in out.items() if v}


def parse_registry_term(text: str) -> RegistrySearch:
    """Split a saved registry query's ``term`` into ``cond``/``intr``/``term`` clauses.

    Raises :class:`QuerySyntaxError` for an empty clause, a clause given twice,
    or unbalanced quotes or parentheses (CT.gov would answer 400).
    """
    parts: dict[str, str] = {}
    for raw in text.split(";"):
        if not raw.strip():
            continue
        m = _CLAUSE.match(raw)
        kind, value = (m.group(1).lower(), m.group(2)) if m else ("term", raw)
        value = " ".join(value.split())
        if not value:
            raise QuerySyntaxError(f"the {kind}: clause is empty")
        if kind in parts:
            raise QuerySyntaxError(f"the {kind}: clause is given twice")
        _check_balanced(value, kind)
        parts[kind] = value
    if not parts:
        raise QuerySyntaxError("the registry search is empty")
    return RegistrySearch(**parts)


def _check_balanced(value: str, kind: str) -> None:
    if value.count('"') % 2:
        raise QuerySyntaxError(f"unclosed quote in the {kind}: clause")
    depth = 0
    for ch in re.sub(r'"[^"]*"', "", value):
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            raise QuerySyntaxError(f"unmatched ')' in the {kind}: clause")
    if depth:
        raise QuerySyntaxError(f"unclosed '(' in the {kind}: clause")


def check_nct(text: str) -> str:
    """``text`` as an upper-case NCT number, or :class:`BadIdentifier`."""
    value = text.strip().upper()
    if not _NCT.match(value):
        shown = "".join(c if c.isprintable() else "?" for c in text)[:40]
        raise BadIdentifier(f"{shown!r} is not an NCT number (NCT followed by 8 digits)")
    return value


@dataclass
class StudyPage:
    """One ``/studies`` answer."""

    studies: list[dict[str, Any]]
    next_token: str | None
    total: int | None


@dataclass
class StudySearch:
    """Every study a registry search found, over however many pages."""

    studies: list[dict[str, Any]] = field(default_factory=list)
    #: the source's count for the search (``totalCount`` of the first page)
    total: int | None = None
    pages: int = 0


def _check_json(response: httpx.Response) -> None:
    """Reject 200 answers that are not a whole JSON object (retried, like a cut body)."""
    body = response.content.lstrip()
    if body[:1] != b"{":
        head = one_line(body[:60].decode("utf-8", "replace"))
        raise Incomplete(f"not JSON: {head!r}")
    if not response.content.rstrip().endswith(b"}"):
        raise Incomplete(f"body cut short ({len(response.content)} bytes)")


class CtgovClient(ServiceClient):
    """ClinicalTrials.gov API v2 over one :class:`~kettrack.sources.http.HttpClient`."""

    service = "ClinicalTrials.gov"

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None,
                 rate: float = CTGOV_RATE, sleep: Callable[[float], None] | None = None,
                 log: RequestLog | None = None, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        super().__init__(settings, rate=rate, transport=transport, sleep=sleep, log=log)
        self.base = settings.ctgov_url.rstrip("/") + "/"
        self.page_size = page_size

    def _get(self, path: str, endpoint: str, params: dict[str, str]) -> httpx.Response:
        return self.http.request("GET", self.base + path, endpoint=endpoint, params=params,
                                 check=_check_json)

    @staticmethod
    def _decode(response: httpx.Response, what: str) -> dict[str, Any]:
        try:
            data = json.loads(response.content)
        except ValueError as exc:
            raise ServiceError(f"ClinicalTrials.gov {what}: unreadable JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ServiceError(f"ClinicalTrials.gov {what}: expected a JSON object")
        return data

    def search_page(self, search: RegistrySearch, *, since: date | None = None,
                    page_token: str | None = None, page_size: int | None = None,
                    count_total: bool = True) -> StudyPage:
        """One ``GET studies`` request."""
        params = search.params(since)
        params.update(format="json", fields="|".join(FIELDS),
                      pageSize=str(page_size or self.page_size))
        if count_total and page_token is None:
            params["countTotal"] = "true"
        if page_token:
            params["pageToken"] = page_token
        response = self._get("studies", "studies", params)
        if response.status_code == 400:
            raise QuerySyntaxError(f"ClinicalTrials.gov rejected the search: {_text(response)}")
        if response.status_code >= 400:
            raise ServiceError(
                f"ClinicalTrials.gov studies answered HTTP {response.status_code}: "
                f"{_text(response)}")
        data = self._decode(response, "studies")
        studies = data.get("studies")
        if not isinstance(studies, list):
            raise ServiceError("ClinicalTrials.gov studies: the answer has no 'studies' list")
        token = data.get("nextPageToken")
        total = data.get("totalCount")
        return StudyPage(studies=[s for s in studies if isinstance(s, dict)],
                         next_token=str(token) if token else None,
                         total=int(total) if isinstance(total, int) else None)

    def pages(self, search: RegistrySearch, *, since: date | None = None,
              page_size: int | None = None) -> Iterator[StudyPage]:
        """Every page of a search, following ``nextPageToken`` until it is absent.

        A token seen twice would loop forever; that is a service error.
        """
        seen: set[str] = set()
        token: str | None = None
        while True:
            page = self.search_page(search, since=since, page_token=token, page_size=page_size)
            yield page
            if not page.next_token:
                return
            if page.next_token in seen:
                raise ServiceError("ClinicalTrials.gov repeated a nextPageToken; paging stopped")
            seen.add(page.next_token)
            token = page.next_token

    def search(self, search: RegistrySearch, *, since: date | None = None,
               page_size: int | None = None) -> StudySearch:
        """All studies a search finds (those updated on or after ``since``, if given)."""
        out = StudySearch()
        for page in self.pages(search, since=since, page_size=page_size):
            if out.pages == 0:
                out.total = page.total
            out.pages += 1
            out.studies.extend(page.studies)
        if out.total is None:
            out.total = len(out.studies)
        return out

    def count(self, search: RegistrySearch) -> int:
        """The source's hit count for a search (one request, one study)."""
        page = self.search_page(search, page_size=1, count_total=True)
        return page.total if page.total is not None else len(page.studies)

    def study(self, nct_id: str) -> dict[str, Any]:
        """``GET studies/{NCT}``: one study, or :class:`StudyNotFound`."""
        nct = check_nct(nct_id)
        response = self._get(f"studies/{nct}", "study",
                             {"format": "json", "fields": "|".join(FIELDS)})
        if response.status_code == 404:
            raise StudyNotFound(f"{nct} is not on ClinicalTrials.gov: {_text(response)}")
        if response.status_code == 400:
            raise BadIdentifier(f"ClinicalTrials.gov rejected {nct}: {_text(response)}")
        if response.status_code >= 400:
            raise ServiceError(f"ClinicalTrials.gov study {nct} answered HTTP "
                               f"{response.status_code}: {_text(response)}")
        return self._decode(response, f"study {nct}")


def _text(response: httpx.Response) -> str:
    """The plain-text error CT.gov sends, on one short line, control characters out
    (it reaches a terminal); the studies themselves are normalised, control
    characters out, by :func:`kettrack.library.trial.normalise`."""
    return one_line(response.text)[:200] or f"HTTP {response.status_code}"
