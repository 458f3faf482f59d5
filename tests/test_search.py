"""``kettrack search``: FTS5/BM25 over the offline library, filters, and hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kettrack.errors import SearchSyntaxError
from kettrack.library.store import Library
from kettrack.run.runner import prepare
from kettrack.sources import pubmed
from kettrack.tools.search import match_expression, search

from .conftest import fixture_bytes
from .writer_library import copy_offline_library, invoke

DESIGN_KEYS = {"pmid", "doi", "pmcid", "title", "journal", "year", "authors", "design",
               "nct_ids", "queries", "retracted", "url"}


@pytest.fixture
def library_db(kettrack_env: Path) -> Path:
    return copy_offline_library(kettrack_env / "library.db")


def search_json(*args: str) -> list[dict]:
    result = invoke("search", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_search_finds_by_words_with_scores_and_snippets(library_db: Path) -> None:
    hits = search_json("ketamine relapse prevention therapy")
    assert hits, "the KARE trial and its protocol talk about relapse prevention therapy"
    assert DESIGN_KEYS | {"score", "snippet"} <= set(hits[0])
    assert "Adjunctive Ketamine With Relapse Prevention" in hits[0]["title"]
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert any("**" in h["snippet"] for h in hits)


def test_search_plain_output_names_titles(library_db: Path) -> None:
    result = invoke("search", "reconsolidation")
    assert result.exit_code == 0
    assert "rewriting drinking memories" in result.stdout
    assert "erratum published" in result.stdout  # Das 2019 has an author correction


def test_porter_stemming_matches_word_forms(library_db: Path) -> None:
    assert {h["pmid"] for h in search_json("relapsing")} == {h["pmid"] for h in
                                                            search_json("relapse")}


def test_filters_design_since_query_and_limit(library_db: Path) -> None:
    rcts = search_json("ketamine", "--design", "rct", "--limit", "100")
    assert rcts and {h["design"] for h in rcts} == {"rct"}
    recent = search_json("ketamine", "--since", "2022", "--limit", "100")
    assert recent and all(h["year"] >= 2021 for h in recent)  # entrez date may lead the print year
    everything = search_json("ketamine", "--limit", "100")
    assert len(recent) < len(everything)
    preclinical = search_json("ketamine", "--query", "ketamine-ethanol-preclinical")
    assert preclinical and all("ketamine-ethanol-preclinical" in h["queries"] for h in preclinical)
    assert len(search_json("ketamine", "--limit", "3")) == 3


@pytest.mark.parametrize("args", [("--design", "anecdote"), ("--since", "last tuesday"),
                                  ("--query", "no-such-query")])
def test_bad_filters_are_one_line_errors(library_db: Path, args: tuple[str, str]) -> None:
    result = invoke("search", "ketamine", *args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")


HOSTILE = [
    '"', '"unbalanced quote', 'ketamine"', "open-label", "-ketamine", "AND", "OR", "NOT",
    "NEAR", "ketamine AND", "OR relapse", "NOT NOT NOT", "NEAR(ketamine relapse)",
    "((ketamine", "ketamine))", ")(", "title:ketamine", ":", "::::", "ketamine*", "*", "**",
    "^ketamine", "ketamine\x00relapse", "\x07\x1b[31m", "a" * 5000, "ketamine " * 2000, "",
    "   ", "\t\n", "'; DROP TABLE articles; --", "{}[]<>|\\/", "\u202eketamine", "ケタミン",
    "NEAR/3", "+ketamine -relapse", "ketamine OR", "\"\"\"\"",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_is_words_never_an_fts_error(library_db: Path, text: str) -> None:
    result = invoke("search", "--json", "--", text)  # "--": "-ketamine" is not an option
    if match_expression(text) is None:  # nothing to search for: bad input, said in one line
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and "has no words to search for" in result.stderr
    else:
        assert result.exit_code == 0, result.output
        assert isinstance(json.loads(result.stdout), list)


def test_operators_are_words(library_db: Path) -> None:
    assert match_expression('ketamine AND (relapse OR "heavy drinking"') == (
        '"ketamine" "AND" "relapse" "OR" "heavy drinking"')
    assert match_expression("open-label NEAR/3 x*") == '"open label" "NEAR 3" "x"'
    assert match_expression("  ") is None


def test_empty_search_is_bad_input_and_no_match_says_so(library_db: Path) -> None:
    empty = invoke("search", "")
    assert empty.exit_code == 2 and empty.stderr == "Error: '' has no words to search for\n"
    result = invoke("search", "xylophonic")
    assert result.exit_code == 0
    assert "No articles in the library match" in result.stdout


def test_raw_passes_fts_syntax(library_db: Path) -> None:
    hits = search_json("--raw", "title:reconsolidation OR title:rewriting")
    assert any("rewriting drinking memories" in h["title"] for h in hits)
    near = search_json("--raw", "NEAR(ketamine relapse, 5)")
    assert near


@pytest.mark.parametrize("text", ['"unbalanced', "ketamine AND", "((x", "nosuchcolumn:x", "",
                                  "NEAR(", "*"])
def test_raw_bad_expression_exits_2(library_db: Path, text: str) -> None:
    result = invoke("search", "--raw", "--", text)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


@pytest.fixture(scope="module")
def small_library() -> Library:
    """Real NCBI records (tests/fixtures/ncbi) in an in-memory library."""
    library = Library.memory()
    run_id = library.start_run(offline=True)
    for name in ("38011560.xml", "35649368.xml", "36987902.xml", "34843274.xml"):
        records, _ = prepare(fixture_bytes(name))
        library.store_batch(records, {}, run_id)
    assert pubmed is not None
    return library


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_any_text_searches_without_error(small_library: Library, text: str) -> None:
    if match_expression(text) is None:
        with pytest.raises(SearchSyntaxError):
            search(small_library, text)
        return
    hits = search(small_library, text)
    held = {r[0] for r in small_library.db.execute("SELECT pmid FROM articles")}
    assert {h.item.id for h in hits} <= held


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(['"', "(", ")", "AND", "OR", "NOT", "NEAR", ":", "*", "-", "^",
                                 "+", "ketamine", "depression", " ", "\x00", "{", "}"]),
                max_size=30))
def test_fts_syntax_soup_searches_without_error(small_library: Library, parts: list[str]) -> None:
    text = "".join(parts)
    if match_expression(text) is None:
        with pytest.raises(SearchSyntaxError):
            search(small_library, text)
    else:
        assert isinstance(search(small_library, text), list)


# -- registered trials --------------------------------------------------------------------


def test_matching_trials_follow_the_articles_and_say_what_they_are(library_db: Path) -> None:
    hits = search_json("ketamine relapse prevention therapy")
    kinds = [h["item_type"] for h in hits]
    assert kinds[0] == "article" and "trial" in kinds
    assert kinds == sorted(kinds)  # every article before every trial
    trials = {h["nct_id"]: h for h in hits if h["item_type"] == "trial"}
    assert {"NCT02649231", "NCT04084860"} <= set(trials)
    for t in trials.values():
        assert t["score"] == 0 and t["match_score"] > 0 and t["design"] == "registered-trial"
        assert t["pmid"] is None and t["retracted"] is False and "**" in t["snippet"]
        assert t["url"] == f"https://clinicaltrials.gov/study/{t['nct_id']}"
        assert {"title", "overall_status", "phases", "enrollment", "has_results",
                "linked_pmids", "evidence", "flags"} <= set(t)
        assert "registered-only" in t["flags"]
    kare = trials["NCT02649231"]  # completed, results posted: points to its papers
    assert kare["has_results"] is True and "28372596" in kare["linked_pmids"]
    assert kare["evidence"].startswith("results posted on ClinicalTrials.gov; see its "
                                       "publications: PMID 28372596 (protocol)")
    recruiting = trials["NCT04084860"]
    assert recruiting["overall_status"] == "RECRUITING" and recruiting["ongoing"] is True
    assert recruiting["evidence"] == "still under way (recruiting): not evidence yet"
    assert "under-way" in recruiting["flags"]


def test_trials_take_at_most_a_quarter_of_a_full_list(library_db: Path) -> None:
    eight = search_json("ketamine", "--limit", "8")
    assert [h["item_type"] for h in eight] == ["article"] * 6 + ["trial"] * 2
    assert [h["item_type"] for h in search_json("ketamine", "--limit", "3")] == ["article"] * 3
    # fewer articles than the limit: the rest is left to trials
    hits = search_json("ketamine relapse prevention therapy", "--limit", "100")
    assert sum(h["item_type"] == "trial" for h in hits) >= 2


def test_trials_only_search_says_no_article_matches(library_db: Path) -> None:
    hits = search_json("midazolam mindfulness")
    assert [(h["item_type"], h["nct_id"]) for h in hits] == [("trial", "NCT04084860")]
    result = invoke("search", "midazolam mindfulness")
    assert result.exit_code == 0
    assert "No articles in the library match 'midazolam mindfulness'; registered trials " \
           "only (not published evidence):" in result.stdout
    assert "[registered trial] The Role of Brief Potent Glutamatergic Modulation" in (
        result.stdout)
    assert "still under way (recruiting): not evidence yet" in result.stdout


def test_filters_apply_to_trials(library_db: Path) -> None:
    assert all(h["item_type"] == "article" for h in search_json(
        "ketamine", "--design", "rct", "--limit", "100"))
    registry_only = search_json("ketamine", "--query", "ketamine-aud-registry", "--limit", "100")
    assert registry_only and {h["item_type"] for h in registry_only} == {"trial"}
    assert all("ketamine-aud-registry" in h["queries"] for h in registry_only)
    recent = [h for h in search_json("ketamine", "--since", "2023", "--limit", "100")
              if h["item_type"] == "trial"]
    assert recent and all(h["first_posted"] >= "2023" for h in recent)
    # a --raw column only articles have finds no trial, and is no error
    assert all(h["item_type"] == "article" for h in search_json("--raw", "abstract:ketamine"))


def test_completed_trial_without_results_says_so(library_db: Path) -> None:
    hits = search_json("naltrexone midazolam", "--limit", "100")
    trial = next(h for h in hits if h.get("nct_id") == "NCT02461927")
    assert trial["overall_status"] == "COMPLETED" and trial["has_results"] is False
    assert trial["evidence"] == "completed, no results posted on ClinicalTrials.gov"
    assert "no-results-posted" in trial["flags"]
