"""The stand-in's PubMed search engine: syntax, fields, NCBI's warnings and errors."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kettrack.errors import QuerySyntaxError
from kettrack.standin.pubmed_query import (
    APPROXIMATIONS,
    BinOp,
    DateRange,
    IndexedRecord,
    SearchIndex,
    SearchResult,
    Term,
    parse,
)


def _record(
    pmid: str,
    title: str,
    abstract: str = "",
    *,
    mesh: list[tuple[str, bool]] | None = None,
    pt: list[str] | None = None,
    authors: list[str] | None = None,
    keywords: list[str] | None = None,
    languages: list[str] | None = None,
    pub: date | None = None,
    edat: date | None = None,
) -> IndexedRecord:
    return IndexedRecord(
        pmid=pmid,
        title=title,
        abstract=abstract,
        mesh=mesh or [],
        publication_types=pt or ["Journal Article"],
        authors=authors or [],
        keywords=keywords or [],
        languages=languages or ["eng"],
        pub_date=pub,
        entrez_date=edat,
    )


RECORDS = [
    _record(
        "101",
        "Ketamine for alcohol use disorder: a randomized trial",
        "A single ketamine infusion versus midazolam placebo reduced alcohol-related relapse.",
        mesh=[("Ketamine", True), ("Alcoholism", True), ("Humans", False)],
        pt=["Randomized Controlled Trial", "Journal Article"],
        authors=["Grabski M", "Morgan CJA", "Das RK"],
        keywords=["memory reconsolidation"],
        pub=date(2022, 3, 15),
        edat=date(2022, 1, 10),
    ),
    _record(
        "102",
        "Esketamine nasal spray in treatment-resistant depression",
        "Patients with comorbid alcohol use were excluded.",
        mesh=[("Depressive Disorder, Treatment-Resistant", True), ("Ketamine", False)],
        pt=["Review"],
        authors=["Smith J"],
        pub=date(2019, 6, 1),
        edat=date(2019, 6, 20),
    ),
    _record(
        "103",
        "Ethanol self-administration in rats",
        "Rats given ketamine drank less ethanol. Use of disorder scales.",
        mesh=[("Alcohol Withdrawal Seizures", False), ("Rats", False)],
        authors=["Grabskiewicz A"],
        keywords=["ethanol"],
        languages=["ger"],
        pub=date(2015, 1, 1),
        edat=date(2015, 2, 1),
    ),
    _record(
        "104",
        "Ketamine and drinking",
        "",
        pt=["Comment", "Letter"],
        authors=["KARE Collaborators"],
        pub=date(2023, 1, 2),
        edat=date(2023, 1, 5),
    ),
    _record(
        "105",
        "Alcoholism and memory",
        "Long-term memory consolidation in alcohol dependence.",
        mesh=[("Memory Consolidation", True), ("Alcohol-Related Disorders", False)],
        pt=["Clinical Trial"],
        authors=["Grabski MJ"],
        pub=date(2020, 12, 31),
        edat=date(2021, 1, 1),
    ),
    _record(
        "106",
        "Arketamine in mice",
        "Arketamine, unlike esketamine, had no psychotomimetic effects.",
        authors=["Zhang K"],
        edat=date(2021, 1, 1),
    ),
    _record(
        "1000",
        "Placebo response in addiction trials",
        "Randomization and placebo effects in alcohol trials.",
        pt=["Meta-Analysis"],
        authors=["Lee A", "Das RK"],
        languages=["fre"],
        pub=date(2021, 5, 1),
        edat=date(2021, 1, 1),
    ),
    _record("9", "Undated ketamine note", "Nothing dated."),
]


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    return SearchIndex(RECORDS)


def hits(index: SearchIndex, term: str, **kwargs: str) -> set[str]:
    return set(index.search(term, **kwargs).ids)


# ------------------------------------------------------------------ Boolean logic


def test_operators_run_left_to_right_without_precedence(index: SearchIndex) -> None:
    flat = hits(index, "ketamine[ti] OR ethanol[ti] AND rats[ti]")
    assert flat == hits(index, "(ketamine[ti] OR ethanol[ti]) AND rats[ti]") == {"103"}
    # With AND binding tighter (not PubMed), the ketamine titles would be in too.
    assert hits(index, "ketamine[ti] OR (ethanol[ti] AND rats[ti])") == {
        "101",
        "103",
        "104",
        "9",
    }


def test_not_is_binary_and_left_to_right(index: SearchIndex) -> None:
    assert hits(index, "ketamine[ti] NOT comment[pt]") == {"101", "9"}
    # (a NOT b) OR c, not a NOT (b OR c)
    assert hits(index, "ketamine[ti] NOT comment[pt] OR letter[pt]") == {"101", "9", "104"}
    assert hits(index, "ketamine[ti] NOT (comment[pt] OR review[pt])") == {"101", "9"}


def test_parentheses_nest(index: SearchIndex) -> None:
    term = "((ketamine[tiab] OR esketamine[tiab]) AND (rats[tiab] OR depression[tiab]))"
    assert hits(index, term) == {"102", "103"}


def test_adjacent_terms_are_anded(index: SearchIndex) -> None:
    assert hits(index, "ketamine rats") == hits(index, "ketamine AND rats") == {"103"}
    assert hits(index, "(ketamine[tiab] OR arketamine[ti]) (rats[tiab] OR mice[tiab])") == {
        "103",
        "106",
    }


def test_lower_case_operators_are_words(index: SearchIndex) -> None:
    # PubMed only honours upper-case operators: "or rats[ti]" is a phrase, not found.
    result = index.search("ketamine[ti] or rats[ti]")
    assert set(result.ids) == hits(index, "ketamine[ti]")
    assert result.phrases_not_found == ["or rats[Title]"]


# ------------------------------------------------------------------ text matching


def test_quoted_phrase_needs_consecutive_words(index: SearchIndex) -> None:
    assert hits(index, '"alcohol use disorder"[tiab]') == {"101"}
    # 103 has "use" and "disorder" but not as a phrase
    assert hits(index, "use[tiab] AND disorder[tiab]") == {"101", "103"}


def test_hyphenated_words_match_as_phrase_and_parts(index: SearchIndex) -> None:
    assert hits(index, '"alcohol related"[tiab]') == {"101"}
    assert hits(index, "alcohol-related[tiab]") == {"101"}
    assert hits(index, "related[tiab]") == {"101"}
    assert hits(index, "self-administration[ti]") == {"103"}


def test_matching_is_case_insensitive(index: SearchIndex) -> None:
    assert hits(index, "KETAMINE[TI]") == hits(index, "ketamine[ti]")


def test_truncation(index: SearchIndex) -> None:
    result = index.search("alcohol*[tiab]")
    # alcohol, alcoholism, alcohol-related
    assert set(result.ids) == {"101", "102", "105", "1000"}
    assert result.warnings == []
    assert hits(index, "random*[tiab]") == {"101", "1000"}
    assert hits(index, '"alcohol use disord*"[tiab]') == {"101"}


def test_short_truncation_root_warns(index: SearchIndex) -> None:
    result = index.search("alc*[tiab]")
    assert set(result.ids) == {"101", "102", "105", "1000"}
    assert len(result.warnings) == 1
    assert "alc*" in result.warnings[0]


def test_proximity(index: SearchIndex) -> None:
    # "ketamine infusion versus midazolam": two words between
    assert hits(index, '"ketamine midazolam"[tiab:~2]') == {"101"}
    assert hits(index, '"midazolam ketamine"[tiab:~2]') == {"101"}
    assert hits(index, '"ketamine midazolam"[tiab:~1]') == set()


# ------------------------------------------------------------------ field tags


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("rats[ti]", {"103"}),
        ("rats[Title]", {"103"}),
        ("midazolam[ti]", set()),
        ("midazolam[ab]", {"101"}),
        ("midazolam[Abstract]", {"101"}),
        ("midazolam[tiab]", {"101"}),
        ("midazolam[Title/Abstract]", {"101"}),
        ("midazolam[title/abstract]", {"101"}),
        # author keywords are searched by [tiab] (as PubMed does), [ot] and [tw]
        ("reconsolidation[tiab]", {"101"}),
        ("reconsolidation[ot]", {"101"}),
        ("reconsolidation[ab]", set()),
        # MeSH words are in [tw] and [all], not [tiab]
        ("seizures[tiab]", set()),
        ("seizures[tw]", {"103"}),
        ("seizures[Text Word]", {"103"}),
        ("seizures[all]", {"103"}),
        # publication-type and author words are in [all] only
        ("letter[tw]", set()),
        ("letter[All Fields]", {"104"}),
        ("collaborators[all]", {"104"}),
    ],
)
def test_text_fields(index: SearchIndex, term: str, expected: set[str]) -> None:
    assert hits(index, term) == expected


def test_untagged_terms_search_all_fields(index: SearchIndex) -> None:
    assert hits(index, "midazolam") == {"101"}
    assert hits(index, "seizures") == {"103"}
    assert hits(index, "grabski") == {"101", "105"}
    assert hits(index, '"alcohol use"') == {"101", "102"}
    result = index.search("midazolam")
    assert result.translation == '"midazolam"[All Fields]'


def test_untagged_term_maps_to_exploded_mesh() -> None:
    index = SearchIndex(RECORDS, mesh_tree={"Dissociatives": ["Ketamine"]})
    result = index.search("dissociatives")
    assert set(result.ids) == {"101", "102"}
    assert '"dissociatives"[MeSH Terms]' in result.translation
    # quoting turns automatic term mapping off, as on PubMed
    assert index.search('"dissociatives"').quoted_phrases_not_found == ['"dissociatives"']


def test_mesh_explosion(index: SearchIndex) -> None:
    # Alcoholism (101), Alcohol Withdrawal Seizures (103), the descriptor itself (105)
    assert hits(index, '"Alcohol-Related Disorders"[mh]') == {"101", "103", "105"}
    assert hits(index, '"Alcohol-Related Disorders"[MeSH Terms]') == {"101", "103", "105"}
    assert hits(index, "alcohol related disorders[MESH]") == {"101", "103", "105"}
    assert hits(index, '"Substance-Related Disorders"[mh]') == {"101", "103", "105"}
    assert hits(index, "memory[mh]") == {"105"}
    assert hits(index, '"Excitatory Amino Acid Antagonists"[mh]') == {"101", "102"}
    assert hits(index, '"Depressive Disorder"[mh]') == {"102"}


def test_mesh_noexp_and_whole_values(index: SearchIndex) -> None:
    assert hits(index, '"Alcohol-Related Disorders"[mh:noexp]') == {"105"}
    assert hits(index, '"Alcohol-Related Disorders"[MeSH Terms:noexp]') == {"105"}
    # MeSH matches whole descriptors, not words in them
    result = index.search("alcohol[mh]")
    assert result.ids == []
    assert result.phrases_not_found == ["alcohol[MeSH Terms]"]
    # a truncated descriptor matches by name prefix (Alcoholism too)
    assert hits(index, "alcohol*[mh]") == {"101", "103", "105"}


def test_mesh_major_topic(index: SearchIndex) -> None:
    assert hits(index, "ketamine[majr]") == {"101"}
    assert hits(index, "ketamine[MeSH Major Topic]") == {"101"}
    assert hits(index, "ketamine[mh]") == {"101", "102"}
    # explodes too: Alcoholism is major in 101; 103 and 105 are not major
    assert hits(index, '"Alcohol-Related Disorders"[majr]') == {"101"}
    assert index.search('"Alcohol-Related Disorders"[majr:noexp]').ids == []


def test_custom_mesh_tree_replaces_the_default() -> None:
    index = SearchIndex(RECORDS, mesh_tree={})
    assert set(index.search('"Alcohol-Related Disorders"[mh]').ids) == {"105"}


def test_publication_type(index: SearchIndex) -> None:
    assert hits(index, "randomized controlled trial[pt]") == {"101"}
    assert hits(index, '"Randomized Controlled Trial"[Publication Type]') == {"101"}
    # publication types explode: an RCT is a clinical trial
    assert hits(index, "clinical trial[pt]") == {"101", "105"}
    assert hits(index, "comment[pt] OR editorial[pt]") == {"104"}
    # whole values, not words
    assert index.search("trial[pt]").phrases_not_found == ["trial[Publication Type]"]


def test_author(index: SearchIndex) -> None:
    # a surname finds any initials, but not a longer surname (Grabskiewicz)
    assert hits(index, "grabski[au]") == {"101", "105"}
    assert hits(index, "Grabski M[au]") == {"101", "105"}
    assert hits(index, '"Grabski MJ"[Author]') == {"105"}
    assert hits(index, '"KARE Collaborators"[au]') == {"104"}
    assert hits(index, "lee a[1au]") == {"1000"}
    assert hits(index, "das rk[1au]") == set()
    assert hits(index, "das rk[lastau]") == {"101", "1000"}
    assert hits(index, "das rk[Author - Last]") == {"101", "1000"}


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("english[la]", {"101", "102", "104", "105", "106", "9"}),
        ("eng[la]", {"101", "102", "104", "105", "106", "9"}),
        ("German[Language]", {"103"}),
        ("ger[LA]", {"103"}),
        ("french[la]", {"1000"}),
    ],
)
def test_language(index: SearchIndex, term: str, expected: set[str]) -> None:
    assert hits(index, term) == expected


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("2022[dp]", {"101"}),
        ("2020/12[dp]", {"105"}),
        ('"2020/12/31"[dp]', {"105"}),
        ("2015:2019[dp]", {"102", "103"}),
        ("2019:2015[dp]", {"102", "103"}),  # backwards: swapped
        ('"2015/01/01"[dp] : "2019/12/31"[dp]', {"102", "103"}),
        ('"2015/01/01"[Publication Date] : "2019/06/01"[Publication Date]', {"102", "103"}),
        ('"2015/01/02"[dp] : "2019/05/31"[dp]', set()),
        ("2015/01/01:2015/01/01[pdat]", {"103"}),
        ("2015:2019", {"102", "103"}),  # an untagged range of dates is a [dp] range
        ('("2021/01/01"[edat] : "2021/12/31"[edat])', {"105", "106", "1000"}),
        ("2021[Entrez Date]", {"105", "106", "1000"}),
        ("2019/06[edat]", {"102"}),
        ("ketamine[tiab] AND 2015:2026[dp]", {"101", "103", "104"}),
    ],
)
def test_dates(index: SearchIndex, term: str, expected: set[str]) -> None:
    assert hits(index, term) == expected


def test_date_without_hits_is_not_dropped(index: SearchIndex) -> None:
    # Unlike words, an empty date range stays in the query: the answer is empty.
    result = index.search("ketamine[tiab] AND 1990:1991[dp]")
    assert result.ids == []
    assert result.phrases_not_found == []
    assert "1990/01/01:1991/12/31[Date - Publication]" in result.translation


def test_datetype_mindate_maxdate(index: SearchIndex) -> None:
    term = "ketamine[tiab]"
    assert hits(index, term, datetype="edat", mindate="2022", maxdate="2023") == {"101", "104"}
    term = "ketamine[mh]"
    assert hits(index, term, datetype="pdat", mindate="2019/06", maxdate="2022/03/15") == {
        "101",
        "102",
    }
    assert hits(index, term, datetype="pdat", mindate="2019/07", maxdate="2022/03/14") == set()
    term = "ketamine[tiab]"
    assert hits(index, term, datetype="edat", mindate="2022/01/11", maxdate="2022/12") == set()
    # esearch's default datetype is the publication date
    assert hits(index, term, mindate="2015", maxdate="2015") == {"103"}
    result = index.search(term, datetype="edat", mindate="2022", maxdate="2023")
    assert result.translation.endswith("AND 2022/01/01:2023/12/31[Date - Entrez]")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mindate": "2020"},
        {"maxdate": "2020"},
        {"mindate": "2020/13", "maxdate": "2021"},
        {"mindate": "2020", "maxdate": "last week"},
        {"mindate": "20", "maxdate": "2021"},
        {"datetype": "mdat", "mindate": "2020", "maxdate": "2021"},
    ],
)
def test_bad_date_limits_raise(index: SearchIndex, kwargs: dict[str, str]) -> None:
    with pytest.raises(QuerySyntaxError):
        index.search("ketamine", **kwargs)


# ------------------------------------------------------------------ NCBI's warnings


def test_term_not_found_is_reported_and_dropped(index: SearchIndex) -> None:
    result = index.search("ketamine[tiab] AND zzqx")
    assert set(result.ids) == hits(index, "ketamine[tiab]")
    assert result.phrases_not_found == ["zzqx"]
    assert "zzqx" not in result.translation
    assert result.translation == '"ketamine"[Title/Abstract]'


def test_tagged_term_not_found_names_its_field(index: SearchIndex) -> None:
    result = index.search("ketamine[tiab] NOT zzqx[tiab] OR arketamine[mh]")
    assert set(result.ids) == hits(index, "ketamine[tiab]")
    assert result.phrases_not_found == ["zzqx[Title/Abstract]", "arketamine[MeSH Terms]"]


def test_unknown_field_is_reported_and_dropped(index: SearchIndex) -> None:
    result = index.search("ketamine[tiab] AND foo[xyz]")
    assert set(result.ids) == hits(index, "ketamine[tiab]")
    assert result.fields_not_found == ["[xyz]"]
    assert result.phrases_not_found == []


def test_quoted_phrase_not_found_is_reported_and_dropped(index: SearchIndex) -> None:
    result = index.search('ketamine[tiab] AND "alcohol zzqx disorder"[tiab]')
    assert set(result.ids) == hits(index, "ketamine[tiab]")
    assert result.quoted_phrases_not_found == ['"alcohol zzqx disorder"[Title/Abstract]']
    assert result.phrases_not_found == []


def test_everything_dropped_gives_an_empty_answer(index: SearchIndex) -> None:
    result = index.search("zzqx OR qqzz[tiab]")
    assert result == SearchResult(
        ids=[],
        count=0,
        translation="",
        phrases_not_found=["zzqx", "qqzz[Title/Abstract]"],
        fields_not_found=[],
        quoted_phrases_not_found=[],
        warnings=[],
    )


def test_dropping_the_left_side_of_not_drops_the_not(index: SearchIndex) -> None:
    result = index.search("zzqx NOT comment[pt] AND rats[ti]")
    assert set(result.ids) == {"103"}


def test_translation(index: SearchIndex) -> None:
    result = index.search("ketamine[tiab] AND alcohol*[tiab]")
    assert result.translation == '"ketamine"[Title/Abstract] AND "alcohol*"[Title/Abstract]'
    result = index.search("(ketamine[ti] OR rats[ti]) AND 2015:2026[dp]")
    assert result.translation == (
        '("ketamine"[Title] OR "rats"[Title]) AND 2015/01/01:2026/12/31[Date - Publication]'
    )
    result = index.search("ketamine[ti] AND (rats[ti] OR mice[ti])")
    assert result.translation == '"ketamine"[Title] AND ("rats"[Title] OR "mice"[Title])'


def test_saved_queries_run() -> None:
    index = SearchIndex(RECORDS)
    base = (
        '(ketamine[tiab] OR esketamine[tiab] OR arketamine[tiab] OR "Ketamine"[mh]) AND '
        '("Alcohol-Related Disorders"[mh] OR alcohol*[tiab] OR ethanol[tiab] OR '
        '"alcohol use disorder"[tiab]) NOT (comment[pt] OR editorial[pt])'
    )
    assert set(index.search(base).ids) == {"101", "102", "103"}
    rct = base + (
        " AND (randomized controlled trial[pt] OR clinical trial[pt] OR random*[tiab]"
        " OR placebo[tiab])"
    )
    assert index.search(rct).ids == ["101"]
    recent = base + " AND 2015:2026[dp] AND english[la]"
    assert set(index.search(recent).ids) == {"101", "102"}
    assert set(index.search('("2019/01/01"[edat] : "2019/12/31"[edat])').ids) == {"102"}
    # editorial[pt] has no hits in this tiny index, so NCBI would say so
    assert index.search(base).phrases_not_found == ["editorial[Publication Type]"]


# ------------------------------------------------------------------ syntax errors


@pytest.mark.parametrize(
    ("term", "message"),
    [
        ("", "empty query"),
        ("   ", "empty query"),
        ("(ketamine OR rats", "unbalanced '(' at position 1"),
        ("ketamine)", "unbalanced ')' at position 9"),
        ('"alcohol use disorder[tiab]', "unbalanced quote '\"' at position 1"),
        ("ketamine[tiab", "unclosed field tag '[' at position 9"),
        ("ketamine AND", "operator AND at position 10 has no right operand"),
        ("OR ketamine", "operator OR at position 1 has no left operand"),
        ("NOT comment[pt]", "operator NOT at position 1 has no left operand"),
        ("ketamine AND OR rats", "operator OR at position 14 follows operator AND"),
        ("ketamine AND ()", "empty parentheses at position 14"),
        ("ketamine (OR rats)", "operator OR at position 11 has no left operand"),
        ('""', "empty quoted phrase at position 1"),
        ("[tiab]", "field tag [tiab] at position 1 has no term"),
        ("(ketamine OR rats)[tiab]", "field tag [tiab] at position 19"),
        (":2020[dp]", "range ':' at position 1 has no start value"),
        ("2015:[dp]", "range ':' at position 5 has no end value"),
        ("2015[dp]:2020[edat]", "different field tags"),
    ],
)
def test_syntax_errors(index: SearchIndex, term: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError, match=re.escape(message)):
        index.search(term)


# ------------------------------------------------------------------ ordering and upkeep


def test_most_recent_first_then_pmid_as_a_number(index: SearchIndex) -> None:
    result = index.search(
        "ketamine[tiab] OR esketamine[ti] OR placebo[tiab] OR alcoholism[ti] OR mice[ti]"
    )
    # 105, 106 and 1000 share an Entrez date: PMID order, numerically; undated last
    assert result.ids == ["104", "101", "1000", "106", "105", "102", "103", "9"]
    assert result.count == len(result.ids)


def test_add_replaces_a_record_with_the_same_pmid() -> None:
    index = SearchIndex(RECORDS)
    assert len(index) == len(RECORDS)
    index.add(_record("103", "Arketamine in rats", edat=date(2024, 1, 1)))
    assert len(index) == len(RECORDS)
    assert index.search("ethanol[ti]").ids == []
    assert index.search("rats[ti]").ids == ["103"]
    assert index.search("arketamine[ti]").ids == ["103", "106"]


def test_empty_index() -> None:
    index = SearchIndex()
    assert len(index) == 0
    assert index.search("ketamine").phrases_not_found == ["ketamine"]


def test_approximations_are_documented() -> None:
    assert all(isinstance(line, str) and line for line in APPROXIMATIONS)


# ------------------------------------------------------------------ the parse tree


def test_parse_builds_a_left_leaning_tree() -> None:
    tree = parse("a OR b AND c")
    assert isinstance(tree, BinOp) and tree.op == "AND"
    assert isinstance(tree.left, BinOp) and tree.left.op == "OR"
    assert tree.right == Term("c", None, False, 12)


def test_parse_terms_ranges_and_implicit_and() -> None:
    assert parse("randomized controlled trial[pt]") == Term(
        "randomized controlled trial", "pt", False, 1
    )
    assert parse('"alcohol use"[tiab]') == Term("alcohol use", "tiab", True, 1)
    assert parse("2015:2026[dp]") == DateRange("2015", "2026", "dp", 1)
    tree = parse("ketamine 2015:2026[dp]")
    assert isinstance(tree, BinOp) and tree.implicit
    assert tree.right == DateRange("2015", "2026", "dp", 10)
    grouped = parse("(a OR b)")
    assert isinstance(grouped, BinOp) and grouped.grouped


# ------------------------------------------------------------------ properties

_VOCAB = ["ketamine", "alcohol", "rats", "placebo", "relapse", "memory"]

_records = st.lists(
    st.tuples(
        st.lists(st.sampled_from(_VOCAB), max_size=4),
        st.lists(st.sampled_from(_VOCAB), max_size=8),
    ),
    max_size=12,
)
_word = st.sampled_from([*_VOCAB, "zzqx"])


def _build(docs: list[tuple[list[str], list[str]]]) -> SearchIndex:
    return SearchIndex(
        (_record(str(i + 1), " ".join(ti), " ".join(ab)) for i, (ti, ab) in enumerate(docs)),
        mesh_tree={},
    )


def _single(index: SearchIndex, word: str) -> set[str] | None:
    """One term's hits, or None if NCBI would drop it."""
    found = set(index.search(f"{word}[tiab]").ids)
    return found or None


@settings(max_examples=150, deadline=None, database=None)
@given(docs=_records, a=_word, b=_word, op=st.sampled_from(["AND", "OR", "NOT"]))
def test_boolean_operators_are_set_operations(
    docs: list[tuple[list[str], list[str]]], a: str, b: str, op: str
) -> None:
    index = _build(docs)
    left, right = _single(index, a), _single(index, b)
    result = set(index.search(f"{a}[tiab] {op} {b}[tiab]").ids)
    if left is None or right is None:  # a dropped term leaves the other one alone
        expected = left if right is None else (None if op == "NOT" else right)
        assert result == (expected or set())
    elif op == "AND":
        assert result == left & right
    elif op == "OR":
        assert result == left | right
    else:
        assert result == left - right
    assert index.search(f"{a}[tiab] NOT {a}[tiab]").ids == []


@settings(max_examples=100, deadline=None, database=None)
@given(docs=_records, a=_word, b=_word, c=_word)
def test_chains_equal_their_left_grouping(
    docs: list[tuple[list[str], list[str]]], a: str, b: str, c: str
) -> None:
    index = _build(docs)
    for op1, op2 in [("OR", "AND"), ("AND", "OR"), ("OR", "NOT"), ("NOT", "OR")]:
        flat = index.search(f"{a}[tiab] {op1} {b}[tiab] {op2} {c}[tiab]")
        grouped = index.search(f"({a}[tiab] {op1} {b}[tiab]) {op2} {c}[tiab]")
        assert flat.ids == grouped.ids


@settings(max_examples=100, deadline=None, database=None)
@given(docs=_records, words=st.lists(_word, min_size=1, max_size=3), quoted=st.booleans())
def test_phrases_and_truncation_match_a_brute_force_scan(
    docs: list[tuple[list[str], list[str]]], words: list[str], quoted: bool
) -> None:
    index = _build(docs)
    phrase = " ".join(words)
    term = f'"{phrase}"[tiab]' if quoted else f"{phrase}[tiab]"
    expected = {
        str(i + 1)
        for i, (ti, ab) in enumerate(docs)
        if any(f" {phrase} " in f" {' '.join(text)} " for text in (ti, ab))
    }
    assert set(index.search(term).ids) == expected
    stem = words[0][:4]
    expected_prefix = {
        str(i + 1) for i, (ti, ab) in enumerate(docs) if any(w.startswith(stem) for w in ti + ab)
    }
    assert set(index.search(f"{stem}*[tiab]").ids) == expected_prefix


# ------------------------------------------------------------------ correction filters


CORRECTED = [
    IndexedRecord("201", "Ketamine trial later retracted", "",
                  comments_corrections=[("RetractionIn", "301"), ("CommentIn", "302")]),
    IndexedRecord("202", "Ketamine trial with an erratum", "",
                  comments_corrections=[("ErratumIn", "303")]),
    IndexedRecord("203", "Ketamine trial under concern", "",
                  comments_corrections=[("ExpressionOfConcernIn", "304")]),
    IndexedRecord("204", "Erratum notice for a ketamine trial", "",
                  comments_corrections=[("ErratumFor", "202")]),
    IndexedRecord("205", "Ketamine trial without links", ""),  # the field has a default
]


def test_correction_filters_find_records_by_their_comments_corrections_links() -> None:
    index = SearchIndex(CORRECTED)
    assert hits(index, "hasretractionin") == {"201"}
    assert hits(index, "haserratumin") == {"202"}  # not the notice (ErratumFor)
    assert hits(index, "hasexpressionofconcernin") == {"203"}
    assert hits(index, "HasErratumIn") == {"202"}
    assert hits(index, "ketamine[ti] NOT haserratumin") == {"201", "203", "204", "205"}
    assert hits(index, "hasretractionin OR hasexpressionofconcernin") == {"201", "203"}


def test_correction_filters_take_filter_and_sb_tags() -> None:
    index = SearchIndex(CORRECTED)
    assert hits(index, "hasretractionin[filter]") == {"201"}
    assert hits(index, "haserratumin[sb]") == {"202"}
    result = index.search("ketamine[ti] AND hasretractionin[Filter]")
    assert result.translation == '"ketamine"[Title] AND "hasretractionin"[Filter]'
    assert result.phrases_not_found == [] and result.fields_not_found == []


def test_a_correction_filter_matching_nothing_is_kept_not_dropped(index: SearchIndex) -> None:
    # NCBI drops a word it cannot find and widens the search; a filter is not a
    # word: "#1 AND (haserratumin)" must not read as "#1" when nothing has an erratum.
    result = index.search("ketamine[tiab] AND haserratumin")
    assert result.ids == [] and result.count == 0
    assert result.translation == '"ketamine"[Title/Abstract] AND "haserratumin"[Filter]'
    assert result.phrases_not_found == []


def test_unknown_filter_is_reported_and_dropped() -> None:
    index = SearchIndex(CORRECTED)
    result = index.search("ketamine[ti] AND hasabstract[sb]")
    assert set(result.ids) == {"201", "202", "203", "204", "205"}
    assert result.phrases_not_found == ["hasabstract[Filter]"]
    # quoted, the filter's name is a phrase, searched (and not found) as text
    quoted = index.search('"haserratumin"')
    assert quoted.ids == [] and quoted.quoted_phrases_not_found == ['"haserratumin"']
