"""A review's screening queue: its records without a current decision, most likely
inclusions first (the order comes from :mod:`kettrack.review.ranking`).

:class:`Screening` holds one review's records and decision trail; the
interactive screen keeps one for its whole session, so the features are built
once and each decision only retrains the model and re-scores the queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kettrack.library.store import Library
from kettrack.review.model import Decision, Key, Progress, Review, current, progress
from kettrack.review.ranking import CAVEAT, RANDOM_NOTE, Ranker, random_order


@dataclass(frozen=True)
class QueueEntry:
    """One record awaiting screening: its place (1 = screen first) and the model's
    score (0..1, higher = more likely included; None while the order is random)."""

    key: Key
    rank: int
    score: float | None


@dataclass
class Queue:
    """The ordered queue, how far screening has got, and how the order was made."""

    review: Review
    entries: list[QueueEntry]
    progress: Progress
    ranked_by: str                  # "model" or "random"
    trained_on: tuple[int, int]     # (inclusions, exclusions) the model learned from

    @property
    def note(self) -> str:
        """What the order means, and what it cannot promise."""
        if self.ranked_by == "random":
            return RANDOM_NOTE
        return ranking_note(*self.trained_on)


def ranking_note(included: int, excluded: int) -> str:
    """How a queue is ordered once there is something to learn from, and the caveat."""
    if not (included and excluded):
        return f"{RANDOM_NOTE} {CAVEAT}"
    return (f"Ordered by a model trained on {included} inclusion(s) and {excluded} "
            f"exclusion(s). {CAVEAT}")


class Screening:
    """One review's records and decisions, read once; :meth:`queue` ranks them."""

    def __init__(self, library: Library, review: Review) -> None:
        self.library = library
        self.review = review
        hits = library.review_hits(review)
        self.records: list[Key] = list(dict.fromkeys((k, i) for k, i, _, _ in hits))
        self._index = {key: n for n, key in enumerate(self.records)}
        self.refresh()
        self._ranker: Ranker | None = None

    def refresh(self) -> None:
        """Read the decision trail again (after a decision was stored)."""
        self.trail: list[Decision] = self.library.decision_trail(self.review.id)
        self.decisions: dict[Key, Decision] = current(self.trail)

    def progress(self) -> Progress:
        return progress(self.records, self.decisions)

    def ranker(self) -> Ranker:
        """The model's features over every record of the review (built on first use)."""
        if self._ranker is None:
            texts = self.library.screening_texts(self.records)
            self._ranker = Ranker([texts.get(k, "") for k in self.records],
                                  seed=self.review.seed)
        return self._ranker

    def queue(self, *, limit: int | None = None, skip: Sequence[Key] = ()) -> Queue:
        """The records awaiting screening, most likely inclusions first; ``skip``
        (records skipped in this session) go to the end, in the same order."""
        done = self.progress()
        awaiting = [k for k in self.records if k not in self.decisions]
        shuffled = random_order([f"{k}:{i}" for k, i in awaiting], self.review.seed)
        place = {s: n for n, s in enumerate(shuffled)}
        order = sorted(awaiting, key=lambda k: place[f"{k[0]}:{k[1]}"])
        included = [self._index[k] for k, d in self.decisions.items()
                    if d.decision == "include" and k in self._index]
        excluded = [self._index[k] for k, d in self.decisions.items()
                    if d.decision == "exclude" and k in self._index]
        scores = None
        if done.can_learn and awaiting:
            scores = self.ranker().scores(included, excluded)
        if scores is not None:
            order.sort(key=lambda k: -float(scores[self._index[k]]))
        if skip:
            skipped = set(skip)
            order = [k for k in order if k not in skipped] + [k for k in order if k in skipped]
        if limit is not None:
            order = order[:limit]
        entries = [QueueEntry(k, n, None if scores is None
                              else round(float(scores[self._index[k]]), 4))
                   for n, k in enumerate(order, 1)]
        return Queue(self.review, entries, done, "random" if scores is None else "model",
                     (len(included), len(excluded)) if scores is not None else (0, 0))
