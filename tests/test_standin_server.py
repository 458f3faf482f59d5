"""The stand-in on a loopback socket, and every fault it can inject, seen as a
client sees them."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import date

import httpx
import pytest

from kettrack.dev.faultserver import Fault, FaultPlan, serve
from kettrack.errors import ServiceError
from kettrack.sources import entrez_xml
from kettrack.standin.eutils import EutilsStandin
from kettrack.standin.snapshot import Snapshot

from .test_standin_eutils import PENDING, SNAPSHOT_XML

IDS = "30000001,30000002,30000003,30000004"


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return Snapshot.from_bytes(SNAPSHOT_XML, json.dumps(PENDING))


@pytest.fixture
def standin(snapshot: Snapshot) -> EutilsStandin:
    return EutilsStandin(snapshot, as_of=date(2025, 1, 1))


def connect(base_url: str, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=timeout)


@pytest.fixture
def plan() -> FaultPlan:
    return FaultPlan()


@pytest.fixture
def client(standin: EutilsStandin, plan: FaultPlan) -> Iterator[httpx.Client]:
    with serve(standin, plan) as base_url, connect(base_url) as c:
        yield c


def fetched_pmids(response: httpx.Response) -> list[str]:
    return [str(r["MedlineCitation"]["PMID"]) for r in entrez_xml.parse(response.content)]


def test_serves_the_standin_on_loopback(standin: EutilsStandin) -> None:
    with serve(standin) as base_url:
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/entrez/eutils/")
        with connect(base_url) as client:
            found = entrez_xml.read(
                client.get("esearch.fcgi", params={"db": "pubmed", "term": "ketamine"}).content
            )
            assert found["Count"] == "5"
            # Long ID lists go by POST; the form body reaches the stand-in.
            posted = client.post("efetch.fcgi", data={"db": "pubmed", "id": IDS})
            assert posted.headers["content-type"].startswith("text/xml")
            assert fetched_pmids(posted) == IDS.split(",")
            # Keep-alive: both requests went over one connection and still got answers.
            again = client.get("efetch.fcgi", params={"db": "pubmed", "id": "30000006"})
            assert fetched_pmids(again) == ["30000006"]
    assert [r.endpoint for r in standin.requests] == ["esearch", "efetch", "efetch"]
    assert standin.requests[1].method == "POST"


def test_shuts_down_on_exit(standin: EutilsStandin) -> None:
    with serve(standin) as base_url:
        port = httpx.URL(base_url).port
        with connect(base_url) as client:
            assert client.get("einfo.fcgi").status_code == 200
    with connect(base_url) as client, pytest.raises(httpx.ConnectError):
        client.get("einfo.fcgi")
    probe = socket.socket()
    try:
        assert probe.connect_ex(("127.0.0.1", port or 0)) != 0
    finally:
        probe.close()


def test_429_like_ncbi(client: httpx.Client, plan: FaultPlan) -> None:
    plan.on("esearch", "429", times=2)
    for _ in range(2):
        refused = client.get("esearch.fcgi", params={"db": "pubmed", "term": "ketamine"})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"] == "API rate limit exceeded"
    assert client.get("esearch.fcgi", params={"db": "pubmed", "term": "x"}).status_code == 200
    assert plan.fired == [("esearch", "429"), ("esearch", "429")]


@pytest.mark.parametrize("status", ["500", "502", "503"])
def test_server_errors(client: httpx.Client, plan: FaultPlan, status: str) -> None:
    plan.on("efetch", status)
    response = client.get("efetch.fcgi", params={"db": "pubmed", "id": IDS})
    assert response.status_code == int(status)
    assert fetched_pmids(client.get("efetch.fcgi", params={"db": "pubmed", "id": IDS})) == (
        IDS.split(",")
    )


def test_reset_closes_without_an_answer(client: httpx.Client, plan: FaultPlan) -> None:
    plan.on("efetch", "reset")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get("efetch.fcgi", params={"db": "pubmed", "id": IDS})
    # The next request opens a fresh connection and succeeds.
    ok = client.get("efetch.fcgi", params={"db": "pubmed", "id": IDS})
    assert fetched_pmids(ok) == IDS.split(",")
    assert plan.fired == [("efetch", "reset")]


def test_truncate_sends_half_the_promised_body(client: httpx.Client, plan: FaultPlan) -> None:
    plan.on("efetch", "truncate")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get("efetch.fcgi", params={"db": "pubmed", "id": IDS})
    assert fetched_pmids(client.get("efetch.fcgi", params={"db": "pubmed", "id": IDS}))


def test_stall_times_the_client_out_and_does_not_block_shutdown(standin: EutilsStandin) -> None:
    plan = FaultPlan().on("esearch", "stall", seconds=30)
    started = time.monotonic()
    with serve(standin, plan) as base_url, connect(base_url, timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("esearch.fcgi", params={"db": "pubmed", "term": "ketamine"})
        ok = client.get("esearch.fcgi", params={"db": "pubmed", "term": "ketamine"})
        assert entrez_xml.read(ok.content)["Count"] == "5"
    # The stalled handler was woken by shutdown, not left sleeping for 30 s.
    assert time.monotonic() - started < 10


def test_error200_uses_each_utilitys_result_element(client: httpx.Client, plan: FaultPlan) -> None:
    plan.on("esearch", "error200").on("epost", "error200").on("efetch", "error200")
    search = client.get("esearch.fcgi", params={"db": "pubmed", "term": "ketamine"})
    assert search.status_code == 200
    assert entrez_xml.read(search.content)["ERROR"].startswith("Search Backend failed")
    post = client.post("epost.fcgi", data={"db": "pubmed", "id": IDS})
    record = entrez_xml.read(post.content)
    assert "WebEnv" not in record and record["ERROR"].startswith("Search Backend failed")
    fetch = client.get("efetch.fcgi", params={"db": "pubmed", "id": IDS})
    assert fetch.status_code == 200 and b"<eFetchResult>" in fetch.content
    with pytest.raises(ServiceError):
        list(entrez_xml.parse(fetch.content))


def test_html_page_on_200(client: httpx.Client, plan: FaultPlan) -> None:
    plan.on("*", "html")
    response = client.get("esearch.fcgi", params={"db": "pubmed", "term": "ketamine"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Service unavailable" in response.text
    with pytest.raises(ServiceError):
        entrez_xml.read(response.content)


def test_short_efetch_returns_half_the_records(client: httpx.Client, plan: FaultPlan) -> None:
    plan.on("efetch", "short")
    short = client.post("efetch.fcgi", data={"db": "pubmed", "id": IDS})
    assert short.status_code == 200
    assert fetched_pmids(short) == ["30000001", "30000002"]
    assert fetched_pmids(client.post("efetch.fcgi", data={"db": "pubmed", "id": IDS})) == (
        IDS.split(",")
    )


def test_nth_and_endpoint_matching(client: httpx.Client, plan: FaultPlan) -> None:
    plan.on("esearch", "503", nth=2)
    statuses = []
    for _ in range(3):
        statuses.append(client.get("einfo.fcgi").status_code)  # not an esearch: untouched
        statuses.append(
            client.get("esearch.fcgi", params={"db": "pubmed", "term": "x"}).status_code
        )
    assert statuses == [200, 200, 200, 503, 200, 200]
    assert plan.fired == [("esearch", "503")]


def test_faults_take_requests_in_order() -> None:
    plan = FaultPlan([Fault("500", "efetch"), Fault("reset", "*", times=2)])
    plan.on("efetch", "502", nth=3)
    picked = [plan.pick("efetch"), plan.pick("esearch"), plan.pick("efetch"), plan.pick("efetch")]
    assert [f.kind if f else None for f in picked] == ["500", "reset", "reset", "502"]
    assert plan.pick("efetch") is None
    assert plan.fired == [
        ("efetch", "500"),
        ("esearch", "reset"),
        ("efetch", "reset"),
        ("efetch", "502"),
    ]
    with pytest.raises(ValueError, match="unknown fault"):
        Fault("teapot")


def test_a_sequence_of_faults_then_success(client: httpx.Client, plan: FaultPlan) -> None:
    plan.on("efetch", "truncate").on("efetch", "503").on("efetch", "short")
    params = {"db": "pubmed", "id": IDS}
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get("efetch.fcgi", params=params)
    assert client.get("efetch.fcgi", params=params).status_code == 503
    assert len(fetched_pmids(client.get("efetch.fcgi", params=params))) == 2
    assert len(fetched_pmids(client.get("efetch.fcgi", params=params))) == 4
    assert [kind for _endpoint, kind in plan.fired] == ["truncate", "503", "short"]


def test_a_failing_handler_answers_500() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise KeyError("oops")

    with serve(broken) as base_url, connect(base_url) as client:
        response = client.get("esearch.fcgi")
    assert response.status_code == 500
    assert "KeyError" in response.text


def test_elink_over_loopback_per_id_post_and_error200_shape(client: httpx.Client,
                                                            plan: FaultPlan) -> None:
    # Separate id= parameters in a form body reach the stand-in as separate LinkSets.
    posted = client.post("elink.fcgi", data={"dbfrom": "pubmed", "linkname":
                                             "pubmed_pubmed_citedin", "id": IDS.split(",")})
    assert posted.status_code == 200
    assert [s.ids for s in entrez_xml.link_sets(posted.content)] == [[i] for i in IDS.split(",")]
    plan.on("elink", "error200")
    failed = client.get("elink.fcgi", params={"dbfrom": "pubmed", "id": "30000001"})
    assert b"<eLinkResult>" in failed.content
    with pytest.raises(ServiceError, match="Search Backend failed"):
        entrez_xml.link_sets(failed.content)
