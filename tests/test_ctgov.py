"""The ClinicalTrials.gov client: registry query syntax, paging, incremental searches,
and each error (400 and 404 as plain text, bad NCT numbers, network failures)."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import httpx
import pytest

from kettrack.errors import BadIdentifier, NetworkError, QuerySyntaxError, ServiceError
from kettrack.settings import Settings
from kettrack.sources.ctgov import (
    FIELDS,
    CtgovClient,
    RegistrySearch,
    StudyNotFound,
    parse_registry_term,
)

from .conftest import scripted

CTGOV = Path(__file__).resolve().parent / "fixtures" / "ctgov"


def fixture(name: str) -> bytes:
    """A real CT.gov v2 response from tests/fixtures/ctgov (see the README there)."""
    return (CTGOV / name).read_bytes()


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def json_response(body: bytes) -> httpx.Response:
    return httpx.Response(200, headers={"Content-Type": "application/json"}, content=body)


def text_response(status: int, text: str) -> httpx.Response:
    return httpx.Response(status, headers={"Content-Type": "text/plain"}, content=text.encode())


def make(transport: httpx.BaseTransport, sleeps: Sleeps | None = None,
         **settings: object) -> CtgovClient:
    base = Settings(ctgov_url="https://ctgov.test/api/v2/", max_retries=2, backoff_base=1.0)
    return CtgovClient(base.with_(**settings), transport=transport, rate=0,
                       sleep=sleeps or Sleeps())


# -- the saved query syntax -----------------------------------------------------------


def test_registry_term_splits_into_cond_intr_and_term() -> None:
    search = parse_registry_term(
        'cond: "alcohol use disorder" OR alcoholism;\n intr: ketamine OR esketamine; term: adult')
    assert search == RegistrySearch(cond='"alcohol use disorder" OR alcoholism',
                                    intr="ketamine OR esketamine", term="adult")
    assert search.params() == {"query.cond": '"alcohol use disorder" OR alcoholism',
                               "query.intr": "ketamine OR esketamine", "query.term": "adult"}


def test_a_term_without_prefix_is_query_term() -> None:
    expected = RegistrySearch(term="ketamine AND alcohol")
    assert parse_registry_term("ketamine AND alcohol") == expected


@pytest.mark.parametrize(("term", "says"), [
    ("cond: ", "cond: clause is empty"),
    ("intr: ketamine; intr: esketamine", "given twice"),
    ('cond: "alcohol use', "unclosed quote"),
    ("cond: (alcohol OR drinking", "unclosed '('"),
    ("term: alcohol)", "unmatched ')'"),
    (" ; ", "empty"),
])
def test_bad_registry_terms_are_rejected_before_any_request(term: str, says: str) -> None:
    with pytest.raises(QuerySyntaxError, match=re.escape(says)):
        parse_registry_term(term)


def test_incremental_search_adds_the_last_update_range_to_query_term() -> None:
    since = date(2024, 3, 1)
    assert RegistrySearch(cond="alcoholism").params(since) == {
        "query.cond": "alcoholism",
        "query.term": "AREA[LastUpdatePostDate]RANGE[2024-03-01,MAX]",
    }
    assert RegistrySearch(term="ketamine OR esketamine").params(since)["query.term"] == (
        "(ketamine OR esketamine) AND AREA[LastUpdatePostDate]RANGE[2024-03-01,MAX]")


# -- paging over real responses ----------------------------------------------------------


def test_paging_follows_next_page_token_until_it_is_absent() -> None:
    first = fixture("ctgov_search_phelan_limit5_20260811.json")
    second = fixture("ctgov_search_phelan_next_20260811.json")  # a token, no totalCount
    second_token = json.loads(second)["nextPageToken"]
    last = json.dumps({"studies": json.loads(first)["studies"][:1]}).encode()  # no token
    transport, seen = scripted(json_response(first), json_response(second), json_response(last))
    with make(transport) as client:
        found = client.search(RegistrySearch(cond="Phelan-McDermid"), page_size=5)
    assert found.pages == 3
    assert found.total == 21  # from the first page; later pages carry none
    assert len(found.studies) == 11
    params = [dict(r.url.params) for r in seen]
    assert "pageToken" not in params[0] and params[0]["countTotal"] == "true"
    assert params[1]["pageToken"] == json.loads(first)["nextPageToken"]
    assert params[2]["pageToken"] == second_token
    assert all("countTotal" not in p for p in params[1:])
    assert all(p["pageSize"] == "5" and p["query.cond"] == "Phelan-McDermid" for p in params)
    assert params[0]["fields"] == "|".join(FIELDS) and params[0]["format"] == "json"
    assert [str(r.url).split("?")[0] for r in seen] == ["https://ctgov.test/api/v2/studies"] * 3


def test_a_page_without_total_count_is_read_as_unknown_total() -> None:
    transport, _ = scripted(json_response(fixture("ctgov_search_phelan_next_20260811.json")))
    with make(transport) as client:
        page = client.search_page(RegistrySearch(cond="Phelan-McDermid"), page_token="x")
    assert page.total is None
    assert page.next_token and len(page.studies) == 5


def test_a_repeated_page_token_stops_paging_with_a_service_error() -> None:
    body = fixture("ctgov_search_phelan_next_20260811.json")
    transport, seen = scripted(json_response(body), json_response(body))
    with make(transport) as client, pytest.raises(ServiceError, match="repeated"):
        client.search(RegistrySearch(cond="x"))
    assert len(seen) == 2


def test_count_asks_for_one_study_and_reads_total_count() -> None:
    transport, seen = scripted(json_response(fixture("ctgov_search_age_count_20260811.json")))
    with make(transport) as client:
        assert client.count(RegistrySearch(term="age")) == 598101
    assert dict(seen[0].url.params)["pageSize"] == "1"


def test_incremental_search_sends_the_area_filter() -> None:
    transport, seen = scripted(json_response(b'{"studies": []}'))
    with make(transport) as client:
        found = client.search(RegistrySearch(cond="alcoholism"), since=date(2025, 1, 5))
    assert found.studies == [] and found.total == 0
    assert dict(seen[0].url.params)["query.term"] == (
        "AREA[LastUpdatePostDate]RANGE[2025-01-05,MAX]")


def test_get_study_by_nct_number() -> None:
    transport, seen = scripted(json_response(fixture("NCT04267848.json")))
    with make(transport) as client:
        study = client.study("nct04267848")
    assert study["protocolSection"]["identificationModule"]["nctId"] == "NCT04267848"
    assert seen[0].url.path == "/api/v2/studies/NCT04267848"


# -- errors ------------------------------------------------------------------------------


def test_400_plain_text_is_a_query_syntax_error_quoting_the_service() -> None:
    transport, seen = scripted(text_response(400, "query.recrs is unknown parameter\n"))
    with make(transport) as client, pytest.raises(QuerySyntaxError) as err:
        client.search(RegistrySearch(cond="alcoholism"))
    assert str(err.value) == ("ClinicalTrials.gov rejected the search: "
                              "query.recrs is unknown parameter")
    assert err.value.exit_code == 2
    assert len(seen) == 1  # a 400 is an answer, not retried


def test_404_plain_text_on_a_study_is_bad_input() -> None:
    transport, _ = scripted(text_response(404, "Study NCT99999999 not found"))
    with make(transport) as client, pytest.raises(StudyNotFound) as err:
        client.study("NCT99999999")
    assert "NCT99999999 is not on ClinicalTrials.gov: Study NCT99999999 not found" in str(
        err.value)
    assert err.value.exit_code == 2


@pytest.mark.parametrize("bad", ["NCT123", "NCT0426784X", "04267848", "NCT042678481", ""])
def test_malformed_nct_number_fails_before_any_request(bad: str) -> None:
    transport, seen = scripted()
    with make(transport) as client, pytest.raises(BadIdentifier, match="not an NCT number"):
        client.study(bad)
    assert seen == []


def test_connection_failures_are_retried_then_a_network_error() -> None:
    sleeps = Sleeps()
    transport, seen = scripted(httpx.ConnectError, httpx.ConnectError, httpx.ConnectError)
    with make(transport, sleeps) as client, pytest.raises(NetworkError) as err:
        client.search(RegistrySearch(cond="alcoholism"))
    assert len(seen) == 3 and len(sleeps.calls) == 2
    assert str(err.value).startswith("ClinicalTrials.gov studies: no usable answer after 3 tries")


def test_503_with_retry_after_is_honoured_then_the_answer_is_used() -> None:
    sleeps = Sleeps()
    body = fixture("ctgov_search_keytruda_limit3_20260811.json")
    page = json.loads(body)
    del page["nextPageToken"]
    transport, seen = scripted(
        httpx.Response(503, headers={"Retry-After": "7"}, content=b"busy"),
        json_response(json.dumps(page).encode()))
    with make(transport, sleeps) as client:
        found = client.search(RegistrySearch(intr="Keytruda"))
    assert sleeps.calls == [7.0]
    assert found.total == 2924 and len(found.studies) == 3 and len(seen) == 2


def test_a_json_body_cut_short_is_retried() -> None:
    body = fixture("ctgov_get_nct06604689_20260811.json")
    transport, seen = scripted(json_response(body[:200]), json_response(body))
    with make(transport) as client:
        study = client.study("NCT06604689")
    assert study["protocolSection"]["statusModule"]["overallStatus"] == "RECRUITING"
    assert len(seen) == 2


def test_an_html_page_on_200_keeps_failing_as_a_network_error() -> None:
    page = httpx.Response(200, headers={"Content-Type": "text/html"},
                          content=b"<!DOCTYPE html><html>maintenance</html>")
    transport, _ = scripted(page, page, page)
    with make(transport) as client, pytest.raises(NetworkError, match="not JSON"):
        client.study("NCT06604689")


def test_a_500_that_never_clears_is_a_network_error_not_a_crash() -> None:
    transport, seen = scripted(*[text_response(500, "oops")] * 3)
    with make(transport) as client, pytest.raises(NetworkError, match="HTTP 500"):
        client.count(RegistrySearch(cond="x"))
    assert len(seen) == 3


def test_ctgov_url_setting_is_the_base_of_every_request() -> None:
    transport, seen = scripted(json_response(b'{"studies": []}'))
    with make(transport, ctgov_url="http://127.0.0.1:9/v2") as client:
        client.search(RegistrySearch(cond="x"))
    assert str(seen[0].url).startswith("http://127.0.0.1:9/v2/studies?")
