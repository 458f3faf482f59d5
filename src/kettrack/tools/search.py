"""``kettrack search TEXT``: full-text search of the library, ranked by BM25, with snippets.

The indexes are FTS5 tables kept in step by sqlite-utils' triggers
(``articles_fts``: title, abstract, MeSH, keywords; ``trials_fts``: title,
official title, acronym, conditions, interventions; porter stemming). What a
user types is never handed to FTS5 as syntax: :func:`match_expression` turns it
into quoted words and phrases, so quotes, hyphens, ``AND``/``OR``/``NOT``/``NEAR``,
parentheses, colons and asterisks are just words. Only ``raw=True``
(``--raw``) passes FTS5 syntax through, and then a bad expression is a
:class:`~kettrack.errors.SearchSyntaxError`.

Registered trials
    A registry record is not published evidence and its BM25 is not on the
    articles' scale (a different, much smaller index), so trials come after the
    articles, with ``score`` 0 (``match_score`` holds their own BM25, which
    orders them among themselves). So that they are not always crowded out by a
    long list of articles, up to a quarter of ``--limit`` (:data:`TRIAL_SHARE`)
    is kept for the matching trials; slots they do not need go to articles, and
    articles fewer than the limit leave the rest to trials. ``--design`` leaves
    trials out (a registry record has no study design), ``--since`` compares the
    day a trial was first posted, ``--query`` the registry query that found it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kettrack.errors import SearchSyntaxError
from kettrack.library.filters import Filters
from kettrack.library.items import Item
from kettrack.library.reading import MARK_CLOSE, MARK_OPEN
from kettrack.library.store import Library

#: up to 1/TRIAL_SHARE of a search's --limit is kept for registered trials
TRIAL_SHARE = 4
#: user text beyond this many words is ignored (FTS5 would cope; BM25 over a
#: pasted page would not be a useful ranking, nor fast)
MAX_TERMS = 32
DEFAULT_LIMIT = 20

_WORD = re.compile(r"[^\W_]+")
_QUOTED = re.compile(r'"([^"]*)"')


def fts_phrase(words: list[str], *, prefix: bool = False) -> str:
    """An FTS5 string for ``words`` (one phrase); only letters and digits go in,
    so nothing in it can be FTS5 syntax."""
    return '"' + " ".join(words) + '"' + ("*" if prefix else "")


#: every ASCII character that is not a letter or digit, as a space
_ASCII_SEPARATORS = str.maketrans({c: " " for c in range(128) if not chr(c).isalnum()})


def words_of(text: str) -> list[str]:
    """The letter-and-digit runs in ``text`` (FTS5's unicode61 splits the same way).
    ASCII text, most of any abstract, is split without the regular expression:
    the same words, four times as fast."""
    if text.isascii():
        return text.translate(_ASCII_SEPARATORS).split()
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
    """One match: the item, its score (BM25, higher is better; 0 for a registered
    trial, whose own BM25 is ``match_score``) and a highlighted snippet (match
    markers :data:`~kettrack.library.reading.MARK_OPEN` / ``MARK_CLOSE``)."""

    item: Item
    score: float
    snippet: str
    match_score: float | None = None


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
    """Search the library for ``text``: words unless ``raw``; text without a word
    is :class:`SearchSyntaxError` (there is nothing to look for).

    Registered trials that match follow the articles (see the module
    docstring), unless ``trials`` is False.
    """
    if raw:
        if not text.strip():
            raise SearchSyntaxError("--raw expression is empty")
        if "\x00" in text:
            raise SearchSyntaxError("--raw expression contains a NUL character")
        expression = text
    else:
        found = match_expression(text)
        if found is None:
            raise SearchSyntaxError(f"{text[:60]!r} has no words to search for")
        expression = found
    rows = library.fts_articles(expression, filters=filters, limit=limit, raw=raw)
    items = {i.id: i for i in library.article_items([r[0] for r in rows])}
    articles = [SearchHit(items[p], score, snippet) for p, score, snippet, _ in rows
                if p in items]
    if not trials:
        return articles
    trial_rows = library.fts_trials(expression, filters=filters, limit=limit)
    held = {t.id: t for t in library.trial_items([r[0] for r in trial_rows])}
    found_trials: list[SearchHit] = [
        SearchHit(held[n], 0.0, snippet, match_score=score)
        for n, score, snippet, _ in trial_rows if n in held]
    return with_trials(articles, found_trials, limit)


def marked(snippet: str, open_: str = "**", close: str = "**") -> str:
    """A snippet with its match markers replaced (``**word**`` by default)."""
    return snippet.replace(MARK_OPEN, open_).replace(MARK_CLOSE, close)
