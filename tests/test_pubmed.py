"""kettrack.sources.pubmed: efetch XML -> Article, against real NCBI responses.

Every expected value below was read from the fixture file named in the test
(tests/fixtures/README.md says where each file came from). What is not a real
response says so where it is used: HAND_MADE_RETRACTED (no real RetractionIn
record is available), a hand-made MedlineDate spanning two years, a real record
with its ArticleTitle emptied, and the one-line strings given to clean_text.
"""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import pytest

from kettrack.library.article import AbstractSection, Article, Correction, PublicationType
from kettrack.sources import pubmed
from kettrack.sources.pubmed import Deletion

FIXTURES = Path(__file__).parent / "fixtures" / "ncbi"


def load(name: str) -> bytes:
    data = (FIXTURES / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


def articles(name: str) -> dict[str, Article]:
    return {a.pmid: a for a in pubmed.parse_efetch(load(name)) if isinstance(a, Article)}


def one(name: str) -> Article:
    (article,) = articles(name).values()
    return article


def prolog_of(data: bytes) -> bytes:
    return data[: data.index(b"<PubmedArticleSet>")]


# --------------------------------------------------------------------------- dates


def test_season_pub_date_and_keyword_list():
    found = articles("pubmed1.xml")
    assert list(found) == ["12091962", "9997"]
    aids = found["12091962"]
    assert aids.pub_date == "1990 Spring"
    assert aids.year == 1990
    assert aids.keywords == ["Health Care and Public Health", "Legal Approach"]
    assert aids.entrez_date == "1990-04-01"
    assert aids.pages == "113-25"  # MedlinePgn wins over StartPage/EndPage 113/125
    assert aids.authors == ["Olivero JM"]
    assert aids.journal == "Social justice (San Francisco, Calif.)"
    assert aids.journal_iso == "Soc Justice"
    assert (aids.volume, aids.issue) == ("17", "1")
    assert aids.abstract_sections == []


def test_year_month_day_pub_date_and_ids_from_article_id_list():
    heme = articles("pubmed1.xml")["9997"]
    assert heme.pub_date == "1976 Sep 28"
    assert heme.year == 1976
    assert heme.doi == "10.1016/0005-2795(76)90109-4"
    assert heme.pii == "0005-2795(76)90109-4"
    assert heme.pmcid is None
    assert heme.mesh[1].descriptor == "Chromatium"
    assert heme.mesh[1].ui == "D002844"
    assert heme.mesh[1].major is False
    assert heme.mesh[1].qualifiers == [("enzymology", True)]
    assert heme.mesh[2].descriptor == "Cytochrome c Group"
    assert heme.mesh[2].major is True


def test_season_summer():
    article = one("37733615.xml")
    assert article.pub_date == "2021 Summer"
    assert article.year == 2021
    assert article.entrez_date == "2023-09-21"


def test_numeric_month_is_printed_as_its_abbreviation():
    article = one("pubmed-29768149.xml")  # <Month>05</Month><Day>17</Day>
    assert article.pub_date == "2018 May 17"
    assert article.entrez_date == "2018-05-17"


def test_medline_date_from_medline16n0902():
    article = articles("medline16n0902_sample.xml")["18621939"]
    assert article.pub_date == "2008 Jul-Aug"
    assert article.year == 2008
    assert article.title == (
        "Clusters of alcohol use disorders diagnostic criteria and predictors of alcohol use "
        "after liver transplantation for alcoholic liver disease."
    )


def test_medline_date_across_a_year_boundary_takes_the_first_year():
    # hand-made PubDate: no fixture here has a MedlineDate spanning two years
    printed = "1998 Dec-1999 Jan"
    assert pubmed.parse_pub_date({"MedlineDate": printed}) == (printed, 1998)
    assert pubmed.parse_pub_date(None) == (None, None)


# --------------------------------------------------------------------------- abstracts, titles


def test_labelled_abstract_and_databank_nct():
    article = one("pubmed-29768149.xml")
    assert [s.label for s in article.abstract_sections] == [
        "BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS",
    ]
    assert article.nct_ids == ["NCT02149199"]
    assert article.other_trial_ids == []
    # the file breaks the line before <sub>: "fast-acting &#946;\n\t\t<sub>2</sub>-agonist"
    assert article.abstract_sections[0].text == (
        "In patients with mild asthma, as-needed use of an inhaled glucocorticoid plus a "
        "fast-acting β2-agonist may be an alternative to conventional treatment strategies."
    )
    assert article.authors[:2] == ["O'Byrne PM", "FitzGerald JM"]
    assert article.doi == "10.1056/nejmoa1715274"  # normalised from 10.1056/NEJMoa1715274
    assert PublicationType("Randomized Controlled Trial", "D016449") in article.publication_types
    asthma = next(m for m in article.mesh if m.descriptor == "Asthma")
    assert (asthma.ui, asthma.major) == ("D001249", False)
    assert asthma.qualifiers == [("drug therapy", True)]
    assert article.citation_status == "MEDLINE"
    assert article.publication_status == "ppublish"


def test_labels_and_nlm_categories():
    article = one("23657305.xml")
    assert [(s.label, s.category) for s in article.abstract_sections] == [
        ("CONTEXT", "BACKGROUND"),
        ("OBJECTIVES", "OBJECTIVE"),
        ("METHODS", "METHODS"),
        ("RESULTS", "RESULTS"),
        ("CONCLUSION", "CONCLUSIONS"),
    ]
    assert article.pub_date == "2013 Jan-Mar"
    assert article.abstract.startswith("CONTEXT: Alcoholic liver disease (ALD)")


def test_affiliations_each_once_without_email_addresses():
    article = one("23657305.xml")
    assert article.affiliations == [
        "Faculty of Medicine of the University of Coimbra, 3004-504 Coimbra, Portugal"]
    many = one("37733615.xml")
    assert many.affiliations[:2] == [
        "Department of Anthropology and Ethnology, Institute of Anthropology, School of "
        "Sociology and Anthropology, Xiamen University, Xiamen, China",
        "School of Music, Guizhou Normal University, Guiyang, China"]
    assert len(many.affiliations) == len(set(many.affiliations))
    assert not any("@" in a for a in many.affiliations)
    # stored, but not part of the revision fingerprint (see UNHASHED_FIELDS)
    assert article.to_record()["affiliations"] == article.affiliations
    assert "affiliations" not in article.source_fields()
    assert Article.from_record(article.to_record()).affiliations == article.affiliations


def test_unlabelled_abstract_is_one_section_without_label():
    article = one("34843274.xml")
    assert len(article.abstract_sections) == 1
    assert article.abstract_sections[0].label is None
    assert article.abstract_sections[0].text.startswith(
        "The American Psychological Association (APA) developed this clinical practice guideline"
    )


def test_vernacular_title_is_kept_out_while_there_is_a_title():
    article = one("36987902.xml")
    assert article.title == (
        "Patients over 75 years admitted to the National Burn Centre, Haukeland University "
        "Hospital, 2000-19."
    )
    assert [s.label for s in article.abstract_sections] == [
        "BACKGROUND", "MATERIAL AND METHOD", "RESULTS", "INTERPRETATION",
    ]
    assert article.languages == ["eng", "nor"]
    assert article.authors[0] == "Bruserud Ø"


def test_vernacular_title_stands_in_for_a_missing_title():
    # the real record with its ArticleTitle emptied (a modification made here)
    data = load("36987902.xml")
    start, end = data.index(b"<ArticleTitle>"), data.index(b"</ArticleTitle>")
    (article,) = pubmed.parse_efetch(data[:start] + b"<ArticleTitle>" + data[end:])
    assert isinstance(article, Article)
    # &#xa0; (no-break space) becomes a plain space; &#xe5; and &#x2013; stay
    assert article.title == (
        "Pasienter over 75 år innlagt ved Brannskadeavdelinga, Haukeland universitetssjukehus "
        "2000–19."
    )


def test_collective_name_author():
    assert one("34843274.xml").authors == [
        "Guideline Development Panel for the Treatment of Depressive Disorders"
    ]


def test_inline_italic_in_title_and_sub_in_abstract():
    article = one("pubmed4.xml")
    assert article.title == (
        "Leucocyte telomere length, genetic variants at the TERT gene region and risk of "
        "pancreatic cancer."
    )
    assert "(comparing extreme quintiles of telomere length, OR 1.72; 95% CI 1.07 to 2.78; " \
        "ptrend=0.048)" in article.abstract
    assert "(linkage disequilibrium r2<0.25)" in article.abstract
    assert article.pmcid == "PMC5442267"


def test_bold_sub_and_italic_markup_is_removed():
    article = one("38513076.xml")
    text = article.abstract
    assert "the optimized compound 7d possessed the most brilliant antiviral" in text
    assert "(EC50 = 157.6 μg/mL)" in text
    assert "(ΔGbind = -10.7 kcal/mol)" in text
    assert "<" not in text and ">" not in text


def test_mathml_becomes_its_tokens():
    # pubmed6.xml: a V-dot-O2max formula, indented over 18 lines, three times
    article = one("pubmed6.xml")
    assert "maximal oxygen uptake (V̇O2max) 67.6 ± 4.1 ml·kg-1·min-1]" in article.abstract
    assert "incremental running test for V̇O2max determination" in article.abstract
    assert "(P < 0.001; ES: 3.54)" in article.abstract  # &lt; stays a real "<"
    assert article.title == (
        'A "Blood Relationship" Between the Overlooked Minimum Lactate Equivalent and Maximal '
        "Lactate Steady State in Trained Runners. Back to the Old Days?"
    )
    assert article.year == 2018 and article.pub_date == "2018"


def test_mathml_prescripts_and_mtext_space():
    article = one("pubmed7.xml")  # <mmultiscripts>He<mprescripts/><none/>3 ... <mtext> </mtext>
    assert "(1) inhaled 3He/129Xe MRI ventilation and apparent diffusion" in article.abstract
    assert "(3) ultrashort echo-time 1H MRI proton density measurements" in article.abstract


def test_one_line_record_with_hex_character_references():
    article = one("38011560.xml")
    assert article.title == (
        "Ketamine and the neurobiology of depression: Toward next-generation rapid-acting "
        "antidepressant treatments."
    )
    assert article.keywords == ["antidepressant", "depression", "ketamine", "neuroplasticity",
                                "stress"]
    assert article.pmcid == "PMC10710048"
    assert article.pages == "e2305772120"
    ketamine = article.mesh[0]
    assert (ketamine.descriptor, ketamine.ui, ketamine.major) == ("Ketamine", "D007649", True)
    assert PublicationType("Review", "D016454") in article.publication_types


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ""),
        ("  two\n\t lines  ", "two lines"),
        ("P < 0.001 and n > 3", "P < 0.001 and n > 3"),
        ("the <i>TERT</i> gene", "the TERT gene"),
        ("GeneReviews<sup>®</sup>", "GeneReviews®"),
        ("Ca<sup>2+</sup>\n    <sub>x</sub>", "Ca2+x"),
        ("<b>7d</b>\n  .", "7d."),
    ],
)
def test_clean_text(raw: str | None, expected: str):
    assert pubmed.clean_text(raw) == expected


def test_glued_inline_tags_keep_the_spacing_of_the_source():
    # as in title_with_html_tags.xml (an unmerged Biopython branch's edit of pubmed4.xml,
    # not copied here): no space is invented where the source has none
    assert pubmed.clean_text("at the<i>TERT</i>gene") == "at theTERTgene"


# --------------------------------------------------------------------------- corrections


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("38833988.xml", Correction(
            "ErratumFor", "33279609",
            "Biochim Biophys Acta Mol Cell Res. 2021 Mar;1868(3):118918. "
            "doi: 10.1016/j.bbamcr.2020.118918.")),
        ("35649368.xml", Correction(
            "ErratumIn", "35767954",
            "Cell Rep. 2022 Jun 28;39(13):111044. doi: 10.1016/j.celrep.2022.111044.")),
        ("36156117.xml", Correction(
            "UpdateOf", "35794888",
            "Res Sq. 2022 Jun 29:rs.3.rs-1800050. doi: 10.21203/rs.3.rs-1800050/v1.")),
        ("34529508.xml", Correction(
            "CommentOn", "34473563",
            "Am J Public Health. 2021 Oct;111(10):1815-1823. doi: 10.2105/AJPH.2021.306412.")),
    ],
)
def test_comments_corrections(name: str, expected: Correction):
    article = one(name)
    assert article.corrections == [expected]
    assert article.has_erratum is (expected.ref_type == "ErratumIn")
    assert article.retracted is False


def test_erratum_record_is_not_medline_indexed():
    article = one("38833988.xml")
    assert article.citation_status == "PubMed-not-MEDLINE"
    assert article.pii == "S0167-4889(24)00110-1"


def test_erratum_in_from_medline16n0902():
    article = articles("medline16n0902_sample.xml")["26702309"]
    assert article.corrections == [
        Correction("ErratumIn", "26705261", "Syst Synth Biol. 2015 Dec;9(Suppl 1):55")
    ]
    assert article.has_erratum is True


def test_cites_are_not_corrections():
    article = articles("medline16n0902_sample.xml")["21933749"]  # 29 Cites + 1 CommentIn
    assert article.corrections == [
        Correction("CommentIn", "21933750", "Lancet Oncol. 2011 Oct;12(11):983-4")
    ]


HAND_MADE_RETRACTED = b"""<?xml version="1.0" ?>
<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" \
"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">
<PubmedArticleSet>
<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">99000001</PMID>
<Article PubModel="Print"><Journal><JournalIssue CitedMedium="Print"><Volume>1</Volume>
<PubDate><MedlineDate>1998 Dec-1999 Jan</MedlineDate></PubDate></JournalIssue>
<Title>Hand-made journal</Title></Journal>
<ArticleTitle>Ketamine for <i>alcohol</i> use disorder (nct01234567)</ArticleTitle>
<Pagination><StartPage>10</StartPage><EndPage>12</EndPage></Pagination>
<Abstract><AbstractText>Registered as ISRCTN 12345678, NCT01234567 and NCT 07654321; dose \
<mml:math xmlns:mml="http://www.w3.org/1998/Math/MathML"><mml:mi>x</mml:mi><mml:mo>&lt;</mml:mo>\
<mml:mn>2</mml:mn></mml:math> mg/kg, P &lt; 0.05.</AbstractText></Abstract>
<AuthorList><Author><LastName>Doe</LastName><Initials>J</Initials></Author>
<Author ValidYN="N"><LastName>Deo</LastName><Initials>J</Initials></Author></AuthorList>
<Language>eng</Language>
<PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType>
<PublicationType UI="D016441">Retracted Publication</PublicationType></PublicationTypeList>
</Article>
<MedlineJournalInfo><MedlineTA>Hand J</MedlineTA></MedlineJournalInfo>
<CommentsCorrectionsList><CommentsCorrections RefType="RetractionIn">
<RefSource>Hand J. 2000;2:1</RefSource><PMID Version="1">99000002</PMID></CommentsCorrections>
</CommentsCorrectionsList></MedlineCitation>
<PubmedData><History><PubMedPubDate PubStatus="pubmed"><Year>1999</Year><Month>1</Month>
<Day>2</Day></PubMedPubDate></History><PublicationStatus>ppublish</PublicationStatus>
<ArticleIdList><ArticleId IdType="pubmed">99000001</ArticleId>
<ArticleId IdType="pmc">PMC123</ArticleId></ArticleIdList></PubmedData>
</PubmedArticle></PubmedArticleSet>
"""


def test_hand_made_retraction_record():
    # HAND-MADE (no real RetractionIn record among the fixtures): see HAND_MADE_RETRACTED
    (article,) = pubmed.parse_efetch(HAND_MADE_RETRACTED)
    assert isinstance(article, Article)
    assert article.corrections == [Correction("RetractionIn", "99000002", "Hand J. 2000;2:1")]
    assert article.retracted is True
    assert article.title == "Ketamine for alcohol use disorder (nct01234567)"
    assert article.abstract == (
        "Registered as ISRCTN 12345678, NCT01234567 and NCT 07654321; dose x<2 mg/kg, P < 0.05."
    )
    # from title and abstract: upper case, "NCT 0..." closed up, deduplicated, sorted
    assert article.nct_ids == ["NCT01234567", "NCT07654321"]
    assert article.other_trial_ids == ["ISRCTN12345678"]
    assert article.authors == ["Doe J"]  # ValidYN="N" is NLM's record of a wrong name
    assert article.pages == "10-12"
    assert (article.pub_date, article.year) == ("1998 Dec-1999 Jan", 1998)
    assert article.entrez_date == "1999-01-02"  # no "entrez" date: the "pubmed" one
    assert article.pmcid == "PMC123"


# --------------------------------------------------------------------------- trial ids


def test_isrctn_and_eudract_from_databank_list():
    article = articles("medline16n0902_sample.xml")["25998582"]
    assert article.other_trial_ids == ["2010-019469-26", "ISRCTN69423238"]
    assert article.nct_ids == []
    assert article.citation_status == "In-Process"


def test_nct_from_databank_list_in_medline16n0902():
    assert articles("medline16n0902_sample.xml")["21933749"].nct_ids == ["NCT00585195"]


def test_nct_found_only_in_abstract_text():
    article = articles("medline16n0902_sample.xml")["26253018"]
    assert article.abstract_sections[-1] == AbstractSection(
        "NCT01384227 and NCT02018367.).", "CLINICAL TRIAL REGISTRATION NUMBER", "BACKGROUND"
    )
    assert article.nct_ids == ["NCT01384227", "NCT02018367"]


def test_medline_file_records_have_no_pubmed_data():
    article = articles_and_deletions("medline16n0902_sample.xml")[0]
    assert isinstance(article, Article)
    assert article.entrez_date is None and article.publication_status is None
    assert article.doi == "10.1176/appi.psy.49.4.332"  # from ELocationID


# --------------------------------------------------------------------------- books


def test_book_chapter_is_kept_with_its_authors_not_its_editors():
    article = one("sample_article_20301577.xml")
    assert article.is_book is True
    assert article.pmid == "20301577"
    assert article.title == "CACNA1C-Related Disorders"
    assert article.journal == "GeneReviews®"
    assert article.authors == ["Napolitano C", "Priori SG"]  # not Adam MP, Feldman J...
    assert [s.label for s in article.abstract_sections] == [
        "CLINICAL CHARACTERISTICS", "DIAGNOSIS/TESTING", "MANAGEMENT", "GENETIC COUNSELING",
    ]
    assert article.publication_types == [PublicationType("Review", "D016454")]
    assert article.pub_date == "2006 Feb 15"  # ContributionDate, not the book's 1993
    assert article.year == 2006
    assert article.entrez_date == "2024-12-19"
    assert article.keywords[:3] == [  # "Timothy Syndrome" is listed twice in the file
        "Timothy Syndrome", "CACNA1C-Related Neurodevelopmental Syndrome",
        "CACNA1C-Related Nonsyndromic Long QT Syndrome",
    ]


def test_whole_book_record_2013():
    article = one("efetch.pubmedbook.xml")
    assert article.is_book is True
    assert article.pmid == "20301295"
    assert article.title == "GeneReviews™"
    assert article.journal is None
    assert article.authors == []  # only an editors AuthorList
    assert (article.pub_date, article.year) == ("1993", 1993)
    assert article.entrez_date == "2010-03-20"
    assert article.publication_status == "ppublish"
    assert article.abstract_sections[0].text.startswith(
        "GeneReviews are expert-authored, peer-reviewed disease descriptions"
    )


# --------------------------------------------------------------------------- streams


def articles_and_deletions(name: str) -> list[Article | Deletion]:
    return list(pubmed.parse_efetch(load(name)))


def test_delete_citation_becomes_a_deletion_after_the_records():
    items = articles_and_deletions("medline16n0902_sample.xml")
    assert [getattr(i, "pmid", None) for i in items[:-1]] == [
        "18621939", "25998582", "26702309", "21933749", "26253018", "26702160",
    ]
    assert items[-1] == Deletion(["26432306"])


def test_empty_set_yields_nothing():
    assert articles_and_deletions("37909814.xml") == []
    assert pubmed.split_records(load("37909814.xml")) == {}


def test_2013_dtd_records():
    found = articles("efetch.pubmed.xml")
    assert list(found) == ["17284678", "9997"]
    eimeria = found["17284678"]
    assert eimeria.pmcid == "PMC1800922"
    assert eimeria.doi == "10.1101/gr.5823007"
    assert eimeria.pub_date == "2007 Mar"
    assert eimeria.entrez_date == "2007-02-08"
    assert eimeria.publication_types[0] == PublicationType("Comparative Study", None)


def test_2008_dtd_records():
    # pubmed_080101: a lone AbstractText and a repeated History are not lists
    found = articles("bp2008_pubmed1.xml")
    assert found["9997"].abstract_sections[0].text.startswith(
        "Electron paramagnetic resonance and magnetic susceptibility studies"
    )
    assert len(found["9997"].abstract_sections) == 1
    assert found["12091962"].entrez_date == "1990-04-01"


ALL_RECORD_FILES = [
    "pubmed1.xml", "pubmed4.xml", "pubmed6.xml", "pubmed7.xml", "bp2008_pubmed1.xml",
    "pubmed-29768149.xml", "efetch.pubmedbook.xml", "sample_article_20301577.xml",
    "efetch.pubmed.xml", "test_current_medline.xml.gz", "medline16n0902_sample.xml",
    "38833988.xml", "35649368.xml", "36156117.xml", "36987902.xml", "34843274.xml",
    "37733615.xml", "38513076.xml", "38011560.xml", "23657305.xml", "34529508.xml",
]


@pytest.mark.parametrize("name", ALL_RECORD_FILES)
def test_split_records_matches_the_parse(name: str):
    data = load(name)
    parsed = [a for a in pubmed.parse_efetch(data) if isinstance(a, Article)]
    raw = pubmed.split_records(data)
    assert list(raw) == [a.pmid for a in parsed]
    for article in parsed:
        chunk = raw[article.pmid]
        tag = b"PubmedBookArticle" if article.is_book else b"PubmedArticle"
        assert chunk.startswith(b"<" + tag + b">") and chunk.endswith(b"</" + tag + b">")
        assert chunk in data
        assert pubmed.article_from_raw(chunk, prolog_of(data)) == article


def test_split_records_of_a_one_line_response():
    data = load("test_current_medline.xml.gz")  # four records on one line each
    raw = pubmed.split_records(data)
    assert list(raw) == ["36400559", "2930949", "11446611", "28786991"]
    for chunk in raw.values():
        assert chunk.count(b"<PubmedArticle>") == chunk.count(b"</PubmedArticle>") == 1


def test_article_from_raw_defaults_to_the_current_dtd():
    data = load("38011560.xml")  # a pubmed_250101 response
    (chunk,) = pubmed.split_records(data).values()
    assert pubmed.article_from_raw(chunk) == one("38011560.xml")


# --------------------------------------------------------------------------- hashes


def test_record_hash_is_stable_across_parses():
    first = [a.source_hash() for a in articles("pubmed-29768149.xml").values()]
    second = [a.source_hash() for a in articles("pubmed-29768149.xml").values()]
    assert first == second
    assert len(first[0]) == 40


def test_record_hash_changes_when_a_publication_type_is_added():
    article = one("pubmed-29768149.xml")
    before = article.source_hash()
    revised = dataclasses.replace(
        article,
        publication_types=[*article.publication_types, PublicationType("Retracted Publication",
                                                                       "D016441")],
    )
    assert revised.source_hash() != before
    assert article.source_hash() == before


def test_record_hash_sees_ncbi_revising_a_record():
    # PMID 9997 as efetch served it in 2013 and in 2025 (DOI and MeSH UIs added since)
    old = articles("efetch.pubmed.xml")["9997"]
    new = articles("pubmed1.xml")["9997"]
    assert old.source_hash() != new.source_hash()
