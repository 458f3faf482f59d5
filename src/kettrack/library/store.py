"""Where dedupe is decided: the SQLite library, and the only code that writes its SQL.

One row per work: ``articles`` keyed by PMID (DOI and PMCID indexed, so
records from other sources and user input link to it), ``trials`` keyed by NCT
number. The same work found by several saved queries is one row with several
memberships. A record its source revises is updated in place, and what changed
becomes ``events`` rows. Readers get typed items
(:mod:`kettrack.library.items`), never rows.

Writes that belong together are one transaction (:meth:`Library.transaction`),
so a run killed at any point leaves every finished step and nothing half
written. Only one writer at a time: :meth:`Library.writer_lock` waits
``KETTRACK_LOCK_TIMEOUT`` seconds for another kettrack and then raises
:class:`~kettrack.errors.LibraryBusy`. Readers never wait for writers (the
database is in WAL mode), and a library the user cannot write (a read-only
mount, another user's file) still serves every read-only command.

The queries behind reading (items, links, search, digests, exports, stats)
are in :mod:`kettrack.library.reading`; :class:`Library` is both.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from kettrack.errors import ConfigError, Failure, LibraryBusy, NotInLibrary
from kettrack.library import migrations
from kettrack.library.article import Article
from kettrack.library.identifiers import RESERVED_PMID_START, pmid_label, valid_pmid
from kettrack.library.reading import Reading, chunks
from kettrack.library.trial import Trial
from kettrack.library.trial import compare as compare_trials
from kettrack.library.trial import normalise as normalise_trial
from kettrack.library.versions import (
    identifiers,
    linked_identifiers,
    newer_version,
    normalised_title,
    probable_match,
)
from kettrack.library.watches import MEMBERSHIP_PREFIX, WATCH_SOURCE, Watch
from kettrack.queries import SavedQuery
from kettrack.review.model import NewDecision

#: SQL: a row whose key is not a PMID (a superset of what :func:`valid_pmid`
#: refuses, so a query may leave out PMID-keyed rows before Python checks)
_NOT_PMID_KEY = ("NOT (pmid GLOB '[1-9]*' AND pmid NOT GLOB '*[^0-9]*' "
                 "AND length(pmid) <= 11)")
#: SQL: does the library hold any work keyed by something other than a PMID? Keys
#: are PMIDs (a digit 1-9 first) or Europe PMC's PPR and PMC ids (letters first:
#: :func:`kettrack.sources.europepmc.work_key`), so two ranges of the key's own
#: index answer it without a scan. (``work_ids`` points only at held keys.)
_ANY_OTHER_KEY = "SELECT 1 FROM articles WHERE pmid < '1' OR pmid >= ':' LIMIT 1"


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(slots=True)
class PreparedArticle:
    """An article with what storing it costs computed beforehand: its source
    hash, its row (``fetched_at`` is the store's) and its title key. Computed
    once, anywhere: a big backfill computes them in worker processes
    (:mod:`kettrack.run.parallel`) while the main process writes; it pickles."""

    article: Article
    digest: str
    row: dict[str, Any]
    title_key: str

    @classmethod
    def of(cls, article: Article, raw: bytes | None) -> PreparedArticle:
        digest = article.source_hash()
        return cls(article, digest, article_row(article, raw, digest, ""),
                   normalised_title(article.title or ""))  # no title: the INSERT refuses it


@dataclass
class StoredBatch:
    """What one batch of records changed in the library: PMIDs for an efetch
    batch, NCT numbers for a registry query's studies."""

    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    #: works whose key changed in this batch (a preprint's PPR id -> its PMID,
    #: or a row merged into another): old key -> new key
    renamed: dict[str, str] = field(default_factory=dict)
    #: Europe PMC batches: the work key of each record, in order
    keys: list[str] = field(default_factory=list)


def compare(old: Article, new: Article) -> list[tuple[str, dict[str, Any]]]:
    """The events a revision of a record amounts to (``revised`` when nothing
    a reader is told about changed)."""
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


def sqlite_failure(exc: sqlite3.Error, path: Path | str | None, doing: str) -> Exception:
    """The kettrack error an SQLite error amounts to, one line naming the file."""
    where = str(path or "the library")
    text = " ".join(str(exc).split())
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return LibraryBusy(f"{where}: another program holds the library's write lock "
                           f"(while {doing}; KETTRACK_LOCK_TIMEOUT)")
    if "full" in lowered:
        return Failure(f"{where}: the disk is full (while {doing}); nothing was half-written")
    if "readonly" in lowered or "read-only" in lowered:
        return Failure(f"{where}: the library cannot be written (read-only file or folder) "
                       f"while {doing}")
    if "not a database" in lowered or "malformed" in lowered or "encrypted" in lowered:
        return ConfigError(f"{where}: not a kettrack library ({text})")
    if "unable to open" in lowered or "disk i/o" in lowered:
        return Failure(f"{where}: cannot open the library ({text})")
    return Failure(f"{where}: SQLite error while {doing} ({text})")


class Library(Reading):
    """The local library: a SQLite file with kettrack's schema."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None = None,
                 lock_timeout: float = 10.0, *, writable: bool = True) -> None:
        self.db = conn
        self.path = path
        self.lock_timeout = lock_timeout
        self.writable = writable
        #: the second read connection and its thread (:meth:`_helper`)
        self._second: tuple[ThreadPoolExecutor, sqlite3.Connection] | None = None
        self._no_second = False

    # -- opening ---------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str, *, lock_timeout: float = 10.0) -> Library:
        """Open the library at ``path``, creating or upgrading it if needed.

        A file that is not a kettrack library (another program's SQLite
        database, or not SQLite at all) is refused, never taken over; so is a
        library written by a newer kettrack (a migration this one does not know).
        A library the user cannot write is opened read-only.
        """
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"{path}: is a folder, not a library file (KETTRACK_DB)")
        if str(path.parent) and not path.parent.is_dir():
            raise ConfigError(f"{path}: folder {path.parent} does not exist (KETTRACK_DB)")
        exists = path.exists() and path.stat().st_size > 0
        writable = os.access(path if path.exists() else path.parent, os.W_OK) and (
            not path.exists() or os.access(path.parent, os.W_OK))
        try:
            conn = cls._connect(path, lock_timeout, writable=writable)
            library = cls(conn, path, lock_timeout, writable=writable)
            library._check_schema(created=not exists)
        except sqlite3.Error as exc:
            raise sqlite_failure(exc, path, "opening it") from None
        return library

    @staticmethod
    def _connect(path: Path, lock_timeout: float, *, writable: bool) -> sqlite3.Connection:
        timeout = max(lock_timeout, 0.05)
        if writable:
            conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None,
                                   check_same_thread=False)
        else:
            uri = f"file:{path.resolve()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None,
                                   check_same_thread=False)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:
                # a WAL library in a folder we cannot write has no -shm to share:
                # read it as an immutable file
                conn.close()
                conn = sqlite3.connect(f"file:{path.resolve()}?immutable=1", uri=True,
                                       isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _check_schema(self, *, created: bool) -> None:
        known = migrations.names()
        done = migrations.applied(self.db)
        unknown = [n for n in done if n not in known]
        if unknown:
            raise ConfigError(
                f"{self.path}: written by a newer kettrack (migration {unknown[0]} is unknown "
                "to this version); upgrade kettrack, nothing was changed")
        if not done and not created:
            others = self.db.execute(
                "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchone()[0]
            if others:
                raise ConfigError(
                    f"{self.path}: not a kettrack library (an SQLite database with {others} "
                    "other objects); choose another file with KETTRACK_DB")
        if len(done) == len(known):
            return
        if not self.writable:
            raise Failure(f"{self.path}: the library needs an upgrade to this kettrack's "
                          "schema, and the file cannot be written")
        with self.writer_lock():
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            migrations.apply(self.db)

    @classmethod
    def memory(cls) -> Library:
        """A migrated in-memory library (tests and benchmarks)."""
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA foreign_keys = ON")
        migrations.apply(conn)
        return cls(conn)

    def close(self) -> None:
        if self._second is not None:
            pool, conn = self._second
            pool.shutdown()
            conn.close()
            self._second = None
        self.db.close()

    def _helper(self) -> tuple[ThreadPoolExecutor, sqlite3.Connection] | None:
        if self.path is None or self.db.in_transaction or self._no_second:
            return None
        if self._second is None:
            try:
                conn = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True,
                                       timeout=max(self.lock_timeout, 0.05),
                                       isolation_level=None, check_same_thread=False)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.Error:
                # a library read as an immutable file (a folder we cannot write):
                # one connection it is
                self._no_second = True
                return None
            self._second = (ThreadPoolExecutor(1, thread_name_prefix="kettrack-reader"), conn)
        return self._second

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_sql(self) -> str:
        """The schema as SQL, one statement per object, in a stable order."""
        rows = self.db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
            "AND name NOT LIKE 'sqlite_%' ORDER BY type, name"
        ).fetchall()
        return "".join(f"-- {kind} {name}\n{sql.strip()};\n\n" for kind, name, sql in rows)

    # -- locking and transactions ----------------------------------------------

    def _require_writable(self) -> None:
        if not self.writable:
            raise Failure(f"{self.path}: the library cannot be written (read-only file or "
                          "folder); read-only commands still work")

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Hold the library's writer lock (a file lock beside the database)."""
        if self.path is None:
            yield
            return
        self._require_writable()
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise Failure(f"{lock_path}: cannot create the library's lock file "
                          f"({exc.strerror or exc})") from None
        try:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LibraryBusy(
                            f"{self.path}: another kettrack is writing to this library; "
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
    def transaction(self, doing: str = "writing") -> Iterator[sqlite3.Connection]:
        """One all-or-nothing write; SQLite's own errors (another program's lock,
        a full disk at COMMIT, a read-only file) become kettrack errors after
        the rollback."""
        conn = self.db
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise sqlite_failure(exc, self.path, doing) from None
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise sqlite_failure(exc, self.path, doing) from None
            raise

    # -- runs and query versions -------------------------------------------

    def start_run(self, *, offline: bool) -> int:
        """Record a new run; a run still marked running from a killed kettrack is
        closed as interrupted first (only one writer runs at a time)."""
        with self.transaction("starting a run") as conn:
            conn.execute("UPDATE runs SET status = 'interrupted', finished_at = ? "
                         "WHERE status = 'running'", (utcnow(),))
            cur = conn.execute("INSERT INTO runs (started_at, offline) VALUES (?, ?)",
                               (utcnow(), int(offline)))
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, *, status: str, requests: int, new: int, updated: int,
                   error: str | None = None) -> None:
        with self.transaction("finishing a run") as conn:
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
        with self.transaction("recording a query") as conn:
            cur = conn.execute(
                "INSERT INTO query_versions (name, version, source, term, description, "
                "created_run) VALUES (?, ?, ?, ?, ?, ?)",
                (query.name, query.version, query.source, query.term, query.description, run_id),
            )
            return int(cur.lastrowid or 0), True

    @staticmethod
    def _summarise_query(conn: sqlite3.Connection, run_id: int, qv_id: int, *, count: int,
                         new: int, updated: int) -> None:
        conn.execute("UPDATE query_versions SET last_run = ?, last_count = ? WHERE id = ?",
                     (run_id, count, qv_id))
        conn.execute(
            "INSERT OR REPLACE INTO run_queries (run_id, query_version_id, count, new, "
            "updated) VALUES (?, ?, ?, ?, ?)", (run_id, qv_id, count, new, updated))

    def record_query(self, run_id: int, qv_id: int, *, count: int, hits: Sequence[str],
                     new: int, updated: int) -> None:
        """One PubMed query's step, in one transaction: memberships for every hit
        already stored, and its per-run summary."""
        with self.transaction("recording a query's hits") as conn:
            self._add_memberships(conn, qv_id, hits, run_id)
            self._summarise_query(conn, run_id, qv_id, count=count, new=new, updated=updated)

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
        found: set[str] = set()
        for chunk, marks in chunks(list(pmids)):
            for table in ("articles", "deleted_pmids"):
                found.update(r[0] for r in self.db.execute(
                    f"SELECT pmid FROM {table} WHERE pmid IN ({marks})", chunk))
        return found

    def pmids_to_refetch(self, *, max_age_days: int, today: date | None = None,
                         include_reserved: bool = False) -> list[str]:
        """Records NLM has not finished indexing that entered PubMed recently.

        Snapshot-only PMIDs (``RESERVED_PMID_START`` and up) exist only
        offline; NCBI would never return them, so they are left out unless
        ``include_reserved``.
        """
        cutoff = ((today or date.today()) - timedelta(days=max_age_days)).isoformat()
        limit = "" if include_reserved else f"AND CAST(pmid AS INTEGER) < {RESERVED_PMID_START}"
        return [r[0] for r in self.db.execute(
            "SELECT pmid FROM articles WHERE (citation_status IS NULL OR citation_status "
            f"!= 'MEDLINE') AND entrez_date >= ? AND pmid GLOB '[1-9]*' {limit} ORDER BY pmid",
            (cutoff,))]

    def store_batch(self, records: Sequence[tuple[Article, bytes | None]],
                    found_by: dict[str, list[int]], run_id: int) -> StoredBatch:
        """Insert new articles and update revised ones, in one transaction.

        ``records`` are (article, raw XML) pairs; a PMID twice in one batch is
        stored once (the last copy). ``found_by`` maps a PMID to the query
        versions whose search returned it in this run. A record is revised when
        what its source said changed (:meth:`Article.source_hash`); when only
        kettrack's own judgement of it changed (a better classifier), the row is
        rewritten without an event. The same as :meth:`store_prepared` of each
        pair's :meth:`PreparedArticle.of`.
        """
        return self.store_prepared([PreparedArticle.of(a, raw) for a, raw in records],
                                   found_by, run_id)

    def store_prepared(self, records: Sequence[PreparedArticle],
                       found_by: dict[str, list[int]], run_id: int) -> StoredBatch:
        """:meth:`store_batch` of articles whose row was computed beforehand
        (by a worker process, in a big backfill): one transaction, the same
        dedupe, claims, events, memberships and FTS."""
        result = StoredBatch()
        now = utcnow()
        unique: dict[str, PreparedArticle] = {}
        for prepared in records:
            unique[prepared.article.pmid] = prepared
        pmids = list(unique)
        old: dict[str, tuple[str, str]] = {}
        for chunk, marks in chunks(pmids):
            for pmid, digest, data in self.db.execute(
                f"SELECT pmid, record_hash, data FROM articles WHERE pmid IN ({marks})", chunk
            ):
                old[pmid] = (digest, data)
        new_titles: list[Article] = []
        inserts: list[dict[str, Any]] = []
        trial_ids: list[tuple[str, str]] = []
        titles: list[tuple[str, str, int]] = []
        claims: dict[str, str] = {}
        claimable = self._claimed_rows([unique[p].article for p in pmids if p not in old])
        for p in pmids:
            if (k := claimable.get(p)) is not None and (
                    k not in claims.values()):  # one PubMed record per held row
                claims[p] = k
        with self.transaction("storing a batch of records") as conn:
            if claims:
                conn.execute("PRAGMA defer_foreign_keys = ON")
            for prepared in unique.values():
                article, digest = prepared.article, prepared.digest
                # the raw XML travels compressed, in the row (it pickles smaller)
                raw_xml = prepared.row["raw_xml"]
                row = {**prepared.row, "fetched_at": now}
                title_key = prepared.title_key
                previous = old.get(article.pmid)
                claimed = claims.get(article.pmid)
                if claimed is not None:
                    # a work held under its preprint id (or PMCID) now has a PubMed
                    # record: one row, re-keyed by the PMID, with its history
                    self._rekey(conn, claimed, article.pmid)
                    result.renamed[claimed] = article.pmid
                    held = Article.from_record(json.loads(conn.execute(
                        "SELECT data FROM articles WHERE pmid = ?", (article.pmid,)).fetchone()[0]))
                    self._insert_work_ids(conn, article.pmid, identifiers(article), "record")
                    took = self._took_pubmed_record(held, article)
                    row = {**article_row(article, None, article.source_hash(), now),
                           "raw_xml": raw_xml}
                    title_key = normalised_title(article.title)
                    if took:
                        row.update(updated_run=run_id, updated_at=now)
                        result.events.append((article.pmid, took[0], took[1]))
                        result.updated.append(article.pmid)
                    else:
                        result.unchanged.append(article.pmid)
                    conn.execute(f"UPDATE articles SET {', '.join(f'{c} = ?' for c in row)} "
                                 "WHERE pmid = ?", [*row.values(), article.pmid])
                elif previous is None:
                    # new rows go in together, after the loop (executemany)
                    row.update(first_seen_run=run_id, first_seen_at=now)
                    inserts.append(row)
                    result.new.append(article.pmid)
                    trial_ids += [(article.pmid, t)
                                  for t in [*article.nct_ids, *article.other_trial_ids]]
                    titles.append((article.pmid, title_key, int(article.preprint)))
                    new_titles.append(article)
                    continue
                else:
                    before = Article.from_record(json.loads(previous[1]))
                    if not article.epmc_source and _carry_preprint(before, article):
                        digest = article.source_hash()
                        row = {**article_row(article, None, digest, now), "raw_xml": raw_xml}
                        title_key = normalised_title(article.title)
                    if before.epmc_source and not article.epmc_source:
                        # Europe PMC's copy of a PubMed record, replaced by PubMed's:
                        # a change of source, not a revision
                        before = article
                    revised = previous[0] != digest and (
                        before.source_fields() != article.source_fields())
                    if revised:
                        row.update(updated_run=run_id, updated_at=now)
                        for kind, detail in compare(before, article):
                            result.events.append((article.pmid, kind, detail))
                        result.updated.append(article.pmid)
                    else:
                        result.unchanged.append(article.pmid)
                        if previous[0] == digest and before.to_record() == article.to_record():
                            conn.execute("UPDATE articles SET fetched_at = ? WHERE pmid = ?",
                                         (now, article.pmid))
                            continue
                    sets = ", ".join(f"{c} = ?" for c in row)
                    conn.execute(f"UPDATE articles SET {sets} WHERE pmid = ?",
                                 [*row.values(), article.pmid])
                conn.execute("DELETE FROM article_trial_ids WHERE pmid = ?", (article.pmid,))
                conn.executemany(
                    "INSERT OR IGNORE INTO article_trial_ids (pmid, trial_id) VALUES (?, ?)",
                    [(article.pmid, t) for t in [*article.nct_ids, *article.other_trial_ids]],
                )
                conn.execute("INSERT OR REPLACE INTO work_titles (pmid, title_key, preprint) "
                             "VALUES (?, ?, ?)", (article.pmid, title_key, int(article.preprint)))
            if inserts:
                columns = list(inserts[0])
                conn.executemany(f"INSERT INTO articles ({', '.join(columns)}) VALUES "
                                 f"({', '.join('?' * len(columns))})",
                                 [[r[c] for c in columns] for r in inserts])
                conn.executemany("INSERT OR IGNORE INTO article_trial_ids (pmid, trial_id) "
                                 "VALUES (?, ?)", trial_ids)
                conn.executemany("INSERT OR REPLACE INTO work_titles (pmid, title_key, "
                                 "preprint) VALUES (?, ?, ?)", titles)
            for article in new_titles:
                result.events += self._probable(conn, article, run_id, now)
            conn.executemany(
                "INSERT OR IGNORE INTO memberships (pmid, query_version_id, run_id) "
                "SELECT pmid, ?, ? FROM articles WHERE pmid = ?",
                [(qv_id, run_id, pmid) for pmid in pmids for qv_id in found_by.get(pmid, ())])
            self._insert_events(conn, run_id, now,
                                [(("article", p), k, d) for p, k, d in result.events])
        return result

    @staticmethod
    def _insert_events(conn: sqlite3.Connection, run_id: int, now: str,
                       events: Sequence[tuple[tuple[str, str], str, dict[str, Any]]]) -> None:
        conn.executemany(
            "INSERT INTO events (pmid, nct_id, run_id, kind, detail, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(ident if kind == "article" else None, ident if kind == "trial" else None,
              run_id, event, json.dumps(detail), now)
             for (kind, ident), event, detail in events])

    def record_deleted(self, pmids: Iterable[str], run_id: int, reason: str) -> list[str]:
        """Note PMIDs NCBI no longer serves; an article we hold gets a 'deleted' event."""
        now = utcnow()
        noted = []
        with self.transaction("recording deleted records") as conn:
            for pmid in pmids:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO deleted_pmids (pmid, run_id, noted_at, reason) "
                    "VALUES (?, ?, ?, ?)", (pmid, run_id, now, reason))
                if cur.rowcount:
                    noted.append(pmid)
                    held = conn.execute("SELECT 1 FROM articles WHERE pmid = ?", (pmid,)).fetchone()
                    if held:
                        self._insert_events(conn, run_id, now,
                                            [(("article", pmid), "deleted", {"reason": reason})])
        return noted

    # -- Europe PMC: one work, several records ------------------------------

    def _resolve(self, conn: sqlite3.Connection, ids: Iterable[tuple[str, str]]
                 ) -> dict[str, str]:
        """The works (key -> how it matched) that hold any of ``ids``."""
        found: dict[str, str] = {}
        for kind, value in ids:
            for pmid, how in conn.execute(
                    "SELECT pmid, how FROM work_ids WHERE kind = ? AND value = ?", (kind, value)):
                found.setdefault(str(pmid), kind if how == "record" else str(how))
            column = {"pmid": "pmid", "doi": "doi", "pmcid": "pmcid"}.get(kind)
            if column:
                for (pmid,) in conn.execute(
                        f"SELECT pmid FROM articles WHERE {column} = ?", (value,)):
                    found.setdefault(str(pmid), kind)
        return found

    def _claimed_rows(self, articles: Sequence[Article]) -> dict[str, str]:
        """The row each new PubMed record among ``articles`` belongs to (by its
        PMID; records that claim none are left out) when the library holds its
        work under another key (a preprint's PPR id, a PMCID): by PMID, DOI or
        PMCID, or a Europe PMC link to its PMID. Rows keyed by another PMID are
        never claimed (two PubMed records stay two rows), so SQLite leaves them
        out before Python sees them: a few queries a batch, and a DOI that many
        PubMed rows share costs nothing."""
        if not articles or self.db.execute(_ANY_OTHER_KEY).fetchone() is None:
            return {}  # a library of PubMed records only: nothing to claim
        ids_of = {a.pmid: identifiers(a) for a in articles}
        by_kind: dict[str, set[str]] = {}
        for ids in ids_of.values():
            for kind, value in ids:
                by_kind.setdefault(kind, set()).add(value)
        holders: dict[tuple[str, str], set[str]] = {}
        for kind, values in by_kind.items():
            column = {"doi": "doi", "pmcid": "pmcid"}.get(kind)  # a PMID column is a PMID key
            for chunk, marks in chunks(sorted(values)):
                rows = list(self.db.execute(
                    f"SELECT value, pmid FROM work_ids WHERE kind = ? AND value IN ({marks}) "
                    f"AND {_NOT_PMID_KEY}", [kind, *chunk]))
                if column:
                    rows += self.db.execute(
                        f"SELECT {column}, pmid FROM articles WHERE {column} IN ({marks}) "
                        f"AND {_NOT_PMID_KEY}", chunk).fetchall()
                for value, key in rows:
                    if not valid_pmid(str(key)):
                        holders.setdefault((kind, str(value)), set()).add(str(key))
        claimed: dict[str, str] = {}
        for pmid, ids in ids_of.items():
            keys = {k for i in ids for k in holders.get(i, ()) if k != pmid}
            if keys:
                claimed[pmid] = min(keys)
        return claimed

    @staticmethod
    def _took_pubmed_record(held: Article, article: Article
                            ) -> tuple[str, dict[str, Any]] | None:
        """The event when a row held from Europe PMC takes a PubMed record: the
        published version of a preprint, or nothing (PubMed holds the same version)."""
        if held.preprint and not article.preprint:
            return ("published_version", {"preprint": held.epmc_id, "journal": article.journal,
                                          "doi": article.doi, "pmid": article.pmid,
                                          "link": "pubmed"})
        _carry_preprint(held, article)
        return None

    @staticmethod
    def _article_refs(conn: sqlite3.Connection) -> list[tuple[str, str]]:
        """Every (table, column) that refers to ``articles(pmid)``, whoever added it."""
        refs: list[tuple[str, str]] = []
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                     "AND name NOT LIKE 'sqlite_%'").fetchall():
            for fk in conn.execute(f"PRAGMA foreign_key_list('{table}')").fetchall():
                if fk[2] == "articles" and fk[4] in ("pmid", None):
                    refs.append((str(table), str(fk[3])))
        return refs

    @staticmethod
    def _move_item_refs(conn: sqlite3.Connection, old: str, new: str) -> None:
        """Point every reference to work ``old`` that is not a foreign key at
        ``new``: digest marks and deliveries, screening decisions (the audit trail
        moves whole), watches and citing relations. Where ``new`` already has the
        same row, the duplicate of ``old`` goes."""
        for table in ("digest_items", "digest_deliveries", "screening_decisions"):
            conn.execute(f"UPDATE OR IGNORE {table} SET item_id = ? WHERE item_type = 'article' "
                         "AND item_id = ?", (new, old))
            conn.execute(f"DELETE FROM {table} WHERE item_type = 'article' AND item_id = ?",
                         (old,))
        for table, column in (("watches", "pmid"), ("citations", "citing_pmid"),
                              ("citations", "cited_pmid")):
            conn.execute(f"UPDATE OR IGNORE {table} SET {column} = ? WHERE {column} = ?",
                         (new, old))
            conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (old,))

    def _rekey(self, conn: sqlite3.Connection, old: str, new: str) -> None:
        """Give the work keyed ``old`` the key ``new`` everywhere (call with
        ``PRAGMA defer_foreign_keys`` on, inside a transaction)."""
        conn.execute("UPDATE articles SET pmid = ? WHERE pmid = ?", (new, old))
        for table, column in self._article_refs(conn):
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (new, old))
        self._move_item_refs(conn, old, new)

    def _merge_rows(self, conn: sqlite3.Connection, loser: str, survivor: str) -> None:
        """Fold the row ``loser`` into ``survivor``: memberships, events, digest
        marks, identifiers and versions move; the loser's row goes."""
        for table, column in self._article_refs(conn):
            conn.execute(f"UPDATE OR IGNORE {table} SET {column} = ? WHERE {column} = ?",
                         (survivor, loser))
            conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (loser,))
        self._move_item_refs(conn, loser, survivor)
        conn.execute("DELETE FROM probable_versions WHERE pmid = other")
        conn.execute("DELETE FROM articles WHERE pmid = ?", (loser,))

    @staticmethod
    def _insert_work_ids(conn: sqlite3.Connection, key: str, ids: Iterable[tuple[str, str]],
                         how: str) -> None:
        conn.executemany("INSERT OR IGNORE INTO work_ids (kind, value, pmid, how) "
                         "VALUES (?, ?, ?, ?)", [(k, v, key, how) for k, v in ids])

    @staticmethod
    def _upsert_version(conn: sqlite3.Connection, key: str, article: Article, link: str,
                        run_id: int) -> None:
        version_key = f"{article.epmc_source}:{article.epmc_id}"
        data = json.dumps(article.to_record(), ensure_ascii=False, separators=(",", ":"))
        conn.execute(
            "INSERT INTO work_versions (version_key, pmid, kind, server, version, doi, posted, "
            "title, link, withdrawn, record_hash, data, first_seen_run) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (version_key) DO UPDATE SET "
            "pmid = excluded.pmid, server = excluded.server, version = excluded.version, "
            "doi = excluded.doi, title = excluded.title, withdrawn = excluded.withdrawn, "
            "updated_run = CASE WHEN record_hash != excluded.record_hash THEN ? "
            "ELSE updated_run END, record_hash = excluded.record_hash, data = excluded.data",
            (version_key, key, "preprint" if article.preprint else "journal",
             article.preprint_server, article.version, article.doi, article.pub_date,
             article.title, link, int(article.withdrawn), article.source_hash(), data, run_id,
             run_id))

    def _stored_article(self, conn: sqlite3.Connection, key: str) -> Article | None:
        row = conn.execute("SELECT data FROM articles WHERE pmid = ?", (key,)).fetchone()
        return Article.from_record(json.loads(row[0])) if row else None

    def _write_article(self, conn: sqlite3.Connection, article: Article, run_id: int,
                       now: str, *, new: bool, updated: bool) -> None:
        row = article_row(article, None, article.source_hash(), now)
        if new:
            row.update(first_seen_run=run_id, first_seen_at=now)
            conn.execute(f"INSERT INTO articles ({', '.join(row)}) VALUES "
                         f"({', '.join('?' * len(row))})", list(row.values()))
        else:
            if updated:
                row.update(updated_run=run_id, updated_at=now)
            conn.execute(f"UPDATE articles SET {', '.join(f'{c} = ?' for c in row)} "
                         "WHERE pmid = ?", [*row.values(), article.pmid])
        conn.execute("DELETE FROM article_trial_ids WHERE pmid = ?", (article.pmid,))
        conn.executemany(
            "INSERT OR IGNORE INTO article_trial_ids (pmid, trial_id) VALUES (?, ?)",
            [(article.pmid, t) for t in [*article.nct_ids, *article.other_trial_ids]])
        conn.execute("INSERT OR REPLACE INTO work_titles (pmid, title_key, preprint) "
                     "VALUES (?, ?, ?)",
                     (article.pmid, normalised_title(article.title), int(article.preprint)))

    def _probable(self, conn: sqlite3.Connection, article: Article, run_id: int, now: str
                  ) -> list[tuple[str, str, dict[str, Any]]]:
        """Record (never merge) the rows that are probably another version of
        ``article``; the events that say so, on both rows."""
        if article.year is None:
            return []
        events: list[tuple[str, str, dict[str, Any]]] = []
        # only a preprint and a journal version pair up, so only rows of the other
        # kind are read (a title many rows share, "Erratum" or "Ketamine", would
        # otherwise cost every such row's JSON, for every new one)
        for (data,) in conn.execute(
                "SELECT a.data FROM work_titles t JOIN articles a ON a.pmid = t.pmid "
                "WHERE t.title_key = ? AND t.preprint = ? AND t.pmid != ?",
                (normalised_title(article.title), int(not article.preprint),
                 article.pmid)).fetchall():
            other = Article.from_record(json.loads(data))
            if article.preprint == other.preprint:
                continue
            preprint, journal = (article, other) if article.preprint else (other, article)
            evidence = probable_match(preprint, journal)
            if evidence is None:
                continue
            cur = conn.execute(
                "INSERT OR IGNORE INTO probable_versions (pmid, other, evidence, run_id, "
                "created_at) VALUES (?, ?, ?, ?, ?)",
                (preprint.pmid, journal.pmid, json.dumps(evidence), run_id, now))
            if cur.rowcount:
                events.append((preprint.pmid, "probable_version",
                               {**evidence, "other": journal.pmid, "role": "journal"}))
                events.append((journal.pmid, "probable_version",
                               {**evidence, "other": preprint.pmid, "role": "preprint"}))
        return events

    def store_europepmc(self, articles: Sequence[Article], qv_id: int, run_id: int
                        ) -> StoredBatch:
        """One page of a Europe PMC query's hits, in one transaction.

        Each record is matched to the work it is a version of
        (:mod:`kettrack.library.versions`): by Europe PMC's own links, by PMID,
        DOI, PMCID or a DOI version relation. A record of a work the library
        holds adds a version and a membership; the journal version of a held
        preprint takes over the row (re-keyed by its PMID) with a
        ``published_version`` event; a later version of a held preprint is a
        ``new_version`` event; a withdrawal is a ``withdrawn`` event. Rows of
        two different PMIDs are never merged; a conservative title / first
        author / date match is recorded in ``probable_versions`` with its evidence,
        and the rows stay apart.
        """
        result = StoredBatch()
        now = utcnow()
        unique: dict[str, Article] = {}
        for article in articles:
            unique[f"{article.epmc_source}:{article.epmc_id}"] = article
        with self.transaction("storing Europe PMC records") as conn:
            conn.execute("PRAGMA defer_foreign_keys = ON")
            for article in unique.values():
                key, events, status = self._store_epmc(conn, article, run_id, now, result)
                result.keys.append(key)
                getattr(result, status).append(key)
                result.events.extend(events)
                self._insert_events(conn, run_id, now, [(("article", k), kind, d)
                                                        for k, kind, d in events])
                self._add_memberships(conn, qv_id, [key], run_id)
        for old, new in list(result.renamed.items()):
            result.renamed[old] = _follow(result.renamed, new)
        for name in ("new", "updated", "unchanged", "keys"):
            setattr(result, name, [_follow(result.renamed, k) for k in getattr(result, name)])
        result.new = list(dict.fromkeys(result.new))
        result.updated = [k for k in dict.fromkeys(result.updated) if k not in result.new]
        return result

    def _store_epmc(self, conn: sqlite3.Connection, article: Article, run_id: int, now: str,
                    result: StoredBatch) -> tuple[str, list[tuple[str, str, dict[str, Any]]],
                                                  str]:
        own = identifiers(article)
        linked = linked_identifiers(article)
        matches = self._resolve(conn, own)
        for key in self._resolve(conn, linked):
            matches.setdefault(key, "europepmc-link")
        events: list[tuple[str, str, dict[str, Any]]] = []
        # two PubMed records are two rows: keep this record's own PMID, or the first
        pmids = sorted({k for k in matches if valid_pmid(k)}
                       | ({article.pmid} if valid_pmid(article.pmid) else set()))
        if len(pmids) > 1:
            keep = article.pmid if valid_pmid(article.pmid) else pmids[0]
            matches = {k: h for k, h in matches.items() if k == keep or not valid_pmid(k)}
        if not matches:
            self._write_article(conn, article, run_id, now, new=True, updated=False)
            self._insert_work_ids(conn, article.pmid, own, "record")
            self._insert_work_ids(conn, article.pmid, linked, "europepmc-link")
            self._upsert_version(conn, article.pmid, article, "record", run_id)
            events += self._probable(conn, article, run_id, now)
            return article.pmid, events, "new"
        # the row that survives: a PMID, else a journal version, else the first held
        held = {k: self._stored_article(conn, k) for k in matches}
        order = sorted(matches, key=lambda k: (not valid_pmid(k),
                                               bool((a := held[k]) and a.preprint), k))
        base = order[0]
        merged_preprint: Article | None = None
        for other in order[1:]:
            other_article = held[other]
            if other_article and other_article.preprint and held[base] and (
                    not held[base].preprint):  # type: ignore[union-attr]
                merged_preprint = other_article
            self._merge_rows(conn, other, base)
            result.renamed[other] = base
        final = article.pmid if valid_pmid(article.pmid) and base != article.pmid and (
            not valid_pmid(base)) else base
        if final != base:
            self._rekey(conn, base, final)
            result.renamed[base] = final
        before = held[base]
        assert before is not None
        before.pmid = final
        how = matches.get(base, "record")
        self._insert_work_ids(conn, final, own, "record" if how != "europepmc-link" else how)
        self._insert_work_ids(conn, final, linked, "europepmc-link")
        status = "unchanged"
        same = (before.epmc_source, before.epmc_id) == (article.epmc_source, article.epmc_id)
        article.pmid = final
        if same:
            if before.source_fields() != article.source_fields():
                kinds = compare(before, article)
                if article.withdrawn and not before.withdrawn:
                    kinds = [k for k in kinds if k[0] != "retracted"]
                    kinds.insert(0, ("withdrawn", {"server": article.preprint_server}))
                if newer_version(before.version, article.version):
                    kinds = [k for k in kinds if k[0] != "revised"]
                    kinds.append(("new_version", {"from": before.version, "to": article.version,
                                                  "server": article.preprint_server}))
                events += [(final, k, d) for k, d in kinds]
                self._write_article(conn, article, run_id, now, new=False, updated=True)
                status = "updated"
        elif before.preprint and not article.preprint:
            events.append((final, "published_version", {
                "preprint": before.epmc_id, "journal": article.journal, "doi": article.doi,
                "pmid": article.pmid if valid_pmid(article.pmid) else None, "link": how}))
            self._write_article(conn, article, run_id, now, new=False, updated=True)
            status = "updated"
        elif before.preprint and article.preprint and before.version and newer_version(
                before.version, article.version):
            events.append((final, "new_version", {"from": before.version, "to": article.version,
                                                  "server": article.preprint_server,
                                                  "link": how}))
            self._write_article(conn, article, run_id, now, new=False, updated=True)
            status = "updated"
        if merged_preprint is not None and status == "unchanged":
            events.append((final, "published_version", {
                "preprint": merged_preprint.epmc_id, "journal": before.journal,
                "doi": before.doi, "pmid": final if valid_pmid(final) else None,
                "link": "europepmc-link"}))
            conn.execute("UPDATE articles SET updated_run = ?, updated_at = ? WHERE pmid = ?",
                         (run_id, now, final))
            status = "updated"
        self._upsert_version(conn, final, article, how, run_id)
        return final, events, status

    def work_key(self, kind: str, value: str) -> str | None:
        """The key of the work known by ``kind``/``value`` (``ppr``/``PPR123``,
        ``doi``/..., ``epmc``/``MED:123``), through the identifiers it was seen with."""
        row = self.db.execute("SELECT pmid FROM work_ids WHERE kind = ? AND value = ?",
                              (kind, value)).fetchone()
        return str(row[0]) if row else None

    # -- registered trials ---------------------------------------------------

    def store_registry_query(self, studies: Sequence[dict[str, Any]], qv_id: int, run_id: int,
                             *, count: int, synced_on: date) -> tuple[StoredBatch, list[str],
                                                                      list[str]]:
        """One registry query's step, in one transaction: the trials (new ones
        inserted, revised ones updated with events), memberships, the query's
        summary and the day it ran. A study without a usable NCT number is
        skipped, not fatal.

        Returns what was stored, and which of the query's hits are new and
        updated in this run (counted per query, as PubMed queries are: a trial two
        queries find in one run is new for both, though stored, and evented, once).
        """
        result = StoredBatch()
        now = utcnow()
        hits: list[str] = []
        with self.transaction("storing registered trials") as conn:
            for study in studies:
                try:
                    trial = normalise_trial(study)
                except ValueError:
                    continue
                hits.append(trial.nct_id)
                row = trial_row(trial, study, now)
                old = conn.execute("SELECT record_hash, data FROM trials WHERE nct_id = ?",
                                   (trial.nct_id,)).fetchone()
                if old is None:
                    row.update(first_seen_run=run_id, first_seen_at=now)
                    conn.execute(f"INSERT INTO trials ({', '.join(row)}) VALUES "
                                 f"({', '.join('?' * len(row))})", list(row.values()))
                    result.new.append(trial.nct_id)
                elif old[0] != row["record_hash"] and (
                        (before := _stored_trial(old[1])).source_fields()
                        != trial.source_fields()):
                    row.update(updated_run=run_id, updated_at=now)
                    conn.execute(f"UPDATE trials SET {', '.join(f'{c} = ?' for c in row)} "
                                 "WHERE nct_id = ?", [*row.values(), trial.nct_id])
                    for kind, detail in compare_trials(before, trial):
                        result.events.append((trial.nct_id, kind, detail))
                    result.updated.append(trial.nct_id)
                else:
                    conn.execute("UPDATE trials SET fetched_at = ?, record_hash = ? "
                                 "WHERE nct_id = ?", (now, row["record_hash"], trial.nct_id))
                    result.unchanged.append(trial.nct_id)
                conn.execute("INSERT OR IGNORE INTO trial_memberships (nct_id, query_version_id, "
                             "run_id) VALUES (?, ?, ?)", (trial.nct_id, qv_id, run_id))
            self._insert_events(conn, run_id, now,
                                [(("trial", n), k, d) for n, k, d in result.events])
            hits = list(dict.fromkeys(hits))
            q_new, q_updated = [], []
            for chunk, marks in chunks(hits):
                for nct, first, upd in conn.execute(
                        f"SELECT nct_id, first_seen_run, updated_run FROM trials "
                        f"WHERE nct_id IN ({marks})", chunk):
                    if first == run_id:
                        q_new.append(nct)
                    elif upd == run_id:
                        q_updated.append(nct)
            self._summarise_query(conn, run_id, qv_id, count=count, new=len(q_new),
                                  updated=len(q_updated))
            conn.execute(
                "INSERT OR REPLACE INTO trial_query_syncs (query_version_id, run_id, synced_on) "
                "VALUES (?, ?, ?)", (qv_id, run_id, synced_on.isoformat()))
        return result, q_new, q_updated

    def last_synced(self, qv_id: int) -> date | None:
        """The day a registry query version last ran (None: never)."""
        row = self.db.execute("SELECT synced_on FROM trial_query_syncs WHERE "
                              "query_version_id = ?", (qv_id,)).fetchone()
        return date.fromisoformat(row[0]) if row else None

    # -- digests -------------------------------------------------------------

    def mark_digest(self, *, created_at: str, since: str | None, format: str,
                    sent_to: Sequence[str] | None,
                    items: Sequence[tuple[str, str, str]]) -> int:
        """Record a digest and every item (``(item_type, item_id, section)``,
        events as ``("event", id, section)``) it reported, in one transaction."""
        with self.transaction("marking the digest") as conn:
            cur = conn.execute(
                "INSERT INTO digests (created_at, since, format, sent_to, status) "
                "VALUES (?, ?, ?, ?, ?)",
                (created_at, since, format, json.dumps(list(sent_to)) if sent_to else None,
                 "sent" if sent_to else "printed"))
            digest_id = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT OR IGNORE INTO digest_items (digest_id, item_type, item_id, section) "
                "VALUES (?, ?, ?, ?)", [(digest_id, *row) for row in items])
            # reported now: earlier partial deliveries of these items hold nothing back
            conn.executemany(
                "UPDATE digest_deliveries SET digest_id = ? WHERE digest_id IS NULL "
                "AND item_type = ? AND item_id = ?",
                [(digest_id, kind, ident) for kind, ident, _section in items])
        return digest_id

    # -- citation watches ------------------------------------------------------

    def add_watch(self, name: str, pmid: str, *, given: str, label: str) -> Watch:
        """Watch ``pmid`` under ``name``, in one transaction. A name in use, or a
        paper already watched under another name, is bad input. Re-adding a
        removed watch reuses its ``cited-by:NAME`` query version, so earlier
        memberships stay attached."""
        with self.writer_lock(), self.transaction("adding a watch") as conn:
            taken = conn.execute("SELECT name, pmid FROM watches WHERE name = ? OR pmid = ?",
                                 (name, pmid)).fetchone()
            if taken:
                what = (f"watch {name!r} already exists" if taken[0] == name
                        else f"{pmid_label(pmid)} is already watched as {taken[0]!r}")
                raise ConfigError(f"{what}; see 'kettrack watch list'")
            membership = MEMBERSHIP_PREFIX + name
            version = f"{WATCH_SOURCE}:{pmid}"
            row = conn.execute("SELECT id FROM query_versions WHERE name = ? AND version = ?",
                               (membership, version)).fetchone()
            if row:
                qv_id = int(row[0])
            else:
                qv_id = int(conn.execute(
                    "INSERT INTO query_versions (name, version, source, term, description) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (membership, version, WATCH_SOURCE, f"cited by {pmid_label(pmid)}",
                     f"papers citing {label}")).lastrowid or 0)
            now = utcnow()
            conn.execute("INSERT INTO watches (name, pmid, given, label, query_version_id, "
                         "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                         (name, pmid, given, label, qv_id, now))
        return Watch(name, pmid, given, label, qv_id, now)

    def remove_watch(self, name: str) -> Watch:
        """Stop watching ``name``. The papers it brought in, their ``cited-by:NAME``
        memberships and the citing relations seen stay in the library."""
        with self.writer_lock(), self.transaction("removing a watch") as conn:
            found = self.watch(name)
            if found is None:
                raise NotInLibrary(f"no watch named {name!r}; see 'kettrack watch list'")
            conn.execute("DELETE FROM watches WHERE name = ?", (name,))
        return found

    def record_watch(self, run_id: int, watch: Watch, citing: Mapping[str, Sequence[str]], *,
                     new: int, updated: int) -> None:
        """One watch's step in a run, in one transaction: the citing relations
        each source reported (``{source: [citing PMID...]}``), the membership
        ``cited-by:NAME`` for every citing paper the library holds, and the
        watch's per-run summary (its count: distinct citing papers)."""
        everyone = list(dict.fromkeys(p for pmids in citing.values() for p in pmids))
        with self.transaction("recording a watch") as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO citations (citing_pmid, cited_pmid, source, run_id) "
                "VALUES (?, ?, ?, ?)",
                [(p, watch.pmid, source, run_id) for source, pmids in citing.items()
                 for p in pmids])
            self._add_memberships(conn, watch.query_version_id, everyone, run_id)
            self._summarise_query(conn, run_id, watch.query_version_id, count=len(everyone),
                                  new=new, updated=updated)
    # -- living reviews ----------------------------------------------------------

    def create_review(self, name: str, queries: Sequence[str], *, reasons: Sequence[str],
                      keywords: Sequence[str] = (), description: str = "",
                      seed: int) -> int:
        """Record a new review and the saved queries that feed it, in one transaction."""
        with self.transaction(f"creating review {name}") as conn:
            cur = conn.execute(
                "INSERT INTO reviews (name, description, reasons, keywords, seed, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, description, json.dumps(list(reasons), ensure_ascii=False),
                 json.dumps(list(keywords), ensure_ascii=False), seed, utcnow()))
            review_id = int(cur.lastrowid or 0)
            conn.executemany("INSERT OR IGNORE INTO review_queries (review_id, query_name) "
                             "VALUES (?, ?)", [(review_id, q) for q in queries])
        return review_id

    def record_decisions(self, review_id: int, decisions: Sequence[NewDecision], *,
                         reviewer: str, via: str) -> list[int]:
        """Append screening decisions to a review's trail, all in one transaction
        (an import is stored whole or not at all). Returns the new rows' ids."""
        now = utcnow()
        ids = []
        with self.transaction("recording screening decisions") as conn:
            for d in decisions:
                kind, ident = d.key
                cur = conn.execute(
                    "INSERT INTO screening_decisions (review_id, item_type, item_id, decision, "
                    "reason, note, reviewer, decided_at, via) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (review_id, kind, ident, d.decision, d.reason, d.note, reviewer, now, via))
                ids.append(int(cur.lastrowid or 0))
        return ids

    def undo_decision(self, review_id: int, decision_id: int, *, reviewer: str,
                      via: str) -> int:
        """Withdraw one decision with an ``undo`` row (the withdrawn row is kept)."""
        with self.transaction("undoing a screening decision") as conn:
            row = conn.execute("SELECT item_type, item_id FROM screening_decisions "
                               "WHERE id = ? AND review_id = ?",
                               (decision_id, review_id)).fetchone()
            if row is None:
                raise ValueError(f"decision {decision_id} is not in review {review_id}")
            cur = conn.execute(
                "INSERT INTO screening_decisions (review_id, item_type, item_id, decision, "
                "undoes, reviewer, decided_at, via) VALUES (?, ?, ?, 'undo', ?, ?, ?, ?)",
                (review_id, row[0], row[1], decision_id, reviewer, utcnow(), via))
            return int(cur.lastrowid or 0)

    def record_deliveries(self, recipients: Sequence[str],
                          items: Sequence[tuple[str, str]], delivered_at: str) -> None:
        """Note that the mail server accepted ``items`` (``(item_type, item_id)``)
        for ``recipients``, in one transaction, before the digest is marked."""
        with self.transaction("recording who received the digest") as conn:
            conn.executemany(
                "INSERT INTO digest_deliveries (recipient, item_type, item_id, delivered_at) "
                "VALUES (?, ?, ?, ?)",
                [(r.lower(), kind, ident, delivered_at) for r in recipients
                 for kind, ident in items])

    def delivered_pending(self, recipients: Sequence[str]) -> dict[str, set[tuple[str, str]]]:
        """For each recipient, the not yet reported items a mail already brought them."""
        found: dict[str, set[tuple[str, str]]] = {r.lower(): set() for r in recipients}
        for chunk, marks in chunks(list(found)):
            for recipient, kind, ident in self.db.execute(
                    "SELECT recipient, item_type, item_id FROM digest_deliveries "
                    f"WHERE digest_id IS NULL AND recipient IN ({marks})", chunk):
                found[recipient].add((kind, ident))
        return found


def _follow(renamed: dict[str, str], key: str) -> str:
    seen = set()
    while key in renamed and key not in seen:
        seen.add(key)
        key = renamed[key]
    return key


def _carry_preprint(held: Article, article: Article) -> bool:
    """PubMed's record of a preprint held from Europe PMC keeps what only Europe
    PMC said: that it is a preprint (on which server, which version), a
    withdrawal, its links. True when anything was carried."""
    if not (held.preprint and article.preprint) or article.epmc_source:
        return False
    article.is_preprint = True
    article.preprint_server = article.preprint_server or held.preprint_server
    article.version = article.version or held.version
    article.withdrawn = article.withdrawn or held.withdrawn
    article.version_links = article.version_links or held.version_links
    return bool(held.is_preprint or held.withdrawn or held.version_links)


def _stored_trial(data: str) -> Trial:
    parsed = json.loads(data)
    return Trial.from_record(parsed.get("trial", parsed))


# The rows a work is stored as (benchmarks build large libraries with these directly).
def article_row(article: Article, raw: bytes | None, digest: str, now: str
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
        "data": json.dumps(article.to_record(), ensure_ascii=False, separators=(",", ":")),
        "record_hash": digest,
        "raw_xml": zlib.compress(raw, 1) if raw else None,  # speed over the last few %
        "fetched_at": now,
    }


def trial_row(trial: Trial, study: dict[str, Any], now: str) -> dict[str, Any]:
    return {
        "nct_id": trial.nct_id,
        "title": trial.title,
        "official_title": trial.official_title,
        "acronym": trial.acronym,
        "overall_status": trial.overall_status,
        "phases": json.dumps(trial.phases),
        "allocation": trial.allocation,
        "enrollment": trial.enrollment,
        "enrollment_type": trial.enrollment_type,
        "sponsor": trial.sponsor,
        "conditions": json.dumps(trial.conditions, ensure_ascii=False),
        "interventions": json.dumps(trial.interventions, ensure_ascii=False),
        "start_date": trial.start_date,
        "start_date_type": trial.start_date_type,
        "primary_completion_date": trial.primary_completion_date,
        "primary_completion_type": trial.primary_completion_type,
        "completion_date": trial.completion_date,
        "completion_type": trial.completion_type,
        "first_posted": trial.first_posted,
        "last_update_posted": trial.last_update_posted,
        "has_results": int(trial.has_results),
        "reference_pmids": json.dumps(trial.reference_pmids),
        "data": json.dumps({"trial": trial.to_record(), "study": study}, ensure_ascii=False),
        "record_hash": trial.source_hash(),
        "fetched_at": now,
    }
