"""Reading the library: typed items, links between works, and the queries behind
search, digests, exports, the corrections check and ``stats``.

A mixin of :class:`kettrack.library.store.Library`: together they are the only
code that writes SQL for kettrack's tables. Everything returned is an item
(:mod:`kettrack.library.items`), a model or plain values, never a row.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kettrack.errors import SearchSyntaxError, UnknownQuery
from kettrack.library.article import Article
from kettrack.library.filters import Filters
from kettrack.library.identifiers import Identifier, is_reserved_pmid
from kettrack.library.items import (
    ArticleItem,
    Event,
    Item,
    PublicationLink,
    TrialItem,
    TrialLink,
)
from kettrack.library.trial import Trial
from kettrack.library.watches import Watch
from kettrack.review.model import Decision, Review

#: IDs per ``IN (...)`` list: well under SQLite's limit of bound parameters
CHUNK = 500
#: the FTS5 index of articles, and its BM25 column weights: title, abstract, MeSH,
#: keywords (a word in the title or the indexing says more than one in passing)
ARTICLES_FTS = "articles_fts"
ARTICLE_WEIGHTS = (8.0, 1.0, 3.0, 3.0)
#: the FTS5 index of registered trials and its weights: title, official title,
#: acronym, conditions, interventions
TRIALS_FTS = "trials_fts"
TRIAL_WEIGHTS = (4.0, 2.0, 4.0, 3.0, 3.0)
#: what FTS5's snippet() puts around a matched word; renderers turn these into bold,
#: JSON into ``**word**``
MARK_OPEN, MARK_CLOSE = "\x02", "\x03"
#: :meth:`Library.term_counts` looks for a word first in this many of the oldest articles
TERM_SAMPLE = 2_000
#: ... and a word more than this share of them hold is counted there and scaled up
SAMPLED_SHARE = 0.1
#: from this many articles, a claim's first search runs on two cores (:meth:`Reading._best_rows`)
PARALLEL_FROM = 20_000


def chunks(ids: Sequence[Any], size: int = CHUNK) -> Iterator[tuple[list[Any], str]]:
    """``ids`` in slices of ``size``, each with its ``?, ?, ...`` placeholders."""
    for start in range(0, len(ids), size):
        chunk = list(ids[start:start + size])
        yield chunk, ", ".join("?" * len(chunk))


def _event(row: Sequence[Any]) -> Event:
    id_, kind, detail, created_at, run_id = row
    try:
        parsed = json.loads(detail or "{}")
    except ValueError:
        parsed = {}
    return Event(int(id_), str(kind), parsed if isinstance(parsed, dict) else {},
                 str(created_at), run_id)


class Reading:
    """The read side of :class:`~kettrack.library.store.Library`."""

    db: sqlite3.Connection
    path: Path | None

    # -- single records -------------------------------------------------------

    def article(self, pmid: str) -> Article | None:
        """The stored article, or None."""
        row = self.db.execute("SELECT data FROM articles WHERE pmid = ?", (pmid,)).fetchone()
        return Article.from_record(json.loads(row[0])) if row else None

    def trial(self, nct_id: str) -> Trial | None:
        """The stored trial, or None."""
        row = self.db.execute("SELECT data FROM trials WHERE nct_id = ?",
                              (nct_id.upper(),)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        return Trial.from_record(data.get("trial", data))

    def raw_xml(self, pmid: str) -> bytes | None:
        """The record's XML as the source sent it."""
        row = self.db.execute("SELECT raw_xml FROM articles WHERE pmid = ?", (pmid,)).fetchone()
        return zlib.decompress(row[0]) if row and row[0] else None

    # -- items ------------------------------------------------------------------

    def article_items(self, pmids: Sequence[str], *, history: bool = True) -> list[ArticleItem]:
        """The articles among ``pmids``, as items, in the order given (PMIDs the
        library does not hold are left out). ``history`` loads their events."""
        pmids = list(dict.fromkeys(pmids))
        found: dict[str, ArticleItem] = {}
        for chunk, marks in chunks(pmids):
            for pmid, data, first, updated, fetched in self.db.execute(
                    "SELECT pmid, data, first_seen_at, updated_at, fetched_at FROM articles "
                    f"WHERE pmid IN ({marks})", chunk):
                found[pmid] = ArticleItem(Article.from_record(json.loads(data)), [], first,
                                          updated, fetched)
        held = list(found)
        for pmid, names in self.query_names(held).items():
            found[pmid].queries = names
        for pmid, links in self._trials_for_articles(held).items():
            found[pmid].trials = links
        for pmid, watched in self._watches_cited_by(held).items():
            found[pmid].cites_watched = watched
        for watch in self.watches():
            if watch.pmid in found:
                found[watch.pmid].watched_as = watch
                found[watch.pmid].cited_by_count = self.citing_count(watch.pmid)
        protocols = [p for p in held if found[p].article.design == "protocol"]
        for pmid in self._protocols_with_results(protocols):
            found[pmid].protocol_has_results = True
        if history:
            for (_, pmid), events in self._events("pmid", held).items():
                found[pmid].events = events
            for pmid, versions in self._versions(held).items():
                found[pmid].versions = versions
        return [found[p] for p in pmids if p in found]

    def versions(self, key: str) -> list[dict[str, Any]]:
        """The versions of a work the library has seen (preprint versions, the
        journal version, from Europe PMC): preprints first, then its probable versions."""
        return self._versions([key]).get(key, [])

    def _versions(self, keys: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for chunk, marks in chunks(list(keys)):
            for row in self.db.execute(
                    "SELECT pmid, version_key, kind, server, version, doi, posted, link, "
                    f"withdrawn FROM work_versions WHERE pmid IN ({marks}) "
                    "ORDER BY kind DESC, posted, version_key", chunk):
                out.setdefault(str(row[0]), []).append({
                    "id": row[1], "kind": row[2], "server": row[3], "version": row[4],
                    "doi": row[5], "posted": row[6], "link": row[7], "withdrawn": bool(row[8])})
            for key, other, evidence in self.db.execute(
                    f"SELECT pmid, other, evidence FROM probable_versions WHERE pmid IN ({marks}) "
                    f"UNION ALL SELECT other, pmid, evidence FROM probable_versions "
                    f"WHERE other IN ({marks})", [*chunk, *chunk]):
                out.setdefault(str(key), []).append({
                    "id": other, "kind": "probable", "link": "probable",
                    "evidence": json.loads(evidence)})
        return out

    def trial_items(self, ncts: Sequence[str], *, history: bool = True) -> list[TrialItem]:
        """The registered trials among ``ncts``, as items, in the order given."""
        ncts = list(dict.fromkeys(n.upper() for n in ncts))
        found: dict[str, TrialItem] = {}
        for chunk, marks in chunks(ncts):
            for nct, data, first, updated, fetched in self.db.execute(
                    "SELECT nct_id, data, first_seen_at, updated_at, fetched_at FROM trials "
                    f"WHERE nct_id IN ({marks})", chunk):
                parsed = json.loads(data)
                found[nct] = TrialItem(Trial.from_record(parsed.get("trial", parsed)), [],
                                       first, updated, fetched)
        held = list(found)
        for nct, names in self.trial_query_names(held).items():
            found[nct].queries = names
        for nct in held:
            found[nct].publications = self._publications(found[nct].trial)
        if history:
            for (_, nct), events in self._events("nct_id", held).items():
                found[nct].events = events
        return [found[n] for n in ncts if n in found]

    def items(self, keys: Sequence[tuple[str, str]], *, history: bool = True) -> list[Item]:
        """Items of any kind by key (``("article", pmid)``, ``("trial", nct)``), in order."""
        pmids = [i for k, i in keys if k == "article"]
        ncts = [i for k, i in keys if k == "trial"]
        by_key: dict[tuple[str, str], Item] = {}
        for a in self.article_items(pmids, history=history):
            by_key[a.key] = a
        for t in self.trial_items(ncts, history=history):
            by_key[t.key] = t
        return [by_key[k] for k in keys if k in by_key]

    def _events(self, column: str, ids: Sequence[str]) -> dict[tuple[str, str], list[Event]]:
        out: dict[tuple[str, str], list[Event]] = {}
        kind = "article" if column == "pmid" else "trial"
        other = "nct_id" if column == "pmid" else "pmid"
        for chunk, marks in chunks(ids):
            for ident, *row in self.db.execute(
                    f"SELECT {column}, id, kind, detail, created_at, run_id FROM events "
                    f"WHERE {column} IN ({marks}) AND {other} IS NULL ORDER BY id", chunk):
                out.setdefault((kind, str(ident)), []).append(_event(row))
        return out

    # -- links between works ------------------------------------------------------

    def _trials_for_articles(self, pmids: Sequence[str]) -> dict[str, list[TrialLink]]:
        """The registered trials linked to each paper, either way: NCT numbers the
        paper names, and trials whose registry record lists the paper."""
        via: dict[str, dict[str, list[str]]] = {}
        for chunk, marks in chunks(pmids):
            for pmid, nct in self.db.execute(
                    f"SELECT pmid, trial_id FROM article_trial_ids WHERE pmid IN ({marks}) "
                    "AND trial_id LIKE 'NCT%' ORDER BY trial_id", chunk):
                via.setdefault(pmid, {}).setdefault(str(nct).upper(), []).append("paper")
            for pmid, nct in self.db.execute(
                    "SELECT j.value, t.nct_id FROM trials t, json_each(t.reference_pmids) j "
                    f"WHERE j.value IN ({marks}) ORDER BY t.nct_id", chunk):
                via.setdefault(str(pmid), {}).setdefault(str(nct), []).append("registry")
        ncts = sorted({n for links in via.values() for n in links})
        held = {}
        for chunk, marks in chunks(ncts):
            for nct, data in self.db.execute(
                    f"SELECT nct_id, data FROM trials WHERE nct_id IN ({marks})", chunk):
                parsed = json.loads(data)
                held[nct] = Trial.from_record(parsed.get("trial", parsed))
        return {pmid: [TrialLink(nct, tuple(how), held.get(nct))
                       for nct, how in sorted(links.items())]
                for pmid, links in via.items()}

    def _publications(self, trial: Trial) -> list[PublicationLink]:
        """Publications linked to a trial either way: papers naming its NCT
        number, then the registry's own references (held in the library or not)."""
        from_papers = self.publications_naming(trial.nct_id)
        pmids = list(dict.fromkeys([*from_papers, *trial.reference_pmids]))
        articles = {}
        for chunk, marks in chunks(pmids):
            for pmid, data in self.db.execute(
                    f"SELECT pmid, data FROM articles WHERE pmid IN ({marks})", chunk):
                articles[pmid] = Article.from_record(json.loads(data))
        paper_side = set(from_papers)
        return [PublicationLink(
            pmid, tuple(w for w, ok in (("paper", pmid in paper_side),
                                        ("registry", pmid in trial.reference_pmids)) if ok),
            articles.get(pmid)) for pmid in pmids]

    def publications_naming(self, nct_id: str) -> list[str]:
        """PMIDs of the library's papers that name the trial ``nct_id``, oldest first
        (protocol, then results, then follow-ups, as a rule)."""
        return [str(r[0]) for r in self.db.execute(
            "SELECT a.pmid FROM article_trial_ids t JOIN articles a ON a.pmid = t.pmid "
            "WHERE t.trial_id = ? ORDER BY coalesce(a.entrez_date, printf('%04d', a.year)), "
            "a.pmid", (nct_id.upper(),))]

    def _protocols_with_results(self, pmids: Sequence[str]) -> set[str]:
        """Protocols among ``pmids`` for whose registered trial another record in the
        library reports results (a trial or observational design)."""
        found: set[str] = set()
        for chunk, marks in chunks(pmids):
            found.update(str(r[0]) for r in self.db.execute(
                f"SELECT DISTINCT p.pmid FROM article_trial_ids p JOIN article_trial_ids o "
                f"ON o.trial_id = p.trial_id AND o.pmid != p.pmid JOIN articles a "
                f"ON a.pmid = o.pmid WHERE p.pmid IN ({marks}) AND a.design IN "
                "('rct', 'trial', 'observational')", chunk))
        return found

    def find_article(self, ident: Identifier) -> str | None:
        """The PMID of the article a PMID, DOI or PMCID names, or None."""
        column = {"pmid": "pmid", "pmcid": "pmcid", "doi": "doi", "ppr": "pmid"}.get(ident.kind)
        if column is None:
            return None
        row = self.db.execute(f"SELECT pmid FROM articles WHERE {column} = ? LIMIT 1",
                              (ident.value,)).fetchone()
        if row is None:
            # another version's identifier (a preprint's DOI, a merged PPR id's PMID)
            row = self.db.execute("SELECT pmid FROM work_ids WHERE kind = ? AND value = ? "
                                  "LIMIT 1", (ident.kind, ident.value)).fetchone()
        return str(row[0]) if row else None

    # -- saved query names ----------------------------------------------------

    def query_names(self, pmids: Sequence[str]) -> dict[str, list[str]]:
        """PMID -> the saved query names that found it."""
        return self._names("memberships", "pmid", pmids)

    def trial_query_names(self, ncts: Sequence[str]) -> dict[str, list[str]]:
        """NCT number -> the saved registry query names that found it."""
        return self._names("trial_memberships", "nct_id", ncts)

    def _names(self, table: str, column: str, ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {i: [] for i in ids}
        for chunk, marks in chunks(list(ids)):
            for ident, name in self.db.execute(
                    f"SELECT DISTINCT m.{column}, q.name FROM {table} m JOIN query_versions q "
                    f"ON q.id = m.query_version_id WHERE m.{column} IN ({marks}) ORDER BY q.name",
                    chunk):
                out.setdefault(ident, []).append(name)
        return out

    def saved_query_names(self) -> list[str]:
        """Every saved query name that has run into this library."""
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT name FROM query_versions ORDER BY name")]

    def check_filters(self, filters: Filters) -> Filters:
        """``filters``, once its ``--query`` names a query that has run here."""
        if filters.query is not None:
            known = self.saved_query_names()
            if filters.query not in known:
                raise UnknownQuery(
                    f"--query {filters.query!r} has not been run into this library; known: "
                    f"{', '.join(known) if known else '(none yet: run kettrack run)'}")
        return filters

    # -- full-text search --------------------------------------------------------

    def fts_articles(self, expression: str, *, filters: Filters | None = None,
                     limit: int | None = 20, snippet_tokens: int = 24,
                     raw: bool = False,
                     ranked: bool = True) -> list[tuple[str, float, str, int | None]]:
        """Articles matching an FTS5 ``expression``, best first:
        (PMID, BM25 score, higher is better, highlighted snippet, year).
        With ``ranked=False``, any ``limit`` of them, unscored (0.0): for an
        expression that matches most of the library, where BM25 would score
        every row for nothing.

        With ``raw`` (the user's own FTS5 syntax), an expression FTS5 rejects is a
        :class:`SearchSyntaxError`; otherwise the expression is trusted.
        """
        where, args = (filters or Filters()).article_sql("a")
        try:
            rows = self._ranked(ARTICLES_FTS, "articles a", "a.pmid", "a.year", ARTICLE_WEIGHTS,
                                expression, where, args, limit, snippet_tokens, ranked)
        except sqlite3.OperationalError as exc:
            if not raw:
                raise
            raise SearchSyntaxError(
                f"--raw expression {expression[:80]!r} is not valid FTS5 syntax ({exc})"
            ) from None
        return [(str(p), round(-float(r), 4), s or "", y) for p, r, s, y in rows]

    def fts_trials(self, expression: str, *, filters: Filters | None = None,
                   limit: int | None = 20,
                   snippet_tokens: int = 24) -> list[tuple[str, float, str, int | None]]:
        """Registered trials matching ``expression``, best first (their own BM25).

        An expression the trials' index cannot run (a ``--raw`` column filter such
        as ``abstract:x``, which only articles have) finds no trial: not an error,
        since the articles' search ran it.
        """
        scope = (filters or Filters()).trial_sql("t")
        if scope is None:
            return []
        where, args = scope
        try:
            rows = self._ranked(TRIALS_FTS, "trials t", "t.nct_id", "substr(t.first_posted, 1, 4)",
                                TRIAL_WEIGHTS, expression, where, args, limit, snippet_tokens)
        except sqlite3.OperationalError:
            return []
        return [(str(n), round(-float(r), 4), _json_list_text(s or ""),
                 int(y) if y and str(y).isdigit() else None) for n, r, s, y in rows]

    def _ranked(self, fts: str, table: str, key: str, year: str, weights: Sequence[float],
                expression: str, where: str, args: Sequence[Any], limit: int | None,
                snippet_tokens: int, ranked: bool = True) -> list[tuple[Any, ...]]:
        """(key, rank, snippet, year) rows of ``table`` whose FTS5 index ``fts`` matches.

        ORDER BY the index's own rank column (weights given by "rank MATCH") lets
        FTS5 hand rows over already sorted, so snippet() runs only for the rows
        returned, not for every match as it would under SQLite's sorter.
        """
        alias = table.split()[-1]
        bm25 = ", ".join(str(w) for w in weights)
        sql = (
            f"SELECT {key}, f.rank, snippet({fts}, -1, ?, ?, '…', ?), {year} "
            f"FROM {fts} f JOIN {table} ON {alias}.rowid = f.rowid "
            f"WHERE {fts} MATCH ? AND f.rank MATCH 'bm25({bm25})'{where} ORDER BY f.rank"
        ) if ranked else (
            f"SELECT {key}, 0.0, '', {year} FROM {fts} f JOIN {table} ON {alias}.rowid = f.rowid "
            f"WHERE {fts} MATCH ?{where}"
        )
        if not ranked:
            params_: list[Any] = [expression, *args]
            if limit is not None:
                sql += " LIMIT ?"
                params_.append(limit)
            return list(self.db.execute(sql, params_).fetchall())
        params: list[Any] = [MARK_OPEN, MARK_CLOSE, snippet_tokens, expression, *args]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return list(self.db.execute(sql, params).fetchall())

    def fts_fields(self, expression: str, *, filters: Filters | None = None,
                   limit: int = 40) -> list[tuple[str, float, float, float]]:
        """The ``limit`` best articles for an FTS5 ``expression`` by plain BM25 (every
        column weighted alike), each as (PMID, BM25, BM25 of the title alone, BM25 of
        the abstract alone), higher is better; equal scores in rowid order.

        Ordered by the ``bm25()`` function, not FTS5's ``rank`` column: SQLite then
        keeps only the best ``limit`` rows as it scores, where ``ORDER BY rank`` has
        FTS5 sort every matching row first (13,000 rows for a claim in a library of
        100,000: a third of the time). Unfiltered, the articles table is read only
        for the rows returned, not joined to every match."""
        where, args = (filters or Filters()).article_sql("a")
        scores = (f"bm25({ARTICLES_FTS}, 1, 1, 1, 1) AS score, bm25({ARTICLES_FTS}, 1, 0, 0, 0), "
                  f"bm25({ARTICLES_FTS}, 0, 1, 0, 0)")
        if where:
            rows = self.db.execute(
                f"SELECT a.pmid, {scores} FROM {ARTICLES_FTS} f "
                f"JOIN articles a ON a.rowid = f.rowid WHERE {ARTICLES_FTS} MATCH ?{where} "
                "ORDER BY score, f.rowid LIMIT ?", [expression, *args, limit]).fetchall()
        else:
            ranked = self._best_rows(
                f"SELECT rowid, {scores} FROM {ARTICLES_FTS} WHERE {ARTICLES_FTS} MATCH ? "
                "AND rowid BETWEEN ? AND ? ORDER BY score, rowid LIMIT ?", expression, limit)
            pmids: dict[int, str] = {}
            for chunk, marks in chunks([r[0] for r in ranked]):
                pmids.update(self.db.execute(
                    f"SELECT rowid, pmid FROM articles WHERE rowid IN ({marks})", chunk))
            rows = [(pmids[r[0]], *r[1:]) for r in ranked if r[0] in pmids]
        return [(str(p), -float(r), -float(t), -float(b)) for p, r, t, b in rows]

    def _best_rows(self, sql: str, expression: str, limit: int) -> list[tuple[Any, ...]]:
        """The ``limit`` best rows of ``sql`` (an FTS5 query taking the expression, a
        rowid range and the limit, ordered by score then rowid). In a library of
        more than :data:`PARALLEL_FROM` articles, the older half of the rowids is
        searched on a second connection in a thread while this one searches the
        newer half (SQLite scores without Python's lock, so the two cores share
        the work), and the two lists are merged: the same rows, in the same order,
        as one search; BM25's statistics are the whole index's either way."""
        top = self.db.execute(f"SELECT max(id) FROM {ARTICLES_FTS}_docsize").fetchone()[0] or 0
        helper = self._helper() if top > PARALLEL_FROM else None
        if helper is None:
            return self.db.execute(sql, [expression, 0, top, limit]).fetchall()
        pool, conn = helper
        middle = top // 2
        older = pool.submit(lambda: conn.execute(sql, [expression, 0, middle, limit]).fetchall())
        newer = self.db.execute(sql, [expression, middle + 1, top, limit]).fetchall()
        return sorted([*older.result(), *newer], key=lambda r: (r[1], r[0]))[:limit]

    def _helper(self) -> tuple[ThreadPoolExecutor, sqlite3.Connection] | None:
        """A thread and a second read connection to this library, for
        :meth:`_best_rows`; None where there can be none (a library in memory,
        or one inside a transaction, whose uncommitted rows another connection
        would not see)."""
        return None

    def term_counts(self, words: Sequence[str], prefix: int = 5
                    ) -> tuple[int, dict[str, int]]:
        """(articles held, {word: about how many articles hold it}), for weighting
        a claim's rare words above its common ones. A word is counted by its first
        ``prefix`` letters (the index holds porter stems: "studies" is "studi"), as
        its commonest indexed word with that start, read from FTS5's own term
        statistics (an ``fts5vocab`` table in the connection's temp schema, so
        nothing is written to the library).

        Counting means reading a word's whole list of articles, so in a library of
        more than :data:`TERM_SAMPLE` articles a word is first looked for in the
        oldest :data:`TERM_SAMPLE` of them; one that more than :data:`SAMPLED_SHARE`
        of those hold ("ketamine" in a ketamine library) gets that count scaled up,
        the others are counted exactly. Estimates only ever belong to common words,
        whose weight is small either way."""
        self.db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{ARTICLES_FTS}_terms "
                        f"USING fts5vocab(main, '{ARTICLES_FTS}', 'row')")
        total = self.db.execute(f"SELECT count(*) FROM {ARTICLES_FTS}_docsize").fetchone()[0]
        bound = None
        if total > TERM_SAMPLE:
            bound = self.db.execute(f"SELECT id FROM {ARTICLES_FTS}_docsize ORDER BY id "
                                    "LIMIT 1 OFFSET ?", (TERM_SAMPLE - 1,)).fetchone()[0]
        counts = {}
        for word in dict.fromkeys(words):
            if bound is not None and '"' not in word:
                held = self.db.execute(
                    f"SELECT count(*) FROM {ARTICLES_FTS} WHERE {ARTICLES_FTS} MATCH ? "
                    "AND rowid <= ?", (f'"{word}"', bound)).fetchone()[0]
                if held > SAMPLED_SHARE * TERM_SAMPLE:
                    counts[word] = round(held * total / TERM_SAMPLE)
                    continue
            start = word[:prefix]
            counts[word] = self.db.execute(
                f"SELECT coalesce(max(doc), 0) FROM temp.{ARTICLES_FTS}_terms "
                "WHERE term >= ? AND term < ?", (start, start + "\uffff")).fetchone()[0]
        return int(total), counts

    def article_texts(self, pmids: Sequence[str]) -> list[tuple[Any, ...]]:
        """(pmid, title, abstract, MeSH, keywords, design, year, retracted) of each
        held article, for judging claim-check candidates without building items."""
        out: list[tuple[Any, ...]] = []
        for chunk, marks in chunks(list(pmids)):
            out += self.db.execute(
                "SELECT pmid, title, abstract, mesh_text, keywords_text, design, year, retracted "
                f"FROM articles WHERE pmid IN ({marks})", chunk).fetchall()
        return out

    def trial_texts(self, ncts: Sequence[str]) -> list[tuple[Any, ...]]:
        """(nct_id, title, official title, acronym, conditions, interventions, first posted)."""
        out: list[tuple[Any, ...]] = []
        for chunk, marks in chunks(list(ncts)):
            out += self.db.execute(
                "SELECT nct_id, title, coalesce(official_title, ''), coalesce(acronym, ''), "
                "conditions, interventions, first_posted FROM trials "
                f"WHERE nct_id IN ({marks})", chunk).fetchall()
        return out

    # -- digests --------------------------------------------------------------

    def unreported(self, kind: str, cutoff: str | None = None) -> list[str]:
        """IDs of works of ``kind`` (article, trial) no marked digest has reported,
        and, with ``cutoff``, those first seen on or after it."""
        table, key = {"article": ("articles", "pmid"), "trial": ("trials", "nct_id")}[kind]
        sql = (f"SELECT {key} FROM {table} WHERE {key} NOT IN "
               "(SELECT item_id FROM digest_items WHERE item_type = ?)")
        params: list[Any] = [kind]
        if cutoff:
            sql += " OR first_seen_at >= ?"
            params.append(cutoff)
        return [str(r[0]) for r in self.db.execute(sql, params)]

    def unreported_events(self, kinds: Sequence[str], cutoff: str | None = None
                          ) -> list[tuple[tuple[str, str], Event]]:
        """Events of ``kinds`` no marked digest has reported (and, with ``cutoff``,
        those created on or after it), oldest first, each with its work's key."""
        marks = ", ".join("?" * len(kinds))
        sql = (f"SELECT pmid, nct_id, id, kind, detail, created_at, run_id FROM events "
               f"WHERE kind IN ({marks}) AND (CAST(id AS TEXT) NOT IN "
               "(SELECT item_id FROM digest_items WHERE item_type = 'event')")
        params: list[Any] = list(kinds)
        if cutoff:
            sql += " OR created_at >= ?"
            params.append(cutoff)
        sql += ") ORDER BY id"
        out = []
        for pmid, nct, *row in self.db.execute(sql, params):
            if pmid:
                out.append((("article", str(pmid)), _event(row)))
            elif nct:
                out.append((("trial", str(nct)), _event(row)))
        return out

    def last_digest(self) -> dict[str, Any] | None:
        """The most recent marked digest (id, created_at, since, format, sent_to, status)."""
        row = self.db.execute(
            "SELECT id, created_at, since, format, sent_to, status FROM digests "
            "ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        keys = ("id", "created_at", "since", "format", "sent_to", "status")
        out = dict(zip(keys, row, strict=True))
        out["sent_to"] = json.loads(out["sent_to"]) if out["sent_to"] else None
        return out

    def digest_listing(self, digest_id: int
                       ) -> tuple[str, str | None, list[tuple[str, str, str]]] | None:
        """An earlier digest: (created_at, since, [(item_type, item_id, section)])."""
        row = self.db.execute("SELECT created_at, since FROM digests WHERE id = ?",
                              (digest_id,)).fetchone()
        if row is None:
            return None
        listed = self.db.execute(
            "SELECT item_type, item_id, section FROM digest_items WHERE digest_id = ? "
            "ORDER BY rowid", (digest_id,)).fetchall()
        return row[0], row[1], [(str(t), str(i), str(s)) for t, i, s in listed]

    def events_by_id(self, ids: Sequence[int]) -> dict[int, tuple[tuple[str, str], Event]]:
        """Events by id, each with its work's key."""
        out: dict[int, tuple[tuple[str, str], Event]] = {}
        for chunk, marks in chunks(list(ids)):
            for pmid, nct, *row in self.db.execute(
                    "SELECT pmid, nct_id, id, kind, detail, created_at, run_id FROM events "
                    f"WHERE id IN ({marks})", chunk):
                event = _event(row)
                key = ("article", str(pmid)) if pmid else ("trial", str(nct))
                out[event.id] = (key, event)
        return out

    # -- exports ----------------------------------------------------------------

    def article_slice(self, filters: Filters | None = None, *, newest_first: bool = False,
                      limit: int | None = None) -> list[ArticleItem]:
        """The articles in the slice, oldest PMID first (or newest in the library first)."""
        where, args = (filters or Filters()).article_sql("a")
        order = ("a.first_seen_at DESC, coalesce(a.entrez_date, '') DESC, "
                 "CAST(a.pmid AS INTEGER) DESC" if newest_first else "CAST(a.pmid AS INTEGER)")
        sql = f"SELECT a.pmid FROM articles a WHERE 1{where} ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        pmids = [str(r[0]) for r in self.db.execute(sql, args)]
        return self.article_items(pmids)

    # -- the corrections check ---------------------------------------------------

    def pmids(self, *, include_reserved: bool = False) -> list[str]:
        """Every PMID the library holds that NCBI knows (snapshot-only ones left out,
        unless ``include_reserved``: the offline stand-in serves them; works keyed
        by a preprint id or PMCID, from Europe PMC, are never PMIDs)."""
        return [str(r[0]) for r in self.db.execute(
                "SELECT pmid FROM articles WHERE pmid GLOB '[1-9]*' ORDER BY pmid")
                if include_reserved or not is_reserved_pmid(r[0])]

    def notice_targets(self, links: dict[str, str]) -> dict[str, set[str]]:
        """flag column -> held records that a held notice (a ``RetractionOf``,
        ``ErratumFor`` ... link; ``links`` maps the link type to the flag) names."""
        out: dict[str, set[str]] = {flag: set() for flag in links.values()}
        test = " OR ".join("instr(data, ?)" for _ in links)
        rows = self.db.execute(f"SELECT data FROM articles WHERE {test}",
                               [f'"{link}"' for link in links])
        for (data,) in rows:
            for c in json.loads(data).get("corrections") or []:
                flag = links.get(c.get("ref_type"))
                if flag and c.get("pmid"):
                    out[flag].add(str(c["pmid"]))
        return out

    def unflagged(self, flag: str, pmids: set[str]) -> set[str]:
        """Which of ``pmids`` the library holds without ``flag`` (retracted,
        has_erratum, has_concern) set."""
        if flag not in ("retracted", "has_erratum", "has_concern"):
            raise ValueError(f"not a flag column: {flag}")
        out: set[str] = set()
        for chunk, marks in chunks(sorted(pmids)):
            out.update(r[0] for r in self.db.execute(
                f"SELECT pmid FROM articles WHERE pmid IN ({marks}) AND NOT {flag}", chunk))
        return out

    # -- living reviews ----------------------------------------------------------

    def review(self, name: str) -> Review | None:
        """The review called ``name``, or None."""
        found = [r for r in self.reviews() if r.name == name]
        return found[0] if found else None

    def reviews(self) -> list[Review]:
        """Every review, by name."""
        queries: dict[int, list[str]] = {}
        for review_id, query in self.db.execute(
                "SELECT review_id, query_name FROM review_queries ORDER BY query_name"):
            queries.setdefault(int(review_id), []).append(str(query))
        return [Review(int(i), str(n), tuple(queries.get(int(i), [])),
                       tuple(json.loads(reasons)), tuple(json.loads(keywords)), str(desc),
                       int(seed), str(created))
                for i, n, desc, reasons, keywords, seed, created in self.db.execute(
                    "SELECT id, name, description, reasons, keywords, seed, created_at "
                    "FROM reviews ORDER BY name")]

    def review_hits(self, review: Review) -> list[tuple[str, str, str, str]]:
        """(item_type, item_id, query name, source) for every record each of the
        review's saved queries found (any version), oldest first in the library."""
        if not review.queries:
            return []
        marks = ", ".join("?" * len(review.queries))
        rows = self.db.execute(
            "SELECT 'article', m.pmid, q.name, q.source, a.first_seen_at FROM memberships m "
            "JOIN query_versions q ON q.id = m.query_version_id JOIN articles a ON "
            f"a.pmid = m.pmid WHERE q.name IN ({marks}) UNION "
            "SELECT 'trial', m.nct_id, q.name, q.source, t.first_seen_at FROM trial_memberships m "
            "JOIN query_versions q ON q.id = m.query_version_id JOIN trials t ON "
            f"t.nct_id = m.nct_id WHERE q.name IN ({marks}) ORDER BY 5, 1, 2, 3",
            [*review.queries, *review.queries])
        return [(str(k), str(i), str(n), str(s)) for k, i, n, s, _ in rows]

    def decision_trail(self, review_id: int) -> list[Decision]:
        """Every screening decision of a review, undo rows included, oldest first."""
        return [Decision(int(i), (str(k), str(item)), str(d), r, n, str(who), str(when),
                         str(via), u)
                for i, k, item, d, r, n, u, who, when, via in self.db.execute(
                    "SELECT id, item_type, item_id, decision, reason, note, undoes, reviewer, "
                    "decided_at, via FROM screening_decisions WHERE review_id = ? ORDER BY id",
                    (review_id,))]

    def screening_texts(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The words a screening model learns from, per record: title, abstract, MeSH
        and keywords of articles; titles, conditions and interventions of trials."""
        out: dict[tuple[str, str], str] = {}
        pmids = [i for k, i in keys if k == "article"]
        ncts = [i for k, i in keys if k == "trial"]
        for pmid, title, abstract, mesh, words, *_ in self.article_texts(pmids):
            out[("article", str(pmid))] = "\n".join((title, abstract, mesh, words))
        for nct, *texts, _ in self.trial_texts(ncts):
            out[("trial", str(nct))] = "\n".join(_json_list_text(str(t)) for t in texts)
        return out

    def find_trial(self, nct_id: str) -> str | None:
        """The NCT number, if the library holds that registered trial."""
        row = self.db.execute("SELECT nct_id FROM trials WHERE nct_id = ?",
                              (nct_id.upper(),)).fetchone()
        return str(row[0]) if row else None

    # -- stats ----------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts for ``kettrack stats`` (its JSON shape is documented in docs/json.md)."""
        one = self.db.execute
        designs = dict(one("SELECT design, count(*) FROM articles GROUP BY design "
                           "ORDER BY count(*) DESC, design").fetchall())
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

    # -- citation watches -----------------------------------------------------

    def watches(self) -> list[Watch]:
        """Every watch, by name."""
        return [Watch(*row) for row in self.db.execute(
            "SELECT name, pmid, given, label, query_version_id, created_at FROM watches "
            "ORDER BY name")]

    def watch(self, name: str) -> Watch | None:
        """The watch called ``name``, or None."""
        row = self.db.execute(
            "SELECT name, pmid, given, label, query_version_id, created_at FROM watches "
            "WHERE name = ?", (name,)).fetchone()
        return Watch(*row) if row else None

    def watches_cited_by(self, pmid: str) -> list[Watch]:
        """The watched papers ``pmid`` cites, by any source's account."""
        return [Watch(*row) for row in self.db.execute(
            "SELECT DISTINCT w.name, w.pmid, w.given, w.label, w.query_version_id, "
            "w.created_at FROM citations c JOIN watches w ON w.pmid = c.cited_pmid "
            "WHERE c.citing_pmid = ? ORDER BY w.name", (pmid,))]

    def _watches_cited_by(self, pmids: Sequence[str]) -> dict[str, list[Watch]]:
        """PMID -> the watched papers it cites (only PMIDs that cite one)."""
        out: dict[str, list[Watch]] = {}
        for chunk, marks in chunks(list(pmids)):
            for citing, *row in self.db.execute(
                    "SELECT DISTINCT c.citing_pmid, w.name, w.pmid, w.given, w.label, "
                    "w.query_version_id, w.created_at FROM citations c JOIN watches w "
                    f"ON w.pmid = c.cited_pmid WHERE c.citing_pmid IN ({marks}) "
                    "ORDER BY w.name", chunk):
                out.setdefault(citing, []).append(Watch(*row))
        return out

    def citing_count(self, pmid: str) -> int:
        """How many papers the library's watch runs saw citing ``pmid``."""
        return int(self.db.execute(
            "SELECT count(DISTINCT citing_pmid) FROM citations WHERE cited_pmid = ?",
            (pmid,)).fetchone()[0])


def _json_list_text(snippet: str) -> str:
    """A snippet of a JSON list column (conditions) as plain words: ``a; b``."""
    return snippet.replace('", "', "; ").replace('["', "").replace('"]', "")
