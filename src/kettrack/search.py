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
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import date
from typing import Any

from .design import DESIGNS
from .errors import ConfigError, SearchSyntaxError, UnknownQuery
from .store import Library

FTS_TABLE = "articles_fts"
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
    """One matching article: BM25 score (higher is better) and a highlighted snippet."""

    pmid: str
    score: float
    snippet: str
    year: int | None = None


def fts_hits(library: Library, expression: str, *, filters: Filters | None = None,
             limit: int | None = DEFAULT_LIMIT, raw: bool = False,
             snippet_tokens: int = 24) -> list[SearchHit]:
    """Run a MATCH ``expression`` (already FTS5 syntax), best first.

    With ``raw``, an expression FTS5 rejects raises SearchSyntaxError; without
    it, the expression is trusted to come from :func:`match_expression`.
    """
    where, args = (filters or Filters()).sql("a")
    weights = ", ".join(str(w) for w in BM25_WEIGHTS)
    # ORDER BY the table's own rank column (weights given by "rank MATCH") lets
    # FTS5 hand rows over already sorted, so snippet() runs only for the rows
    # returned, not for every match as it would under SQLite's sorter.
    sql = (
        f"SELECT a.pmid, f.rank, snippet({FTS_TABLE}, -1, ?, ?, '…', ?), a.year "
        f"FROM {FTS_TABLE} f JOIN articles a ON a.rowid = f.rowid "
        f"WHERE {FTS_TABLE} MATCH ? AND f.rank MATCH 'bm25({weights})'{where} "
        "ORDER BY f.rank"
    )
    params: list[Any] = [MARK_OPEN, MARK_CLOSE, snippet_tokens, expression, *args]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    try:
        rows = library.db.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if not raw:
            raise
        raise SearchSyntaxError(
            f"--raw expression {expression[:80]!r} is not valid FTS5 syntax ({exc})") from None
    return [SearchHit(str(p), round(-float(r), 4), s or "", y) for p, r, s, y in rows]


def search(library: Library, text: str, *, filters: Filters | None = None,
           limit: int = DEFAULT_LIMIT, raw: bool = False) -> list[SearchHit]:
    """Search the library for ``text``: words unless ``raw``; empty text finds nothing."""
    if raw:
        if not text.strip():
            raise SearchSyntaxError("--raw expression is empty")
        if "\x00" in text:
            raise SearchSyntaxError("--raw expression contains a NUL character")
        return fts_hits(library, text, filters=filters, limit=limit, raw=True)
    expression = match_expression(text)
    if expression is None:
        return []
    return fts_hits(library, expression, filters=filters, limit=limit)


def marked(snippet: str, open_: str = "**", close: str = "**") -> str:
    """A snippet with its match markers replaced (``**word**`` by default)."""
    return snippet.replace(MARK_OPEN, open_).replace(MARK_CLOSE, close)


def search_results(library: Library, hits: list[SearchHit]) -> list[dict[str, Any]]:
    """``search --json``: each hit as DESIGN.md's article plus score and snippet."""
    names = library.query_names([h.pmid for h in hits])
    out = []
    for hit in hits:
        article = library.article(hit.pmid)
        if article is None:  # deleted between the search and now
            continue
        data = article.to_json()
        data["queries"] = names.get(hit.pmid, [])
        data["score"] = hit.score
        data["snippet"] = marked(hit.snippet)
        out.append(data)
    return out
