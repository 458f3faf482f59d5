"""Citations: Vancouver, APA and AMA, from an Article shaped as kettrack stores PubMed's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kettrack.errors import ConfigError
from kettrack.library.article import Article, Correction
from kettrack.library.trial import Trial
from kettrack.tools.cite import (
    ama,
    apa,
    cite,
    cite_item,
    full_pages,
    registry_entry,
    trial_citation,
    vancouver,
)

# The KARE trial's facts as data/corpus/publications.json records them.
KARE = dict(
    pmid="35086349", title="Adjunctive Ketamine With Relapse Prevention-Based Psychological "
    "Therapy in the Treatment of Alcohol Use Disorder",
    authors=["Grabski M", "McAndrew A", "Lawn W", "Marsh B", "Raymen L", "Stevens T",
             "Hardy L", "Warren F", "Bloomfield M", "Borissova A", "Morgan CJA"],
    journal="The American journal of psychiatry", journal_iso="Am J Psychiatry",
    volume="179", issue="2", pages="152-162", pub_date="2022 Feb 01", year=2022,
    doi="10.1176/appi.ajp.2021.21030277",
)


def kare(**changes: object) -> Article:
    return Article(**{**KARE, **changes})  # type: ignore[arg-type]


def test_vancouver() -> None:
    assert vancouver(kare()) == (
        "Grabski M, McAndrew A, Lawn W, Marsh B, Raymen L, Stevens T, et al. Adjunctive "
        "Ketamine With Relapse Prevention-Based Psychological Therapy in the Treatment of "
        "Alcohol Use Disorder. Am J Psychiatry. 2022 Feb 01;179(2):152-162. "
        "doi: 10.1176/appi.ajp.2021.21030277. PMID: 35086349.")


def test_apa() -> None:
    text = apa(kare())
    assert text.startswith("Grabski, M., McAndrew, A., Lawn, W., Marsh, B., Raymen, L., "
                           "Stevens, T., Hardy, L., Warren, F., Bloomfield, M., Borissova, A., "
                           "& Morgan, C. J. A. (2022). Adjunctive Ketamine")
    assert text.endswith("The American journal of psychiatry, 179(2), 152–162. "
                         "https://doi.org/10.1176/appi.ajp.2021.21030277")


def test_apa_more_than_twenty_authors_uses_an_ellipsis() -> None:
    many = [f"Author{i} A" for i in range(25)]
    text = apa(kare(authors=many))
    assert "Author18, A., . . . Author24, A. (2022)." in text
    assert "Author19" not in text


def test_ama() -> None:
    assert ama(kare()) == (
        "Grabski M, McAndrew A, Lawn W, et al. Adjunctive Ketamine With Relapse "
        "Prevention-Based Psychological Therapy in the Treatment of Alcohol Use Disorder. "
        "Am J Psychiatry. 2022;179(2):152-162. doi:10.1176/appi.ajp.2021.21030277")
    assert ama(kare(authors=["Das RK", "Gale G"])).startswith("Das RK, Gale G. Adjunctive")


def test_retraction_is_part_of_the_citation() -> None:
    # Hand-made retraction, not a real one.
    retracted = kare(corrections=[Correction("RetractionIn", "1", "Am J Psychiatry. 2030;1:1")])
    assert vancouver(retracted).endswith(
        "Retraction in: Am J Psychiatry. 2030;1:1. PMID: 35086349.")  # PubMed's order
    assert ama(retracted).endswith("Retracted publication.")
    assert apa(retracted).endswith("(Retraction published)")


def test_sparse_records_and_snapshot_ids() -> None:
    bare = Article(pmid="9900000001", title="A preprint?", journal="medRxiv", year=2025)
    assert vancouver(bare) == "A preprint? medRxiv. 2025."
    assert "PMID" not in vancouver(bare)  # reserved snapshot PMIDs are not PubMed's
    assert apa(bare).startswith("A preprint? (2025).")
    group = kare(authors=["KARE Study Group"])
    assert apa(group).startswith("KARE Study Group (2022).")


def test_unknown_style() -> None:
    assert cite(kare(), "ama") == ama(kare())
    with pytest.raises(ConfigError, match="harvard"):
        cite(kare(), "harvard")


def test_an_erratum_is_part_of_the_citation() -> None:
    # Hand-made erratum notice, shaped as PubMed's CommentsCorrections RefSource.
    corrected = kare(corrections=[Correction("ErratumIn", "2", "Am J Psychiatry. 2022;179(4):310")])
    assert vancouver(corrected).endswith(
        "doi: 10.1176/appi.ajp.2021.21030277. Erratum in: Am J Psychiatry. 2022;179(4):310. "
        "PMID: 35086349.")
    assert "152-162. Erratum in: Am J Psychiatry. 2022;179(4):310. doi:10.1176" in ama(corrected)
    assert apa(corrected).endswith("(Erratum published: Am J Psychiatry. 2022;179(4):310)")
    bare = kare(corrections=[Correction("ErratumIn", None, None)])
    assert "Erratum published." in vancouver(bare)


@pytest.mark.parametrize("changes,vancouver_part,ama_part", [
    (dict(volume=None, issue=None, pages="573-89", pub_date="2021 Jul", year=2021),
     "Am J Psychiatry. 2021 Jul:573-89.", "Am J Psychiatry. 2021:573-589."),
    (dict(volume=None, issue="3", pages="573-89", pub_date="2021 Jul", year=2021),
     "Am J Psychiatry. 2021 Jul;(3):573-89.", "Am J Psychiatry. 2021;(3):573-589."),
    (dict(volume="12", issue=None, pages=None, pub_date="2021 Jul", year=2021),
     "Am J Psychiatry. 2021 Jul;12.", "Am J Psychiatry. 2021;12."),
    (dict(volume=None, issue=None, pages=None, pub_date=None, year=None),
     "Alcohol Use Disorder. Am J Psychiatry. doi:", "Alcohol Use Disorder. Am J Psychiatry. doi:"),
])
def test_missing_volume_issue_or_pages_leave_no_empty_slot(
        changes: dict[str, object], vancouver_part: str, ama_part: str) -> None:
    article = kare(**changes)
    assert vancouver_part in vancouver(article).replace(". doi: ", ". doi:")
    assert ama_part in ama(article)
    for text in (vancouver(article), ama(article), apa(article)):
        assert ";:" not in text and ";." not in text and ", ," not in text and ". ." not in text


@pytest.mark.parametrize("pages,full", [
    ("176-84", "176-184"), ("1127-9", "1127-1129"), ("152-162", "152-162"), ("S12-5", "S12-S15"),
    ("e0123", "e0123"), ("iii-iv", "iii-iv"), ("1-10; discussion 11-2", "1-10; discussion 11-12"),
    ("99-101", "99-101"),
])
def test_page_ranges_in_full(pages: str, full: str) -> None:
    assert full_pages(pages) == full
    assert f";179(2):{full}." in ama(kare(pages=pages))
    assert f", 179(2), {full.replace('-', '–')}." in apa(kare(pages=pages))
    assert f";179(2):{pages}." in vancouver(kare(pages=pages))  # NLM keeps MedlinePgn


def test_a_registry_entry_is_cited_as_one() -> None:
    trial = Trial(nct_id="NCT01558063", title="Ketamine for alcohol dependence.",
                  sponsor="Yale University", first_posted="2012-03-20")
    assert trial_citation(trial, "apa") == (
        "Yale University. (2012). Ketamine for alcohol dependence (ClinicalTrials.gov "
        "identifier NCT01558063). https://clinicaltrials.gov/study/NCT01558063")
    known_by_number = cite_item(registry_entry("NCT01558063"), "apa")
    assert known_by_number == (
        "ClinicalTrials.gov. (n.d.). Registered trial NCT01558063 (ClinicalTrials.gov "
        "identifier NCT01558063). https://clinicaltrials.gov/study/NCT01558063")
    assert "ClinicalTrials.gov identifier: NCT01558063." in cite_item(
        registry_entry("NCT01558063"), "vancouver")


def test_show_nct_cite_cites_the_registry_entry(kettrack_env: Path) -> None:
    from kettrack.library.store import Library

    from .writer_library import copy_offline_library, invoke

    library = Library.open(copy_offline_library(kettrack_env / "library.db"))
    held = library.db.execute(
        "SELECT t.nct_id FROM trials t JOIN article_trial_ids a ON a.trial_id = t.nct_id "
        "ORDER BY 1 LIMIT 1").fetchone()
    named = library.db.execute(
        "SELECT trial_id FROM article_trial_ids WHERE trial_id LIKE 'NCT%' AND trial_id NOT IN "
        "(SELECT nct_id FROM trials) ORDER BY 1 LIMIT 1").fetchone()
    library.close()
    assert held and named, "the snapshot has a held trial with papers, and one only named"
    for nct in (held[0], named[0]):
        result = invoke("show", nct, "--cite", "apa")
        assert result.exit_code == 0, result.output
        assert result.stdout.count("\n") == 1  # one citation: the entry's, not its papers'
        assert f"(ClinicalTrials.gov identifier {nct}). https://clinicaltrials.gov/study/{nct}" \
            in result.stdout
    assert "no registry record" in result.stderr
    data = json.loads(invoke("show", named[0], "--cite", "vancouver", "--json").stdout)
    assert data["id"] == named[0] and named[0] in data["citation"]
