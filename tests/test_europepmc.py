"""The Europe PMC client and record normaliser, on real recorded answers, and
the Europe PMC stand-in it runs against offline (paging, query syntax, as-of,
citations, faults on a loopback socket)."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from kettrack.dev.faultserver import FaultPlan, serve
from kettrack.errors import ConfigError, NetworkError, QuerySyntaxError
from kettrack.library.items import article_flags
from kettrack.settings import EUROPEPMC_URL, Settings
from kettrack.sources.europepmc import EuropePmcClient, parse_record, work_key
from kettrack.standin.europepmc import (
    EuropePmcSnapshot,
    EuropePmcStandin,
    QueryError,
    parse_query,
)

from .conftest import FIXTURES, scripted

HERE = FIXTURES / "europepmc"


def load(name: str) -> Any:
    return json.loads((HERE / name).read_text(encoding="utf-8"))


def client_for(transport: httpx.BaseTransport, **settings: object) -> EuropePmcClient:
    base = Settings(backoff_base=0, max_retries=2, rate_limit=1000)
    return EuropePmcClient(base.with_(**settings), transport=transport, sleep=lambda s: None)


def answer(data: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(data).encode(),
                          headers={"Content-Type": "application/json"})


def test_default_url_and_a_bad_url_is_refused() -> None:
    assert Settings.from_env({}).europepmc_url == EUROPEPMC_URL
    assert Settings.from_env({"KETTRACK_EUROPEPMC_URL": "http://127.0.0.1:8/rest/"}
                             ).europepmc_url == "http://127.0.0.1:8/rest/"
    for bad in ("ftp://x/", "www.ebi.ac.uk", "https://x/?api_key=secret123"):
        with pytest.raises(ConfigError, match="KETTRACK_EUROPEPMC_URL") as err:
            Settings.from_env({"KETTRACK_EUROPEPMC_URL": bad})
        assert "secret123" not in str(err.value)


# -- records ---------------------------------------------------------------------


def test_core_page_records_normalise() -> None:
    page = load("europepmc_search_core_cursor_pyeuropepmc.json")
    records = page["resultList"]["result"]
    articles = [parse_record(r) for r in records]
    assert all(a is not None for a in articles) and len(articles) == 25
    first = articles[0]
    assert first is not None
    assert first.pmid == "39709209" and first.epmc_source == "MED"
    assert first.doi == "10.1016/s0140-6736(24)02600-x"
    assert first.journal == "Lancet (London, England)" and first.volume == "404"
    assert first.authors == ["Schoenfeld JD", "Haas-Kogan DA", "O'Neill AF"]
    assert not first.preprint and "preprint" not in article_flags(first)
    labelled = [a for a in articles if a and any(s.label for s in a.abstract_sections)]
    assert labelled and not any(re.search(r"</?[a-z0-9]+>", s.text)
                                for a in labelled for s in a.abstract_sections)
    assert labelled[0].abstract_sections[0].label == "OBJECTIVE"
    # "Erratum for" says this record *is* an erratum, not that one was published for it
    errata = [a for a, r in zip(articles, records, strict=True) if "commentCorrectionList" in r]
    assert errata and not any(a and a.has_erratum for a in errata)


def test_real_preprint_records_are_keyed_by_their_ppr_id_and_not_peer_reviewed() -> None:
    records = load("ppr_records_from_10pages.json")["records"]
    articles = [parse_record(r) for r in records]
    assert len(articles) == 24 and all(a is not None for a in articles)
    servers = {a.preprint_server for a in articles if a}
    assert servers == {"Research Square", "bioRxiv", "Preprints.org", "medRxiv"}
    for a, r in zip(articles, records, strict=True):
        assert a is not None
        assert a.pmid == r["id"] and a.pmid.startswith("PPR")
        assert a.is_preprint and "Preprint" in [p.name for p in a.publication_types]
        assert "preprint" in article_flags(a)
        assert a.doi == r["doi"].lower()
        assert a.version == (str(r["versionNumber"]) if "versionNumber" in r else None)


def test_a_pmc_record_without_pmid_is_keyed_by_pmcid() -> None:
    page = load("europepmc_search_lite_MLH1_pGly67Glu_biomcp.json")
    pmc = [r for r in page["resultList"]["result"] if r["source"] == "PMC"]
    assert len(pmc) == 1
    assert work_key(pmc[0]) == pmc[0]["pmcid"] == parse_record(pmc[0]).pmid  # type: ignore[union-attr]


def test_hostile_records_are_cleaned_or_refused() -> None:
    assert parse_record({"id": "../../etc", "source": "PPR"}) is None
    assert parse_record({"id": "1", "source": "MED", "pmid": "1; DROP"}) is None
    a = parse_record({"id": "PPR1", "source": "PPR",
                      "title": "A <i>title</i>\x1b]0;x\x07 &amp; more", "doi": "not a doi",
                      "commentCorrectionList": {"commentCorrection": [
                          {"type": "Preprint in", "source": "MED", "id": "../x"}]}})
    assert a is not None
    assert a.title == "A title ]0;x & more." and a.doi is None and a.version_links == []


def test_withdrawn_and_linked_preprints() -> None:
    a = parse_record({"id": "PPR2", "source": "PPR", "title": "T", "commentCorrectionList": {
        "commentCorrection": [{"type": "Withdrawal in", "source": "PPR", "id": "PPR3"},
                              {"type": "Preprint in", "source": "MED", "id": "123"}]}})
    assert a is not None and a.withdrawn and a.retracted
    assert article_flags(a)[:2] == ["withdrawn", "preprint"]
    assert [(v.source, v.id) for v in a.version_links] == [("MED", "123")]


# -- the client ------------------------------------------------------------------


def test_search_sends_core_json_and_reads_a_real_page() -> None:
    transport, seen = scripted(answer(load("europepmc_search_core_cursor_pyeuropepmc.json")))
    with client_for(transport) as client:
        page = client.search_page("cancer")
    params = dict(seen[0].url.params)
    assert seen[0].url.path.endswith("/europepmc/webservices/rest/search")
    assert params == {"query": "cancer", "format": "json", "resultType": "core",
                      "pageSize": "1000", "cursorMark": "*"}
    assert page.hit_count == 5059039 and len(page.records) == 25
    assert page.next_cursor == "AoIIP4ZawSg1MzEyODI1MA=="


@pytest.mark.parametrize("name", ["europepmc_search_no_results_pyeuropepmc.json",
                                  "europepmc_search_lite_extid_pmid20516115_biomcp.json"])
def test_a_last_page_costs_one_request(name: str) -> None:
    transport, seen = scripted(answer(load(name)))
    with client_for(transport) as client:
        pages = list(client.pages("x"))
    assert len(pages) == len(seen) == 1


def test_a_bad_cursor_answer_is_retried_then_a_network_error() -> None:
    transport, seen = scripted(*[answer({"version": "6.9"})] * 3)
    with client_for(transport) as client, pytest.raises(NetworkError, match="Europe PMC search"):
        client.search_page("x", cursor="junk")
    assert len(seen) == 3


def test_http_400_is_the_querys_fault() -> None:
    transport, _ = scripted(httpx.Response(400, text="Syntax error near ("))
    with client_for(transport) as client, pytest.raises(QuerySyntaxError, match="HTTP 400"):
        client.search_page("(x")


# -- the stand-in ----------------------------------------------------------------


def many(n: int) -> EuropePmcSnapshot:
    """``n`` preprint records cloned from a real one (ids PPR9800000000 up)."""
    real = load("ppr_records_from_10pages.json")["records"][0]
    entries = []
    for i in range(n):
        record = copy.deepcopy(real)
        record.update(id=f"PPR98{i:08d}", title=f"Ketamine and alcohol record {i}",
                      doi=f"10.1101/test.{i}", firstIndexDate="2025-06-18")
        entries.append({"available_from": "2025-06-18", "record": record})
    return EuropePmcSnapshot.from_json({"records": entries})


def test_one_search_page_per_1000_hits() -> None:
    standin = EuropePmcStandin(many(2500), as_of=date(2025, 7, 1))
    with client_for(httpx.MockTransport(standin)) as client:
        pages = list(client.pages("ketamine AND alcohol* AND SRC:PPR"))
        assert client.http.log.sent == 3
    assert [len(p.records) for p in pages] == [1000, 1000, 500]
    ids = [r["id"] for p in pages for r in p.records]
    assert len(set(ids)) == 2500
    assert [p["pageSize"] for _, p in standin.requests] == ["1000"] * 3
    cursors = [p["cursorMark"] for _, p in standin.requests]
    assert cursors[0] == "*" and len(set(cursors)) == 3


def test_a_page_past_the_end_repeats_the_cursor_and_paging_stops() -> None:
    standin = EuropePmcStandin(many(3), as_of=date(2025, 7, 1))
    with client_for(httpx.MockTransport(standin)) as client:
        first = client.search_page("ketamine", page_size=3)
        assert first.next_cursor
        past = client.search_page("ketamine", cursor=first.next_cursor, page_size=3)
    assert past.records == [] and past.next_cursor == first.next_cursor


def test_query_syntax_of_the_standin() -> None:
    record = load("ppr_records_from_10pages.json")["records"][0]  # a medRxiv colorectal preprint
    assert parse_query("SRC:PPR AND colorectal")(record)
    assert parse_query('TITLE:"red meat intake" AND polygen*')(record)
    assert not parse_query("colorectal NOT SRC:PPR")(record)
    assert parse_query("(ketamine OR colorectal) AND PUB_YEAR:[2020 TO 2025]")(record)
    assert not parse_query("FIRST_PDATE:[2025-07-01 TO 2025-12-31]")(record)
    for bad in ("(colorectal", "AND x", "", 'x "unclosed'):
        with pytest.raises(QueryError):
            parse_query(bad)


def test_the_standin_answers_like_the_recordings() -> None:
    standin = EuropePmcStandin(many(2), as_of=date(2025, 7, 1))
    with httpx.Client(transport=httpx.MockTransport(standin), base_url=EUROPEPMC_URL) as http:
        none = http.get("search", params={"query": "nothing_matches", "format": "json"}).json()
        assert none["hitCount"] == 0 and "nextCursorMark" not in none
        assert set(none) == set(load("europepmc_search_no_results_pyeuropepmc.json"))
        bad = http.get("search", params={"query": "x", "format": "json", "cursorMark": "zz"})
        assert bad.status_code == 200 and bad.json() == {"version": "6.9"}
        assert http.get("search", params={"query": "(x", "format": "json"}).status_code == 400
        lite = http.get("search", params={"query": "SRC:PPR", "format": "json"}).json()
        assert lite["request"]["resultType"] == "lite" and "abstractText" not in json.dumps(lite)


def test_as_of_replays_a_preprint_its_new_version_and_its_journal_version() -> None:
    snapshot = EuropePmcSnapshot.load(HERE / "synthetic_pair.json")

    def hits(day: date) -> dict[str, Any]:
        standin = EuropePmcStandin(snapshot, as_of=day)
        with client_for(httpx.MockTransport(standin)) as client:
            return {r["id"]: r for p in client.pages("ketamine AND alcohol") for r in p.records}

    assert hits(date(2026, 1, 9)) == {}
    assert hits(date(2026, 1, 10))["PPR9900000101"]["versionNumber"] == 1
    assert hits(date(2026, 3, 1))["PPR9900000101"]["versionNumber"] == 2
    later = hits(date(2026, 4, 16))
    assert set(later) == {"PPR9900000101", "9900000901"}
    assert later["PPR9900000101"]["commentCorrectionList"]["commentCorrection"][0]["id"] == (
        "9900000901")


def test_citations_endpoint() -> None:
    snapshot = EuropePmcSnapshot.load(HERE / "synthetic_pair.json")
    standin = EuropePmcStandin(snapshot, as_of=date(2026, 5, 1))
    with client_for(httpx.MockTransport(standin), rate_limit=1000) as client:
        cited = client.citations("PPR", "PPR9900000101")
        assert [(c.source, c.id, c.pmid) for c in cited] == [("MED", "9900000901", "9900000901")]
        assert client.citations("MED", "9900000901") == []
        with pytest.raises(ValueError):
            client.citations("MED", "../x")
    path, params = standin.requests[0]
    assert path == "citations" and params["format"] == "json" and params["page"] == "1"


@pytest.mark.parametrize("kind", ["503", "reset", "truncate", "error200", "html", "429"])
def test_faults_on_a_loopback_socket_are_retried(kind: str) -> None:
    standin = EuropePmcStandin(many(5), as_of=date(2025, 7, 1))
    plan = FaultPlan().on("search", kind, times=2)
    with serve(standin, plan) as base_url:
        settings = Settings(europepmc_url=base_url, backoff_base=0, max_retries=3,
                            rate_limit=1000, read_timeout=2)
        with EuropePmcClient(settings, sleep=lambda s: None) as client:
            pages = list(client.pages("ketamine"))
    assert plan.fired == [("search", kind)] * 2
    assert sum(len(p.records) for p in pages) == 5


def test_a_persistent_fault_is_a_network_error_without_the_query_string() -> None:
    standin = EuropePmcStandin(many(1), as_of=date(2025, 7, 1))
    plan = FaultPlan().on("search", "503", times=100)
    with serve(standin, plan) as base_url:
        settings = Settings(europepmc_url=base_url, backoff_base=0, max_retries=1,
                            rate_limit=1000)
        with EuropePmcClient(settings, sleep=lambda s: None) as client, \
                pytest.raises(NetworkError) as err:
            list(client.pages("secretive query"))
    assert "HTTP 503" in str(err.value) and "secretive" not in str(err.value)


def test_the_bundled_snapshot_loads(tmp_path: Path) -> None:
    from kettrack.standin.europepmc import default_records_path

    snapshot = EuropePmcSnapshot.load(default_records_path())
    records = [r for r, _ in snapshot.view(date(2026, 1, 1))]
    assert [r["id"] for r in records] == ["PPR9900000001"]
    assert parse_record(records[0]).doi == "10.1101/2025.08.09.25333370"  # type: ignore[union-attr]
    assert snapshot.view(date(2025, 8, 11)) == []
