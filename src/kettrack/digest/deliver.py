"""The digest's promise, in one function: collect, render, deliver, and mark only
after the printer, the file or the mail server accepted.

:func:`deliver` holds the library's writer lock from collecting to marking, so
two digests run at the same moment (two cron jobs) never report the same items
twice: the second waits, then finds nothing new. A failure to deliver (the
mail server refused, the file could not be written) raises before anything is
marked, so the next digest repeats the items.

Mail is delivered per recipient: when the server accepts the digest for some
addresses and refuses others, who got which items is recorded
(``digest_deliveries``), the digest stays unmarked and the command fails; the
next digest brings the refused addresses everything and the others only what
they have not had. The items are marked once every recipient has them.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TextIO

from kettrack.digest.collect import Digest, DigestEntry, collect, headline, mark, utcnow
from kettrack.digest.mail import SmtpTarget, address_of, build_message, send
from kettrack.errors import MailError
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
            done.sent_to = _mail(library, digest, request)
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


def _entry_marks(entry: DigestEntry) -> set[tuple[str, str]]:
    kind, ident = entry.item.key
    return {(kind, ident), *(("event", str(e.id)) for e in entry.news)}


def _without(digest: Digest, had: set[tuple[str, str]]) -> Digest:
    """``digest`` less the entries whose work and events a recipient already had."""
    sections = {name: [e for e in entries if not _entry_marks(e) <= had]
                for name, entries in digest.sections.items()}
    return Digest(since=digest.since, created_at=digest.created_at, sections=sections)


def _mail(library: Library, digest: Digest, request: DigestRequest) -> list[str]:
    """Mail each recipient what it has not had yet; record every accepted
    delivery; raise :class:`MailError` unless every recipient now has it all.
    Returns the recipients."""
    from kettrack.render import digest as formats

    if request.smtp is None or request.sender is None:
        raise ValueError("recipients need an SMTP target and a sender")
    recipients = list(dict.fromkeys(request.recipients))
    # --peek marks nothing, so it records no delivery either (and holds nothing back)
    had = ({address_of(r).lower(): set() for r in recipients} if request.peek
           else library.delivered_pending([address_of(r) for r in recipients]))
    # recipients due the same items share one message
    groups: dict[frozenset[tuple[str, str]], tuple[Digest, list[str]]] = {}
    for recipient in recipients:
        mine = digest if digest.is_empty else _without(digest,
                                                       had[address_of(recipient).lower()])
        if not mine.is_empty or digest.is_empty:
            key = frozenset(m for e in mine.entries() for m in _entry_marks(e))
            groups.setdefault(key, (mine, []))[1].append(recipient)
    failures: list[str] = []
    delivered: list[str] = []
    for marks, (mine, group) in groups.items():
        message = build_message(
            subject=f"kettrack digest: {headline(mine)}", sender=request.sender,
            recipients=group, text=formats.render_text(mine), html=formats.render_html(mine))
        try:
            refused = send(message, request.smtp)
        except MailError as exc:
            failures.append(str(exc))
            continue
        accepted = [r for r in group if address_of(r) not in refused]
        if marks and accepted and not request.peek:
            library.record_deliveries([address_of(r) for r in accepted], sorted(marks),
                                      utcnow())
        delivered += accepted
        if refused:
            failures.append(f"SMTP server {request.smtp.where}: refused "
                            f"{'; '.join(refused.values())}")
    if failures:
        got = (f"; sent to {', '.join(delivered)} (recorded: the next digest does not "
               "repeat these items for them)") if delivered else ""
        raise MailError("; ".join(failures) + got)
    return recipients
