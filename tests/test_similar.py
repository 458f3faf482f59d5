"""``kettrack similar ID``: PubMed's similar articles not in the library, offline
against the snapshot's stand-in, and online with a real scored ELink answer."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from kettrack.library.store import Library
from kettrack.settings import Settings
from kettrack.sources.eutils import EutilsClient
from kettrack.tools.watch import Resolved, similar

from .conftest import fixture_bytes, scripted
from .writer_library import copy_offline_library, invoke

DAS = "31772157"


def test_offline_suggestions_leave_out_the_library_and_add_stores_them(
        kettrack_env: Path) -> None:
    copy_offline_library(kettrack_env / "library.db")
    with Library.open(kettrack_env / "library.db") as library:
        held_before = len(library.pmids(include_reserved=True))
    listed = invoke("similar", DAS, "--offline", "--limit", "3", "--json")
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    ids = [s["id"] for s in data["similar"]]
    scores = [s["score"] for s in data["similar"]]
    assert len(ids) == 3 and scores == sorted(scores, reverse=True) and data["added"] == []
    with Library.open(kettrack_env / "library.db") as library:
        assert library.known_pmids(ids) == set()
        assert data["held"] > 0 and DAS not in ids
    added = invoke("similar", DAS, "--offline", "--limit", "3", "--add")
    assert added.exit_code == 0, added.output
    assert f"added 3 to the library (membership similar:{DAS})" in added.stdout
    with Library.open(kettrack_env / "library.db") as library:
        assert len(library.pmids(include_reserved=True)) == held_before + 3
        assert all(library.query_names([p])[p] == [f"similar:{DAS}"] for p in ids)
    again = json.loads(invoke("similar", DAS, "--offline", "--limit", "3", "--json").stdout)
    assert not set(ids) & {s["id"] for s in again["similar"]}  # now held: not suggested


def test_real_scored_answer_online() -> None:
    # bp2008_elink1.xml: NCBI's scored neighbours of PMID 9298984; efetch answers with a
    # real record set that holds none of them (so every suggestion lacks a title)
    transport, seen = scripted(
        httpx.Response(200, content=fixture_bytes("bp2008_elink1.xml")),
        httpx.Response(200, content=fixture_bytes("37909814.xml")))
    with EutilsClient(Settings(rate_limit=1000, backoff_base=0), transport=transport) as client:
        answer = similar(Library.memory(), client, Resolved("9298984", "9298984", None), limit=4)
    assert [(s.pmid, s.score) for s in answer.suggestions] == [
        ("8794856", 65259341), ("9700164", 60347327), ("7914521", 54343405),
        ("1339459", 53014422)]
    assert all(s.article is None for s in answer.suggestions)
    assert [r.url.path.rsplit("/", 1)[-1] for r in seen] == ["elink.fcgi", "efetch.fcgi"]
