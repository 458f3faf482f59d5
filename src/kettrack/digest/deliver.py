"""The digest's promise, in one function: collect, render, deliver, and mark only
after the printer, the file or the mail server accepted.

:func:`deliver` holds the library's writer lock from collecting to marking, so
two digests run at the same moment (two cron jobs) never report the same items
twice: the second waits, then finds nothing new. A failure to deliver (the
mail server refused, the file could not be written) raises before anything is
marked, so the next digest repeats the items.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TextIO

from kettrack.digest.collect import Digest, collect, headline, mark
from kettrack.digest.mail import SmtpTarget, build_message, send
from kettrack.library.store import Library


@dataclass(frozen=True)
class DigestRequest:
    """What the user asked for: where the digest goes and in what form."""

    format: str = "text"
    since: date | None = None
    output: Path | None = None
    recipients: tuple[str, ...] = ()
    smtp: SmtpTarget | None = None
    sender: str | None = None
    peek: bool = False
    quiet_if_empty: bool = False


@dataclass
class Delivered:
    """What :func:`deliver` did."""

    digest: Digest
    printed: bool = False
    written: Path | None = None
    sent_to: list[str] = field(default_factory=list)
    #: the digest's id once marked (None: peeked, or empty and quiet)
    marked: int | None = None


def deliver(library: Library, request: DigestRequest, *, stdout: TextIO | None = None,
            terminal: bool = False) -> Delivered:
    """Collect what is new, deliver it as ``request`` says, then mark it.

    Printing goes to ``stdout`` (rich when ``format`` is "rich" and ``terminal``);
    with recipients nothing is printed (``output`` still keeps a copy).
    """
    from kettrack.render import digest as formats
    from kettrack.tools.export import write_atomic

    out = stdout or sys.stdout
    with nullcontext() if request.peek else library.writer_lock():
        digest = collect(library, request.since)
        done = Delivered(digest)
        if digest.is_empty and request.quiet_if_empty:
            return done
        if request.recipients:
            if request.smtp is None or request.sender is None:
                raise ValueError("recipients need an SMTP target and a sender")
            message = build_message(
                subject=f"kettrack digest: {headline(digest)}", sender=request.sender,
                recipients=list(request.recipients), text=formats.render_text(digest),
                html=formats.render_html(digest))
            send(message, request.smtp)
            done.sent_to = list(request.recipients)
        if request.output is not None:
            write_atomic(request.output, formats.render(digest, request.format),
                         option="--output")
            done.written = request.output
        elif not request.recipients:
            if request.format == "rich" and terminal:
                from rich.console import Console

                formats.print_rich(digest, Console(file=out, highlight=False))
            else:
                out.write(formats.render(digest, request.format))
            out.flush()
            done.printed = True
        if not request.peek:
            done.marked = mark(library, digest,
                               format="email" if request.recipients else request.format,
                               sent_to=request.recipients or None)
    return done
