"""``kettrack digest``: what is new, in sections, marked once, in every format."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kettrack.cli import app
from kettrack.digest import collect as digests
from kettrack.library.article import AbstractSection, Article, Correction, conclusion_of
from kettrack.library.store import Library
from kettrack.render.digest import render
from kettrack.standin import snapshot as snapshot_module

from .conftest import ROOT

runner = CliRunner()
SNAPSHOT = ROOT / "data" / "pubmed" / "snapshot.xml"


def make_article(pmid: str, title: str, *, abstract: str = "", labelled: bool = False,
                 **kw: Any) -> Article:
    sections = [AbstractSection("We enrolled 96 patients.", "METHODS", "METHODS"),
                AbstractSection(abstract or "Ketamine helped.", "CONCLUSIONS", "CONCLUSIONS")
                ] if labelled else [AbstractSection(abstract or "Ketamine was studied.")]
    article = Article(pmid=pmid, title=title, abstract_sections=sections,
                      authors=kw.pop("authors", ["Grabski M", "Borissova A", "Marsh B",
                                                 "Morgan CJA"]),
                      journal=kw.pop("journal", "Am J Psychiatry"),
                      pub_date=kw.pop("pub_date", "2022 Feb"), year=2022,
                      entrez_date=kw.pop("entrez_date", "2022-01-01"), **kw)
    from kettrack.library import design
    return design.classify(article)


def store(library: Library, *articles: Article, query: str = "ketamine-aud") -> None:
    from kettrack.queries import SavedQuery
    run = library.start_run(offline=True)
    qv, _ = library.query_version_id(SavedQuery(name=query, term="ketamine"), run)
    library.store_batch([(a, None) for a in articles],
                        {a.pmid: [qv] for a in articles}, run)


def open_library() -> Library:
    import os
    return Library.open(os.environ["KETTRACK_DB"])


def ids(found: digests.Digest, section: str) -> list[str]:
    return [entry.item.id for entry in found.sections[section]]


def test_sections_follow_design_and_marking_reports_once() -> None:
    library = open_library()
    store(library,
          make_article("1", "Ketamine for AUD: a randomized placebo-controlled trial"),
          make_article("2", "Ketamine for alcohol use disorder: a systematic review"),
          make_article("3", "Ketamine use in a retrospective cohort of drinkers"))
    found = digests.collect(library)
    assert (ids(found, "trials"), ids(found, "reviews"), ids(found, "studies")) == (
        ["1"], ["2"], ["3"])
    assert found.since is None and not found.sections["updates"]
    digests.mark(library, found, format="text")
    assert digests.collect(library).is_empty
    store(library, make_article("4", "Ketamine for alcohol: an open-label pilot study"))
    again = digests.collect(library)
    assert ids(again, "trials") == ["4"] and sum(again.counts().values()) == 1
    assert again.since == found.created_at


def test_events_become_updates_or_fold_into_new_items() -> None:
    library = open_library()
    old = make_article("10", "Ketamine for AUD: a randomized trial")
    store(library, old)
    digests.mark(library, digests.collect(library), format="text")
    # a revision retracts the reported article and a brand-new article is revised too
    fresh = make_article("11", "Ketamine in rats drinking ethanol")
    store(library, fresh)
    retracted = make_article("10", "Ketamine for AUD: a randomized trial",
                             corrections=[Correction("RetractionIn", "999")])
    revised_new = make_article("11", "Ketamine in rats drinking ethanol",
                               corrections=[Correction("ErratumIn", "998")])
    store(library, retracted, revised_new)
    found = digests.collect(library)
    assert ids(found, "updates") == ["10"]
    update = found.sections["updates"][0]
    assert update.retracted and update.news[0].kind == "retracted"
    assert ids(found, "studies") == ["11"]
    assert [e.kind for e in found.sections["studies"][0].news] == ["erratum"]
    digests.mark(library, found, format="json")
    assert digests.collect(library).is_empty
    kinds = dict(library.db.execute(
        "SELECT item_type, count(*) FROM digest_items GROUP BY item_type").fetchall())
    assert kinds == {"article": 3, "event": 2}


def test_since_date_includes_recent_items_again() -> None:
    library = open_library()
    store(library, make_article("20", "Ketamine: a randomized trial"))
    digests.mark(library, digests.collect(library), format="text")
    assert digests.collect(library).is_empty
    again = digests.collect(library, date.today() - timedelta(days=1))
    assert ids(again, "trials") == ["20"] and again.since == str(date.today() - timedelta(1))
    assert digests.collect(library, date.today() + timedelta(days=2)).is_empty


def kare_study(status: str) -> dict[str, object]:
    """A minimal CT.gov v2 study of KARE (the fields the digest shows)."""
    return {"protocolSection": {
        "identificationModule": {"nctId": "NCT02649231", "briefTitle": "KARE"},
        "statusModule": {"overallStatus": status, "startDateStruct": {"date": "2017-01"},
                         "completionDateStruct": {"date": "2019-12"}},
        "designModule": {"phases": ["PHASE2"], "enrollmentInfo": {"count": 96}},
        "sponsorCollaboratorsModule": {"leadSponsor": {"name": "University of Exeter"}},
        "conditionsModule": {"conditions": ["Alcohol Use Disorder"]}}, "hasResults": True}


def test_registered_trials_go_to_trials_and_their_changes_to_updates() -> None:
    from kettrack.queries import SavedQuery
    from kettrack.render.json import entry_json

    library = open_library()
    store(library, make_article("30", "Ketamine: a randomized trial", nct_ids=["NCT02649231"]))
    run = library.start_run(offline=True)
    qv, _ = library.query_version_id(SavedQuery("r", "intr: ketamine", "clinicaltrials"), run)
    library.store_registry_query([kare_study("RECRUITING")], qv, run, count=1,
                                 synced_on=date.today())
    found = digests.collect(library)
    assert ids(found, "trials") == ["30", "NCT02649231"]
    trial = entry_json(found.sections["trials"][1])
    assert trial["url"] == "https://clinicaltrials.gov/study/NCT02649231"
    assert trial["phases"] == ["PHASE2"] and trial["badge"] == "Registered trial"
    digests.mark(library, found, format="text")
    later_run = library.start_run(offline=True)
    library.store_registry_query([kare_study("COMPLETED")], qv, later_run, count=1,
                                 synced_on=date.today())
    later = digests.collect(library)
    assert ids(later, "updates") == ["NCT02649231"]
    assert "trial status now COMPLETED" in render(later, "text")
    digests.mark(library, later, format="text")
    assert digests.collect(library).is_empty
    rebuilt = digests.rebuild(library, 1)
    assert ids(rebuilt, "trials") == ["30", "NCT02649231"]


def test_every_format_escapes_and_flags_retractions() -> None:
    library = open_library()
    evil = make_article("40", "Ketamine <script>alert(1)</script> & naltrexone: a randomized "
                              "trial",
                        abstract="Ketamine & <b>placebo</b> were compared.", labelled=True,
                        corrections=[Correction("RetractionIn", "41")],
                        doi="10.1/x&y", nct_ids=["NCT01234567"])
    store(library, evil)
    found = digests.collect(library)
    page = render(found, "html")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; naltrexone" in page
    # a DOI's "&" is percent-encoded in the link, and escaped where it is text
    assert "&lt;b&gt;placebo&lt;/b&gt;" in page and 'href="https://doi.org/10.1/x%26y"' in page
    assert "DOI 10.1/x&amp;y" in page
    assert "<style" not in page and "<link" not in page  # inline CSS only
    assert "RETRACTED" in page
    text = render(found, "text")
    assert text.index("*** RETRACTED ***") < text.index("<script>")
    markdown = render(found, "markdown")
    assert r"\<script\>" in markdown and "**⚠ RETRACTED**" in markdown
    assert "RETRACTED" in render(found, "rich")
    data = json.loads(render(found, "json"))
    item = data["sections"]["trials"][0]
    assert set(data) >= {"since", "sections"} and set(data["sections"]) == {
        "trials", "studies", "reviews", "updates"}
    for key in ("pmid", "doi", "pmcid", "title", "journal", "year", "authors", "design",
                "nct_ids", "queries", "retracted", "url", "species", "sample_size",
                "conclusion", "badge"):
        assert key in item
    assert item["retracted"] is True and item["queries"] == ["ketamine-aud"]
    assert item["conclusion"] == "Ketamine & <b>placebo</b> were compared."
    assert item["sample_size"] == 96


def test_item_text_has_what_a_reader_needs() -> None:
    library = open_library()
    store(library, make_article("50", "Ketamine for AUD: a randomized trial",
                                abstract="We enrolled 96 patients. Ketamine increased "
                                         "abstinent days. ClinicalTrials.gov: NCT02649231.",
                                nct_ids=["NCT02649231"], doi="10.1176/appi.ajp.2021.21030277"))
    text = render(digests.collect(library), "text")
    assert "Grabski M, Borissova A, Marsh B et al. | Am J Psychiatry | 2022 Feb" in text
    assert "[RCT]" in text and "human · n=96" in text and "found by: ketamine-aud" in text
    assert "Conclusion: Ketamine increased abstinent days." in text
    assert "https://pubmed.ncbi.nlm.nih.gov/50/" in text
    assert "https://doi.org/10.1176/appi.ajp.2021.21030277" in text
    assert "https://clinicaltrials.gov/study/NCT02649231" in text


def test_reserved_snapshot_pmids_get_no_pubmed_link() -> None:
    library = open_library()
    store(library, make_article("9900000001", "Ketamine: a review", doi="10.1/abc"))
    text = render(digests.collect(library), "text")
    assert "pubmed.ncbi" not in text and "https://doi.org/10.1/abc" in text


# ----------------------------------------------------------------------------- command


def test_command_peek_quiet_output_and_marking(tmp_path: Path) -> None:
    library = open_library()
    store(library, make_article("60", "Ketamine: a randomized trial"))
    library.close()
    peek = runner.invoke(app, ["digest", "--peek", "--format", "json"])
    assert peek.exit_code == 0, peek.output
    assert [a["pmid"] for a in json.loads(peek.output)["sections"]["trials"]] == ["60"]
    default = runner.invoke(app, ["digest"])  # not a terminal: text
    assert default.exit_code == 0 and default.output.startswith("kettrack digest: 1 new trial")
    quiet = runner.invoke(app, ["digest", "--quiet-if-empty"])
    assert quiet.exit_code == 0 and quiet.output == ""
    loud = runner.invoke(app, ["digest", "--peek"])
    assert loud.exit_code == 0 and "Nothing new." in loud.output
    out = tmp_path / "d.html"
    since = runner.invoke(app, ["digest", "--since", date.today().isoformat(), "--format",
                                "html", "--output", str(out)])
    assert since.exit_code == 0 and since.output == ""
    assert "Ketamine: a randomized trial" in out.read_text()


@pytest.mark.parametrize("args, message", [
    (["--format", "pdf"], "--format 'pdf'"),
    (["--since", "yesterday"], "--since 'yesterday' is not a date"),
    (["--output", "/nonexistent/x.txt"], "folder /nonexistent does not exist"),
    (["--email", "not-an-address"], "--email 'not-an-address' is not an e-mail address"),
    (["--email", "a@example.org"], "KETTRACK_SMTP_URL"),
])
def test_command_bad_input_exits_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["digest", *args])
    assert result.exit_code == 2
    assert message in result.output


# ----------------------------------------------------------------------------- replay


@cache
def _snapshot_entrez() -> dict[str, date]:
    """Each snapshot record's entrez date, read from the snapshot file itself."""
    out = {}
    root = ET.parse(SNAPSHOT).getroot()
    for record in root:
        pmid = record.findtext(".//PMID")
        for item in record.iter("PubMedPubDate"):
            if item.get("PubStatus") == "entrez":
                out[str(pmid)] = date(int(item.findtext("Year") or 0),
                                      int(item.findtext("Month") or 0),
                                      int(item.findtext("Day") or 0))
    return out


@pytest.mark.skipif(not SNAPSHOT.exists(), reason="offline snapshot not built")
def test_weekly_replay_reports_each_record_in_its_week(monkeypatch: pytest.MonkeyPatch) -> None:
    # the snapshot is parsed once for the whole replay, not once per `run`
    original = snapshot_module.Snapshot.load.__func__  # type: ignore[attr-defined]
    cached = cache(lambda cls, *a: original(cls, *a))
    monkeypatch.setattr(snapshot_module.Snapshot, "load",
                        classmethod(lambda cls, *a, **k: cached(cls, *a)))
    monkeypatch.setenv("KETTRACK_RATE_LIMIT", "1000")  # the stand-in needs no NCBI pacing
    entrez = _snapshot_entrez()
    recent = sorted(d for d in entrez.values() if d <= date.today())[-6:]
    start = recent[0] - timedelta(days=recent[0].weekday() + 1)  # the Sunday before
    weeks = [start + timedelta(weeks=k) for k in range((recent[-1] - start).days // 7 + 2)]
    reported: dict[str, date] = {}
    trials_seen: set[str] = set()
    previous: date | None = None
    for as_of in weeks:
        result = runner.invoke(app, ["run", "--offline", "--as-of", as_of.isoformat()])
        assert result.exit_code == 0, result.output
        shown = runner.invoke(app, ["digest", "--format", "json"])
        assert shown.exit_code == 0, shown.output
        sections = json.loads(shown.output)["sections"]
        items = [a for name in ("trials", "studies", "reviews") for a in sections[name]]
        new = [a["id"] for a in items if a["item_type"] == "article"]
        assert len(new) == len(set(new))
        for trial in (a["nct_id"] for a in items if a["item_type"] == "trial"):
            assert trial not in trials_seen, f"{trial} reported twice"
            trials_seen.add(trial)
        for pmid in new:
            assert pmid not in reported, f"{pmid} reported twice"
            reported[pmid] = as_of
        held = {r[0] for r in open_library().db.execute("SELECT pmid FROM articles")}
        expected = {p for p in held if entrez[p] <= as_of and (previous is None
                                                                or entrez[p] > previous)}
        assert set(new) == expected, as_of
        for item in sections["updates"]:
            if item["item_type"] == "article":
                assert item["id"] in reported and reported[item["id"]] < as_of
            else:
                assert item["nct_id"] in trials_seen
        previous = as_of
    assert set(reported) == held
    assert sum(1 for p, d in reported.items() if d != weeks[0]) >= 3


def test_conclusion_prefers_labelled_section() -> None:
    article = make_article("70", "t", abstract="Ketamine reduced drinking. NCT01234567.",
                           labelled=True)
    assert conclusion_of(article) == "Ketamine reduced drinking."
    plain = make_article("71", "t", abstract="Background here. We found e.g. 3.5 fewer drinks "
                                              "vs. placebo. Ketamine may help.")
    assert conclusion_of(plain) == "Ketamine may help."
    assert re.match(r"^[A-Z]", conclusion_of(plain))


def test_conclusion_only_when_the_abstract_concludes() -> None:
    from kettrack.sources import pubmed
    from kettrack.standin.snapshot import Snapshot

    snap = Snapshot.load_default()
    objective_only = pubmed.article_from_raw(snap.raw("22978511"))  # OBJECTIVE: To examine...
    assert objective_only.abstract.startswith("OBJECTIVE: To examine whether")
    assert conclusion_of(objective_only) == ""
    no_conclusions = pubmed.article_from_raw(snap.raw("18996507"))  # OBJECTIVE + METHODS
    assert conclusion_of(no_conclusions) == ""
    labelled = pubmed.article_from_raw(snap.raw("26025607"))
    assert conclusion_of(labelled).startswith("A family history of alcoholism was associated")
    aim = make_article("72", "t", abstract="Ketamine is an anaesthetic. To examine whether it "
                                           "reduces drinking.")
    assert conclusion_of(aim) == ""

    # an unstructured abstract that ends by describing itself or counting what it included
    # states no conclusion; one that ends on a finding or an inference does
    for pmid in ("37273364", "9900000002", "9900000040"):  # "Eleven studies ... were included"
        described = pubmed.article_from_raw(snap.raw(pmid))
        assert not any(s.label for s in described.abstract_sections)
        assert conclusion_of(described) == "", pmid
    for last in ("It included 118 trials with 20,976 participants.",
                 "This narrative review describes ketamine psychotherapy.",
                 "As its title indicates, it considers how ketamine might be used.",
                 "The review notes that the studies were small."):
        assert conclusion_of(make_article("74", "t", abstract=f"Ketamine is a drug. {last}")) == ""
    for last in ("Ketamine did not reduce relapse.", "These results suggest a benefit.",
                 "There was no association between ketamine and craving."):
        concluding = make_article("75", "t", abstract=f"Ketamine is a drug. {last}")
        assert conclusion_of(concluding) == last

    library = open_library()
    store(library, make_article("73", "Objective only", abstract="To examine whether ketamine "
                                                                 "reduces drinking."))
    text = render(digests.collect(library), "text")
    assert "Objective only" in text and "Conclusion:" not in text
