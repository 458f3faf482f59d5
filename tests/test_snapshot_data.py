"""The bundled PubMed snapshot (data/): rebuildable, parseable, true to the corpus."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from kettrack.library.identifiers import RESERVED_PMID_START, is_reserved_pmid, normalise_doi
from kettrack.sources import entrez_xml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SNAPSHOT = DATA / "pubmed" / "snapshot.xml"
PENDING = DATA / "pubmed" / "pending_indexing.json"


@lru_cache(maxsize=1)
def corpus() -> dict[str, dict[str, Any]]:
    facts = json.loads((DATA / "corpus" / "publications.json").read_text(encoding="utf-8"))
    return {r["id"]: r for r in facts}


@lru_cache(maxsize=1)
def source() -> dict[str, Any]:
    with (DATA / "source" / "records.toml").open("rb") as fh:
        return tomllib.load(fh)


@lru_cache(maxsize=1)
def parsed() -> list[Any]:
    return list(entrez_xml.parse(SNAPSHOT.read_bytes()))


def by_pmid() -> dict[str, Any]:
    return {str(r["MedlineCitation"]["PMID"]): r for r in parsed()}


def pmid_of_key() -> dict[str, str]:
    """Match every snapshot record to its corpus id by DOI, then by corpus PMID, then title."""
    out: dict[str, str] = {}
    for key in source():
        fact = corpus()[key]
        for pmid, rec in by_pmid().items():
            ids = {str(i.attributes["IdType"]): str(i) for i in rec["PubmedData"]["ArticleIdList"]}
            title = str(rec["MedlineCitation"]["Article"]["ArticleTitle"]).rstrip(".")
            if (fact["doi"] and normalise_doi(ids.get("doi")) == normalise_doi(fact["doi"])) or (
                fact["pmid"] and pmid == fact["pmid"]
            ) or (not fact["doi"] and not fact["pmid"] and title == fact["title"].rstrip(".")):
                out[key] = pmid
                break
    return out


def test_build_is_deterministic(tmp_path: Path) -> None:
    for _ in range(2):
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "build_snapshot.py"), "--out", str(tmp_path),
             "--quiet"],
            check=True, cwd=ROOT,
        )
        assert (tmp_path / "snapshot.xml").read_bytes() == SNAPSHOT.read_bytes()
        assert (tmp_path / "pending_indexing.json").read_bytes() == PENDING.read_bytes()


def test_header_and_sort_order() -> None:
    head = SNAPSHOT.read_bytes()[:300].decode()
    assert head.startswith('<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC ')
    assert "pubmed_250101.dtd" in head
    pmids = [int(p) for p in re.findall(rb'<PMID Version="1">(\d+)</PMID><Date',
                                         SNAPSHOT.read_bytes())]
    assert pmids == sorted(pmids) and len(pmids) == len(set(pmids))


def test_every_source_record_is_in_the_snapshot_once() -> None:
    keys = pmid_of_key()
    assert set(keys) == set(source())
    assert len(set(keys.values())) == len(keys) == len(parsed())


def test_only_titled_non_grey_records_are_built() -> None:
    for key in source():
        assert corpus()[key]["title"], key
        assert not corpus()[key]["grey_literature"], key


def test_pmid_doi_title_match_the_corpus() -> None:
    records = by_pmid()
    for key, pmid in pmid_of_key().items():
        fact, rec = corpus()[key], records[pmid]
        art = rec["MedlineCitation"]["Article"]
        assert str(art["ArticleTitle"]).rstrip(".") == fact["title"].strip().rstrip("."), key
        ids = {str(i.attributes["IdType"]): str(i) for i in rec["PubmedData"]["ArticleIdList"]}
        assert ids["pubmed"] == pmid
        if fact["pmid"]:
            assert pmid == str(int(fact["pmid"])), key
        if fact["doi"]:
            assert normalise_doi(ids["doi"]) == normalise_doi(fact["doi"]), key
            eloc = [str(e) for e in art["ELocationID"] if e.attributes["EIdType"] == "doi"]
            assert eloc == [fact["doi"]], key
        else:
            assert "doi" not in ids, key
        if fact["pmcid"]:
            assert ids["pmc"] == fact["pmcid"], key


def test_reserved_pmids_are_exactly_the_records_without_a_corpus_pmid() -> None:
    keys = pmid_of_key()
    reserved = {k for k, p in keys.items() if is_reserved_pmid(p)}
    assert reserved == {k for k in keys if not corpus()[k]["pmid"]}
    # numbered 1, 2, 3... in sorted corpus-id order, so a rebuild keeps them
    numbers = [int(keys[k]) - RESERVED_PMID_START for k in sorted(reserved)]
    assert numbers == list(range(1, len(reserved) + 1))


def test_every_corpus_nct_is_in_the_databank_list() -> None:
    records = by_pmid()
    for key, pmid in pmid_of_key().items():
        ncts = [i for i in corpus()[key]["registered_trial_ids"] if i.startswith("NCT")]
        banks = records[pmid]["MedlineCitation"]["Article"].get("DataBankList", [])
        listed = [str(n) for b in banks if b["DataBankName"] == "ClinicalTrials.gov"
                  for n in b["AccessionNumberList"]]
        assert listed == ncts, key
        if ncts:  # and the abstract says so, as real abstracts do
            text = " ".join(str(t) for t in records[pmid]["MedlineCitation"]["Article"]["Abstract"]
                            ["AbstractText"])
            assert f"ClinicalTrials.gov: {', '.join(ncts)}." in text, key


def test_pending_records_have_no_mesh_and_are_revealed_later() -> None:
    pending = json.loads(PENDING.read_text(encoding="utf-8"))
    records = by_pmid()
    assert pending, "at least one record should still be awaiting indexing"
    for pmid, entry in pending.items():
        mc = records[pmid]["MedlineCitation"]
        assert str(mc.attributes["Status"]) in {"In-Process", "Publisher"}
        assert "MeshHeadingList" not in mc and "DateCompleted" not in mc
        types = [str(t) for t in mc["Article"]["PublicationTypeList"]]
        assert types == ["Journal Article"]
        assert entry["due"].startswith("2026-") and entry["status"] == "MEDLINE"
        assert entry["mesh"] and all(ui for _, ui, _ in entry["mesh"])
        entrez = next(d for d in records[pmid]["PubmedData"]["History"]
                      if d.attributes["PubStatus"] == "entrez")
        assert f"{entrez['Year']}-{entrez['Month']}-{entrez['Day']}" >= "2025-09-01"
        assert entry["due"] > f"{entrez['Year']}-{entrez['Month']}-{entrez['Day']}"


def test_statuses_match_indexing() -> None:
    pending = json.loads(PENDING.read_text(encoding="utf-8"))
    for pmid, rec in by_pmid().items():
        mc = rec["MedlineCitation"]
        status = str(mc.attributes["Status"])
        if status == "MEDLINE":
            assert "DateCompleted" in mc and mc["MeshHeadingList"], pmid
            assert all(h["DescriptorName"].attributes["UI"] for h in mc["MeshHeadingList"])
        else:
            assert "MeshHeadingList" not in mc, pmid
            assert (pmid in pending) == (status in {"In-Process", "Publisher"}), pmid


def test_species_indexing_follows_the_corpus() -> None:
    records = by_pmid()
    pending = json.loads(PENDING.read_text(encoding="utf-8"))
    for key, pmid in pmid_of_key().items():
        mc = records[pmid]["MedlineCitation"]
        mesh = {str(h["DescriptorName"]) for h in mc.get("MeshHeadingList", [])}
        mesh |= {m[0] for m in pending.get(pmid, {}).get("mesh", [])}
        species = corpus()[key]["species"] or ""
        if species in {"rat", "mouse", "rodent"}:
            assert "Animals" in mesh and "Humans" not in mesh, key
            assert {"rat": "Rats", "mouse": "Mice"}.get(species, "Animals") in mesh, key
        if species == "human" and mesh:
            assert "Humans" in mesh and "Animals" not in mesh, key


def test_comments_and_corrections_are_reciprocal() -> None:
    records = by_pmid()
    pairs = {"ErratumIn": "ErratumFor", "CommentIn": "CommentOn"}
    pairs |= {v: k for k, v in pairs.items()}
    for pmid, rec in records.items():
        for cc in rec["MedlineCitation"].get("CommentsCorrectionsList", []):
            other = str(cc.get("PMID", ""))
            if other in records and str(cc.attributes["RefType"]) in pairs:
                back = [(str(c.attributes["RefType"]), str(c.get("PMID", "")))
                        for c in records[other]["MedlineCitation"]["CommentsCorrectionsList"]]
                assert (pairs[str(cc.attributes["RefType"])], pmid) in back, pmid


def test_authors_follow_the_corpus() -> None:
    records = by_pmid()
    for key, pmid in pmid_of_key().items():
        fact = corpus()[key]
        authors = records[pmid]["MedlineCitation"]["Article"].get("AuthorList")
        if not fact["authors"] and not fact["first_author"]:
            assert authors is None, key
            continue
        first = fact["first_author"] or fact["authors"][0]  # brb2016_abuse: no first author
        first_last = first.split()[0].rstrip(",")
        assert str(authors[0]["LastName"]).startswith(first_last), key
        if not fact["authors_complete"]:
            assert authors.attributes["CompleteYN"] == "N", key


@pytest.mark.parametrize("word", ["randomized", "placebo", "systematic review", "rats", "mice"])
def test_abstracts_use_searchable_vocabulary(word: str) -> None:
    text = SNAPSHOT.read_text(encoding="utf-8").lower()
    assert word in text
