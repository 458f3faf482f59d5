"""ClinicalTrials.gov API v2, spoken over the bundled registry snapshot.

:class:`CtgovStandin` is an httpx handler (``httpx.MockTransport(standin)``, or
:func:`kettrack.dev.faultserver.serve` for a socket). It answers ``GET studies``
and ``GET studies/{NCT}`` over ``data/clinicaltrials/studies.json`` (built by
``scripts/build_trials.py``) as the registry stood on ``as_of``: a study is
invisible until its first version is posted, and each later version (a status
change, results posted) replaces it on the day it was posted.

What it speaks: ``query.cond``, ``query.intr`` and ``query.term`` in a subset of
CT.gov's search syntax (words, "quoted phrases", AND, OR, NOT, parentheses,
``AREA[Field]term`` and ``AREA[Field]RANGE[lo,hi]`` with ``MIN``/``MAX``),
``fields`` (module and piece names), ``pageSize`` (0 means the default, 10; at
most 1000), ``pageToken``/``nextPageToken``, ``countTotal`` (``totalCount`` on
the first page only), ``format=json``. A bad parameter is HTTP 400 and an
unknown or not-yet-posted NCT number 404, both as plain text, as CT.gov does.

What is approximated is listed in :data:`APPROXIMATIONS`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

import httpx

__all__ = ["APPROXIMATIONS", "CtgovStandin", "RegistrySnapshot", "default_registry_path"]

APPROXIMATIONS: tuple[str, ...] = (
    "No synonym expansion or stemming: a word matches a word of the searched text "
    "(case-folded; letters and digits), a quoted phrase matches consecutive words.",
    "query.cond searches conditions and titles; query.intr intervention names and titles; "
    "query.term every text field the snapshot holds (titles, acronym, conditions, "
    "interventions, sponsors, NCT number).",
    "Results are ordered by NCT number; CT.gov orders by relevance unless sort is given.",
    "Only format=json; fields accepts module names (IdentificationModule...), area names "
    "(ProtocolSection), NCTId and HasResults; other names answer 400.",
    "AREA[] knows LastUpdatePostDate, StudyFirstPostDate, StartDate, CompletionDate, "
    "OverallStatus, Condition, InterventionName, BriefTitle and NCTId.",
    "Page tokens are the stand-in's own (an offset and a fingerprint of the search); "
    "a token used with another search answers 400.",
)

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
_PARAMS = frozenset({"format", "query.cond", "query.intr", "query.term", "fields", "pageSize",
                     "pageToken", "countTotal", "markupFormat"})
_MODULES = {
    m.lower(): m for m in (
        "identificationModule", "statusModule", "sponsorCollaboratorsModule",
        "oversightModule", "descriptionModule", "conditionsModule", "designModule",
        "armsInterventionsModule", "outcomesModule", "eligibilityModule",
        "contactsLocationsModule", "referencesModule", "ipdSharingStatementModule",
    )
}
_NCT = re.compile(r"^NCT\d{8}$")
_WORD = re.compile(r"[a-z0-9]+")


def default_registry_path() -> Path:
    """``data/clinicaltrials/studies.json`` under the snapshot folder (KETTRACK_SNAPSHOT_DIR)."""
    from kettrack.standin.snapshot import default_snapshot_dir

    env = os.environ.get("KETTRACK_SNAPSHOT_DIR")
    folder = Path(env) if env else default_snapshot_dir()
    return folder / "clinicaltrials" / "studies.json"


class BadRequest(Exception):
    """A request CT.gov would answer with HTTP 400 (the message is the body)."""


# -- the snapshot ---------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    """One posted version of a study: ``posted`` None means "before any replay"."""

    posted: date | None
    study: dict[str, Any]


class RegistrySnapshot:
    """Every study's dated versions, as ``scripts/build_trials.py`` writes them."""

    def __init__(self, studies: Mapping[str, list[Version]]) -> None:
        self.studies = {k: sorted(v, key=lambda x: x.posted or date.min)
                        for k, v in studies.items()}

    @classmethod
    def load(cls, path: Path | None = None) -> RegistrySnapshot:
        path = path or default_registry_path()
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls({
            item["nct_id"]: [
                Version(date.fromisoformat(v["posted"]) if v.get("posted") else None, v["study"])
                for v in item["versions"]
            ]
            for item in data["studies"]
        })

    def view(self, as_of: date) -> dict[str, dict[str, Any]]:
        """NCT number -> the study as posted on ``as_of`` (absent if not yet posted)."""
        out = {}
        for nct, versions in sorted(self.studies.items()):
            shown = [v for v in versions if v.posted is None or v.posted <= as_of]
            if shown:
                out[nct] = shown[-1].study
        return out


# -- search syntax (a subset of CT.gov's Essie) ------------------------------------------


class _Tok(NamedTuple):
    kind: str  # word, phrase, op, lpar, rpar, area, range
    value: str


_TOKEN = re.compile(
    r'\s*(?:(?P<lpar>\()|(?P<rpar>\))|"(?P<phrase>[^"]*)"|AREA\[(?P<area>[^\]]*)\]'
    r'|RANGE\[(?P<range>[^\]]*)\]|(?P<word>[^\s()"]+))'
)


def _lex(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise BadRequest(f"unbalanced quote at position {pos + 1}")
        pos = m.end()
        kind = m.lastgroup or "word"
        value = m.group(kind) or ""
        if kind == "word" and value in ("AND", "OR", "NOT"):
            kind = "op"
        tokens.append(_Tok(kind, value))
    return tokens


Pred = Callable[["_Doc"], bool]


@dataclass
class _Doc:
    study: dict[str, Any]
    fields: dict[str, list[str]]  # area name -> word lists per value
    default: list[str]  # the areas a plain word searches


_AREAS = {
    "lastupdatepostdate": "LastUpdatePostDate", "studyfirstpostdate": "StudyFirstPostDate",
    "startdate": "StartDate", "completiondate": "CompletionDate",
    "overallstatus": "OverallStatus", "condition": "Condition",
    "interventionname": "InterventionName", "brieftitle": "BriefTitle", "nctid": "NCTId",
}
_DATE_AREAS = {"LastUpdatePostDate", "StudyFirstPostDate", "StartDate", "CompletionDate"}


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise BadRequest("the search ends where a term was expected")
        self.i += 1
        return tok

    def parse(self) -> Pred:
        if not self.tokens:
            raise BadRequest("empty search expression")
        pred = self.expr()
        if self.peek() is not None:
            raise BadRequest(f"unexpected {self.peek().value!r}")  # type: ignore[union-attr]
        return pred

    def expr(self, area: str | None = None) -> Pred:
        parts = [self.conj(area)]
        while (tok := self.peek()) and tok == _Tok("op", "OR"):
            self.take()
            parts.append(self.conj(area))
        return parts[0] if len(parts) == 1 else (lambda d: any(p(d) for p in parts))

    def conj(self, area: str | None) -> Pred:
        parts = [self.unary(area)]
        while (tok := self.peek()) and tok.kind != "rpar" and tok != _Tok("op", "OR"):
            if tok == _Tok("op", "AND"):
                self.take()
            parts.append(self.unary(area))
        return parts[0] if len(parts) == 1 else (lambda d: all(p(d) for p in parts))

    def unary(self, area: str | None) -> Pred:
        if self.peek() == _Tok("op", "NOT"):
            self.take()
            inner = self.unary(area)
            return lambda d: not inner(d)
        return self.primary(area)

    def primary(self, area: str | None) -> Pred:
        """A term; inside ``AREA[X]`` (``area``) every term searches X only."""
        tok = self.take()
        if tok.kind == "lpar":
            inner = self.expr(area)
            if self.peek() is None or self.take().kind != "rpar":
                raise BadRequest("unbalanced parentheses")
            return inner
        if tok.kind == "area":
            name = _AREAS.get(tok.value.strip().lower())
            if name is None:
                raise BadRequest(f"unknown area {tok.value!r} in AREA[]")
            return self.primary(name)
        if tok.kind == "range":
            if area is None or area not in _DATE_AREAS:
                raise BadRequest("RANGE[] needs a date AREA[] before it")
            return _range(area, tok.value)
        if tok.kind in ("word", "phrase"):
            words = _WORD.findall(tok.value.lower())
            scope = [area] if area else None
            return lambda d: bool(words) and any(
                _contains(w, words) for a in (scope or d.default) for w in d.fields.get(a, []))
        raise BadRequest(f"unexpected {tok.value or tok.kind!r}")


def _contains(text: str, words: list[str]) -> bool:
    have = text.split()
    n = len(words)
    return any(have[i:i + n] == words for i in range(len(have) - n + 1))


def _bound(text: str, low: bool) -> date:
    text = text.strip()
    if text.upper() == "MIN":
        return date.min
    if text.upper() == "MAX":
        return date.max
    try:
        return _day(text, end=not low)
    except ValueError:
        raise BadRequest(f"RANGE[] bound {text!r} is not a date (YYYY-MM-DD)") from None


def _day(text: str, *, end: bool = False) -> date:
    if len(text) == 7:
        first = date.fromisoformat(text + "-01")
        if not end:
            return first
        nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return date.fromordinal(nxt.toordinal() - 1)
    return date.fromisoformat(text)


def _range(area: str, spec: str) -> Pred:
    parts = spec.split(",")
    if len(parts) != 2:
        raise BadRequest(f"RANGE[{spec}] needs two bounds")
    lo, hi = _bound(parts[0], True), _bound(parts[1], False)

    def pred(doc: _Doc) -> bool:
        for value in doc.fields.get(area + ":date", []):
            try:
                when = _day(value)
            except ValueError:
                continue
            if lo <= when <= hi:
                return True
        return False

    return pred


def compile_search(text: str) -> Pred:
    """A search expression as a predicate over studies (:class:`BadRequest` if malformed)."""
    return _Parser(_lex(text)).parse()


def _words(values: list[Any]) -> list[str]:
    return [" ".join(_WORD.findall(str(v).lower())) for v in values if v]


def _doc(study: dict[str, Any], default: list[str]) -> _Doc:
    ps = study.get("protocolSection", {})
    ident = ps.get("identificationModule", {})
    status = ps.get("statusModule", {})
    sponsors = ps.get("sponsorCollaboratorsModule", {})
    titles = [ident.get("briefTitle"), ident.get("officialTitle"), ident.get("acronym")]
    conditions = ps.get("conditionsModule", {}).get("conditions", [])
    interventions = [i.get("name") for i in ps.get("armsInterventionsModule", {})
                     .get("interventions", [])]
    sponsor_names = [sponsors.get("leadSponsor", {}).get("name")] + [
        c.get("name") for c in sponsors.get("collaborators", [])]
    fields = {
        "titles": _words(titles),
        "BriefTitle": _words([ident.get("briefTitle")]),
        "Condition": _words(conditions),
        "InterventionName": _words(interventions),
        "OverallStatus": _words([status.get("overallStatus")]),
        "NCTId": _words([ident.get("nctId")]),
        "sponsors": _words(sponsor_names),
    }
    for area, key in (("LastUpdatePostDate", "lastUpdatePostDateStruct"),
                      ("StudyFirstPostDate", "studyFirstPostDateStruct"),
                      ("StartDate", "startDateStruct"),
                      ("CompletionDate", "completionDateStruct")):
        when = status.get(key, {}).get("date")
        fields[area + ":date"] = [when] if when else []
    return _Doc(study, fields, default)


_SCOPES = {
    "query.cond": ["Condition", "titles"],
    "query.intr": ["InterventionName", "titles"],
    "query.term": ["titles", "Condition", "InterventionName", "sponsors", "NCTId"],
}


# -- the server -------------------------------------------------------------------


def _text(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, headers={"Content-Type": "text/plain"},
                          content=message.encode("utf-8"))


def _json(data: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, headers={"Content-Type": "application/json"},
                          content=json.dumps(data, ensure_ascii=False,
                                             separators=(",", ":")).encode("utf-8"))


class RecordedCall(NamedTuple):
    """One request the stand-in answered: ``studies`` or ``study``, and its parameters."""

    endpoint: str
    params: dict[str, str]


class CtgovStandin:
    """A ClinicalTrials.gov API v2 server over a :class:`RegistrySnapshot`, as an httpx
    handler, showing the registry as it stood on ``as_of`` (today when None)."""

    def __init__(self, snapshot: RegistrySnapshot, *, as_of: date | None = None) -> None:
        self.snapshot = snapshot
        self.as_of = as_of
        self.requests: list[RecordedCall] = []
        self._lock = threading.Lock()

    def count(self, endpoint: str | None = None) -> int:
        """How many requests were made (to ``endpoint``, if given)."""
        return sum(1 for r in self.requests if endpoint is None or r.endpoint == endpoint)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params.multi_items())
        segments = [s for s in request.url.path.split("/") if s]
        if request.method != "GET":
            return _text(405, f"Method {request.method} is not allowed")
        if segments and segments[-1] == "studies":
            endpoint = "studies"
        elif len(segments) >= 2 and segments[-2] == "studies":
            endpoint = "study"
        else:
            return _text(404, f"Not found: {request.url.path}")
        with self._lock:
            self.requests.append(RecordedCall(endpoint, params))
        try:
            if endpoint == "studies":
                return self._search(params)
            return self._study(segments[-1], params)
        except BadRequest as exc:
            return _text(400, str(exc))

    def _view(self) -> dict[str, dict[str, Any]]:
        return self.snapshot.view(self.as_of or date.today())

    @staticmethod
    def _common(params: Mapping[str, str], allowed: frozenset[str]) -> Callable[
            [dict[str, Any]], dict[str, Any]]:
        for name in params:
            if name not in allowed and not name.startswith("filter."):
                raise BadRequest(f"{name} is unknown parameter")
            if name.startswith("filter."):
                raise BadRequest(f"{name} is not supported by the kettrack stand-in")
        fmt = params.get("format", "json")
        if fmt != "json":
            raise BadRequest(f"format {fmt!r}: the kettrack stand-in serves json only")
        return _field_filter(params.get("fields", ""))

    def _search(self, params: Mapping[str, str]) -> httpx.Response:
        select = self._common(params, _PARAMS)
        preds = []
        for name, scope in _SCOPES.items():
            text = params.get(name, "").strip()
            if text:
                try:
                    pred = compile_search(text)
                except BadRequest as exc:
                    raise BadRequest(f"{name}: {exc}") from None
                preds.append((pred, scope))
        size_text = params.get("pageSize", "")
        try:
            size = int(size_text) if size_text else DEFAULT_PAGE_SIZE
        except ValueError:
            raise BadRequest(f"pageSize: {size_text!r} is not an integer") from None
        if size < 0 or size > MAX_PAGE_SIZE:
            raise BadRequest(f"pageSize must be between 0 and {MAX_PAGE_SIZE}, not {size}")
        size = size or DEFAULT_PAGE_SIZE
        count_total = params.get("countTotal", "false").lower()
        if count_total not in ("true", "false"):
            raise BadRequest(f"countTotal must be true or false, not {count_total!r}")
        fingerprint = hashlib.sha1(json.dumps(
            [params.get(n, "") for n in (*_SCOPES, "fields")]).encode()).hexdigest()[:10]
        offset = 0
        token = params.get("pageToken")
        if token is not None:
            offset = _read_token(token, fingerprint)
        hits = []
        for study in self._view().values():
            if all(pred(_doc(study, scope)) for pred, scope in preds):
                hits.append(study)
        page = hits[offset:offset + size]
        out: dict[str, Any] = {"studies": [select(s) for s in page]}
        if count_total == "true" and token is None:
            out["totalCount"] = len(hits)
        if offset + size < len(hits):
            out["nextPageToken"] = _make_token(offset + size, fingerprint)
        return _json(out)

    def _study(self, nct: str, params: Mapping[str, str]) -> httpx.Response:
        select = self._common(params, frozenset({"format", "fields", "markupFormat"}))
        if not _NCT.match(nct):
            raise BadRequest(f"{nct} is not a valid NCT number")
        study = self._view().get(nct)
        if study is None:
            return _text(404, f"Study {nct} not found")
        return _json(select(study))


def _make_token(offset: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(f"{offset}:{fingerprint}".encode()).decode().rstrip("=")


def _read_token(token: str, fingerprint: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        offset_text, seen = raw.split(":", 1)
        offset = int(offset_text)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(f"pageToken {token!r} is not valid") from None
    if seen != fingerprint or offset < 0:
        raise BadRequest(f"pageToken {token!r} does not belong to this search")
    return offset


def _field_filter(spec: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What ``fields`` keeps of a study (everything when not given)."""
    names = [n.strip() for n in re.split(r"[,|]", spec) if n.strip()]
    if not names:
        return lambda s: s
    modules: set[str] = set()
    whole = has_results = False
    for name in names:
        key = name.lower().removeprefix("protocolsection.")
        if key in ("protocolsection",):
            whole = True
        elif key == "hasresults":
            has_results = True
        elif key == "nctid":
            modules.add("identificationModule")
        elif key in _MODULES:
            modules.add(_MODULES[key])
        else:
            raise BadRequest(f"fields: unknown field {name!r}")

    def select(study: dict[str, Any]) -> dict[str, Any]:
        ps = study.get("protocolSection", {})
        out: dict[str, Any] = {"protocolSection": copy.deepcopy(ps) if whole else {
            m: copy.deepcopy(ps[m]) for m in ps if m in modules}}
        if has_results:
            out["hasResults"] = bool(study.get("hasResults"))
        return out

    return select
