"""The registry step of ``kettrack run``: saved ClinicalTrials.gov queries into the library.

Per saved query (``source = "clinicaltrials"``): a backfill the first time a
query version runs (every study it finds), and afterwards only the studies
updated since the day of its last run (``AREA[LastUpdatePostDate]``; the day
itself is repeated so an update posted later that day is not missed, and an
unchanged study is no event). Each query's step is one transaction
(:meth:`kettrack.library.store.Library.store_registry_query`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from kettrack.errors import QueryFileError, QuerySyntaxError
from kettrack.library.store import Library
from kettrack.queries import SavedQuery
from kettrack.sources.ctgov import CtgovClient, RegistrySearch, parse_registry_term


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
            raise QueryFileError(f"{query.path or query.name}: term: {exc}") from None
    return out


def translation(params: dict[str, str]) -> str:
    """The ``query.*`` parameters sent, as one line: what a registry query "translates" to."""
    return " & ".join(f"{k}={v}" for k, v in params.items())


def check_query(client: CtgovClient, query: SavedQuery) -> dict[str, Any]:
    """``kettrack queries check`` for a registry query, in one request (the
    ``query_check`` shape of docs/json.md).

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


def run_registry_queries(library: Library, client: CtgovClient,
                         queries: Sequence[SavedQuery], run_id: int, *,
                         today: date | None = None) -> list[RegistryOutcome]:
    """Run the saved registry queries among ``queries`` into ``library`` (see the
    module docstring). ``count`` is the source's hit count for the whole query."""
    day = today or date.today()
    outcomes = []
    for query, search in registry_searches(queries):
        qv_id, is_new_version = library.query_version_id(query, run_id)
        since = None if is_new_version else library.last_synced(qv_id)
        found = client.search(search, since=since)
        count = found.total or 0
        if since is not None:
            count = client.count(search)
        stored, q_new, q_updated = library.store_registry_query(
            found.studies, qv_id, run_id, count=count, synced_on=day)
        outcomes.append(RegistryOutcome(
            query=query, count=count, new=q_new, updated=q_updated,
            events=len(stored.events), backfill=is_new_version or since is None, since=since,
            params=search.params(since),
        ))
    return outcomes
