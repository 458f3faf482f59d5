"""ELink in the E-utilities client: citing papers per PMID, similar articles with
scores, batching, POST, and what NCBI's real answers look like (tests/fixtures/ncbi)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import httpx
import pytest

from kettrack.errors import ServiceError
from kettrack.settings import Settings
from kettrack.sources import entrez_xml
from kettrack.sources.eutils import CITEDIN, POST_THRESHOLD, EutilsClient

from .conftest import FIXTURES, fixture_bytes, scripted


def make_client(transport: httpx.BaseTransport) -> EutilsClient:
    return EutilsClient(Settings(backoff_base=0, max_retries=1, rate_limit=1000),
                        transport=transport, sleep=lambda s: None)


def pairs_of(request: httpx.Request) -> list[tuple[str, str]]:
    text = request.content.decode() if request.method == "POST" else request.url.query.decode()
    return [(k, v) for k, vs in parse_qs(text).items() for v in vs]


def xml(name: str) -> httpx.Response:
    return httpx.Response(200, headers={"Content-Type": "text/xml"}, content=fixture_bytes(name))


def cassette_interaction(path: str, index: int) -> tuple[int, str, bytes]:
    """Status, content type and body of one vcr interaction.

    A reader for the one YAML form these cassettes use (a double-quoted,
    line-folded body string), not a YAML parser: folded line breaks become
    spaces and the escapes \\n \\t \\" \\\\ and "\\ " are undone.
    """
    text = (FIXTURES / "ncbi" / path).read_text(encoding="utf-8")
    chunk = text.split("\n- request:")[index]  # [0] is the cassette's header
    status = int(re.search(r"status_code: (\d+)", chunk).group(1))  # type: ignore[union-attr]
    ctype = re.search(r"content-type: (.+)", chunk).group(1).strip()  # type: ignore[union-attr]
    quoted = re.search(r'      string: "(.*?)"\n  recorded_at', chunk, re.S).group(1)  # type: ignore[union-attr]
    folded = re.sub(r"\n[ \t]*", " ", quoted)
    body = re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), folded)
    return status, ctype, body.encode()


def test_citedin_sends_one_id_per_pmid_and_reads_the_citedin_set() -> None:
    transport, seen = scripted(xml("elink1.xml"))
    with make_client(transport) as client:
        found = client.elink_citedin(["9298984"])
    assert seen[0].url.path.endswith("/elink.fcgi")
    pairs = pairs_of(seen[0])
    assert ("id", "9298984") in pairs and ("linkname", CITEDIN) in pairs
    assert ("dbfrom", "pubmed") in pairs and ("db", "pubmed") in pairs
    assert ("tool", "kettrack") in pairs
    # elink1.xml holds seven LinkSetDb: only the 39 citedin links are citing papers
    citedin = [i for i, _ in entrez_xml.link_sets(fixture_bytes("elink1.xml"))[0].links[CITEDIN]]
    assert len(citedin) == 39
    assert found == {"9298984": citedin}
    assert "8794856" not in found["9298984"]  # a similar article, not a citer


def test_citedin_is_per_paper_and_batched_with_post() -> None:
    asked = [str(10_000_000 + i) for i in range(450)]
    transport, seen = scripted(xml("metapub_elink_pubmed_related_14873513.xml"),
                               xml("elink1.xml"), xml("bioperl_elink_dball.xml"))
    with make_client(transport) as client:
        found = client.elink_citedin(asked)
    assert [len([v for k, v in pairs_of(r) if k == "id"]) for r in seen] == [200, 200, 50]
    # 200 id= parameters are long: POST; the last 50 fit in a URL
    assert [r.method for r in seen] == ["POST", "POST", "GET"]
    # none of these recorded answers is about the asked PMIDs: nothing is attributed
    assert set(found) == set(asked) and not any(found.values())


def test_per_id_linksets_are_attributed_and_merged_ones_are_not() -> None:
    corr = entrez_xml.link_sets(fixture_bytes("bioperl_elink_neighbor_corr.xml"))
    assert [s.ids for s in corr] == [["1621261"], ["68536103"], ["20807972"], ["730439"]]
    assert corr[0].links["protein_pubmed"] == [("12368430", None), ("9634230", None)]
    merged = entrez_xml.link_sets(fixture_bytes("bioperl_elink_neighbor.xml"))
    assert len(merged) == 1 and len(merged[0].ids) == 4
    # A merged LinkSet (several ids in its IdList) is never credited to one paper.
    transport, _ = scripted(xml("bioperl_elink_neighbor.xml"))
    with make_client(transport) as client:
        assert client.elink_citedin(["730439", "68536103"]) == {"730439": [], "68536103": []}


def test_a_small_request_is_a_get_and_reserved_or_bad_ids_are_not_sent() -> None:
    transport, seen = scripted(xml("metapub_elink_pubmed_related_14873513.xml"))
    with make_client(transport) as client:
        found = client.elink_citedin(["14873513", "../x", "14873513"])
    assert seen[0].method == "GET"
    assert [v for k, v in pairs_of(seen[0]) if k == "id"] == ["14873513"]
    recorded = entrez_xml.link_sets(fixture_bytes("metapub_elink_pubmed_related_14873513.xml"))
    assert found["14873513"] == [i for i, _ in recorded[0].links[CITEDIN]]
    assert len(found["14873513"]) == 6 and found["14873513"][:2] == ["22356836", "19791082"]


def test_empty_result_info_is_an_empty_list() -> None:
    sets = entrez_xml.link_sets(fixture_bytes("bioperl_elink_dball.xml"))
    assert sets[0].links["protein_genomeprj_insdc"] == []
    assert sets[0].links["protein_protein"][0] == ("15622530", 2147483647)


def test_neighbor_history_answers_have_no_links() -> None:
    sets = entrez_xml.link_sets(fixture_bytes("bioperl_elink_nhist_corr.xml"))
    assert len(sets) == 4 and all(s.links == {} for s in sets)


def test_similar_reads_scores_best_first_without_the_paper_itself() -> None:
    transport, seen = scripted(xml("bp2008_elink1.xml"))
    with make_client(transport) as client:
        similar = client.elink_similar("9298984", limit=5)
    assert ("cmd", "neighbor_score") in pairs_of(seen[0])
    assert ("linkname", "pubmed_pubmed") in pairs_of(seen[0])
    assert similar == [("8794856", 65259341), ("9700164", 60347327), ("7914521", 54343405),
                       ("1339459", 53014422), ("9914369", 52741538)]


def test_an_elink_error_is_a_service_error() -> None:
    body = (b'<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eLinkResult PUBLIC '
            b'"-//NLM//DTD elink 20101123//EN" '
            b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20101123/elink.dtd">\n'
            b"<eLinkResult><ERROR>Invalid db name specified: pubmd</ERROR></eLinkResult>\n")
    # hand-made: no real ELink ERROR body has been recorded (see SOURCES.md)
    transport, _ = scripted(httpx.Response(200, content=body))
    with make_client(transport) as client, pytest.raises(ServiceError, match="Invalid db"):
        client.elink_citedin(["9298984"])


def test_the_real_414_is_retried_as_post_once() -> None:
    status, ctype, body = cassette_interaction(
        "fulltext_vcr_ft_search_fails_well_entrez_limit2large.yml", 2)
    assert status == 414 and ctype.startswith("text/html")
    assert b"Submitted URI too large!" in body
    too_long = httpx.Response(status, headers={"Content-Type": ctype}, content=body)
    transport, seen = scripted(too_long, xml("elink1.xml"))
    with make_client(transport) as client:
        found = client.elink_citedin(["9298984"])
    assert [r.method for r in seen] == ["GET", "POST"] and len(found["9298984"]) == 39
    # and a 414 that persists is one line naming ELink and the status
    transport, _ = scripted(too_long, too_long)
    with make_client(transport) as client, pytest.raises(ServiceError) as failed:
        client.elink_citedin(["9298984"])
    assert "elink answered HTTP 414" in str(failed.value) and "\n" not in str(failed.value)


def test_post_threshold_is_the_one_efetch_uses() -> None:
    # 200 seven-digit PMIDs as id= parameters pass the threshold; 20 do not
    assert 200 * (7 + 4) > POST_THRESHOLD > 20 * (7 + 4)
    for n, method in ((20, "GET"), (200, "POST")):
        transport, seen = scripted(xml("elink1.xml"))
        with make_client(transport) as client:
            client.elink_citedin([str(1_000_000 + i) for i in range(n)])
        assert seen[0].method == method
