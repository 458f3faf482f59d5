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


def test_real_elink_citedin_per_paper_and_similar_scores() -> None:
    # Das 2019 (31772157) and Zarate 2006 (16894061) are both cited by many papers
    with EutilsClient(Settings.from_env()) as client:
        cited = client.elink_citedin(["31772157", "16894061"])
        similar = client.elink_similar("31772157", limit=5)
    assert set(cited) == {"31772157", "16894061"} and all(cited.values())
    assert cited["31772157"] != cited["16894061"]  # one LinkSet per paper, not merged
    assert len(similar) == 5 and all(score > 0 for _, score in similar)
    assert "31772157" not in {p for p, _ in similar}


def test_real_doi_resolves_to_one_pmid() -> None:
    with EutilsClient(Settings.from_env()) as client:
        page = client.esearch('"10.1038/s41467-019-13162-w"[aid]', retmax=2, usehistory=False)
    assert page.ids == ["31772157"]
