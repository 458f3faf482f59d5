"""``kettrack check``: the field's vocabulary, the relevance threshold, ranking, flags, --online."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kettrack.library.article import AbstractSection, Article, Correction
from kettrack.library.store import Library
from kettrack.run.runner import prepare
from kettrack.tools.check import (
    DESIGN_RANK,
    FEATURES,
    PART,
    RETRACTED_PENALTY,
    SCORE_STEP,
    TRIAL_PENALTY,
    Matcher,
    Reranker,
    claim_institutions,
    closeness,
    first_stage_expressions,
    judge,
    load_reranker,
    load_vocabulary,
    mismatch_notes,
    online_query,
    read_claim,
    relevance,
    retrieval_expressions,
    stance_of,
)

from .conftest import fixture_bytes
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


def step(score: float) -> int:
    return int(score / SCORE_STEP + 1e-9)


def test_claim_words_outside_the_vocabulary_are_concepts_stopwords_are_not() -> None:
    concepts = read_claim("researchers found ketamine cures diabetes")
    assert [c.label for c in concepts] == ["ketamine-type drug", "cures", "diabetes"]
    assert [c.kind for c in concepts] == ["drug", "effect", "topic"]


@pytest.mark.parametrize("claim", [
    "Excessive alcohol use causes about 178,000 deaths in the US each year",
    "ketamine cut drinking over the next two weeks",
    "as a result, deaths rose",
])
def test_noise_words_are_never_concepts(claim: str) -> None:
    words = {w for c in read_claim(claim) for t in c.own for w in t.words}
    assert not words & {"use", "causes", "us", "each", "year", "over", "next", "two", "weeks",
                        "result", "as", "178", "000"}


def test_an_institution_the_claim_credits_is_not_a_concept() -> None:
    assert claim_institutions("A Yale study shows ketamine cuts craving") == ["Yale"]
    assert claim_institutions("a University College London study found ketamine works") == [
        "University College London"]
    assert claim_institutions("a single dose of ketamine cut relapse") == []
    assert "yale" not in {c.label for c in read_claim("A Yale study shows ketamine works")}


def test_retrieval_widens_with_the_vocabulary_and_background_comes_last() -> None:
    expressions = retrieval_expressions(read_claim("ketamine reduces craving"))
    craving = ('("craving" OR "cravings" OR "crave" OR "urge" OR "urges" OR "desire to drink" '
               'OR "cue reactivity" OR "motivation to drink")')
    reduce = ('("reduce" OR "reduced" OR "reduces" OR "reducing" OR "reduction" OR '
              '"reductions" OR "decrease" OR "decreased" OR "decreases" OR "decreasing" OR '
              '"lower" OR "lowered" OR "lowers" OR "cut" OR "cuts" OR "fewer")')
    assert expressions[:3] == [('"craving" OR "reduce"', True, False),
                               (f'{craving} AND {reduce}', True, False),
                               (f'{craving} OR {reduce}', True, True)]
    # the drug group matches nearly every record: searched last, and not BM25-ranked
    assert expressions[3][0].startswith('("ketamine" OR "esketamine"')
    assert expressions[3][1:] == (False, True)


def test_a_vocabulary_group_cannot_make_a_wrong_paper_a_perfect_match() -> None:
    concepts = read_claim("ketamine with psychological therapy")
    match = Matcher(concepts)
    ect = match.strengths("Ketamine versus electroconvulsive therapy for depression")
    own = match.strengths("Ketamine with psychological therapy for alcohol use disorder")
    assert relevance(own, concepts) == 1.0
    assert relevance(ect, concepts) < 0.8 and PART in ect.values()
    assert "only loosely: psychological therapy" in closeness(ect, concepts)
    assert closeness(own, concepts) == "matches the whole claim"


def test_stance_reads_negation_no_difference_and_direction() -> None:
    claim = "ketamine reduces relapse in alcohol use disorder"
    assert stance_of(claim, ["Ketamine reduced relapse rates compared with placebo."]) == (
        "supports")
    assert stance_of(claim, ["Ketamine did not significantly reduce relapse."]) == (
        "no-clear-effect")
    assert stance_of(claim, ["Relapse rates increased after ketamine."]) == "contradicts"
    assert stance_of("ketamine does not reduce relapse",
                     ["Ketamine reduced relapse rates compared with placebo."]) == "contradicts"
    assert stance_of("ketamine does not reduce relapse",
                     ["There was no significant difference in relapse."]) == "supports"
    assert stance_of(claim, []) == "unclear"


def _hand_made(text: str, **kwargs: object) -> Article:
    # hand-made records for the notes (no real record says all of these)
    return Article("9999", title="Ketamine for drinkers",
                   abstract_sections=[AbstractSection(text)], **kwargs)  # type: ignore[arg-type]


def test_quotes_are_the_findings_that_bear_on_the_claim() -> None:
    article = _hand_made(
        "We aimed to test whether ketamine reduces relapse. Ninety-six patients were "
        "randomised. Ketamine did not significantly reduce relapse at six months. "
        "No serious drug-related adverse events were reported.")
    verdict = judge(article, read_claim("ketamine reduces relapse"), "ketamine reduces relapse")
    assert verdict.quotes[0] == "Ketamine did not significantly reduce relapse at six months."
    assert verdict.stance == "no-clear-effect"
    safety = judge(article, read_claim("ketamine is safe, few adverse events"),
                   "ketamine is safe, few adverse events")
    assert "No serious drug-related adverse events were reported." in safety.quotes


def test_mismatch_notes_dose_diagnosis_species_institution() -> None:
    article = _hand_made("Ninety hazardous or harmful drinkers received three weekly "
                         "infusions of ketamine.", species="human",
                         affiliations=["Clinical Psychopharmacology Unit, University College "
                                       "London, London, UK"])
    notes = mismatch_notes("a University College London study found a single dose of "
                           "ketamine cured alcohol use disorder", article)
    assert "the claim says a single dose; the study gave three weekly infusions" in notes
    assert any(n.startswith("the claim says alcohol use disorder; the study enrolled harmful "
                            "drinkers") for n in notes)
    assert any("University College London; the authors' affiliations include it" in n
               for n in notes)
    assert mismatch_notes("a Yale study found ketamine works", article) == [
        "the claim credits Yale; no author affiliation names it"]
    rats = _hand_made("Ketamine reduced ethanol intake in rats.", species="animal",
                      design="preclinical")
    assert mismatch_notes("ketamine cuts drinking", rats) == [
        "the claim is about people; this study used rats"]
    assert mismatch_notes("ketamine cuts drinking in rats", rats) == []


def test_the_writers_claim_finds_the_kare_trial(library_db: Path) -> None:
    hits = check_json(WRITER_CLAIM)
    top = hits[0]
    assert "Adjunctive Ketamine With Relapse Prevention" in top["title"]
    assert top["design"] == "rct" and top["species"] == "human" and top["sample_size"] == 96
    assert top["year"] == 2022 and top["journal"] == "American Journal of Psychiatry"
    assert 1 <= len(top["quotes"]) <= 2 and top["quotes"] == top["best_sentences"]
    assert all(s in top["abstract"] for s in top["quotes"])
    assert top["stance"] in {"supports", "contradicts", "no-clear-effect", "unclear"}
    assert top["closeness"].startswith("matches")
    assert top["citation"].startswith("Grabski M, McAndrew A, Lawn W")
    assert {"pmid", "doi", "title", "design", "retracted", "url", "queries", "score",
            "flags"} <= set(top)
    assert 0 < top["score"] <= 1


def test_ranking_is_score_then_design(library_db: Path) -> None:
    hits = [h for h in check_json("ketamine reduces craving and relapse in alcohol use "
                                  "disorder", "--limit", "40") if h["item_type"] == "article"]
    assert len(hits) > 5
    keys = [(-step(h["score"] - RETRACTED_PENALTY * h["retracted"]), h["retracted"],
             DESIGN_RANK[h["design"]], -h["score"]) for h in hits]
    assert keys == sorted(keys)


def test_nothing_is_said_only_when_nothing_shares_a_word(library_db: Path) -> None:
    result = invoke("check", "frobnicated xylophones")
    assert result.exit_code == 0
    assert "Nothing in the library bears on this claim: no record shares a word" in (
        result.stdout)
    assert check_json("frobnicated xylophones") == []
    assert invoke("check", "the", "--json").exit_code == 2  # no word to look for at all
    # records that share only "ketamine" are shown, and said to share only that
    background = invoke("check", "ketamine cures diabetes")
    assert "Nothing in the library mentions cures, diabetes; these share only the " in (
        background.stdout)
    hits = check_json("ketamine cures diabetes")
    assert hits and all(h["matched"] == ["ketamine-type drug"] for h in hits)


def test_the_clinic_synapse_claim_finds_the_synapse_papers(library_db: Path) -> None:
    hits = check_json("Ketamine stimulates the growth of neurons and synapses "
                      "(synaptogenesis / neuroplasticity)")
    titles = [h["title"] for h in hits]
    assert any("glutamatergic synaptic transmission" in t for t in titles[:3])
    assert all("plasticity" in h["matched"] for h in hits[:3])
    text = invoke("check", "Ketamine stimulates the growth of neurons and synapses")
    assert "studies bear on the claim (" in text.stdout
    assert "note: the claim is about people; this study used mice" in text.stdout


def test_the_summary_counts_every_study_that_bears_not_only_those_shown(
        library_db: Path) -> None:
    claim = "a single dose of ketamine cut relapse"
    every = invoke("check", claim, "--limit", "100").stdout.splitlines()[1]
    bearing = int(every.split()[0])
    assert bearing >= 5 and f"{bearing} studies bear on the claim (" in every
    two = invoke("check", claim, "--limit", "2").stdout.splitlines()[1]
    assert two.startswith(f"{bearing} studies bear on the claim; the 2 shown (")
    counted = sum(int(n) for n in re.findall(r"(\d+) (?:support|contradict|find|unclear)",
                                              two.split("):")[1]))
    assert counted == 2  # the stances are those of the two shown, and add up


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
    # it ranks as if RETRACTED_PENALTY less: after every paper scoring that much or more
    assert hits[0]["id"] != pmid
    lowered = step(kare["score"] - RETRACTED_PENALTY)
    before = [h for h in hits if h["item_type"] == "article" and step(h["score"]) >= lowered
              and h is not kare]
    assert before and all(hits.index(h) < hits.index(kare) for h in before)


def test_protocol_without_results_is_flagged(library_db: Path) -> None:
    library = Library.open(library_db)
    # a protocol whose trial has no results paper in the library (hand-made change)
    pmid = library.db.execute("SELECT pmid FROM articles WHERE design = 'protocol'").fetchone()[0]
    library.db.execute("DELETE FROM article_trial_ids WHERE pmid != ?", (pmid,))
    library.close()
    hits = check_json("ketamine alcohol dependence psychological therapy", "--limit", "40")
    protocol = next(h for h in hits if h["pmid"] == pmid)
    assert "protocol-without-results" in protocol["flags"]


def test_a_protocol_reports_no_results_so_takes_no_stance(library_db: Path) -> None:
    # the KARE protocol (Trials 2017) says what the trial is "designed to provide";
    # read as a finding, that once made it "support" a claim the trial did not support
    claim = "a single ketamine dose cut relapse"
    protocol = next(h for h in check_json(claim) if h["design"] == "protocol")
    assert protocol["pmid"] == "28372596" and protocol["stance"] == "unclear"
    text = invoke("check", claim).output
    entry = text[text.index("[protocol]"):].split("\n\n")[0]
    assert "a protocol: no results yet" in entry and "supports the claim" not in entry


def test_online_query_term_and_name() -> None:
    query = online_query(WRITER_CLAIM)
    assert query is not None
    assert query.name.startswith("check:") and len(query.name) == len("check:") + 10
    assert query.term.startswith("(ketamine[tiab] OR esketamine[tiab]")
    assert "relaps*[tiab]" in query.term and '"single dose"[tiab]' in query.term
    assert online_query("the of and") is None


def test_online_query_is_built_from_the_claims_own_concepts() -> None:
    query = online_query("Excessive alcohol use causes about 178,000 deaths in the US each "
                         "year, according to the CDC")
    assert query is not None
    assert "ketamine" not in query.term
    assert query.term.startswith("(alcohol[tiab] OR")
    assert query.term.endswith("AND (excessive[tiab] OR deaths[tiab] OR cdc[tiab])")


def test_online_offline_finds_the_mmwr_deaths_report(kettrack_env: Path) -> None:
    hits = check_json("Excessive alcohol use causes about 178,000 deaths in the US each year, "
                      "according to the CDC", "--online", "--offline")
    assert hits[0]["title"].startswith("Deaths from Excessive Alcohol Use")
    assert hits[0]["closeness"] == "matches the whole claim"
    assert any("178,307" in q for q in hits[0]["quotes"])


def test_online_offline_fills_an_empty_library_then_answers(kettrack_env: Path) -> None:
    hits = check_json(WRITER_CLAIM, "--online", "--offline")
    top = [hit for hit in hits[:3] if "Adjunctive Ketamine" in hit["title"]]
    assert top, [hit["title"] for hit in hits[:3]]
    assert any(q.startswith("check:") for q in top[0]["queries"])
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
    assert trial["score"] <= 1 - TRIAL_PENALTY and trial["stance"] == "unclear"
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
        # every paper listed after it scores at least a step less than the trial ranks as
        for later in hits[i + 1:]:
            if later["item_type"] == "article":
                assert step(later["score"]) < step(trial["score"]), (trial, later)
        # and every paper of its (lowered) score step comes before it
        same = [h for h in hits if h["item_type"] == "article"
                and step(h["score"]) >= step(trial["score"])]
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
    # without the trial, only RCTs sharing the background words are left, and say so
    rcts = check_json(ED_CLAIM, "--design", "rct")
    assert {h["item_type"] for h in rcts} == {"article"}
    assert all(h["design"] == "rct" and "ed" not in h["matched"] for h in rcts)
    hits = check_json("ketamine for combined depression and alcohol use disorder",
                      "--design", "rct", "--limit", "40")
    assert hits and {h["item_type"] for h in hits} == {"article"}


def test_a_claim_of_noise_words_is_bad_input(library_db: Path) -> None:
    for claim in ("", "the of and", "use causes us each year"):
        result = invoke("check", claim)
        assert result.exit_code == 2, (claim, result.output)
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def test_a_single_ketamine_dose_is_read_once_and_noted_against_three_infusions(
        library_db: Path) -> None:
    labels = [c.label for c in read_claim("a single ketamine dose cut relapse")]
    assert labels.count("single dose") == 1 and "dose" not in labels
    hits = check_json("a single ketamine dose cut relapse")
    kare = next(h for h in hits if h["title"].startswith("Adjunctive Ketamine"))
    assert "the claim says a single dose; the study gave three weekly intravenous infusions" in (
        kare["notes"])
    text = invoke("check", "a single ketamine dose cut relapse")
    read_as = next(line for line in text.stdout.splitlines()
                   if line.startswith("Read the claim as"))
    assert read_as.count("dose") == 1


def test_first_stage_is_the_claims_words_then_the_vocabulary_widens() -> None:
    vocab = load_vocabulary()
    claim = "Ketamine promotes synaptogenesis in a Yale study"
    own, wide = first_stage_expressions(claim, read_claim(claim, vocab), vocab)
    assert own == '"ketamine" OR "promotes" OR "synaptogenesis"'
    assert '"neuroplasticity"' in wide and '"ketamine"' not in wide


def test_the_reranker_cannot_push_the_first_stages_best_far_down() -> None:
    reranker = load_reranker()
    assert len(reranker.weights) == len(FEATURES)
    # the learned order reverses the first stage's: fused, the first two stay in the top 3
    rows = [[1.0 - i / 10 if k == 0 else (i / 10) for k in range(len(FEATURES))]
            for i in range(10)]
    learned = Reranker(tuple(-w if i == 0 else w for i, w in enumerate(reranker.weights)))
    fused = learned.order(rows)
    top3 = sorted(range(10), key=lambda i: -fused[i])[:3]
    assert {0, 9} <= set(top3)
    assert max(fused) <= 1.0 and min(fused) > 0


def test_the_institution_note_reads_affiliations_stored_from_pubmed_xml(
        library_db: Path) -> None:
    # the real efetch record of 38011560 (tests/fixtures/ncbi) carries its authors'
    # affiliations, which the snapshot leaves out; stored, the note can check them
    library = Library.open(library_db)
    records, _ = prepare(fixture_bytes("38011560.xml"))
    library.store_batch(records, {}, library.start_run(offline=True))
    library.close()
    claim = "ketamine and the neurobiology of depression, rapid-acting antidepressant"
    yale = next(h for h in check_json(f"A Yale study says {claim}", "--limit", "20")
                if h["id"] == "38011560")
    assert any(n.startswith("the claim credits Yale; the authors' affiliations include it "
                            "(Department of Psychiatry, Yale School of Medicine")
               for n in yale["notes"])
    ucl = next(h for h in check_json(f"a University College London study says {claim}",
                                     "--limit", "20") if h["id"] == "38011560")
    assert "the claim credits University College London; no author affiliation names it" in (
        ucl["notes"])
    text = invoke("check", f"A Yale study says {claim}", "--limit", "20").stdout
    assert "note: the claim credits Yale; the authors' affiliations include it" in text


def test_the_electroconvulsive_therapy_preprint_is_no_perfect_match(library_db: Path) -> None:
    # the snapshot's preprint compares ketamine with electroconvulsive therapy: "therapy"
    # is only part of the claim's "psychological therapy"
    hits = check_json("ketamine with psychological therapy", "--limit", "20")
    preprint = next(h for h in hits if "preprint" in h["flags"])
    assert "electroconvulsive" in preprint["abstract"].lower()
    assert "only loosely: psychological therapy" in preprint["closeness"]
    assert not preprint["closeness"].startswith("matches the whole claim")
    assert hits[0]["closeness"] == "matches the whole claim"
    assert "Psychological Therapy" in hits[0]["title"]


def test_a_direction_word_finds_its_synonyms_never_the_opposite_direction() -> None:
    concepts = read_claim("ketamine cut craving")
    assert {(c.label, c.kind) for c in concepts} == {
        ("ketamine-type drug", "drug"), ("cut", "direction"), ("craving", "topic")}
    match = Matcher(concepts)
    cut = next(i for i, c in enumerate(concepts) if c.label == "cut")
    assert match.strengths("Ketamine cut craving.")[cut] == 1.0
    assert match.strengths("Ketamine reduced craving.")[cut] == 0.75
    assert cut not in match.strengths("Ketamine increased craving.")
    # an effect word that says no direction is still looked for only as the claim says it
    cures = read_claim("ketamine cures diabetes")[1]
    assert cures.kind == "effect" and cures.searched == cures.own


def test_ketamine_cut_drinking_is_answered_with_the_papers_on_reduced_drinking(
        library_db: Path) -> None:
    text = invoke("check", "ketamine cut drinking over the next two weeks").stdout
    assert "share only the library's background words" not in text
    hits = check_json("ketamine cut drinking over the next two weeks")
    assert hits[0]["item_type"] == "article"
    assert "cut" in hits[0]["matched"]
    assert any("reduce harmful drinking" in h["title"] for h in hits[:3])
