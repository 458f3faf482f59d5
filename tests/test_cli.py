"""The core commands through Typer's CliRunner: run, stats, queries, show; exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kettrack.cli import app

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def test_offline_run_then_rerun_says_zero_new() -> None:
    first = invoke("run", "--offline")
    assert first.exit_code == 0, first.output
    assert "(backfill)" in first.output
    again = invoke("run", "--offline")
    assert again.exit_code == 0
    lines = [line for line in again.stdout.splitlines() if " hits, " in line]
    assert lines and all(", 0 new," in line for line in lines)
    assert "total: 0 new" in again.stdout


def test_run_json_has_design_keys() -> None:
    result = invoke("run", "--offline", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["status"] == "ok"
    assert {"name", "count", "new", "updated"} <= set(data["queries"][0])
    # distinct new articles: a paper found by two queries counts once
    assert 0 < data["new_total"] <= sum(q["new"] for q in data["queries"])
    assert data["new_total"] == json.loads(invoke("stats", "--json").stdout)["articles"]


def test_run_selected_query_only() -> None:
    result = invoke("run", "--offline", "--json", "ketamine-aud-reviews")
    assert [q["name"] for q in json.loads(result.stdout)["queries"]] == ["ketamine-aud-reviews"]


def test_unknown_query_lists_known_ones() -> None:
    result = invoke("run", "--offline", "no-such-query")
    assert result.exit_code == 2
    assert "no saved query named 'no-such-query' (known: ketamine-" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_broken_query_file_names_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "q"
    folder.mkdir()
    (folder / "broken.toml").write_text('term = "ketamine"\ndescription = \n')
    result = invoke("run", "--offline", "--queries", str(folder))
    assert result.exit_code == 2
    assert f"{folder / 'broken.toml'}: line 2" in result.stderr


def test_bad_pubmed_syntax_in_a_query_file(tmp_path: Path) -> None:
    folder = tmp_path / "q"
    folder.mkdir()
    (folder / "paren.toml").write_text("term = '(ketamine[tiab] AND alcohol[tiab]'\n")
    result = invoke("queries", "check", "--offline", "--queries", str(folder))
    assert result.exit_code == 2
    assert "paren.toml: term: unclosed '(' at position 1" in result.stderr


def test_as_of_needs_offline() -> None:
    result = invoke("run", "--as-of", "2024-01-01")
    assert result.exit_code == 2 and "--as-of" in result.stderr


def test_bad_env_value_is_bad_input() -> None:
    result = invoke("run", "--offline", env={"KETTRACK_BATCH_SIZE": "lots"})
    assert result.exit_code == 2
    assert "KETTRACK_BATCH_SIZE='lots' is not a whole number" in result.stderr


def test_network_failure_is_exit_1_and_library_untouched(tmp_path: Path) -> None:
    invoke("run", "--offline", "--as-of", "2020-01-01")
    before = json.loads(invoke("stats", "--json").stdout)
    env = {"KETTRACK_EUTILS_URL": "http://127.0.0.1:9/", "KETTRACK_MAX_RETRIES": "1",
           "KETTRACK_CONNECT_TIMEOUT": "0.5", "NCBI_API_KEY": "sekrit-key-123"}
    result = invoke("run", env=env)
    assert result.exit_code == 1
    assert "NCBI E-utilities esearch: no usable answer" in result.stderr
    assert "sekrit-key-123" not in result.output
    after = json.loads(invoke("stats", "--json").stdout)
    assert after["articles"] == before["articles"]
    assert after["last_run"]["status"] == "failed"


def test_queries_list_and_check() -> None:
    listed = invoke("queries", "list", "--json")
    names = [q["name"] for q in json.loads(listed.stdout)]
    assert "ketamine-aud" in names
    checked = invoke("queries", "check", "--offline", "--json", "ketamine-aud")
    (entry,) = json.loads(checked.stdout)
    assert entry["count"] > 0 and "[Title/Abstract]" in entry["translation"]
    assert "PhraseNotFound" in entry["errors"]  # arketamine is in no snapshot record
    plain = invoke("queries", "check", "--offline", "ketamine-aud")
    assert "warning: PhraseNotFound: arketamine[Title/Abstract]" in plain.stdout


def test_stats_counts_designs() -> None:
    invoke("run", "--offline")
    data = json.loads(invoke("stats", "--json").stdout)
    assert data["articles"] == sum(data["designs"].values()) > 0
    assert data["trials"] > 0  # the shipped registry queries ran too
    text = invoke("stats").stdout
    assert text.startswith(f"articles: {data['articles']}")


def test_show_by_each_kind_of_id() -> None:
    invoke("run", "--offline")
    data = json.loads(invoke("stats", "--json").stdout)
    assert data["articles"]
    import os

    from kettrack.library.store import Library
    library = Library.open(os.environ["KETTRACK_DB"])
    pmid, doi = library.db.execute(
        "SELECT pmid, doi FROM articles WHERE doi IS NOT NULL AND pmid < '9900000000' "
        "ORDER BY pmid LIMIT 1").fetchone()
    library.close()
    for ident in (pmid, doi, doi.upper(), f"https://doi.org/{doi}", f"doi:{doi}"):
        result = invoke("show", ident, "--json")
        assert result.exit_code == 0, (ident, result.output)
        assert json.loads(result.stdout)["pmid"] == pmid


@pytest.mark.parametrize(("ident", "code", "fragment"), [
    ("not-an-id", 2, "is not a PMID, DOI, PMCID or NCT number"),
    ("NCT123", 2, "is not an NCT number"),
    ("12345678", 2, "PMID 12345678 is not in the library"),
    ("'; DROP TABLE articles; --", 2, "is not a PMID"),
])
def test_show_bad_ids(ident: str, code: int, fragment: str) -> None:
    invoke("run", "--offline")
    result = invoke("show", ident)
    assert result.exit_code == code and fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_second_run_waits_then_exits_1() -> None:
    import os

    from kettrack.library.store import Library
    library = Library.open(os.environ["KETTRACK_DB"])
    with library.writer_lock():
        result = invoke("run", "--offline", env={"KETTRACK_LOCK_TIMEOUT": "0.2"})
    assert result.exit_code == 1
    assert "another kettrack is writing to this library" in result.stderr


def test_help_lists_commands() -> None:
    result = invoke("--help")
    for command in ("run", "stats", "show", "queries"):
        assert command in result.stdout
