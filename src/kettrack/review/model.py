"""A living review: the saved queries that feed it, and its screening decisions.

A review's **records** are every work (article or registered trial) that one of
its saved queries found, in any version of the query; new ones join as runs
find them. Its **queue** is the records without a current decision.

Decisions are an audit trail, never edited: a change of mind is a new row, and
undo is a row that withdraws an earlier one (:class:`Decision`). A record's
current decision is its latest row that is neither an undo nor withdrawn
(:func:`current`).

This module is plain data and rules (no SQL, no printing); the Library stores
and reads it, :mod:`kettrack.review.decide` and :mod:`kettrack.review.queue` apply it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kettrack.errors import BadInput

DECISIONS = ("include", "exclude", "maybe")
#: the exclusion reasons a review offers unless it is created with its own
DEFAULT_REASONS = ("wrong population", "wrong intervention", "wrong comparator",
                   "wrong outcome", "wrong study design", "not primary research",
                   "duplicate", "other")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

Key = tuple[str, str]   # ("article", pmid) or ("trial", nct_id)


@dataclass(frozen=True)
class Review:
    """A living review."""

    id: int
    name: str
    queries: tuple[str, ...]
    reasons: tuple[str, ...] = DEFAULT_REASONS
    keywords: tuple[str, ...] = ()
    description: str = ""
    seed: int = 0
    created_at: str = ""


@dataclass(frozen=True)
class Decision:
    """One row of a review's decision trail."""

    id: int
    key: Key
    decision: str           # include, exclude, maybe, or undo
    reason: str | None
    note: str | None
    reviewer: str
    decided_at: str
    via: str
    undoes: int | None = None


@dataclass(frozen=True)
class NewDecision:
    """A decision to be stored (the Library adds id, who and when)."""

    key: Key
    decision: str
    reason: str | None = None
    note: str | None = None


@dataclass
class Progress:
    """How far a review's screening has got."""

    records: int
    include: int = 0
    exclude: int = 0
    maybe: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def screened(self) -> int:
        return self.include + self.exclude + self.maybe

    @property
    def awaiting(self) -> int:
        return self.records - self.screened

    @property
    def can_learn(self) -> bool:
        """The model has an inclusion and an exclusion to learn from."""
        return self.include > 0 and self.exclude > 0


def check_name(name: str) -> str:
    """A review name: letters, digits, ``.``, ``_``, ``-``; up to 64 characters."""
    if not _NAME.match(name):
        raise BadInput(f"review name {name[:70]!r}: use letters, digits, '.', '_' and '-' "
                       "(up to 64 characters, starting with a letter or digit)")
    return name


def current(trail: Iterable[Decision]) -> dict[Key, Decision]:
    """Each record's current decision (latest not withdrawn), from the trail in id order."""
    rows = sorted(trail, key=lambda d: d.id)
    withdrawn = {d.undoes for d in rows if d.decision == "undo"}
    out: dict[Key, Decision] = {}
    for d in rows:
        if d.decision != "undo" and d.id not in withdrawn:
            out[d.key] = d
    return out


def progress(records: Sequence[Key], decisions: dict[Key, Decision]) -> Progress:
    """Counts of a review's records by their current decision (records that left the
    review's queries keep their decision but are not counted)."""
    held = set(records)
    out = Progress(len(held))
    for key, d in decisions.items():
        if key not in held:
            continue
        setattr(out, d.decision, getattr(out, d.decision) + 1)
        if d.decision == "exclude":
            reason = d.reason or "no reason given"
            out.reasons[reason] = out.reasons.get(reason, 0) + 1
    return out


def check_decision(review: Review, decision: str, reason: str | None,
                   where: str = "") -> tuple[str, str | None]:
    """The decision and reason, checked against the review; the reason is matched
    to the review's list regardless of case."""
    at = f"{where}: " if where else ""
    word = decision.strip().lower()
    if word not in DECISIONS:
        raise BadInput(f"{at}decision {decision[:40]!r}: choose include, exclude or maybe")
    if reason is None or not reason.strip():
        return word, None
    if word != "exclude":
        raise BadInput(f"{at}a reason goes with exclude, not {word} (use a note instead)")
    for known in review.reasons:
        if known.lower() == " ".join(reason.split()).lower():
            return word, known
    raise BadInput(f"{at}reason {reason[:60]!r} is not one of review {review.name}'s: "
                   f"{'; '.join(review.reasons)}")
