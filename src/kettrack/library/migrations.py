"""The library's schema, as append-only named migrations.

Pending migrations are applied, in order, when the library is opened
(:meth:`kettrack.library.store.Library.open`); sqlite-utils' ``Migrations``
records each applied name in ``_sqlite_migrations``. Never edit a migration that
has shipped: add a new one. ``docs/schema.md`` is the resulting schema,
generated (``cog -r docs/schema.md``) and checked by a test.

sqlite-utils is imported only when a migration is to be applied: it takes a
third of a second to import, and every command would pay for it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database

#: the name under which kettrack's migrations are recorded
MIGRATION_SET = "kettrack"
MIGRATIONS_TABLE = "_sqlite_migrations"
#: (name, function), in the order they apply
MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = []


def migration(name: str) -> Callable[[Callable[[Database], None]], Callable[[Database], None]]:
    """Register a migration under ``name`` (appended: the order of definition)."""
    def register(fn: Callable[[Database], None]) -> Callable[[Database], None]:
        if any(n == name for n, _ in MIGRATIONS):
            raise ValueError(f"migration {name} is defined twice")
        MIGRATIONS.append((name, fn))
        return fn
    return register


def names() -> list[str]:
    """Every migration this version of kettrack knows, in order."""
    return [name for name, _ in MIGRATIONS]


def applied(conn: sqlite3.Connection) -> list[str]:
    """The names of kettrack migrations applied to the database (read-only, no sqlite-utils)."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                         (MIGRATIONS_TABLE,)).fetchone()
    if not found:
        return []
    return [r[0] for r in conn.execute(
        f"SELECT name FROM {MIGRATIONS_TABLE} WHERE migration_set = ? ORDER BY rowid",
        (MIGRATION_SET,))]


def apply(conn: sqlite3.Connection, *, stop_before: str | None = None) -> None:
    """Apply every pending migration (each in its own transaction), or those
    before ``stop_before`` (the upgrade test builds an old schema that way)."""
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations

    migrations = Migrations(MIGRATION_SET)
    for name, fn in MIGRATIONS:
        migrations(name=name)(fn)
    migrations.apply(Database(conn), stop_before=stop_before)


@migration("001_library")
def m001_library(db: Database) -> None:
    """Articles, saved query versions, memberships, runs and events."""
    db.execute(
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running',  -- running, ok, failed
            offline INTEGER NOT NULL DEFAULT 0,
            requests INTEGER,
            new INTEGER,
            updated INTEGER,
            error TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE articles (
            pmid TEXT PRIMARY KEY,
            doi TEXT,
            pmcid TEXT,
            pii TEXT,
            title TEXT NOT NULL DEFAULT '',
            abstract TEXT NOT NULL DEFAULT '',
            journal TEXT,
            journal_iso TEXT,
            volume TEXT,
            issue TEXT,
            pages TEXT,
            pub_date TEXT,
            year INTEGER,
            entrez_date TEXT,
            citation_status TEXT,
            publication_status TEXT,
            is_book INTEGER NOT NULL DEFAULT 0,
            design TEXT NOT NULL DEFAULT 'other',
            species TEXT,
            sample_size INTEGER,
            retracted INTEGER NOT NULL DEFAULT 0,
            has_erratum INTEGER NOT NULL DEFAULT 0,
            has_concern INTEGER NOT NULL DEFAULT 0,
            mesh_text TEXT NOT NULL DEFAULT '',
            keywords_text TEXT NOT NULL DEFAULT '',
            data TEXT NOT NULL,             -- the whole normalised Article as JSON
            record_hash TEXT NOT NULL,
            raw_xml BLOB,                   -- zlib-compressed source record
            first_seen_run INTEGER REFERENCES runs(id),
            first_seen_at TEXT NOT NULL,
            updated_run INTEGER REFERENCES runs(id),
            updated_at TEXT,
            fetched_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX idx_articles_doi ON articles(doi)")
    db.execute("CREATE INDEX idx_articles_pmcid ON articles(pmcid)")
    db.execute("CREATE INDEX idx_articles_first_seen ON articles(first_seen_run)")
    db.execute("CREATE INDEX idx_articles_status ON articles(citation_status, entrez_date)")
    db.execute(
        """
        CREATE TABLE article_trial_ids (
            pmid TEXT NOT NULL REFERENCES articles(pmid),
            trial_id TEXT NOT NULL,          -- NCT01234567, ISRCTN..., EudraCT...
            PRIMARY KEY (pmid, trial_id)
        )
        """
    )
    db.execute("CREATE INDEX idx_article_trial_ids_trial ON article_trial_ids(trial_id)")
    db.execute(
        """
        CREATE TABLE query_versions (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            version TEXT NOT NULL,           -- hash of source + term
            source TEXT NOT NULL,
            term TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            created_run INTEGER REFERENCES runs(id),
            last_run INTEGER REFERENCES runs(id),
            last_count INTEGER,
            UNIQUE (name, version)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE memberships (
            pmid TEXT NOT NULL REFERENCES articles(pmid),
            query_version_id INTEGER NOT NULL REFERENCES query_versions(id),
            run_id INTEGER NOT NULL REFERENCES runs(id),
            PRIMARY KEY (pmid, query_version_id)
        )
        """
    )
    db.execute("CREATE INDEX idx_memberships_query ON memberships(query_version_id)")
    db.execute(
        """
        CREATE TABLE run_queries (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            query_version_id INTEGER NOT NULL REFERENCES query_versions(id),
            count INTEGER NOT NULL,
            new INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            PRIMARY KEY (run_id, query_version_id)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            pmid TEXT REFERENCES articles(pmid),
            nct_id TEXT,
            run_id INTEGER REFERENCES runs(id),
            kind TEXT NOT NULL,   -- retracted, erratum, concern, design_changed, status_changed,
                                  -- publication_types_changed, revised, deleted, ...
            detail TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX idx_events_pmid ON events(pmid)")
    db.execute("CREATE INDEX idx_events_run ON events(run_id)")
    db.execute(
        """
        CREATE TABLE deleted_pmids (
            pmid TEXT PRIMARY KEY,
            run_id INTEGER REFERENCES runs(id),
            noted_at TEXT NOT NULL,
            reason TEXT NOT NULL
        )
        """
    )
    db.table("articles").enable_fts(
        ["title", "abstract", "mesh_text", "keywords_text"], create_triggers=True,
        tokenize="porter",
    )


@migration("002_digests")
def m002_digests(db: Database) -> None:
    """Digests that were printed or mailed, and the items each one reported."""
    db.execute(
        """
        CREATE TABLE digests (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            since TEXT,                      -- 'last' digest's created_at, a DATE, or NULL
            format TEXT NOT NULL,            -- rich, text, markdown, html, json, email
            sent_to TEXT,                    -- JSON list of addresses, NULL when printed
            status TEXT NOT NULL             -- printed, sent
        )
        """
    )
    db.execute(
        """
        CREATE TABLE digest_items (
            digest_id INTEGER NOT NULL REFERENCES digests(id),
            item_type TEXT NOT NULL CHECK (item_type IN ('article', 'trial', 'event')),
            item_id TEXT NOT NULL,           -- PMID, NCT number, or events.id
            section TEXT NOT NULL CHECK (section IN ('trials', 'studies', 'reviews', 'updates')),
            PRIMARY KEY (digest_id, item_type, item_id)
        )
        """
    )
    # "never reported before" is looked up by item, not by digest
    db.execute("CREATE INDEX idx_digest_items_item ON digest_items(item_type, item_id)")


@migration("003_trials")
def m003_trials(db: Database) -> None:
    """Registered trials (ClinicalTrials.gov), the registry queries that found them,
    and the day each registry query version last ran (for incremental runs)."""
    db.execute(
        """
        CREATE TABLE trials (
            nct_id TEXT PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            official_title TEXT,
            acronym TEXT,
            overall_status TEXT,            -- RECRUITING, COMPLETED, ... (CT.gov's words)
            phases TEXT NOT NULL DEFAULT '[]',          -- JSON list: ["PHASE1", "PHASE2"]
            allocation TEXT,
            enrollment INTEGER,
            enrollment_type TEXT,           -- ACTUAL or ESTIMATED
            sponsor TEXT,
            conditions TEXT NOT NULL DEFAULT '[]',      -- JSON list
            interventions TEXT NOT NULL DEFAULT '[]',   -- JSON list
            start_date TEXT,
            start_date_type TEXT,
            primary_completion_date TEXT,
            primary_completion_type TEXT,
            completion_date TEXT,
            completion_type TEXT,
            first_posted TEXT,
            last_update_posted TEXT,
            has_results INTEGER NOT NULL DEFAULT 0,
            reference_pmids TEXT NOT NULL DEFAULT '[]', -- JSON list of PMIDs the registry cites
            data TEXT NOT NULL,             -- {"trial": normalised, "study": the v2 record}
            record_hash TEXT NOT NULL,
            first_seen_run INTEGER REFERENCES runs(id),
            first_seen_at TEXT NOT NULL,
            updated_run INTEGER REFERENCES runs(id),
            updated_at TEXT,
            fetched_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX idx_trials_first_seen ON trials(first_seen_run)")
    db.execute(
        """
        CREATE TABLE trial_memberships (
            nct_id TEXT NOT NULL REFERENCES trials(nct_id),
            query_version_id INTEGER NOT NULL REFERENCES query_versions(id),
            run_id INTEGER NOT NULL REFERENCES runs(id),
            PRIMARY KEY (nct_id, query_version_id)
        )
        """
    )
    db.execute("CREATE INDEX idx_trial_memberships_query ON trial_memberships(query_version_id)")
    db.execute(
        """
        CREATE TABLE trial_query_syncs (
            query_version_id INTEGER PRIMARY KEY REFERENCES query_versions(id),
            run_id INTEGER NOT NULL REFERENCES runs(id),
            synced_on TEXT NOT NULL        -- the day (or --as-of day) the query last ran
        )
        """
    )
    db.execute("CREATE INDEX idx_events_nct ON events(nct_id)")


@migration("004_trials_fts")
def m004_trials_fts(db: Database) -> None:
    """Full-text index of registered trials (titles, acronym, conditions, interventions),
    so ``search`` and ``check`` find them with the same words and stemming as articles."""
    db.table("trials").enable_fts(
        ["title", "official_title", "acronym", "conditions", "interventions"],
        create_triggers=True, tokenize="porter",
    )


@migration("005_watches")
def m005_watches(db: Database) -> None:
    """Citation watches (``watch add``) and the citing relations their runs saw.

    A watch's memberships are ordinary ``memberships`` rows under a query
    version named ``cited-by:NAME`` (source ``watch``), so ``queries`` lists,
    ``--query`` filters and digests treat it like a saved query. ``citations``
    keeps who cites whom, per source, whether or not the citing paper could be
    fetched yet (it is asked for again next run until it is stored).
    """
    db.execute(
        """
        CREATE TABLE watches (
            name TEXT PRIMARY KEY,           -- NAME of the membership cited-by:NAME
            pmid TEXT NOT NULL UNIQUE,       -- the watched paper
            given TEXT NOT NULL,             -- what the user typed (PMID, DOI or PMCID)
            label TEXT NOT NULL,             -- how digests name it: "Grabski 2022"
            query_version_id INTEGER NOT NULL REFERENCES query_versions(id),
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE citations (
            citing_pmid TEXT NOT NULL,
            cited_pmid TEXT NOT NULL,
            source TEXT NOT NULL,            -- pubmed_pubmed_citedin, europepmc, ...
            run_id INTEGER REFERENCES runs(id),  -- the run that first saw it
            PRIMARY KEY (citing_pmid, cited_pmid, source)
        )
        """
    )
    db.execute("CREATE INDEX idx_citations_cited ON citations(cited_pmid)")


@migration("006_europepmc")
def m006_europepmc(db: Database) -> None:
    """Europe PMC: every identifier a work is known by (so a preprint without a
    PMID, keyed by its ``PPR`` id, and its later PubMed record are one row), the
    versions of each work (preprint versions, the journal version), and probable
    matches recorded with their evidence, never merged."""
    db.execute(
        """
        CREATE TABLE work_ids (
            kind TEXT NOT NULL,              -- pmid, doi, pmcid, ppr, epmc (SOURCE:id), doibase
            value TEXT NOT NULL,
            pmid TEXT NOT NULL REFERENCES articles(pmid),   -- the work's key
            how TEXT NOT NULL DEFAULT 'record',  -- record, europepmc-link, doi-relation
            PRIMARY KEY (kind, value)
        )
        """
    )
    db.execute("CREATE INDEX idx_work_ids_pmid ON work_ids(pmid)")
    db.execute(
        """
        CREATE TABLE work_versions (
            version_key TEXT PRIMARY KEY,    -- PPR:PPR123, MED:123 (Europe PMC's SOURCE:id)
            pmid TEXT NOT NULL REFERENCES articles(pmid),
            kind TEXT NOT NULL CHECK (kind IN ('preprint', 'journal')),
            server TEXT,                     -- medRxiv, bioRxiv, Research Square, ...
            version TEXT,                    -- the server's version number
            doi TEXT,
            posted TEXT,                     -- first publication date at the source
            title TEXT NOT NULL DEFAULT '',
            link TEXT NOT NULL,              -- how it is known to be this work
            withdrawn INTEGER NOT NULL DEFAULT 0,
            record_hash TEXT NOT NULL,
            data TEXT NOT NULL,              -- this version's normalised Article as JSON
            first_seen_run INTEGER REFERENCES runs(id),
            updated_run INTEGER REFERENCES runs(id)
        )
        """
    )
    db.execute("CREATE INDEX idx_work_versions_pmid ON work_versions(pmid)")
    db.execute(
        """
        CREATE TABLE probable_versions (
            pmid TEXT NOT NULL REFERENCES articles(pmid),
            other TEXT NOT NULL REFERENCES articles(pmid),
            evidence TEXT NOT NULL,          -- JSON: what matched (title, first author, dates)
            run_id INTEGER REFERENCES runs(id),
            created_at TEXT NOT NULL,
            PRIMARY KEY (pmid, other)
        )
        """
    )
    # the normalised title of each work, so a probable match is one indexed look-up
    db.execute(
        """
        CREATE TABLE work_titles (
            pmid TEXT PRIMARY KEY REFERENCES articles(pmid),
            title_key TEXT NOT NULL         -- kettrack.library.versions.normalised_title
        )
        """
    )
    db.execute("CREATE INDEX idx_work_titles_key ON work_titles(title_key)")
    from kettrack.library.versions import normalised_title

    db.conn.executemany(
        "INSERT INTO work_titles (pmid, title_key) VALUES (?, ?)",
        [(pmid, normalised_title(title or "")) for pmid, title
         in db.execute("SELECT pmid, title FROM articles").fetchall()])


@migration("007_deliveries")
def m007_deliveries(db: Database) -> None:
    """Who received which digest item: a mail the server accepted for some
    recipients and refused for others is recorded per recipient, so the next
    digest gives the refused ones everything and the others nothing twice.
    ``digest_id`` stays NULL until the items are marked reported (every
    recipient has them); only those rows hold back an item from a recipient."""
    db.execute(
        """
        CREATE TABLE digest_deliveries (
            id INTEGER PRIMARY KEY,
            recipient TEXT NOT NULL,         -- the address, lower case
            item_type TEXT NOT NULL CHECK (item_type IN ('article', 'trial', 'event')),
            item_id TEXT NOT NULL,           -- PMID, NCT number, or events.id
            delivered_at TEXT NOT NULL,
            digest_id INTEGER REFERENCES digests(id)
        )
        """
    )
    db.execute("CREATE INDEX idx_digest_deliveries_pending "
               "ON digest_deliveries(recipient, item_type, item_id)")


@migration("008_reviews")
def m008_reviews(db: Database) -> None:
    """Living reviews: the saved queries that feed each, and its screening decisions
    (an audit trail: a change of mind is a new row, an undo a row naming the one it
    withdraws; nothing is updated or deleted)."""
    db.execute(
        """
        CREATE TABLE reviews (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            reasons TEXT NOT NULL DEFAULT '[]',   -- JSON list: the exclusion reasons offered
            keywords TEXT NOT NULL DEFAULT '[]',  -- JSON list: words highlighted when screening
            seed INTEGER NOT NULL,                -- of the random order before the model
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE review_queries (
            review_id INTEGER NOT NULL REFERENCES reviews(id),
            query_name TEXT NOT NULL,             -- a saved query's name (every version)
            PRIMARY KEY (review_id, query_name)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE screening_decisions (
            id INTEGER PRIMARY KEY,
            review_id INTEGER NOT NULL REFERENCES reviews(id),
            item_type TEXT NOT NULL CHECK (item_type IN ('article', 'trial')),
            item_id TEXT NOT NULL,                -- PMID or NCT number
            decision TEXT NOT NULL CHECK (decision IN ('include', 'exclude', 'maybe', 'undo')),
            reason TEXT,                          -- an exclusion reason from the review's list
            note TEXT,
            undoes INTEGER REFERENCES screening_decisions(id),  -- set on 'undo' rows
            reviewer TEXT NOT NULL,
            decided_at TEXT NOT NULL,
            via TEXT NOT NULL                     -- screen, decide, import
        )
        """
    )
    db.execute("CREATE INDEX idx_screening_decisions_item ON "
               "screening_decisions(review_id, item_type, item_id)")


@migration("009_work_titles_preprint")
def m009_work_titles_preprint(db: Database) -> None:
    """Whether each titled work is a preprint, so the look-up for a probable other
    version reads only works of the other kind (one index probe, however many
    works share the title)."""
    import json

    from kettrack.library.article import Article

    db.execute("ALTER TABLE work_titles ADD COLUMN preprint INTEGER NOT NULL DEFAULT 0")
    db.execute("DROP INDEX idx_work_titles_key")
    db.execute("CREATE INDEX idx_work_titles_key ON work_titles(title_key, preprint)")
    db.conn.executemany(
        "UPDATE work_titles SET preprint = 1 WHERE pmid = ?",
        [(pmid,) for pmid, data in db.execute(
            "SELECT a.pmid, a.data FROM articles a JOIN work_titles t ON t.pmid = a.pmid "
            "WHERE a.data LIKE '%\"is_preprint\":true%' OR a.data LIKE '%\"Preprint\"%'"
         ).fetchall() if Article.from_record(json.loads(data)).preprint])
