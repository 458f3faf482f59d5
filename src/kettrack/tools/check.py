"""``kettrack check CLAIM``: the evidence in the library that bears on a claim.

How a claim is read
    The claim is split into *concepts*. Phrases found in the field's vocabulary
    (``vocabulary/claims.toml``) become one concept each, searched as an
    OR-group of all their synonyms ("alcoholism" also finds "alcohol use
    disorder", "AUD"...). Remaining words, less the stopwords listed in the same
    file, are one concept each. Vocabulary groups of kind ``drug`` and
    ``condition`` are the library's background (nearly every record is about
    ketamine and alcohol); kind ``effect`` groups (reduce, improve...) are
    generic; everything else is a *topic* concept.

Retrieval
    FTS5 queries over the claim's topic concepts (see
    :func:`retrieval_expressions`): first records naming all of them, then, if
    that finds fewer than asked for, records naming any; BM25 orders each, and
    the best :data:`CANDIDATES` of each are judged.

Relevance threshold (what "bears on the claim" means)
    A hit must match at least half of the claim's concepts (at least two when
    the claim has two or more), and, when the claim has topic concepts, at
    least a third of those (at least one). A concept matches when any of its
    terms occurs in the title, abstract, MeSH or keywords. Anything below the
    threshold is not shown; when nothing passes, the answer is an empty list
    and the CLI says so plainly.

Ranking
    Relevance first (the share of the claim's concepts matched, topic concepts
    counting double and concepts named in the title, MeSH or keywords half as
    much again; compared in steps of 0.1), then design strength (:data:`DESIGN_RANK`: meta-analysis,
    systematic review, RCT, other trial, observational, case report,
    preclinical, then narrative review, protocol, other), then recency, then
    BM25. A retracted paper stays in the list, flagged, but after the others
    of its relevance: a writer must see that a claim rests on it.

Registered trials
    The same retrieval runs over the registry records (``trials_fts``: title,
    official title, acronym, conditions, interventions) and the same threshold
    judges them, the title and official title counting as "named". A registry
    record is not published evidence, so a trial ranks as if it were one
    relevance step (:data:`TRIAL_PENALTY`) less relevant than it is, and after
    every article of that step: it never outranks published evidence of similar
    relevance, only papers that bear on the claim clearly less. Its ``score`` is
    that lowered relevance (``relevance`` the unlowered one), its ``design``
    ``registered-trial``, and ``evidence`` says what it can tell: still under way
    (not evidence yet), completed without results posted, or results posted and
    the publications linked to it. ``--design`` leaves trials out; ``--since``
    and ``--query`` apply to the day a trial was first posted and the registry
    query that found it. When only trials pass the threshold, the library holds
    no published evidence on the claim, and the answer says so.

``check_online`` runs the claim's key terms as a PubMed search through the
normal pipeline first (see :func:`online_query`).
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from kettrack.library.article import Article
from kettrack.library.filters import Filters
from kettrack.library.items import ArticleItem, Item, TrialItem
from kettrack.library.store import Library
from kettrack.library.trial import REGISTERED_DESIGN
from kettrack.queries import SavedQuery
from kettrack.text import sentences
from kettrack.tools.search import fts_phrase, words_of

#: how many BM25 candidates (at least; three times --limit) are judged per retrieval query
CANDIDATES = 60
DEFAULT_LIMIT = 10

DESIGN_RANK = {d: i for i, d in enumerate((
    "meta-analysis", "systematic-review", "rct", "trial", "observational", "case-report",
    "preclinical", "review", "protocol", "other", REGISTERED_DESIGN))}
#: how much less relevant a registered trial ranks than it is (one relevance step)
TRIAL_PENALTY = 0.1
BACKGROUND_KINDS = {"drug", "condition"}
GENERIC_KINDS = {"effect"}


# -- the vocabulary ----------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """One concept of the field and all the ways of saying it."""

    name: str
    terms: tuple[str, ...]
    kind: str = "topic"


@dataclass(frozen=True)
class Vocabulary:
    """The groups and stopwords of ``vocabulary/claims.toml``."""

    groups: tuple[Group, ...]
    stopwords: frozenset[str]

    def kind(self, kind: str) -> list[Group]:
        """The groups of one kind (``drug``, ``condition``...)."""
        return [g for g in self.groups if g.kind == kind]


def parse_vocabulary(text: str) -> Vocabulary:
    """Read a vocabulary file's text."""
    data = tomllib.loads(text)
    groups = tuple(
        Group(str(g["name"]), tuple(str(t) for t in g["terms"]), str(g.get("kind", "topic")))
        for g in data.get("group", [])
    )
    return Vocabulary(groups, frozenset(str(w).lower() for w in data.get("stopwords", [])))


@lru_cache(maxsize=1)
def load_vocabulary() -> Vocabulary:
    """The vocabulary packaged with kettrack (``kettrack/vocabulary/claims.toml``)."""
    text = resources.files("kettrack").joinpath("vocabulary/claims.toml").read_text("utf-8")
    return parse_vocabulary(text)


# -- reading a claim ---------------------------------------------------------


def _norm(text: str) -> list[str]:
    return [w.lower() for w in words_of(text)]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light suffix-stripper, used alike on claims and abstracts to decide
    whether a concept occurs (FTS5's porter stemmer decides retrieval)."""
    w = word.lower()
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    for suffix in ("ational", "ations", "ation", "ments", "ment", "ings", "ing", "edly", "ed",
                   "es", "s", "ly"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            break
    return w[:-1] if w.endswith("e") and len(w) > 4 else w


@dataclass(frozen=True)
class Term:
    """One way of saying a concept: words, the last a prefix if ``prefix``."""

    words: tuple[str, ...]
    prefix: bool = False

    @classmethod
    def parse(cls, text: str) -> Term:
        """``"relaps*"`` -> Term(("relaps",), prefix=True)."""
        prefix = text.rstrip().endswith("*")
        return cls(tuple(_norm(text)), prefix)

    def fts(self) -> str:
        """This term as an FTS5 phrase (safe: letters and digits only)."""
        return fts_phrase(list(self.words), prefix=self.prefix)

    def pubmed(self) -> str:
        """This term in PubMed syntax, searched in title and abstract."""
        text = " ".join(self.words)
        if self.prefix:
            return f"{text}*[tiab]" if len(self.words) == 1 else f'"{text}*"[tiab]'
        return f'"{text}"[tiab]' if len(self.words) > 1 else f"{text}[tiab]"


@dataclass(frozen=True)
class Concept:
    """One thing a claim asserts something about."""

    label: str
    terms: tuple[Term, ...]
    kind: str = "topic"  # drug, condition, effect, topic

    @property
    def weight(self) -> int:
        return 2 if self.kind == "topic" else 1

    def fts(self) -> str:
        """The OR-group of this concept's terms."""
        inner = " OR ".join(t.fts() for t in self.terms if t.words)
        return f"({inner})" if len(self.terms) > 1 else inner


def read_claim(claim: str, vocabulary: Vocabulary | None = None) -> list[Concept]:
    """The concepts of ``claim``: vocabulary phrases (longest first), then other words."""
    vocab = vocabulary or load_vocabulary()
    words = _norm(claim)[:64]
    used = [False] * len(words)
    entries: list[tuple[Term, Group]] = []
    for group in vocab.groups:
        entries.extend((Term.parse(t), group) for t in group.terms)
    entries = [(t, g) for t, g in entries if t.words]
    entries.sort(key=lambda e: -len(e[0].words))
    found: dict[str, Concept] = {}
    for term, group in entries:
        n = len(term.words)
        for i in range(len(words) - n + 1):
            if any(used[i:i + n]):
                continue
            window = words[i:i + n]
            same = window[:-1] == list(term.words[:-1]) and (
                window[-1].startswith(term.words[-1]) if term.prefix
                else stem(window[-1]) == stem(term.words[-1]))
            if not same:
                continue
            for j in range(i, i + n):
                used[j] = True
            if group.name not in found:
                found[group.name] = Concept(
                    group.name, tuple(Term.parse(t) for t in group.terms), group.kind)
    concepts = list(found.values())
    seen = {c.label for c in concepts}
    for i, word in enumerate(words):
        if used[i] or word in vocab.stopwords or not any(c.isalpha() for c in word):
            continue
        if len(word) < 2 or word in seen:
            continue
        seen.add(word)
        concepts.append(Concept(word, (Term((word,)),), "topic"))
    return concepts


# -- judging a candidate -----------------------------------------------------


class _Text:
    """An article's words, raw and stemmed, for deciding which concepts occur."""

    def __init__(self, text: str) -> None:
        raw = _norm(text)
        self.raw = " " + " ".join(raw) + " "
        stems = [stem(w) for w in raw]
        self.stems = set(stems)
        self.stemmed = " " + " ".join(stems) + " "


@lru_cache(maxsize=4096)
def _term_key(term: Term) -> tuple[str, str]:
    """How :class:`_Text` looks a term up: a stem, a prefix, or a stemmed phrase."""
    if term.prefix:
        return "prefix", f" {' '.join(term.words)}"
    if len(term.words) == 1:
        return "word", stem(term.words[0])
    return "phrase", f" {' '.join(stem(w) for w in term.words)} "


class Matcher:
    """Decides which of a claim's concepts occur in a text (keys worked out once)."""

    def __init__(self, concepts: Sequence[Concept]) -> None:
        self.concepts = list(concepts)
        self.keys = [[_term_key(t) for t in c.terms] for c in self.concepts]

    def __call__(self, text: str) -> list[Concept]:
        words = _Text(text)
        found = []
        for concept, keys in zip(self.concepts, self.keys, strict=True):
            for kind, key in keys:
                if key in (words.stems if kind == "word" else
                           words.raw if kind == "prefix" else words.stemmed):
                    found.append(concept)
                    break
        return found


def is_relevant(matched: Sequence[Concept], concepts: Sequence[Concept]) -> bool:
    """The relevance threshold (see the module docstring)."""
    n = len(concepts)
    if n == 0:
        return False
    if len(matched) < max(math.ceil(n / 2), min(2, n)):
        return False
    topics = [c for c in concepts if c.kind == "topic"]
    if topics:
        hit = sum(1 for c in matched if c.kind == "topic")
        if hit < max(1, math.ceil(len(topics) / 3)):
            return False
    return True


def relevance(matched: Sequence[Concept], concepts: Sequence[Concept],
              in_title: Sequence[Concept] = ()) -> float:
    """Weighted share of the claim's concepts matched, 0..1: topics count double,
    and a concept the title (or MeSH, keywords) names counts half as much again,
    since that is what the paper is about rather than what it mentions."""
    total = 1.5 * sum(c.weight for c in concepts)
    got = sum(c.weight for c in matched) + 0.5 * sum(c.weight for c in in_title)
    return round(got / total, 3) if total else 0.0


def tier(score: float) -> int:
    """Relevance in steps of 0.1: within a step, design strength decides the order."""
    return int(score * 10 + 1e-9)


def best_sentences(article: Article, concepts: Sequence[Concept], n: int = 2) -> list[str]:
    """The one or two abstract sentences that match most of the claim, in abstract order.

    Sentences in RESULTS and CONCLUSIONS sections win ties: they say what was found.
    """
    match = Matcher(concepts)
    scored: list[tuple[float, int, str]] = []
    index = 0
    for section in article.abstract_sections:
        finding = (section.category or section.label or "").upper() in {
            "RESULTS", "CONCLUSIONS", "FINDINGS", "INTERPRETATION"}
        for sentence in sentences(section.text):
            found = match(sentence)
            score = sum(c.weight for c in found) + (0.5 if finding and found else 0.0)
            if score > 0:
                scored.append((score, index, sentence))
            index += 1
    best = sorted(scored, key=lambda s: (-s[0], s[1]))[:n]
    return [s for _, _, s in sorted(best, key=lambda s: s[1])]


# -- answering ---------------------------------------------------------------


def retrieval_expressions(concepts: Sequence[Concept]) -> list[str]:
    """The FTS5 queries that fetch candidates, tried in turn until enough are found.

    Only topic concepts retrieve when the claim has any: the threshold needs a
    topic match anyway, and the background groups ("ketamine", "alcohol") match
    nearly the whole library, which would make BM25 score every record. First
    every topic concept (AND of their OR-groups), then any of them (OR).
    """
    topics = [c for c in concepts if c.kind == "topic"]
    chosen = topics or list(concepts)
    expressions = [" OR ".join(c.fts() for c in chosen)]
    if len(chosen) > 1:
        expressions.insert(0, " AND ".join(c.fts() for c in chosen))
    return expressions


@dataclass
class Evidence:
    """One work that bears on a claim: a paper, or a registered trial (which is not
    published evidence: see the module docstring)."""

    item: Item
    relevance: float
    bm25: float
    matched: list[Concept]
    sentences: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        """The relevance it ranks with: a registered trial's is one step lower."""
        if isinstance(self.item, TrialItem):
            return trial_score(self.relevance)
        return self.relevance


def trial_score(relevance: float) -> float:
    """A registered trial's ranking score: its relevance less :data:`TRIAL_PENALTY`."""
    return max(0.0, round(relevance - TRIAL_PENALTY, 3))


@dataclass
class CheckResult:
    """The answer to a claim: the concepts read from it and what bears on it, best first."""

    claim: str
    concepts: list[Concept]
    ranked: list[Evidence] = field(default_factory=list)
    candidates: int = 0

    @property
    def evidence(self) -> list[Evidence]:
        """The published works among the answers."""
        return [e for e in self.ranked if isinstance(e.item, ArticleItem)]

    @property
    def trials(self) -> list[Evidence]:
        """The registered trials among the answers."""
        return [e for e in self.ranked if isinstance(e.item, TrialItem)]


#: a judged candidate: (sort key, item key, relevance, concepts matched, BM25)
_Judged = tuple[tuple[Any, ...], tuple[str, str], float, list[Concept], float]


def _candidates(search: Any, concepts: Sequence[Concept], limit: int) -> dict[str, float]:
    bm25: dict[str, float] = {}
    for expression in retrieval_expressions(concepts):
        for ident, score, _, _ in search(expression, max(CANDIDATES, 3 * limit)):
            bm25.setdefault(ident, score)
        if len(bm25) >= limit:
            break
    return bm25


def check(library: Library, claim: str, *, limit: int = DEFAULT_LIMIT,
          filters: Filters | None = None, vocabulary: Vocabulary | None = None) -> CheckResult:
    """The library's evidence on ``claim``, strongest first (see the module docstring)."""
    concepts = read_claim(claim, vocabulary)
    result = CheckResult(claim, concepts)
    if not concepts:
        return result
    match = Matcher(concepts)
    judged: list[_Judged] = []
    bm25 = _candidates(lambda e, n: library.fts_articles(e, filters=filters, limit=n,
                                                        snippet_tokens=1), concepts, limit)
    result.candidates = len(bm25)
    for pmid, title, abstract, mesh, keywords, design, year, retracted in \
            library.article_texts(list(bm25)):
        matched = match(f"{title}\n{abstract}\n{mesh}\n{keywords}")
        if not is_relevant(matched, concepts):
            continue
        named = [c for c in match(f"{title}\n{mesh}\n{keywords}") if c in matched]
        score = relevance(matched, concepts, named)
        key = (-tier(score), int(retracted), DESIGN_RANK.get(design, len(DESIGN_RANK)),
               -(year or 0), -bm25[pmid], pmid)
        judged.append((key, ("article", pmid), score, matched, bm25[pmid]))
    trial_bm25 = _candidates(lambda e, n: library.fts_trials(e, filters=filters, limit=n,
                                                            snippet_tokens=1), concepts, limit)
    for nct, title, official, acronym, conditions, interventions, posted in \
            library.trial_texts(list(trial_bm25)):
        named_text = f"{title}\n{official}\n{acronym}"
        matched = match(f"{named_text}\n{conditions}\n{interventions}")
        if not is_relevant(matched, concepts):
            continue
        named = [c for c in match(named_text) if c in matched]
        score = relevance(matched, concepts, named)
        year = int(posted[:4]) if posted and posted[:4].isdigit() else 0
        key = (-tier(trial_score(score)), 0, DESIGN_RANK[REGISTERED_DESIGN], -year,
               -trial_bm25[nct], nct)
        judged.append((key, ("trial", str(nct)), score, matched, trial_bm25[nct]))
    best = sorted(judged, key=lambda j: j[0])[:limit]
    items = {i.key: i for i in library.items([k for _, k, _, _, _ in best])}
    for _, ident, score, matched, bm in best:
        item = items.get(ident)
        if item is None:
            continue
        quoted = (best_sentences(item.article, concepts)
                  if isinstance(item, ArticleItem) else [])
        result.ranked.append(Evidence(item, score, bm, matched, quoted))
    return result


# -- --online ----------------------------------------------------------------


def online_query(claim: str, vocabulary: Vocabulary | None = None) -> SavedQuery | None:
    """The PubMed search ``check --online`` runs for ``claim``, or None if it has no words.

    The drug and condition groups are always ANDed in (this is a library about
    ketamine-type drugs for alcohol use disorder, whether or not the claim names
    them); the claim's other concepts are ORed, each as title/abstract words.
    The query is named ``check:<hash>`` (a colon no saved query file can
    have) and is recorded like a saved query, so ``show`` and ``export --query``
    can name the papers it brought in; it is never run again by ``kettrack run``.
    """
    vocab = vocabulary or load_vocabulary()
    concepts = read_claim(claim, vocab)
    if not concepts:
        return None

    def group_term(terms: Sequence[str]) -> str:
        return "(" + " OR ".join(Term.parse(t).pubmed() for t in terms if _norm(t)) + ")"

    base = [group_term([t for g in vocab.kind(kind) for t in g.terms])
            for kind in ("drug", "condition") if vocab.kind(kind)]
    others = [group_term([" ".join(t.words) + ("*" if t.prefix else "") for t in c.terms])
              for c in concepts if c.kind not in BACKGROUND_KINDS | GENERIC_KINDS]
    parts = list(base)
    if others:
        parts.append("(" + " OR ".join(others) + ")")
    term = " AND ".join(parts)
    digest = hashlib.sha1(term.encode()).hexdigest()[:10]
    return SavedQuery(name=f"check:{digest}", term=term,
                      description=f"check {' '.join(claim.split())[:120]}", tags=("check",))
