"""Migrations you can trust: an old library upgrades with its rows, a newer one is
refused untouched, and docs/schema.md is the schema a new library gets (tests/test_docs.py)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from kettrack.digest.collect import collect
from kettrack.errors import ConfigError
from kettrack.library import migrations
from kettrack.library.article import Article
from kettrack.library.store import Library, article_row
from kettrack.run.runner import prepare
from kettrack.tools.search import search

from .conftest import fixture_bytes

FIRST_RELEASE = "001_library"
NOW = "2025-03-01T09:00:00+00:00"


def first_release_library(path: Path) -> tuple[str, bytes]:
    """A library as the first released kettrack left it: only migration 001, one
    run that stored a real PubMed record the way that version did (its public
    JSON as the stored record, keys since retired included, and a hash of it),
    a query membership and an event."""
    (article, raw), = prepare(fixture_bytes("38011560.xml"))[0]
    conn = sqlite3.connect(path, isolation_level=None)
    migrations.apply(conn, stop_before="002_digests")
    assert migrations.applied(conn) == [FIRST_RELEASE]
    old_data = {**article.to_record(), "url": f"https://pubmed.ncbi.nlm.nih.gov/{article.pmid}/",
                "queries": ["ketamine-aud"], "abstract": article.abstract}
    old_hash = hashlib.sha256(json.dumps(old_data, sort_keys=True).encode()).hexdigest()
    row = article_row(article, raw, old_hash, NOW)
    row.update(data=json.dumps(old_data), first_seen_run=1, first_seen_at=NOW)
    conn.execute("INSERT INTO runs (id, started_at, finished_at, status, offline, requests, "
                 "new, updated) VALUES (1, ?, ?, 'ok', 0, 3, 1, 0)", (NOW, NOW))
    conn.execute(f"INSERT INTO articles ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                 list(row.values()))
    conn.execute("INSERT INTO query_versions (id, name, version, source, term, created_run) "
                 "VALUES (1, 'ketamine-aud', 'v1', 'pubmed', 'ketamine AND alcohol', 1)")
    conn.execute("INSERT INTO memberships (pmid, query_version_id, run_id) VALUES (?, 1, 1)",
                 (article.pmid,))
    conn.execute("INSERT INTO events (pmid, run_id, kind, detail, created_at) "
                 "VALUES (?, 1, 'design_changed', ?, ?)",
                 (article.pmid, json.dumps({"from": "trial", "to": "rct"}), NOW))
    conn.close()
    return article.pmid, raw


def test_first_released_schema_upgrades_with_every_row(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    pmid, _ = first_release_library(db)
    library = Library.open(db)
    assert migrations.applied(library.db) == migrations.names()
    assert library.schema_sql() == Library.memory().schema_sql()
    assert library.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert library.db.execute("PRAGMA foreign_key_check").fetchall() == []

    stored = library.article(pmid)
    assert stored is not None and stored.title.startswith("Ketamine")
    assert [h.item.id for h in search(library, "ketamine")] == [pmid]  # FTS kept up
    digest = collect(library)
    assert [e.item.id for e in digest.entries()] == [pmid]
    item = next(iter(digest.entries())).item
    assert item.queries == ["ketamine-aud"] and [e.kind for e in item.events] == [
        "design_changed"]

    # Re-fetching the same record after the upgrade is not a revision: the old
    # hash scheme differs, what the source said does not.
    (article, fresh_raw), = prepare(fixture_bytes("38011560.xml"))[0]
    batch = library.store_batch([(article, fresh_raw)], {}, library.start_run(offline=False))
    assert batch.unchanged == [pmid] and not batch.updated and not batch.events
    library.close()


def test_a_library_from_a_newer_kettrack_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "newer.db"
    Library.open(db).close()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                 "VALUES ('kettrack', '099_from_the_future', '2030-01-01')")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(ConfigError, match="migration 099_from_the_future is unknown"):
        Library.open(db)
    assert db.read_bytes() == before


def test_a_foreign_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO notes (text) VALUES ('mine')")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(ConfigError, match="not a kettrack library"):
        Library.open(db)
    assert db.read_bytes() == before
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def test_work_titles_learn_which_works_are_preprints(tmp_path: Path) -> None:
    # a library from before 009: a journal article and a preprint share a title
    db = tmp_path / "old.db"
    (article, raw), = prepare(fixture_bytes("38011560.xml"))[0]
    library = Library.open(db)
    run = library.start_run(offline=True)
    preprint = Article.from_record({**article.to_record(), "pmid": "PPR1",
                                    "is_preprint": True})
    library.store_batch([(article, raw), (preprint, None)], {}, run)
    library.db.execute("UPDATE work_titles SET preprint = 0")  # as 008 left them
    library.db.execute("DELETE FROM _sqlite_migrations WHERE name = ?",
                       ("009_work_titles_preprint",))
    library.db.execute("DROP INDEX idx_work_titles_key")
    library.db.execute("ALTER TABLE work_titles DROP COLUMN preprint")
    library.db.execute("CREATE INDEX idx_work_titles_key ON work_titles(title_key)")
    library.close()
    upgraded = Library.open(db)
    flags = dict(upgraded.db.execute("SELECT pmid, preprint FROM work_titles").fetchall())
    assert flags == {article.pmid: 0, "PPR1": 1}
    assert upgraded.schema_sql() == Library.memory().schema_sql()
