"""The ClinicalTrials.gov v2 stand-in: paging, search syntax, the last-update filter,
replay by date, and CT.gov's plain-text 400 and 404 answers."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from kettrack.standin.ctgov import (
    CtgovStandin,
    RegistrySnapshot,
    compile_search,
    default_registry_path,
)

ROOT = Path(__file__).resolve().parents[1]
CTGOV = Path(__file__).resolve().parent / "fixtures" / "ctgov"
KARE = "NCT02649231"


@pytest.fixture(scope="module")
def snapshot() -> RegistrySnapshot:
    return RegistrySnapshot.load(ROOT / "data" / "clinicaltrials" / "studies.json")


def client(snapshot: RegistrySnapshot, as_of: date | None = None) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(CtgovStandin(snapshot, as_of=as_of)),
                        base_url="https://ctgov.test/api/v2/")


def ncts(body: dict[str, Any]) -> list[str]:
    return [s["protocolSection"]["identificationModule"]["nctId"] for s in body["studies"]]


def test_paging_with_small_pages_walks_every_study_once(snapshot: RegistrySnapshot) -> None:
    with client(snapshot, date(2026, 1, 1)) as http:
        first = http.get("studies", params={"query.intr": "ketamine", "pageSize": 5,
                                            "countTotal": "true"}).json()
        seen = ncts(first)
        assert first["totalCount"] == 12 and len(seen) == 5
        token = first["nextPageToken"]
        pages = 1
        while token:
            page = http.get("studies", params={"query.intr": "ketamine", "pageSize": 5,
                                               "pageToken": token}).json()
            assert "totalCount" not in page  # only the first page counts, as on CT.gov
            seen += ncts(page)
            token = page.get("nextPageToken")
            pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 12


def test_total_count_only_when_asked(snapshot: RegistrySnapshot) -> None:
    with client(snapshot, date(2026, 1, 1)) as http:
        body = http.get("studies", params={"query.intr": "ketamine"}).json()
    assert "totalCount" not in body
    assert len(body["studies"]) == 10 and body["nextPageToken"]  # the default page size


def test_the_answer_has_the_shape_of_a_real_v2_page(snapshot: RegistrySnapshot) -> None:
    real = json.loads((CTGOV / "ctgov_search_phelan_limit5_20260811.json").read_bytes())
    with client(snapshot, date(2026, 1, 1)) as http:
        ours = http.get("studies", params={"query.intr": "ketamine", "pageSize": 1,
                                           "countTotal": "true"}).json()
    assert set(ours) == set(real)
    assert set(ours["studies"][0]) <= {"protocolSection", "hasResults", "derivedSection"}
    assert ours["studies"][0]["protocolSection"]["identificationModule"]["nctId"].startswith(
        "NCT")


@pytest.mark.parametrize(("param", "expr", "expected"), [
    ("query.cond", '"alcohol dependence"', {"NCT01551329", KARE}),
    ("query.cond", '"alcohol abuse" OR alcoholism', {"NCT03539887", "NCT00588952"}),
    ("query.intr", "naltrexone", {"NCT02461927", "NCT03658330"}),
    # KeDA's official title says "Active Placebo-controlled": intr searches titles too
    ("query.intr", "ketamine AND NOT placebo AND midazolam", {"NCT02539511", "NCT04084860"}),
    ("query.intr", "(midazolam OR naltrexone) NOT AREA[OverallStatus]COMPLETED",
     {"NCT04084860", "NCT06090422"}),
    ("query.term", "KeDA", {"NCT06090422"}),
    ("query.term", "AREA[Condition]withdrawal", set()),
    ("query.term", "AREA[StartDate]RANGE[2025-01-01,MAX]", {"NCT06090422", "NCT07247370"}),
])
def test_search_fields_and_syntax(snapshot: RegistrySnapshot, param: str, expr: str,
                                  expected: set[str]) -> None:
    with client(snapshot, date(2026, 1, 1)) as http:
        body = http.get("studies", params={param: expr, "pageSize": 100}).json()
    assert set(ncts(body)) == expected


def test_last_update_range_filter(snapshot: RegistrySnapshot) -> None:
    params = {"query.cond": "alcohol", "pageSize": 100,
              "query.term": "AREA[LastUpdatePostDate]RANGE[2020-01-01,MAX]"}
    with client(snapshot, date(2026, 1, 1)) as http:
        body = http.get("studies", params=params).json()
    # KARE's results (2021), the withdrawal (2024), KeDA (2025) and KET-DUAL (2025)
    assert set(ncts(body)) == {KARE, "NCT05661669", "NCT06090422", "NCT07247370"}
    with client(snapshot, date(2021, 1, 1)) as http:
        assert ncts(http.get("studies", params=params).json()) == [KARE]  # completed 2020


def test_replay_shows_a_study_as_it_stood_on_the_day(snapshot: RegistrySnapshot) -> None:
    def kare(as_of: date) -> httpx.Response:
        with client(snapshot, as_of) as http:
            return http.get(f"studies/{KARE}")

    missing = kare(date(2016, 1, 6))
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/plain")
    assert missing.text == f"Study {KARE} not found"

    def status(as_of: date) -> tuple[str, bool]:
        study = kare(as_of).json()
        return study["protocolSection"]["statusModule"]["overallStatus"], study["hasResults"]

    assert status(date(2016, 1, 7)) == ("NOT_YET_RECRUITING", False)
    assert status(date(2016, 10, 1)) == ("RECRUITING", False)
    assert status(date(2020, 2, 1)) == ("COMPLETED", False)
    assert status(date(2021, 9, 9)) == ("COMPLETED", True)


@pytest.mark.parametrize(("params", "message"), [
    ({"query.recrs": "x"}, "query.recrs is unknown parameter"),
    ({"pageSize": "many"}, "pageSize: 'many' is not an integer"),
    ({"pageSize": "1001"}, "pageSize must be between 0 and 1000, not 1001"),
    ({"countTotal": "yes"}, "countTotal must be true or false"),
    ({"query.cond": '"alcohol'}, "query.cond: unbalanced quote"),
    ({"query.term": "(ketamine"}, "query.term: unbalanced parentheses"),
    ({"query.term": "ketamine OR"}, "query.term: the search ends where a term was expected"),
    ({"query.term": "AREA[Nope]x"}, "unknown area 'Nope'"),
    ({"query.term": "AREA[LastUpdatePostDate]RANGE[yesterday,MAX]"}, "is not a date"),
    ({"fields": "NCTId|Bogus"}, "fields: unknown field 'Bogus'"),
    ({"pageToken": "garbage!"}, "pageToken 'garbage!' is not valid"),
    ({"format": "csv"}, "json only"),
])
def test_bad_parameters_answer_400_in_plain_text(snapshot: RegistrySnapshot,
                                                 params: dict[str, str], message: str) -> None:
    with client(snapshot) as http:
        response = http.get("studies", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert message in response.text


def test_a_page_token_from_another_search_is_400(snapshot: RegistrySnapshot) -> None:
    with client(snapshot) as http:
        token = http.get("studies", params={"query.intr": "ketamine", "pageSize": 2}).json()[
            "nextPageToken"]
        response = http.get("studies", params={"query.intr": "midazolam", "pageToken": token})
    assert response.status_code == 400 and "does not belong to this search" in response.text


def test_study_by_nct_errors(snapshot: RegistrySnapshot) -> None:
    with client(snapshot) as http:
        unknown = http.get("studies/NCT99999999")
        malformed = http.get("studies/NCT123")
    assert (unknown.status_code, unknown.text) == (404, "Study NCT99999999 not found")
    assert (malformed.status_code, malformed.text) == (400, "NCT123 is not a valid NCT number")


def test_fields_keep_only_the_modules_asked_for(snapshot: RegistrySnapshot) -> None:
    with client(snapshot, date(2026, 1, 1)) as http:
        study = http.get(f"studies/{KARE}", params={"fields": "NCTId|StatusModule"}).json()
    assert set(study["protocolSection"]) == {"identificationModule", "statusModule"}
    assert "hasResults" not in study


def test_requests_are_recorded(snapshot: RegistrySnapshot) -> None:
    standin = CtgovStandin(snapshot)
    with httpx.Client(transport=httpx.MockTransport(standin), base_url="http://x/v2/") as http:
        http.get("studies")
        http.get(f"studies/{KARE}")
    assert standin.count() == 2 and standin.count("study") == 1


def test_search_syntax_precedence() -> None:
    from kettrack.standin.ctgov import _doc

    doc = _doc({"protocolSection": {"conditionsModule": {
        "conditions": ["Alcohol Use Disorder"]}}}, ["Condition"])
    assert compile_search('alcohol "use disorder"')(doc)
    assert compile_search("cocaine OR alcohol AND disorder")(doc)
    assert not compile_search("(cocaine OR alcohol) AND opioid")(doc)
    assert not compile_search('"disorder use"')(doc)


# -- the snapshot data ---------------------------------------------------------------------


def test_snapshot_holds_every_nct_registered_corpus_trial() -> None:
    corpus = json.loads((ROOT / "data" / "corpus" / "trials.json").read_text())
    data = json.loads(default_registry_path().read_text())
    registered = sorted(t["registry_id"] for t in corpus if t["registry_id"].startswith("NCT"))
    assert [s["nct_id"] for s in data["studies"]] == registered
    assert {s["registry_id"] for s in data["skipped"]} == {"2015-000222-11", "IRAS 1008179"}
    for study in data["studies"]:
        days = [v["posted"] for v in study["versions"]]
        assert days == sorted(days, key=lambda d: d or "")
        for version in study["versions"]:
            status = version["study"]["protocolSection"]["statusModule"]
            last = status.get("lastUpdatePostDateStruct", {}).get("date")
            assert last == version["posted"]


def test_build_trials_is_deterministic(tmp_path: Path) -> None:
    out = tmp_path / "studies.json"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_trials.py"), "--out",
                    str(out)], check=True, capture_output=True)
    assert out.read_bytes() == default_registry_path().read_bytes()
