"""Europe PMC hits in the library: one work, several records and versions; the
run step; the digest's preprint updates; the offline as-of replay; faults and
kills in the middle of the Europe PMC step."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from kettrack.cli import app
from kettrack.dev.faultserver import FaultPlan, serve
from kettrack.digest import collect as digests
from kettrack.errors import Failure
from kettrack.library import design
from kettrack.library.article import Article
from kettrack.library.store import Library
from kettrack.library.versions import doi_base, probable_match
from kettrack.queries import SavedQuery, load_queries
from kettrack.run.runner import Runner
from kettrack.settings import Settings
from kettrack.sources.europepmc import EuropePmcClient, parse_record
from kettrack.sources.eutils import EutilsClient
from kettrack.standin.europepmc import EuropePmcSnapshot, EuropePmcStandin, default_records_path
from kettrack.standin.eutils import EutilsStandin
from kettrack.standin.snapshot import Snapshot, default_snapshot_dir

from .conftest import FIXTURES, ROOT
from .kill import run_killed_once_stored

cli = CliRunner()
PAIR = FIXTURES / "europepmc" / "synthetic_pair.json"
PREPRINTS = SavedQuery(name="preprints", term="(ketamine OR esketamine) AND alcohol* AND SRC:PPR",
                       source="europepmc", description="d")
ANY = SavedQuery(name="epmc-all", term="ketamine AND alcohol*", source="europepmc",
                 description="d")
PUBMED = [q for q in load_queries(ROOT / "queries") if q.source == "pubmed"]


@pytest.fixture(scope="module")
def pubmed_snapshot() -> Snapshot:
    folder = default_snapshot_dir() / "pubmed"
    return Snapshot.load(folder / "snapshot.xml", folder / "pending_indexing.json")


def run(library: Library, queries: list[SavedQuery], *, epmc: EuropePmcSnapshot | None = None,
        pubmed: Snapshot | None = None, as_of: date | None = None,
        epmc_url: str | None = None, page_size: int = 1000):  # type: ignore[no-untyped-def]
    settings = Settings(backoff_base=0, max_retries=2, rate_limit=1000, batch_size=20)
    eutils = EutilsClient(settings, transport=httpx.MockTransport(
        EutilsStandin(pubmed or Snapshot.from_bytes(b"<PubmedArticleSet/>"), as_of=as_of)),
        sleep=lambda s: None)
    if epmc_url:
        client = EuropePmcClient(settings.with_(europepmc_url=epmc_url), sleep=lambda s: None,
                                 page_size=page_size)
    else:
        client = EuropePmcClient(settings, transport=httpx.MockTransport(
            EuropePmcStandin(epmc or EuropePmcSnapshot([]), as_of=as_of)), sleep=lambda s: None,
            page_size=page_size)
    with eutils, client:
        return Runner(library, eutils, settings, offline=True, today=as_of,
                      europepmc=client).run(queries)


def memberships(library: Library) -> set[tuple[str, str]]:
    return set(library.db.execute(
        "SELECT m.pmid, q.name FROM memberships m JOIN query_versions q "
        "ON q.id = m.query_version_id").fetchall())


def bundled() -> EuropePmcSnapshot:
    return EuropePmcSnapshot.load(default_records_path())


def article(pmid: str, **kw: Any) -> Article:
    return design.classify(Article(pmid=pmid, **kw))


def preprint(ppr: str, **kw: Any) -> Article:
    return article(ppr, epmc_source="PPR", epmc_id=ppr, is_preprint=True,
                   preprint_server=kw.pop("preprint_server", "medRxiv"), **kw)


def test_a_preprint_seen_first_then_in_pubmed_is_one_row_reported_once(
        pubmed_snapshot: Snapshot) -> None:
    """The bundled real preprint: Europe PMC finds it (keyed by its PPR id), a
    digest reports it, then PubMed's record of it (same DOI) arrives: one row,
    re-keyed by the PMID, both memberships, nothing new in the next digest."""
    library = Library.memory()
    first = run(library, [PREPRINTS], epmc=bundled(), pubmed=pubmed_snapshot,
                as_of=date(2025, 8, 13))
    assert first.new_total == 1 and first.queries[0].source == "europepmc"
    (key,) = [r[0] for r in library.db.execute("SELECT pmid FROM articles")]
    assert key == "PPR9900000001"
    found = digests.collect(library)
    assert [e.item.id for e in found.entries()] == ["PPR9900000001"]
    assert "preprint" in found.sections["studies"][0].item.flags
    digests.mark(library, found, format="text")

    second = run(library, [PREPRINTS, *PUBMED], epmc=bundled(), pubmed=pubmed_snapshot,
                 as_of=date(2025, 9, 1))
    rows = library.db.execute("SELECT pmid, doi FROM articles WHERE doi = ?",
                              ("10.1101/2025.08.09.25333370",)).fetchall()
    assert rows == [("9900000037", "10.1101/2025.08.09.25333370")]
    names = {n for p, n in memberships(library) if p == "9900000037"}
    assert "preprints" in names and "ketamine-aud" in names
    assert second.updated_total == 0  # PubMed holds the same version: no update either
    later = digests.collect(library)
    assert "9900000037" not in [e.item.id for e in later.entries()]  # not new again
    held = library.article("9900000037")
    assert held is not None and held.preprint and held.preprint_server == "medRxiv"
    assert library.work_key("ppr", "PPR9900000001") == "9900000037"
    from kettrack.library.identifiers import parse_identifier
    assert library.find_article(parse_identifier("ppr9900000001")) == "9900000037"
    # and a third run with nothing new changes nothing, in one Europe PMC request
    third = run(library, [PREPRINTS, *PUBMED], epmc=bundled(), pubmed=pubmed_snapshot,
                as_of=date(2025, 9, 1))
    assert (third.new_total, third.updated_total, third.europepmc_requests) == (0, 0, 1)


def test_a_record_that_enters_late_with_an_old_date_is_not_missed() -> None:
    def entry(ppr: str, available: str, published: str) -> dict[str, Any]:
        return {"available_from": available, "record": {
            "id": ppr, "source": "PPR", "title": f"Ketamine and alcohol preprint {ppr}",
            "pubYear": published[:4], "firstPublicationDate": published,
            "firstIndexDate": available, "pubTypeList": {"pubType": ["Preprint"]}}}

    snapshot = EuropePmcSnapshot.from_json({"records": [
        entry("PPR1", "2025-01-01", "2025-01-01"),
        entry("PPR2", "2025-03-01", "2019-05-01")]})  # indexed late, dated six years back
    library = Library.memory()
    assert run(library, [PREPRINTS], epmc=snapshot, as_of=date(2025, 2, 1)).new_total == 1
    later = run(library, [PREPRINTS], epmc=snapshot, as_of=date(2025, 3, 8))
    assert (later.new_total, later.updated_total, later.europepmc_requests) == (1, 0, 1)
    assert later.queries[0].count == 2 and not later.queries[0].backfill
    assert {r[0] for r in library.db.execute("SELECT pmid FROM articles")} == {"PPR1", "PPR2"}


def test_the_same_record_in_both_sources_in_one_run_is_one_row(pubmed_snapshot: Snapshot) -> None:
    library = Library.memory()
    report = run(library, [*PUBMED, PREPRINTS], epmc=bundled(), pubmed=pubmed_snapshot)
    preprints = [r for r in report.queries if r.name == "preprints"]
    assert preprints[0].new == 1  # new to the library in this run, though PubMed stored it
    assert library.db.execute("SELECT count(*) FROM articles WHERE doi = ?",
                              ("10.1101/2025.08.09.25333370",)).fetchone()[0] == 1
    assert ("9900000037", "preprints") in memberships(library)
    assert library.db.execute("SELECT count(*) FROM articles WHERE pmid LIKE 'PPR%'"
                              ).fetchone()[0] == 0


def test_as_of_replay_preprint_new_version_then_journal_version_merges() -> None:
    pair = EuropePmcSnapshot.load(PAIR)
    library = Library.memory()
    week1 = run(library, [ANY], epmc=pair, as_of=date(2026, 1, 12))
    assert week1.new_total == 1
    digests.mark(library, digests.collect(library), format="text")

    week2 = run(library, [ANY], epmc=pair, as_of=date(2026, 2, 23))
    assert (week2.new_total, week2.updated_total) == (0, 1)
    update = digests.collect(library)
    assert [e.item.id for e in update.sections["updates"]] == ["PPR9900000101"]
    assert [e.kind for e in update.sections["updates"][0].news] == ["new_version"]
    assert "new version of a preprint: version 2 (was 1)" in update.sections["updates"][0].news[
        0].summary
    digests.mark(library, update, format="text")

    week3 = run(library, [ANY], epmc=pair, as_of=date(2026, 4, 20))
    assert (week3.new_total, week3.updated_total) == (0, 1)
    assert [r[0] for r in library.db.execute("SELECT pmid FROM articles")] == ["9900000901"]
    merged = library.article("9900000901")
    assert merged is not None and not merged.preprint
    assert merged.journal == "Journal of Synthetic Test Data"
    final = digests.collect(library)
    assert not final.sections["studies"] and not final.sections["trials"]
    news = final.sections["updates"][0].news
    assert [e.kind for e in news] == ["published_version"]
    assert news[0].summary.startswith("published version of a preprint you saw")
    versions = library.versions("9900000901")
    assert {v["id"] for v in versions} == {"PPR:PPR9900000101", "MED:9900000901"}
    assert library.work_key("doi", "10.1101/2026.01.05.99999999") == "9900000901"
    kinds = [k for (k,) in library.db.execute("SELECT kind FROM events ORDER BY id")]
    assert kinds == ["new_version", "published_version"]


def test_a_journal_version_in_pubmed_claims_its_linked_preprint() -> None:
    library = Library.memory()
    library.start_run(offline=True)
    qv, _ = library.query_version_id(ANY, 1)
    held = preprint("PPR7", title="Ketamine for alcohol use disorder: a pilot trial", year=2025,
                    doi="10.1101/2025.01.01.1")
    held.version_links = []
    library.store_europepmc([held], qv, 1)
    # Europe PMC then says the preprint was published as PMID 555
    linked = preprint("PPR7", title=held.title, year=2025, doi=held.doi)
    from kettrack.library.article import VersionLink
    linked.version_links = [VersionLink("preprint in", "MED", "555")]
    stored = library.store_europepmc([linked], qv, 1)
    assert stored.keys == ["PPR7"]
    # PubMed's record of the journal version (another DOI) arrives through efetch
    journal = article("555", title=held.title, year=2025, doi="10.1/journal.555",
                      journal="Addiction")
    batch = library.store_batch([(journal, None)], {}, 1)
    assert batch.renamed == {"PPR7": "555"} and batch.updated == ["555"]
    assert [r[0] for r in library.db.execute("SELECT pmid FROM articles")] == ["555"]
    # the link Europe PMC added is a revision (not news); the journal version is news
    assert [k for (k,) in library.db.execute("SELECT kind FROM events")] == [
        "revised", "published_version"]


def test_two_pubmed_records_are_never_merged_and_a_probable_match_is_only_recorded() -> None:
    library = Library.memory()
    library.start_run(offline=True)
    qv, _ = library.query_version_id(ANY, 1)
    title = "Ketamine and relapse prevention therapy for alcohol use disorder"
    library.store_batch([(article("100", title=title, year=2022, authors=["Grabski M"],
                                  doi="10.1/a"), None),
                         (article("200", title="Another paper entirely", year=2022,
                                  doi="10.1/b"), None)], {}, 1)
    # a record claiming both DOIs' PMIDs does not fold 100 and 200 together
    odd = preprint("PPR9", title=title + "!", year=2021, authors=["Grabski Mark"], doi="10.1/b")
    stored = library.store_europepmc([odd], qv, 1)
    assert {r[0] for r in library.db.execute("SELECT pmid FROM articles")} == {"100", "200"}
    assert stored.keys == ["200"]
    # a preprint matching title, first author and dates is recorded as probable, not merged
    twin = preprint("PPR10", title=title, year=2021, authors=["Grabski M", "Morgan CJA"],
                    doi="10.1101/2021.1")
    library.store_europepmc([twin], qv, 1)
    assert {r[0] for r in library.db.execute("SELECT pmid FROM articles")} == {
        "100", "200", "PPR10"}
    (evidence,) = [json.loads(e) for (e,) in library.db.execute(
        "SELECT evidence FROM probable_versions WHERE pmid = 'PPR10' AND other = '100'")]
    assert evidence["first_author"] == "grabski" and evidence["years"] == [2021, 2022]
    events = library.db.execute("SELECT pmid, kind FROM events ORDER BY pmid").fetchall()
    assert events == [("100", "probable_version"), ("PPR10", "probable_version")]
    assert [v["kind"] for v in library.versions("100")] == ["probable"]


def test_europepmc_copy_of_a_pubmed_record_adds_a_membership_not_a_revision() -> None:
    library = Library.memory()
    library.start_run(offline=True)
    qv, _ = library.query_version_id(ANY, 1)
    library.store_batch([(article("100", title="PubMed's title", year=2022, doi="10.1/a"),
                          None)], {}, 1)
    copy = parse_record({"id": "100", "source": "MED", "pmid": "100", "doi": "10.1/A",
                         "title": "Europe PMC's title", "pubYear": "2022"})
    stored = library.store_europepmc([copy], qv, 1)  # type: ignore[list-item]
    assert (stored.keys, stored.new, stored.updated) == (["100"], [], [])
    held = library.article("100")
    assert held is not None and held.title == "PubMed's title"
    assert ("100", "epmc-all") in memberships(library)
    assert library.db.execute("SELECT count(*) FROM events").fetchone()[0] == 0


def test_probable_match_is_conservative() -> None:
    p = preprint("PPR1", title="Ketamine for alcohol use disorder: a trial", year=2021,
                 authors=["Smith J"])
    j = article("1", title="Ketamine for Alcohol-Use Disorder: A Trial.", year=2022,
                authors=["Smith JA"])
    assert probable_match(p, j) is not None
    assert probable_match(p, article("2", title=j.title, year=2026, authors=["Smith J"])) is None
    assert probable_match(p, article("3", title=j.title, year=2020, authors=["Smith J"])) is None
    assert probable_match(p, article("4", title=j.title, year=2022, authors=["Jones J"])) is None
    assert probable_match(p, article("5", title="Ketamine for alcohol use", year=2022,
                                     authors=["Smith J"])) is None
    assert doi_base("10.21203/rs.3.rs-6664819/v2") == "10.21203/rs.3.rs-6664819"
    assert doi_base("10.1101/2025.06.13.25329599") is None


def test_research_square_versions_are_one_preprint_with_a_new_version() -> None:
    library = Library.memory()
    library.start_run(offline=True)
    qv, _ = library.query_version_id(ANY, 1)
    v1 = preprint("PPR20", title="T one", year=2025, doi="10.21203/rs.3.rs-1/v1", version="1",
                  preprint_server="Research Square")
    v2 = preprint("PPR21", title="T one", year=2025, doi="10.21203/rs.3.rs-1/v2", version="2",
                  preprint_server="Research Square")
    assert library.store_europepmc([v1], qv, 1).new == ["PPR20"]
    second = library.store_europepmc([v2], qv, 1)
    assert second.updated == ["PPR20"] and second.new == []
    assert [k for (k,) in library.db.execute("SELECT kind FROM events")] == ["new_version"]
    assert {v["id"] for v in library.versions("PPR20")} == {"PPR:PPR20", "PPR:PPR21"}


def test_a_withdrawn_preprint_is_unmistakable() -> None:
    library = Library.memory()
    library.start_run(offline=True)
    qv, _ = library.query_version_id(ANY, 1)
    record = {"id": "PPR30", "source": "PPR", "title": "Ketamine and alcohol withdrawal study",
              "pubYear": "2025", "pubTypeList": {"pubType": ["Preprint"]},
              "bookOrReportDetails": {"publisher": "medRxiv"}}
    library.store_europepmc([parse_record(record)], qv, 1)  # type: ignore[list-item]
    digests.mark(library, digests.collect(library), format="text")
    record["commentCorrectionList"] = {"commentCorrection": [
        {"type": "Withdrawal in", "source": "PPR", "id": "PPR31"}]}
    stored = library.store_europepmc([parse_record(record)], qv, 1)  # type: ignore[list-item]
    assert stored.updated == ["PPR30"]
    found = digests.collect(library)
    (entry,) = found.sections["updates"]
    assert entry.retracted and [e.kind for e in entry.news] == ["withdrawn"]
    from kettrack.render.digest import render
    text = render(found, "text")
    assert "*** WITHDRAWN PREPRINT ***" in text and "not peer reviewed" in text


def test_run_offline_as_of_shows_a_preprint_and_later_its_journal_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("europepmc"))
    (data / "europepmc").mkdir()
    shutil.copy(PAIR, data / "europepmc" / "records.json")
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "preprints.toml").write_text(
        'description = "d"\nsource = "europepmc"\nterm = "ketamine AND alcohol*"\n')
    monkeypatch.setenv("KETTRACK_SNAPSHOT_DIR", str(data))
    monkeypatch.setenv("KETTRACK_QUERIES", str(queries))

    def day(when: str) -> dict[str, Any]:
        done = cli.invoke(app, ["run", "--offline", "--as-of", when, "--json"])
        assert done.exit_code == 0, done.output
        return json.loads(done.output)  # type: ignore[no-any-return]

    assert day("2026-01-12")["new_total"] == 1
    first = cli.invoke(app, ["digest", "--format", "json"])
    (shown,) = json.loads(first.output)["sections"]["studies"]
    assert shown["title"].startswith("Synthetic test record") and shown["pmid"] is None
    shown = cli.invoke(app, ["digest", "--format", "text", "--since", "2026-01-01", "--peek"])
    assert "preprint, not peer reviewed" in shown.output
    arrived = day("2026-04-20")
    assert (arrived["new_total"], arrived["updated_total"]) == (0, 1)
    digest = cli.invoke(app, ["digest", "--format", "text"])
    assert "published version of a preprint you saw" in digest.output
    assert "Journal of Synthetic Test Data" in digest.output
    show = cli.invoke(app, ["show", "10.1101/2026.01.05.99999999"])
    assert show.exit_code == 0 and "Journal of Synthetic Test Data" in show.output
    assert "preprint medRxiv v2 (PPR:PPR9900000101, 2026-01-08" in show.output
    shown_json = json.loads(cli.invoke(app, ["show", "9900000901", "--json"]).output)
    assert [v["kind"] for v in shown_json["versions"]] == ["preprint", "journal"]
    assert shown_json["preprint"] is False
    check = cli.invoke(app, ["queries", "check", "--offline", "--as-of", "2026-04-20",
                             "--json"])
    assert json.loads(check.output) == [{
        "name": "preprints", "source": "europepmc", "count": 2,
        "translation": "ketamine AND alcohol*", "params": {"query": "ketamine AND alcohol*"},
        "errors": {}, "warnings": {}}]


def test_a_bad_europepmc_query_names_its_file(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    queries = tmp_path / "q"
    queries.mkdir()
    (queries / "odd.toml").write_text('description = "d"\nsource = "europepmc"\n'
                                      'term = "ketamine AND \\"unclosed"\n')
    monkeypatch.setenv("KETTRACK_QUERIES", str(queries))
    done = cli.invoke(app, ["run", "--offline"])
    assert done.exit_code == 2 and "odd.toml" in done.output


def state(library: Library) -> dict[str, object]:
    db = library.db
    return {
        "articles": dict(db.execute("SELECT pmid, record_hash FROM articles").fetchall()),
        "memberships": memberships(library),
        "ids": set(db.execute("SELECT kind, value, pmid FROM work_ids").fetchall()),
        "versions": set(db.execute("SELECT version_key, pmid FROM work_versions").fetchall()),
        "fts": db.execute("SELECT count(*) FROM articles_fts").fetchone()[0],
    }


def many(n: int) -> EuropePmcSnapshot:
    entries = []
    for i in range(n):
        entries.append({"available_from": "2025-01-01", "record": {
            "id": f"PPR97{i:08d}", "source": "PPR", "doi": f"10.1101/many.{i}",
            "title": f"Ketamine and alcohol preprint number {i}", "pubYear": "2025",
            "pubTypeList": {"pubType": ["Preprint"]}, "firstIndexDate": "2025-01-01",
            "bookOrReportDetails": {"publisher": "bioRxiv"}}})
    return EuropePmcSnapshot.from_json({"records": entries})


@pytest.mark.parametrize("kind", ["503", "reset", "error200"])
def test_faults_in_the_europepmc_step_recover_to_the_fault_free_library(kind: str) -> None:
    snapshot = many(210)
    reference = Library.memory()
    run(reference, [PREPRINTS], epmc=snapshot, as_of=date(2025, 2, 1))
    plan = FaultPlan().on("search", kind, times=2)
    library = Library.memory()
    with serve(EuropePmcStandin(snapshot, as_of=date(2025, 2, 1)), plan) as url:
        report = run(library, [PREPRINTS], epmc_url=url, as_of=date(2025, 2, 1), page_size=100)
    assert plan.fired == [("search", kind)] * 2
    assert report.europepmc_requests == 3 + 2  # three pages, two retried
    assert state(library) == state(reference)


def test_a_persistent_fault_mid_paging_keeps_whole_pages_and_a_rerun_converges() -> None:
    snapshot = many(210)
    library = Library.memory()
    plan = FaultPlan().on("search", "503", nth=2).on("search", "503", nth=3).on(
        "search", "503", nth=4)
    with serve(EuropePmcStandin(snapshot, as_of=date(2025, 2, 1)), plan) as url, \
            pytest.raises(Failure):
        run(library, [PREPRINTS], epmc_url=url, as_of=date(2025, 2, 1), page_size=100)
    assert library.db.execute("SELECT count(*) FROM articles").fetchone()[0] == 100
    assert library.db.execute("SELECT status FROM runs").fetchone()[0] == "failed"
    run(library, [PREPRINTS], epmc=snapshot, as_of=date(2025, 2, 1))
    reference = Library.memory()
    run(reference, [PREPRINTS], epmc=snapshot, as_of=date(2025, 2, 1))
    assert state(library) == state(reference)


def test_a_killed_europepmc_run_converges(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("europepmc"))
    (data / "europepmc").mkdir()
    records = many(3000)
    (data / "europepmc" / "records.json").write_text(json.dumps({"records": [
        {"available_from": e.available_from.isoformat(), "record": e.record}
        for e in records.entries]}))
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "preprints.toml").write_text(
        f'description = "d"\nsource = "europepmc"\nterm = "{PREPRINTS.term}"\n')
    db = tmp_path / "k.db"
    env = dict(os.environ, KETTRACK_DB=str(db), KETTRACK_QUERIES=str(queries),
               KETTRACK_SNAPSHOT_DIR=str(data))
    run_killed_once_stored(db, env)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        assert count % 1000 == 0  # whole pages only
    done = subprocess.run([sys.executable, "-m", "kettrack", "run", "--offline"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    resumed = Library.open(db)
    reference = Library.memory()
    run(reference, [SavedQuery(name="preprints", term=PREPRINTS.term, source="europepmc",
                               description="d")], epmc=records)
    assert state(resumed) == state(reference)


def test_a_screened_preprint_keeps_its_decisions_when_its_pubmed_record_arrives(
        pubmed_snapshot: Snapshot) -> None:
    """A living review included the preprint; when the work is re-keyed by its
    PMID, the audit trail moves with it (nothing to screen twice, nothing lost)."""
    from kettrack.review.model import NewDecision

    library = Library.memory()
    run(library, [PREPRINTS], epmc=bundled(), pubmed=pubmed_snapshot, as_of=date(2025, 8, 13))
    review = library.create_review("aud", ["preprints"], reasons=["wrong population"], seed=1)
    library.record_decisions(review, [NewDecision(("article", "PPR9900000001"), "include",
                                                  note="key preprint")],
                             reviewer="ana", via="decide")
    run(library, [PREPRINTS, *PUBMED], epmc=bundled(), pubmed=pubmed_snapshot,
        as_of=date(2025, 9, 1))
    trail = library.db.execute("SELECT item_id, decision, note, reviewer FROM "
                               "screening_decisions").fetchall()
    assert trail == [("9900000037", "include", "key preprint", "ana")]
