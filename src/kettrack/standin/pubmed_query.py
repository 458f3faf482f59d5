"""PubMed search syntax, evaluated over the records the stand-in serves.

The offline stand-in for E-utilities answers ``esearch`` with :class:`SearchIndex`:
inverted indexes (token -> record numbers, per field) built once, so a saved
query over tens of thousands of records runs in milliseconds.

What it understands, as PubMed does:

* ``AND`` / ``OR`` / ``NOT`` (upper case), evaluated strictly left to right with
  no precedence (``a OR b AND c`` is ``(a OR b) AND c``); parentheses; an
  implicit ``AND`` between adjacent terms.
* Quoted phrases, truncation with ``*`` (a root shorter than four characters
  gives a warning), proximity ``"a b"[tiab:~2]``.
* Field tags, short or long, any case: ``[tiab]``, ``[ti]``, ``[ab]``, ``[tw]``,
  ``[all]``, ``[ot]``, ``[mh]`` (exploded through a MeSH tree), ``[mh:noexp]``,
  ``[majr]``, ``[pt]``, ``[au]``, ``[1au]``, ``[lastau]``, ``[la]``, ``[dp]``,
  ``[edat]``, ``[crdt]``; date ranges ``2015:2026[dp]`` and
  ``"2020/01/01"[edat] : "2020/12/31"[edat]``.
* PubMed's comment/correction filters ``hasretractionin``, ``haserratumin`` and
  ``hasexpressionofconcernin`` (untagged, or tagged ``[filter]``/``[sb]``): records
  whose CommentsCorrections hold a ``RetractionIn`` / ``ErratumIn`` /
  ``ExpressionOfConcernIn`` link.
* NCBI's error reporting: a term that matches nothing, or has an unknown field
  tag, is reported and dropped from the query (which widens it, as on NCBI);
  broken syntax raises :class:`~kettrack.errors.QuerySyntaxError`.

Approximations of PubMed are listed in :data:`APPROXIMATIONS`.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from bisect import bisect_left, bisect_right
from calendar import monthrange
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from kettrack.errors import QuerySyntaxError

__all__ = [
    "APPROXIMATIONS",
    "CORRECTION_FILTERS",
    "DEFAULT_MESH_TREE",
    "DEFAULT_PUBLICATION_TYPE_TREE",
    "BinOp",
    "DateRange",
    "IndexedRecord",
    "Node",
    "SearchIndex",
    "SearchResult",
    "Term",
    "parse",
]

#: Where this engine knowingly differs from PubMed (for the docs).
APPROXIMATIONS: tuple[str, ...] = (
    "Automatic term mapping is approximated: an untagged, unquoted term searches "
    "All Fields (title, abstract, author keywords, MeSH words, publication-type words, "
    "author names), OR the exploded MeSH descriptor of the same name if there is one. "
    "PubMed's synonym tables, journal and author mapping and phrase splitting are not "
    "reproduced.",
    "Adjacent untagged words (alcohol use disorder) are ANDed word by word; a field tag "
    "after several words (randomized controlled trial[pt]) applies to them as one phrase.",
    "Only upper-case AND, OR, NOT are operators; lower-case ones are ordinary words "
    "(PubMed treats them as stopwords).",
    "Text matching is on word tokens: case-folded, diacritics removed, split on anything "
    "that is not a letter or digit, so hyphenated words match as a phrase and as parts. "
    "No stemming, no stopwords.",
    "[tiab] searches title, abstract and author keywords (as PubMed has since 2022); "
    "[tw] adds MeSH words; [all] adds publication types and author names.",
    "MeSH explosion uses the small tree passed to SearchIndex (DEFAULT_MESH_TREE if none), "
    "not the full MeSH hierarchy; pharmacological-action groupings such as "
    "Excitatory Amino Acid Antagonists > Ketamine are modelled as tree edges. MeSH "
    "subheadings (Ketamine/therapeutic use) are not supported.",
    "[pt] explodes through a small publication-type tree (Clinical Trial > Randomized "
    "Controlled Trial, Review > Systematic Review ...).",
    "Truncated MeSH or publication-type terms (alcohol*[mh]) match descriptors by name "
    "prefix and are not exploded.",
    "A truncation root shorter than four characters only gives a warning; the term "
    "is still searched with every ending.",
    "A term whose left operand of NOT was dropped as not found is dropped with it.",
    "Dates are matched on whole days. A range given backwards is swapped. A single "
    "[dp] or [edat] value covers its whole year or month. Records without a date "
    "never match a date term.",
    "A term with no hits is reported and dropped, except date terms, which simply match nothing.",
    "[crdt] (Create Date) is searched on the Entrez date.",
    "Tags and filters outside this list ([pa], [jour], hasabstract ...) are not "
    "supported: an unknown tag is reported in fields_not_found, an unknown word in "
    "phrases_not_found, and both are dropped. Of PubMed's filters ([sb], [filter]) only "
    "the comment/correction ones are known: hasretractionin, haserratumin, "
    "hasexpressionofconcernin; they are translated as \"name\"[Filter], and one that "
    "matches nothing is kept (zero hits), not dropped.",
    "A ':' between two terms that are not dates is read as a space (an implicit AND).",
    "esearch's datetype defaults to pdat when mindate/maxdate are given without it.",
)

#: A small slice of the MeSH hierarchy, parent -> narrower descriptors. Enough for
#: the saved queries kettrack ships; pass your own to :class:`SearchIndex` for more.
DEFAULT_MESH_TREE: dict[str, list[str]] = {
    "Substance-Related Disorders": [
        "Alcohol-Related Disorders",
        "Amphetamine-Related Disorders",
        "Cocaine-Related Disorders",
        "Marijuana Abuse",
        "Opioid-Related Disorders",
        "Phencyclidine Abuse",
        "Substance Withdrawal Syndrome",
        "Tobacco Use Disorder",
    ],
    "Alcohol-Related Disorders": [
        "Alcohol-Induced Disorders",
        "Alcohol Withdrawal Delirium",
        "Alcohol Withdrawal Seizures",
        "Alcoholic Intoxication",
        "Alcoholism",
    ],
    "Alcohol-Induced Disorders": [
        "Alcohol-Induced Disorders, Nervous System",
        "Cardiomyopathy, Alcoholic",
        "Fetal Alcohol Spectrum Disorders",
        "Liver Diseases, Alcoholic",
        "Pancreatitis, Alcoholic",
    ],
    "Alcohol-Induced Disorders, Nervous System": [
        "Alcohol Amnestic Disorder",
        "Alcohol Withdrawal Delirium",
        "Alcohol Withdrawal Seizures",
        "Alcoholic Neuropathy",
    ],
    "Alcoholic Intoxication": ["Binge Drinking"],
    "Opioid-Related Disorders": ["Heroin Dependence", "Morphine Dependence"],
    # Esketamine has no descriptor of its own: NLM indexes it under Ketamine.
    "Excitatory Amino Acid Antagonists": ["Ketamine", "Memantine", "Dizocilpine Maleate"],
    "Anesthetics, Dissociative": ["Ketamine", "Phencyclidine"],
    "Depressive Disorder": [
        "Depression, Postpartum",
        "Depressive Disorder, Major",
        "Dysthymic Disorder",
        "Seasonal Affective Disorder",
    ],
    "Depressive Disorder, Major": ["Depressive Disorder, Treatment-Resistant"],
    "Memory": [
        "Memory Consolidation",
        "Memory, Episodic",
        "Memory, Long-Term",
        "Memory, Short-Term",
        "Mental Recall",
    ],
}

#: Publication types are hierarchical too: clinical trial[pt] finds RCTs.
DEFAULT_PUBLICATION_TYPE_TREE: dict[str, list[str]] = {
    "Clinical Trial": [
        "Adaptive Clinical Trial",
        "Clinical Trial, Phase I",
        "Clinical Trial, Phase II",
        "Clinical Trial, Phase III",
        "Clinical Trial, Phase IV",
        "Controlled Clinical Trial",
        "Pragmatic Clinical Trial",
    ],
    "Controlled Clinical Trial": ["Randomized Controlled Trial"],
    "Randomized Controlled Trial": ["Equivalence Trial"],
    "Review": ["Systematic Review", "Scoping Review"],
}

# ISO 639-2/B codes as MEDLINE stores them; "english[la]" and "eng[la]" are one search.
_LANGUAGE_CODES: dict[str, str] = {
    "arabic": "ara", "chinese": "chi", "czech": "cze", "danish": "dan", "dutch": "dut",
    "english": "eng", "finnish": "fin", "french": "fre", "german": "ger", "greek": "gre",
    "hebrew": "heb", "hungarian": "hun", "italian": "ita", "japanese": "jpn",
    "korean": "kor", "norwegian": "nor", "persian": "per", "polish": "pol",
    "portuguese": "por", "russian": "rus", "spanish": "spa", "swedish": "swe",
    "turkish": "tur",
}  # fmt: skip


#: PubMed's comment/correction filters -> the CommentsCorrections RefType each one finds
CORRECTION_FILTERS: dict[str, str] = {
    "hasretractionin": "RetractionIn",
    "haserratumin": "ErratumIn",
    "hasexpressionofconcernin": "ExpressionOfConcernIn",
}


# --------------------------------------------------------------------------- records


@dataclass
class IndexedRecord:
    """What the search engine needs to know about one PubMed record."""

    pmid: str
    title: str
    abstract: str
    mesh: list[tuple[str, bool]] = field(default_factory=list)  # (descriptor, major topic)
    publication_types: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)  # "Grabski M"; collective names as-is
    keywords: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)  # "eng"
    pub_date: date | None = None  # for [dp] and datetype=pdat
    entrez_date: date | None = None  # for [edat] and datetype=edat
    #: CommentsCorrections links: (RefType, target PMID or None), for the has...in filters
    comments_corrections: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass
class SearchResult:
    """An esearch answer: matching PMIDs, most recent first, and NCBI's diagnostics."""

    ids: list[str]
    count: int
    translation: str
    phrases_not_found: list[str] = field(default_factory=list)
    fields_not_found: list[str] = field(default_factory=list)
    quoted_phrases_not_found: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Term:
    """One search term: a word, an unquoted run of words before a tag, or a quoted phrase.

    ``tag`` is the field tag as typed, without brackets (``None`` when untagged);
    ``position`` counts characters from 1.
    """

    text: str
    tag: str | None
    quoted: bool
    position: int


@dataclass(frozen=True)
class DateRange:
    """``start:end[tag]``; ``tag`` is ``None`` for an untagged range of dates."""

    start: str
    end: str
    tag: str | None
    position: int


@dataclass(frozen=True)
class BinOp:
    """``left OP right``; ``grouped`` when the user wrote it in parentheses."""

    op: str  # "AND", "OR" or "NOT"
    left: Node
    right: Node
    position: int
    implicit: bool = False
    grouped: bool = False


@dataclass(frozen=True)
class History:
    """``#N``: a search kept on the history server (esearch ``usehistory``, epost)."""

    number: int
    position: int


Node = Term | DateRange | BinOp | History

#: resolves ``#N`` to the PMIDs stored under it, or None when there is no such set
HistoryLookup = Callable[[int], Sequence[str] | None]

_OPERATORS = frozenset({"AND", "OR", "NOT"})


@dataclass(frozen=True)
class _Token:
    kind: str  # "(" ")" "OP" "WORD" "QUOTED" "TAG" ":"
    value: str
    position: int  # 1-based


def _lex(term: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(term)
    while i < n:
        ch = term[i]
        if ch.isspace():
            i += 1
        elif ch in "():":
            tokens.append(_Token(ch, ch, i + 1))
            i += 1
        elif ch == '"':
            end = term.find('"', i + 1)
            if end < 0:
                raise QuerySyntaxError(f"unbalanced quote '\"' at position {i + 1}")
            tokens.append(_Token("QUOTED", term[i + 1 : end], i + 1))
            i = end + 1
        elif ch == "[":
            end = term.find("]", i + 1)
            if end < 0:
                raise QuerySyntaxError(f"unclosed field tag '[' at position {i + 1}")
            tokens.append(_Token("TAG", term[i + 1 : end].strip(), i + 1))
            i = end + 1
        elif ch == "]":
            raise QuerySyntaxError(f"unbalanced ']' at position {i + 1}")
        else:
            start = i
            while i < n and not term[i].isspace() and term[i] not in '()":[]':
                i += 1
            word = term[start:i]
            kind = ("OP" if word in _OPERATORS
                    else "HISTORY" if re.fullmatch(r"#\d+", word) else "WORD")
            tokens.append(_Token(kind, word, start + 1))
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self, ahead: int = 0) -> _Token | None:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expression(self, opened_at: int | None) -> Node:
        node: Node | None = None
        pending: _Token | None = None
        while (tok := self.peek()) is not None:
            if tok.kind == ")":
                if opened_at is None:
                    raise QuerySyntaxError(f"unbalanced ')' at position {tok.position}")
                break
            if tok.kind == "OP":
                if node is None:
                    raise QuerySyntaxError(
                        f"operator {tok.value} at position {tok.position} has no left operand"
                    )
                if pending is not None:
                    raise QuerySyntaxError(
                        f"operator {tok.value} at position {tok.position} follows operator "
                        f"{pending.value} with no term between them"
                    )
                pending = self.take()
                continue
            operand = self.operand()
            if node is None:
                node = operand
            elif pending is None:
                node = BinOp("AND", node, operand, _first_position(operand), implicit=True)
            else:
                node = BinOp(pending.value, node, operand, pending.position)
            pending = None
        if pending is not None:
            raise QuerySyntaxError(
                f"operator {pending.value} at position {pending.position} has no right operand"
            )
        if node is None:
            if opened_at is None:
                raise QuerySyntaxError("empty query")
            raise QuerySyntaxError(f"empty parentheses at position {opened_at}")
        return node

    def operand(self) -> Node:
        tok = self.peek()
        assert tok is not None
        if tok.kind == "(":
            self.take()
            inner = self.expression(tok.position)
            if self.peek() is None:
                raise QuerySyntaxError(f"unbalanced '(' at position {tok.position}")
            self.take()  # the ")"
            after = self.peek()
            if after is not None and after.kind == "TAG":
                raise QuerySyntaxError(
                    f"field tag [{after.value}] at position {after.position} follows a "
                    "parenthesis; PubMed tags apply to single terms"
                )
            return replace(inner, grouped=True) if isinstance(inner, BinOp) else inner
        if tok.kind == "TAG":
            raise QuerySyntaxError(
                f"field tag [{tok.value}] at position {tok.position} has no term before it"
            )
        if tok.kind == ":":
            raise QuerySyntaxError(f"range ':' at position {tok.position} has no start value")
        if tok.kind == "HISTORY":
            self.take()
            return History(int(tok.value[1:]), tok.position)
        return self.atom()

    def unit(self, single_word: bool) -> list[Term]:
        """A quoted phrase or a run of words, with its tag if one follows."""
        tok = self.take()
        if tok.kind == "QUOTED":
            if not tok.value.strip():
                raise QuerySyntaxError(f"empty quoted phrase at position {tok.position}")
            return [Term(" ".join(tok.value.split()), self.tag(), True, tok.position)]
        words = [tok]
        while not single_word:
            nxt = self.peek()
            if nxt is None or nxt.kind != "WORD":
                break
            # A word followed by ':' starts a range of its own (ketamine 2015:2026[dp]).
            follower = self.peek(1)
            if follower is not None and follower.kind == ":":
                break
            words.append(self.take())
        tag = self.tag()
        if tag is not None:
            return [Term(" ".join(w.value for w in words), tag, False, words[0].position)]
        return [Term(w.value, None, False, w.position) for w in words]

    def tag(self) -> str | None:
        tok = self.peek()
        if tok is not None and tok.kind == "TAG":
            self.take()
            return tok.value
        return None

    def atom(self) -> Node:
        terms = self.unit(single_word=False)
        colon = self.peek()
        if colon is not None and colon.kind == ":":
            self.take()
            nxt = self.peek()
            if nxt is None or nxt.kind not in ("WORD", "QUOTED"):
                raise QuerySyntaxError(f"range ':' at position {colon.position} has no end value")
            end = self.unit(single_word=True)[0]
            parts: list[Node] = [*terms[:-1], self.range(terms[-1], end, colon.position)]
        else:
            parts = list(terms)
        node: Node = parts[0]
        for t in parts[1:]:
            node = BinOp("AND", node, t, _first_position(t), implicit=True)
        return node

    def range(self, start: Term, end: Term, position: int) -> Node:
        tags = {_tag_key(t.tag) for t in (start, end) if t.tag is not None}
        if len(tags) > 1:
            raise QuerySyntaxError(
                f"range ':' at position {position} joins terms with different field tags"
            )
        tag = end.tag if end.tag is not None else start.tag
        spec = _FIELDS.get(_tag_key(tag)) if tag is not None else None
        dates = _parse_date(start.text, end=False) and _parse_date(end.text, end=True)
        if (spec is not None and spec.kind == "date") or (tag is None and dates):
            return DateRange(start.text, end.text, tag, start.position)
        # Not a date range: PubMed has ranges for numeric fields only; read ':' as a space.
        return BinOp("AND", replace(start, tag=tag), replace(end, tag=tag), position, True)


def _first_position(node: Node) -> int:
    while isinstance(node, BinOp):
        node = node.left
    return node.position


def parse(term: str) -> Node:
    """Parse PubMed search syntax into a tree of :class:`Term`, :class:`DateRange`, :class:`BinOp`.

    Raises :class:`~kettrack.errors.QuerySyntaxError` for unbalanced parentheses or
    quotes, an operator without an operand, or an empty query. Unknown field tags
    are not syntax errors (NCBI reports and drops them), so they parse.
    """
    tokens = _lex(term)
    if not tokens:
        raise QuerySyntaxError("empty query")
    return _Parser(tokens).expression(None)


# --------------------------------------------------------------------------- fields


@dataclass(frozen=True)
class _Field:
    key: str
    label: str  # NCBI's long name, used in the translation
    kind: str  # "text", "mesh", "pt", "la", "au", "date"
    sources: tuple[str, ...] = ()  # text fields searched, for kind "text"
    explode: bool = True
    major: bool = False
    which: str = "au"  # author postings: "au", "1au" or "lastau"
    date_field: str = ""  # "dp" or "edat"


_TIAB = ("ti", "ab", "ot")
_TW = ("ti", "ab", "ot", "mh")
_ALL = ("ti", "ab", "ot", "mh", "pt", "au")

_FIELD_LIST = [
    (_Field("tiab", "Title/Abstract", "text", _TIAB), ["tiab", "title/abstract"]),
    (_Field("ti", "Title", "text", ("ti",)), ["ti", "title"]),
    (_Field("ab", "Abstract", "text", ("ab",)), ["ab", "abstract"]),
    (_Field("tw", "Text Word", "text", _TW), ["tw", "text word", "text words"]),
    (_Field("all", "All Fields", "text", _ALL), ["all", "all fields"]),
    (_Field("ot", "Other Term", "text", ("ot",)), ["ot", "other term", "other terms"]),
    (_Field("mh", "MeSH Terms", "mesh"), ["mh", "mesh", "mesh terms", "mesh term"]),
    (
        _Field("mh:noexp", "MeSH Terms:noexp", "mesh", explode=False),
        ["mh:noexp", "mesh:noexp", "mesh terms:noexp", "mesh term:noexp"],
    ),
    (_Field("majr", "MeSH Major Topic", "mesh", major=True), ["majr", "mesh major topic"]),
    (
        _Field("majr:noexp", "MeSH Major Topic:noexp", "mesh", explode=False, major=True),
        ["majr:noexp", "mesh major topic:noexp"],
    ),
    (_Field("pt", "Publication Type", "pt"), ["pt", "publication type"]),
    (_Field("au", "Author", "au"), ["au", "author", "auth"]),
    (_Field("1au", "Author - First", "au", which="1au"), ["1au", "author - first"]),
    (_Field("lastau", "Author - Last", "au", which="lastau"), ["lastau", "author - last"]),
    (_Field("la", "Language", "la"), ["la", "language", "lang"]),
    (_Field("sb", "Filter", "filter"), ["sb", "filter", "filters", "subset"]),
    (
        _Field("dp", "Date - Publication", "date", date_field="dp"),
        ["dp", "pdat", "publication date", "date - publication"],
    ),
    (
        _Field("edat", "Date - Entrez", "date", date_field="edat"),
        ["edat", "entrez date", "date - entrez"],
    ),
    (
        _Field("crdt", "Date - Create", "date", date_field="edat"),
        ["crdt", "create date", "date - create"],
    ),
]
_FIELDS: dict[str, _Field] = {alias: spec for spec, aliases in _FIELD_LIST for alias in aliases}
_PROXIMITY = re.compile(r"^(tiab|ti|ab|title/abstract|title|abstract)\s*:\s*~\s*(\d+)$")
_ALL_FIELDS = _FIELDS["all"]


def _tag_key(tag: str) -> str:
    return " ".join(tag.lower().split())


def _resolve(tag: str | None) -> tuple[_Field | None, int | None]:
    """The field a tag names (``None`` if unknown), and a proximity distance if any."""
    if tag is None:
        return _ALL_FIELDS, None
    key = _tag_key(tag)
    if (m := _PROXIMITY.match(key)) is not None:
        return _FIELDS[m.group(1)], int(m.group(2))
    return _FIELDS.get(key), None


# --------------------------------------------------------------------------- text


_WORD = re.compile(r"[^\W_]+")


def _fold(text: str) -> str:
    if not text.isascii():
        # PubMed ignores diacritics: "Mélanie" and "melanie" are one word.
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return text.lower()


def _words(text: str) -> list[str]:
    return _WORD.findall(_fold(text))


def _value(text: str) -> str:
    """A whole value (MeSH descriptor, publication type, author) in comparable form."""
    return " ".join(_words(text))


def _joined(values: Iterable[str]) -> str:
    # " | " keeps a phrase from running across two keywords or two MeSH headings.
    return " " + " | ".join(_value(v) for v in values) + " "


def _language(text: str) -> str:
    v = _value(text)
    return _LANGUAGE_CODES.get(v, v)


_DATE = re.compile(r"^(\d{4})(?:[/-](\d{1,2})(?:[/-](\d{1,2}))?)?$")


def _parse_date(text: str, *, end: bool) -> date | None:
    """First (or last, with ``end``) day that ``YYYY``, ``YYYY/MM`` or ``YYYY/MM/DD`` covers."""
    m = _DATE.match(text.strip())
    if m is None:
        return None
    year, month, day = int(m.group(1)), m.group(2), m.group(3)
    try:
        if month is None:
            return date(year, 12, 31) if end else date(year, 1, 1)
        if day is None:
            mon = int(month)
            return date(year, mon, monthrange(year, mon)[1] if end else 1)
        return date(year, int(month), int(day))
    except ValueError:
        return None


def _fmt(d: date) -> str:
    return f"{d.year:04d}/{d.month:02d}/{d.day:02d}"


def _descendants(tree: Mapping[str, Sequence[str]]) -> dict[str, frozenset[str]]:
    """Each node of a parent -> children tree mapped to itself and everything below it."""
    children: dict[str, set[str]] = {}
    for parent, kids in tree.items():
        children.setdefault(_value(parent), set()).update(_value(k) for k in kids)
    closed: dict[str, frozenset[str]] = {}
    for root in children:
        seen = {root}
        stack = [root]
        while stack:  # iterative, and cycle-safe, in case a caller's tree has loops
            for kid in children.get(stack.pop(), ()):
                if kid not in seen:
                    seen.add(kid)
                    stack.append(kid)
        closed[root] = frozenset(seen)
    return closed


# --------------------------------------------------------------------------- index


_TEXT_SOURCES = ("ti", "ab", "ot", "mh", "pt", "au")
_VALUE_SOURCES = ("mh", "majr", "pt", "la", "au", "1au", "lastau", "filter")


class _Postings:
    """token -> record numbers (ascending arrays, compact), plus a sorted token list."""

    def __init__(self) -> None:
        self.map: defaultdict[str, array[int]] = defaultdict(_new_array)
        self._sorted: list[str] | None = []

    def add(self, keys: Iterable[str], doc: int) -> None:
        m = self.map
        size = len(m)
        for key in keys:
            m[key].append(doc)  # the hot loop of indexing: keep it to one C-level lookup
        if len(m) != size:
            self._sorted = None

    def get(self, key: str) -> array[int]:
        return self.map.get(key, _EMPTY)

    def with_prefix(self, prefix: str) -> Iterator[str]:
        if self._sorted is None:
            self._sorted = sorted(self.map)
        keys = self._sorted
        for i in range(bisect_left(keys, prefix), len(keys)):
            if not keys[i].startswith(prefix):
                break
            yield keys[i]


_EMPTY: array[int] = array("i")


def _new_array() -> array[int]:
    return array("i")


class _Report:
    def __init__(self, history: HistoryLookup | None = None) -> None:
        self.history = history
        self.phrases_not_found: list[str] = []
        self.fields_not_found: list[str] = []
        self.quoted_phrases_not_found: list[str] = []
        self.warnings: list[str] = []

    @staticmethod
    def note(into: list[str], item: str) -> None:
        if item not in into:
            into.append(item)


# A leaf or subtree's result: matching record numbers, its translation and whether that
# translation holds an operator (so needs parentheses inside a bigger one), or None when
# NCBI would have dropped it from the query.
_Hits = tuple[set[int], str, bool] | None


class SearchIndex:
    """PubMed records, indexed for PubMed search syntax.

    ``mesh_tree`` maps a MeSH descriptor to its narrower descriptors (used to
    explode ``[mh]`` and ``[majr]``); it defaults to :data:`DEFAULT_MESH_TREE`.
    Adding a record whose PMID is already indexed replaces it.
    """

    def __init__(
        self,
        records: Iterable[IndexedRecord] = (),
        mesh_tree: Mapping[str, Sequence[str]] | None = None,
        *,
        publication_type_tree: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._mesh_below = _descendants(DEFAULT_MESH_TREE if mesh_tree is None else mesh_tree)
        self._pt_below = _descendants(
            DEFAULT_PUBLICATION_TYPE_TREE
            if publication_type_tree is None
            else publication_type_tree
        )
        self._records: list[IndexedRecord] = []
        self._doc_of: dict[str, int] = {}
        self._dead: set[int] = set()
        self._text = {src: _Postings() for src in _TEXT_SOURCES}
        # Normalised text per source and record: " word word | word " for phrase checks.
        self._norm: dict[str, list[str]] = {src: [] for src in _TEXT_SOURCES}
        self._values = {src: _Postings() for src in _VALUE_SOURCES}
        self._dates: dict[str, list[tuple[int, int]]] = {"dp": [], "edat": []}
        self._dates_sorted: dict[str, tuple[list[int], list[int]] | None] = {
            "dp": None,
            "edat": None,
        }
        self._order: list[int] | None = None  # live records, most recent first
        self._rank: list[int] = []
        for record in records:
            self.add(record)

    def __len__(self) -> int:
        """The number of records indexed (a replaced record counts once)."""
        return len(self._doc_of)

    def add(self, record: IndexedRecord) -> None:
        """Index one record (replacing any earlier record with the same PMID)."""
        old = self._doc_of.get(record.pmid)
        if old is not None:
            self._dead.add(old)
        doc = len(self._records)
        self._records.append(record)
        self._doc_of[record.pmid] = doc
        self._order = None

        texts = {
            "ti": " " + " ".join(_words(record.title)) + " ",
            "ab": " " + " ".join(_words(record.abstract)) + " ",
            "ot": _joined(record.keywords),
            "mh": _joined(name for name, _major in record.mesh),
            "pt": _joined(record.publication_types),
            "au": _joined(record.authors),
        }
        for src, text in texts.items():
            self._norm[src].append(text)
            self._text[src].add(set(text.split()) - {"|"}, doc)

        v = self._values
        v["mh"].add({_value(name) for name, _major in record.mesh}, doc)
        v["majr"].add({_value(name) for name, major in record.mesh if major}, doc)
        v["pt"].add({_value(p) for p in record.publication_types}, doc)
        v["la"].add({_language(lang) for lang in record.languages}, doc)
        authors = [_value(a) for a in record.authors]
        v["au"].add(set(authors), doc)
        v["1au"].add(authors[:1], doc)
        v["lastau"].add(authors[-1:], doc)
        ref_types = {ref_type for ref_type, _target in record.comments_corrections}
        v["filter"].add({name for name, ref_type in CORRECTION_FILTERS.items()
                         if ref_type in ref_types}, doc)

        for key, when in (("dp", record.pub_date), ("edat", record.entrez_date)):
            if when is not None:
                self._dates[key].append((when.toordinal(), doc))
                self._dates_sorted[key] = None

    # ------------------------------------------------------------------ search

    def search(
        self,
        term: str,
        *,
        datetype: str | None = None,
        mindate: str | None = None,
        maxdate: str | None = None,
        history: HistoryLookup | None = None,
    ) -> SearchResult:
        """Run a PubMed query, as esearch would (``datetype`` is ``edat`` or ``pdat``).

        ``#N`` in the term is looked up with ``history`` (no lookup, or an unknown
        set, is :class:`LookupError`, as NCBI's "Unable to obtain query #N").

        ``mindate``/``maxdate`` (``YYYY``, ``YYYY/MM`` or ``YYYY/MM/DD``, inclusive)
        must come together. Raises :class:`~kettrack.errors.QuerySyntaxError` for
        syntax NCBI rejects; terms it would drop are reported in the result instead.
        """
        limit = _date_limit(datetype, mindate, maxdate)
        tree = parse(term)
        report = _Report(history)
        hits = self._evaluate(tree, report)
        found, translation, compound = hits if hits is not None else (set(), "", False)
        if limit is not None:
            key, label, lo, hi = limit
            found &= self._date_hits(key, lo, hi)
            clause = f"{_fmt(lo)}:{_fmt(hi)}[{label}]"
            if compound:
                translation = f"({translation})"
            translation = f"{translation} AND {clause}" if translation else clause
        ids = [self._records[d].pmid for d in self._most_recent_first(found)]
        return SearchResult(
            ids=ids,
            count=len(ids),
            translation=translation,
            phrases_not_found=report.phrases_not_found,
            fields_not_found=report.fields_not_found,
            quoted_phrases_not_found=report.quoted_phrases_not_found,
            warnings=report.warnings,
        )

    def _most_recent_first(self, found: set[int]) -> list[int]:
        if self._order is None:
            live = [d for d in range(len(self._records)) if d not in self._dead]

            def recency(doc: int) -> tuple[int, int, str]:
                rec = self._records[doc]
                edat = rec.entrez_date.toordinal() if rec.entrez_date else -1
                pmid = int(rec.pmid) if rec.pmid.isdigit() else -1
                return (edat, pmid, rec.pmid)

            self._order = sorted(live, key=recency, reverse=True)
            self._rank = [0] * len(self._records)
            for i, doc in enumerate(self._order):
                self._rank[doc] = i
        if len(found) * 8 > len(self._order):
            return [d for d in self._order if d in found]
        return sorted(found, key=self._rank.__getitem__)

    def _evaluate(self, node: Node, report: _Report) -> _Hits:
        if isinstance(node, BinOp):
            left = self._evaluate(node.left, report)
            right = self._evaluate(node.right, report)
            if right is None:
                return left
            if left is None:
                # "zzqx NOT x": with its left side gone, NOT has nothing to subtract from.
                return None if node.op == "NOT" else right
            ls, lt, left_compound = left
            rs, rt, right_compound = right
            if node.op == "AND":
                hits = ls & rs
            elif node.op == "OR":
                hits = ls | rs
            else:
                hits = ls - rs
            # Left to right, an ungrouped chain on the left reads right without parentheses.
            if left_compound and (not isinstance(node.left, BinOp) or node.left.grouped):
                lt = f"({lt})"
            if right_compound:
                rt = f"({rt})"
            return hits, f"{lt} {node.op} {rt}", True
        if isinstance(node, DateRange):
            return self._date_range(node, report)
        if isinstance(node, History):
            stored = report.history(node.number) if report.history is not None else None
            if stored is None:
                raise LookupError(f"Unable to obtain query #{node.number}")
            docs = {self._doc_of[p] for p in stored if p in self._doc_of} - self._dead
            return docs, f"#{node.number}", False
        return self._term(node, report)

    def _date_range(self, node: DateRange, report: _Report) -> _Hits:
        spec = _FIELDS["dp"] if node.tag is None else _resolve(node.tag)[0]
        assert spec is not None and spec.kind == "date"  # the parser made sure
        lo = _parse_date(node.start, end=False)
        hi = _parse_date(node.end, end=True)
        if lo is None or hi is None:
            report.note(report.phrases_not_found, f"{node.start}:{node.end}[{spec.label}]")
            return None
        if lo > hi:
            lo = _parse_date(node.end, end=False) or lo
            hi = _parse_date(node.start, end=True) or hi
        hits = self._date_hits(spec.date_field, lo, hi)
        return hits, f"{_fmt(lo)}:{_fmt(hi)}[{spec.label}]", False

    def _date_hits(self, key: str, lo: date, hi: date) -> set[int]:
        table = self._dates_sorted[key]
        if table is None:
            pairs = sorted(self._dates[key])
            table = ([p[0] for p in pairs], [p[1] for p in pairs])
            self._dates_sorted[key] = table
        ordinals, docs = table
        i = bisect_left(ordinals, lo.toordinal())
        j = bisect_right(ordinals, hi.toordinal())
        return set(docs[i:j]) - self._dead

    def _term(self, term: Term, report: _Report) -> _Hits:
        spec, proximity = _resolve(term.tag)
        if spec is None:
            report.note(report.fields_not_found, f"[{term.tag}]")
            return None
        if spec.kind == "filter" or (
            term.tag is None and not term.quoted and _value(term.text) in CORRECTION_FILTERS
        ):
            return self._filter(term, report)
        text = " ".join(term.text.split())
        truncated = text.endswith("*")
        stem = text.rstrip("*").rstrip()
        if truncated:
            root = _words(stem)[-1:] if spec.kind == "text" else [_value(stem)]
            if not root or len(root[0]) < 4:
                report.note(
                    report.warnings,
                    f'Wildcard search for "{text}" uses a root of fewer than 4 characters; '
                    "PubMed may not search all of its endings.",
                )
        shown = f'"{_fold(text)}"[{spec.label}]'
        if proximity is not None:
            shown = f'"{_fold(text)}"[{spec.label}:~{proximity}]'

        hits: set[int]
        compound = False
        if spec.kind == "text":
            hits = self._text_hits(stem, truncated, spec.sources, proximity)
            if term.tag is None and not term.quoted and not truncated:
                # Automatic term mapping, roughly: a word that names a MeSH descriptor
                # also finds records indexed with it or anything narrower.
                mesh = self._mesh_hits(_value(stem), False, _FIELDS["mh"])
                if mesh is not None:
                    hits |= mesh
                    shown = f'"{_value(stem)}"[MeSH Terms] OR {shown}'
                    compound = True
        elif spec.kind == "mesh":
            hits = self._mesh_hits(_value(stem), truncated, spec) or set()
        elif spec.kind == "pt":
            hits = self._whole_value_hits("pt", _value(stem), truncated, self._pt_below)
        elif spec.kind == "la":
            hits = self._whole_value_hits("la", _language(stem), truncated, {})
        elif spec.kind == "au":
            hits = self._author_hits(spec.which, _value(stem), truncated)
        else:  # a single date: its whole year, month or day
            return self._date_range(DateRange(text, text, term.tag, term.position), report)

        if self._dead:
            hits -= self._dead
        if not hits:
            if term.quoted:
                report.note(
                    report.quoted_phrases_not_found,
                    f'"{text}"' if term.tag is None else f'"{text}"[{spec.label}]',
                )
            else:
                report.note(
                    report.phrases_not_found,
                    text if term.tag is None else f"{text}[{spec.label}]",
                )
            return None
        return hits, shown, compound

    def _filter(self, term: Term, report: _Report) -> _Hits:
        """A PubMed filter (``haserratumin``): known ones match, even nothing; others drop."""
        name = _value(term.text)
        if name not in CORRECTION_FILTERS:
            report.note(report.phrases_not_found, f"{term.text}[Filter]")
            return None
        hits = set(self._values["filter"].get(name))
        if self._dead:
            hits -= self._dead
        return hits, f'"{name}"[Filter]', False

    def _text_hits(
        self, stem: str, truncated: bool, sources: Sequence[str], proximity: int | None
    ) -> set[int]:
        words = _words(stem)
        hits: set[int] = set()
        if not words:
            return hits
        for src in sources:
            postings = self._text[src]
            per_word: list[set[int]] = []
            for i, word in enumerate(words):
                found: set[int] = set()
                if truncated and i == len(words) - 1:
                    for key in postings.with_prefix(word):
                        found.update(postings.get(key))
                else:
                    found.update(postings.get(word))
                per_word.append(found)
            per_word.sort(key=len)
            candidates = per_word[0].intersection(*per_word[1:])
            if len(words) == 1 or not candidates:
                hits |= candidates
                continue
            norm = self._norm[src]
            if proximity is not None:
                hits.update(d for d in candidates if _near(norm[d], words, truncated, proximity))
            elif truncated:
                pattern = re.compile("(?<= )" + " ".join(map(re.escape, words)) + r"[^ |]*(?= )")
                hits.update(d for d in candidates if pattern.search(norm[d]))
            else:
                needle = " " + " ".join(words) + " "
                hits.update(d for d in candidates if needle in norm[d])
        return hits

    def _mesh_hits(self, name: str, truncated: bool, spec: _Field) -> set[int] | None:
        """Records indexed with descriptor ``name`` (exploded unless noexp or truncated).

        ``None`` when no such descriptor is known (in the index or the tree).
        """
        postings = self._values["majr" if spec.major else "mh"]
        if truncated:
            names = list(postings.with_prefix(name))
        elif spec.explode:
            names = sorted(self._mesh_below.get(name, {name}))
        else:
            names = [name]
        if not any(n in postings.map or n in self._mesh_below for n in names):
            return None
        hits: set[int] = set()
        for n in names:
            hits.update(postings.get(n))
        return hits

    def _whole_value_hits(
        self, key: str, value: str, truncated: bool, below: Mapping[str, frozenset[str]]
    ) -> set[int]:
        postings = self._values[key]
        names = postings.with_prefix(value) if truncated else below.get(value, {value})
        hits: set[int] = set()
        for n in names:
            hits.update(postings.get(n))
        return hits

    def _author_hits(self, which: str, name: str, truncated: bool) -> set[int]:
        postings = self._values[which]
        hits: set[int] = set()
        if not name:
            return hits
        for author in postings.with_prefix(name):
            # "grabski" finds "grabski m" and "grabski mj", not "grabskiewicz a";
            # "grabski m" finds "grabski mj" too, as PubMed's initials do.
            if truncated or author == name or author[len(name)] == " " or " " in name:
                hits.update(postings.get(author))
        return hits


def _near(text: str, words: Sequence[str], truncated: bool, distance: int) -> bool:
    """True if all ``words`` occur with at most ``distance`` other words between them."""
    last = len(words) - 1
    hits: list[tuple[int, int]] = []  # (position in text, which word), in text order
    for pos, tok in enumerate(text.split()):
        for i, word in enumerate(words):
            if tok == word or (truncated and i == last and tok.startswith(word)):
                hits.append((pos, i))
    wanted = len(set(words))
    index_of = {w: i for i, w in enumerate(words)}  # a repeated word needs finding once
    counts: dict[int, int] = {}
    lo = 0
    # Sliding window over the hits: shrink from the left while it still holds every word.
    for pos, which in hits:
        i = index_of[words[which]]
        counts[i] = counts.get(i, 0) + 1
        while len(counts) == wanted:
            first = hits[lo][0]
            if pos - first + 1 - wanted <= distance:
                return True
            j = index_of[words[hits[lo][1]]]
            counts[j] -= 1
            if not counts[j]:
                del counts[j]
            lo += 1
    return False


def _date_limit(
    datetype: str | None, mindate: str | None, maxdate: str | None
) -> tuple[str, str, date, date] | None:
    """esearch's datetype/mindate/maxdate as (date field, label, first day, last day)."""
    if mindate is None and maxdate is None:
        return None
    if mindate is None or maxdate is None:
        raise QuerySyntaxError("mindate and maxdate must be given together")
    kind = (datetype or "pdat").strip().lower()
    if kind == "pdat":
        key, label = "dp", "Date - Publication"
    elif kind == "edat":
        key, label = "edat", "Date - Entrez"
    else:
        raise QuerySyntaxError(f"datetype {datetype!r} is not supported; use 'pdat' or 'edat'")
    lo = _parse_date(mindate, end=False)
    hi = _parse_date(maxdate, end=True)
    if lo is None:
        raise QuerySyntaxError(f"mindate {mindate!r} is not YYYY, YYYY/MM or YYYY/MM/DD")
    if hi is None:
        raise QuerySyntaxError(f"maxdate {maxdate!r} is not YYYY, YYYY/MM or YYYY/MM/DD")
    return key, label, lo, hi
