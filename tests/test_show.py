"""``kettrack show``: the full record by any common form of ID, citations, bad IDs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kettrack.library.items import TrialItem
from kettrack.library.store import Library
from kettrack.tools.show import PublicationsOf, lookup

from .writer_library import copy_offline_library, invoke

DAS = "31772157"  # Das et al. 2019, Nat Commun: ketamine and drinking memories (has an erratum)


@pytest.fixture
def library_db(kettrack_env: Path) -> Path:
    return copy_offline_library(kettrack_env / "library.db")


def show_json(*args: str) -> dict:
    result = invoke("show", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_full_record_as_text(library_db: Path) -> None:
    result = invoke("show", DAS)
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("Ketamine can reduce harmful drinking")
    assert "Das RK, Gale G, Walsh K" in out
    assert "Nature Communications" in out and "PMID 31772157" in out
    assert "design: rct" in out and "publication types: Journal Article" in out
    assert "MeSH: " in out and "Memory*" in out
    assert "BACKGROUND: " in out and "RESULTS: " in out and "CONCLUSIONS: " in out
    assert "ErratumIn: " in out and "erratum published" in out
    assert "found by: " in out and "ketamine-memory-reconsolidation" in out
    assert "entered PubMed 2019-11-15" in out


def test_json_has_design_keys_history_and_flags(library_db: Path) -> None:
    data = show_json(DAS)
    assert {"pmid", "doi", "pmcid", "title", "journal", "year", "authors", "design", "nct_ids",
            "queries", "retracted", "url"} <= set(data)
    assert data["pmid"] == DAS and data["has_erratum"] and data["flags"] == ["erratum"]
    assert data["events"] == [] and data["first_seen_at"]
    assert [s["label"] for s in data["abstract_sections"]][:2] == ["BACKGROUND", "METHODS"]


@pytest.mark.parametrize("form", [
    "31772157", "PMID:31772157", "pmid 31772157", "https://pubmed.ncbi.nlm.nih.gov/31772157/",
    "10.1038/s41467-019-13162-w", "10.1038/S41467-019-13162-W", "doi:10.1038/s41467-019-13162-w",
    "DOI: 10.1038/s41467-019-13162-w", "https://doi.org/10.1038/s41467-019-13162-w",
    "http://dx.doi.org/10.1038/S41467-019-13162-W", "PMC6879579", "pmc6879579",
    "  31772157  ",
])
def test_any_common_form_of_the_id(library_db: Path, form: str) -> None:
    assert show_json(form)["pmid"] == DAS


@pytest.mark.parametrize("bad", ["", "   ", "abc", "NCT123", "PMID 0", "0", "10.1038",
                                 "doi:", "PMC", "31772157\x00", "\x1b[31m", "x" * 400,
                                 "https://example.org/31772157", "-1", "NCT1234567890",
                                 "'; DROP TABLE articles; --"])
def test_malformed_ids_are_one_line_errors(library_db: Path, bad: str) -> None:
    result = invoke("show", "--", bad)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


@pytest.mark.parametrize("unknown", ["99999999", "10.1000/not-held", "PMC1", "NCT99999999"])
def test_unknown_ids_say_not_in_library(library_db: Path, unknown: str) -> None:
    result = invoke("show", unknown)
    assert result.exit_code == 2
    assert "Error: " in result.stderr and result.stderr.count("\n") == 1


def test_nct_number_shows_the_trial_and_its_publications(library_db: Path) -> None:
    library = Library.open(library_db)
    nct, count = library.db.execute(
        "SELECT trial_id, count(*) FROM article_trial_ids WHERE trial_id LIKE 'NCT%' "
        "GROUP BY trial_id ORDER BY count(*) DESC").fetchone()
    found = lookup(library, nct.lower())
    naming = library.publications_naming(nct)
    assert len(naming) == count
    if isinstance(found, TrialItem):  # the registry record, with the papers naming it first
        assert found.id == nct
        assert [p.pmid for p in found.publications][:count] == naming
    else:
        assert isinstance(found, PublicationsOf)
        assert [i.id for i in found.items] == naming
        assert all(nct in i.article.nct_ids for i in found.items)
    library.close()
    result = invoke("show", nct)
    assert result.exit_code == 0 and nct in result.stdout


def test_nct_number_without_registry_record_lists_the_papers(library_db: Path) -> None:
    library = Library.open(library_db)
    row = library.db.execute(
        "SELECT trial_id FROM article_trial_ids WHERE trial_id LIKE 'NCT%' AND trial_id NOT IN "
        "(SELECT nct_id FROM trials) ORDER BY trial_id LIMIT 1").fetchone()
    library.close()
    assert row is not None, "the snapshot names a trial it holds no registry record of"
    data = show_json(row[0])
    assert data["nct_id"] == row[0]
    assert data["publications"] and all(p["item_type"] == "article" for p in data["publications"])


@pytest.mark.parametrize("style,expected", [
    ("vancouver", "Das RK, Gale G, Walsh K, Hennessy VE, Iskandar G, Mordecai LA, et al. "
                  "Ketamine can reduce harmful drinking by pharmacologically rewriting drinking "
                  "memories. Nat Commun."),
    ("apa", "Das, R. K., Gale, G., Walsh, K., Hennessy, V. E., Iskandar, G., Mordecai, L. A., "),
    ("ama", "Das RK, Gale G, Walsh K, et al. Ketamine can reduce harmful drinking"),
])
def test_cite(library_db: Path, style: str, expected: str) -> None:
    result = invoke("show", "10.1038/s41467-019-13162-w", "--cite", style)
    assert result.exit_code == 0
    assert result.stdout.startswith(expected)
    assert result.stdout.count("\n") == 1


def test_cite_json_and_bad_style(library_db: Path) -> None:
    data = show_json(DAS, "--cite", "apa")
    assert data["style"] == "apa" and "(2019)" in data["citation"]
    bad = invoke("show", DAS, "--cite", "harvard")
    assert bad.exit_code == 2 and "vancouver, apa, ama" in bad.stderr
