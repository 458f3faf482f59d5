"""docs/json.md cannot drift from what kettrack prints.

Every shape declared in :data:`kettrack.render.json.SHAPES` is printed here by
the real command from a real offline library, and each object must carry exactly
the declared keys, in the declared order; docs/json.md must be what cog makes of
the declarations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kettrack.library.article import Correction
from kettrack.library.store import Library
from kettrack.render.json import SHAPES

from .conftest import ROOT
from .writer_library import copy_offline_library, invoke

CLAIM = "ketamine reduces relapse in alcohol use disorder"


@pytest.fixture
def library_db(kettrack_env: Path) -> Path:
    return copy_offline_library(kettrack_env / "library.db")


def printed(*args: str) -> Any:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_shape(obj: dict[str, Any], shape: str) -> None:
    declared = SHAPES[shape]
    expected = declared.keys_for(obj["item_type"] if declared.extends else None)
    assert list(obj) == expected, f"{shape}: printed keys differ from docs/json.md"


def assert_item(obj: dict[str, Any]) -> None:
    assert_shape(obj, obj["item_type"])
    for event in obj["events"]:
        assert_shape(event, "event")


def test_every_printed_shape_has_exactly_its_documented_keys(library_db: Path) -> None:
    seen: set[str] = set()

    def check(obj: dict[str, Any], shape: str) -> None:
        assert_shape(obj, shape)
        seen.add(shape)

    hits = printed("search", "ketamine relapse prevention", "--json", "--limit", "40")
    assert {h["item_type"] for h in hits} == {"article", "trial"}
    for hit in hits:
        check(hit, "search_hit")

    evidence = printed("check", CLAIM, "--json")
    assert evidence
    for hit in evidence:
        check(hit, "check_hit")

    digest = printed("digest", "--format", "json", "--peek")
    check(digest, "digest")
    entries = [e for section in digest["sections"].values() for e in section]
    assert {e["item_type"] for e in entries} == {"article", "trial"}
    for entry in entries:
        check(entry, "digest_entry")
        for event in entry["news"]:
            check(event, "event")

    from kettrack.library.store import Library

    # A history to print: one stored record gains an erratum notice (hand-made here; one
    # offline run records no events), stored through the normal path.
    library = Library.open(library_db)
    with_history = next(h["id"] for h in hits if h["item_type"] == "article")
    article = library.article(with_history)
    assert article is not None
    article.corrections.append(Correction("ErratumIn", "39999998", "Hand-made erratum. 2026"))
    library.store_batch([(article, None)], {}, library.start_run(offline=True))
    library.close()
    trial_id = next(h["id"] for h in hits if h["item_type"] == "trial")
    for ident in (with_history, trial_id):
        item = printed("show", ident, "--json")
        assert_item(item)
        seen.add(item["item_type"])
        seen.update("event" for _ in item["events"][:1])
        check(printed("show", ident, "--cite", "apa", "--json"), "citation")

    exported = printed("export", "--format", "json")
    assert exported
    for item in exported:
        assert_item(item)

    watched = "31772157"  # Das 2019, in the offline library under its real PMID
    printed("watch", "add", watched, "--name", "key-paper", "--offline", "--json")
    run = printed("run", "--offline", "--json")
    check(run, "run")
    for query in run["queries"]:
        check(query, "run_query")
    for query in printed("queries", "list", "--json"):
        check(query, "query")
    for query in printed("queries", "check", "--offline", "--json"):
        check(query, "query_check")
    check(printed("stats", "--json"), "stats")
    for watch in printed("watch", "list", "--json"):
        check(watch, "watch")
    check(printed("similar", watched, "--offline", "--json"), "similar")

    # The one shape this library cannot print: papers naming a trial it has no record of.
    assert seen == set(SHAPES) - {"publications_of"}


def test_papers_naming_an_unregistered_trial(library_db: Path) -> None:
    library = Library.open(library_db)
    nct, pmid = library.db.execute(
        "SELECT trial_id, pmid FROM article_trial_ids WHERE trial_id LIKE 'NCT%' AND "
        "trial_id NOT IN "
        "(SELECT nct_id FROM trials) LIMIT 1").fetchone()
    library.close()
    found = printed("show", nct, "--json")
    assert_shape(found, "publications_of")
    assert pmid in [p["id"] for p in found["publications"]]
    for paper in found["publications"]:
        assert_item(paper)


def test_every_shape_has_its_section_in_the_reference() -> None:
    text = (ROOT / "docs" / "json.md").read_text()  # up to date: tests/test_docs.py
    for name in SHAPES:
        assert f"## `{name}`" in text
