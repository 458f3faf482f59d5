"""The Article model: its stored record, source hash, identifiers and flags."""

from __future__ import annotations

import dataclasses

from kettrack.library.article import (
    AbstractSection,
    Article,
    Correction,
    MeshHeading,
    PublicationType,
    VersionLink,
)
from kettrack.library.identifiers import is_reserved_pmid, normalise_doi, pmid_label
from kettrack.sources import pubmed

from .conftest import fixture_bytes


def full_article() -> Article:
    return Article(
        pmid="29768149", title="T", abstract_sections=[AbstractSection("x", "METHODS", "METHODS")],
        doi="10.1/x", pmcid="PMC1", pii="S1", authors=["Grabski M"], journal="J",
        journal_iso="J", volume="1", issue="2", pages="3-4", pub_date="2022 Spring", year=2022,
        entrez_date="2022-01-11", languages=["eng"],
        publication_types=[PublicationType("Randomized Controlled Trial", "D016449")],
        mesh=[MeshHeading("Ketamine", "D007649", True, [("therapeutic use", True)])],
        keywords=["ketamine"], nct_ids=["NCT02649231"], other_trial_ids=["ISRCTN1"],
        corrections=[Correction("ErratumIn", "2", "J 2022")], citation_status="MEDLINE",
        publication_status="ppublish", is_book=False, design="rct", species="human",
        sample_size=96,
    )


#: the Europe PMC fields, stored only when set (a PubMed record's fingerprint is unchanged)
PREPRINT_FIELDS = {"epmc_source", "epmc_id", "is_preprint", "preprint_server", "version",
                   "withdrawn", "version_links", "revised_on"}


def test_record_covers_every_field_and_round_trips() -> None:
    article = full_article()
    data = article.to_record()
    assert {f.name for f in dataclasses.fields(Article)} - PREPRINT_FIELDS == set(data)
    assert Article.from_record(data) == article
    preprint = dataclasses.replace(
        article, epmc_source="PPR", epmc_id="PPR1", is_preprint=True, preprint_server="medRxiv",
        version="2", version_links=[VersionLink("preprint in", "MED", "3", None)],
        revised_on="2022-02-01")
    data = preprint.to_record()
    assert {f.name for f in dataclasses.fields(Article)} == set(data)
    assert Article.from_record(data) == preprint
    assert preprint.source_hash() != article.source_hash()


def test_real_record_round_trips_through_the_stored_record() -> None:
    for item in pubmed.parse_efetch(fixture_bytes("pubmed-29768149.xml")):
        assert isinstance(item, Article)
        assert Article.from_record(item.to_record()) == item


def test_source_hash_is_what_the_source_said_not_kettracks_judgement() -> None:
    article = full_article()
    before = article.source_hash()
    article.design, article.species, article.sample_size = "other", None, None
    assert article.source_hash() == before  # a better classifier is not a revision
    article.title = "T, revised"
    assert article.source_hash() != before


def test_an_older_stored_record_with_output_keys_still_reads() -> None:
    # libraries written before this version stored output keys (queries, url ...) too
    data = {**full_article().to_record(), "queries": [], "url": "x", "retracted": False}
    assert Article.from_record(data) == full_article()


def test_reserved_pmids_never_link_to_pubmed() -> None:
    assert is_reserved_pmid("9900000001") and not is_reserved_pmid("29768149")
    assert not is_reserved_pmid(None)
    # a work keyed by a Europe PMC preprint id or a PMCID is never shown as a PMID either
    assert is_reserved_pmid("PPR123") and is_reserved_pmid("PMC5")
    assert pmid_label("PPR123") == "Europe PMC record PPR123, no PMID"
    assert Article(pmid="PPR123", doi="10.1101/x").url == "https://doi.org/10.1101/x"
    assert Article(pmid="9900000001", doi="10.1/x").url == "https://doi.org/10.1/x"
    assert Article(pmid="9900000001").url is None
    assert Article(pmid="29768149").url == "https://pubmed.ncbi.nlm.nih.gov/29768149/"


def test_doi_normalisation() -> None:
    for form in ("10.1176/APPI.AJP.2021.21030277", "doi:10.1176/appi.ajp.2021.21030277",
                 "https://doi.org/10.1176/appi.ajp.2021.21030277",
                 "http://dx.doi.org/10.1176/appi.ajp.2021.21030277"):
        assert normalise_doi(form) == "10.1176/appi.ajp.2021.21030277"
    assert normalise_doi("") is None and normalise_doi(None) is None


def test_flags() -> None:
    article = full_article()
    assert article.has_erratum and not article.retracted and not article.has_concern
    article.corrections.append(Correction("RetractionIn", "3"))
    assert article.retracted
    assert Article(pmid="1", publication_types=[PublicationType("Retracted Publication")]).retracted
    assert article.abstract == "METHODS: x"


def test_pmid_label_never_calls_a_snapshot_id_a_pmid() -> None:
    assert pmid_label("29768149") == "PMID 29768149"
    assert pmid_label("9900000013") == "snapshot record 9900000013, PMID unknown"
