"""``kettrack check CLAIM``: the evidence in the library that bears on a claim.

How a claim is read
    The claim is split into *concepts*. Phrases found in the field's vocabulary
    (``vocabulary/claims.toml``) become one concept each, searched as an
    OR-group of all their synonyms ("alcoholism" also finds "alcohol use
    disorder", "AUD"...). Remaining words, less the stopwords listed in the same
    file (noise such as "use", "causes", "each", "year", "over", "next", "two"),
    are one concept each. Vocabulary groups of kind ``drug`` and ``condition``
    are the library's background (nearly every record is about ketamine and
    alcohol); kind ``effect`` groups (improve, treat...) are generic, and only
    the claim's own word of them is looked for; kind ``direction`` groups are
    generic too but each says one direction, so all their words are (a claim
    that something *cuts* a thing is matched by a paper saying it *reduces*
    it, never by one saying it *increases* it);
    everything else is a *topic* concept. An institution the claim credits ("a
    Yale study") is not a concept: it is checked against the paper's
    affiliations instead (see :func:`claim_institutions`).

Retrieval (never a false "nothing")
    The first stage is BM25 (FTS5 over title, abstract, MeSH and keywords) over
    every content word of the claim, ORed, as a plain search does: all but the
    stopwords and the institution it credits, and less the words most of the
    library holds (:data:`COMMON_SHARE`; "ketamine", "alcohol" here), which BM25
    weighs at next to nothing. If that finds fewer than :data:`CANDIDATES` (or
    three times ``--limit``), the synonyms of the claim's vocabulary concepts
    widen it, their hits ranked after the claim's own (see
    :func:`first_stage_expressions`): the vocabulary widens the search, it never
    narrows it. Candidates that match only the background concepts are dropped;
    only when none is left are those searched (see :func:`retrieval_expressions`;
    a background-only answer), and only when nothing shares any content word at
    all does the answer say that nothing in the library bears on the claim.
    Scoring every article that shares a claim word is most of the time a check
    takes; in a large library the library scores the two halves of its
    articles on two connections at once (:meth:`Library.fts_fields`), with the
    same rows and order as one search.

How closely a hit matches
    Each concept counts (topic 2, background 1, effect and direction 0.5) with the strength
    of the word that matched it: the claim's own words 1, a synonym from the
    vocabulary 0.75, and a vocabulary term that is only part of the claim's own
    phrase ("therapy" for "psychological therapy") 0.35, so a group can widen a
    search but cannot make a wrong paper a perfect match. ``relevance`` is that
    weighted share, 0..1, and :func:`closeness` says it in words: "matches the
    whole claim", "matches most of the claim", "matches part of the claim", each
    with what it does and does not match.

Ranking
    A learned reranker (:class:`Reranker`: a linear score over :data:`FEATURES`,
    the BM25 scores, the first-stage rank, how much of the claim's wording each
    candidate holds, rare words counting more, in the title, in one sentence and
    side by side, its numbers, and the relevance above; weights in
    ``vocabulary/check_ranker.json``, fitted by ``bench/fit_check_ranker.py`` on
    SciFact's development claims only) is fused with the BM25 order by
    reciprocal rank, so what BM25 puts first stays near the top. That fused
    ``score`` decides, in steps of :data:`SCORE_STEP`: within a step, retracted
    papers last (they rank as if :data:`RETRACTED_PENALTY` lower), then design
    strength (:data:`DESIGN_RANK`: meta-analysis, systematic review, RCT, other
    trial, observational, case report, preclinical, then narrative review,
    protocol, other), then the score itself.

What each hit says
    :func:`judge` reads the abstract sentence by sentence: the quoted sentences
    (``quotes``) are those that bear most on the claim, result sentences first
    ("did not significantly reduce relapse"). The ``stance`` is read from the
    quoted result sentences by :func:`stance_of`: a logistic regression
    (:class:`StanceModel`, over hand-written signals: negation, "no significant
    difference", words opposite to the claim's, direction words against the
    claim's, ratios; weights in ``vocabulary/check_stance.json``, fitted by
    ``bench/fit_check_stance.py`` on SciFact's development claims only) says
    whether they go against the claim: ``contradicts``, or ``no-clear-effect``
    where they report no difference and the claim asserts an effect; otherwise
    ``supports`` (also when the claim denies an effect and they report none);
    ``unclear`` when no result sentence bears on the claim. :func:`mismatch_notes`
    writes what a careful fact-checker would add: a single dose against several
    infusions, a diagnosis against harmful drinkers, people against rats, and
    whether the institution the claim names is among the authors' affiliations
    (stored from PubMed XML).

Registered trials
    The same retrieval runs over the registry records (``trials_fts``: title,
    official title, acronym, conditions, interventions), the title and official
    title counting as "named". A registry record is not published evidence, so
    a trial ranks one closeness band lower than it matches, after the articles
    of that band (its ``score`` is lowered by :data:`TRIAL_PENALTY`), its
    ``design`` is ``registered-trial``, and ``evidence`` says what it can tell.
    ``--design`` leaves trials out; ``--since`` and ``--query`` apply to the day
    a trial was first posted and the registry query that found it.

``check_online`` runs a PubMed search built from the claim's own concepts
through the normal pipeline first (see :func:`online_query`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from collections import Counter
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

#: how many BM25 candidates (at least; three times --limit) are judged
CANDIDATES = 40
DEFAULT_LIMIT = 10

DESIGN_RANK = {d: i for i, d in enumerate((
    "meta-analysis", "systematic-review", "rct", "trial", "observational", "case-report",
    "preclinical", "review", "protocol", "other", REGISTERED_DESIGN))}
#: how much lower a registered trial's score is than an article's of the same match
TRIAL_PENALTY = 0.1
#: how much lower a retracted paper ranks (it stays listed, flagged: a claim may rest on it)
RETRACTED_PENALTY = 0.2
BACKGROUND_KINDS = {"drug", "condition"}
#: generic words of any claim: an ``effect`` word is looked for only as the claim says
#: it; a ``direction`` group (reduce = decrease = cut) says one direction, so all of it
GENERIC_KINDS = {"effect", "direction"}
#: concept weights by kind
WEIGHTS = {"topic": 2.0, "drug": 1.0, "condition": 1.0, "effect": 0.5, "direction": 0.5}
#: the strength of a match: the claim's own words, a synonym, a broader part of its phrase
OWN, SYNONYM, PART = 1.0, 0.75, 0.35
#: how much of ``score`` is BM25 (relative to the best candidate); the rest is relevance
BM25_SHARE = 0.5
#: closeness bands: (lowest relevance, words)
BANDS = ((0.999, "matches the whole claim"), (0.6, "matches most of the claim"),
         (0.0, "matches part of the claim"))


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


def stem(word: str) -> str:
    """A light suffix-stripper, used alike on claims and abstracts to decide
    whether a concept occurs (FTS5's porter stemmer decides retrieval)."""
    return _STEMS[word]


class _Stems(dict[str, str]):
    """Words already stemmed: looked up at C speed (``map(_STEMS.__getitem__,
    words)``), a new word stemmed on its first look-up; emptied when it grows
    past :data:`STEMS_KEPT` words."""

    def __missing__(self, word: str) -> str:
        if len(self) >= STEMS_KEPT:
            self.clear()
        value = self[word] = _stem(word)
        return value


#: how many stemmed words :data:`_STEMS` keeps
STEMS_KEPT = 200_000
_STEMS = _Stems()


def _stem(word: str) -> str:
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
    """One thing a claim asserts something about: ``own`` is how the claim says
    it, ``terms`` every way of saying it (the claim's first)."""

    label: str
    terms: tuple[Term, ...]
    kind: str = "topic"  # drug, condition, effect, topic
    own: tuple[Term, ...] = ()

    @property
    def weight(self) -> float:
        return WEIGHTS.get(self.kind, 2.0)

    @property
    def searched(self) -> tuple[Term, ...]:
        """The terms searched for: an effect word only as the claim says it."""
        if self.kind == "effect" and self.own:
            return self.own
        return self.terms

    def fts(self) -> str:
        """The OR-group of this concept's searched terms."""
        terms = [t for t in self.searched if t.words]
        inner = " OR ".join(dict.fromkeys(t.fts() for t in terms))
        return f"({inner})" if len(terms) > 1 else inner

    def strength(self, term: Term) -> float:
        """How strongly finding ``term`` matches this concept (see the module docstring)."""
        own = self.own or self.terms[:1]
        if term in own:
            return OWN
        stems = [stem(w) for w in term.words]
        for mine in own:
            if len(term.words) < len(mine.words) and all(
                    s in {stem(w) for w in mine.words} for s in stems):
                return PART
        return SYNONYM


#: "a Yale study", "a University College London study", "researchers at Harvard"
_INSTITUTION = re.compile(
    r"\b(?:[Aa]n?|[Tt]he)\s+((?:[A-Z][\w&'.-]*\s+(?:of\s+)?){0,5}?[A-Z][\w&'.-]*)\s+"
    r"(?:study|studies|trial|paper|team|group|researchers?|scientists?|report|survey|analysis)\b"
    r"|\b(?:researchers?|scientists?|team|doctors?)\s+(?:at|from)\s+(?:the\s+)?"
    r"([A-Z][\w&'.-]*(?:\s+(?:of\s+)?[A-Z][\w&'.-]*){0,5})")
#: capitalised words that open a sentence or name a design, not an institution
_NOT_INSTITUTION = {"new", "recent", "single", "large", "small", "randomised", "randomized",
                    "ketamine", "esketamine", "spravato", "landmark", "major", "british",
                    "american", "us", "uk", "pilot", "clinical", "the", "a", "an", "one"}
#: what an institution is also called in affiliations
INSTITUTION_ALIASES = {
    "ucl": ("university college london", "ucl"),
    "university college london": ("university college london", "ucl"),
    "yale": ("yale",),
    "harvard": ("harvard", "massachusetts general hospital", "mclean hospital"),
    "oxford": ("university of oxford", "oxford"),
    "cambridge": ("university of cambridge", "cambridge"),
    "exeter": ("university of exeter", "exeter"),
    "nih": ("national institutes of health", "nih", "niaaa", "nimh", "nida"),
    "cdc": ("centers for disease control", "cdc"),
}


def institution_names(name: str) -> set[str]:
    """What an institution the claim names may be called in an affiliation."""
    lower = name.lower()
    names = {lower}
    for key, aliases in INSTITUTION_ALIASES.items():
        if re.search(rf"\b{re.escape(key)}\b", lower):
            names.update(aliases)
    return names


def claim_institutions(claim: str) -> list[str]:
    """The institutions a claim credits ("a Yale study" -> ["Yale"])."""
    found = []
    for m in _INSTITUTION.finditer(claim):
        name = (m.group(1) or m.group(2) or "").strip()
        words = name.split()
        while words and words[0].lower() in _NOT_INSTITUTION:
            words = words[1:]
        if words and " ".join(words) not in found:
            found.append(" ".join(words))
    return found


@lru_cache(maxsize=4)
def _entries(vocab: Vocabulary) -> list[tuple[Term, Group]]:
    """Every vocabulary term with its group, longest first."""
    entries = [(Term.parse(t), g) for g in vocab.groups for t in g.terms]
    entries = [(t, g) for t, g in entries if t.words]
    entries.sort(key=lambda e: -len(e[0].words))
    return entries


def read_claim(claim: str, vocabulary: Vocabulary | None = None) -> list[Concept]:
    """The concepts of ``claim``: vocabulary phrases (longest first), then other words."""
    vocab = vocabulary or load_vocabulary()
    credited = {w.lower() for name in claim_institutions(claim) for w in words_of(name)}
    words = _norm(claim)[:64]
    used = [w in credited for w in words]
    entries = _entries(vocab)
    found: dict[str, tuple[Group, list[Term]]] = {}
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
            found.setdefault(group.name, (group, []))[1].append(term)
    concepts = []
    for group, own in found.values():
        terms = [Term.parse(t) for t in group.terms]
        ordered = tuple(dict.fromkeys([*own, *terms]))
        own = list(dict.fromkeys(own))
        # an effect word is looked for only as the claim says it, and named so
        label = (" / ".join(" ".join(t.words) for t in own) if group.kind in GENERIC_KINDS
                 else group.name)
        concepts.append(Concept(label, ordered, group.kind, tuple(own)))
    seen = {c.label for c in concepts} | {w for c in concepts for t in c.own for w in t.words}
    # a word the name of a concept already found says ("dose" beside "single" in "a
    # single ketamine dose", read as the concept "single dose") is not a second concept
    named = {stem(w) for c in concepts if c.kind not in GENERIC_KINDS
             for w in c.label.split()}
    for i, word in enumerate(words):
        if used[i] or word in vocab.stopwords or not any(c.isalpha() for c in word):
            continue
        if len(word) < 2 or word in seen or stem(word) in named:
            continue
        seen.add(word)
        concepts.append(Concept(word, (Term((word,)),), "topic", (Term((word,)),)))
    return concepts


# -- judging a candidate -----------------------------------------------------


class _Text:
    """An article's words, raw and stemmed, for deciding which concepts occur
    (the stemmed text only built when a phrase is looked up)."""

    def __init__(self, text: str) -> None:
        # lowered once, joined (as :func:`_norm` lowers word by word: no word's
        # lower case holds a space)
        self.raw = " " + " ".join(words_of(text)).lower() + " "
        self.words = self.raw.split()
        self.stems = set(map(_STEMS.__getitem__, set(self.words)))
        self._stemmed: str | None = None

    @property
    def stemmed(self) -> str:
        if self._stemmed is None:
            self._stemmed = " " + " ".join(map(_STEMS.__getitem__, self.words)) + " "
        return self._stemmed


@lru_cache(maxsize=4096)
def _term_key(term: Term) -> tuple[str, str]:
    """How :class:`_Text` looks a term up: a stem, a prefix, or a stemmed phrase."""
    if term.prefix:
        return "prefix", f" {' '.join(term.words)}"
    if len(term.words) == 1:
        return "word", stem(term.words[0])
    return "phrase", f" {' '.join(stem(w) for w in term.words)} "


class Matcher:
    """Decides which of a claim's concepts occur in a text, and how strongly
    (keys worked out once per claim)."""

    def __init__(self, concepts: Sequence[Concept]) -> None:
        self.concepts = list(concepts)
        self.keys = [sorted(((c.strength(t), _term_key(t)) for t in c.searched),
                            key=lambda k: -k[0]) for c in self.concepts]

    def strengths(self, text: str) -> dict[int, float]:
        """{concept index: strength of its best match} for the concepts in ``text``."""
        words = _Text(text)
        found: dict[int, float] = {}
        for i, keys in enumerate(self.keys):
            for strength, (kind, key) in keys:
                if key in (words.stems if kind == "word" else
                           words.raw if kind == "prefix" else words.stemmed):
                    found[i] = strength
                    break
        return found

    def __call__(self, text: str) -> list[Concept]:
        return [self.concepts[i] for i in self.strengths(text)]


@lru_cache(maxsize=16)
def matcher(concepts: tuple[Concept, ...]) -> Matcher:
    """The :class:`Matcher` of a claim's concepts, built once (a check judges each
    hit with the same one)."""
    return Matcher(concepts)


def relevance(found: dict[int, float], concepts: Sequence[Concept]) -> float:
    """The weighted share of the claim's concepts matched, 0..1 (see the module docstring)."""
    total = sum(c.weight for c in concepts)
    got = sum(concepts[i].weight * s for i, s in found.items())
    return round(got / total, 3) if total else 0.0


def _through_vocabulary(found: dict[int, float], concepts: Sequence[Concept]) -> float:
    """The weighted share of the claim's concepts matched that are vocabulary groups
    (not effect words): what the field's vocabulary knows about the match."""
    total = sum(c.weight for c in concepts)
    got = sum(concepts[i].weight * s for i, s in found.items()
              if len(concepts[i].terms) > len(concepts[i].own)
              and concepts[i].kind not in GENERIC_KINDS)
    return got / total if total else 0.0


def band(score: float) -> int:
    """The closeness band of a relevance: 2 whole claim, 1 most of it, 0 part."""
    for i, (low, _) in enumerate(BANDS):
        if score >= low:
            return len(BANDS) - 1 - i
    return 0


def tier(score: float) -> int:
    """The closeness band (kept under its older name)."""
    return band(score)


def closeness(found: dict[int, float], concepts: Sequence[Concept]) -> str:
    """How closely a hit matches, in words: the band, what it matches and what not."""
    words = BANDS[len(BANDS) - 1 - band(relevance(found, concepts))][1]
    loose = [concepts[i].label for i, s in found.items() if s <= PART]
    missing = [c.label for i, c in enumerate(concepts) if i not in found]
    parts = [words]
    if missing:
        parts.append("not: " + ", ".join(missing))
    if loose:
        parts.append("only loosely: " + ", ".join(loose))
    return "; ".join(parts)


# -- what a paper says -------------------------------------------------------

_RESULT_SECTIONS = {"RESULTS", "CONCLUSIONS", "FINDINGS", "INTERPRETATION"}
_METHOD_SECTIONS = {"BACKGROUND", "OBJECTIVE", "METHODS", "INTRODUCTION", "AIMS", "DESIGN"}
#: words of a sentence that reports a finding
_RESULT = re.compile(
    r"\b(?:significant(?:ly)?|p\s*[<=>≤]|95\s*%|ci\b|odds ratio|hazard ratio|relative risk|"
    r"associated|association|correlat\w*|increas\w*|decreas\w*|reduc\w*|higher|lower|greater|"
    r"improv\w*|found|find|show(?:s|ed|n)?|demonstrat\w*|observed|resulted|led to|compared|"
    r"versus|vs|differ\w*|did not|was not|were not|no evidence|suggest\w*|indicat\w*|"
    r"reveal\w*|identif\w*|conclu\w*|confirm\w*|enhanc\w*|inhibit\w*|induc\w*|caus\w*|"
    r"promot\w*|prevent\w*|block\w*|requir\w*|essential|necessary|depend\w*|mediat\w*|"
    r"predict\w*|linked|affect\w*|attenuat\w*|abolish\w*|impair\w*|protect\w*|results?|"
    r"effective|efficacy|safe|tolerated|adverse events?|risk|rate|prevalence|incidence)\b",
    re.IGNORECASE)
#: words of a sentence that sets a study up rather than reports it
_SETUP = re.compile(
    r"^(?:we (?:aimed|sought|set out|investigated|examined|assessed|evaluated|conducted|"
    r"performed|recruited|randomi[sz]ed|enrolled|used|designed|describe|hypothesi[sz]ed|"
    r"review|searched)|to (?:examine|assess|investigate|determine|evaluate|test|explore|"
    r"compare|identify)|(?:the )?(?:aim|objective|purpose|goal)s? of|this (?:study|trial|"
    r"paper|review) (?:aim|examin|investigat|assess|evaluat|describ)|here,? we (?:ask|test)|"
    r"methods?|background|objectives?|participants were|patients were randomi[sz]ed)",
    re.IGNORECASE)
_NEGATION = re.compile(
    r"\b(?:not|no|never|neither|nor|cannot|can't|doesn't|don't|isn't|aren't|wasn't|weren't|"
    r"didn't|won't|fail(?:s|ed)? to|lacks?|lacking|unrelated|independent(?:ly)? of|"
    r"unaffected|unchanged|absence of|absent|without)\b", re.IGNORECASE)
#: a sentence reporting that nothing was found
_NULL = re.compile(
    r"\b(?:no (?:statistically )?(?:significant|detectable|measurable|appreciable|major|"
    r"clear|meaningful|marked|substantial|consistent|overall)?\s*(?:\w+ )?(?:difference|"
    r"differences|effect|effects|change|changes|association|associations|correlation|"
    r"relationship|increase|decrease|reduction|improvement|benefit|evidence|impact|role|"
    r"influence|link|advantage)|not (?:significantly|statistically|substantially|"
    r"materially|appreciably)|(?:did|does|do|was|were|is|are|had|has|have|could|would) not "
    r"(?:\w+ ){0,2}?(?:differ|change|affect|alter|improve|reduce|increase|decrease|"
    r"influence|predict|correlate|associate|associated|related|significant|modify|impact|"
    r"show|find|detect|observe|lead|prevent|protect|cause|confer|enhance|result|appear|"
    r"seem)|fail(?:s|ed)? to|non-?significant|insignificant|unchanged|unaffected|"
    r"similar (?:between|in|among|across|to)|comparable|no longer|neither|not associated|"
    r"independent of|was absent|were absent|did not reach|no more than)\b", re.IGNORECASE)
_UP = re.compile(
    r"\b(?:increas\w*|higher|more|greater|elevat\w*|enhanc\w*|promot\w*|stimulat\w*|"
    r"activat\w*|induc\w*|improv\w*|upregulat\w*|up-regulat\w*|rais\w*|rise|rises|rising|"
    r"gain\w*|boost\w*|accelerat\w*|exacerbat\w*|worsen\w*|augment\w*|amplif\w*|"
    r"facilitat\w*|strengthen\w*|potentiat\w*|expand\w*|longer|larger|excess\w*|"
    r"overexpress\w*|positive(?:ly)?)\b", re.IGNORECASE)
_DOWN = re.compile(
    r"\b(?:decreas\w*|reduc\w*|lower\w*|less|fewer|inhibit\w*|suppress\w*|attenuat\w*|"
    r"impair\w*|block\w*|prevent\w*|downregulat\w*|down-regulat\w*|declin\w*|loss|lose|"
    r"loses|lost|diminish\w*|abolish\w*|abrogat\w*|decline|drop\w*|shorter|smaller|"
    r"weaken\w*|slow\w*|delay\w*|deplet\w*|protect\w*|negative(?:ly)?|cut|cuts|"
    r"alleviat\w*|ameliorat\w*|limit\w*|restrict\w*)\b", re.IGNORECASE)


@dataclass
class Verdict:
    """What one paper says about a claim: the quoted sentences and the stance."""

    quotes: list[str]
    stance: str  # supports, contradicts, no-clear-effect, unclear
    findings: list[str] = field(default_factory=list)


def _direction(text: str) -> int:
    up = len(_UP.findall(text))
    down = len(_DOWN.findall(text))
    return (up > down) - (down > up)


#: "lack of FGF21", "in the absence of", "mice lacking Sirt1": a condition the claim
#: describes, not a denial
_CONDITION = re.compile(r"\b(?:lack(?:s|ing)?(?: of)?|absence of|absent|without|"
                        r"independent(?:ly)? of)\b", re.IGNORECASE)


def _claim_negated(claim: str) -> bool:
    """The claim denies something ("does not", "no benefit"), not just names a lack."""
    plain = _CONDITION.sub(" ", claim)
    return bool(_NEGATION.search(plain)) or bool(_NULL.search(plain))


@dataclass
class _Sentence:
    index: int
    text: str
    score: float
    finding: bool


def _sentences_of(article: Article, match: Matcher,
                  concepts: Sequence[Concept]) -> list[_Sentence]:
    out: list[_Sentence] = []
    index = 0
    sections = article.abstract_sections
    for section in sections:
        name = (section.category or section.label or "").upper()
        for text in sentences(section.text):
            found = match.strengths(text)
            score = sum(concepts[i].weight * s for i, s in found.items())
            setup = name in _METHOD_SECTIONS or bool(_SETUP.search(text))
            finding = name in _RESULT_SECTIONS or (not setup and bool(_RESULT.search(text)))
            out.append(_Sentence(index, text, score, finding and not setup))
            index += 1
    return out


def judge(article: Article, concepts: Sequence[Concept], claim: str, n: int = 2) -> Verdict:
    """The sentences of ``article`` that bear on the claim, and its stance on it.

    A sentence's weight is the weight of the claim's concepts it names; result
    sentences (a results or conclusions section, or wording that reports a
    finding, not one that sets the study up) count half as much again, and later
    sentences (where abstracts put what was found) up to a quarter more. The
    ``n`` heaviest are quoted, result sentences chosen first and listed first,
    each group in abstract order. The stance is :func:`stance_of` over the
    quoted result sentences (``findings``): the stance model says whether they
    go against the claim; ``unclear`` if no result sentence bears on it.
    """
    match = matcher(tuple(concepts))
    every = _sentences_of(article, match, concepts)
    last = len(every) - 1
    for s in every:
        if s.score > 0:
            s.score *= 1.5 if s.finding else 1.0
            s.score += 0.25 * s.score * (s.index / last if last > 0 else 1.0)
    bearing = [s for s in every if s.score > 0]
    findings = sorted((s for s in bearing if s.finding), key=lambda s: (-s.score, s.index))
    others = sorted((s for s in bearing if not s.finding), key=lambda s: (-s.score, s.index))
    chosen = (findings + others)[:n]
    # the findings first, each group in abstract order
    quotes = [s.text for s in sorted(chosen, key=lambda s: (not s.finding, s.index))]
    used = [s for s in chosen if s.finding]
    if article.design == "protocol":
        # a protocol reports what a trial will do, not what it found
        return Verdict(quotes, "unclear", [])
    return Verdict(quotes, stance_of(claim, [s.text for s in used], article.abstract),
                   [s.text for s in used])


#: words that say the opposite of each other (matched by their beginnings)
OPPOSITES = (
    ("increas", "decreas"), ("increas", "reduc"), ("higher", "lower"), ("more", "less"),
    ("more", "fewer"), ("greater", "smaller"), ("overestimat", "underestimat"),
    ("positive", "negative"), ("activat", "inhibit"), ("promot", "suppress"),
    ("promot", "inhibit"), ("enhanc", "impair"), ("enhanc", "reduc"), ("upregulat", "downregulat"),
    ("up-regulat", "down-regulat"), ("gain", "loss"), ("agonist", "antagonist"),
    ("benefi", "harm"), ("sensitiv", "resistan"), ("faster", "slower"), ("longer", "shorter"),
    ("improv", "worsen"), ("improv", "impair"), ("stimulat", "inhibit"), ("induc", "inhibit"),
    ("accelerat", "delay"), ("accelerat", "slow"), ("rais", "lower"), ("elevat", "lower"),
    ("elevat", "reduc"), ("common", "rare"), ("before", "after"), ("early", "late"),
    ("presen", "absen"), ("requir", "dispensab"), ("protect", "risk"),
    ("ineffective", "improv"), ("ineffective", "benefi"), ("ineffective", "superior"),
    ("incapable", "elicit"), ("incapable", "produc"), ("slow", "exacerbat"),
    ("slow", "promot"), ("encourag", "block"), ("encourag", "inhibit"), ("encourag", "slow"),
    ("imped", "promot"), ("imped", "requir"), ("raise", "reduc"), ("susceptib", "resist"),
)
#: a ratio a finding reports ("odds ratio 2.77", "HR, 0.50"): above 1 more, below 1 less
_RATIO = re.compile(r"\b(?:odds ratio|hazard ratio|relative risk|risk ratio|rate ratio|"
                    r"a?OR|a?HR|RR|IRR)\b[^0-9]{0,20}?(\d+(?:\.\d+)?)")
_CLAIM_UP = re.compile(r"\b(?:increas\w*|higher|greater|more|elevat\w*|raise\w*|positive(?:ly)?|"
                       r"risk factor)\b", re.IGNORECASE)
_CLAIM_DOWN = re.compile(r"\b(?:decreas\w*|lower\w*|reduc\w*|less|fewer|negative(?:ly)?|"
                         r"protect\w*)\b", re.IGNORECASE)


def _ratio_against(claim: str, text: str) -> bool:
    """The claim says a risk or association goes one way; the first ratio found says
    the other (an odds ratio above 1 for "decreases the risk")."""
    m = _RATIO.search(text)
    if m is None:
        return False
    value = float(m.group(1))
    if value == 1.0 or value > 50:
        return False
    up, down = bool(_CLAIM_UP.search(claim)), bool(_CLAIM_DOWN.search(claim))
    if up == down:
        return False
    return (value > 1) != up
_NEGATING_PREFIXES = ("in", "un", "non", "non-", "im", "dis", "ir")
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)*)\s*(%|percent)?")


def _opposed(claim_words: set[str], found_words: set[str]) -> bool:
    """The finding uses a word opposite to one of the claim's, and not the claim's own."""
    claim_text = " " + " ".join(claim_words)
    found_text = " " + " ".join(found_words)
    for a, b in OPPOSITES:
        for mine, theirs in ((a, b), (b, a)):
            if (f" {mine}" in claim_text and f" {theirs}" in found_text
                    and f" {mine}" not in found_text):
                return True
    for word in claim_words:
        if len(word) < 5:
            continue
        for prefix in _NEGATING_PREFIXES:
            if word.startswith(prefix) and len(word) > len(prefix) + 4:
                if word[len(prefix):] in found_words and word not in found_words:
                    return True
            elif prefix + word in found_words and word not in found_words:
                return True
    return False


def _numbers(text: str) -> set[str]:
    return {m.group(1).replace(",", "") for m in _NUMBER.finditer(text)}


def _numbers_differ(claim: str, text: str) -> bool:
    """The claim states a number (not a year, not a single digit) the paper never gives."""
    wanted = {n for n in _numbers(claim) if len(n) > 1 and not (len(n) == 4 and n[:2] in
                                                                 ("19", "20"))}
    return bool(wanted) and not wanted & _numbers(text)


def rule_stance(claim: str, findings: Sequence[str], abstract: str = "") -> str:
    """The hand-written stance rules (one feature of :func:`stance_of`'s model).

    Signals against the claim: the claim denies something, a finding (or the
    abstract) uses a word opposite to the claim's ("independent" for
    "dependent", "lower" for "higher"), or moves the other way; signals for a
    denying claim: a finding of no difference. More against than for is
    ``contradicts``; a finding of no difference where the claim asserts an
    effect, with nothing opposing it, is ``no-clear-effect``.
    """
    if not findings:
        return "unclear"
    signals = _signals(claim, findings, abstract)
    if signals["against"] - signals["nothing"] >= 1:
        return "contradicts"
    if (signals["null"] and not signals["negated"] and not signals["against"]
            and _NULL.search(findings[0])):
        return "no-clear-effect"
    return "supports"


def _signals(claim: str, findings: Sequence[str], abstract: str) -> dict[str, int]:
    return dict(_signals_of(claim, tuple(findings), abstract))


@lru_cache(maxsize=256)
def _signals_of(claim: str, findings: tuple[str, ...],
                abstract: str) -> tuple[tuple[str, int], ...]:
    """The stance signals (worked out once per claim and findings: the rules, the
    model's features and the verdict all read them)."""
    text = " ".join(findings)
    whole = abstract or text
    claim_words = set(_norm(claim))
    claimed, found = _direction(claim), _direction(text)
    signals = {
        "negated": int(_claim_negated(claim)),
        "null": int(bool(_NULL.search(text))),
        "null abstract": int(bool(_NULL.search(whole))),
        "opposed": int(_opposed(claim_words, set(_norm(text)))),
        "opposed abstract": int(_opposed(claim_words, set(_norm(whole)))),
        "direction against": int(bool(claimed and found and claimed != found)),
        "direction with": int(bool(claimed and found and claimed == found)),
        "ratio against": int(_ratio_against(claim, text)),
    }
    signals["against"] = (signals["negated"] + signals["opposed"] + signals["opposed abstract"]
                          + signals["direction against"] + signals["ratio against"])
    signals["nothing"] = signals["null"] + signals["null abstract"]
    return tuple(signals.items())


#: the features :func:`stance_of`'s model weighs, in order (see :func:`stance_features`)
STANCE_FEATURES = (
    "bias", "rule contradicts", "rule no clear effect", "claim denies", "finding of no effect",
    "no effect in abstract", "opposite word", "opposite word in abstract", "against direction",
    "with direction", "ratio against", "claim number missing", "negations in finding",
    "claim words in finding", "claim negation", "negation in both", "claim up, finding down",
    "claim down, finding up", "claim up, finding up", "claim down, finding down",
    "claim up", "claim down")


def stance_features(claim: str, findings: Sequence[str], abstract: str = "") -> list[float]:
    """The stance model's features of a claim and the finding sentences quoted for it."""
    text = " ".join(findings)
    signals = _signals(claim, findings, abstract)
    rule = rule_stance(claim, findings, abstract)
    claim_words = {w[:PREFIX] for w in _TOKEN.findall(claim.lower()) if len(w) > 3}
    held = {w[:PREFIX] for w in _TOKEN.findall(text.lower())}
    return [1.0, float(rule == "contradicts"), float(rule == "no-clear-effect"),
            float(signals["negated"]), float(signals["null"]), float(signals["null abstract"]),
            float(signals["opposed"]), float(signals["opposed abstract"]),
            float(signals["direction against"]), float(signals["direction with"]),
            float(signals["ratio against"]), float(_numbers_differ(claim, abstract or text)),
            min(len(_NEGATION.findall(text)), 3) / 3,
            len(claim_words & held) / len(claim_words) if claim_words else 0.0,
            *_cues(claim, text)]


def _cues(claim: str, text: str) -> list[float]:
    """Negation and direction words in the claim against those in the findings."""
    claim_neg = bool(_NEGATION.search(_CONDITION.sub(" ", claim)))
    found_neg = bool(_NEGATION.search(text))
    c_up, c_down = bool(_UP.search(claim)), bool(_DOWN.search(claim))
    f_up, f_down = bool(_UP.search(text)), bool(_DOWN.search(text))
    return [float(claim_neg), float(claim_neg and found_neg), float(c_up and f_down and not f_up),
            float(c_down and f_up and not f_down), float(c_up and f_up), float(c_down and f_down),
            float(c_up), float(c_down)]


@dataclass(frozen=True)
class StanceModel:
    """A logistic regression over :data:`STANCE_FEATURES`: the probability that the
    findings go against the claim (weights in ``vocabulary/check_stance.json``,
    written by ``bench/fit_check_stance.py``)."""

    weights: tuple[float, ...]
    threshold: float = 0.5

    def against(self, features: Sequence[float]) -> float:
        z = sum(w * f for w, f in zip(self.weights, features, strict=True))
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


def _fitted(name: str, features: Sequence[str]) -> dict[str, Any]:
    """A fitted model packaged in ``kettrack/vocabulary/``, checked against its features."""
    text = resources.files("kettrack").joinpath(f"vocabulary/{name}").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    if list(data["features"]) != list(features):
        raise ValueError(f"{name} was fitted for other features; refit it")
    return data


@lru_cache(maxsize=1)
def load_stance_model() -> StanceModel:
    """The stance model packaged with kettrack (``kettrack/vocabulary/check_stance.json``)."""
    data = _fitted("check_stance.json", STANCE_FEATURES)
    return StanceModel(tuple(float(w) for w in data["weights"]), float(data["threshold"]))


def stance_of(claim: str, findings: Sequence[str], abstract: str = "") -> str:
    """``supports``, ``contradicts``, ``no-clear-effect`` or ``unclear`` (see :func:`judge`).

    No finding sentence: ``unclear``. A claim that denies an effect, and findings
    that report none: ``supports``. Otherwise the stance model
    (:class:`StanceModel`, over the signals of :func:`rule_stance` and a few more)
    says whether the findings go against the claim; against it, a finding of no
    difference where the claim asserts an effect is ``no-clear-effect``, anything
    else ``contradicts``.
    """
    if not findings:
        return "unclear"
    negated = _claim_negated(claim)
    if negated and _NULL.search(" ".join(findings)):
        return "supports"  # the claim denies an effect and the findings report none
    model = load_stance_model()
    if model.against(stance_features(claim, findings, abstract)) < model.threshold:
        return "supports"
    if (_NULL.search(" ".join(findings)) and not negated
            and not _signals(claim, findings, abstract)["opposed"]):
        return "no-clear-effect"
    return "contradicts"


# -- mismatch notes ----------------------------------------------------------

#: "a single dose", "one infusion", "a single ketamine dose", "one IV ketamine infusion"
_SINGLE = re.compile(r"\b(?:single|one)[ -](?:[\w-]+ ){0,2}?(?:dose|infusion|session|"
                     r"administration|treatment|injection|shot)\b|\bone[- ]off\b", re.I)
_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
            "nine": 9, "ten": 10, "twelve": 12}
_SEVERAL = re.compile(
    r"\b(two|three|four|five|six|seven|eight|nine|ten|twelve|\d{1,2})\s+(?:\w+\s+){0,2}?"
    r"(infusions|doses|sessions|injections|administrations|treatments)\b"
    r"|\b(repeated|multiple|serial|weekly|twice[- ]weekly)\s+(?:\w+\s+){0,2}?"
    r"(infusions|doses|sessions|injections|administrations|treatments)\b", re.I)
_AUD_CLAIM = re.compile(r"\b(?:alcohol use disorders?|aud|alcohol dependen\w*|alcoholi\w*|"
                        r"alcohol addiction)\b", re.I)
_DIAGNOSED = re.compile(r"\b(?:alcohol use disorders?|aud|alcohol dependen\w*|"
                        r"alcohol-dependent|dsm|icd-10|alcoholi\w*|alcohol addiction)\b", re.I)
_DRINKERS = re.compile(r"\b(?:harmful|hazardous|heavy|risky|at-risk|binge|problem|social|"
                       r"non-treatment[- ]seeking|treatment-naive)\s+(?:alcohol\s+)?"
                       r"(?:drinkers|drinking|users)\b", re.I)
_ANIMALS = re.compile(r"\b(rats?|mice|mouse|rodents?|monkeys?|macaques?|primates?|"
                      r"zebrafish|animals?)\b", re.I)


def mismatch_notes(claim: str, article: Article) -> list[str]:
    """What a careful fact-checker would note where the paper and the claim differ."""
    text = f"{article.title}\n{article.abstract}"
    notes = []
    if _SINGLE.search(claim):
        # a count ("three weekly infusions") says more than "repeated infusions"
        several = sorted(_SEVERAL.finditer(text), key=lambda m: m.group(1) is None)
        if several:
            notes.append(f"the claim says a single dose; the study gave {several[0].group(0)}")
    if _AUD_CLAIM.search(claim):
        drinkers = _DRINKERS.search(text)
        if drinkers and not _DIAGNOSED.search(text):
            notes.append(f"the claim says alcohol use disorder; the study enrolled "
                         f"{drinkers.group(0)}, with no diagnosis named")
    if not _ANIMALS.search(claim) and (article.species == "animal"
                                       or article.design == "preclinical"):
        animal = _ANIMALS.search(text)
        which = animal.group(0).lower() if animal else "animals or cells"
        notes.append(f"the claim is about people; this study used {which}")
    for name in claim_institutions(claim):
        names = institution_names(name)
        where = [a for a in article.affiliations
                 if any(re.search(rf"\b{re.escape(n)}\b", a.lower()) for n in names)]
        if where:
            notes.append(f"the claim credits {name}; the authors' affiliations include it "
                         f"({where[0][:80]})")
        elif article.affiliations:
            notes.append(f"the claim credits {name}; no author affiliation names it")
        else:
            notes.append(f"the claim credits {name}; the record lists no affiliations to "
                         f"check it against")
    return notes


# -- answering ---------------------------------------------------------------


def retrieval_expressions(concepts: Sequence[Concept]) -> list[tuple[str, bool, bool]]:
    """The FTS5 queries that fetch candidates, tried in turn: (expression, ranked, last).

    First every topic and effect concept ORed in the claim's own words; if that
    finds fewer than needed, the same concepts with all their synonyms (the
    vocabulary widens the search, it never narrows it): records holding every
    concept first, then (only if those are still too few to answer) records
    holding any. Only if all that finds nothing, the background concepts
    ("ketamine", "alcohol"), unranked: they match nearly the whole library, and
    BM25 would score every record for nothing (what shares only them is a
    background-only answer). ``last`` marks the queries tried only when the
    earlier ones found fewer than ``--limit``.
    """
    chosen = [c for c in concepts if c.kind not in BACKGROUND_KINDS]
    expressions: list[tuple[str, bool, bool]] = []
    if chosen:
        own = " OR ".join(dict.fromkeys(t.fts() for c in chosen for t in (c.own or c.terms)
                                        if t.words))
        wide = " OR ".join(c.fts() for c in chosen)
        expressions.append((own, True, False))
        if wide != own:
            if len(chosen) > 1:
                expressions.append((" AND ".join(c.fts() for c in chosen), True, False))
            expressions.append((wide, True, True))
    background = [c for c in concepts if c.kind in BACKGROUND_KINDS]
    if background:
        expressions.append((" OR ".join(c.fts() for c in background), not chosen, True))
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
    stance: str = "unclear"
    closeness: str = ""
    notes: list[str] = field(default_factory=list)
    rank_score: float = 0.0

    @property
    def score(self) -> float:
        """The score it ranks with: a registered trial's is :data:`TRIAL_PENALTY` lower."""
        if isinstance(self.item, TrialItem):
            return trial_score(self.rank_score)
        return self.rank_score

    @property
    def quotes(self) -> list[str]:
        return self.sentences


def trial_score(score: float) -> float:
    """A registered trial's ranking score: its score less :data:`TRIAL_PENALTY`."""
    return max(0.0, round(score - TRIAL_PENALTY, 3))


@dataclass
class CheckResult:
    """The answer to a claim: the concepts read from it and what bears on it, best first."""

    claim: str
    concepts: list[Concept]
    ranked: list[Evidence] = field(default_factory=list)
    candidates: int = 0
    #: the answers share only background words (ketamine, alcohol) with the claim
    background_only: bool = False
    #: how many published works bear on the claim, shown or not (``ranked`` holds
    #: the best ``limit``), and whether more than those may (the first stage was full)
    bearing: int = 0
    more: bool = False

    @property
    def evidence(self) -> list[Evidence]:
        """The published works among the answers."""
        return [e for e in self.ranked if isinstance(e.item, ArticleItem)]

    @property
    def trials(self) -> list[Evidence]:
        """The registered trials among the answers."""
        return [e for e in self.ranked if isinstance(e.item, TrialItem)]

    def designs(self) -> list[tuple[str, int]]:
        """(design, how many) of the published answers, strongest design first."""
        counts = Counter(e.item.article.design for e in self.evidence
                         if isinstance(e.item, ArticleItem))
        return sorted(counts.items(), key=lambda d: DESIGN_RANK.get(d[0], len(DESIGN_RANK)))

    def stances(self) -> Counter[str]:
        """How many published answers support, contradict... the claim."""
        return Counter(e.stance for e in self.evidence)


#: a judged candidate: (sort key, item key, relevance, match strengths, BM25, score)
_Judged = tuple[tuple[Any, ...], tuple[str, str], float, dict[int, float], float, float]


def candidate_count(limit: int) -> int:
    """How many candidates a check with ``--limit`` ranks: :data:`CANDIDATES`, or
    three times the limit."""
    return max(CANDIDATES, 3 * limit)


def _candidates(search: Any, concepts: Sequence[Concept], limit: int) -> dict[str, float]:
    """{id: BM25} of the candidates (see :func:`retrieval_expressions`)."""
    wanted = candidate_count(limit)
    bm25: dict[str, float] = {}
    for expression, ranked, last in retrieval_expressions(concepts):
        if last and len(bm25) >= limit:
            break
        for ident, score, _, _ in search(expression, wanted, ranked):
            bm25.setdefault(ident, score)
        if len(bm25) >= wanted:
            break
    return bm25


_TOKEN = re.compile(r"[^\W_]+")
#: a word is compared by its first letters: "inhibits" = "inhibitor", "mutation" = "mutant"
PREFIX = 6
#: weights of the ranking features: BM25 (relative to the best candidate), the claim's
#: wording the whole text holds, the title holds, one sentence holds, its word pairs,
#: and the claim's vocabulary concepts it matches, synonyms included (a concept the field
#: names in many ways, "single dose", counts once, not word by word)
FEATURE_WEIGHTS = (1.0, 1.0, 0.5, 0.5, 0.5, 0.5)
#: scores this close count as equal, and then the stronger design comes first
SCORE_STEP = 0.05


#: the index holds porter stems ("studies" -> "studi"): its counts are looked up by
#: a shorter prefix
LOOKUP = 5


def _idf(total: int, count: int) -> float:
    count = min(count, total)
    return math.log((total - count + 0.5) / (count + 0.5) + 1)


#: the first :data:`PREFIX` letters of each word (as :data:`_TOKEN` cuts words), and an
#: empty string where a piece ends: roughly a sentence (".", "!", "?" or ";" then a
#: space, or a new line; ranking only needs pieces, quotes use text.sentences)
_STARTS = re.compile(rf"([^\W_]{{1,{PREFIX}}})[^\W_]*|[.!?;]\s|\n")


class Ranker:
    """Scores candidates by how much of the claim's own wording they hold, rare
    words counting more (inverse document frequency from the library's index),
    in the whole text, the title and a single sentence, and by the claim's
    word pairs found side by side; blended with BM25 (:data:`FEATURE_WEIGHTS`)."""

    def __init__(self, library: Library, claim: str, vocab: Vocabulary) -> None:
        credited = {w.lower() for name in claim_institutions(claim) for w in words_of(name)}
        words = [w for w in _TOKEN.findall(claim.lower())[:64]
                 if w not in vocab.stopwords and w not in credited and len(w) > 1]
        #: {prefix: the claim's first word with it}
        whole = {w[:PREFIX]: w for w in reversed(words)}
        self.words = list(dict.fromkeys(w[:PREFIX] for w in words))
        total, by_word = (library.term_counts(list(whole.values()), LOOKUP)
                          if self.words else (0, {}))
        counts = {w: by_word[whole[w]] for w in self.words}
        self.idf = {w: _idf(total, counts[w]) for w in self.words}
        #: the claim's words (as prefixes) that most of the library holds
        self.common = {w for w in self.words if total and counts[w] > COMMON_SHARE * total}
        self.total = sum(self.idf.values())
        self.pairs = list(zip(self.words, self.words[1:], strict=False))
        self.numbers = _numbers(claim)

    def _share(self, held: set[str]) -> float:
        return sum(v for w, v in self.idf.items() if w in held) / self.total

    def _measure(self, title: str, text: str) -> tuple[set[str], set[str], float, float, int]:
        """What a candidate holds of the claim's wording: (claim words held, claim
        words in the title, the best piece's IDF-weighted share, the share of the
        claim's word pairs found side by side, how many words it has).

        One regular expression (:data:`_STARTS`) cuts the title and each piece of
        the text into :data:`PREFIX`-letter word starts, an empty string where a
        piece ends; only the claim's own words are looked at after that."""
        wanted = self.idf
        # the title is one piece whatever its punctuation
        tokens = [w for w in _STARTS.findall(title.lower()) if w]
        tokens += ["", *_STARTS.findall(text.lower()), ""]
        held: set[str] = set()
        title_held: set[str] | None = None
        in_sentence = 0.0
        adjacent: set[tuple[str, str]] = set()
        here: set[str] = set()
        last, previous = -2, ""
        for i, w in [(i, w) for i, w in enumerate(tokens) if not w or w in wanted]:
            if w:
                here.add(w)
                if last == i - 1:
                    adjacent.add((previous, w))
                last, previous = i, w
                continue
            if title_held is None:
                title_held = here
            if here:
                held |= here
                in_sentence = max(in_sentence, self._share(here))
            here = set()
        pairs = (sum(1 for p in self.pairs if p in adjacent) / len(self.pairs)
                 if self.pairs else 0.0)
        return held, title_held or set(), in_sentence, pairs, len(tokens) - tokens.count("")

    def features(self, title: str, text: str) -> list[float]:
        """The reranker's word features of one candidate (:data:`FEATURES` 5 to 11):
        the IDF-weighted share of the claim's words held by the whole text, by the
        title and by its best sentence; the share of the claim's word pairs found
        side by side; the plain share of its words held; the share of the claim's
        numbers it gives; its length (log words / 6)."""
        if not self.total:
            return [0.0] * 7
        held, title_held, in_sentence, pairs, size = self._measure(title, text)
        plain = sum(1 for w in self.words if w in held) / len(self.words)
        numbers = (len(self.numbers & _numbers(f"{title} {text}")) / len(self.numbers)
                   if self.numbers else 0.0)
        return [self._share(held), self._share(title_held), in_sentence, pairs, plain,
                numbers, math.log(size + 1) / 6]

    def score(self, title: str, text: str, bm25: float, best: float,
              concepts: float = 0.0) -> float:
        """0..1: the weighted blend of the features (``concepts``: the relevance)."""
        if not self.total:
            return round(bm25 / best, 4) if best > 0 else 0.0
        held, title_held, in_sentence, pairs, _ = self._measure(title, text)
        features = (bm25 / best if best > 0 else 0.0, self._share(held),
                    self._share(title_held), in_sentence, pairs, concepts)
        return round(sum(w * f for w, f in zip(FEATURE_WEIGHTS, features, strict=True))
                     / sum(FEATURE_WEIGHTS), 4)


def _step(score: float) -> int:
    return int(score / SCORE_STEP + 1e-9) if SCORE_STEP > 0 else int(score * 1e6)


#: a claim word held by more than this share of the library is left out of the first
#: stage (unless every word is): BM25 gives it next to no weight, yet scoring every
#: record that holds it ("ketamine", "alcohol" in this library) is most of the cost
COMMON_SHARE = 0.2


def first_stage_expressions(claim: str, concepts: Sequence[Concept],
                            vocab: Vocabulary, common: frozenset[str] = frozenset()
                            ) -> list[str]:
    """The FTS5 queries of the first stage, tried in turn while candidates are too
    few: every content word of the claim (all but the stopwords and the institution
    it credits), ORed, as a plain BM25 search does, less the ``common`` ones (as
    prefixes of :data:`PREFIX` letters; see :data:`COMMON_SHARE`); then the synonyms of its
    vocabulary concepts (widening, never narrowing: in one query they would count as
    extra words and push aside what the claim's own words find)."""
    credited = {w.lower() for name in claim_institutions(claim) for w in words_of(name)}
    words = [w for w in _norm(claim)[:64] if w not in vocab.stopwords and w not in credited]
    words = [w for w in words if w[:PREFIX] not in common] or words
    own = " OR ".join(dict.fromkeys(fts_phrase([w]) for w in words))
    wide = " OR ".join(dict.fromkeys(
        t.fts() for c in concepts if c.kind not in BACKGROUND_KINDS | GENERIC_KINDS
        for t in c.terms if t.words))
    return [e for e in (own, wide) if e]


@dataclass(frozen=True)
class Reranker:
    """The learned second stage: a linear score over :data:`FEATURES`, fused with the
    first stage's BM25 order by reciprocal rank (``fusion``: the k of 1/(k + rank)),
    so that what BM25 puts first stays near the top. The weights live in
    ``vocabulary/check_ranker.json``, written by ``bench/fit_check_ranker.py``."""

    weights: tuple[float, ...]
    fusion: float = 5.0

    def order(self, features: Sequence[Sequence[float]]) -> list[float]:
        """Each candidate's fused score, 0..1 (1: first in both orders); candidates
        come in first-stage order."""
        learned = [sum(w * f for w, f in zip(self.weights, row, strict=True))
                   for row in features]
        by_learned = sorted(range(len(learned)), key=lambda i: (-learned[i], i))
        place = {i: r for r, i in enumerate(by_learned)}
        top = 2 / (self.fusion + 1)
        return [round((1 / (self.fusion + 1 + place[i]) + 1 / (self.fusion + 1 + i)) / top, 4)
                for i in range(len(learned))]


#: the features the reranker weighs, in order (see :meth:`Ranker.features`)
FEATURES = ("bm25", "bm25 title", "bm25 abstract", "first-stage rank", "claim words held",
            "claim words in title", "claim words in one sentence", "word pairs",
            "share of words held", "numbers", "length", "concepts")


@lru_cache(maxsize=1)
def load_reranker() -> Reranker:
    """The reranker packaged with kettrack (``kettrack/vocabulary/check_ranker.json``)."""
    data = _fitted("check_ranker.json", FEATURES)
    return Reranker(tuple(float(w) for w in data["weights"]), float(data["fusion"]))


@dataclass
class Candidate:
    """A first-stage hit with its ranking features."""

    pmid: str
    row: tuple[Any, ...]  # article_texts row
    found: dict[int, float]
    features: list[float]


#: a first-stage hit: (PMID, BM25, BM25 of the title, BM25 of the abstract)
_Hit = tuple[str, float, float, float]


def first_stage(library: Library, claim: str, concepts: Sequence[Concept], vocab: Vocabulary,
                ranker: Ranker, *, limit: int = DEFAULT_LIMIT,
                filters: Filters | None = None) -> list[_Hit]:
    """The first stage's hits, best first: the :func:`candidate_count` best by
    BM25 of :func:`first_stage_expressions`, tried in turn while too few."""
    wanted = candidate_count(limit)
    hits: list[_Hit] = []
    for expression in first_stage_expressions(claim, concepts, vocab,
                                              frozenset(ranker.common)):
        held = {h[0] for h in hits}
        # a widening query's hits come after the claim's own, below their BM25
        floor = min((h[1] for h in hits), default=0.0)
        hits += [(p, min(s, floor) if held else s, t, a) for p, s, t, a in
                 library.fts_fields(expression, filters=filters, limit=wanted)
                 if p not in held][:wanted - len(hits)]
        if len(hits) >= wanted:
            break
    return hits


def candidate_features(library: Library, claim: str, concepts: Sequence[Concept],
                       vocab: Vocabulary, *, limit: int = DEFAULT_LIMIT,
                       filters: Filters | None = None,
                       ranker: Ranker | None = None,
                       hits: list[_Hit] | None = None) -> list[Candidate]:
    """The first stage's candidates (``hits``, or :func:`first_stage`'s), in its
    BM25 order, each with its features (candidates that share no concept with
    the claim are left out)."""
    ranker = ranker or Ranker(library, claim, vocab)
    if hits is None:
        hits = first_stage(library, claim, concepts, vocab, ranker, limit=limit,
                           filters=filters)
    if not hits:
        return []
    texts = {str(r[0]): r for r in library.article_texts([h[0] for h in hits])}
    match = matcher(tuple(concepts))
    best = [max(column, default=0.0) or 1.0 for column in
            ([h[1] for h in hits], [h[2] for h in hits], [h[3] for h in hits])]
    out = []
    for place, (pmid, total, title_bm25, abstract_bm25) in enumerate(hits):
        row = texts.get(pmid)
        if row is None:
            continue
        _, title, abstract, mesh, keywords = row[:5]
        found = match.strengths(f"{title}\n{abstract}\n{mesh}\n{keywords}")
        if not found:
            continue
        words = ranker.features(title or "", f"{abstract or ''}\n{mesh or ''}\n"
                                f"{keywords or ''}")
        features = [total / best[0], title_bm25 / best[1], abstract_bm25 / best[2],
                    1 / (place + 1), *words, relevance(found, concepts)]
        out.append(Candidate(pmid, row, found, features))
    return out


def check(library: Library, claim: str, *, limit: int = DEFAULT_LIMIT,
          filters: Filters | None = None, vocabulary: Vocabulary | None = None) -> CheckResult:
    """The library's evidence on ``claim``, strongest first (see the module docstring)."""
    vocab = vocabulary or load_vocabulary()
    concepts = read_claim(claim, vocab)
    result = CheckResult(claim, concepts)
    if not concepts:
        return result
    match = matcher(tuple(concepts))
    ranker = Ranker(library, claim, vocab)
    judged: list[_Judged] = []
    hits = first_stage(library, claim, concepts, vocab, ranker, limit=limit, filters=filters)
    # more may bear on the claim than the first stage let through
    result.more = len(hits) >= candidate_count(limit)
    candidates = [c for c in candidate_features(library, claim, concepts, vocab, limit=limit,
                                                filters=filters, ranker=ranker, hits=hits)
                  if any(concepts[i].kind not in BACKGROUND_KINDS for i in c.found)]
    result.candidates = len(candidates)
    fused = load_reranker().order([c.features for c in candidates])
    for candidate, score in zip(candidates, fused, strict=True):
        pmid, _, _, _, _, design, year, retracted = candidate.row
        # a retracted paper ranks as if RETRACTED_PENALTY less, after the others of that score
        ranked_as = score - RETRACTED_PENALTY if retracted else score
        key = (-_step(ranked_as), 0, int(retracted), DESIGN_RANK.get(design, len(DESIGN_RANK)),
               -score, -(year or 0), pmid)
        judged.append((key, ("article", pmid), relevance(candidate.found, concepts),
                       candidate.found, candidate.features[0], score))
    if not judged:
        # nothing shares a topic word: what shares only the background, unranked
        bm25 = _candidates(lambda e, n, r: library.fts_articles(
            e, filters=filters, limit=n, snippet_tokens=1, ranked=r), concepts, limit)
        result.candidates = len(bm25)
        result.more = len(bm25) >= candidate_count(limit)
        best = max(bm25.values(), default=0.0)
        for pmid, title, abstract, mesh, keywords, design, year, retracted in \
                library.article_texts(list(bm25)):
            found = match.strengths(f"{title}\n{abstract}\n{mesh}\n{keywords}")
            if not found:
                continue
            score = ranker.score(title or "", f"{abstract or ''}\n{mesh or ''}\n"
                                 f"{keywords or ''}", bm25[pmid], best,
                                 _through_vocabulary(found, concepts))
            ranked_as = score - RETRACTED_PENALTY if retracted else score
            key = (-_step(ranked_as), 0, int(retracted),
                   DESIGN_RANK.get(design, len(DESIGN_RANK)), -score, -(year or 0), pmid)
            judged.append((key, ("article", pmid), relevance(found, concepts), found,
                           bm25[pmid], score))
    trial_bm25 = _candidates(lambda e, n, r: library.fts_trials(
        e, filters=filters, limit=n, snippet_tokens=1), concepts, limit)
    trial_best = max(trial_bm25.values(), default=0.0)
    for nct, title, official, acronym, conditions, interventions, posted in \
            library.trial_texts(list(trial_bm25)):
        found = match.strengths(f"{title}\n{official}\n{acronym}\n{conditions}\n"
                                f"{interventions}")
        if not found:
            continue
        share = relevance(found, concepts)
        score = ranker.score(f"{title} {official} {acronym}",
                             f"{conditions}\n{interventions}", trial_bm25[nct], trial_best,
                             _through_vocabulary(found, concepts))
        year = int(posted[:4]) if posted and posted[:4].isdigit() else 0
        # ranked as if TRIAL_PENALTY less, after the articles of that score
        key = (-_step(trial_score(score)), 1, 0, DESIGN_RANK[REGISTERED_DESIGN], -score,
               -year, nct)
        judged.append((key, ("trial", str(nct)), share, found, trial_bm25[nct], score))
    topical = [j for j in judged
               if any(concepts[i].kind not in BACKGROUND_KINDS for i in j[3])]
    if topical or not judged:
        judged = topical
    else:
        result.background_only = True
    result.bearing = sum(1 for j in judged if j[1][0] == "article")
    best_judged = sorted(judged, key=lambda j: j[0])[:limit]
    items = {i.key: i for i in library.items([k for _, k, _, _, _, _ in best_judged])}
    for _, ident, share, found, bm, score in best_judged:
        item = items.get(ident)
        if item is None:
            continue
        evidence = Evidence(item, share, bm, [concepts[i] for i in sorted(found)],
                            closeness=closeness(found, concepts), rank_score=score)
        if isinstance(item, ArticleItem):
            verdict = judge(item.article, concepts, claim)
            evidence.sentences = verdict.quotes
            evidence.stance = verdict.stance
            evidence.notes = mismatch_notes(claim, item.article)
        result.ranked.append(evidence)
    return result


# -- --online ----------------------------------------------------------------


def online_query(claim: str, vocabulary: Vocabulary | None = None) -> SavedQuery | None:
    """The PubMed search ``check --online`` runs for ``claim``, or None if it has no words.

    Built from the claim's own concepts, each the OR-group of its terms as
    title/abstract words: the drug and condition groups the claim names are
    ANDed with the OR of its topic concepts (so "excessive alcohol use causes
    deaths" searches alcohol AND (excessive OR deaths), not ketamine). A claim
    that names neither ANDs its topic concepts when it has two or three, and ORs
    them when it has more. Effect words (reduce, improve) are left out: papers
    say them every way. The query is named ``check:<hash>`` (a colon no saved
    query file can have) and is recorded like a saved query, so ``show`` and
    ``export --query`` can name the papers it brought in; it is never run again
    by ``kettrack run``.
    """
    concepts = read_claim(claim, vocabulary)
    if not concepts:
        return None

    def group_term(concept: Concept) -> str:
        terms = [t for t in concept.terms if t.words]
        inner = " OR ".join(dict.fromkeys(t.pubmed() for t in terms))
        return f"({inner})" if len(terms) > 1 else inner

    base = [group_term(c) for c in concepts if c.kind in BACKGROUND_KINDS]
    topics = [group_term(c) for c in concepts
              if c.kind not in BACKGROUND_KINDS | GENERIC_KINDS]
    if not base and not topics:
        topics = [group_term(c) for c in concepts]
    parts = list(base)
    if topics and (base or len(topics) > 3):
        parts.append(topics[0] if len(topics) == 1 else "(" + " OR ".join(topics) + ")")
    elif topics:
        parts.extend(topics)
    term = " AND ".join(parts)
    digest = hashlib.sha1(term.encode()).hexdigest()[:10]
    return SavedQuery(name=f"check:{digest}", term=term,
                      description=f"check {' '.join(claim.split())[:120]}", tags=("check",))
