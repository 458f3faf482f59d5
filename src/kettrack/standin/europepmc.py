"""A loopback stand-in for the Europe PMC REST API: ``search`` and ``citations``.

It serves the snapshot's Europe PMC records (``data/europepmc/records.json``)
as the day ``as_of`` saw them: a record exists from its ``available_from`` day,
and each of its ``revisions`` (a later version, a "Preprint in" link to the
journal version, a withdrawal) applies from its own ``from`` day. So
``run --offline --as-of`` replays a preprint appearing and, later, its journal
version arriving.

What it speaks, and what it assumes (docs/europepmc.md says more):

- ``GET .../search?query=...&format=json&resultType=core|lite|idlist&pageSize=N
  &cursorMark=...``: the envelope of the recorded answers (``version``,
  ``hitCount``, ``nextCursorMark``, ``request``, ``resultList.result``). Zero hits
  carry no ``nextCursorMark``, as recorded. ``cursorMark`` paging is opaque
  tokens; a page past the end repeats the cursor it was sent (the "stops
  changing" end). A cursor the stand-in did not issue is answered, as Europe
  PMC reportedly does, with HTTP 200 and only ``{"version": "6.9"}``.
  ``pageSize`` above 1000 is cut to 1000. A query it cannot parse is HTTP 400.
- Query syntax (:func:`parse_query`): words (``alcohol*`` as a prefix),
  quoted phrases, ``AND``/``OR``/``NOT`` (adjacent terms are ANDed), parentheses,
  and the fields ``SRC``, ``PUB_TYPE``, ``TITLE``, ``ABSTRACT``, ``AUTH``,
  ``DOI``, ``EXT_ID``, ``PMCID``, ``PUB_YEAR``, ``FIRST_PDATE`` (``[A TO B]``
  ranges) and ``KW``; an unknown field searches the text.
- ``GET .../{SOURCE}/{id}/citations?format=json&page=P&pageSize=N``: no real
  answer was ever recorded; the shape follows the service documentation
  (``hitCount``, ``citationList.citation[]`` with ``id``, ``source``,
  ``title``, ``authorString``, ``pubYear``...), built from each snapshot
  record's ``cites`` list.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

from kettrack.standin.snapshot import default_snapshot_dir

VERSION = "6.9"
MAX_PAGE_SIZE = 1000
_TOKEN = re.compile(r'\s*(\(|\)|"[^"]*"|[A-Z_]+:\[[^\]]*\]|[A-Za-z_]+:"[^"]*"|[^\s()"]+)')
_WORD = re.compile(r"[a-z0-9]+")


class QueryError(ValueError):
    """A query the stand-in cannot parse."""


def default_records_path() -> Path:
    """``data/europepmc/records.json`` in the snapshot folder."""
    return default_snapshot_dir() / "europepmc" / "records.json"


@dataclass
class Entry:
    """One snapshot record and its timeline."""

    record: dict[str, Any]
    available_from: date
    revisions: list[tuple[date, dict[str, Any]]] = field(default_factory=list)
    cites: list[str] = field(default_factory=list)

    def as_of(self, day: date) -> dict[str, Any] | None:
        if day < self.available_from:
            return None
        record = copy.deepcopy(self.record)
        for since, changes in sorted(self.revisions, key=lambda r: r[0]):
            if since <= day:
                record.update(copy.deepcopy(changes))
        return record


class EuropePmcSnapshot:
    """The Europe PMC records the stand-in serves."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EuropePmcSnapshot:
        entries = []
        for item in data.get("records", []):
            entries.append(Entry(
                record=item["record"],
                available_from=date.fromisoformat(item["available_from"]),
                revisions=[(date.fromisoformat(r["from"]), r["set"])
                           for r in item.get("revisions", [])],
                cites=list(item.get("cites", [])),
            ))
        return cls(entries)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EuropePmcSnapshot:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))

    def view(self, day: date) -> list[tuple[dict[str, Any], Entry]]:
        out = []
        for entry in self.entries:
            record = entry.as_of(day)
            if record is not None:
                out.append((record, entry))
        return out


# -- the query language ------------------------------------------------------

Predicate = Callable[[dict[str, Any]], bool]


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _text_of(record: dict[str, Any], field_name: str | None) -> str:
    def listed(key: str, inner: str) -> list[Any]:
        value = record.get(key)
        got = value.get(inner) if isinstance(value, dict) else None
        return got if isinstance(got, list) else []

    title = str(record.get("title") or "")
    abstract = str(record.get("abstractText") or "")
    keywords = " ".join(str(k) for k in listed("keywordList", "keyword"))
    mesh = " ".join(str(m.get("descriptorName", "")) for m in listed("meshHeadingList",
                                                                      "meshHeading")
                    if isinstance(m, dict))
    if field_name == "TITLE":
        return title
    if field_name == "ABSTRACT":
        return abstract
    if field_name == "KW":
        return keywords
    if field_name == "AUTH":
        return str(record.get("authorString") or "")
    return " ".join([title, abstract, keywords, mesh])


def _matcher(field_name: str | None, value: str) -> Predicate:
    value = value.strip()
    phrase = value.startswith('"') and value.endswith('"') and len(value) >= 2
    if phrase:
        value = value[1:-1]
    if field_name == "SRC":
        return lambda r: str(r.get("source", "")).upper() == value.upper()
    if field_name in ("DOI",):
        return lambda r: str(r.get("doi", "")).lower() == value.lower()
    if field_name in ("EXT_ID",):
        return lambda r: str(r.get("id", "")) == value or str(r.get("pmid", "")) == value
    if field_name == "PMCID":
        return lambda r: str(r.get("pmcid", "")).upper() == value.upper()
    if field_name == "PUB_TYPE":
        wanted = value.lower()

        def pub_type(r: dict[str, Any]) -> bool:
            listed = r.get("pubTypeList", {}).get("pubType", []) if isinstance(
                r.get("pubTypeList"), dict) else []
            names = [str(p).lower() for p in listed] + [
                p.strip().lower() for p in str(r.get("pubType", "")).split(";")]
            return wanted in names
        return pub_type
    if field_name in ("PUB_YEAR", "FIRST_PDATE"):
        key = "pubYear" if field_name == "PUB_YEAR" else "firstPublicationDate"
        found = re.match(r"^\[\s*(\S+)\s+TO\s+(\S+)\s*\]$", value)
        low, high = (found.group(1), found.group(2)) if found else (value, value)

        def in_range(r: dict[str, Any]) -> bool:
            got = str(r.get(key) or "")
            n = len(low)
            return bool(got) and low <= got[:n] and got[:len(high)] <= high
        return in_range
    words = _words(value)
    if not words:
        raise QueryError(f"nothing to search for in {value!r}")
    prefix = value.endswith("*") and not phrase

    def text_match(r: dict[str, Any]) -> bool:
        have = _words(_text_of(r, field_name))
        if prefix and len(words) == 1:
            return any(w.startswith(words[0]) for w in have)
        n = len(words)
        return any(have[i:i + n] == words for i in range(len(have) - n + 1))
    return text_match


def parse_query(query: str) -> Predicate:
    """The predicate a Europe PMC query means (the subset documented above)."""
    tokens: list[str] = []
    pos = 0
    query = query.strip()
    while pos < len(query):
        found = _TOKEN.match(query, pos)
        if not found:
            if query[pos:].strip():
                raise QueryError(f"cannot read the query at position {pos + 1}")
            break
        tokens.append(found.group(1))
        pos = found.end()
    if not tokens:
        raise QueryError("the query is empty")
    at = 0

    def peek() -> str | None:
        return tokens[at] if at < len(tokens) else None

    def take() -> str:
        nonlocal at
        at += 1
        return tokens[at - 1]

    def primary() -> Predicate:
        token = peek()
        if token is None:
            raise QueryError("the query ends where a term was expected")
        if token == "(":
            take()
            inner = disjunction()
            if peek() != ")":
                raise QueryError("unclosed '('")
            take()
            return inner
        if token in ("AND", "OR", "NOT", ")"):
            raise QueryError(f"{token!r} where a term was expected")
        take()
        field_match = re.match(r"^([A-Za-z_]+):(.+)$", token)
        if field_match and not token.startswith('"'):
            return _matcher(field_match.group(1).upper(), field_match.group(2))
        return _matcher(None, token)

    def negation() -> Predicate:
        if peek() == "NOT":
            take()
            inner = negation()
            return lambda r: not inner(r)
        return primary()

    def conjunction() -> Predicate:
        parts = [negation()]
        while peek() not in (None, "OR", ")"):
            if peek() == "AND":
                take()
            if peek() == "NOT":
                take()
                inner = negation()
                parts.append(lambda r, inner=inner: not inner(r))  # type: ignore[misc]
            else:
                parts.append(negation())
        return lambda r: all(p(r) for p in parts)

    def disjunction() -> Predicate:
        parts = [conjunction()]
        while peek() == "OR":
            take()
            parts.append(conjunction())
        return lambda r: any(p(r) for p in parts)

    predicate = disjunction()
    if at != len(tokens):
        raise QueryError(f"unexpected {tokens[at]!r}")
    return predicate


# -- the service -------------------------------------------------------------


def _json(data: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, headers={"Content-Type": "application/json;charset=UTF-8"},
                          content=json.dumps(data, ensure_ascii=False).encode())


def _lite(record: dict[str, Any]) -> dict[str, Any]:
    keep = ("id", "source", "pmid", "pmcid", "doi", "title", "authorString", "pubYear",
            "pubType", "bookOrReportDetails", "versionNumber", "firstIndexDate",
            "firstPublicationDate", "journalTitle")
    out = {k: record[k] for k in keep if k in record}
    if "pubType" not in out and isinstance(record.get("pubTypeList"), dict):
        out["pubType"] = "; ".join(str(p).lower() for p in record["pubTypeList"].get(
            "pubType", []))
    return out


class EuropePmcStandin:
    """An ``httpx`` handler answering like Europe PMC from a snapshot, as of a day."""

    def __init__(self, snapshot: EuropePmcSnapshot, as_of: date | None = None) -> None:
        self.snapshot = snapshot
        self.as_of = as_of or date.today()
        self.requests: list[tuple[str, dict[str, str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(parse_qsl(request.url.query.decode("latin-1"), keep_blank_values=True))
        path = request.url.path.rstrip("/")
        last = path.rsplit("/", 1)[-1]
        self.requests.append((last, params))
        if last == "search":
            return self._search(params)
        if last == "citations":
            parts = path.split("/")
            return self._citations(parts[-3].upper(), parts[-2], params)
        return httpx.Response(404, headers={"Content-Type": "text/plain"},
                              content=b"not a Europe PMC endpoint this stand-in knows\n")

    @staticmethod
    def _token(query: str, offset: int) -> str:
        digest = hashlib.sha1(query.encode()).hexdigest()[:8]
        return base64.b64encode(f"AoI{digest}:{offset}".encode()).decode()

    def _offset(self, query: str, cursor: str) -> int | None:
        if cursor == "*":
            return 0
        try:
            text = base64.b64decode(cursor.encode(), validate=True).decode()
            digest, offset = text[3:].split(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if self._token(query, int(offset)) != cursor or digest is None:
            return None
        return int(offset)

    def _search(self, params: dict[str, str]) -> httpx.Response:
        query = params.get("query", "")
        if params.get("format", "xml").lower() != "json":
            return httpx.Response(400, headers={"Content-Type": "text/plain"},
                                  content=b"this stand-in answers format=json only\n")
        result_type = params.get("resultType", "lite").lower()
        try:
            size = max(1, min(int(params.get("pageSize", "25")), MAX_PAGE_SIZE))
        except ValueError:
            size = 25
        try:
            predicate = parse_query(query)
        except QueryError as exc:
            return _json({"version": VERSION, "errCode": 400, "errMsg": str(exc)}, 400)
        cursor = params.get("cursorMark", "*")
        offset = self._offset(query, cursor)
        if offset is None:
            return _json({"version": VERSION})
        hits = [r for r, _ in self.snapshot.view(self.as_of) if predicate(r)]
        # newest first, as Europe PMC's default relevance order often is; stable
        hits.sort(key=lambda r: (str(r.get("firstIndexDate", "")), str(r.get("id"))),
                  reverse=True)
        page = hits[offset:offset + size]
        if result_type == "lite":
            page = [_lite(r) for r in page]
        elif result_type == "idlist":
            page = [{k: r[k] for k in ("id", "source", "pmid", "pmcid") if k in r}
                    for r in page]
        body: dict[str, Any] = {"version": VERSION, "hitCount": len(hits)}
        if hits:
            body["nextCursorMark"] = (self._token(query, offset + len(page)) if page
                                      else cursor)
        body["request"] = {"queryString": query, "resultType": result_type,
                           "cursorMark": cursor, "pageSize": size, "sort": "",
                           "synonym": False}
        body["resultList"] = {"result": page}
        return _json(body)

    def _citations(self, source: str, ident: str, params: dict[str, str]) -> httpx.Response:
        try:
            size = max(1, min(int(params.get("pageSize", "25")), MAX_PAGE_SIZE))
            page = max(1, int(params.get("page", "1")))
        except ValueError:
            return _json({"version": VERSION, "errCode": 400, "errMsg": "bad page"}, 400)
        target = f"{source}:{ident}"
        citing = [r for r, entry in self.snapshot.view(self.as_of) if target in entry.cites]
        citing.sort(key=lambda r: (str(r.get("source")), str(r.get("id"))))
        chosen = citing[(page - 1) * size:page * size]
        return _json({
            "version": VERSION, "hitCount": len(citing),
            "request": {"id": ident, "source": source, "page": page, "pageSize": size},
            "citationList": {"citation": [{
                "id": r.get("id"), "source": r.get("source"), "citationType": "",
                "title": r.get("title"), "authorString": r.get("authorString"),
                "pubYear": r.get("pubYear"), "citedByCount": 0,
            } for r in chosen]},
        })
