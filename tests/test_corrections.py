"""Every run checks the whole library for retractions, errata and expressions of concern.

The offline snapshot holds no retracted paper, so the retraction here is
HAND-MADE for the tests: Das et al. 2019 (PMID 31772157, a real record of the
snapshot) is given the "Retracted Publication" type and a ``RetractionIn`` link
to an invented notice (PMID 39999999). Das 2019 was never retracted.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import pytest

from kettrack.library.article import Correction
from kettrack.library.store import Library
from kettrack.queries import SavedQuery
from kettrack.render.json import evidence_json, item_json, run_json, search_json
from kettrack.run.corrections import KINDS, has_terms
from kettrack.run.runner import Runner, RunReport
from kettrack.settings import Settings
from kettrack.sources.eutils import EutilsClient
from kettrack.standin.eutils import PUBMED_SET_HEAD, PUBMED_SET_TAIL, EutilsStandin
from kettrack.standin.snapshot import Snapshot, default_snapshot_dir, split_records
from kettrack.tools.check import check
from kettrack.tools.search import search
from kettrack.tools.show import lookup

DAS = "31772157"
QUERY = SavedQuery("ketamine-alcohol", "ketamine[tiab] AND (alcohol[tiab] OR drinking[tiab])")
AS_OF = date(2026, 6, 1)

_PT = '<PublicationType UI="D016441">Retracted Publication</PublicationType>'
_LINK = ('<CommentsCorrections RefType="RetractionIn"><RefSource>Nat Commun. 2026;17:1 '
         '(hand-made test notice)</RefSource><PMID Version="1">39999999</PMID>'
         '</CommentsCorrections>')


def snapshot_records() -> dict[str, bytes]:
    raw = (default_snapshot_dir() / "pubmed" / "snapshot.xml").read_bytes()
    return dict(split_records(raw))


def retract(record: bytes, *, publication_type: bool = True) -> bytes:
    """Das 2019 as it would look once retracted (hand-made, see the module docstring)."""
    text = record.decode()
    if publication_type:
        text = text.replace("</PublicationTypeList>", _PT + "</PublicationTypeList>", 1)
    text = text.replace("<CommentsCorrectionsList>", "<CommentsCorrectionsList>" + _LINK, 1)
    return text.encode()


def standin_for(records: dict[str, bytes]) -> EutilsStandin:
    xml = PUBMED_SET_HEAD + b"\n".join(records.values()) + PUBMED_SET_TAIL
    return EutilsStandin(Snapshot.from_bytes(xml), as_of=AS_OF)


def run(library: Library, standin: EutilsStandin) -> RunReport:
    settings = Settings.from_env()
    with EutilsClient(settings, transport=httpx.MockTransport(standin)) as client:
        return Runner(library, client, settings, offline=False, today=AS_OF).run([QUERY])


@pytest.fixture
def library(kettrack_env: Path) -> Library:
    return Library.open(kettrack_env / "library.db")


def test_a_run_checks_the_library_in_four_requests(library: Library) -> None:
    backfill = run(library, standin_for(snapshot_records()))
    assert backfill.new_total > 10
    # a backfill fetched every record just now, flags and all: nothing to check
    assert backfill.corrections_requests == 0 and backfill.corrections["checked"] == 0
    standin = standin_for(snapshot_records())
    report = run(library, standin)
    held = library.pmids()
    assert held and all(int(p) < 9_900_000_000 for p in held)  # reserved PMIDs not posted
    refetched = {i for r in standin.requests if r.endpoint == "efetch"
                 for i in r.params["id"].split(",")}
    assert report.corrections["checked"] == len(held) - len(refetched) > 10
    assert report.corrections_requests == 4  # one epost, one esearch per kind
    assert standin.count("epost") == 1
    posted = next(r for r in standin.requests if r.endpoint == "epost")
    # what this run re-fetched (not yet indexed) is not asked about again
    assert sorted(posted.params["id"].split(",")) == sorted(set(held) - refetched)
    terms = [r.params["term"] for r in standin.requests if r.endpoint == "esearch"][1:]
    assert sorted(terms) == sorted(f"#1 AND ({t})" for _, t in KINDS.values())
    assert all(r.params.get("WebEnv") for r in standin.requests[-3:])
    # NCBI drops terms it cannot find; "#1" alone must not read as "everything retracted"
    assert report.corrections["refetched"] == [] and report.corrections["found"] == {}
    assert run_json(report)["corrections_requests"] == 4


def test_a_newly_retracted_paper_becomes_an_event_and_a_flag(library: Library) -> None:
    records = snapshot_records()
    run(library, standin_for(records))
    assert library.article(DAS) is not None and not library.article(DAS).retracted  # type: ignore[union-attr]

    records[DAS] = retract(records[DAS])
    standin = standin_for(records)
    report = run(library, standin)
    assert report.corrections["found"] == {"retracted": [DAS]}
    assert report.corrections["refetched"] == [DAS]
    assert report.corrections["events"] == [{"pmid": DAS, "kind": "retracted"}]
    assert report.corrections_requests == 5  # epost, 3 esearch, 1 efetch of the changed record
    assert report.updated_total == 1 and report.events >= 1
    kinds = [r[0] for r in library.db.execute(
        "SELECT kind FROM events WHERE pmid = ? ORDER BY id", (DAS,))]
    assert "retracted" in kinds

    # the flag travels to search, check and show
    hits = search_json(search(library, "rewriting drinking memories"))
    assert next(h for h in hits if h["pmid"] == DAS)["retracted"] is True
    evidence = check(library, "ketamine rewrites drinking memories", limit=20).evidence
    das = next(e for e in evidence if e.item.id == DAS)
    assert "retracted" in das.item.flags and "Retraction in: Nat Commun. 2026;17:1" in (
        evidence_json(das)["citation"])
    record = item_json(lookup(library, DAS))  # type: ignore[arg-type]
    assert record["retracted"] and "retracted" in record["flags"]
    assert [e["kind"] for e in record["events"]][0] == "retracted"

    # the next run finds it again, but it is already flagged: nothing re-fetched
    again = run(library, standin)
    assert again.corrections["refetched"] == [] and again.corrections_requests == 4


def test_a_held_retraction_notice_refetches_its_target(library: Library) -> None:
    records = snapshot_records()
    run(library, standin_for(records))
    # NCBI's record gains only the RetractionIn link (no publication type the
    # stand-in could search); the library holds the notice, which names Das 2019.
    records[DAS] = retract(records[DAS], publication_type=False)
    notice = library.article(DAS)
    assert notice is not None
    notice.pmid = "39999999"
    notice.title = "Retraction notice (hand-made for this test)"
    notice.corrections = [Correction("RetractionOf", DAS, "Nat Commun. 2019;10:5187")]
    library.store_batch([(notice, None)], {}, library.start_run(offline=True))
    report = run(library, standin_for(records))
    assert report.corrections["found"] == {}
    assert report.corrections["refetched"] == [DAS]
    assert library.article(DAS).retracted  # type: ignore[union-attr]


def test_has_terms() -> None:
    assert not has_terms("#1")
    assert not has_terms("#12 AND ()")
    assert has_terms('#1 AND ("retracted publication"[Publication Type])')


def test_offline_replay_sees_a_real_erratum_arrive(library: Library) -> None:
    """Das 2019 (entered 2019-11-15) and its real author correction (PMID 9900000013,
    entered 2020-06-11), from the bundled snapshot: before the notice the stand-in
    serves Das 2019 without its ErratumIn link; the first run after it, the
    library-wide ``haserratumin`` search finds Das 2019 and the re-fetch makes an
    ``erratum`` event. The query does not find the notice itself, so only the
    search can tell."""
    snapshot = Snapshot.load_default()
    query = SavedQuery("memory", "ketamine[tiab] AND reconsolidation[tiab]")
    settings = Settings.from_env().with_(rate_limit=1000)

    def replay(day: date) -> RunReport:
        standin = EutilsStandin(snapshot, as_of=day)
        with EutilsClient(settings, transport=httpx.MockTransport(standin)) as client:
            return Runner(library, client, settings, offline=True, today=day).run([query])

    first = replay(date(2020, 1, 1))
    das = library.article(DAS)
    assert das is not None and not das.has_erratum and das.corrections == []
    assert first.corrections["found"] == {} and first.corrections["events"] == []

    quiet = replay(date(2020, 6, 10))  # the day before the notice: nothing yet
    assert quiet.corrections["events"] == []

    report = replay(date(2020, 6, 11))
    assert report.corrections["found"] == {"erratum": [DAS]}
    assert report.corrections["refetched"] == [DAS]
    assert report.corrections["events"] == [{"pmid": DAS, "kind": "erratum"}]
    das = library.article(DAS)
    assert das is not None and das.has_erratum
    assert library.article("9900000013") is None  # the notice is not in the library
    events = library.db.execute(
        "SELECT kind, detail, run_id FROM events WHERE pmid = ? AND kind = 'erratum'",
        (DAS,)).fetchall()
    assert len(events) == 1 and "9900000013" in events[0][1]
    assert events[0][2] == report.run_id

    later = replay(date(2020, 7, 1))  # already flagged: no news, nothing re-fetched
    assert later.corrections["found"] == {} and later.corrections["refetched"] == []
