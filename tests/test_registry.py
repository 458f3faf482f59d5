"""Registered trials: normalising real v2 records, storing and comparing them, linking
them to papers both ways, the registry step of ``run`` (backfill, incremental runs,
one transaction per query), the week-by-week replay, and ``show NCT…``."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from kettrack.cli import app
from kettrack.errors import NetworkError, QueryFileError
from kettrack.library import trial as registry
from kettrack.library.article import Article
from kettrack.library.store import Library
from kettrack.queries import SavedQuery
from kettrack.render.json import item_json
from kettrack.run.registry import check_query
from kettrack.run.runner import Runner
from kettrack.settings import Settings
from kettrack.sources.ctgov import CtgovClient
from kettrack.sources.eutils import EutilsClient
from kettrack.standin.ctgov import CtgovStandin, RegistrySnapshot

ROOT = Path(__file__).resolve().parents[1]
CTGOV = Path(__file__).resolve().parent / "fixtures" / "ctgov"
KARE = "NCT02649231"
AUD = SavedQuery(name="ketamine-aud-registry", source="clinicaltrials",
                 term='cond: "alcohol use disorder" OR "alcohol dependence" OR alcoholism OR '
                      '"alcohol abuse"; intr: ketamine OR esketamine')
runner = CliRunner()
TODAY = date(2026, 1, 1)


def real(name: str) -> dict[str, Any]:
    """A real CT.gov v2 response from tests/fixtures/ctgov (see the README there)."""
    data: dict[str, Any] = json.loads((CTGOV / name).read_bytes())
    return data


@pytest.fixture(scope="module")
def snapshot() -> RegistrySnapshot:
    return RegistrySnapshot.load(ROOT / "data" / "clinicaltrials" / "studies.json")


# -- normalising real records -----------------------------------------------------------


def test_normalise_a_full_real_record() -> None:
    trial = registry.normalise(real("NCT04267848.json"))
    assert trial.nct_id == "NCT04267848"
    assert trial.title.startswith("Testing the Addition of a Type of Drug Called Immunotherapy")
    assert trial.official_title == ("Integration of Immunotherapy Into Adjuvant Therapy for "
                                    "Resected NSCLC: ALCHEMIST Chemo-IO (ACCIO)")
    assert trial.overall_status == "RECRUITING"
    assert trial.phases == ["PHASE3"] and trial.allocation == "RANDOMIZED"
    assert (trial.enrollment, trial.enrollment_type) == (1210, "ESTIMATED")
    assert trial.sponsor == "National Cancer Institute (NCI)"
    assert trial.conditions[0] == "Lung Non-Small Cell Carcinoma" and len(trial.conditions) == 6
    assert "Pembrolizumab" in trial.interventions
    assert (trial.start_date, trial.start_date_type) == ("2020-06-16", "ACTUAL")
    assert (trial.primary_completion_date, trial.primary_completion_type) == (
        "2025-12-15", "ESTIMATED")
    assert (trial.completion_date, trial.completion_type) == ("2025-12-15", "ESTIMATED")
    assert (trial.first_posted, trial.last_update_posted) == ("2020-02-13", "2025-09-10")
    assert trial.has_results is False
    assert trial.reference_pmids == ["33878954"]


def test_normalise_fields_limited_search_results() -> None:
    trials = [registry.normalise(s)
              for s in real("ctgov_search_phelan_limit5_20260811.json")["studies"]]
    first = trials[0]
    assert first.nct_id == "NCT02710084" and first.overall_status == "COMPLETED"
    assert (first.start_date, first.start_date_type) == ("2016-04-29", None)
    assert first.phases == ["PHASE2"] and first.enrollment == 18
    assert first.interventions == ["Oxytocin", "Saline"]
    assert first.first_posted is None and first.reference_pmids == []
    assert [t.phases for t in trials][1] == ["PHASE1", "PHASE2"]


def test_normalise_an_observational_get_without_phases() -> None:
    trial = registry.normalise(real("ctgov_get_nct06604689_20260811.json"))
    assert trial.phases == [] and trial.allocation is None
    assert trial.sponsor == "Fudan University" and trial.completion_date == "2025-10-01"


def test_a_study_without_nct_number_is_refused() -> None:
    with pytest.raises(ValueError, match="nctId"):
        registry.normalise({"protocolSection": {}})


# -- storing and comparing ----------------------------------------------------------------


def revised(study: dict[str, Any], **status: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(study))
    sm = out["protocolSection"]["statusModule"]
    for key, value in status.items():
        if key == "hasResults":
            out["hasResults"] = value
        elif key == "completion":
            sm["completionDateStruct"] = {"date": value, "type": "ACTUAL"}
        else:
            sm[key] = value
    return out


def events(library: Library) -> list[tuple[Any, ...]]:
    return library.db.execute(
        "SELECT pmid, nct_id, kind, detail FROM events ORDER BY id").fetchall()


def test_store_new_then_revised_trials_makes_events_once() -> None:
    lib = Library.memory()
    run1 = lib.start_run(offline=True)
    qv, _ = lib.query_version_id(AUD, run1)
    study = real("NCT04267848.json")
    first, _, _ = lib.store_registry_query([study], qv, run1, count=1, synced_on=TODAY)
    assert first.new == ["NCT04267848"] and first.events == []
    row = lib.db.execute("SELECT nct_id, title, overall_status, phases, enrollment, sponsor, "
                         "conditions, start_date, completion_date, has_results, first_seen_run, "
                         "first_seen_at FROM trials").fetchone()
    assert row[2:7] == ("RECRUITING", '["PHASE3"]', 1210, "National Cancer Institute (NCI)",
                        json.dumps(registry.normalise(study).conditions))
    assert row[9:11] == (0, run1)

    run2 = lib.start_run(offline=True)
    later = revised(study, overallStatus="COMPLETED", hasResults=True, completion="2026-01-20")
    second, _, _ = lib.store_registry_query([later], qv, run2, count=1, synced_on=TODAY)
    again, _, _ = lib.store_registry_query([later], qv, run2, count=1, synced_on=TODAY)
    assert second.updated == ["NCT04267848"] and again.unchanged == ["NCT04267848"]
    assert events(lib) == [
        (None, "NCT04267848", "trial_status_changed", '{"from": "RECRUITING", "to": "COMPLETED"}'),
        (None, "NCT04267848", "trial_results_posted", "{}"),
        (None, "NCT04267848", "trial_completion_changed",
         '{"from": "2025-12-15", "to": "2026-01-20"}'),
    ]
    assert lib.db.execute("SELECT updated_run FROM trials").fetchone()[0] == run2


def test_a_study_without_nct_number_is_skipped_not_fatal() -> None:
    lib = Library.memory()
    run = lib.start_run(offline=True)
    qv, _ = lib.query_version_id(AUD, run)
    stored, _, _ = lib.store_registry_query(
        [{"protocolSection": {}}, real("ctgov_get_nct06604689_20260811.json")], qv, run,
        count=2, synced_on=TODAY)
    assert stored.new == ["NCT06604689"]


# -- linking both ways ----------------------------------------------------------------------


def test_links_combine_paper_side_and_registry_side() -> None:
    lib = Library.memory()
    run = lib.start_run(offline=True)
    qv, _ = lib.query_version_id(AUD, run)
    # a paper naming the trial in its DataBankList, and the paper the registry cites
    lib.store_batch([(Article(pmid="111", title="Paper naming it", nct_ids=["NCT04267848"],
                              year=2024), None),
                     (Article(pmid="33878954", title="Registry reference"), None)],
                    {}, run)
    lib.store_registry_query([real("NCT04267848.json")], qv, run, count=1, synced_on=TODAY)
    [held] = lib.trial_items(["nct04267848"])
    assert [p.pmid for p in held.publications] == ["111", "33878954"]
    shown = item_json(held)
    assert shown["linked_pmids"] == ["111", "33878954"]
    assert [(p["pmid"], p["via"], p["in_library"]) for p in shown["publications"]] == [
        ("111", ["paper"], True), ("33878954", ["registry"], True)]
    assert shown["queries"] == ["ketamine-aud-registry"] and shown["ongoing"] is True
    for pmid, via in (("111", ("paper",)), ("33878954", ("registry",))):
        [article] = lib.article_items([pmid])
        [linked] = article.trials
        assert linked.nct_id == "NCT04267848" and linked.via == via
        assert linked.trial is not None and linked.trial.overall_status == "RECRUITING"
        assert linked.trial.ongoing is True


def test_a_paper_naming_a_trial_not_in_the_library_still_lists_it() -> None:
    lib = Library.memory()
    run = lib.start_run(offline=True)
    lib.store_batch([(Article(pmid="5", title="x", nct_ids=["NCT01234567"]), None)], {}, run)
    [linked] = lib.article_items(["5"])[0].trials
    assert linked.nct_id == "NCT01234567" and linked.trial is None and not linked.in_library
    [shown] = item_json(lib.article_items(["5"])[0])["trials"]
    assert shown["overall_status"] is None and shown["title"] is None


# -- the registry step of a run ----------------------------------------------------------------


def no_pubmed(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no PubMed request expected: {request.url}")


def make_runner(lib: Library, standin: CtgovStandin | httpx.MockTransport, as_of: date | None,
                page_size: int = 2) -> Runner:
    settings = Settings(max_retries=1, backoff_base=0)
    transport = standin if isinstance(standin, httpx.MockTransport) else httpx.MockTransport(
        standin)
    ctgov = CtgovClient(settings, transport=transport, rate=0, page_size=page_size)
    eutils = EutilsClient(settings, transport=httpx.MockTransport(no_pubmed))
    return Runner(lib, eutils, settings, offline=True, today=as_of, ctgov=ctgov)


def test_first_run_backfills_then_runs_are_incremental(snapshot: RegistrySnapshot) -> None:
    lib = Library.memory()
    standin = CtgovStandin(snapshot, as_of=date(2019, 1, 1))
    first = make_runner(lib, standin, date(2019, 1, 1)).run([AUD])
    [q] = first.queries
    assert (q.source, q.backfill, q.count, q.new, q.updated) == ("clinicaltrials", True, 9, 9, 0)
    assert first.new_trials == 9 and first.new_total == 0
    assert "AREA" not in standin.requests[0].params.get("query.term", "")
    assert standin.count("studies") == 5  # 9 studies in pages of 2

    standin.requests.clear()
    standin.as_of = date(2021, 12, 31)
    second = make_runner(lib, standin, date(2021, 12, 31)).run([AUD])
    [q] = second.queries
    assert (q.backfill, q.count, q.new, q.updated) == (False, 9, 0, 1)  # KARE completed
    sent = [r.params for r in standin.requests]
    assert sent[0]["query.term"] == "AREA[LastUpdatePostDate]RANGE[2019-01-01,MAX]"
    assert sent[-1]["pageSize"] == "1" and "query.term" not in sent[-1]  # the count
    assert second.events == 2  # KARE: RECRUITING -> COMPLETED, results posted


def test_a_failing_page_leaves_that_query_unwritten() -> None:
    page1 = {"studies": [real("NCT04267848.json")], "nextPageToken": "t2", "totalCount": 2}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("pageToken") == "t2":
            return httpx.Response(503, text="down")
        return httpx.Response(200, json=page1)

    lib = Library.memory()
    with pytest.raises(NetworkError, match="ClinicalTrials.gov studies"):
        make_runner(lib, httpx.MockTransport(handler), None).run([AUD])
    assert lib.db.execute("SELECT count(*) FROM trials").fetchone()[0] == 0
    assert lib.db.execute("SELECT status FROM runs").fetchone()[0] == "failed"


def test_a_bad_registry_term_fails_before_any_request(snapshot: RegistrySnapshot) -> None:
    standin = CtgovStandin(snapshot)
    bad = SavedQuery(name="bad", source="clinicaltrials", term='cond: "alcohol',
                     path=Path("queries/bad.toml"))
    with pytest.raises(QueryFileError, match=r"queries/bad.toml: term: unclosed quote"):
        make_runner(Library.memory(), standin, None).run([AUD, bad])
    assert standin.requests == []


def test_weekly_replay_reports_registration_and_each_change_once(
        snapshot: RegistrySnapshot) -> None:
    """The done-when of issue 5: every week from before the first posting to after the
    last, each trial is new in the week it was posted and each change is one event."""
    lib = Library.memory()
    standin = CtgovStandin(snapshot)
    start, end = date(2015, 12, 27), date(2026, 1, 4)
    week_of_run: dict[int, date] = {}
    as_of = start
    while as_of <= end:
        standin.as_of = as_of
        report = make_runner(lib, standin, as_of, page_size=3).run([AUD])
        week_of_run[report.run_id] = as_of
        as_of += timedelta(weeks=1)

    changes = sorted((nct, kind, detail) for _, nct, kind, detail in events(lib))
    assert changes == sorted([
        (KARE, "trial_status_changed", '{"from": "NOT_YET_RECRUITING", "to": "RECRUITING"}'),
        (KARE, "trial_status_changed", '{"from": "RECRUITING", "to": "COMPLETED"}'),
        (KARE, "trial_results_posted", "{}"),
        ("NCT03658330", "trial_status_changed", '{"from": "RECRUITING", "to": "COMPLETED"}'),
        ("NCT05661669", "trial_status_changed",
         '{"from": "NOT_YET_RECRUITING", "to": "WITHDRAWN"}'),
    ])
    # each change in the week its version was posted
    for run_id, nct, kind in lib.db.execute("SELECT run_id, nct_id, kind FROM events"):
        posted = {v.posted for v in snapshot.studies[nct]}
        ran = week_of_run[run_id]
        assert any(p and ran - timedelta(weeks=1) < p <= ran for p in posted), (nct, kind)
    # each trial registered once, in the week it was first posted (undated: the first run)
    rows = lib.db.execute("SELECT nct_id, first_seen_run FROM trials").fetchall()
    assert len(rows) == 12
    for nct, run_id in rows:
        first = snapshot.studies[nct][0].posted
        ran = week_of_run[run_id]
        assert (first is None and ran == start) or (
            first is not None and ran - timedelta(weeks=1) < first <= ran), nct
    # the results paper is linked to its trial from the registry side
    assert "28372596" in [p.pmid for p in lib.trial_items([KARE])[0].publications]


# -- the command line ------------------------------------------------------------------------------


def test_run_offline_then_show_a_trial(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--offline", "--as-of", "2022-01-01", "--json",
                                 "ketamine-aud-registry"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    [q] = data["queries"]
    # 7 undated studies, KARE (2016) and NCT03658330 (2016); the rest came later
    assert (q["name"], q["source"], q["new"]) == ("ketamine-aud-registry", "clinicaltrials", 9)
    assert data["new_trials"] == 9

    shown = runner.invoke(app, ["show", KARE, "--json"])
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.output)
    assert record["overall_status"] == "COMPLETED" and record["has_results"] is True
    assert [(p["pmid"], p["via"]) for p in record["publications"]] == [("28372596",
                                                                        ["registry"])]
    text = runner.invoke(app, ["show", KARE.lower()])
    assert text.exit_code == 0
    assert "NCT02649231 | completed" in text.output
    assert "PMID 28372596: (not in the library); named by the registry" in text.output


def test_show_a_malformed_nct_number_is_exit_2(kettrack_env: Path) -> None:
    Library.open(kettrack_env / "library.db").close()  # an empty library
    result = runner.invoke(app, ["show", "NCT123"])
    assert result.exit_code == 2
    assert "'NCT123' is not an NCT number (NCT followed by 8 digits)" in result.output


def test_show_an_nct_number_the_library_lacks_falls_through_to_articles(kettrack_env: Path) -> None:
    Library.open(kettrack_env / "library.db").close()  # an empty library
    result = runner.invoke(app, ["show", "NCT09999999"])
    assert result.exit_code == 2
    assert "NCT09999999" in result.output and "Traceback" not in result.output


def test_run_with_a_bad_registry_query_file_is_exit_2(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "q"
    folder.mkdir()
    (folder / "broken.toml").write_text('source = "clinicaltrials"\nterm = "intr: (ketamine"\n')
    monkeypatch.setenv("KETTRACK_QUERIES", str(folder))
    result = runner.invoke(app, ["run", "--offline"])
    assert result.exit_code == 2
    assert "broken.toml: term: unclosed '(' in the intr: clause" in result.output


# -- queries check ----------------------------------------------------------------------------


def test_queries_check_reports_registry_queries_offline() -> None:
    result = runner.invoke(app, ["queries", "check", "--offline", "--as-of", "2022-01-01",
                                 "--json", "ketamine-aud-registry", "ketamine-aud"])
    assert result.exit_code == 0, result.output
    registry_entry, pubmed_entry = json.loads(result.output)
    assert registry_entry["name"] == "ketamine-aud-registry"
    assert registry_entry["source"] == "clinicaltrials" and pubmed_entry["source"] == "pubmed"
    assert registry_entry["count"] == 9  # the same count `run` reports for that day
    assert registry_entry["params"]["query.intr"] == "ketamine OR esketamine OR arketamine"
    assert registry_entry["translation"].startswith('query.cond="alcohol use disorder" OR ')
    assert " & query.intr=ketamine OR esketamine" in registry_entry["translation"]
    assert registry_entry["errors"] == {} and registry_entry["warnings"] == {}


def test_queries_check_warns_when_a_registry_query_finds_nothing() -> None:
    result = runner.invoke(app, ["queries", "check", "--offline",
                                 "ketamine-alcohol-withdrawal-registry"])
    assert result.exit_code == 0, result.output
    assert "ketamine-alcohol-withdrawal-registry: 0 hits" in result.output
    assert 'translation: query.cond="alcohol withdrawal" OR ' in result.output
    assert "warning: No studies found." in result.output


def test_registry_check_is_one_request(snapshot: RegistrySnapshot) -> None:
    standin = CtgovStandin(snapshot, as_of=date(2019, 1, 1))
    client = CtgovClient(Settings(max_retries=1, backoff_base=0),
                         transport=httpx.MockTransport(standin), rate=0, page_size=2)
    entry = check_query(client, AUD)
    assert entry["count"] == 9 and standin.count() == 1
    (call,) = standin.requests
    assert call.params["countTotal"] == "true" and call.params["pageSize"] == "1"
    assert call.params["query.cond"] == entry["params"]["query.cond"]


def test_queries_check_rejected_registry_search_names_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "q"
    folder.mkdir()
    (folder / "odd.toml").write_text(
        'source = "clinicaltrials"\nterm = "intr: ketamine; term: AREA[NoSuchField]x"\n')
    monkeypatch.setenv("KETTRACK_QUERIES", str(folder))
    result = runner.invoke(app, ["queries", "check", "--offline"])
    assert result.exit_code == 2
    assert "odd.toml: ClinicalTrials.gov rejected the search: " in result.output
    (folder / "odd.toml").write_text('source = "clinicaltrials"\nterm = "intr: (ketamine"\n')
    broken = runner.invoke(app, ["queries", "check", "--offline"])
    assert broken.exit_code == 2
    assert "odd.toml: term: unclosed '(' in the intr: clause" in broken.output


# -- a trial as an answer in search and check ---------------------------------------------------


@pytest.mark.parametrize(("status", "has_results", "papers", "note"), [
    ("RECRUITING", False, [], "still under way (recruiting): not evidence yet"),
    ("ACTIVE_NOT_RECRUITING", True, [],
     "still under way (active, not recruiting): not evidence yet; early results posted on "
     "ClinicalTrials.gov"),
    ("COMPLETED", False, [], "completed, no results posted on ClinicalTrials.gov"),
    ("COMPLETED", False, [("1", "protocol", True)],
     "completed, no results posted on ClinicalTrials.gov; linked publications: PMID 1 "
     "(protocol)"),
    ("COMPLETED", True, [("1", "rct", True), ("2", None, False)],
     "results posted on ClinicalTrials.gov; see its publications: PMID 1 (rct); PMID 2 "
     "(not in the library)"),
    ("COMPLETED", True, [], "results posted on ClinicalTrials.gov; no linked publication yet"),
    ("TERMINATED", False, [], "terminated before completion, no results posted"),
    (None, False, [], "status not known, no results posted"),
])
def test_evidence_note(status: str | None, has_results: bool,
                       papers: list[tuple[str, str | None, bool]],
                       note: str) -> None:
    held = registry.Trial("NCT00000001", "A trial", overall_status=status,
                          has_results=has_results)
    assert registry.evidence_note(held, papers) == note
    flags = registry.trial_flags(held)
    assert flags[0] == "registered-only"
    assert ("under-way" in flags) == (status in registry.ONGOING_STATUSES)
    assert flags[-1] == ("results-posted" if has_results else "no-results-posted")


def test_trial_result_has_the_article_keys_and_the_registry_facts(
        snapshot: RegistrySnapshot) -> None:
    lib = Library.memory()
    make_runner(lib, CtgovStandin(snapshot, as_of=date(2022, 1, 1)), date(2022, 1, 1)).run([AUD])
    [held] = lib.trial_items([KARE])
    item = item_json(held)
    assert {"pmid", "doi", "pmcid", "title", "journal", "year", "authors", "design", "nct_ids",
            "queries", "retracted", "url"} <= set(item)
    assert (item["item_type"], item["design"], item["pmid"], item["retracted"]) == (
        "trial", "registered-trial", None, False)
    assert item["nct_ids"] == [KARE] and item["queries"] == ["ketamine-aud-registry"]
    assert item["year"] == 2016 and item["enrollment"] == 96 and item["phases"] == ["PHASE2"]
    assert item["linked_pmids"] == ["28372596"]
    assert [(p["pmid"], p["design"], p["in_library"]) for p in item["publications"]] == [
        ("28372596", None, False)]
    assert lib.trial_items(["NCT09999999"]) == []
    # the trials' full-text index follows the table (sqlite-utils' triggers)
    assert lib.db.execute("SELECT count(*) FROM trials_fts WHERE trials_fts MATCH "
                          "'relapse'").fetchone()[0] >= 1
