"""Study design, species and sample size, decided for every article.

Where NLM has indexed a record, its publication types and MeSH decide
(:func:`indexed_design`); before indexing (most new records), title, abstract
and keywords do (:func:`text_design`). The vocabulary is DESIGN.md's: rct,
trial, protocol, meta-analysis, systematic-review, review, observational,
case-report, preclinical, other.

The text rules are ordered from the most specific signal to the least: a
meta-analysis usually also says "systematic review" and "randomized", a
protocol says "randomized" too, so the pooled and future-tense designs are
tested before the primary ones. Phrases that *call for* trials ("randomized
trials are needed") are removed first, so an observational paper's last
sentence does not make it an RCT. ``bench/classifier_eval.py`` measures the
rules against NLM's labels.
"""

from __future__ import annotations

import re

from kettrack.library.article import Article

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
               "Adaptive Clinical Trial", "Clinical Trial, Veterinary"}),
    ("case-report", {"Case Reports"}),
    ("observational", {"Observational Study", "Twin Study"}),
    ("review", {"Review", "Scoping Review", "Narrative Review"}),
]
#: MeSH study-design descriptors NLM adds to observational studies that carry no
#: "Observational Study" publication type
_MESH_OBSERVATIONAL = {"Cohort Studies", "Retrospective Studies", "Prospective Studies",
                       "Cross-Sectional Studies", "Case-Control Studies", "Longitudinal Studies",
                       "Follow-Up Studies", "Registries", "Health Surveys"}
_ANIMALS = {"Animals", "Rats", "Mice", "Rats, Sprague-Dawley", "Rats, Wistar", "Rats, Long-Evans",
            "Mice, Inbred C57BL", "Macaca mulatta", "Disease Models, Animal"}
#: publication types that say nothing about design
_NEUTRAL_TYPES = {"Journal Article", "English Abstract"}


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_RANDOMISED = (r"\brandomi[sz](?:ed|ation)\b|\brandomly (?:assigned|allocated|divided)\b|"
               r"\bplacebo[- ]controlled\b|\bdouble[- ]blind(?:ed)?\b|\bsham[- ]controlled\b|"
               r"\b(?:allocation concealment|allocated to)\b")
_TEXT_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("meta-analysis", _rx(r"\bmeta-?analy[sz](?:is|es|ed)\b|\bmeta-?regression\b|"
                          r"\bpooled analysis\b")),
    ("systematic-review", _rx(r"\bsystematic(?:ally)? review|\bscoping review|\bPRISMA\b|"
                              r"\bumbrella review|\bsystematic(?:ally)? search|"
                              r"\bsystematic literature")),
    ("protocol", _rx(r"\b(?:study|trial) protocol\b|\bprotocol (?:for|of) (?:a|an|the)\b|"
                     r"\bwill be (?:randomi[sz]ed|recruited|enrolled|allocated|assigned)\b|"
                     r"\b(?:this|the) (?:trial|study) will\b")),
    ("rct", _rx(_RANDOMISED)),
    ("trial", _rx(r"\bopen[- ]label\b|\bphase (?:1|2|3|4|I|II|III|IV|1/2|2/3|I/II|II/III)\b|"
                  r"\bpilot (?:study|trial)\b|\bclinical trial\b|\bsingle[- ]arm\b|"
                  r"\bnon-?randomi[sz]ed\b|\bproof[- ]of[- ]concept\b|"
                  r"\bfeasibility (?:study|trial)\b|"
                  r"\btrial registration\b|\bcontrolled trial\b")),
    ("case-report", _rx(r"\bcase reports?\b|\bwe (?:report|describe|present) (?:a|the|two|three) "
                        r"(?:case|patient|cases)\b|\ba \d+-year-old\b|\bcase series\b")),
    ("review", _rx(r"\breview\b(?! board)|\boverview\b|\bstate of the art\b|\bperspective\b|"
                   r"\bcurrent evidence\b|\bnarrative synthesis\b")),
    ("observational", _rx(r"\bcohort\b|\bretrospective\b|\bprospective(?:ly)? (?:study|studied|"
                          r"observational|followed)\b|\bcross-sectional\b|\bcase-control\b|"
                          r"\bchart review\b|\bregistry\b|\bobservational\b|\bsurvey\b|"
                          r"\belectronic health records?\b|\bclaims data\b|\bnationwide\b")),
]
_RULES = dict(_TEXT_RULES)
# In the abstract body "review" is too common ("institutional review board",
# "we reviewed charts") to decide on its own: only these phrasings do.
_REVIEW_BODY = _rx(r"\b(?:this|our|the present|a|narrative|literature|critical|brief|"
                   r"mini-?) review\b|\bwe (?:review|summari[sz]e|discuss)\b|\bis reviewed\b|"
                   r"\bare reviewed\b|\bhere,? we review\b")
# calls for future work, removed before matching (they describe what was *not* done).
# Tested sentence by sentence: one regex spanning "[^.;]*" from every position was
# quadratic in the abstract's length and cost more than parsing the record.
_SENTENCE_SPLIT = re.compile(r"(?<=[.;])")
_CALL_WORDS = _rx(r"\b(?:future|further|larger|well-designed|adequately powered|needed|"
                  r"warranted|required|should|recommend\w*)\b")
_TRIAL_WORDS = _rx(r"\b(?:randomi[sz]ed|placebo|double-blind|trials?)\b")
_TRIALS_NEEDED = _rx(r"\b(?:randomi[sz]ed|placebo-controlled|double-blind|clinical) "
                     r"(?:controlled )?trials? (?:are|is|would be) (?:needed|warranted|required)")
_ANIMAL_TEXT = _rx(r"\b(?:rats?|mice|mouse|murine|rodents?|primates?|macaques?|zebrafish|"
                   r"in vitro|animal models?|drosophila|c57bl/6|sprague-dawley|wistar|"
                   r"long-evans|cell cultures?|cell lines?)\b")
_HUMAN_TEXT = _rx(r"\b(?:patients?|participants?|adults?|veterans?|volunteers?|"
                  r"individuals|inpatients?|outpatients?|women|men|humans?|clinicians|"
                  r"people|persons|subjects with)\b")
_TRIAL_ID_TEXT = _rx(r"\bNCT\d{8}\b|\bISRCTN\d+|\bACTRN\d+|\bEudraCT\b|\bChiCTR|\bDRKS\d+|"
                     r"\bIRCT\d+|\bCTRI/|\bjRCT")

_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen")
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_NUMBER_WORDS = ({w: i for i, w in enumerate(_UNITS)}
                 | {w: 10 * (i + 2) for i, w in enumerate(_TENS)})
_WORD_NUMBER = (r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)"
                r"(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?|"
                r"eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|"
                r"ten|six|seven|eight|nine)")
_PEOPLE = (r"(?:patients|participants|subjects|individuals|adults|veterans|volunteers|people|"
           r"inpatients|outpatients|drinkers|men|women|persons|cases|rats|mice|animals|"
           r"monkeys|primates)")
# words that end a "96 ... patients" phrase: "12 weeks in patients" is not a count
_NOT_A_QUALIFIER = (r"(?!(?:weeks?|days?|months?|years?|hours?|minutes?|sessions?|doses?|mg|"
                    r"times|of|in|with|and|or|per|from|to|at|for|on|among)\b)")
_SAMPLE = re.compile(
    r"(?<![\w.,])(?:[Nn]\s*=\s*(\d{1,3}(?:,\d{3})+|\d{1,6})(?![\d.])|"
    rf"(\d{{1,3}}(?:,\d{{3}})+|\d{{1,6}}|{_WORD_NUMBER})\s+(?:{_NOT_A_QUALIFIER}[\w-]+\s+){{0,3}}?"
    rf"{_PEOPLE}\b)",
    re.IGNORECASE,
)


def classify(article: Article) -> Article:
    """Set ``design``, ``species`` and ``sample_size`` on ``article`` (and return it)."""
    article.design = design_of(article)
    article.species = species_of(article)
    article.sample_size = sample_size_of(article)
    return article


def design_of(article: Article, *, use_indexing: bool = True) -> str:
    """The design from NLM's indexing when it decides, else from text.

    With ``use_indexing=False`` publication types and MeSH are ignored, as if
    the record had just arrived (the classifier evaluation uses this).
    """
    if use_indexing:
        decided = indexed_design(article)
        if decided is not None:
            return decided
    return text_design(article)


def indexed_design(article: Article) -> str | None:
    """The design NLM's publication types and MeSH give, or None when they are silent.

    Animals without Humans in MeSH means preclinical; otherwise the strongest
    design publication type wins; MeSH study-design headings (Cohort Studies,
    Retrospective Studies...) mean observational.
    """
    types = {p.name for p in article.publication_types}
    mesh = {m.descriptor for m in article.mesh}
    if mesh & _ANIMALS and "Humans" not in mesh:
        return "preclinical"
    for design, names in _PT_RULES:
        if types & names:
            return design
    if mesh & _MESH_OBSERVATIONAL:
        return "observational"
    return None


def _is_call_for_trials(sentence: str) -> bool:
    call = _CALL_WORDS.search(sentence)
    if call and _TRIAL_WORDS.search(sentence, call.end()):
        return True
    return bool(_TRIALS_NEEDED.search(sentence))


def _without_calls_for_trials(text: str) -> str:
    return " ".join(" " if _is_call_for_trials(s) else s for s in _SENTENCE_SPLIT.split(text))


def text_design(article: Article) -> str:
    """The design from title, abstract, keywords and trial registration numbers alone."""
    title = article.title
    body = _without_calls_for_trials(
        " ".join([article.abstract, " ".join(article.keywords)]))
    text = f"{title} {body}"
    if _is_preclinical(title, text):
        return "preclinical"
    for design, pattern in _TEXT_RULES:
        if pattern.search(title):
            if design == "rct" and _RULES["protocol"].search(text):
                return "protocol"
            return design
    for design in ("meta-analysis", "systematic-review", "protocol"):
        if _RULES[design].search(body):
            return design
    if _REVIEW_BODY.search(body) and not _RULES["rct"].search(body):
        return "review"
    if _RULES["rct"].search(body):
        return "rct"
    registered = bool(article.nct_ids or article.other_trial_ids or _TRIAL_ID_TEXT.search(text))
    if _RULES["trial"].search(body) or registered:
        return "trial"
    for design in ("case-report", "observational"):
        if _RULES[design].search(body):
            return design
    return "other"


def _is_preclinical(title: str, text: str) -> bool:
    if _ANIMAL_TEXT.search(title) and not _HUMAN_TEXT.search(title):
        return True
    animal = len(_ANIMAL_TEXT.findall(text))
    human = len(_HUMAN_TEXT.findall(text))
    return animal > 0 and animal >= 2 * human


def species_of(article: Article) -> str | None:
    """"human", "animal", or None when neither MeSH nor the text says."""
    mesh = {m.descriptor for m in article.mesh}
    if "Humans" in mesh:
        return "human"
    if mesh & _ANIMALS:
        return "animal"
    text = f"{article.title} {article.abstract}"
    if _is_preclinical(article.title, text):
        return "animal"
    if _HUMAN_TEXT.search(text):
        return "human"
    return None


def _number(token: str) -> int | None:
    token = token.lower().replace(",", "")
    if token.isdigit():
        return int(token)
    parts = re.split(r"[- ]", token)
    if all(p in _NUMBER_WORDS for p in parts):
        return sum(_NUMBER_WORDS[p] for p in parts)
    return None


def sample_size_of(article: Article) -> int | None:
    """The largest participant (or animal) count the abstract states
    ("96 patients", "N=40", "forty-two adults", "1,204 veterans")."""
    sizes = []
    for a, b in _SAMPLE.findall(article.abstract):
        value = _number(a or b)
        if value is not None and 0 < value < 10_000_000:
            sizes.append(value)
    return max(sizes) if sizes else None
