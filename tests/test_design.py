"""Study design, species and sample size: NLM's indexing first, text before indexing."""

from __future__ import annotations

import gzip

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
    data = fixture_bytes(name)
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    for item in pubmed.parse_efetch(data):
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


# --- issue 10: study design, sample size and flags on the records the issue names -------


def snapshot_article(pmid: str) -> Article:
    """A bundled snapshot record, indexed (pending ones revealed), classified as stored."""
    from kettrack.standin.snapshot import Snapshot

    snap = Snapshot.load_default()
    raw = snap.revealed(pmid) if pmid in snap.pending else snap.raw(pmid)
    return design.classify(pubmed.article_from_raw(raw))


def test_editorial_about_an_rct_is_not_an_rct() -> None:
    # 10.1176/appi.ajp.2019.19121242: types Editorial + Comment, text names a randomized trial
    from kettrack.digest.collect import section_of
    from kettrack.library.items import ArticleItem

    editorial = snapshot_article("9900000002")
    assert editorial.doi == "10.1176/appi.ajp.2019.19121242"
    assert "randomized" in editorial.abstract
    assert design.indexed_design(editorial) == "other"
    assert editorial.design == "other"
    assert section_of(ArticleItem(editorial)) == "studies"


def test_real_editorial_comment_types_decide_other() -> None:
    record = real("34529508.xml", "34529508")  # Editorial, Comment (real NCBI answer)
    assert design.indexed_design(record) == "other"


def test_a_design_type_still_decides_beside_letter() -> None:
    record = article("A research letter", "We randomized 40 adults.",
                     publication_types=[PublicationType("Letter"),
                                        PublicationType("Randomized Controlled Trial")])
    assert design.design_of(record) == "rct"


def test_qualitative_interview_study_within_a_trial_is_not_a_trial() -> None:
    study = snapshot_article("34483991")  # "A Qualitative Study of Patients' Experiences in a
    assert "randomized trial" in study.abstract  # Clinical Trial": no design type
    assert study.design == "observational"


@pytest.mark.parametrize("pmid, sample, studies", [
    ("25325907", 23, None),     # "Of 235 patients screened, 23 were included."
    ("37273364", 854, 11),      # "Eleven studies including 854 adults ... were included."
    ("31772157", 90, None),     # "90 hazardous or harmful drinkers ... were randomized"
    ("36087563", 634, 8),       # "Eight studies with 634 participants were included."
])
def test_sample_size_on_the_issues_records(pmid: str, sample: int, studies: int | None) -> None:
    record = snapshot_article(pmid)
    assert (record.sample_size, record.studies) == (sample, studies)


def test_review_is_not_flagged_small_for_its_study_count() -> None:
    from kettrack.library.items import article_flags
    from kettrack.render.json import size_words

    review = snapshot_article("37273364")
    assert "small-sample" not in article_flags(review)
    assert size_words(review) == "n=854 in 11 studies"
    assert "small-sample" in article_flags(snapshot_article("25325907"))  # 23 included


@pytest.mark.parametrize("abstract, sample, studies", [
    ("Sixty of 288 articles were included.", None, 60),
    ("Of 204 records screened, 10 studies were included.", None, 10),
    ("A total of 1,234 records were identified; 12 trials (n = 850) met the criteria.", 850, 12),
])
def test_review_counts(abstract: str, sample: int | None, studies: int | None) -> None:
    record = article("t", abstract)
    record.design = "systematic-review"
    assert (design.sample_size_of(record), design.studies_of(record)) == (sample, studies)


@pytest.mark.parametrize("abstract, expected", [
    ("Two hundred patients were screened and 120 were randomised.", 120),
    ("Of 500 adults assessed for eligibility, 64 were enrolled.", 64),
])
def test_screened_is_not_the_sample(abstract: str, expected: int) -> None:
    assert design.sample_size_of(article("t", abstract)) == expected


def test_preprint_says_so_wherever_the_badge_shows() -> None:
    from kettrack.library.items import ArticleItem
    from kettrack.render.digest import badge
    from kettrack.render.json import article_json, design_label

    preprint = snapshot_article("9900000037")
    assert [p.name for p in preprint.publication_types] == ["Preprint"]
    item = ArticleItem(preprint)
    assert badge(item) == "Observational (preprint, not peer reviewed)"
    data = article_json(item)
    assert data["badge"] == "Observational (preprint, not peer reviewed)"
    assert data["preprint"] is True
    assert data["design"] == "observational"  # the vocabulary word is unchanged
    assert design_label(preprint) == "observational, preprint"
    assert article_json(ArticleItem(snapshot_article("25325907")))["preprint"] is False


@pytest.mark.parametrize("title, abstract, expected", [
    # other work is not this paper's design
    ("Ketamine and craving", "Randomized controlled trials have left doubts about ketamine. "
     "We measured craving in 40 inpatients before and after detoxification.", "other"),
    ("Ketamine in withdrawal", "Withdrawal is common. Larger randomized studies are needed to "
     "settle the question.", "other"),
    ("Ketamine for depression", "Ketamine has shown benefits in randomized trials.", "other"),
    ("Ketamine therapy", "The clinical studies it summarises were not placebo-controlled.",
     "other"),
    # this paper's own randomisation, in the filters' words
    ("Ketamine and drinking", "Thirty drinkers were enrolled for a randomized crossover trial "
     "testing an additional ketamine session.", "rct"),
    ("Ketamine and drinking", "A total of 80 patients were randomly divided into two groups.",
     "rct"),
    ("Mediators of ketamine's effect", "This secondary analysis of a randomized, placebo-"
     "controlled trial examined mediators.", "rct"),
    # case reports, also without the words "case report"
    ("Ketamine-induced cystitis", "We present a rare case of cystitis after ketamine misuse.",
     "case-report"),
    ("Ketamine in delirium tremens", "Ketamine was given to a 52-yr-old man.", "case-report"),
    ("Ketamine in withdrawal", "We describe the case of a patient with severe withdrawal.",
     "case-report"),
    ("Ketamine in withdrawal", "Three veterans with refractory withdrawal are described.",
     "case-report"),
    ("Alcohol and liver cancer: report of a case-control study", "Cases were interviewed.",
     "observational"),
    # reviews, and reviews that are not review articles
    ("Ketamine and addiction", "Studies of ketamine in addiction are summarized in this review.",
     "review"),
    ("Ketamine in alcohol withdrawal: a retrospective review of 65 patients",
     "A retrospective review was performed of 65 patients treated between 2012 and 2016.",
     "observational"),
    ("Patients' experiences", "We conducted semi-structured interviews with 14 participants of "
     "a randomized trial and used thematic analysis.", "observational"),
    ("Ketamine for drinking", "This editorial discusses the randomized trial in this issue.",
     "other"),
])
def test_text_rules_read_this_papers_own_voice(title: str, abstract: str, expected: str) -> None:
    assert design.text_design(article(title, abstract)) == expected


@pytest.mark.parametrize("name, pmid, family", [
    ("pubmed-29768149.xml", "29768149", {"rct"}),
    ("medline16n0902_sample.xml", "25998582", {"rct"}),
    ("test_current_medline.xml.gz", "28786991", {"meta-analysis", "systematic-review"}),
])
def test_real_records_with_indexing_hidden(name: str, pmid: str, family: set[str]) -> None:
    record = real(name, pmid)
    record.publication_types, record.mesh = [], []
    assert design.text_design(record) in family


def structured(title: str, *sections: tuple[str, str]) -> Article:
    return Article(pmid="1", title=title,
                   abstract_sections=[AbstractSection(text, label) for label, text in sections])


@pytest.mark.parametrize("sections, expected", [
    # headings a kind of article has of its own
    ((("AREAS COVERED", "Glutamate modulators in addiction care."),
      ("EXPERT OPINION", "Ketamine remains promising.")), "review"),
    ((("PURPOSE OF REVIEW", "To weigh ketamine for drinking."),
      ("RECENT FINDINGS", "Two small trials reported fewer relapses.")), "review"),
    ((("DATA SOURCES", "Four bibliographic indexes up to 2024."),
      ("STUDY SELECTION", "Controlled studies of ketamine for drinking.")), "systematic-review"),
    ((("INTRODUCTION", "Ketamine is seldom given in withdrawal."),
      ("CASE PRESENTATION", "A man with delirium tremens was given ketamine.")), "case-report"),
    ((("PATIENT CONCERNS", "Tremor and agitation on the second day."),
      ("DIAGNOSIS", "Severe alcohol withdrawal.")), "case-report"),
    # what a design heading says
    ((("STUDY DESIGN", "Narrative review of the literature on ketamine and drinking."),
      ("RESULTS", "Nine reports were found.")), "review"),
    ((("STUDY DESIGN", "Retrospective review of a prospective database."),
      ("RESULTS", "Two hundred patients were included.")), "observational"),
    ((("DESIGN", "A double-blind, parallel-group comparison."),
      ("RESULTS", "Forty adults took part.")), "rct"),
])
def test_structured_abstract_headings(sections: tuple[tuple[str, str], ...],
                                      expected: str) -> None:
    assert design.text_design(structured("Ketamine and alcohol", *sections)) == expected


@pytest.mark.parametrize("title, abstract, expected", [
    # a single patient, in the CARE guideline's voice
    ("Ketamine in delirium tremens", "We treated a 58-year-old with refractory tremor.",
     "case-report"),
    ("Ketamine in delirium tremens", "Withdrawal was severe. She was given ketamine on day two "
     "and recovered.", "case-report"),
    ("Ketamine in delirium tremens", "A farmer who was admitted with seizures after stopping "
     "drinking is described.", "case-report"),
    ("Ketamine in delirium tremens", "This unusual case shows that ketamine can be given safely.",
     "case-report"),
    ("Refractory alcohol withdrawal in a patient with epilepsy", "Ketamine was added.",
     "case-report"),
    # a cohort is not a case: plural, no single patient
    ("Ketamine in delirium tremens", "Patients who presented with seizures were followed in a "
     "retrospective cohort.", "observational"),
    # Mendelian randomization is genetic epidemiology, not a trial
    ("Drinking and depression", "We used Mendelian randomization with genetic variants as "
     "instruments.", "observational"),
    # reviews
    ("Recent advances in glutamate therapies for alcohol use disorder",
     "Glutamate signalling shapes craving. Novel agents are emerging.", "review"),
    ("Glutamate and craving", "In this review, we describe how ketamine was first given in 1964 "
     "and was identified as an NMDA blocker; in 1990 it was studied in 12 patients and in 2010 "
     "it was tested for mood.", "review"),
    ("Ketamine in rodent models of drinking: a review",
     "Rats and mice given ketamine drink less in several models.", "review"),
    ("Ketamine in rodent models of drinking", "Rats given ketamine drank less than mice.",
     "preclinical"),
    ("Who should write systematic reviews?", "This commentary asks who should write systematic "
     "reviews of addiction treatments.", "other"),
])
def test_case_and_review_wording(title: str, abstract: str, expected: str) -> None:
    assert design.text_design(article(title, abstract)) == expected


def test_meeting_report_is_not_a_review() -> None:
    record = article("Advances in addiction pharmacology",
                     "A report on the third winter symposium on glutamate and addiction, Oslo.")
    assert design.text_design(record) == "other"


def test_a_title_that_names_an_observational_design_outranks_review_wording() -> None:
    paper = article("Ketamine and drinking among veterans: a population-based cohort study",
                    "This review of national records covers ketamine prescriptions. "
                    "We reviewed data on drinking outcomes.")
    assert design.text_design(paper) == "observational"
