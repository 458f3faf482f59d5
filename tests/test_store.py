"""The library: migrations, dedupe, revisions as events, transactions, the writer lock."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest

from kettrack.errors import ConfigError, LibraryBusy
from kettrack.library import design
from kettrack.library.article import Article, Correction, PublicationType
from kettrack.library.store import Library
from kettrack.queries import SavedQuery
from kettrack.sources import pubmed

from .conftest import fixture_bytes


def real_records(name: str) -> list[tuple[Article, bytes | None, str]]:
    data = fixture_bytes(name)
    raw = pubmed.split_records(data)
    out = []
    for item in pubmed.parse_efetch(data):
        assert isinstance(item, Article)
        design.classify(item)
        out.append((item, raw[item.pmid]))
    return out


def test_blank_database_gets_exact_schema(tmp_path: Path) -> None:
    library = Library.open(tmp_path / "k.db")
    assert library.schema_sql() == Library.memory().schema_sql()  # docs/schema.md shows it
    applied = [r[0] for r in library.db.execute(
        "SELECT name FROM _sqlite_migrations WHERE migration_set = 'kettrack' ORDER BY rowid")]
    assert applied[0] == "001_library"
    library.close()


def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    Library.open(tmp_path / "k.db").close()
    library = Library.open(tmp_path / "k.db")
    names = [r[0] for r in library.db.execute("SELECT name FROM _sqlite_migrations")]
    assert len(names) == len(set(names))


def test_not_a_library_is_a_config_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(ConfigError, match="not a kettrack library"):
        Library.open(bogus)
    assert bogus.read_text().startswith("these are my notes")
    with pytest.raises(ConfigError, match="is a folder"):
        Library.open(tmp_path)


def test_store_new_then_unchanged_then_revised() -> None:
    library = Library.memory()
    run = library.start_run(offline=True)
    qv, is_new = library.query_version_id(SavedQuery("q", "ketamine"), run)
    assert is_new
    records = real_records("pubmed-29768149.xml")
    pmid = records[0][0].pmid
    first = library.store_batch(records, {pmid: [qv]}, run)
    assert first.new == [pmid] and not first.events
    again = library.store_batch(records, {pmid: [qv]}, run)
    assert again.unchanged == [pmid] and not again.new

    article, raw = records[0]
    article.corrections.append(Correction("RetractionIn", "99999999"))
    article.publication_types.append(PublicationType("Retracted Publication", "D016441"))
    revised = library.store_batch([(article, raw)], {}, run)
    assert revised.updated == [pmid]
    kinds = [k for _, k, _ in revised.events]
    assert "retracted" in kinds and "publication_types_changed" in kinds
    assert library.db.execute("SELECT count(*) FROM articles").fetchone()[0] == 1
    assert library.db.execute("SELECT retracted FROM articles").fetchone()[0] == 1
    stored = library.db.execute("SELECT kind, detail FROM events ORDER BY id").fetchall()
    assert ("retracted", json.dumps({"by": ["99999999"]})) in stored
    assert library.article(pmid).retracted  # type: ignore[union-attr]
    assert library.raw_xml(pmid) == raw


def test_a_new_judgement_of_an_unchanged_record_is_no_revision() -> None:
    library = Library.memory()
    run = library.start_run(offline=True)
    records = real_records("pubmed-29768149.xml")
    article, raw = records[0]
    library.store_batch(records, {}, run)
    article.design = "other" if article.design != "other" else "review"
    again = library.store_batch([(article, raw)], {}, run)
    assert again.unchanged == [article.pmid] and not again.events and not again.updated
    assert library.article(article.pmid).design == article.design  # type: ignore[union-attr]


def test_one_row_per_work_with_many_memberships() -> None:
    library = Library.memory()
    run = library.start_run(offline=True)
    a, _ = library.query_version_id(SavedQuery("a", "ketamine"), run)
    b, _ = library.query_version_id(SavedQuery("b", "esketamine"), run)
    records = real_records("pubmed1.xml")
    found = {r[0].pmid: [a, b] for r in records}
    library.store_batch(records, found, run)
    library.store_batch(records, found, run)
    assert library.db.execute("SELECT count(*) FROM articles").fetchone()[0] == len(records)
    assert library.db.execute("SELECT count(*) FROM memberships").fetchone()[0] == 2 * len(records)
    pmid = records[0][0].pmid
    assert library.article_items([pmid])[0].queries == ["a", "b"]


def test_trial_ids_are_linked() -> None:
    library = Library.memory()
    run = library.start_run(offline=True)
    library.store_batch(real_records("pubmed-29768149.xml"), {}, run)
    assert library.db.execute("SELECT pmid, trial_id FROM article_trial_ids").fetchall() == [
        ("29768149", "NCT02149199")]


def test_failed_batch_leaves_library_as_it_was() -> None:
    library = Library.memory()
    run = library.start_run(offline=True)
    good = real_records("pubmed1.xml")
    broken = real_records("pubmed-29768149.xml")
    broken[0][0].title = None  # type: ignore[assignment]  # violates NOT NULL
    with pytest.raises(Exception, match="NOT NULL"):
        library.store_batch(good + broken, {}, run)
    assert library.db.execute("SELECT count(*) FROM articles").fetchone()[0] == 0
    assert library.db.execute("SELECT count(*) FROM articles_fts").fetchone()[0] == 0


def test_deleted_pmids_are_recorded_once_with_event() -> None:
    library = Library.memory()
    run = library.start_run(offline=True)
    records = real_records("pubmed1.xml")
    library.store_batch(records, {}, run)
    held = records[0][0].pmid
    assert library.record_deleted([held, "26432306"], run, "DeleteCitation") == [held, "26432306"]
    assert library.record_deleted([held], run, "DeleteCitation") == []
    assert library.known_pmids(["26432306", "1"]) == {"26432306"}
    kinds = [r[0] for r in library.db.execute("SELECT kind FROM events")]
    assert kinds == ["deleted"]


def test_refetch_selects_recent_unindexed_records() -> None:
    library = Library.memory()
    run = library.start_run(offline=True)
    records = real_records("pubmed1.xml") + real_records("38833988.xml")
    library.store_batch(records, {}, run)
    statuses = dict(library.db.execute("SELECT pmid, citation_status FROM articles").fetchall())
    unindexed = sorted(p for p, s in statuses.items() if s != "MEDLINE")
    assert unindexed  # 38833988 is PubMed-not-MEDLINE
    from datetime import date
    assert library.pmids_to_refetch(max_age_days=100000, today=date(2026, 1, 1)) == unindexed
    assert library.pmids_to_refetch(max_age_days=1, today=date(2026, 1, 1)) == []


def _hold_lock(path: str, ready: multiprocessing.synchronize.Event, seconds: float) -> None:
    library = Library.open(path)
    with library.writer_lock():
        ready.set()
        time.sleep(seconds)


def test_second_writer_waits_then_gives_up(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    Library.open(path).close()
    ready = multiprocessing.get_context("fork").Event()
    holder = multiprocessing.get_context("fork").Process(
        target=_hold_lock, args=(str(path), ready, 1.5))
    holder.start()
    try:
        assert ready.wait(10)
        library = Library.open(path, lock_timeout=0.3)  # readers never wait for a writer
        assert library.stats()["articles"] == 0
        with pytest.raises(LibraryBusy, match="another kettrack is writing to this library"), \
                library.writer_lock():
            pass
        library.close()
    finally:
        holder.join()
    Library.open(path, lock_timeout=0.3).close()  # free again once the holder is done
