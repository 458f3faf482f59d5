"""Creating reviews and recording screening decisions (one, or a CSV file of them).

Every decision is stored with who made it, when, its reason and note; a file
of decisions is checked whole first and stored in one transaction, so a bad
row imports nothing and names ``FILE:LINE``.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from pathlib import Path

from kettrack.errors import BadIdentifier, BadInput, NotInLibrary, UnknownQuery
from kettrack.library.identifiers import parse_identifier
from kettrack.library.store import Library
from kettrack.review.model import (
    DEFAULT_REASONS,
    Key,
    NewDecision,
    Review,
    check_decision,
    check_name,
)

MAX_NOTE = 2000


def get_review(library: Library, name: str) -> Review:
    """The review called ``name``; an unknown name is bad input that lists the known ones."""
    review = library.review(name)
    if review is None:
        known = [r.name for r in library.reviews()]
        raise NotInLibrary(f"review {name[:70]!r} does not exist; known: "
                           f"{', '.join(known) if known else '(none: kettrack review create)'}")
    return review


def create(library: Library, name: str, queries: Sequence[str], *, known_queries: Sequence[str],
           reasons: Sequence[str] = (), keywords: Sequence[str] = (),
           description: str = "") -> Review:
    """A new review fed by saved ``queries`` (each must be a saved query, in the
    queries folder or already run into the library)."""
    check_name(name)
    if library.review(name) is not None:
        raise BadInput(f"review {name!r} already exists (kettrack review show {name})")
    if not queries:
        raise BadInput("a review needs at least one --query (a saved query's name)")
    for q in queries:
        if q not in known_queries:
            raise UnknownQuery(f"--query {q[:70]!r} is not a saved query; known: "
                               f"{', '.join(sorted(known_queries)) or '(none)'}")
    cleaned = [" ".join(r.split()) for r in reasons if r.strip()] or list(DEFAULT_REASONS)
    if len({r.lower() for r in cleaned}) != len(cleaned):
        raise BadInput("--reason: each exclusion reason once")
    seed = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    with library.writer_lock():
        library.create_review(name, list(dict.fromkeys(queries)), reasons=cleaned,
                              keywords=[k.strip() for k in keywords if k.strip()],
                              description=description.strip(), seed=seed)
    review = library.review(name)
    assert review is not None
    return review


def resolve(library: Library, review: Review, records: set[Key], text: str,
            where: str = "") -> Key:
    """The review record a PMID, DOI, PMCID or NCT number names."""
    at = f"{where}: " if where else ""
    try:
        ident = parse_identifier(text)
    except BadIdentifier as exc:
        raise BadIdentifier(f"{at}{exc}") from None
    if ident.kind == "nct":
        nct = library.find_trial(ident.value)
        key: Key | None = ("trial", nct) if nct else None
    else:
        pmid = library.find_article(ident)
        key = ("article", pmid) if pmid else None
    if key is None:
        raise NotInLibrary(f"{at}{ident} is not in the library")
    if key not in records:
        raise NotInLibrary(f"{at}{ident} is not among review {review.name}'s records "
                           f"(found by none of its queries: {', '.join(review.queries)})")
    return key


def _note(note: str | None, where: str = "") -> str | None:
    if note is None or not note.strip():
        return None
    text = " ".join(note.split())
    if len(text) > MAX_NOTE:
        raise BadInput(f"{where + ': ' if where else ''}the note is longer than "
                       f"{MAX_NOTE} characters")
    return text


def decide(library: Library, review: Review, records: set[Key], ident: str, decision: str, *,
           reason: str | None, note: str | None, reviewer: str, via: str = "decide") -> Key:
    """Store one decision about the record ``ident`` names."""
    key = resolve(library, review, records, ident)
    word, reason = check_decision(review, decision, reason)
    with library.writer_lock():
        library.record_decisions(review.id, [NewDecision(key, word, reason, _note(note))],
                                 reviewer=reviewer, via=via)
    return key


def read_import(library: Library, review: Review, records: set[Key],
                path: Path) -> list[NewDecision]:
    """The decisions in a CSV file (``id,decision[,reason,note]``, an optional header
    row), every row checked; the first bad row is an error naming ``FILE:LINE``."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInput(f"--import {path}: no such file") from None
    except UnicodeDecodeError:
        raise BadInput(f"--import {path}: not UTF-8 text") from None
    except OSError as exc:
        raise BadInput(f"--import {path}: cannot read ({exc.strerror or exc})") from None
    out: list[NewDecision] = []
    reader = csv.reader(text.splitlines())
    try:
        for row in reader:
            line = reader.line_num
            where = f"{path}:{line}"
            cells = [c.strip() for c in row]
            if not any(cells):
                continue
            if not out and line == 1 and cells[0].lower() == "id":
                continue
            if len(cells) < 2 or len(cells) > 4:
                raise BadInput(f"{where}: expected id,decision[,reason,note], got "
                               f"{len(cells)} column(s)")
            key = resolve(library, review, records, cells[0], where)
            word, reason = check_decision(review, cells[1], cells[2] if len(cells) > 2 else None,
                                          where)
            out.append(NewDecision(key, word, reason,
                                   _note(cells[3] if len(cells) > 3 else None, where)))
    except csv.Error as exc:
        raise BadInput(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    if not out:
        raise BadInput(f"--import {path}: no decisions in the file")
    return out


def import_file(library: Library, review: Review, records: set[Key], path: Path, *,
                reviewer: str) -> list[NewDecision]:
    """Check and store every decision in ``path``, in one transaction."""
    decisions = read_import(library, review, records, path)
    with library.writer_lock():
        library.record_decisions(review.id, decisions, reviewer=reviewer, via="import")
    return decisions
