"""Study design, species and sample size, decided for every article.

Where NLM has indexed a record, its publication types and MeSH decide; before
indexing (most new records), title, abstract and keywords do. The vocabulary
is DESIGN.md's: rct, trial, protocol, meta-analysis, systematic-review,
review, observational, case-report, preclinical, other.
"""

from __future__ import annotations

import re

from .article import Article

DESIGNS = ("rct", "trial", "protocol", "meta-analysis", "systematic-review", "review",
           "observational", "case-report", "preclinical", "other")

#: NLM publication types, strongest first
_PT_RULES: list[tuple[str, set[str]]] = [
    ("meta-analysis", {"Meta-Analysis", "Network Meta-Analysis"}),
    ("systematic-review", {"Systematic Review"}),
    ("protocol", {"Clinical Trial Protocol"}),
    ("rct", {"Randomized Controlled Trial", "Equivalence Trial", "Pragmatic Clinical Trial"}),
    ("trial", {"Clinical Trial", "Clinical Trial, Phase I", "Clinical Trial, Phase II",
               "Clinical Trial, Phase III", "Clinical Trial, Phase IV", "Controlled Clinical Trial",
               "Adaptive Clinical Trial", "Clinical Study"}),
    ("case-report", {"Case Reports"}),
    ("observational", {"Observational Study", "Multicenter Study", "Comparative Study",
                       "Evaluation Study", "Validation Study", "Twin Study"}),
    ("review", {"Review", "Scoping Review", "Narrative Review"}),
]
_ANIMALS = {"Animals", "Rats", "Mice", "Rats, Sprague-Dawley", "Rats, Wistar", "Rats, Long-Evans",
            "Mice, Inbred C57BL", "Macaca mulatta", "Disease Models, Animal"}

_TEXT_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("meta-analysis", re.compile(r"\bmeta-?analys[ie]s\b", re.I)),
    ("systematic-review", re.compile(r"\bsystematic(?:ally)? review|\bscoping review|PRISMA", re.I)),
    ("protocol", re.compile(r"\b(?:study|trial) protocol\b|\bprotocol for a\b", re.I)),
    ("rct", re.compile(r"\brandomi[sz]ed\b|\brandomly (?:assigned|allocated)\b|"
                       r"\bplacebo-controlled\b|\bdouble-blind(?:ed)?\b", re.I)),
    ("trial", re.compile(r"\bopen-label\b|\bphase (?:1|2|3|I|II|III)\b|\bpilot (?:study|trial)\b|"
                         r"\bclinical trial\b|\bsingle-arm\b", re.I)),
    ("case-report", re.compile(r"\bcase report\b|\bwe (?:report|describe|present) (?:a|the) "
                               r"(?:case|patient)\b|\ba \d+-year-old\b", re.I)),
    ("review", re.compile(r"\breview\b", re.I)),
    ("observational", re.compile(r"\bcohort\b|\bretrospective\b|\bcross-sectional\b|"
                                 r"\bcase-control\b|\bchart review\b|\bregistry\b", re.I)),
]
_ANIMAL_TEXT = re.compile(r"\b(?:rats?|mice|mouse|rodents?|primates?|macaques?|zebrafish|"
                          r"in vitro|animal model)\b", re.I)
_HUMAN_TEXT = re.compile(r"\b(?:patients?|participants?|adults?|veterans?|volunteers?|"
                         r"individuals|inpatients?|outpatients?|women|men)\b", re.I)
_SAMPLE = re.compile(
    r"\b(?:[Nn]\s*=\s*(\d{1,6})|(\d{1,6})\s+(?:adult |adults |adult male |male |female |"
    r"heavy-drinking |treatment-seeking |alcohol-dependent |detoxified |hospitali[sz]ed )?"
    r"(?:patients|participants|subjects|individuals|adults|veterans|volunteers|people|"
    r"inpatients|outpatients|drinkers)\b)"
)


def classify(article: Article) -> Article:
    """Set ``design``, ``species`` and ``sample_size`` on ``article`` (and return it)."""
    article.design = design_of(article)
    article.species = species_of(article)
    article.sample_size = sample_size_of(article)
    return article


def design_of(article: Article, *, use_indexing: bool = True) -> str:
    """The design from publication types (when indexed) or from text."""
    types = {p.name for p in article.publication_types}
    mesh = {m.descriptor for m in article.mesh}
    if use_indexing and (types - {"Journal Article", "English Abstract"} or mesh):
        if mesh & _ANIMALS and "Humans" not in mesh:
            return "preclinical"
        for design, names in _PT_RULES:
            if types & names:
                return design
        if mesh:
            return _text_design(article)
    return _text_design(article)


def _text_design(article: Article) -> str:
    text = " ".join([article.title, article.abstract, " ".join(article.keywords)])
    title = article.title
    if _ANIMAL_TEXT.search(title) or (
        _ANIMAL_TEXT.search(text) and not _HUMAN_TEXT.search(text)
    ):
        return "preclinical"
    for design, pattern in _TEXT_RULES:
        if pattern.search(title):
            return design
    if article.nct_ids or article.other_trial_ids:
        for design in ("protocol", "rct", "trial"):
            if dict(_TEXT_RULES)[design].search(text):
                return design
        return "trial"
    for design, pattern in _TEXT_RULES:
        if pattern.search(text):
            return design
    return "other"


def species_of(article: Article) -> str | None:
    mesh = {m.descriptor for m in article.mesh}
    if "Humans" in mesh:
        return "human"
    if mesh & _ANIMALS:
        return "animal"
    text = f"{article.title} {article.abstract}"
    if _ANIMAL_TEXT.search(text) and not _HUMAN_TEXT.search(text):
        return "animal"
    if _HUMAN_TEXT.search(text):
        return "human"
    return None


def sample_size_of(article: Article) -> int | None:
    """The largest participant count the abstract states ("96 patients", "N=40")."""
    sizes = [int(a or b) for a, b in _SAMPLE.findall(article.abstract)]
    sizes = [s for s in sizes if 0 < s < 1_000_000]
    return max(sizes) if sizes else None
