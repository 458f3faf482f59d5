"""ELink in the E-utilities stand-in: the answer shapes of NCBI's recordings
(tests/fixtures/ncbi), per-id LinkSets, scores, history, 414, parsed by the real
client code."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from kettrack.settings import Settings
from kettrack.sources import entrez_xml
from kettrack.sources.eutils import CITEDIN, EutilsClient
from kettrack.standin.eutils import MAX_REQUEST_LINE, EutilsStandin
from kettrack.standin.links import SELF_SCORE, CitationGraph, neighbor_scores
from kettrack.standin.snapshot import Snapshot

from .conftest import ROOT

ZARATE, KRYSTAL_2023, DAS = "16894061", "38011560", "31772157"


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return Snapshot.load_default()


@pytest.fixture(scope="module")
def standin(snapshot: Snapshot) -> EutilsStandin:
    graph = CitationGraph.load(ROOT / "data" / "source" / "citations.toml", snapshot)
    return EutilsStandin(snapshot, as_of=date(2024, 1, 1), links=graph)


@pytest.fixture
def http(standin: EutilsStandin) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(standin),
                        base_url="http://standin/entrez/eutils/")


def test_one_linkset_per_id_parameter_and_one_merged_for_a_comma_list(
        http: httpx.Client) -> None:
    separate = http.get("elink.fcgi", params=[("dbfrom", "pubmed"), ("db", "pubmed"),
                                              ("linkname", CITEDIN), ("id", ZARATE),
                                              ("id", DAS)])
    sets = entrez_xml.link_sets(separate.content)
    assert [s.ids for s in sets] == [[ZARATE], [DAS]]
    assert sets[0].links == {CITEDIN: [(KRYSTAL_2023, None)]}
    merged = entrez_xml.link_sets(http.get("elink.fcgi", params={
        "dbfrom": "pubmed", "linkname": CITEDIN, "id": f"{ZARATE},{DAS}"}).content)
    assert len(merged) == 1 and merged[0].ids == [ZARATE, DAS]
    citing = [i for i, _ in merged[0].links[CITEDIN]]
    assert KRYSTAL_2023 in citing and len(citing) == len(set(citing)) > 1


def test_nothing_cites_it_means_no_linksetdb(http: httpx.Client) -> None:
    body = http.get("elink.fcgi", params={"dbfrom": "pubmed", "linkname": CITEDIN,
                                          "id": "8122957,99999999"}).content
    assert b"<LinkSetDb>" not in body.split(b"<IdList>", 1)[0]
    assert [s.links for s in entrez_xml.link_sets(
        http.get("elink.fcgi", params={"dbfrom": "pubmed", "linkname": CITEDIN,
                                       "id": "99999999"}).content)] == [{}]


def test_neighbor_score_lists_the_paper_first_then_by_score(
        http: httpx.Client, standin: EutilsStandin) -> None:
    body = http.get("elink.fcgi", params={"dbfrom": "pubmed", "cmd": "neighbor_score",
                                          "linkname": "pubmed_pubmed", "id": DAS}).content
    links = entrez_xml.link_sets(body)[0].links["pubmed_pubmed"]
    assert links[0] == (DAS, SELF_SCORE)
    scores = [s for _, s in links[1:]]
    assert scores == sorted(scores, reverse=True) and all(s and s > 0 for s in scores)
    assert links == neighbor_scores(standin.view, DAS)
    # plain cmd=neighbor sends no scores, as NCBI's 2025 answers do not
    plain = entrez_xml.link_sets(http.get("elink.fcgi", params={
        "dbfrom": "pubmed", "linkname": "pubmed_pubmed", "id": DAS}).content)
    assert all(score is None for _, score in plain[0].links["pubmed_pubmed"])


def test_refs_is_the_other_direction(http: httpx.Client) -> None:
    sets = entrez_xml.link_sets(http.get("elink.fcgi", params={
        "dbfrom": "pubmed", "linkname": "pubmed_pubmed_refs", "id": KRYSTAL_2023}).content)
    refs = [i for i, _ in sets[0].links["pubmed_pubmed_refs"]]
    assert ZARATE in refs and len(refs) == 19


def test_neighbor_history_stores_each_links_set(http: httpx.Client) -> None:
    body = http.post("elink.fcgi", data={"dbfrom": "pubmed", "cmd": "neighbor_history",
                                         "linkname": CITEDIN, "id": [ZARATE, DAS]}).content
    record = entrez_xml.read(body)
    keys = [h["QueryKey"] for s in record for h in s["LinkSetDbHistory"]]
    webenv = record[0]["WebEnv"]
    assert keys == ["1", "2"] and record[1]["WebEnv"] == webenv
    fetched = http.get("efetch.fcgi", params={"db": "pubmed", "WebEnv": webenv,
                                              "query_key": "1"})
    assert [str(r["MedlineCitation"]["PMID"]) for r in entrez_xml.parse(fetched.content)] == [
        KRYSTAL_2023]


def test_other_commands_and_databases_answer_an_error(http: httpx.Client) -> None:
    from kettrack.errors import ServiceError

    for params in ({"dbfrom": "pubmed", "cmd": "llinks", "id": DAS},
                   {"dbfrom": "protein", "id": DAS}, {"dbfrom": "pubmed"}):
        with pytest.raises(ServiceError):
            entrez_xml.link_sets(http.get("elink.fcgi", params=params).content)


def test_a_get_longer_than_apache_allows_is_414_and_the_client_never_sends_one(
        standin: EutilsStandin) -> None:
    http = httpx.Client(transport=httpx.MockTransport(standin),
                        base_url="http://standin/entrez/eutils/")
    ids = [str(30_000_000 + i) for i in range(1000)]
    too_long = http.get("elink.fcgi", params={"dbfrom": "pubmed", "id": ids})
    assert len(too_long.request.url.raw_path) > MAX_REQUEST_LINE
    assert too_long.status_code == 414 and b"Submitted URI too large!" in too_long.content
    before = len(standin.requests)
    client = EutilsClient(Settings(rate_limit=1000), transport=httpx.MockTransport(standin))
    found = client.elink_citedin([*ids, ZARATE])
    sent = standin.requests[before:]
    # 1001 ids, 200 a request: five long POSTs, then the last id by GET; no 414, no retry
    assert [r.method for r in sent] == ["POST"] * 5 + ["GET"]
    assert found[ZARATE] == [KRYSTAL_2023]


def test_unknown_papers_in_citations_toml_are_refused(tmp_path, snapshot: Snapshot) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "citations.toml"
    bad.write_text('[[citing]]\npaper = "doi:10.1/none"\nassumed = true\nsource = "x"\n'
                   'cites = ["31772157"]\n')
    with pytest.raises(ValueError, match="not a snapshot record"):
        CitationGraph.load(bad, snapshot)
