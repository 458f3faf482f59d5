"""Living reviews on the terminal and as JSON: list, show, queue, and what screening
decided (the interactive screen draws itself in :mod:`kettrack.review.screen`).

JSON shapes (documented in docs/review.md): ``review list --json`` and ``review
show --json`` are review objects; ``review queue --json`` is a list of items (the
article or trial shape) each with ``rank``, ``score`` and ``ranked_by``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

from kettrack.library.items import ArticleItem, Item
from kettrack.render.records import Lines
from kettrack.review.model import Decision, Progress, Review
from kettrack.review.queue import Queue
from kettrack.text import one_line


def progress_json(p: Progress) -> dict[str, Any]:
    return {"records": p.records, "screened": p.screened, "include": p.include,
            "exclude": p.exclude, "maybe": p.maybe, "awaiting": p.awaiting,
            "exclusion_reasons": dict(sorted(p.reasons.items()))}


def review_json(review: Review, p: Progress, *, note: str | None = None) -> dict[str, Any]:
    """A review object: its definition and how far screening has got."""
    data: dict[str, Any] = {
        "name": review.name, "description": review.description,
        "queries": list(review.queries), "reasons": list(review.reasons),
        "keywords": list(review.keywords), "created_at": review.created_at,
        "progress": progress_json(p)}
    if note is not None:
        data["ranking"] = note
    return data


def decision_json(d: Decision) -> dict[str, Any]:
    return {"id": d.id, "item_type": d.key[0], "item_id": d.key[1], "decision": d.decision,
            "reason": d.reason, "note": d.note, "reviewer": d.reviewer,
            "decided_at": d.decided_at, "via": d.via, "undoes": d.undoes}


def queue_json(queue: Queue, items: Sequence[Item]) -> list[dict[str, Any]]:
    """``review queue --json``: the items in queue order, each with rank and score."""
    from kettrack.render.json import item_json

    by_key = {i.key: i for i in items}
    out = []
    for entry in queue.entries:
        item = by_key.get(entry.key)
        if item is None:
            continue
        data = item_json(item)
        data.update(rank=entry.rank, score=entry.score, ranked_by=queue.ranked_by)
        out.append(data)
    return out


def _progress_line(p: Progress) -> str:
    share = f" ({100 * p.screened / p.records:.0f}%)" if p.records else ""
    return (f"{p.screened} of {p.records} screened{share}: {p.include} included, "
            f"{p.exclude} excluded, {p.maybe} maybe; {p.awaiting} awaiting")


def print_reviews(rows: Sequence[tuple[Review, Progress]], stream: TextIO, *,
                  rich: bool) -> None:
    out = Lines(stream, rich=rich)
    if not rows:
        out.line("No reviews yet: kettrack review create NAME --query QUERY")
        return
    for review, p in rows:
        out.line(f"{review.name}  (queries: {', '.join(review.queries)})", "bold")
        out.line(f"  {_progress_line(p)}")


def print_review(review: Review, p: Progress, note: str, stream: TextIO, *,
                 rich: bool) -> None:
    out = Lines(stream, rich=rich)
    out.line(f"review {review.name}", "bold")
    if review.description:
        out.line(f"  {one_line(review.description)}")
    out.line(f"  queries: {', '.join(review.queries)}")
    out.line(f"  created: {review.created_at}")
    out.line(f"  {_progress_line(p)}")
    if p.reasons:
        out.line("  excluded, by reason: " + "; ".join(
            f"{r} {n}" for r, n in sorted(p.reasons.items(), key=lambda r: (-r[1], r[0]))))
    out.line(f"  exclusion reasons offered: {'; '.join(review.reasons)}")
    if review.keywords:
        out.line(f"  highlighted words: {', '.join(review.keywords)}")
    out.line(f"  {note}", "yellow")


def print_queue(queue: Queue, items: Sequence[Item], stream: TextIO, *, rich: bool) -> None:
    out = Lines(stream, rich=rich)
    out.line(f"review {queue.review.name}: {_progress_line(queue.progress)}", "bold")
    out.line(queue.note, "yellow")
    by_key = {i.key: i for i in items}
    for entry in queue.entries:
        item = by_key.get(entry.key)
        if item is None:
            continue
        score = "  -   " if entry.score is None else f"{entry.score:.3f}"
        ident = item.id if isinstance(item, ArticleItem) else item.id
        head = f"{entry.rank:>4}. {score}  {ident:<11} {item.design:<18} {item.year or '':<4}  "
        out.line(head + one_line(item.title)[:200])
    if not queue.entries:
        out.line("Nothing awaits screening.")
