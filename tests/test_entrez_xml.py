"""Parsing E-utilities XML with no DTD ever fetched from the network."""

from __future__ import annotations

import pytest
from Bio.Entrez import Parser

from kettrack.errors import ServiceError
from kettrack.sources import entrez_xml

from .conftest import fixture_bytes


@pytest.fixture(autouse=True)
def no_dtd_downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail loudly if Bio.Entrez ever tries to fetch a DTD (sockets are blocked too)."""
    tried: list[str] = []

    def refuse(url: str, *args: object, **kwargs: object) -> None:
        tried.append(url)
        raise AssertionError(f"tried to download {url}")

    monkeypatch.setattr(Parser, "urlopen", refuse)
    return tried


def with_dtd(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data
    return data.replace(old, new, 1)


def test_current_dtd_records_stream_in_document_order() -> None:
    records = list(entrez_xml.parse(fixture_bytes("pubmed1.xml")))
    assert [r.tag for r in records] == ["PubmedArticle", "PubmedArticle"]
    assert [str(r["MedlineCitation"]["PMID"]) for r in records] == ["12091962", "9997"]


def test_a_newer_pubmed_dtd_than_biopython_ships_reads_with_the_newest_it_has() -> None:
    data = with_dtd(fixture_bytes("pubmed1.xml"), b"pubmed_250101.dtd", b"pubmed_990101.dtd")
    records = list(entrez_xml.parse(data))
    assert len(records) == 2


def test_old_http_doctype_is_read_locally() -> None:
    data = fixture_bytes("efetch.pubmed.xml")
    assert b"http://www.ncbi.nlm.nih.gov/corehtml/query/DTD/pubmed_130101.dtd" in data
    assert len(list(entrez_xml.parse(data))) == 2


def test_an_unknown_dtd_is_a_service_error_not_a_download() -> None:
    data = with_dtd(fixture_bytes("pubmed1.xml"), b"pubmed_250101.dtd", b"mystery_010101.dtd")
    with pytest.raises(ServiceError, match="mystery_010101.dtd, which this Biopython does not"):
        list(entrez_xml.parse(data))


def test_a_dtd_outside_ncbi_is_refused() -> None:
    data = with_dtd(fixture_bytes("pubmed1.xml"), b"https://dtd.nlm.nih.gov/ncbi/pubmed/out/",
                    b"https://evil.example.com/")
    with pytest.raises(ServiceError, match="outside NCBI"):
        list(entrez_xml.parse(data))


def test_truncated_xml_is_a_service_error() -> None:
    with pytest.raises(ServiceError, match="unreadable E-utilities XML"):
        entrez_xml.read(fixture_bytes("einfo4.xml"))


def test_html_is_a_service_error() -> None:
    with pytest.raises(ServiceError, match="unreadable E-utilities XML"):
        entrez_xml.read(b"<html><body>Service unavailable</body></html>")


def test_error_element_is_kept_for_the_caller() -> None:
    record = entrez_xml.read(fixture_bytes("esearch.baderror.xml"))
    assert str(record["ERROR"]) == "Invalid db name specified: fleegle"


def test_empty_article_set_yields_nothing() -> None:
    assert list(entrez_xml.parse(fixture_bytes("37909814.xml"))) == []
