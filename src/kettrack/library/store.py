"""Where dedupe is decided: the SQLite library (sqlite-utils).

One row per work in ``articles``, keyed by PMID; DOI and PMCID are indexed so
records from other sources (and user input) link to it. The same work found by
several saved queries is one row with several ``memberships``. A record NCBI
revises is updated in place, and what changed becomes ``events`` rows.

Writes that belong together are one transaction (:meth:`Library.transaction`),
so a run killed at any point leaves every finished step and nothing half
written. Only one writer at a time: :meth:`Library.writer_lock` waits a short,
configurable time for another kettrack and then raises
:class:`~kettrack.errors.LibraryBusy`.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from kettrack.errors import ConfigError, LibraryBusy
from kettrack.library.article import RESERVED_PMID_START, Article
from kettrack.library.migrations import migrations
from kettrack.queries import SavedQuery
from kettrack.sources.pubmed import canonical_json, hash_json


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class StoredBatch:
    """What one batch of records changed in the library: PMIDs for an efetch
    batch, NCT numbers for a registry query's studies (``kettrack.library.trial``)."""

    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


def compare(old: Article, new: Article) -> list[tuple[str, dict[str, Any]]]:
    """The events a revision of a record amounts to (empty when nothing that matters changed)."""
    events: list[tuple[str, dict[str, Any]]] = []
    if new.retracted and not old.retracted:
        events.append(("retracted", {"by": [c.pmid for c in new.corrections
                                            if c.ref_type == "RetractionIn"]}))
    if new.has_erratum and not old.has_erratum:
        events.append(("erratum", {"by": [c.pmid for c in new.corrections
                                          if c.ref_type == "ErratumIn"]}))
    if new.has_concern and not old.has_concern:
        events.append(("concern", {"by": [c.pmid for c in new.corrections
                                          if c.ref_type == "ExpressionOfConcernIn"]}))
    if new.design != old.design:
        events.append(("design_changed", {"from": old.design, "to": new.design}))
    if new.citation_status != old.citation_status:
        events.append(("status_changed", {"from": old.citation_status,
                                          "to": new.citation_status}))
    old_pt = [p.name for p in old.publication_types]
    new_pt = [p.name for p in new.publication_types]
    if old_pt != new_pt:
        events.append(("publication_types_changed", {
            "added": [p for p in new_pt if p not in old_pt],
            "removed": [p for p in old_pt if p not in new_pt],
        }))
    if not events:
        events.append(("revised", {}))
    return events


class Library:
    """The local library: a SQLite file with kettrack's schema."""

    def __init__(self, db: Database, path: Path | None = None,
                 lock_timeout: float = 10.0) -> None:
        self.db = db
        self.path = path
        self.lock_timeout = lock_timeout

    @classmethod
    def open(cls, path: Path | str, *, lock_timeout: float = 10.0) -> Library:
        """Open (creating if needed) and migrate the library at ``path``."""
        path = Path(path)
        if path.exists() and path.is_dir():
            raise ConfigError(f"{path}: is a folder, not a library file (KETTRACK_DB)")
        if path.parent and not path.parent.exists():
            raise ConfigError(f"{path}: folder {path.parent} does not exist (KETTRACK_DB)")
        try:
            conn = sqlite3.connect(str(path), timeout=max(lock_timeout, 1.0),
                                   isolation_level=None)
            db = Database(conn)
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{path}: not a kettrack library ({exc})") from None
        library = cls(db, path, lock_timeout)
        with library.writer_lock():
            try:
                migrations.apply(db)
            except sqlite3.DatabaseError as exc:
                raise ConfigError(f"{path}: not a kettrack library ({exc})") from None
        return library

    @classmethod
    def memory(cls) -> Library:
        """A migrated in-memory library (tests and benchmarks)."""
        db = Database(memory=True)
        db.execute("PRAGMA foreign_keys = ON")
        migrations.apply(db)
        return cls(db)

    def close(self) -> None:
        self.db.close()

    def schema_sql(self) -> str:
        """The schema as SQL, one statement per object, in a stable order."""
        rows = self.db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
            "AND name NOT LIKE 'sqlite_%' ORDER BY type, name"
        ).fetchall()
        return "".join(f"-- {kind} {name}\n{sql.strip()};\n\n" for kind, name, sql in rows)

    # -- locking and transactions ----------------------------------------------

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Hold the library's writer lock (a file lock beside the database)."""
        if self.path is None:
            yield
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LibraryBusy(
                            f"{self.path}: another kettrack is using this library; "
                            f"gave up after {self.lock_timeout:g}s (KETTRACK_LOCK_TIMEOUT)"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One all-or-nothing write."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    # -- runs and query versions -------------------------------------------

    def start_run(self, *, offline: bool) -> int:
        with self.transaction() as conn:
            cur = conn.execute("INSERT INTO runs (started_at, offline) VALUES (?, ?)",
                               (utcnow(), int(offline)))
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, *, status: str, requests: int, new: int, updated: int,
                   error: str | None = None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, requests = ?, new = ?, updated = ?, "
                "error = ? WHERE id = ?",
                (utcnow(), status, requests, new, updated, error, run_id),
            )

    def query_version_id(self, query: SavedQuery, run_id: int) -> tuple[int, bool]:
        """The id of this query's current version, and whether it is new (to backfill)."""
        row = self.db.execute(
            "SELECT id FROM query_versions WHERE name = ? AND version = ?",
            (query.name, query.version),
        ).fetchone()
        if row:
            return int(row[0]), False
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO query_versions (name, version, source, term, description, "
                "created_run) VALUES (?, ?, ?, ?, ?, ?)",
                (query.name, query.version, query.source, query.term, query.description, run_id),
            )
            return int(cur.lastrowid or 0), True

    def record_query(self, run_id: int, qv_id: int, *, count: int, hits: Sequence[str],
                     new: int, updated: int) -> None:
        """One query's step, in one transaction: memberships for every hit already
        stored, and its per-run summary."""
        with self.transaction() as conn:
            self._add_memberships(conn, qv_id, hits, run_id)
            conn.execute("UPDATE query_versions SET last_run = ?, last_count = ? WHERE id = ?",
                         (run_id, count, qv_id))
            conn.execute(
                "INSERT OR REPLACE INTO run_queries (run_id, query_version_id, count, new, "
                "updated) VALUES (?, ?, ?, ?, ?)", (run_id, qv_id, count, new, updated),
            )

    @staticmethod
    def _add_memberships(conn: sqlite3.Connection, qv_id: int, pmids: Iterable[str],
                         run_id: int) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO memberships (pmid, query_version_id, run_id) "
            "SELECT pmid, ?, ? FROM articles WHERE pmid = ?",
            [(qv_id, run_id, p) for p in pmids],
        )

    # -- articles ------------------------------------------------------------

    def known_pmids(self, pmids: Iterable[str]) -> set[str]:
        """Which of ``pmids`` the library holds (or has recorded as deleted)."""
        pmids = list(pmids)
        found: set[str] = set()
        for i in range(0, len(pmids), 500):
            chunk = pmids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for table in ("articles", "deleted_pmids"):
                found.update(r[0] for r in self.db.execute(
                    f"SELECT pmid FROM {table} WHERE pmid IN ({marks})", chunk))
        return found

    def pmids_to_refetch(self, *, max_age_days: int, today: date | None = None,
                         include_reserved: bool = False) -> list[str]:
        """Records NLM has not finished indexing that entered PubMed recently.

        Snapshot-only PMIDs (``article.RESERVED_PMID_START`` and up) exist only
        offline; NCBI would never return them, so they are left out unless
        ``include_reserved``.
        """
        cutoff = ((today or date.today()) - timedelta(days=max_age_days)).isoformat()
        limit = "" if include_reserved else f"AND CAST(pmid AS INTEGER) < {RESERVED_PMID_START}"
        return [r[0] for r in self.db.execute(
            "SELECT pmid FROM articles WHERE (citation_status IS NULL OR citation_status "
            f"!= 'MEDLINE') AND entrez_date >= ? {limit} ORDER BY pmid", (cutoff,))]

    def store_batch(self, records: Sequence[tuple[Article, bytes | None, str | None]],
                    found_by: dict[str, list[int]], run_id: int) -> StoredBatch:
        """Insert new articles and update revised ones, in one transaction.

        ``records`` are (article, raw XML, record hash); a hash of None is
        computed here from the same canonical JSON that is stored (see
        :func:`kettrack.sources.pubmed.record_hash`). ``found_by`` maps a PMID to the
        query versions whose search returned it in this run.
        """
        result = StoredBatch()
        now = utcnow()
        pmids = [a.pmid for a, _, _ in records]
        old: dict[str, tuple[str, str]] = {}
        for i in range(0, len(pmids), 500):
            chunk = pmids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for pmid, digest, data in self.db.execute(
                f"SELECT pmid, record_hash, data FROM articles WHERE pmid IN ({marks})", chunk
            ):
                old[pmid] = (digest, data)
        with self.transaction() as conn:
            for article, raw, given in records:
                data = canonical_json(article)
                digest = given or hash_json(data)
                row = _row(article, raw, data, digest, now)
                previous = old.get(article.pmid)
                if previous is None:
                    row.update(first_seen_run=run_id, first_seen_at=now)
                    cols = ", ".join(row)
                    conn.execute(f"INSERT INTO articles ({cols}) VALUES "
                                 f"({', '.join('?' * len(row))})", list(row.values()))
                    result.new.append(article.pmid)
                elif previous[0] != digest:
                    row.update(updated_run=run_id, updated_at=now)
                    sets = ", ".join(f"{c} = ?" for c in row)
                    conn.execute(f"UPDATE articles SET {sets} WHERE pmid = ?",
                                 [*row.values(), article.pmid])
                    before = Article.from_json(json.loads(previous[1]))
                    for kind, detail in compare(before, article):
                        result.events.append((article.pmid, kind, detail))
                    result.updated.append(article.pmid)
                else:
                    conn.execute("UPDATE articles SET fetched_at = ? WHERE pmid = ?",
                                 (now, article.pmid))
                    result.unchanged.append(article.pmid)
                    continue
                conn.execute("DELETE FROM article_trial_ids WHERE pmid = ?", (article.pmid,))
                conn.executemany(
                    "INSERT OR IGNORE INTO article_trial_ids (pmid, trial_id) VALUES (?, ?)",
                    [(article.pmid, t) for t in [*article.nct_ids, *article.other_trial_ids]],
                )
            for pmid in pmids:
                for qv_id in found_by.get(pmid, ()):
                    self._add_memberships(conn, qv_id, [pmid], run_id)
            conn.executemany(
                "INSERT INTO events (pmid, run_id, kind, detail, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(p, run_id, k, json.dumps(d), now) for p, k, d in result.events],
            )
        return result

    def record_deleted(self, pmids: Iterable[str], run_id: int, reason: str) -> list[str]:
        """Note PMIDs NCBI no longer serves; an article we hold gets a 'deleted' event."""
        now = utcnow()
        noted = []
        with self.transaction() as conn:
            for pmid in pmids:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO deleted_pmids (pmid, run_id, noted_at, reason) "
                    "VALUES (?, ?, ?, ?)", (pmid, run_id, now, reason))
                if cur.rowcount:
                    noted.append(pmid)
                    held = conn.execute("SELECT 1 FROM articles WHERE pmid = ?", (pmid,)).fetchone()
                    if held:
                        conn.execute(
                            "INSERT INTO events (pmid, run_id, kind, detail, created_at) "
                            "VALUES (?, ?, 'deleted', ?, ?)",
                            (pmid, run_id, json.dumps({"reason": reason}), now))
        return noted

    def article(self, pmid: str) -> Article | None:
        row = self.db.execute("SELECT data FROM articles WHERE pmid = ?", (pmid,)).fetchone()
        return Article.from_json(json.loads(row[0])) if row else None

    def raw_xml(self, pmid: str) -> bytes | None:
        row = self.db.execute("SELECT raw_xml FROM articles WHERE pmid = ?", (pmid,)).fetchone()
        return zlib.decompress(row[0]) if row and row[0] else None

    def query_names(self, pmids: Sequence[str]) -> dict[str, list[str]]:
        """PMID -> the saved query names that found it."""
        out: dict[str, list[str]] = {p: [] for p in pmids}
        for i in range(0, len(pmids), 500):
            chunk = list(pmids[i:i + 500])
            marks = ",".join("?" * len(chunk))
            for pmid, name in self.db.execute(
                "SELECT DISTINCT m.pmid, q.name FROM memberships m JOIN query_versions q "
                f"ON q.id = m.query_version_id WHERE m.pmid IN ({marks}) ORDER BY q.name", chunk
            ):
                out[pmid].append(name)
        return out

    def article_json(self, pmid: str) -> dict[str, Any] | None:
        """An article in DESIGN.md's JSON form, with the queries that found it."""
        article = self.article(pmid)
        if article is None:
            return None
        data = article.to_json()
        data["queries"] = self.query_names([pmid])[pmid]
        return data

    def stats(self) -> dict[str, Any]:
        """Counts for ``kettrack stats``."""
        one = self.db.execute
        designs = dict(one("SELECT design, count(*) FROM articles GROUP BY design "
                           "ORDER BY count(*) DESC").fetchall())
        per_query = [
            {"name": name, "articles": n}
            for name, n in one(
                "SELECT q.name, count(DISTINCT m.pmid) FROM memberships m JOIN query_versions q "
                "ON q.id = m.query_version_id GROUP BY q.name ORDER BY q.name")
        ]
        last = one("SELECT id, started_at, finished_at, status, new, updated FROM runs "
                   "ORDER BY id DESC LIMIT 1").fetchone()
        return {
            "articles": one("SELECT count(*) FROM articles").fetchone()[0],
            "retracted": one("SELECT count(*) FROM articles WHERE retracted").fetchone()[0],
            "designs": designs,
            "queries": per_query,
            "events": one("SELECT count(*) FROM events").fetchone()[0],
            "trials": one("SELECT count(*) FROM trials").fetchone()[0],
            "deleted": one("SELECT count(*) FROM deleted_pmids").fetchone()[0],
            "runs": one("SELECT count(*) FROM runs").fetchone()[0],
            "last_run": dict(zip(("id", "started_at", "finished_at", "status", "new", "updated"),
                                 last, strict=True)) if last else None,
        }


def _row(article: Article, raw: bytes | None, data: str, digest: str, now: str
         ) -> dict[str, Any]:
    return {
        "pmid": article.pmid,
        "doi": article.doi,
        "pmcid": article.pmcid,
        "pii": article.pii,
        "title": article.title,
        "abstract": article.abstract,
        "journal": article.journal,
        "journal_iso": article.journal_iso,
        "volume": article.volume,
        "issue": article.issue,
        "pages": article.pages,
        "pub_date": article.pub_date,
        "year": article.year,
        "entrez_date": article.entrez_date,
        "citation_status": article.citation_status,
        "publication_status": article.publication_status,
        "is_book": int(article.is_book),
        "design": article.design,
        "species": article.species,
        "sample_size": article.sample_size,
        "retracted": int(article.retracted),
        "has_erratum": int(article.has_erratum),
        "has_concern": int(article.has_concern),
        "mesh_text": "; ".join(m.descriptor for m in article.mesh),
        "keywords_text": "; ".join(article.keywords),
        "data": data,
        "record_hash": digest,
        "raw_xml": zlib.compress(raw, 1) if raw else None,  # speed over the last few %
        "fetched_at": now,
    }
