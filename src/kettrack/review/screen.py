"""The interactive screen (``kettrack screen NAME``): one record at a time, most
likely inclusion first, decided with single keys.

Works in any terminal, over SSH and in tmux: the terminal is put in cbreak
mode (keys arrive one at a time, unechoed; Ctrl-C still interrupts) and
restored on the way out, and the screen is redrawn with rich after each key.

:class:`ScreenSession` is the key-handling core, with no terminal: it takes
keys and stores decisions through the Library (each at once, in its own
transaction), so the drawing loop and the tests share it.

Keys: ``i`` include, ``e`` exclude (then the reason's number, ``0`` for none,
Esc to go back), ``m`` maybe, ``n`` add a note to the next decision, ``s``
skip (it comes back after the rest), ``u`` undo the last decision of this
session, ``?`` help, ``q`` quit.
"""

from __future__ import annotations

import os
import select
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kettrack.library.items import ArticleItem, Item, TrialItem
from kettrack.review.decide import _note
from kettrack.review.model import Key, NewDecision
from kettrack.review.queue import Queue, Screening
from kettrack.text import one_line, strip_control

if TYPE_CHECKING:
    from rich.console import Console

ESC = "esc"
ENTER = "enter"
BACKSPACE = "backspace"
KEYS_LINE = ("[i] include  [e] exclude  [m] maybe  [n] note  [s] skip  [u] undo  "
             "[?] help  [q] quit")


@dataclass
class ScreenSession:
    """What the screen shows and does, key by key."""

    screening: Screening
    reviewer: str
    mode: str = "record"              # record, reason, note, help, done
    current: Key | None = None
    queue: Queue | None = None
    message: str = ""
    note: str = ""
    typing: str = ""
    skipped: list[Key] = field(default_factory=list)
    made: list[tuple[int, Key]] = field(default_factory=list)   # this session's decisions

    def __post_init__(self) -> None:
        self.advance()

    # -- moving through the queue ------------------------------------------------

    def advance(self, to: Key | None = None) -> None:
        """Re-rank and show ``to``, or the record most likely to be included."""
        self.queue = self.screening.queue(skip=self.skipped)
        if to is not None:
            self.current = to
        else:
            self.current = self.queue.entries[0].key if self.queue.entries else None
        if self.current is None:
            self.mode = "done"
            self.message = self.message or "Nothing awaits screening."

    @property
    def rank(self) -> int | None:
        if self.queue is None or self.current is None:
            return None
        for entry in self.queue.entries:
            if entry.key == self.current:
                return entry.rank
        return None

    # -- keys ----------------------------------------------------------------------

    def press(self, key: str) -> None:
        """Handle one key (a character, or ``esc``, ``enter``, ``backspace``)."""
        handler = {"record": self._record_key, "reason": self._reason_key,
                   "note": self._note_key, "help": self._help_key}.get(self.mode)
        if handler is not None:
            handler(key)

    def _record_key(self, key: str) -> None:
        key = key.lower()
        if key == "q":
            self.mode = "done"
            self.message = "quit; every decision is stored"
        elif key == "?":
            self.mode = "help"
        elif key == "u":
            self._undo()
        elif self.current is None:
            return
        elif key == "i":
            self._decide("include")
        elif key == "m":
            self._decide("maybe")
        elif key == "e":
            self.mode = "reason"
            self.message = ""
        elif key == "s":
            self.skipped = [k for k in self.skipped if k != self.current] + [self.current]
            self.message = f"skipped {self.current[1]}"
            self.advance()
        elif key == "n":
            self.mode = "note"
            self.typing = self.note

    def _reason_key(self, key: str) -> None:
        reasons = self.screening.review.reasons
        if key in (ESC, "b"):
            self.mode = "record"
        elif key == "0":
            self._decide("exclude")
        elif key.isdigit() and 1 <= int(key) <= min(len(reasons), 9):
            self._decide("exclude", reasons[int(key) - 1])

    def _note_key(self, key: str) -> None:
        if key == ESC:
            self.mode = "record"
        elif key == ENTER:
            self.note = self.typing.strip()
            self.mode = "record"
            self.message = f"note kept for the next decision: {self.note}" if self.note else ""
        elif key == BACKSPACE:
            self.typing = self.typing[:-1]
        elif len(key) == 1 and key.isprintable() and len(self.typing) < 500:
            self.typing += key

    def _help_key(self, key: str) -> None:
        self.mode = "record"

    # -- storing ------------------------------------------------------------------

    def _decide(self, decision: str, reason: str | None = None) -> None:
        assert self.current is not None
        library = self.screening.library
        choice = NewDecision(self.current, decision, reason, _note(self.note))
        with library.writer_lock():
            (decision_id,) = library.record_decisions(self.screening.review.id, [choice],
                                                      reviewer=self.reviewer, via="screen")
        self.made.append((decision_id, self.current))
        self.skipped = [k for k in self.skipped if k != self.current]
        said = {"include": "included", "exclude": "excluded", "maybe": "maybe:"}[decision]
        self.message = f"{said} {self.current[1]}" + (f" ({reason})" if reason else "")
        self.note = ""
        self.mode = "record"
        self.screening.refresh()
        self.advance()

    def _undo(self) -> None:
        if not self.made:
            self.message = "nothing to undo in this session"
            return
        decision_id, key = self.made.pop()
        library = self.screening.library
        with library.writer_lock():
            library.undo_decision(self.screening.review.id, decision_id, reviewer=self.reviewer,
                                  via="screen")
        self.screening.refresh()
        self.message = f"undone: the decision on {key[1]} (kept in the trail, withdrawn)"
        self.mode = "record"
        self.advance(to=key)


# -- the terminal -------------------------------------------------------------------


def read_key(fd: int) -> str:
    """One key from the terminal: a character, or esc / enter / backspace."""
    first = os.read(fd, 1)
    if not first:
        return "q"
    if first == b"\x1b":
        # an escape sequence (arrow keys...) arrives at once; a lone Esc does not
        rest = b""
        while select.select([fd], [], [], 0.03)[0]:
            rest += os.read(fd, 16)
        return ESC if not rest else ""
    if first in (b"\r", b"\n"):
        return ENTER
    if first in (b"\x7f", b"\x08"):
        return BACKSPACE
    data = first
    if first[0] >= 0xC0:      # a UTF-8 character's first byte: read the rest of it
        need = 1 if first[0] < 0xE0 else 2 if first[0] < 0xF0 else 3
        data += os.read(fd, need)
    return data.decode("utf-8", "replace")


def _facts(item: Item) -> str:
    from kettrack.render.json import BADGES

    if isinstance(item, TrialItem):
        t = item.trial
        parts = ["[Registered trial]", t.nct_id, t.overall_status or "", t.sponsor or ""]
    else:
        assert isinstance(item, ArticleItem)
        a = item.article
        parts = [f"[{BADGES.get(a.design, a.design)}]", a.journal or "", str(a.year or "")]
    return " · ".join(strip_control(p) for p in parts if p)


def _body(item: Item) -> str:
    if isinstance(item, TrialItem):
        t = item.trial
        lines = [f"Conditions: {'; '.join(t.conditions)}",
                 f"Interventions: {'; '.join(t.interventions)}"]
        if t.official_title:
            lines.insert(0, t.official_title)
        return strip_control("\n".join(lines), keep_newlines=True)
    assert isinstance(item, ArticleItem)
    return strip_control(item.article.abstract or "(no abstract)", keep_newlines=True)


def draw(console: Console, session: ScreenSession) -> None:
    """The whole screen for the session's state."""
    from rich.text import Text

    screening = session.screening
    review = screening.review
    console.clear()
    done = screening.progress()
    share = f" ({100 * done.screened / done.records:.0f}%)" if done.records else ""
    console.print(Text(f"review {review.name} · {done.screened} of {done.records} screened"
                       f"{share} · {done.include} included, {done.exclude} excluded, "
                       f"{done.maybe} maybe · {done.awaiting} awaiting", style="bold"))
    if session.queue is not None:
        console.print(Text(session.queue.note, style="yellow"))
    console.print()
    if session.mode == "help":
        console.print(Text(__doc__ or ""))
        console.print(Text("any key: back", style="dim"))
        return
    item = None
    if session.current is not None:
        items = screening.library.items([session.current], history=False)
        item = items[0] if items else None
    if item is not None:
        rank = session.rank
        score = next((e.score for e in session.queue.entries if e.key == session.current),
                     None) if session.queue else None
        where = f"#{rank}" + (f" · score {score:.3f}" if score is not None else "")
        console.print(Text(f"{where} · {item.id}", style="dim"))
        console.print(Text(one_line(strip_control(item.title)) or "(no title)", style="bold"))
        console.print(Text(_facts(item), style="cyan"))
        console.print()
        body = Text(_body(item))
        if review.keywords:
            body.highlight_words([k for k in review.keywords if k], style="bold black on yellow",
                                 case_sensitive=False)
        room = max(console.height - 14, 4) * max(console.width - 2, 20)
        if len(body.plain) > room:
            body = body[:room]
            body.append(" …", style="dim")
        console.print(body)
    console.print()
    if session.mode == "reason":
        console.print(Text("Exclude: why?", style="bold"))
        for n, reason in enumerate(review.reasons[:9], 1):
            console.print(Text(f"  [{n}] {reason}"))
        console.print(Text("  [0] no reason   [Esc] back", style="dim"))
    elif session.mode == "note":
        console.print(Text(f"Note (Enter keeps it, Esc cancels): {session.typing}▏"))
    else:
        if session.note:
            console.print(Text(f"note for the next decision: {session.note}", style="dim"))
        console.print(Text(KEYS_LINE, style="bold"))
    if session.message:
        console.print(Text(strip_control(session.message), style="green"))


def run_screen(screening: Screening, *, reviewer: str) -> None:
    """Screen in the terminal until the queue is empty or the reviewer quits."""
    import termios
    import tty

    from rich.console import Console

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    console = Console(highlight=False)
    session = ScreenSession(screening, reviewer)
    try:
        tty.setcbreak(fd)
        while session.mode != "done":
            draw(console, session)
            session.press(read_key(fd))
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    draw(console, session)
    console.print(f"{len(session.made)} decision(s) stored in this session.")
