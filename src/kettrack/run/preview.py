"""``kettrack queries check``: how each saved query reads at its source now.

One request per query: its hit count, the source's translation of it (NCBI's
``QueryTranslation``; for a registry query, the ``query.*`` parameters sent)
and its warnings (terms NCBI dropped, a registry search that finds nothing).
Nothing is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from kettrack.errors import QueryFileError, QuerySyntaxError
from kettrack.queries import SavedQuery
from kettrack.run.registry import check_query as check_registry_query
from kettrack.settings import Settings
from kettrack.sources.offline import ctgov_client, europepmc_client, eutils_client


def check_queries(settings: Settings, queries: Sequence[SavedQuery], *, offline: bool = False,
                  as_of: date | None = None) -> list[dict[str, Any]]:
    """The ``query_check`` shape of docs/json.md for each of ``queries``, in order."""
    results: list[dict[str, Any]] = []
    pubmed = [q for q in queries if q.source == "pubmed"]
    registry = [q for q in queries if q.source == "clinicaltrials"]
    found: dict[str, dict[str, Any]] = {}
    if pubmed:
        with eutils_client(settings, offline=offline, as_of=as_of) as client:
            for query in pubmed:
                page = client.esearch(query.term, retmax=0, usehistory=False)
                found[query.name] = {
                    "name": query.name, "source": "pubmed", "count": page.count,
                    "translation": page.translation, "params": {}, "errors": page.errors,
                    "warnings": page.warnings}
    if registry:
        with ctgov_client(settings, offline=offline, as_of=as_of) as ctgov:
            for query in registry:
                found[query.name] = check_registry_query(ctgov, query)
    epmc = [q for q in queries if q.source == "europepmc"]
    if epmc:
        with europepmc_client(settings, offline=offline, as_of=as_of) as client:
            for query in epmc:
                try:
                    count = client.count(query.term)
                except QuerySyntaxError as exc:
                    raise QueryFileError(f"{query.path or query.name}: {exc}") from None
                # Europe PMC has no translation: the query sent is shown as it
                warnings = {"OutputMessage": ["No records found."]} if count == 0 else {}
                found[query.name] = {
                    "name": query.name, "source": "europepmc", "count": count,
                    "translation": query.term, "params": {"query": query.term},
                    "errors": {}, "warnings": warnings}
    results = [found[q.name] for q in queries if q.name in found]
    return results
