"""``kettrack export``: every format read back by the library a user's tool would use."""

from __future__ import annotations

import csv
import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import bibtexparser
import pytest
import rispy

from kettrack.errors import Failure
from kettrack.library.article import Article
from kettrack.library.identifiers import is_reserved_pmid
from kettrack.library.store import Library
from kettrack.tools.export import Item, to_bibtex, write_atomic

from .writer_library import copy_offline_library, invoke

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def library_db(kettrack_env: Path) -> Path:
    return copy_offline_library(kettrack_env / "library.db")


def held(library_db: Path, where: str = "1") -> dict[str, str]:
    library = Library.open(library_db)
    rows = dict(library.db.execute(f"SELECT pmid, title FROM articles WHERE {where}"))
    library.close()
    return rows


def export(*args: str) -> str:
    result = invoke("export", *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_ris_reads_back_with_rispy(library_db: Path) -> None:
    entries = rispy.loads(export("--format", "ris"))
    titles = held(library_db)
    assert len(entries) == len(titles)
    # PubMed IDs are RIS accession numbers; snapshot-only identifiers are not
    by_id = {e["accession_number"]: e for e in entries if "accession_number" in e}
    assert {p for p in titles if not is_reserved_pmid(p)} == {
        e["accession_number"] for e in entries if "accession_number" in e}
    assert not any(is_reserved_pmid(e.get("accession_number")) for e in entries)
    das = by_id["31772157"]
    assert das["type_of_reference"] == "JOUR" and das["doi"] == "10.1038/s41467-019-13162-w"
    assert das["authors"][0] == "Das, R. K." and das["year"] == "2019"
    assert "Erratum published" in das["notes"] and das["title"] == titles["31772157"]


def test_bibtex_parses_with_unique_keys(library_db: Path) -> None:
    library = bibtexparser.parse_string(export("--format", "bibtex"))
    assert not library.failed_blocks
    keys = [e.key for e in library.entries]
    assert len(keys) == len(set(keys)) == len(held(library_db))
    das = next(e for e in library.entries if e.fields_dict["pmid"].value == "31772157")
    assert das.key == "das2019ketamine"
    assert das.fields_dict["author"].value.startswith("Das, R. K. and Gale, G.")
    assert das.fields_dict["doi"].value == "10.1038/s41467-019-13162-w"


def test_bibtex_escapes_and_disambiguates() -> None:
    twin = Article(pmid="1", title="The {odd} 50% & $5 #1 title_x ~ ^", authors=["Smith J"],
                   year=2020)
    items = [Item(twin, [], "2020-01-01", None),
             Item(Article(pmid="2", title=twin.title, authors=["Smith J"], year=2020), [],
                  "2020-01-01", None),
             Item(Article(pmid="3", title="Über Ketamin", authors=["Müller-Ötzi K"], year=2021),
                  [], "2020-01-01", None)]
    library = bibtexparser.parse_string(to_bibtex(items))
    assert not library.failed_blocks
    assert [e.key for e in library.entries] == ["smith2020odd", "smith2020odda",
                                                "mullerotzi2021uber"]
    assert library.entries[0].fields_dict["title"].value == (
        r"{The \{odd\} 50\% \& \$5 \#1 title\_x \~{} \^{}}")


def test_csv_one_row_per_article(library_db: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(export("--format", "csv"), newline="")))
    titles = held(library_db)
    assert len(rows) == len(titles)
    assert {r["id"] for r in rows} == set(titles)  # the library's key; pmid may be empty
    das = next(r for r in rows if r["pmid"] == "31772157")
    assert das["title"] == titles["31772157"] and das["has_erratum"] == "True"
    assert "\n" in das["abstract"] and das["authors"].startswith("Das RK; Gale G")
    assert {"pmid", "doi", "title", "design", "retracted", "url", "queries"} <= set(das)


def test_json_has_design_keys(library_db: Path) -> None:
    data = json.loads(export("--format", "json"))
    assert len(data) == len(held(library_db))
    assert {"pmid", "doi", "pmcid", "title", "journal", "year", "authors", "design", "nct_ids",
            "queries", "retracted", "url"} <= set(data[0])
    assert all(isinstance(a["queries"], list) and a["queries"] for a in data)


def test_atom_is_a_valid_feed_of_the_newest(library_db: Path) -> None:
    root = ET.fromstring(export("--format", "atom", "--limit", "5").encode())
    assert root.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{tag}") is not None and (
            tag == "author" or root.findtext(f"{ATOM}{tag}"))
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 5
    for entry in entries:
        assert entry.findtext(f"{ATOM}id", "").startswith(
            ("urn:kettrack:pmid:", "urn:kettrack:snapshot:"))
        assert entry.findtext(f"{ATOM}title") and entry.findtext(f"{ATOM}updated", "").endswith(
            "Z")
        link = entry.find(f"{ATOM}link")
        assert link is not None and link.get("href", "").startswith("https://")
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(set(ids)) == 5
    again = ET.fromstring(export("--format", "atom", "--limit", "5").encode())
    assert again.findtext(f"{ATOM}updated") == root.findtext(f"{ATOM}updated")


def test_filters_slice_the_export(library_db: Path) -> None:
    rcts = json.loads(export("--format", "json", "--design", "rct"))
    assert rcts and {a["design"] for a in rcts} == {"rct"}
    assert len(rcts) == len(held(library_db, "design = 'rct'"))
    query = json.loads(export("--format", "json", "--query", "ketamine-ethanol-preclinical"))
    assert query and all("ketamine-ethanol-preclinical" in a["queries"] for a in query)
    since = json.loads(export("--format", "json", "--since", "2024-01-01"))
    assert 0 < len(since) < len(held(library_db))


def test_output_file_is_written_whole(library_db: Path, kettrack_env: Path) -> None:
    target = kettrack_env / "feed.xml"
    result = invoke("export", "--format", "atom", "-o", str(target))
    assert result.exit_code == 0 and result.stdout == ""
    ET.parse(target)
    assert sorted(p.name for p in kettrack_env.iterdir() if p.name.startswith(".feed")) == []


def test_a_failed_write_leaves_no_file(kettrack_env: Path, monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    target = kettrack_env / "out.ris"
    target.write_text("the previous export\n")

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(Failure, match="No space left"):
        write_atomic(target, "TY  - JOUR\n")
    assert target.read_text() == "the previous export\n"
    assert [p.name for p in kettrack_env.iterdir() if p.name.startswith(".out.ris")] == []


@pytest.mark.parametrize("args", [("--format", "endnote"), ("--format", "ris", "--design", "x"),
                                  ("--format", "csv", "-o", "/no/such/folder/x.csv")])
def test_bad_input_exits_2(library_db: Path, args: tuple[str, ...]) -> None:
    result = invoke("export", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def test_snapshot_only_records_are_never_called_pmids(library_db: Path) -> None:
    """One rule everywhere: a snapshot-only identifier is not a PubMed accession."""
    import csv
    import io

    from kettrack.library.identifiers import is_reserved_pmid

    rows = list(csv.DictReader(io.StringIO(export("--format", "csv"))))
    reserved_titles = {r["title"] for r in rows if not r["pmid"]}
    assert reserved_titles  # the offline snapshot holds such records
    assert not any(is_reserved_pmid(r["pmid"]) for r in rows if r["pmid"])
    feed = ET.fromstring(export("--format", "atom", "--limit", "500").encode())
    for entry in feed.findall(f"{ATOM}entry"):
        ident = entry.findtext(f"{ATOM}id", "")
        if ident.startswith("urn:kettrack:pmid:"):
            assert not is_reserved_pmid(ident.rsplit(":", 1)[1])
