"""Live checks against the real NCBI and ClinicalTrials.gov services.

Opt in with ``python -m pytest -m live --force-enable-socket``; the default run
deselects them (pyproject's addopts) and blocks sockets. They assert only what
is stable about the real services: shapes, not counts.
"""

from __future__ import annotations

import pytest

from kettrack.library.article import Article
from kettrack.settings import Settings
from kettrack.sources import pubmed
from kettrack.sources.ctgov import CtgovClient, parse_registry_term
from kettrack.sources.eutils import EutilsClient

pytestmark = pytest.mark.live


def test_real_esearch_and_efetch() -> None:
    with EutilsClient(Settings.from_env()) as client:
        outcome = client.search_ids('ketamine[tiab] AND "alcohol use disorder"[tiab]')
        assert outcome.count >= 10 and len(outcome.ids) == outcome.count
        records = [a for a in pubmed.parse_efetch(client.efetch(outcome.ids[:3]))
                   if isinstance(a, Article)]
    assert {a.pmid for a in records} == set(outcome.ids[:3])
    assert all(a.title and a.entrez_date for a in records)


def test_real_phrase_not_found_is_reported() -> None:
    with EutilsClient(Settings.from_env()) as client:
        page = client.esearch("ketamine AND zzqxkettrack", retmax=0, usehistory=False)
    assert "PhraseNotFound" in page.errors


def test_real_clinicaltrials_search() -> None:
    with CtgovClient(Settings.from_env()) as client:
        search = parse_registry_term("cond: alcohol use disorder; intr: ketamine")
        assert client.count(search) >= 1
