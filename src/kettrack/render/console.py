"""What ``run``, ``stats`` and ``queries`` print for people: rich on a terminal,
plain lines otherwise.

Library modules return data; the ``render`` package is the only one that imports rich.
Plain output is what cron mails and pipes see: no colour, no progress bars,
one fact per line. Record and query text is never rich markup (``[tiab]`` shows
as ``[tiab]``): it is passed as :class:`rich.text.Text`; a server's words
(NCBI's translation and warnings) are printed without control characters.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from kettrack.text import one_line, plural

if TYPE_CHECKING:
    from kettrack.queries import SavedQuery
    from kettrack.run.runner import RunReport
    from kettrack.sources.eutils import SearchOutcome


def _notes_line(errors: dict[str, list[str]], warnings: dict[str, list[str]]) -> list[str]:
    """NCBI's notes on a term, one line each (a server's words: control characters out)."""
    lines = []
    for kind, terms in errors.items():
        lines.append(f"{kind}: {', '.join(terms)} (NCBI ignored these terms; the search "
                     "ran without them)")
    for kind, terms in warnings.items():
        if kind == "OutputMessage":
            lines.append("; ".join(terms))
        else:
            lines.append(f"{kind}: {', '.join(terms)}")
    return [one_line(line) for line in lines]


class _Writable(Protocol):
    def write(self, text: str, /) -> int: ...


class _PlainObserver:
    def __init__(self, stream: _Writable) -> None:
        self.stream = stream

    def searched(self, query: SavedQuery, outcome: SearchOutcome) -> None:
        # warnings are printed once, with the summary
        print(f"searched {query.name}: {plural(outcome.count, 'hit')}", file=self.stream)

    def fetching(self, total: int) -> None:
        if total:
            print(f"fetching {plural(total, 'record')}", file=self.stream)

    def fetched(self, count: int) -> None:
        pass

    def close(self) -> None:
        pass


class _RichObserver:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console, transient=True,
        )
        self.task: Any = None

    def searched(self, query: SavedQuery, outcome: SearchOutcome) -> None:
        hits = plural(outcome.count, "hit")
        self.console.print(Text(query.name, style="bold") + Text(f": {hits}"))

    def fetching(self, total: int) -> None:
        if total:
            self.progress.start()
            self.task = self.progress.add_task("fetching records", total=total)

    def fetched(self, count: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, count)

    def close(self) -> None:
        self.progress.stop()


@dataclass
class Output:
    """Where and how to print: ``rich`` decides terminal vs plain."""

    stream: TextIO
    rich: bool
    json_mode: bool = False

    @classmethod
    def for_stdout(cls, *, json_mode: bool = False) -> Output:
        return cls(sys.stdout, sys.stdout.isatty() and not json_mode, json_mode)

    @property
    def console(self) -> Console:
        return Console(file=self.stream, highlight=False, soft_wrap=False)

    def run_observer(self) -> _PlainObserver | _RichObserver:
        """Progress for ``run``: on stderr, so stdout stays the summary (or JSON)."""
        if self.json_mode:
            return _PlainObserver(_NullStream())
        if sys.stderr.isatty():
            return _RichObserver(Console(file=sys.stderr))
        return _PlainObserver(sys.stderr)

    def run_summary(self, report: RunReport) -> None:
        if self.rich:
            table = Table(title=f"Run {report.run_id}", title_justify="left")
            for col, justify in (("query", "left"), ("hits", "right"), ("new", "right"),
                                 ("updated", "right")):
                table.add_column(col, justify=justify)  # type: ignore[arg-type]
            for q in report.queries:
                name = q.name + (" (backfill)" if q.backfill else "")
                table.add_row(Text(name), str(q.count), str(q.new), str(q.updated))
            self.console.print(table)
        else:
            for q in report.queries:
                extra = " (backfill)" if q.backfill else ""
                hits = plural(q.count, "hit")
                print(f"{q.name}: {hits}, {q.new} new, {q.updated} updated{extra}",
                      file=self.stream)
        for q in report.queries:
            for line in _notes_line(q.errors, {k: v for k, v in q.warnings.items()
                                               if k != "OutputMessage"}):
                print(f"warning: {q.name}: {line}", file=self.stream)
        tail = f"{report.new_total} new, {report.updated_total} updated"
        if report.new_trials or report.updated_trials:
            tail += (f"; registered trials: {report.new_trials} new, "
                     f"{report.updated_trials} updated")
        tail += f" ({plural(report.requests, 'request')}"
        if report.watches:
            tail += (f", {report.watch_requests} of them for {report.watches} "
                     f"watch{'es' if report.watches != 1 else ''}")
        if report.missing:
            tail += f"; {len(report.missing)} not returned by NCBI, retried next run"
        if report.deleted:
            tail += f"; {len(report.deleted)} deleted at NCBI"
        print(f"total: {tail})", file=self.stream)

    def stats(self, data: dict[str, Any]) -> None:
        lines = [f"articles: {data['articles']} ({data['retracted']} retracted)"]
        lines.append("by design: " + ", ".join(f"{d} {n}" for d, n in data["designs"].items()))
        for q in data["queries"]:
            lines.append(f"query {q['name']}: {plural(q['articles'], 'article')}")
        lines.append(f"registered trials: {data['trials']}")
        lines.append(f"events: {data['events']}, deleted at NCBI: {data['deleted']}, "
                     f"runs: {data['runs']}")
        last = data.get("last_run")
        if last:
            lines.append(f"last run: #{last['id']} {last['status']} at {last['started_at']}, "
                         f"{last['new']} new, {last['updated']} updated")
        for line in lines:
            print(line, file=self.stream)

    def queries_list(self, queries: Sequence[SavedQuery]) -> None:
        if self.rich:
            table = Table(show_lines=True)
            for col in ("name", "source", "description", "term"):
                table.add_column(col, overflow="fold")
            for q in queries:  # record text is never markup: "[tiab]" stays "[tiab]"
                table.add_row(Text(q.name), Text(q.source), Text(q.description), Text(q.term))
            self.console.print(table)
            return
        for q in queries:
            print(f"{q.name} [{q.source}] {q.description}", file=self.stream)
            print(f"  {q.term}", file=self.stream)

    def queries_check(self, results: list[dict[str, Any]]) -> None:
        for r in results:
            print(f"{r['name']}: {plural(r['count'], 'hit')}", file=self.stream)
            print(f"  translation: {one_line(r['translation'])}", file=self.stream)
            for line in _notes_line(r["errors"], r["warnings"]):
                print(f"  warning: {line}", file=self.stream)


class _NullStream:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass
