"""Saved queries: one TOML file per query in the queries folder.

A file ``queries/ketamine-aud.toml`` is the query ``ketamine-aud``::

    description = "Ketamine and esketamine in alcohol use disorder"
    source = "pubmed"            # or "clinicaltrials"
    tags = ["clinical"]
    term = '''(ketamine[tiab] OR "Ketamine"[mh]) AND "Alcohol-Related Disorders"[mh]'''

A changed ``term`` is a new version of the query (``SavedQuery.version``): the
store keys memberships by version, so the first run of a new version backfills.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kettrack.errors import QueryFileError, QuerySyntaxError, UnknownQuery

SOURCES = ("pubmed", "clinicaltrials")
_KEYS = {"term", "source", "description", "tags"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class SavedQuery:
    """A saved search, as read from its file."""

    name: str
    term: str
    source: str = "pubmed"
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    path: Path | None = None

    @property
    def version(self) -> str:
        """A short hash of source and term: a changed term is a new version."""
        text = f"{self.source}\n{' '.join(self.term.split())}"
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def lint_term(term: str) -> None:
    """Reject PubMed syntax that cannot be run as written (before NCBI sees it).

    Checks balanced quotes and parentheses, a dangling Boolean operator, and
    control characters; raises :class:`QuerySyntaxError` naming the position.
    """
    if not term.strip():
        raise QuerySyntaxError("the search term is empty")
    bad = _CONTROL.search(term)
    if bad:
        raise QuerySyntaxError(f"control character {bad.group()!r} at position {bad.start() + 1}")
    depth = 0
    in_quote = False
    opened: list[int] = []
    for i, ch in enumerate(term):
        if ch == '"':
            in_quote = not in_quote
        elif in_quote:
            continue
        elif ch == "(":
            depth += 1
            opened.append(i)
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise QuerySyntaxError(f"unmatched ')' at position {i + 1}")
            opened.pop()
    if in_quote:
        raise QuerySyntaxError(f"unclosed quote starting at position {term.rfind(chr(34)) + 1}")
    if opened:
        raise QuerySyntaxError(f"unclosed '(' at position {opened[-1] + 1}")
    stripped = re.sub(r'"[^"]*"', '""', term)
    if re.search(r"^\s*(AND|OR|NOT)\b|\b(AND|OR|NOT)\s*$", stripped):
        raise QuerySyntaxError("a Boolean operator at the start or end has nothing to join")
    if re.search(r"\b(AND|OR|NOT)\s+(AND|OR|NOT)\b|\(\s*(AND|OR|NOT)\b|\b(AND|OR|NOT)\s*\)",
                 stripped):
        raise QuerySyntaxError("two Boolean operators in a row, or one next to a parenthesis")


def load_query(path: Path) -> SavedQuery:
    """Read and check one query file; errors name the file (and line for TOML)."""
    name = path.stem
    where = str(path)
    if not _NAME.match(name):
        raise QueryFileError(f"{where}: query names use letters, digits, '-', '_' and '.'")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise QueryFileError(f"{where}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise QueryFileError(f"{where}: cannot read ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise QueryFileError(f"{where}: nested too deeply to be a saved query") from None
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's message ends "(at line 2, column 15)"; say it first
        msg = str(exc)
        found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", msg)
        if found:
            msg = f"line {found.group(1)}, column {found.group(2)}: {msg[:found.start()]}"
        raise QueryFileError(f"{where}: {msg}") from None
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        keys = ", ".join(sorted(_KEYS))
        raise QueryFileError(f"{where}: unknown key {unknown[0]!r} (keys: {keys})")
    term = data.get("term")
    if not isinstance(term, str) or not term.strip():
        raise QueryFileError(f"{where}: 'term' must be a non-empty string")
    source = data.get("source", "pubmed")
    if source not in SOURCES:
        raise QueryFileError(
            f"{where}: 'source' must be one of {', '.join(SOURCES)}, not {source!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise QueryFileError(f"{where}: 'description' must be a string")
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise QueryFileError(f"{where}: 'tags' must be a list of strings")
    if source == "pubmed":
        try:
            lint_term(term)
        except QuerySyntaxError as exc:
            raise QueryFileError(f"{where}: term: {exc}") from None
        except RecursionError:
            raise QueryFileError(f"{where}: term: parentheses nested too deeply") from None
    return SavedQuery(name=name, term=" ".join(term.split()), source=source,
                      description=description, tags=tuple(tags), path=path)


def load_queries(folder: Path) -> list[SavedQuery]:
    """Every ``*.toml`` query in ``folder``, sorted by name."""
    if not folder.is_dir():
        raise QueryFileError(f"{folder}: no such queries folder (set KETTRACK_QUERIES)")
    found = sorted((load_query(p) for p in folder.glob("*.toml")), key=lambda q: q.name)
    if not found:
        raise QueryFileError(f"{folder}: no saved queries (*.toml files) in this folder "
                             "(set KETTRACK_QUERIES)")
    return found


def select(queries: Sequence[SavedQuery], names: Iterable[str]) -> list[SavedQuery]:
    """The named queries, in the order given; all of them when no name is given."""
    names = list(names)
    if not names:
        return list(queries)
    by_name = {q.name: q for q in queries}
    chosen = []
    for name in names:
        key = name[:-5] if name.endswith(".toml") else name
        if key not in by_name:
            known = ", ".join(by_name) or "none"
            raise UnknownQuery(f"no saved query named {name!r} (known: {known})")
        chosen.append(by_name[key])
    return chosen
