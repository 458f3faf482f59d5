"""Full-text search of the library: SQLite FTS5, ranked by BM25, with snippets.

The index is ``articles_fts`` (title, abstract, MeSH, keywords; porter
stemming), created and kept in step by sqlite-utils' triggers. What a user
types is never handed to FTS5 as syntax: :func:`match_expression` turns it into
quoted words and phrases, so quotes, hyphens, ``AND``/``OR``/``NOT``/``NEAR``,
parentheses, colons and asterisks are just words. Only ``raw=True`` (``--raw``)
passes FTS5 syntax through, and then a bad expression is a
:class:`~kettrack.errors.SearchSyntaxError`.

The filters (``--design``, ``--since``, ``--query``) are shared with ``check``
and ``export`` through :class:`Filters`.

Registered trials
    ``trials_fts`` indexes the registry records (title, official title, acronym,
    conditions, interventions; the same porter stemming), and the same
    expression searches it. A registry record is not published evidence and
    its BM25 is not on the articles' scale (a different, much smaller index), so
    trials come after the articles, with ``score`` 0 (``match_score`` holds their
    own BM25, which orders them among themselves). So that they are not always
    crowded out by a long list of articles, up to a quarter of ``--limit``
    (:data:`TRIAL_SHARE`) is kept for the matching trials; slots they do not
    need go to articles, and articles fewer than the limit leave the rest to
    trials. ``--design`` leaves trials out (a registry record has no study
    design), ``--since`` compares the day a trial was first posted, ``--query``
    the registry query that found it.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from kettrack.errors import ConfigError, SearchSyntaxError, UnknownQuery
from kettrack.library.design import DESIGNS
from kettrack.library.store import Library
from kettrack.library.trial import trial_result

FTS_TABLE = "articles_fts"
TRIAL_FTS_TABLE = "trials_fts"
#: trials' BM25 column weights: title, official title, acronym, conditions, interventions
TRIAL_BM25_WEIGHTS = (4.0, 2.0, 4.0, 3.0, 3.0)
#: up to 1/TRIAL_SHARE of a search's --limit is kept for registered trials
TRIAL_SHARE = 4
#: BM25 column weights: title, abstract, MeSH, keywords. A word in the title
#: or the indexing says more about what a paper is about than one in passing.
BM25_WEIGHTS = (8.0, 1.0, 3.0, 3.0)
#: what FTS5's snippet() puts around a matched word; display code turns these
#: into bold, JSON into ``**word**``
MARK_OPEN, MARK_CLOSE = "\x02", "\x03"
#: user text beyond this many words is ignored (FTS5 would cope; BM25 over a
#: pasted page would not be a useful ranking, nor fast)
MAX_TERMS = 32
DEFAULT_LIMIT = 20

_WORD = re.compile(r"[^\W_]+")
_QUOTED = re.compile(r'"([^"]*)"')


@dataclass(frozen=True)
class Filters:
    """The slice of the library a command looks at (each filter optional)."""

    designs: tuple[str, ...] = ()
    since: date | None = None
    query: str | None = None

    def validate(self, library: Library) -> Filters:
        """Check the design names and that the query name is in the library."""
        for d in self.designs:
            if d not in DESIGNS:
                raise ConfigError(f"--design {d!r} is not a design; one of {', '.join(DESIGNS)}")
        if self.query is not None:
            known = [r[0] for r in library.db.execute(
                "SELECT DISTINCT name FROM query_versions ORDER BY name")]
            if self.query not in known:
                raise UnknownQuery(
                    f"--query {self.query!r} has not been run into this library; known: "
                    f"{', '.join(known) if known else '(none yet: run kettrack run)'}")
        return self

    def sql(self, alias: str = "a") -> tuple[str, list[Any]]:
        """``AND ...`` conditions on the articles table (aliased ``alias``) and their
        parameters; an empty string when nothing is filtered."""
        parts: list[str] = []
        args: list[Any] = []
        if self.designs:
            parts.append(f"{alias}.design IN ({', '.join('?' * len(self.designs))})")
            args.extend(self.designs)
        if self.since is not None:
            # the day it entered PubMed; the publication year for records without one
            parts.append(f"coalesce({alias}.entrez_date, printf('%04d-01-01', {alias}.year)) >= ?")
            args.append(self.since.isoformat())
        if self.query is not None:
            parts.append(
                f"{alias}.pmid IN (SELECT m.pmid FROM memberships m JOIN query_versions q "
                "ON q.id = m.query_version_id WHERE q.name = ?)")
            args.append(self.query)
        return "".join(f" AND {p}" for p in parts), args

    def trial_sql(self, alias: str = "t") -> tuple[str, list[Any]] | None:
        """Like :meth:`sql`, for the trials table; None when the filters leave every
        trial out (``--design``: a registry record is not a study design)."""
        if self.designs:
            return None
        parts: list[str] = []
        args: list[Any] = []
        if self.since is not None:
            parts.append(f"{alias}.first_posted >= ?")
            args.append(self.since.isoformat())
        if self.query is not None:
            parts.append(
                f"{alias}.nct_id IN (SELECT m.nct_id FROM trial_memberships m JOIN "
                "query_versions q ON q.id = m.query_version_id WHERE q.name = ?)")
            args.append(self.query)
        return "".join(f" AND {p}" for p in parts), args


def parse_since(value: str | None, option: str = "--since") -> date | None:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` as the first day it names."""
    if value is None:
        return None
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}", text):
            return date(int(text), 1, 1)
        if re.fullmatch(r"\d{4}-\d{2}", text):
            return date(int(text[:4]), int(text[5:]), 1)
        return date.fromisoformat(text)
    except ValueError:
        pass
    raise ConfigError(f"{option} {value!r} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)")


def fts_phrase(words: list[str], *, prefix: bool = False) -> str:
    """An FTS5 string for ``words`` (one phrase); only letters and digits go in,
    so nothing in it can be FTS5 syntax."""
    return '"' + " ".join(words) + '"' + ("*" if prefix else "")


def words_of(text: str) -> list[str]:
    """The letter-and-digit runs in ``text`` (FTS5's unicode61 splits the same way)."""
    return _WORD.findall(text)


def match_expression(text: str) -> str | None:
    """A safe FTS5 MATCH expression for what a user typed, or None if it has no words.

    Balanced double quotes make a phrase; every other whitespace-separated chunk
    is a phrase of its words (``open-label`` matches "open label"). All are
    ANDed, as a search box does. Operators, parentheses, colons and asterisks
    are dropped with the other punctuation, so ``NOT`` is simply the word "not".
    """
    chunks: list[list[str]] = []
    last = 0
    for m in _QUOTED.finditer(text):
        chunks.extend(words_of(c) for c in text[last:m.start()].split())
        chunks.append(words_of(m.group(1)))
        last = m.end()
    chunks.extend(words_of(c) for c in text[last:].split())
    phrases = []
    for words in chunks:
        if words:
            phrases.append(fts_phrase(words[:MAX_TERMS]))
        if len(phrases) >= MAX_TERMS:
            break
    return " ".join(phrases) if phrases else None


@dataclass
class SearchHit:
    """One match: BM25 score (higher is better) and a highlighted snippet.

    An article's ``pmid``; or, for a registered trial, ``nct_id`` (``pmid`` empty)
    and its BM25 in the trials' own index.
    """

    pmid: str
    score: float
    snippet: str
    year: int | None = None
    nct_id: str | None = None


def fts_hits(library: Library, expression: str, *, filters: Filters | None = None,
             limit: int | None = DEFAULT_LIMIT, raw: bool = False,
             snippet_tokens: int = 24) -> list[SearchHit]:
    """Run a MATCH ``expression`` (already FTS5 syntax), best first.

    With ``raw``, an expression FTS5 rejects raises SearchSyntaxError; without
    it, the expression is trusted to come from :func:`match_expression`.
    """
    where, args = (filters or Filters()).sql("a")
    try:
        rows = _ranked(library, FTS_TABLE, "articles a", "a.pmid", "a.year", BM25_WEIGHTS,
                       expression, where, args, limit, snippet_tokens)
    except sqlite3.OperationalError as exc:
        if not raw:
            raise
        raise SearchSyntaxError(
            f"--raw expression {expression[:80]!r} is not valid FTS5 syntax ({exc})") from None
    return [SearchHit(str(p), round(-float(r), 4), s or "", y) for p, r, s, y in rows]


def _ranked(library: Library, fts: str, table: str, key: str, year: str,
            weights: Sequence[float], expression: str, where: str, args: Sequence[Any],
            limit: int | None, snippet_tokens: int) -> list[tuple[Any, ...]]:
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
    )
    params: list[Any] = [MARK_OPEN, MARK_CLOSE, snippet_tokens, expression, *args]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return list(library.db.execute(sql, params).fetchall())


def _json_list_text(snippet: str) -> str:
    """A snippet of a JSON list column (conditions) as plain words: ``a; b``."""
    return snippet.replace('", "', "; ").replace('["', "").replace('"]', "")


def trial_fts_hits(library: Library, expression: str, *, filters: Filters | None = None,
                   limit: int | None = DEFAULT_LIMIT,
                   snippet_tokens: int = 24) -> list[SearchHit]:
    """Registered trials matching a MATCH ``expression``, best first (own BM25).

    An expression the trials' index cannot run (a ``--raw`` column filter such
    as ``abstract:x``, which only articles have) finds no trial; it is not an
    error, since the articles' search ran it.
    """
    scope = (filters or Filters()).trial_sql("t")
    if scope is None:
        return []
    where, args = scope
    try:
        rows = _ranked(library, TRIAL_FTS_TABLE, "trials t", "t.nct_id",
                       "substr(t.first_posted, 1, 4)", TRIAL_BM25_WEIGHTS, expression, where,
                       args, limit, snippet_tokens)
    except sqlite3.OperationalError:
        return []
    return [SearchHit("", round(-float(r), 4), _json_list_text(s or ""),
                      int(y) if y and str(y).isdigit() else None, nct_id=str(n))
            for n, r, s, y in rows]


def with_trials(articles: list[SearchHit], trials: list[SearchHit],
                limit: int) -> list[SearchHit]:
    """Articles first, then trials: up to ``limit // TRIAL_SHARE`` trial slots
    when articles would fill the list, more when there are fewer articles."""
    room = max(min(len(trials), limit // TRIAL_SHARE), limit - len(articles))
    taken = trials[:max(room, 0)]
    return articles[:limit - len(taken)] + taken


def search(library: Library, text: str, *, filters: Filters | None = None,
           limit: int = DEFAULT_LIMIT, raw: bool = False,
           trials: bool = True) -> list[SearchHit]:
    """Search the library for ``text``: words unless ``raw``; empty text finds nothing.

    Registered trials that match follow the articles (see the module
    docstring), unless ``trials`` is False.
    """
    if raw:
        if not text.strip():
            raise SearchSyntaxError("--raw expression is empty")
        if "\x00" in text:
            raise SearchSyntaxError("--raw expression contains a NUL character")
        expression = text
        articles = fts_hits(library, text, filters=filters, limit=limit, raw=True)
    else:
        found = match_expression(text)
        if found is None:
            return []
        expression = found
        articles = fts_hits(library, expression, filters=filters, limit=limit)
    if not trials:
        return articles
    return with_trials(articles, trial_fts_hits(library, expression, filters=filters,
                                                limit=limit), limit)


def marked(snippet: str, open_: str = "**", close: str = "**") -> str:
    """A snippet with its match markers replaced (``**word**`` by default)."""
    return snippet.replace(MARK_OPEN, open_).replace(MARK_CLOSE, close)


def search_results(library: Library, hits: list[SearchHit]) -> list[dict[str, Any]]:
    """``search --json``: each hit as DESIGN.md's article plus score and snippet.

    A registered trial is :func:`kettrack.library.trial.trial_result`'s item, with
    ``score`` 0 (it is not published evidence; see the module docstring),
    ``match_score`` (its BM25 among trials) and ``snippet``.
    """
    names = library.query_names([h.pmid for h in hits if h.nct_id is None])
    out = []
    for hit in hits:
        if hit.nct_id is not None:
            item = trial_result(library, hit.nct_id)
            if item is not None:
                item.update(score=0.0, match_score=hit.score, snippet=marked(hit.snippet))
                out.append(item)
            continue
        article = library.article(hit.pmid)
        if article is None:  # deleted between the search and now
            continue
        data = article.to_json()
        data["item_type"] = "article"
        data["queries"] = names.get(hit.pmid, [])
        data["score"] = hit.score
        data["snippet"] = marked(hit.snippet)
        out.append(data)
    return out
