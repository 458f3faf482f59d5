"""Living reviews: ``review create/list/show/queue/prisma``, ``screen --decide/--import``,
the decision trail, the ranking model, the PRISMA flow, the digest line and exports."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kettrack.library.article import AbstractSection, Article
from kettrack.library.store import Library
from kettrack.queries import SavedQuery
from kettrack.review import prisma
from kettrack.review.model import Decision, current
from kettrack.review.queue import Screening
from kettrack.review.ranking import Ranker, random_order

from .writer_library import copy_offline_library, invoke

# three records of the offline snapshot, found by the saved query ketamine-aud
QUALITATIVE = "34483991"     # DOI 10.3389/fpsyt.2021.695335, PMC8415567
FAMILY = "15465973"
RECOVERING = "12888778"


@pytest.fixture
def library_db(kettrack_env: Path) -> Path:
    db = copy_offline_library(kettrack_env / "library.db")
    result = invoke("review", "create", "aud", "--query", "ketamine-aud", "--query",
                    "ketamine-aud-registry", "--keyword", "ketamine",
                    "--reason", "wrong population", "--reason", "wrong <design> & co")
    assert result.exit_code == 0, result.output
    return db


def trail(db: Path, name: str = "aud") -> list[Decision]:
    with Library.open(db) as library:
        review = library.review(name)
        assert review is not None
        return library.decision_trail(review.id)


def queue(*args: str) -> list[dict[str, object]]:
    result = invoke("review", "queue", "aud", "--json", *args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    return data


# -- creating and listing -------------------------------------------------------


def test_create_list_show(library_db: Path) -> None:
    listed = json.loads(invoke("review", "list", "--json").stdout)
    assert [r["name"] for r in listed] == ["aud"]
    assert listed[0]["queries"] == ["ketamine-aud", "ketamine-aud-registry"]
    assert listed[0]["reasons"] == ["wrong population", "wrong <design> & co"]
    progress = listed[0]["progress"]
    assert progress["screened"] == 0 and progress["awaiting"] == progress["records"] > 40
    shown = invoke("review", "show", "aud")
    assert shown.exit_code == 0 and "Random order" in shown.stdout
    assert "screened to the end" in shown.stdout          # what the model cannot promise


@pytest.mark.parametrize(("args", "message"), [
    (["aud", "--query", "ketamine-aud"], "already exists"),
    (["new", "--query", "no-such-query"], "not a saved query"),
    (["bad name!", "--query", "ketamine-aud"], "review name"),
])
def test_create_bad_input_exits_2(library_db: Path, args: list[str], message: str) -> None:
    result = invoke("review", "create", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_review_exits_2(library_db: Path) -> None:
    for args in (["review", "queue", "nope"], ["screen", "nope", "--decide", FAMILY, "include"],
                 ["review", "prisma", "nope"]):
        result = invoke(*args)
        assert result.exit_code == 2 and "review 'nope' does not exist; known: aud" in result.stderr


# -- deciding -------------------------------------------------------------------


def test_decide_stores_who_when_reason_note_and_keeps_changes_of_mind(
        library_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "alice")
    assert invoke("screen", "aud", "--decide", FAMILY, "include", "--note", "keep?").exit_code == 0
    result = invoke("screen", "aud", "--decide", "pmid:" + FAMILY, "EXCLUDE", "--reason",
                    "Wrong Population", "--reviewer", "bob")
    assert result.exit_code == 0, result.output
    rows = trail(library_db)
    assert [(r.decision, r.reason, r.note, r.reviewer, r.via) for r in rows] == [
        ("include", None, "keep?", "alice", "decide"),
        ("exclude", "wrong population", None, "bob", "decide")]
    assert all(r.decided_at.endswith("+00:00") for r in rows)
    assert current(rows)[("article", FAMILY)].decision == "exclude"
    # the DOI, the PMCID and the NCT number of held records name them too
    assert invoke("screen", "aud", "--decide", "https://doi.org/10.3389/FPSYT.2021.695335",
                  "maybe").exit_code == 0
    assert invoke("screen", "aud", "--decide", "PMC8415567", "include").exit_code == 0
    nct = next(q["id"] for q in queue() if q["item_type"] == "trial")
    assert invoke("screen", "aud", "--decide", str(nct).lower(), "maybe").exit_code == 0
    now = current(trail(library_db))
    assert now[("article", QUALITATIVE)].decision == "include"
    assert now[("trial", str(nct))].decision == "maybe"


@pytest.mark.parametrize(("args", "message"), [
    (["--decide", "99999999", "include"], "PMID 99999999 is not in the library"),
    (["--decide", "not-an-id", "include"], "is not a PMID, DOI, PMCID or NCT number"),
    (["--decide", FAMILY, "perhaps"], "choose include, exclude or maybe"),
    (["--decide", FAMILY, "exclude", "--reason", "too old"], "is not one of review aud's"),
    (["--decide", FAMILY, "include", "--reason", "wrong population"], "a reason goes with"),
    (["--reason", "x"], "go with --decide"),
])
def test_decide_bad_input_exits_2_and_stores_nothing(library_db: Path, args: list[str],
                                                     message: str) -> None:
    result = invoke("screen", "aud", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert trail(library_db) == []


def test_record_outside_the_review_is_refused(library_db: Path) -> None:
    assert invoke("review", "create", "other", "--query", "ketamine-memory-reconsolidation"
                  ).exit_code == 0
    result = invoke("screen", "other", "--decide", FAMILY, "include")
    assert result.exit_code == 2 and "not among review other's records" in result.stderr


def test_import_is_all_or_nothing_and_names_the_line(library_db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(f"id,decision,reason,note\n{FAMILY},include\n{RECOVERING},exclude,nope\n")
    result = invoke("screen", "aud", "--import", str(bad))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {bad}:3: reason 'nope' is not one of")
    assert trail(library_db) == []
    good = tmp_path / "good.csv"
    good.write_text("\ufeff" + f"{FAMILY},include,,\"fits, clearly\"\n\n"
                    f"doi:10.3389/fpsyt.2021.695335,Exclude,wrong <design> & co\n"
                    f"{RECOVERING},maybe\n", encoding="utf-8")
    result = invoke("screen", "aud", "--import", str(good), "--reviewer", "carol")
    assert result.exit_code == 0 and "imported 3 decision(s)" in result.stdout
    rows = trail(library_db)
    assert [(r.key[1], r.decision, r.reason, r.note, r.reviewer, r.via) for r in rows] == [
        (FAMILY, "include", None, "fits, clearly", "carol", "import"),
        (QUALITATIVE, "exclude", "wrong <design> & co", None, "carol", "import"),
        (RECOVERING, "maybe", None, None, "carol", "import")]
    for text, where in (("x\n", ":1: expected id,decision"), ("", "no decisions")):
        bad.write_text(text)
        result = invoke("screen", "aud", "--import", str(bad))
        assert result.exit_code == 2 and where in result.stderr
    assert invoke("screen", "aud", "--import", str(tmp_path / "none.csv")).exit_code == 2


def test_interactive_screen_needs_a_terminal(library_db: Path) -> None:
    result = invoke("screen", "aud")
    assert result.exit_code == 2 and "needs a terminal" in result.stderr


# -- the queue and its ranking ----------------------------------------------------------


def test_queue_is_random_until_an_inclusion_and_an_exclusion_then_ranked(
        library_db: Path) -> None:
    first = queue()
    assert queue() == first                                  # the seeded order is stable
    assert [q["rank"] for q in first] == list(range(1, len(first) + 1))
    assert all(q["score"] is None and q["ranked_by"] == "random" for q in first)
    assert len(queue("--limit", "3")) == 3
    invoke("screen", "aud", "--decide", QUALITATIVE, "include")
    assert all(q["ranked_by"] == "random" for q in queue())  # one class only: still random
    invoke("screen", "aud", "--decide", FAMILY, "exclude")
    ranked = queue()
    assert all(q["ranked_by"] == "model" for q in ranked)
    scores = [float(q["score"]) for q in ranked]  # type: ignore[arg-type]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
    assert {QUALITATIVE, FAMILY}.isdisjoint(q["id"] for q in ranked)
    assert len(ranked) == len(first) - 2
    text = invoke("review", "queue", "aud").stdout
    assert "trained on 1 inclusion(s) and 1 exclusion(s)" in text and "screened to the end" in text


def test_random_order_does_not_depend_on_the_other_keys() -> None:
    keys = [f"article:{n}" for n in range(50)]
    full = random_order(keys, 7)
    assert sorted(full) == sorted(keys) and full != keys
    subset = random_order(keys[::3], 7)
    assert subset == [k for k in full if k in set(keys[::3])]
    assert random_order(keys, 8) != full


def test_ranker_learns_which_words_were_included() -> None:
    topic_a = ["ketamine infusion randomised trial alcohol use disorder relapse {}",
               "ketamine for alcohol dependence: a placebo controlled trial of drinking {}"]
    topic_b = ["rat hippocampus ethanol withdrawal NMDA receptor slice {}",
               "mouse model of ethanol preference and glutamate {}"]
    texts = [t.format(n) for n in range(20) for t in (*topic_a, *topic_b)]
    ranker = Ranker(texts, seed=1)
    assert ranker.scores([0], []) is None and ranker.scores([], [2]) is None
    scores = ranker.scores([0], [2])
    assert scores is not None and len(scores) == len(texts)
    clinical = [scores[i] for i, t in enumerate(texts) if "ketamine" in t]
    animal = [scores[i] for i, t in enumerate(texts) if "ethanol" in t and "ketamine" not in t]
    assert min(clinical) > max(animal)


def test_records_a_run_adds_join_the_queue() -> None:
    library = Library.memory()
    run = library.start_run(offline=True)
    qv, _ = library.query_version_id(SavedQuery(name="q", term="ketamine"), run)
    library.create_review("r", ["q"], reasons=["other"], seed=3)
    review = library.review("r")
    assert review is not None
    library.store_batch([(article("1", "ketamine trial"), None)], {"1": [qv]}, run)
    assert [e.key for e in Screening(library, review).queue().entries] == [("article", "1")]
    library.store_batch([(article("2", "ketamine cohort"), None)], {"2": [qv]}, run)
    assert {e.key[1] for e in Screening(library, review).queue().entries} == {"1", "2"}


def article(pmid: str, title: str) -> Article:
    return Article(pmid=pmid, title=title, abstract_sections=[AbstractSection(title)],
                   year=2020)


# -- PRISMA ---------------------------------------------------------------------------


def test_prisma_counts_sources_duplicates_reasons() -> None:
    library = Library.memory()
    run = library.start_run(offline=True)
    pubmed, _ = library.query_version_id(SavedQuery(name="pm", term="ketamine"), run)
    epmc, _ = library.query_version_id(SavedQuery(name="ep", term="ketamine",
                                                  source="europepmc"), run)
    library.store_batch([(article(str(n), f"record {n}"), None) for n in range(1, 6)],
                        {"1": [pubmed], "2": [pubmed], "3": [pubmed, epmc], "4": [epmc],
                         "5": [pubmed, epmc]}, run)
    library.create_review("r", ["pm", "ep"], reasons=["wrong population", "other"], seed=1)
    review = library.review("r")
    assert review is not None
    from kettrack.review.model import NewDecision
    library.record_decisions(review.id, [
        NewDecision(("article", "1"), "include"),
        NewDecision(("article", "2"), "exclude", "other"),
        NewDecision(("article", "3"), "exclude", "wrong population"),
        NewDecision(("article", "4"), "exclude")], reviewer="t", via="test")
    undone = library.record_decisions(review.id, [NewDecision(("article", "5"), "maybe")],
                                      reviewer="t", via="test")
    library.undo_decision(review.id, undone[0], reviewer="t", via="test")
    data = prisma.to_json(prisma.flow(Screening(library, review)))
    assert data["identified"]["total"] == 7
    assert [(s["source"], s["records"]) for s in data["identified"]["sources"]] == [
        ("pubmed", 4), ("europepmc", 3)]
    assert data["duplicates_removed"] == 2 and data["records"] == 5
    assert data["screened"] == 4 and data["included"] == 1 and data["maybe"] == 0
    assert data["awaiting"] == 1
    assert data["excluded"] == {"total": 3, "reasons": [
        {"reason": "no reason given", "records": 1}, {"reason": "other", "records": 1},
        {"reason": "wrong population", "records": 1}]}


def test_prisma_formats_and_svg_is_escaped_xml(library_db: Path, tmp_path: Path) -> None:
    invoke("screen", "aud", "--decide", QUALITATIVE, "include")
    invoke("screen", "aud", "--decide", FAMILY, "exclude", "--reason", "wrong <design> & co")
    text = invoke("review", "prisma", "aud").stdout
    assert "Records included: 1" in text and "wrong <design> & co: 1" in text
    data = json.loads(invoke("review", "prisma", "aud", "--format", "json").stdout)
    assert {s["source"] for s in data["identified"]["sources"]} == {"pubmed", "clinicaltrials"}
    assert data["records"] == data["screened"] + data["awaiting"]
    out = tmp_path / "flow.svg"
    assert invoke("review", "prisma", "aud", "--format", "svg", "-o", str(out)).exit_code == 0
    raw = out.read_text()
    assert "&lt;design&gt; &amp; co" in raw
    root = ET.fromstring(raw)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    words = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "Records included in review (n = 1)" in words and "wrong <design> & co (n = 1)" in words
    assert f"Records screened (n = {data['screened']})" in words
    bad = invoke("review", "prisma", "aud", "--format", "pdf")
    assert bad.exit_code == 2 and "choose one of text, json, svg" in bad.stderr


# -- digest and export -----------------------------------------------------------------


def test_digest_says_how_many_new_records_to_screen(library_db: Path) -> None:
    invoke("screen", "aud", "--decide", FAMILY, "include")
    data = json.loads(invoke("digest", "--peek", "--format", "json").stdout)
    (entry,) = data["screening"]
    assert entry["review"] == "aud" and entry["new"] == entry["awaiting"] > 10
    text = invoke("digest", "--peek", "--format", "text").stdout
    assert f"{entry['new']} new records to screen in aud" in text
    invoke("digest")                                       # marks everything reported
    assert json.loads(invoke("digest", "--peek", "--format", "json").stdout)["screening"] == []


def test_export_included_records_with_decision_fields(library_db: Path) -> None:
    invoke("screen", "aud", "--decide", QUALITATIVE, "include", "--note", "core paper")
    invoke("screen", "aud", "--decide", FAMILY, "exclude", "--reason", "wrong population")
    rows = list(csv.DictReader(io.StringIO(invoke("export", "-f", "csv", "--review", "aud")
                                           .stdout)))
    assert [(r["pmid"], r["decision"], r["note"]) for r in rows] == [
        (QUALITATIVE, "include", "core paper")]
    every = json.loads(invoke("export", "-f", "json", "--review", "aud", "--decision", "any")
                       .stdout)
    assert {(a["pmid"], a["screening"]["decision"], a["screening"]["reason"]) for a in every} == {
        (QUALITATIVE, "include", None), (FAMILY, "exclude", "wrong population")}
    bib = invoke("export", "-f", "bibtex", "--review", "aud", "--decision", "exclude").stdout
    assert "decision = {exclude}" in bib and "reason = {wrong population}" in bib
    ris = invoke("export", "-f", "ris", "--review", "aud").stdout
    assert "review aud: include" in ris
    plain = invoke("export", "-f", "csv").stdout
    assert "decision" not in plain.splitlines()[0]
    assert invoke("export", "-f", "csv", "--decision", "exclude").exit_code == 2
