"""check's first stage: the shortcuts that make it fast at 100,000 articles give
the answers the plain way gives.

Each shortcut (two halves searched on two connections, common words counted in
a sample, word-splitting without the regular expression, one pass over a
candidate's words) is compared with the plain computation on the offline
library's real abstracts, the shortcut forced on by lowering its threshold.
"""

from __future__ import annotations

import json
import math
import os
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest

from kettrack.library import reading
from kettrack.library.filters import Filters
from kettrack.library.store import Library
from kettrack.tools import check
from kettrack.tools.search import _WORD, words_of

from .writer_library import copy_offline_library, invoke

EXPRESSIONS = ['"ketamine" OR "relapse"', '"single dose" OR "infusion" OR "therapy"',
               '"alcohol"', '"synaptogenesis" OR "synapse"', '"nothingmatchesthis"']


@pytest.fixture
def library(kettrack_env: Path) -> Iterator[Library]:
    lib = Library.open(copy_offline_library(kettrack_env / "library.db"))
    yield lib
    lib.close()


def test_two_halves_on_two_connections_give_one_searchs_rows(
        library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "PARALLEL_FROM", 10**9)
    plain = {e: library.fts_fields(e, limit=40) for e in EXPRESSIONS}
    assert library._second is None
    monkeypatch.setattr(reading, "PARALLEL_FROM", 0)
    halves = {e: library.fts_fields(e, limit=40) for e in EXPRESSIONS}
    assert library._second is not None  # the second connection really searched
    assert halves == plain
    assert all(library.fts_fields(e, limit=3) == library.fts_fields(e, limit=40)[:3]
               for e in EXPRESSIONS)
    assert len(plain['"ketamine" OR "relapse"']) == 40


def test_two_halves_order_equal_scores_by_rowid(library: Library,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "PARALLEL_FROM", 0)
    rows = library.fts_fields('"ketamine"', limit=100)
    order = {p: r for p, r in library.db.execute("SELECT pmid, rowid FROM articles")}
    keys = [(-score, order[pmid]) for pmid, score, _, _ in rows]
    assert keys == sorted(keys)


def test_filters_and_open_transactions_search_on_one_connection(
        library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "PARALLEL_FROM", 0)
    filtered = library.fts_fields('"ketamine"', filters=Filters(designs=["rct"]), limit=40)
    assert filtered and library._second is None
    assert {p for p, *_ in filtered} <= {
        p for (p,) in library.db.execute("SELECT pmid FROM articles WHERE design = 'rct'")}
    with library.transaction():
        assert library._helper() is None  # it would not see the uncommitted rows
    assert Library.memory()._helper() is None


def test_common_words_counted_in_a_sample_rare_words_exactly(
        library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    words = ["ketamine", "alcohol", "synaptogenesis", "reconsolidation", "zzzz"]
    monkeypatch.setattr(reading, "TERM_SAMPLE", 10**9)
    total, exact = library.term_counts(words)
    monkeypatch.setattr(reading, "TERM_SAMPLE", 20)
    monkeypatch.setattr(reading, "SAMPLED_SHARE", 0.1)
    same_total, sampled = library.term_counts(words)
    assert same_total == total > 20
    assert exact["ketamine"] > 0.5 * total  # common: estimated from the sample
    assert abs(sampled["ketamine"] - exact["ketamine"]) <= 0.25 * total
    for rare in ("synaptogenesis", "reconsolidation", "zzzz"):
        assert sampled[rare] == exact[rare]  # rare: counted exactly
    assert exact["zzzz"] == 0


def test_ascii_text_splits_into_the_same_words_as_the_regular_expression() -> None:
    texts = [string.printable, "open-label, n=23; HR 0.50 (95% CI 0.3-0.8)\tok_go",
             "a\x1cb\x1fc\x0bd", "ketamine_infusion__x", "", "   ", "é ketamine ünd 5‐HT"]
    texts += [" ".join(chr(c) * 3 for c in range(128))]
    for text in texts:
        assert words_of(text) == _WORD.findall(text), text


def _reference_features(ranker: check.Ranker, title: str, text: str) -> list[float]:
    """Ranker.features computed the plain way: every word of every piece kept."""
    def starts(piece: str) -> list[str]:
        return [w[:check.PREFIX] for w in re.findall(r"[^\W_]+", piece.lower())]
    pieces = [starts(title), *(starts(p) for p in re.split(r"(?<=[.!?;])\s+|\n", text))]
    held = {w for piece in pieces for w in piece}
    in_sentence = max(ranker._share(set(piece)) for piece in pieces)
    side = {pair for piece in pieces for pair in zip(piece, piece[1:], strict=False)}
    pairs = (sum(1 for p in ranker.pairs if p in side) / len(ranker.pairs)
             if ranker.pairs else 0.0)
    plain = sum(1 for w in ranker.words if w in held) / len(ranker.words)
    numbers = (len(ranker.numbers & check._numbers(f"{title} {text}")) / len(ranker.numbers)
               if ranker.numbers else 0.0)
    return [ranker._share(held), ranker._share(set(pieces[0])), in_sentence, pairs, plain,
            numbers, math.log(sum(len(p) for p in pieces) + 1) / 6]


@pytest.mark.parametrize("claim", [
    "a single dose of ketamine with therapy cut relapse dramatically",
    "ketamine promotes synaptogenesis and neuroplasticity in rats",
    "esketamine nasal spray 56 mg is safe for alcoholics. Really; truly",
])
def test_one_pass_over_a_candidates_words_gives_the_plain_features(
        library: Library, claim: str) -> None:
    ranker = check.Ranker(library, claim, check.load_vocabulary())
    rows = library.db.execute("SELECT title, abstract, mesh_text, keywords_text "
                              "FROM articles").fetchall()
    assert len(rows) > 20
    rows += [("A title. With a stop; inside it", "ketamine dose.\nsingle therapy! relapse", "",
              ""), ("", "", "", "")]
    for title, abstract, mesh, keywords in rows:
        text = f"{abstract or ''}\n{mesh or ''}\n{keywords or ''}"
        assert ranker.features(title or "", text) == pytest.approx(
            _reference_features(ranker, title or "", text), abs=1e-12)


@pytest.mark.parametrize("read_only", [False, True])
def test_check_answers_alike_on_one_connection_or_two(
        kettrack_env: Path, monkeypatch: pytest.MonkeyPatch, read_only: bool) -> None:
    copy_offline_library(kettrack_env / "library.db")
    if read_only:  # as tests/test_library_file.py stands in for a file the user cannot write
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode == os.W_OK
                            else real_access(p, mode, **kw))
    answers = []
    for threshold in (10**9, 0):
        monkeypatch.setattr(reading, "PARALLEL_FROM", threshold)
        result = invoke("check", "a single dose of ketamine cut relapse", "--json")
        assert result.exit_code == 0, result.output
        answers.append(json.loads(result.stdout))
    assert answers[0] == answers[1] and len(answers[0]) >= 3
