"""Registered trials: where a CT.gov study is normalised, stored, compared and linked.

A v2 study becomes a :class:`Trial` (:func:`normalise`). Trials are keyed by NCT
number in ``trials``; the saved registry queries that found one are
``trial_memberships``; a revision that matters is an ``events`` row with
``nct_id`` set and ``pmid`` NULL:

- ``trial_status_changed`` ``{"from", "to"}``: the overall status changed;
- ``trial_results_posted`` ``{}``: results appeared on the registry;
- ``trial_completion_changed`` ``{"from", "to"}``: the completion date moved.

A new trial is not an event: it is a row whose ``first_seen_run`` is the run
that found it (the digest lists those as newly registered).

Publications and trials are linked both ways (:func:`linked_pmids`,
:func:`trials_for_article`): NCT numbers a PubMed record names (its DataBankList
and abstract, kept in ``article_trial_ids``) and PMIDs the registry lists in its
references (``trials.reference_pmids``).

:func:`run_registry_queries` is the registry step of ``kettrack run``: per saved
query, a backfill the first time a query version runs and afterwards only the
studies updated since its last run (``AREA[LastUpdatePostDate]``), each query's
step in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from kettrack.errors import QueryFileError, QuerySyntaxError
from kettrack.library.store import Library, StoredBatch, utcnow
from kettrack.queries import SavedQuery
from kettrack.sources.ctgov import CtgovClient, RegistrySearch, parse_registry_term

#: statuses under which a trial has not produced evidence yet
ONGOING_STATUSES = frozenset({
    "NOT_YET_RECRUITING", "RECRUITING", "ENROLLING_BY_INVITATION", "ACTIVE_NOT_RECRUITING",
})


@dataclass
class Trial:
    """One registered trial, as kettrack keeps it."""

    nct_id: str
    title: str = ""
    official_title: str | None = None
    acronym: str | None = None
    overall_status: str | None = None
    phases: list[str] = field(default_factory=list)
    allocation: str | None = None
    enrollment: int | None = None
    enrollment_type: str | None = None
    sponsor: str | None = None
    collaborators: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    interventions: list[str] = field(default_factory=list)
    start_date: str | None = None
    start_date_type: str | None = None
    primary_completion_date: str | None = None
    primary_completion_type: str | None = None
    completion_date: str | None = None
    completion_type: str | None = None
    first_posted: str | None = None
    last_update_posted: str | None = None
    has_results: bool = False
    reference_pmids: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://clinicaltrials.gov/study/{self.nct_id}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["url"] = self.url
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Trial:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def record_hash(self) -> str:
        """Changes when anything kettrack keeps changes."""
        text = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha1(text.encode()).hexdigest()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _date(struct: Any) -> tuple[str | None, str | None]:
    struct = _dict(struct)
    return _str(struct.get("date")), _str(struct.get("type"))


def normalise(study: dict[str, Any]) -> Trial:
    """A v2 study (``{"protocolSection": ..., "hasResults": ...}``) as a :class:`Trial`.

    Tolerates a fields-limited answer: absent modules leave their fields empty.
    Raises ``ValueError`` when the study has no NCT number.
    """
    ps = _dict(study.get("protocolSection"))
    ident = _dict(ps.get("identificationModule"))
    status = _dict(ps.get("statusModule"))
    design = _dict(ps.get("designModule"))
    sponsors = _dict(ps.get("sponsorCollaboratorsModule"))
    nct = _str(ident.get("nctId"))
    if not nct:
        raise ValueError("a study without identificationModule.nctId")
    enrollment = _dict(design.get("enrollmentInfo"))
    count = enrollment.get("count")
    start, start_type = _date(status.get("startDateStruct"))
    primary, primary_type = _date(status.get("primaryCompletionDateStruct"))
    completion, completion_type = _date(status.get("completionDateStruct"))
    posted, _ = _date(status.get("studyFirstPostDateStruct"))
    updated, _ = _date(status.get("lastUpdatePostDateStruct"))
    interventions = []
    for item in _list(_dict(ps.get("armsInterventionsModule")).get("interventions")):
        name = _str(_dict(item).get("name"))
        if name and name not in interventions:
            interventions.append(name)
    pmids = []
    for ref in _list(_dict(ps.get("referencesModule")).get("references")):
        pmid = _str(_dict(ref).get("pmid"))
        if pmid and pmid.isdigit() and pmid not in pmids:
            pmids.append(pmid)
    return Trial(
        nct_id=nct.upper(),
        title=_str(ident.get("briefTitle")) or "",
        official_title=_str(ident.get("officialTitle")),
        acronym=_str(ident.get("acronym")),
        overall_status=_str(status.get("overallStatus")),
        phases=[str(p) for p in _list(design.get("phases"))],
        allocation=_str(_dict(design.get("designInfo")).get("allocation")),
        enrollment=int(count) if isinstance(count, int) else None,
        enrollment_type=_str(enrollment.get("type")),
        sponsor=_str(_dict(sponsors.get("leadSponsor")).get("name")),
        collaborators=[n for c in _list(sponsors.get("collaborators"))
                       if (n := _str(_dict(c).get("name")))],
        conditions=[str(c) for c in _list(_dict(ps.get("conditionsModule")).get("conditions"))],
        interventions=interventions,
        start_date=start, start_date_type=start_type,
        primary_completion_date=primary, primary_completion_type=primary_type,
        completion_date=completion, completion_type=completion_type,
        first_posted=posted, last_update_posted=updated,
        has_results=bool(study.get("hasResults")),
        reference_pmids=pmids,
    )


def compare(old: Trial, new: Trial) -> list[tuple[str, dict[str, Any]]]:
    """The events a revision of a registry record amounts to (may be empty)."""
    events: list[tuple[str, dict[str, Any]]] = []
    if new.overall_status != old.overall_status:
        events.append(("trial_status_changed",
                       {"from": old.overall_status, "to": new.overall_status}))
    if new.has_results and not old.has_results:
        events.append(("trial_results_posted", {}))
    if new.completion_date != old.completion_date:
        events.append(("trial_completion_changed",
                       {"from": old.completion_date, "to": new.completion_date}))
    return events


# -- storing -------------------------------------------------------------------


def _row(trial: Trial, study: dict[str, Any], now: str) -> dict[str, Any]:
    return {
        "nct_id": trial.nct_id,
        "title": trial.title,
        "official_title": trial.official_title,
        "acronym": trial.acronym,
        "overall_status": trial.overall_status,
        "phases": json.dumps(trial.phases),
        "allocation": trial.allocation,
        "enrollment": trial.enrollment,
        "enrollment_type": trial.enrollment_type,
        "sponsor": trial.sponsor,
        "conditions": json.dumps(trial.conditions, ensure_ascii=False),
        "interventions": json.dumps(trial.interventions, ensure_ascii=False),
        "start_date": trial.start_date,
        "start_date_type": trial.start_date_type,
        "primary_completion_date": trial.primary_completion_date,
        "primary_completion_type": trial.primary_completion_type,
        "completion_date": trial.completion_date,
        "completion_type": trial.completion_type,
        "first_posted": trial.first_posted,
        "last_update_posted": trial.last_update_posted,
        "has_results": int(trial.has_results),
        "reference_pmids": json.dumps(trial.reference_pmids),
        "data": json.dumps({"trial": trial.to_json(), "study": study}, ensure_ascii=False),
        "record_hash": trial.record_hash(),
        "fetched_at": now,
    }


def store_trials(conn: sqlite3.Connection, studies: Sequence[dict[str, Any]], qv_id: int,
                 run_id: int) -> StoredBatch:
    """Insert new trials, update revised ones, note memberships and events.

    Runs inside the caller's transaction (``conn``); one bad study (no NCT
    number) is skipped, not fatal.
    """
    result = StoredBatch()
    now = utcnow()
    for study in studies:
        try:
            trial = normalise(study)
        except ValueError:
            continue
        row = _row(trial, study, now)
        old = conn.execute("SELECT record_hash, data FROM trials WHERE nct_id = ?",
                           (trial.nct_id,)).fetchone()
        if old is None:
            row.update(first_seen_run=run_id, first_seen_at=now)
            conn.execute(f"INSERT INTO trials ({', '.join(row)}) VALUES "
                         f"({', '.join('?' * len(row))})", list(row.values()))
            result.new.append(trial.nct_id)
        elif old[0] != row["record_hash"]:
            row.update(updated_run=run_id, updated_at=now)
            conn.execute(f"UPDATE trials SET {', '.join(f'{c} = ?' for c in row)} "
                         "WHERE nct_id = ?", [*row.values(), trial.nct_id])
            before = Trial.from_json(json.loads(old[1])["trial"])
            for kind, detail in compare(before, trial):
                result.events.append((trial.nct_id, kind, detail))
            result.updated.append(trial.nct_id)
        else:
            conn.execute("UPDATE trials SET fetched_at = ? WHERE nct_id = ?",
                         (now, trial.nct_id))
            result.unchanged.append(trial.nct_id)
        conn.execute("INSERT OR IGNORE INTO trial_memberships (nct_id, query_version_id, "
                     "run_id) VALUES (?, ?, ?)", (trial.nct_id, qv_id, run_id))
    conn.executemany(
        "INSERT INTO events (pmid, nct_id, run_id, kind, detail, created_at) "
        "VALUES (NULL, ?, ?, ?, ?, ?)",
        [(nct, run_id, kind, json.dumps(detail), now) for nct, kind, detail in result.events],
    )
    return result


# -- the registry step of a run ---------------------------------------------------


@dataclass
class RegistryOutcome:
    """One registry query's result in a run."""

    query: SavedQuery
    count: int
    new: list[str]
    updated: list[str]
    events: int
    backfill: bool
    since: date | None
    #: the ``query.*`` parameters sent, shown as the query's "translation"
    params: dict[str, str]


def registry_searches(queries: Sequence[SavedQuery]) -> list[tuple[SavedQuery, RegistrySearch]]:
    """Parse every registry query's term first, so a bad file fails before any request."""
    out = []
    for query in queries:
        if query.source != "clinicaltrials":
            continue
        try:
            out.append((query, parse_registry_term(query.term)))
        except QuerySyntaxError as exc:
            where = query.path or query.name
            raise QueryFileError(f"{where}: term: {exc}") from None
    return out


def translation(params: dict[str, str]) -> str:
    """The ``query.*`` parameters sent, as one line: what a registry query "translates" to."""
    return " & ".join(f"{k}={v}" for k, v in params.items())


def check_query(client: CtgovClient, query: SavedQuery) -> dict[str, Any]:
    """``kettrack queries check`` for a registry query, in one request.

    Returns the shape PubMed queries have there (``name``, ``count``,
    ``translation``, ``errors``, ``warnings``) plus ``source`` and ``params``.
    ClinicalTrials.gov has no translation and no warnings of its own, so the
    translation is the ``query.*`` parameters sent, and a search that finds no
    study is the warning. A term kettrack cannot parse, or one CT.gov answers
    with HTTP 400, is a :class:`QueryFileError` naming the query file.
    """
    ((_, search),) = registry_searches([query])
    params = search.params()
    try:
        count = client.count(search)
    except QuerySyntaxError as exc:
        raise QueryFileError(f"{query.path or query.name}: {exc}") from None
    warnings = {"OutputMessage": ["No studies found."]} if count == 0 else {}
    return {"name": query.name, "source": "clinicaltrials", "count": count,
            "translation": translation(params), "params": params, "errors": {},
            "warnings": warnings}


def last_synced(library: Library, qv_id: int) -> date | None:
    """The day a query version last ran against the registry (None: never)."""
    row = library.db.execute("SELECT synced_on FROM trial_query_syncs WHERE "
                             "query_version_id = ?", (qv_id,)).fetchone()
    return date.fromisoformat(row[0]) if row else None


def run_registry_queries(library: Library, client: CtgovClient,
                         queries: Sequence[SavedQuery], run_id: int, *,
                         today: date | None = None) -> list[RegistryOutcome]:
    """Run the saved registry queries among ``queries`` into ``library``.

    A query version's first run backfills (every study it finds); later runs
    fetch only studies updated on or after the day of its last run (the day
    itself is repeated so an update posted later that day is not missed; an
    unchanged study is no event). ``count`` is the source's hit count for the
    whole query. Each query's step (trials, memberships, events, its summary
    and the day it ran) is one transaction.
    """
    day = today or date.today()
    outcomes = []
    for query, search in registry_searches(queries):
        qv_id, is_new_version = library.query_version_id(query, run_id)
        since = None if is_new_version else last_synced(library, qv_id)
        found = client.search(search, since=since)
        count = found.total or 0
        if since is not None:
            count = client.count(search)
        with library.transaction() as conn:
            stored = store_trials(conn, found.studies, qv_id, run_id)
            # Counted as PubMed queries are: a trial two queries find in one run is
            # new (or updated) for both, though stored, and evented, once.
            hits = list(dict.fromkeys(n for s in found.studies if (n := _nct_of(s))))
            q_new, q_updated = _changed_in_run(conn, hits, run_id)
            conn.execute("UPDATE query_versions SET last_run = ?, last_count = ? WHERE id = ?",
                         (run_id, count, qv_id))
            conn.execute(
                "INSERT OR REPLACE INTO run_queries (run_id, query_version_id, count, new, "
                "updated) VALUES (?, ?, ?, ?, ?)", (run_id, qv_id, count, len(q_new),
                                                   len(q_updated)))
            conn.execute(
                "INSERT OR REPLACE INTO trial_query_syncs (query_version_id, run_id, synced_on) "
                "VALUES (?, ?, ?)", (qv_id, run_id, day.isoformat()))
        outcomes.append(RegistryOutcome(
            query=query, count=count, new=q_new, updated=q_updated,
            events=len(stored.events), backfill=is_new_version or since is None, since=since,
            params=search.params(since),
        ))
    return outcomes


def _nct_of(study: dict[str, Any]) -> str | None:
    ident = _dict(_dict(study.get("protocolSection")).get("identificationModule"))
    nct = _str(ident.get("nctId"))
    return nct.upper() if nct else None


def _changed_in_run(conn: sqlite3.Connection, ncts: Sequence[str],
                    run_id: int) -> tuple[list[str], list[str]]:
    """Which of ``ncts`` this run first stored, and which it updated."""
    new, updated = [], []
    for nct in ncts:
        row = conn.execute("SELECT first_seen_run, updated_run FROM trials WHERE nct_id = ?",
                           (nct,)).fetchone()
        if row and row[0] == run_id:
            new.append(nct)
        elif row and row[1] == run_id:
            updated.append(nct)
    return new, updated


# -- reading and linking ------------------------------------------------------------


def trial(library: Library, nct_id: str) -> Trial | None:
    """The stored trial, or None."""
    row = library.db.execute("SELECT data FROM trials WHERE nct_id = ?",
                             (nct_id.upper(),)).fetchone()
    return Trial.from_json(json.loads(row[0])["trial"]) if row else None


def linked_pmids(library: Library, nct_id: str) -> list[str]:
    """PMIDs linked to a trial either way: papers naming the NCT number, and the
    registry's own references (held in the library or not)."""
    nct = nct_id.upper()
    from_papers = [r[0] for r in library.db.execute(
        "SELECT pmid FROM article_trial_ids WHERE trial_id = ? ORDER BY pmid", (nct,))]
    row = library.db.execute("SELECT reference_pmids FROM trials WHERE nct_id = ?",
                             (nct,)).fetchone()
    from_registry = json.loads(row[0]) if row and row[0] else []
    return list(dict.fromkeys([*from_papers, *from_registry]))


def trials_for_article(library: Library, pmid: str) -> list[dict[str, Any]]:
    """The registered trials linked to a paper, either way, with their current status.

    Each item: ``nct_id``, ``title``, ``overall_status`` (None when the trial is
    not in the library), ``has_results``, ``ongoing``, ``url``, and ``via``
    (``"paper"``, ``"registry"`` or both).
    """
    via: dict[str, list[str]] = {}
    for (nct,) in library.db.execute(
        "SELECT trial_id FROM article_trial_ids WHERE pmid = ? AND trial_id LIKE 'NCT%' "
        "ORDER BY trial_id", (pmid,)
    ):
        via.setdefault(str(nct).upper(), []).append("paper")
    for (nct,) in library.db.execute(
        "SELECT t.nct_id FROM trials t, json_each(t.reference_pmids) j WHERE j.value = ? "
        "ORDER BY t.nct_id", (pmid,)
    ):
        via.setdefault(str(nct), []).append("registry")
    out = []
    for nct, how in sorted(via.items()):
        held = trial(library, nct)
        out.append({
            "nct_id": nct,
            "title": held.title if held else None,
            "overall_status": held.overall_status if held else None,
            "has_results": held.has_results if held else False,
            "ongoing": bool(held and held.overall_status in ONGOING_STATUSES),
            "url": f"https://clinicaltrials.gov/study/{nct}",
            "via": how,
        })
    return out


# -- a trial as an answer in search and check ------------------------------------------

#: the ``design`` a registered trial carries among search and check results (as in the
#: digest): not a study design, a registry record, ranked after every published design
REGISTERED_DESIGN = "registered-trial"
#: a registered trial stopped before it produced results
STOPPED_STATUSES = frozenset({"TERMINATED", "SUSPENDED", "WITHDRAWN"})


def _status_words(status: str | None) -> str:
    return status.lower().replace("_", " ") if status else "status unknown"


def evidence_note(held: Trial, publications: Sequence[dict[str, Any]]) -> str:
    """What a registered trial can tell a writer, in one sentence.

    Still under way: not evidence yet. Completed without results posted: says
    so. Results posted: points to the linked publications (``publications``:
    ``{"pmid", "design", "in_library"}`` dicts, see :func:`linked_publications`).
    """
    status = held.overall_status
    papers = "; ".join(
        f"PMID {p['pmid']}" + (f" ({p['design']})" if p.get("design") else
                               "" if p.get("in_library") else " (not in the library)")
        for p in publications)
    if status in ONGOING_STATUSES:
        note = f"still under way ({_status_words(status)}): not evidence yet"
        if held.has_results:
            note += "; early results posted on ClinicalTrials.gov"
    elif held.has_results:
        return "results posted on ClinicalTrials.gov; " + (
            f"see its publications: {papers}" if papers else "no linked publication yet")
    elif status == "COMPLETED":
        note = "completed, no results posted on ClinicalTrials.gov"
    elif status in STOPPED_STATUSES:
        note = f"{_status_words(status)} before completion, no results posted"
    else:
        note = f"{_status_words(status)}, no results posted"
    return note + (f"; linked publications: {papers}" if papers else "")


def linked_publications(library: Library, nct_id: str) -> list[dict[str, Any]]:
    """The trial's linked PMIDs (:func:`linked_pmids`), each with its design and
    whether the library holds it."""
    pmids = linked_pmids(library, nct_id)
    designs: dict[str, str] = {}
    if pmids:
        marks = ", ".join("?" * len(pmids))
        designs = dict(library.db.execute(
            f"SELECT pmid, design FROM articles WHERE pmid IN ({marks})", pmids).fetchall())
    return [{"pmid": p, "design": designs.get(p), "in_library": p in designs} for p in pmids]


def trial_flags(held: Trial) -> list[str]:
    """``registered-only`` always (a registry record, not a publication), then
    ``under-way``, ``stopped``, ``results-posted`` or ``no-results-posted``."""
    flags = ["registered-only"]
    if held.overall_status in ONGOING_STATUSES:
        flags.append("under-way")
    elif held.overall_status in STOPPED_STATUSES:
        flags.append("stopped")
    flags.append("results-posted" if held.has_results else "no-results-posted")
    return flags


def trial_citation(held: Trial) -> str:
    """A registry citation: title, sponsor, ClinicalTrials.gov identifier and URL."""
    parts = [held.title.rstrip(".") or held.nct_id]
    if held.sponsor:
        parts.append(held.sponsor)
    posted = f" First posted {held.first_posted}." if held.first_posted else ""
    return (". ".join(parts) + f". ClinicalTrials.gov identifier: {held.nct_id}.{posted} "
            f"Available from: {held.url}")


def trial_result(library: Library, nct_id: str) -> dict[str, Any] | None:
    """A registered trial as an item of ``search --json`` / ``check --json``.

    ``item_type: "trial"`` and the registry facts (``nct_id``, ``title``,
    ``overall_status``, ``phases``, ``enrollment``, ``has_results``, ``url``,
    ``linked_pmids``, ``ongoing``, ``evidence``: the one-sentence note of
    :func:`evidence_note`, ``flags``), plus DESIGN.md's article keys with the
    values a registry record has (``pmid`` None, ``design``
    ``"registered-trial"``, ``year`` the year first posted, ``retracted`` False),
    so a consumer reading articles does not break on it. None when the library
    no longer holds the trial.
    """
    held = trial(library, nct_id)
    if held is None:
        return None
    publications = linked_publications(library, held.nct_id)
    queries = [r[0] for r in library.db.execute(
        "SELECT DISTINCT q.name FROM trial_memberships m JOIN query_versions q "
        "ON q.id = m.query_version_id WHERE m.nct_id = ? ORDER BY q.name", (held.nct_id,))]
    year = held.first_posted[:4] if held.first_posted else ""
    return {
        "item_type": "trial",
        "nct_id": held.nct_id,
        "title": held.title,
        "overall_status": held.overall_status,
        "phases": list(held.phases),
        "enrollment": held.enrollment,
        "enrollment_type": held.enrollment_type,
        "has_results": held.has_results,
        "url": held.url,
        "linked_pmids": [p["pmid"] for p in publications],
        "linked_publications": publications,
        "ongoing": held.overall_status in ONGOING_STATUSES,
        "evidence": evidence_note(held, publications),
        "flags": trial_flags(held),
        "sponsor": held.sponsor,
        "conditions": list(held.conditions),
        "interventions": list(held.interventions),
        "first_posted": held.first_posted,
        # DESIGN.md's article keys, as a registry record fills them
        "pmid": None,
        "doi": None,
        "pmcid": None,
        "journal": None,
        "year": int(year) if year.isdigit() else None,
        "authors": [],
        "design": REGISTERED_DESIGN,
        "nct_ids": [held.nct_id],
        "queries": queries,
        "retracted": False,
        "species": None,
        "sample_size": None,
        "citation": trial_citation(held),
    }


def trial_json(library: Library, nct_id: str) -> dict[str, Any] | None:
    """A trial for ``show``: the record, its queries, events and linked publications."""
    held = trial(library, nct_id)
    if held is None:
        return None
    data = held.to_json()
    data["queries"] = [r[0] for r in library.db.execute(
        "SELECT DISTINCT q.name FROM trial_memberships m JOIN query_versions q "
        "ON q.id = m.query_version_id WHERE m.nct_id = ? ORDER BY q.name", (held.nct_id,))]
    data["ongoing"] = held.overall_status in ONGOING_STATUSES
    row = library.db.execute("SELECT first_seen_at, updated_at FROM trials WHERE nct_id = ?",
                             (held.nct_id,)).fetchone()
    data["first_seen_at"], data["updated_at"] = row
    data["events"] = [
        {"kind": kind, "detail": json.loads(detail), "run_id": run_id, "created_at": at}
        for kind, detail, run_id, at in library.db.execute(
            "SELECT kind, detail, run_id, created_at FROM events WHERE nct_id = ? AND pmid IS "
            "NULL ORDER BY id", (held.nct_id,))
    ]
    papers = []
    paper_side = {r[0] for r in library.db.execute(
        "SELECT pmid FROM article_trial_ids WHERE trial_id = ?", (held.nct_id,))}
    for pmid in linked_pmids(library, held.nct_id):
        article = library.article(pmid)
        how = [w for w, ok in (("paper", pmid in paper_side),
                               ("registry", pmid in held.reference_pmids)) if ok]
        papers.append({
            "pmid": pmid,
            "title": article.title if article else None,
            "year": article.year if article else None,
            "design": article.design if article else None,
            "in_library": article is not None,
            "url": article.url if article else f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/",
            "via": how,
        })
    data["publications"] = papers
    return data
