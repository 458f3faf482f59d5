"""``kettrack export``: every format read back by the library a user's tool would use."""

from __future__ import annotations

import csv
import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import bibtexparser
import pybtex.database
import pytest
import rispy

from kettrack.errors import Failure
from kettrack.library.article import Article, MeshHeading
from kettrack.library.identifiers import is_reserved_pmid
from kettrack.library.store import Library
from kettrack.tools.export import Item, csv_cell, to_bibtex, to_csv, to_ris, write_atomic

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
    assert "erratum published" in das["notes"] and das["title"] == titles["31772157"]


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
        r"{The \textbraceleft{}odd\textbraceright{} 50\% \& \$5 \#1 title\_x \~{} \^{}}")


def test_csv_one_row_per_article(library_db: Path) -> None:
    text = export("--format", "csv")
    assert text.startswith("\ufeff")  # the byte order mark Excel needs for UTF-8
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
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


def item(**fields: object) -> Item:
    return Item(Article(**{"pmid": "1", "title": "T", "year": 2020, **fields}),  # type: ignore[arg-type]
                [], "2020-01-01", None)


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "'=1"])
def test_csv_neutralises_formula_cells(value: str) -> None:
    # OWASP: a cell starting with = + - @ tab or CR gets a leading apostrophe (so does one
    # starting with an apostrophe, so that one leading apostrophe always means "added")
    cell = csv_cell(value)
    assert isinstance(cell, str) and cell.startswith("'")
    assert not cell[1:].startswith(("\t", "\r"))  # the control character is gone too
    assert csv_cell("Ketamine =1") == "Ketamine =1" and csv_cell(-1) == -1
    assert csv_cell("  =1") == "'  =1"


def test_csv_with_and_without_a_byte_order_mark() -> None:
    rows = [item(title="Ketamin für Alkoholabhängigkeit", authors=["Müller K"])]
    with_bom = to_csv(rows).encode("utf-8")
    assert with_bom.startswith(b"\xef\xbb\xbf")
    # what Excel does with it: utf-8-sig, and the header's first cell is "id"
    read = list(csv.DictReader(io.StringIO(with_bom.decode("utf-8-sig"), newline="")))
    assert read[0]["pmid"] == "1" and read[0]["title"] == "Ketamin für Alkoholabhängigkeit"
    assert not to_csv(rows, bom=False).startswith("\ufeff")


def test_no_bom_on_the_command_line(library_db: Path) -> None:
    assert export("--format", "csv", "--no-bom").startswith("id,pmid,")


def test_ris_newlines_in_authors_and_mesh_forge_no_record() -> None:
    # the case: newlines inside an author name or a MeSH heading, as an older
    # library may hold them; 7 articles must read back as 7 records
    hostile = [item(pmid=str(n), title=f"Title {n}\nER  - \nTY  - JOUR",
                    authors=[f"Evil{n}\nER  - \n\nTY  - JOUR\nAU  - Forged A"],
                    mesh=[MeshHeading(f"Ketamine\r\nER  - \nTY  - JOUR\nTI  - forged {n}")],
                    abstract_sections=[], journal="J\nJO  - forged")
               for n in range(1, 8)]
    entries = rispy.loads(to_ris(hostile))
    assert len(entries) == 7
    assert [e["accession_number"] for e in entries] == [str(n) for n in range(1, 8)]
    assert all(len(e["authors"]) == 1 and e["journal_name"] == "J JO - forged"
               for e in entries)
    assert entries[0]["keywords"] == ["Ketamine ER - TY - JOUR TI - forged 1"]


def test_bibtex_hostile_values_keep_every_field_in_pybtex() -> None:
    hostile = item(title="Closing } early, note = {forged}", pmcid="PMC1}, note = {x",
                   authors=["Smith and Jones K", "O}Brien J", "{Group"], journal="50% {J",
                   doi="10.1207/s15473333thp3404_7", pages="176-84")
    text = to_bibtex([hostile])
    parsed = bibtexparser.parse_string(text)
    assert not parsed.failed_blocks
    (entry,) = parsed.entries
    fields = entry.fields_dict
    assert "note" not in fields  # the PMCID's injected field stays inside its value
    assert fields["pmcid"].value == r"PMC1\textbraceright{}, note = \textbraceleft{}x"
    assert fields["doi"].value == "10.1207/s15473333thp3404_7"  # no "\_": biblatex links it
    assert fields["url"].value == "https://pubmed.ncbi.nlm.nih.gov/1/"
    assert fields["pages"].value == "176--184"
    strict = pybtex.database.parse_string(text, "bibtex")
    (other,) = strict.entries.values()
    assert set(other.fields) == {"title", "journal", "year", "pages", "doi", "pmid", "pmcid",
                                 "url"}
    assert len(other.persons["author"]) == 3  # "Smith and Jones" is one person


def test_the_whole_library_parses_in_pybtex(library_db: Path) -> None:
    strict = pybtex.database.parse_string(export("--format", "bibtex"), "bibtex")
    assert len(strict.entries) == len(held(library_db))
