"""Text handling every part of kettrack shares: control characters out, one
sentence splitter.

Server data is hostile until proven otherwise: :func:`strip_control` removes
the C0/C1 control characters (ESC sequences that retitle a terminal, BEL, NUL,
CR...) from every field where it is normalised, so nothing downstream (a
terminal, a ``-o`` file, a mail) ever receives them. Newlines and tabs become
spaces in one-line fields; :func:`strip_control` with ``keep_newlines`` keeps
``\\n`` for multi-line text.

:func:`sentences` is the one sentence splitter (claim checks quote sentences,
the digest picks a conclusion, the design rules read sentence by sentence).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_ALL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def strip_control(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` without control characters (and bidirectional overrides); with
    ``keep_newlines``, ``\\n`` stays and tabs become spaces."""
    if keep_newlines:
        return _CONTROL.sub(lambda m: " " if m.group() == "\t" else "", text)
    return _CONTROL_ALL.sub(lambda m: " " if m.group() in "\t\n\r" else "", text)


def one_line(text: object) -> str:
    """Any value as one line of plain text: control characters out, whitespace collapsed."""
    if text is None:
        return ""
    return " ".join(strip_control(str(text)).split())


# A sentence ends at . ! ? followed by space and a capital, digit or opening
# bracket, unless the dot closes a common abbreviation, a single initial or a
# number ("Fig. 2", "e.g. Smith", "vs. placebo", "et al. found", "J. Smith").
_ABBREVIATIONS = ("e.g", "i.e", "vs", "et al", "Fig", "Figs", "cf", "approx", "ca", "Dr",
                  "Mr", "Mrs", "Ms", "Prof", "No", "Nos", "vol", "Eq", "Ref", "St", "Jr",
                  "Sr", "Inc", "Ltd", "Co", "resp", "viz", "al", "p", "pp")
_END = re.compile(r"[.!?](?=[\"')\]]?\s+[\"'(\[]?[A-Z0-9])")
_BEFORE = re.compile(r"(\b[\w.]+)$")


def _is_abbreviation(text: str, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word = _BEFORE.search(text[max(0, dot - 12):dot])
    if word is None:
        return False
    token = word.group(1)
    if token.lower() in {a.lower() for a in _ABBREVIATIONS}:
        return True
    if text[max(0, dot - 6):dot].endswith(("et al", "e.g", "i.e")):
        return True
    # a single capital initial ("J. Smith", "Morgan C. J.")
    return len(token) == 1 and token.isupper()


def sentences(text: str) -> list[str]:
    """``text`` split into sentences (whitespace collapsed, empty pieces dropped)."""
    text = " ".join(text.split())
    out: list[str] = []
    start = 0
    for match in _END.finditer(text):
        if _is_abbreviation(text, match.start()):
            continue
        end = match.end()
        while end < len(text) and text[end] in "\"')]":
            end += 1
        piece = text[start:end].strip()
        if piece:
            out.append(piece)
        start = end
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and the word, in the number's form: "1 hit", "2 hits", "1 new study"."""
    return f"{n} {word if n == 1 else many or word + 's'}"
