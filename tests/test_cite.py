"""Citations: Vancouver, APA and AMA, from an Article shaped as kettrack stores PubMed's."""

from __future__ import annotations

import pytest

from kettrack.errors import ConfigError
from kettrack.library.article import Article, Correction
from kettrack.tools.cite import ama, apa, cite, vancouver

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
    assert vancouver(retracted).endswith("Retraction in: Am J Psychiatry. 2030;1:1.")
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
