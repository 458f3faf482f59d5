"""Saved query files: loading, validation, versions and the shipped set."""

from __future__ import annotations

from pathlib import Path

import pytest

from kettrack.errors import QueryFileError, QuerySyntaxError, UnknownQuery
from kettrack.queries import SavedQuery, lint_term, load_queries, select

from .conftest import ROOT


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_queries_load_and_are_described() -> None:
    queries = load_queries(ROOT / "queries")
    names = [q.name for q in queries]
    assert "ketamine-aud" in names and "ketamine-aud-trials" in names
    assert names == sorted(names)
    for q in queries:
        assert q.description, q.name
        if q.source == "clinicaltrials":  # registry terms: kettrack.sources.ctgov's clause syntax
            from kettrack.sources.ctgov import parse_registry_term

            parse_registry_term(q.term)
            continue
        assert q.source == "pubmed"
        lint_term(q.term)
        assert "\n" not in q.term  # whitespace folded


def test_query_fields(tmp_path: Path) -> None:
    write(tmp_path, "k", 'term = "ketamine[tiab]"\ndescription = "d"\ntags = ["a"]\n')
    (q,) = load_queries(tmp_path)
    assert q == SavedQuery(name="k", term="ketamine[tiab]", description="d", tags=("a",),
                           path=tmp_path / "k.toml")


def test_version_changes_with_term_not_description() -> None:
    a = SavedQuery("q", "ketamine[tiab]", description="one")
    b = SavedQuery("q", "ketamine[tiab]", description="two")
    c = SavedQuery("q", "ketamine[tiab] AND alcohol[tiab]")
    d = SavedQuery("q", "ketamine[tiab]  ", description="one")
    assert a.version == b.version != c.version
    assert SavedQuery("q", " ".join(d.term.split())).version == a.version


def test_toml_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken", 'description = "x"\nterm = "ketamine\n')
    with pytest.raises(QueryFileError) as err:
        load_queries(tmp_path)
    message = str(err.value)
    assert str(path) in message and "line 2" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('description = "x"\n', "'term' must be a non-empty string"),
        ('term = ""\n', "'term' must be a non-empty string"),
        ('term = "k"\nsource = "embase"\n', "'source' must be one of"),
        ('term = "k"\ntags = "a"\n', "'tags' must be a list of strings"),
        ('term = "k"\ntrem = "typo"\n', "unknown key 'trem'"),
        ('term = "(ketamine[tiab]"\n', "unclosed '('"),
    ],
)
def test_bad_query_files(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, "bad", text)
    with pytest.raises(QueryFileError) as err:
        load_queries(tmp_path)
    assert fragment in str(err.value) and str(path) in str(err.value)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(QueryFileError, match="no such queries folder"):
        load_queries(tmp_path / "nope")


@pytest.mark.parametrize(
    ("term", "fragment"),
    [
        ("", "empty"),
        ("ketamine)", "unmatched ')' at position 9"),
        ("(ketamine AND (alcohol)", "unclosed '(' at position 1"),
        ('"alcohol use disorder', "unclosed quote"),
        ("ketamine AND", "nothing to join"),
        ("OR ketamine", "nothing to join"),
        ("ketamine AND OR alcohol", "two Boolean operators"),
        ("ketamine\x00", "control character"),
    ],
)
def test_lint_rejects(term: str, fragment: str) -> None:
    with pytest.raises(QuerySyntaxError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        lint_term(term)


def test_lint_accepts_parentheses_inside_quotes() -> None:
    lint_term('"alcohol (ethanol) use"[tiab] AND ketamine')


def test_select_by_name_and_unknown_lists_known() -> None:
    queries = [SavedQuery("a", "x"), SavedQuery("b", "y")]
    assert [q.name for q in select(queries, ["b", "a.toml"])] == ["b", "a"]
    assert select(queries, []) == queries
    with pytest.raises(UnknownQuery, match=r"no saved query named 'c' \(known: a, b\)"):
        select(queries, ["c"])


def test_deeply_nested_toml_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "deep.toml").write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(QueryFileError, match="deep.toml: nested too deeply"):
        load_queries(tmp_path)


def test_an_empty_queries_folder_is_said(tmp_path: Path) -> None:
    with pytest.raises(QueryFileError, match="no saved queries"):
        load_queries(tmp_path)
