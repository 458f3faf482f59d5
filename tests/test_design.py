"""Study design, species and sample size: NLM's indexing first, text before indexing."""

from __future__ import annotations

import pytest

from kettrack.library import design
from kettrack.library.article import AbstractSection, Article, MeshHeading, PublicationType
from kettrack.library.store import compare
from kettrack.sources import pubmed

from .conftest import fixture_bytes


def article(title: str, abstract: str = "", **kw: object) -> Article:
    return Article(pmid="1", title=title, abstract_sections=[AbstractSection(abstract)],
                   **kw)  # type: ignore[arg-type]


def real(name: str, pmid: str) -> Article:
    for item in pubmed.parse_efetch(fixture_bytes(name)):
        if isinstance(item, Article) and item.pmid == pmid:
            return item
    raise AssertionError(f"{pmid} not in {name}")


@pytest.mark.parametrize("name, pmid, expected", [
    ("pubmed-29768149.xml", "29768149", "rct"),          # RCT + Phase III: RCT wins
    ("medline16n0902_sample.xml", "25998582", "rct"),    # publisher-supplied, In-Process
    ("pubmed4.xml", "27797938", "observational"),
    ("efetch.pubmed.xml", "17284678", "preclinical"),    # no Humans MeSH
    ("bp2008_pubmed1.xml", "12091962", "review"),
])
def test_nlm_indexing_decides(name: str, pmid: str, expected: str) -> None:
    record = real(name, pmid)
    assert design.indexed_design(record) == expected
    assert design.design_of(record) == expected


def test_meta_analysis_outranks_systematic_review_and_review() -> None:
    record = article("x", publication_types=[PublicationType("Review"),
                                             PublicationType("Systematic Review"),
                                             PublicationType("Meta-Analysis")])
    assert design.design_of(record) == "meta-analysis"


def test_animals_without_humans_is_preclinical_even_with_trial_words() -> None:
    record = article("A randomized study", mesh=[MeshHeading("Animals"), MeshHeading("Rats")])
    assert design.design_of(record) == "preclinical"
    assert design.species_of(record) == "animal"


def test_silent_indexing_falls_back_to_text() -> None:
    record = article("Ketamine in a retrospective cohort of veterans",
                     publication_types=[PublicationType("Journal Article")],
                     mesh=[MeshHeading("Humans")])
    assert design.indexed_design(record) is None
    assert design.design_of(record) == "observational"


@pytest.mark.parametrize("title, abstract, expected", [
    ("Ketamine for alcohol use disorder: a randomised, double-blind trial", "", "rct"),
    ("Ketamine and drinking", "Participants were randomly assigned to ketamine or midazolam.",
     "rct"),
    ("Ketamine and drinking", "A phase 2 open-label study of 20 adults.", "trial"),
    ("Ketamine and drinking", "Trial registration: NCT01234567. Twelve adults received it.",
     "trial"),
    ("KARE-2: study protocol for a randomized controlled trial", "", "protocol"),
    ("Ketamine for AUD", "Participants will be randomized to ketamine or placebo.", "protocol"),
    ("Ketamine for AUD: a systematic review and meta-analysis", "randomized trials",
     "meta-analysis"),
    ("Ketamine and alcohol", "Following PRISMA, we searched five databases for randomized "
                             "trials.", "systematic-review"),
    ("Ketamine and addiction: a narrative review", "", "review"),
    ("Ketamine and addiction", "In this review we summarize the evidence.", "review"),
    ("Ketamine use and alcohol", "In this retrospective cohort of 1,204 patients, ketamine was "
                                 "associated with fewer readmissions. Randomized controlled "
                                 "trials are needed.", "observational"),
    ("Ketamine in severe alcohol withdrawal", "We report a case of a 45-year-old man.",
     "case-report"),
    ("Ketamine reduces ethanol intake in rats", "Patients are not involved.", "preclinical"),
    ("Ketamine and alcohol", "Male Wistar rats and C57BL/6 mice drank ethanol.", "preclinical"),
    ("Ketamine and alcohol: a comment", "We disagree with the authors.", "other"),
])
def test_text_decides_before_indexing(title: str, abstract: str, expected: str) -> None:
    assert design.design_of(article(title, abstract)) == expected


def test_use_indexing_false_ignores_publication_types() -> None:
    record = article("Ketamine reduces relapse", "A case of a 40-year-old woman.",
                     publication_types=[PublicationType("Randomized Controlled Trial")])
    assert design.design_of(record) == "rct"
    assert design.design_of(record, use_indexing=False) == "case-report"


@pytest.mark.parametrize("abstract, expected", [
    ("We randomized 96 patients with AUD.", 96),
    ("Sample: N = 40 (ketamine n=20, placebo n=20).", 40),
    ("Forty-two adults and 12 heavy-drinking veterans took part.", 42),
    ("A cohort of 1,204 veterans was followed.", 1204),
    ("Ketamine was given for 12 weeks in patients with AUD.", None),
    ("Thirty-six male Wistar rats were trained.", 36),
    ("No numbers here.", None),
])
def test_sample_size(abstract: str, expected: int | None) -> None:
    assert design.sample_size_of(article("t", abstract)) == expected


def test_species_from_text() -> None:
    assert design.species_of(article("Ketamine in veterans", "Forty adults.")) == "human"
    assert design.species_of(article("Ketamine in mice", "C57BL/6 mice.")) == "animal"
    assert design.species_of(article("Ketamine", "Pharmacology.")) is None


def test_indexing_that_changes_design_is_an_event() -> None:
    before = design.classify(article("Ketamine and drinking", "Twenty adults received it."))
    after = design.classify(article("Ketamine and drinking", "Twenty adults received it.",
                                    publication_types=[PublicationType(
                                        "Randomized Controlled Trial")],
                                    citation_status="MEDLINE"))
    assert (before.design, after.design) == ("other", "rct")
    assert ("design_changed", {"from": "other", "to": "rct"}) in compare(before, after)


def test_classify_sets_all_three() -> None:
    record = design.classify(article("Ketamine for AUD: a randomized trial",
                                     "We enrolled 96 patients."))
    assert (record.design, record.species, record.sample_size) == ("rct", "human", 96)
