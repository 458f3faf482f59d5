"""``kettrack check``: the field's vocabulary, the relevance threshold, ranking, flags, --online."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kettrack.library.article import Correction
from kettrack.library.store import Library
from kettrack.tools.check import (
    DESIGN_RANK,
    TRIAL_PENALTY,
    load_vocabulary,
    online_query,
    read_claim,
    retrieval_expressions,
    tier,
)

from .writer_library import copy_offline_library, invoke

WRITER_CLAIM = ("a university study found a single dose of ketamine with therapy cut "
                "relapse dramatically")


@pytest.fixture
def library_db(kettrack_env: Path) -> Path:
    return copy_offline_library(kettrack_env / "library.db")


def check_json(*args: str) -> list[dict]:
    result = invoke("check", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_vocabulary_file_groups_the_fields_synonyms() -> None:
    vocab = load_vocabulary()
    names = {g.name for g in vocab.groups}
    assert {"alcohol use disorder", "relapse and drinking outcomes", "infusion", "plasticity",
            "memory", "craving", "safety", "ketamine-type drug"} <= names
    assert all(g.terms for g in vocab.groups)
    aud = read_claim("alcoholism", vocab)
    assert [c.label for c in aud] == ["alcohol use disorder"]
    assert '"aud"' in aud[0].fts() and "alcohol use disorder" in aud[0].fts()
    assert [c.label for c in read_claim("Spravato")] == ["ketamine-type drug"]
    assert [c.label for c in read_claim("IV dosing")][0] == "infusion"
    assert {c.label for c in read_claim("neurogenesis and craving")} == {"plasticity", "craving"}


def test_claim_words_outside_the_vocabulary_are_concepts_stopwords_are_not() -> None:
    concepts = read_claim("researchers found ketamine cures diabetes")
    assert [c.label for c in concepts] == ["ketamine-type drug", "effect", "diabetes"]
    assert [c.kind for c in concepts] == ["drug", "effect", "topic"]


def test_background_concepts_do_not_drive_retrieval() -> None:
    expressions = retrieval_expressions(read_claim("ketamine reduces craving"))
    assert expressions == ['("craving" OR "cravings" OR "crave" OR "urge" OR "urges" OR '
                           '"desire to drink" OR "cue reactivity" OR "cue reactivity" OR '
                           '"motivation to drink")']


def test_the_writers_claim_finds_the_kare_trial(library_db: Path) -> None:
    hits = check_json(WRITER_CLAIM)
    top = hits[0]
    assert "Adjunctive Ketamine With Relapse Prevention" in top["title"]
    assert top["design"] == "rct" and top["species"] == "human" and top["sample_size"] == 96
    assert top["year"] == 2022 and top["journal"] == "American Journal of Psychiatry"
    assert 1 <= len(top["best_sentences"]) <= 2
    assert all(s in top["abstract"] for s in top["best_sentences"])
    assert top["citation"].startswith("Grabski M, McAndrew A, Lawn W")
    assert {"pmid", "doi", "title", "design", "retracted", "url", "queries", "score",
            "flags"} <= set(top)
    assert 0 < top["score"] <= 1


def test_ranking_is_relevance_then_design_then_recency(library_db: Path) -> None:
    hits = check_json("ketamine reduces drinking in alcohol use disorder", "--limit", "40")
    assert len(hits) > 5
    keys = [(-tier(h["score"]), h["retracted"], DESIGN_RANK[h["design"]], -(h["year"] or 0))
            for h in hits]
    assert keys == sorted(keys)


def test_nothing_relevant_is_said_plainly(library_db: Path) -> None:
    result = invoke("check", "ketamine cures diabetes")
    assert result.exit_code == 0
    assert "Nothing in the library bears on this claim" in result.stdout
    assert check_json("ketamine cures diabetes") == []
    assert check_json("the") == []


def test_plain_output_shows_design_size_flags_and_citation(library_db: Path) -> None:
    result = invoke("check", "ketamine reduces alcohol drinking in rats", "--limit", "20")
    assert result.exit_code == 0
    assert "[preclinical]" in result.stdout and "animal study only" in result.stdout
    assert "cite: " in result.stdout and "relevance" in result.stdout


def test_flags_small_sample_and_animal_only(library_db: Path) -> None:
    hits = check_json("ketamine craving alcohol", "--limit", "40")
    small = [h for h in hits if h["sample_size"] and h["sample_size"] < 30
             and h["species"] == "human"]
    assert small and all("small-sample" in h["flags"] for h in small)
    rats = check_json("ketamine reduces alcohol drinking in rats", "--limit", "40")
    animal = [h for h in rats if h["design"] == "preclinical"]
    assert animal and all("animal-only" in h["flags"] for h in animal)


def test_retracted_paper_is_flagged_and_listed_after_others(library_db: Path) -> None:
    # Hand-made for this test: the offline snapshot holds no retracted paper, so
    # the KARE trial's stored record is marked retracted here (not a real event).
    library = Library.open(library_db)
    pmid = library.db.execute(
        "SELECT pmid FROM articles WHERE title LIKE 'Adjunctive Ketamine%'").fetchone()[0]
    article = library.article(pmid)
    assert article is not None
    article.corrections.append(Correction("RetractionIn", "39999999", "Hand-made notice. 2026"))
    library.store_batch([(article, None)], {}, library.start_run(offline=True))
    library.close()
    hits = check_json(WRITER_CLAIM, "--limit", "20")
    kare = next(h for h in hits if h["id"] == pmid)
    assert kare["retracted"] and "retracted" in kare["flags"]
    assert "Retraction in: Hand-made notice. 2026." in kare["citation"]
    same_tier = [h for h in hits if tier(h["score"]) == tier(kare["score"])]
    after = same_tier[same_tier.index(kare):]
    assert len(same_tier) > 1 and all(h["retracted"] for h in after)


def test_protocol_without_results_is_flagged(library_db: Path) -> None:
    library = Library.open(library_db)
    # a protocol whose trial has no results paper in the library (hand-made change)
    pmid = library.db.execute("SELECT pmid FROM articles WHERE design = 'protocol'").fetchone()[0]
    library.db.execute("DELETE FROM article_trial_ids WHERE pmid != ?", (pmid,))
    library.close()
    hits = check_json("ketamine alcohol dependence psychological therapy", "--limit", "40")
    protocol = next(h for h in hits if h["pmid"] == pmid)
    assert "protocol-without-results" in protocol["flags"]


def test_online_query_term_and_name() -> None:
    query = online_query(WRITER_CLAIM)
    assert query is not None
    assert query.name.startswith("check:") and len(query.name) == len("check:") + 10
    assert query.term.startswith("(ketamine[tiab] OR esketamine[tiab]")
    assert "relaps*[tiab]" in query.term and '"single dose"[tiab]' in query.term
    assert online_query("the of and") is None


def test_online_offline_fills_an_empty_library_then_answers(kettrack_env: Path) -> None:
    hits = check_json(WRITER_CLAIM, "--online", "--offline")
    assert hits and "Adjunctive Ketamine" in hits[0]["title"]
    assert any(q.startswith("check:") for q in hits[0]["queries"])
    library = Library.open(kettrack_env / "library.db")
    names = [r[0] for r in library.db.execute("SELECT name FROM query_versions")]
    runs = library.db.execute("SELECT count(*), sum(requests) FROM runs").fetchone()
    library.close()
    assert len(names) == 1 and names[0].startswith("check:")
    assert runs[0] == 1 and runs[1] > 0


def test_offline_without_online_is_bad_input(kettrack_env: Path) -> None:
    result = invoke("check", "ketamine", "--offline")
    assert result.exit_code == 2 and "--offline goes with --online" in result.stderr


# -- registered trials --------------------------------------------------------------------

ED_CLAIM = "ketamine in the ED for alcohol use disorder"  # only a withdrawn trial says "ED"


def test_a_claim_only_trials_bear_on_says_no_published_evidence(library_db: Path) -> None:
    hits = check_json(ED_CLAIM)
    assert [(h["item_type"], h["nct_id"]) for h in hits] == [("trial", "NCT05661669")]
    (trial,) = hits
    assert trial["design"] == "registered-trial" and trial["overall_status"] == "WITHDRAWN"
    assert trial["evidence"] == "withdrawn before completion, no results posted"
    assert trial["score"] == round(trial["relevance"] - TRIAL_PENALTY, 3)
    assert "ClinicalTrials.gov identifier: NCT05661669" in trial["citation"]
    result = invoke("check", ED_CLAIM)
    assert result.exit_code == 0
    assert "No published evidence in the library bears on this claim" in result.stdout
    assert "Registered trials only, which are not evidence" in result.stdout
    assert "1. [registered trial] Ketamine for the Treatment for Alcohol Use Disorder" in (
        result.stdout)
    assert "Nothing in the library bears" not in result.stdout


def test_a_trial_never_outranks_published_evidence_of_similar_relevance(
        library_db: Path) -> None:
    hits = check_json("ketamine with midazolam and mindfulness for problem drinking",
                      "--limit", "40")
    trials = [i for i, h in enumerate(hits) if h["item_type"] == "trial"]
    assert trials and len(trials) < len(hits)
    for i in trials:
        trial = hits[i]
        assert trial["score"] == round(trial["relevance"] - TRIAL_PENALTY, 3)
        # every paper listed after it is at least a relevance step less relevant than it
        for later in hits[i + 1:]:
            if later["item_type"] == "article":
                assert tier(later["score"]) < tier(trial["relevance"]), (trial, later)
        # and every paper of its own relevance step comes before it
        same = [h for h in hits if h["item_type"] == "article"
                and tier(h["score"]) >= tier(trial["relevance"])]
        assert all(hits.index(h) < i for h in same)


def test_an_ongoing_trial_says_it_is_not_evidence(library_db: Path) -> None:
    hits = check_json("ketamine for combined depression and alcohol use disorder",
                      "--limit", "40")
    ongoing = next(h for h in hits if h.get("nct_id") == "NCT06090422")
    assert ongoing["overall_status"] == "NOT_YET_RECRUITING" and ongoing["ongoing"]
    assert ongoing["evidence"] == "still under way (not yet recruiting): not evidence yet"
    assert {"registered-only", "under-way"} <= set(ongoing["flags"])
    text = invoke("check", "ketamine for combined depression and alcohol use disorder")
    assert "[registered trial] Ketamine for Combined Depression and Alcohol Use Disorder" in (
        text.stdout)
    assert "still under way (not yet recruiting): not evidence yet" in text.stdout


def test_a_trial_with_results_points_to_its_publications(library_db: Path) -> None:
    hits = check_json(WRITER_CLAIM, "--limit", "40")
    kare = next(h for h in hits if h.get("nct_id") == "NCT02649231")
    assert kare["has_results"] and "9900000022" in kare["linked_pmids"]
    assert "see its publications: PMID 28372596 (protocol)" in kare["evidence"]
    assert hits.index(kare) > 0 and hits[0]["item_type"] == "article"


def test_design_filter_leaves_trials_out(library_db: Path) -> None:
    assert check_json(ED_CLAIM, "--design", "rct") == []
    hits = check_json("ketamine for combined depression and alcohol use disorder",
                      "--design", "rct", "--limit", "40")
    assert hits and {h["item_type"] for h in hits} == {"article"}
