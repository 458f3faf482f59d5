"""Citation watches end to end: ``watch add/list/remove``, the run's watch step
against the E-utilities stand-in (in process and over loopback, with faults and a
kill), the digest's grouping and ``show``."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from kettrack.cli import app
from kettrack.dev.faultserver import FaultPlan, serve
from kettrack.digest.collect import collect, mark
from kettrack.errors import ConfigError, Failure, NotInLibrary
from kettrack.library.store import Library
from kettrack.queries import SavedQuery, load_queries
from kettrack.run.runner import Runner
from kettrack.run.watch import ElinkCitations
from kettrack.settings import Settings
from kettrack.sources.eutils import EutilsClient
from kettrack.standin.eutils import EutilsStandin
from kettrack.standin.links import CitationGraph
from kettrack.standin.snapshot import Snapshot
from kettrack.tools.watch import resolve

from .conftest import ROOT, fixture_bytes, scripted
from .kill import run_killed_once_stored

QUERIES = [q for q in load_queries(ROOT / "queries") if q.source == "pubmed"]
GRABSKI = "9900000022"  # snapshot-only identifier of Grabski 2022 (DOI below)
GRABSKI_DOI = "10.1176/appi.ajp.2021.21030277"
ZARATE, KRYSTAL_2023 = "16894061", "38011560"  # the latter's real reference list cites Zarate
DAS = "31772157"
WEEK1, WEEK2 = date(2023, 6, 1), date(2023, 12, 1)  # Krystal 2023 entered PubMed 2023-11-27
runner = CliRunner()


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return Snapshot.load_default()


@pytest.fixture(scope="module")
def graph(snapshot: Snapshot) -> CitationGraph:
    return CitationGraph.load(ROOT / "data" / "source" / "citations.toml", snapshot)


def settings(**more: object) -> Settings:
    return Settings(backoff_base=0, max_retries=3, rate_limit=1000, batch_size=20).with_(**more)


def run_week(library: Library, standin: EutilsStandin, as_of: date | None = None,
             queries: list[SavedQuery] = QUERIES, **more: object):  # type: ignore[no-untyped-def]
    with EutilsClient(settings(**more), transport=httpx.MockTransport(standin),
                      sleep=lambda s: None) as client:
        return Runner(library, client, client.settings, offline=True, today=as_of,
                      watches=True).run(queries)


def watch_state(library: Library) -> dict[str, object]:
    db = library.db
    return {
        "articles": dict(db.execute("SELECT pmid, record_hash FROM articles").fetchall()),
        "memberships": set(db.execute(
            "SELECT m.pmid, q.name FROM memberships m JOIN query_versions q "
            "ON q.id = m.query_version_id").fetchall()),
        "citations": set(db.execute(
            "SELECT citing_pmid, cited_pmid, source FROM citations").fetchall()),
    }


def watched_library(*pmids_names: tuple[str, str]) -> Library:
    library = Library.memory()
    for pmid, name in pmids_names:
        library.add_watch(name, pmid, given=pmid, label=name.title())
    return library


# -- the snapshot's citation data --------------------------------------------------


def test_recorded_relations_are_in_the_real_reference_list(graph: CitationGraph) -> None:
    """Every relation not marked assumed is in the citing record's real ReferenceList."""
    import re

    xml = fixture_bytes("38011560.xml").decode("utf-8")
    refs = set(re.findall(r'<ArticleId IdType="pubmed">(\d+)</ArticleId>',
                          xml.split("<ReferenceList>", 1)[1]))
    real = [c for c in graph.citations if not c.assumed]
    assert len(real) == 19 and {c.citing for c in real} == {KRYSTAL_2023}
    assert {c.cited for c in real} <= refs
    assert all("assumed" in c.source for c in graph.citations if c.assumed)


def test_a_citation_shows_from_the_citing_papers_entrez_date(snapshot: Snapshot,
                                                             graph: CitationGraph) -> None:
    assert graph.cited_by(ZARATE, snapshot.view(WEEK1)) == []
    assert graph.cited_by(ZARATE, snapshot.view(WEEK2)) == [KRYSTAL_2023]
    assert graph.cited_by(GRABSKI, snapshot.view(date(2022, 12, 1))) == ["36087563"]


# -- watch add / list / remove -------------------------------------------------------


def test_add_list_remove_and_bad_input() -> None:
    library = watched_library((DAS, "das2019"))
    with pytest.raises(ConfigError, match="already exists"):
        library.add_watch("das2019", ZARATE, given=ZARATE, label="x")
    with pytest.raises(ConfigError, match="already watched as 'das2019'"):
        library.add_watch("other", DAS, given=DAS, label="x")
    assert [w.name for w in library.watches()] == ["das2019"]
    removed = library.remove_watch("das2019")
    assert removed.pmid == DAS and library.watches() == []
    with pytest.raises(NotInLibrary):
        library.remove_watch("das2019")
    again = library.add_watch("das2019", DAS, given=DAS, label="Das 2019")
    assert again.query_version_id == removed.query_version_id  # memberships stay attached


def test_cli_watch_add_resolves_from_the_library_and_offline(tmp_path: Path,
                                                            snapshot: Snapshot) -> None:
    library = Library.open(tmp_path / "library.db")
    run_week(library, EutilsStandin(snapshot, as_of=WEEK1))
    library.close()
    added = runner.invoke(app, ["watch", "add", f"https://doi.org/{GRABSKI_DOI.upper()}",
                                "--json"])
    assert added.exit_code == 0, added.output
    data = json.loads(added.stdout)
    assert (data["name"], data["id"], data["pmid"], data["label"]) == (
        "grabski2022", GRABSKI, None, "Grabski 2022")
    # a PMID the library lacks: fetched once (offline: from the snapshot) for its label
    zarate = runner.invoke(app, ["watch", "add", ZARATE, "--offline", "--name", "ketamine-mdd"])
    assert zarate.exit_code == 0, zarate.output
    assert "Zarate 2006" in zarate.stdout and "cited-by:ketamine-mdd" in zarate.stdout
    listed = runner.invoke(app, ["watch", "list"])
    assert listed.stdout.splitlines() == [
        "grabski2022: Grabski 2022 (snapshot record 9900000022, PMID unknown, added as "
        f"https://doi.org/{GRABSKI_DOI.upper()}); 0 citing papers seen",
        "ketamine-mdd: Zarate 2006 (PMID 16894061, added as 16894061); 0 citing papers seen"]
    for args, message in (
        (["watch", "add", ZARATE, "--offline"], "already watched as 'ketamine-mdd'"),
        (["watch", "add", "NCT02649231"], "is a registered trial"),
        (["watch", "add", "not an id"], "is not a PMID"),
        (["watch", "add", DAS, "--name", "Bad Name"], "a watch name is"),
        (["watch", "add", "9900000099"], "snapshot-only identifier"),
        (["watch", "add", "10.1000/nowhere", "--offline"], "no single record"),
        (["watch", "remove", "nope"], "no watch named 'nope'"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("Error: ") and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    removed = runner.invoke(app, ["watch", "remove", "ketamine-mdd"])
    assert removed.exit_code == 0 and "stopped watching Zarate 2006" in removed.stdout


def test_a_doi_is_resolved_with_one_esearch() -> None:
    # hand-made esearch and a real efetch body (pubmed1.xml holds PMID 9997)
    found = (b'<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eSearchResult PUBLIC '
             b'"-//NLM//DTD esearch 20060628//EN" '
             b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
             b"<eSearchResult><Count>1</Count><RetMax>1</RetMax><RetStart>0</RetStart>"
             b"<IdList><Id>9997</Id></IdList><TranslationSet/>"
             b"<QueryTranslation>x</QueryTranslation></eSearchResult>\n")
    transport, seen = scripted(httpx.Response(200, content=found),
                               httpx.Response(200, content=fixture_bytes("pubmed1.xml")))
    with EutilsClient(settings(), transport=transport) as client:
        got = resolve(Library.memory(), client, "doi:10.1000/Example")
    assert got.pmid == "9997" and got.article is not None and got.article.authors
    term = httpx.QueryParams(seen[0].url.query.decode())["term"]
    assert term == '"10.1000/example"[aid]'
    # esearch1.xml (a real answer with 63 hits) is not one record: refused
    transport, _ = scripted(httpx.Response(200, content=fixture_bytes("esearch2.xml")))
    with EutilsClient(settings(), transport=transport) as client, \
            pytest.raises(NotInLibrary, match="no single record"):
        resolve(Library.memory(), client, "PMC123")


# -- the run's watch step ------------------------------------------------------------


def test_watch_brings_in_citing_papers_once_with_cited_by(snapshot: Snapshot,
                                                         graph: CitationGraph) -> None:
    library = watched_library((ZARATE, "zarate2006"), (GRABSKI, "grabski2022"))
    first = run_week(library, EutilsStandin(snapshot, as_of=WEEK1, links=graph), WEEK1)
    assert library.article(KRYSTAL_2023) is None
    standin = EutilsStandin(snapshot, as_of=WEEK2, links=graph)
    second = run_week(library, standin, WEEK2)
    assert library.article(KRYSTAL_2023) is not None  # not found by any saved query
    names = library.query_names([KRYSTAL_2023])[KRYSTAL_2023]
    assert names == ["cited-by:zarate2006"]
    line = next(q for q in second.queries if q.name == "cited-by:zarate2006")
    assert (line.source, line.count, line.new) == ("watch", 1, 1)
    assert first.new_total > 0 and KRYSTAL_2023 not in first.missing
    # a citer also found by a saved query is fetched once, with both memberships
    kelson = "37273364"
    assert set(library.query_names([kelson])[kelson]) >= {"cited-by:grabski2022",
                                                           "ketamine-aud"}
    efetched = [p for r in standin.requests if r.endpoint == "efetch"
                for p in r.params.get("id", "").split(",")]
    assert efetched.count(KRYSTAL_2023) == 1
    # one ELink request for both watches, one id= each
    elinks = [r for r in standin.requests if r.endpoint == "elink"]
    assert len(elinks) == 1 and second.watch_requests == 1 and second.watches == 2


def test_a_week_with_nothing_new_costs_a_bounded_number_of_requests(
        snapshot: Snapshot, graph: CitationGraph) -> None:
    library = watched_library(*[(str(20_000_000 + i), f"w{i}") for i in range(450)],
                              (ZARATE, "zarate2006"))
    run_week(library, EutilsStandin(snapshot, as_of=WEEK2, links=graph), WEEK2)
    standin = EutilsStandin(snapshot, as_of=WEEK2, links=graph)
    again = run_week(library, standin, WEEK2)
    assert again.new_total == 0 and again.watches == 451
    assert again.watch_requests == standin.count("elink") == 3  # ceil(451 / 200)
    assert again.fetched == 0  # no citer is fetched again
    assert again.requests == len(standin.requests)  # every request is counted and printed
    assert all(r.method == "POST" for r in standin.requests if r.endpoint == "elink"
               and r.params["id"].count(",") >= 199)


def test_snapshot_only_ids_are_never_sent_to_ncbi() -> None:
    transport, seen = scripted(httpx.Response(200, content=fixture_bytes("elink1.xml")))
    with EutilsClient(settings(), transport=transport) as client:
        online = ElinkCitations(client)
        assert online.cited_by([GRABSKI]) == {}  # no request at all
        assert seen == []
        found = online.cited_by(["9298984", GRABSKI])
    ids = [v for k, v in httpx.QueryParams(seen[0].url.query.decode()).multi_items() if k == "id"]
    assert ids == ["9298984"] and len(found["9298984"]) == 39


def test_named_runs_and_check_online_do_not_run_watches(snapshot: Snapshot,
                                                        graph: CitationGraph) -> None:
    library = watched_library((ZARATE, "zarate2006"))
    standin = EutilsStandin(snapshot, as_of=WEEK2, links=graph)
    with EutilsClient(settings(), transport=httpx.MockTransport(standin)) as client:
        report = Runner(library, client, client.settings, offline=True).run(QUERIES[:1])
    assert standin.count("elink") == 0 and report.watches == 0


# -- faults, failures and kills --------------------------------------------------------


@pytest.mark.parametrize("kind", ["503", "reset", "truncate", "html", "error200", "429"])
def test_elink_faults_over_loopback_recover(snapshot: Snapshot, graph: CitationGraph,
                                            kind: str) -> None:
    reference = watched_library((ZARATE, "zarate2006"), (DAS, "das2019"))
    run_week(reference, EutilsStandin(snapshot, as_of=WEEK2, links=graph), WEEK2)
    library = watched_library((ZARATE, "zarate2006"), (DAS, "das2019"))
    plan = FaultPlan().on("elink", kind, times=2)
    with serve(EutilsStandin(snapshot, as_of=WEEK2, links=graph), plan) as base_url, \
            EutilsClient(settings(eutils_url=base_url, read_timeout=2),
                         sleep=lambda s: None) as client:
        Runner(library, client, client.settings, offline=True, today=WEEK2,
               watches=True).run(QUERIES)
    assert plan.fired == [("elink", kind)] * 2
    assert watch_state(library) == watch_state(reference)


def test_persistent_elink_failure_fails_the_run_and_stores_nothing(
        snapshot: Snapshot, graph: CitationGraph) -> None:
    library = watched_library((ZARATE, "zarate2006"))
    run_week(library, EutilsStandin(snapshot, as_of=WEEK1, links=graph), WEEK1)
    before = watch_state(library)
    plan = FaultPlan().on("elink", "503", times=100)
    with serve(EutilsStandin(snapshot, as_of=WEEK2, links=graph), plan) as base_url, \
            EutilsClient(settings(eutils_url=base_url, max_retries=1),
                         sleep=lambda s: None) as client, pytest.raises(Failure):
        Runner(library, client, client.settings, offline=True, today=WEEK2,
               watches=True).run(QUERIES)
    assert watch_state(library) == before
    status = library.db.execute("SELECT status FROM runs ORDER BY id DESC").fetchone()[0]
    assert status == "failed"


def test_killed_run_with_watches_converges(tmp_path: Path, snapshot: Snapshot,
                                           graph: CitationGraph) -> None:
    db = tmp_path / "k.db"
    with Library.open(db) as library:
        library.add_watch("zarate2006", ZARATE, given=ZARATE, label="Zarate 2006")
        library.add_watch("grabski2022", GRABSKI, given=GRABSKI_DOI, label="Grabski 2022")
    folder = tmp_path / "queries"  # the PubMed queries the reference runs (not Europe PMC's)
    folder.mkdir()
    for query in QUERIES:
        shutil.copy(ROOT / "queries" / f"{query.name}.toml", folder)
    env = dict(os.environ, KETTRACK_DB=str(db), KETTRACK_BATCH_SIZE="5",
               KETTRACK_QUERIES=str(folder))
    run_killed_once_stored(db, env)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    done = subprocess.run([sys.executable, "-m", "kettrack", "run", "--offline"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    reference = watched_library((ZARATE, "zarate2006"), (GRABSKI, "grabski2022"))
    run_week(reference, EutilsStandin(snapshot, links=graph))
    with Library.open(db) as resumed:
        assert watch_state(resumed) == watch_state(reference)
        assert ("cited-by:zarate2006" in resumed.query_names([KRYSTAL_2023])[KRYSTAL_2023])


# -- digest and show -------------------------------------------------------------------


def test_digest_groups_new_papers_by_watched_paper(tmp_path: Path, snapshot: Snapshot,
                                                   graph: CitationGraph) -> None:
    library = Library.open(tmp_path / "library.db")
    library.add_watch("grabski2022", GRABSKI, given=GRABSKI_DOI, label="Grabski 2022")
    run_week(library, EutilsStandin(snapshot, as_of=date(2022, 6, 1), links=graph))
    first = collect(library)
    assert first.citing_watched() == []  # nothing cites KARE by mid-2022 in the snapshot
    mark(library, first, format="text")
    run_week(library, EutilsStandin(snapshot, as_of=date(2024, 7, 1), links=graph))
    library.close()
    text = runner.invoke(app, ["digest", "--format", "text", "--peek"])
    # a review of 2022, two of 2023 and a trial of 2024 (assumed relations, see citations.toml)
    assert text.stdout.splitlines()[2] == "4 new papers cite Grabski 2022 (watch grabski2022)"
    data = json.loads(runner.invoke(app, ["digest", "--format", "json", "--peek"]).stdout)
    assert data["citing_watched"] == [{"name": "grabski2022", "label": "Grabski 2022",
                                       "pmid": None,
                                       "ids": data["citing_watched"][0]["ids"]}]
    assert set(data["citing_watched"][0]["ids"]) == {"36087563", "37273364", "9900000021",
                                                     "38863284"}
    shown = runner.invoke(app, ["show", "38863284"])
    assert "cites watched papers: Grabski 2022 (watch grabski2022)" in shown.stdout
    as_json = json.loads(runner.invoke(app, ["show", "38863284", "--json"]).stdout)
    assert as_json["cites_watched"] == [{"name": "grabski2022", "label": "Grabski 2022",
                                         "pmid": None}]
    assert "cited-by:grabski2022" in as_json["queries"] and as_json["watched_as"] is None
    watched = runner.invoke(app, ["show", GRABSKI_DOI])
    assert "watched as grabski2022: 4 citing papers seen" in watched.stdout
    assert json.loads(runner.invoke(app, ["show", GRABSKI_DOI, "--json"]).stdout)[
        "watched_as"] == {"name": "grabski2022", "citing": 4}


def test_a_second_citation_source_is_unioned_and_deduplicated(snapshot: Snapshot,
                                                              graph: CitationGraph) -> None:
    """A stand-in for a second source (e.g. Europe PMC's citations endpoint): its
    answers join ELink's, each relation is recorded per source, a paper is fetched once."""

    class SecondSource:
        name = "second-source"
        asked: list[list[str]] = []

        def cited_by(self, pmids):  # type: ignore[no-untyped-def]
            self.asked.append(list(pmids))
            return {ZARATE: [KRYSTAL_2023, "33989669"], "99999999": ["1"]}

        def requests(self) -> int:
            return len(self.asked)

    library = watched_library((ZARATE, "zarate2006"))
    standin = EutilsStandin(snapshot, as_of=WEEK2, links=graph)
    second = SecondSource()
    with EutilsClient(settings(), transport=httpx.MockTransport(standin)) as client:
        report = Runner(library, client, client.settings, offline=True, today=WEEK2,
                        watches=True,
                        citation_sources=[ElinkCitations(client, include_reserved=True),
                                          second]).run(QUERIES)
    assert second.asked == [[ZARATE]]
    line = next(q for q in report.queries if q.name == "cited-by:zarate2006")
    assert line.count == 2  # Krystal 2023 (both sources) and Worrell 2021 (second only)
    assert report.watch_requests == 2  # one ELink, one for the second source
    assert sorted(library.db.execute(
        "SELECT citing_pmid, source FROM citations ORDER BY 1, 2").fetchall()) == [
        ("33989669", "second-source"), (KRYSTAL_2023, "pubmed_pubmed_citedin"),
        (KRYSTAL_2023, "second-source")]
    efetched = [p for r in standin.requests if r.endpoint == "efetch"
                for p in r.params.get("id", "").split(",")]
    assert efetched.count(KRYSTAL_2023) == 1
    assert "cited-by:zarate2006" in library.query_names(["33989669"])["33989669"]


def test_a_paper_reported_earlier_is_not_new_again_when_a_watch_finds_it(
        snapshot: Snapshot, graph: CitationGraph) -> None:
    library = Library.memory()
    day = date(2024, 7, 1)
    run_week(library, EutilsStandin(snapshot, as_of=day, links=graph), day)
    kelson = "37273364"
    reported = collect(library)
    assert any(e.item.id == kelson for e in reported.entries())
    mark(library, reported, format="text")
    library.add_watch("das2019", DAS, given=DAS, label="Das 2019")
    report = run_week(library, EutilsStandin(snapshot, as_of=day, links=graph), day)
    line = next(q for q in report.queries if q.name == "cited-by:das2019")
    assert line.count == 4 and line.new == 0 and report.new_total == 0
    assert "cited-by:das2019" in library.query_names([kelson])[kelson]
    later = collect(library)
    assert later.is_empty and later.citing_watched() == []  # one row, reported once
    assert [w.name for w in library.article_items([kelson])[0].cites_watched] == ["das2019"]


def test_europepmc_citations_are_a_second_source_of_citing_papers() -> None:
    """Europe PMC's citations endpoint (stand-in; its shape is documented in
    docs/europepmc.md as assumed): citing works with a PMID are taken, a citing
    preprint is left to the Europe PMC queries, one paged request per paper."""
    from kettrack.run.watch import EuropePmcCitations
    from kettrack.sources.europepmc import EuropePmcClient
    from kettrack.standin.europepmc import EuropePmcSnapshot, EuropePmcStandin

    def citing(source: str, ident: str, **more: str) -> dict[str, object]:
        return {"available_from": "2020-01-01", "cites": [f"MED:{ZARATE}"],
                "record": {"id": ident, "source": source, "title": f"Citing work {ident}",
                           "pubYear": "2024", **more}}

    snapshot = EuropePmcSnapshot.from_json({"records": [
        citing("MED", KRYSTAL_2023, pmid=KRYSTAL_2023),
        citing("MED", "36111111", pmid="36111111"),
        citing("PPR", "PPR1234567"),
    ]})
    client = EuropePmcClient(settings(), transport=httpx.MockTransport(
        EuropePmcStandin(snapshot, as_of=date(2026, 1, 1))), rate=1000)
    source = EuropePmcCitations(client)
    found = source.cited_by([ZARATE, GRABSKI])  # Grabski's key is snapshot-only: not asked
    assert set(found) == {ZARATE} and sorted(found[ZARATE]) == sorted([KRYSTAL_2023, "36111111"])
    assert source.requests() == 1
