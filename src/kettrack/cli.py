"""The ``kettrack`` command line: parse options, call the library, pick the output.

Only this module maps exceptions to exit codes: 0 done, 1 failed (network,
NCBI, SMTP, a busy library), 2 bad input. Messages are one line, name what was
wrong and where, and pass through :func:`kettrack.config.redact`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import httpx
import typer

from . import display
from .config import Settings, env_secrets, redact
from .errors import BadInput, ConfigError, KettrackError
from .eutils import EutilsClient
from .queries import SavedQuery, load_queries, select
from .store import Library

app = typer.Typer(
    help="Track the research literature on ketamine for alcohol use disorder.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
queries_app = typer.Typer(help="The saved queries.", no_args_is_help=True)
app.add_typer(queries_app, name="queries")

T = TypeVar("T")

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="Library file [env: KETTRACK_DB; default: kettrack.db]",
                 show_default=False),
]
QueriesOption = Annotated[
    Path | None,
    typer.Option("--queries", help="Folder of saved queries [env: KETTRACK_QUERIES; "
                 "default: queries/]", show_default=False),
]
OfflineOption = Annotated[
    bool, typer.Option("--offline", help="Use the snapshot bundled in data/, no network.")
]
AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", metavar="DATE",
                 help="With --offline: replay the snapshot as it stood on DATE (YYYY-MM-DD).",
                 show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def fail(exc: KettrackError, settings: Settings | None = None) -> NoReturn:
    """Print ``exc`` as one redacted line on stderr and exit with its code."""
    secrets = settings.secrets() if settings else env_secrets()
    message = " ".join(str(exc).split()) or type(exc).__name__
    typer.echo(f"Error: {redact(message, secrets)}", err=True)
    raise typer.Exit(exc.exit_code)


def guarded(fn: Callable[[], T], settings: Settings | None = None) -> T:
    try:
        return fn()
    except KettrackError as exc:
        fail(exc, settings)


def make_settings(db: Path | None = None, queries: Path | None = None) -> Settings:
    try:
        settings = Settings.from_env()
    except KettrackError as exc:
        fail(exc)
    return settings.with_(db_path=db, queries_dir=queries)


def parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(ConfigError(f"{option} {value!r} is not a date (YYYY-MM-DD)"))


def offline_transport(as_of: date | None) -> httpx.BaseTransport:
    """The bundled snapshot, served in-process by the E-utilities stand-in."""
    from .standin.eutils import EutilsStandin
    from .standin.snapshot import Snapshot, default_snapshot_dir

    folder = default_snapshot_dir()
    xml = folder / "pubmed" / "snapshot.xml"
    if not xml.exists():
        raise ConfigError(f"{xml}: the offline snapshot is missing (KETTRACK_SNAPSHOT_DIR)")
    pending = folder / "pubmed" / "pending_indexing.json"
    snapshot = Snapshot.load(xml, pending if pending.exists() else None)
    return httpx.MockTransport(EutilsStandin(snapshot, as_of=as_of))


@contextmanager
def open_library(settings: Settings) -> Iterator[Library]:
    library = guarded(lambda: Library.open(settings.db_path, lock_timeout=settings.lock_timeout),
                      settings)
    try:
        yield library
    finally:
        library.close()


def eutils_client(settings: Settings, offline: bool, as_of: date | None) -> EutilsClient:
    transport = guarded(lambda: offline_transport(as_of), settings) if offline else None
    return EutilsClient(settings, transport=transport)


def load_selected(settings: Settings, names: list[str] | None) -> list[SavedQuery]:
    return guarded(lambda: select(load_queries(settings.queries_dir), names or []), settings)


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@app.command()
def run(
    names: Annotated[list[str] | None, typer.Argument(
        metavar="[NAME]...", help="Saved queries to run (default: all).", show_default=False)] = None,
    offline: OfflineOption = False,
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    queries: QueriesOption = None,
    batch_size: Annotated[int | None, typer.Option(
        "--batch-size", min=1, max=10000, help="IDs per efetch request [default: 500].",
        show_default=False)] = None,
) -> None:
    """Run saved queries, store and deduplicate their hits, and summarise.

    Prints, per query, its hit count at the source, how many hits were new to
    the library, and how many stored records NCBI had revised.
    """
    from .run import Runner

    settings = make_settings(db, queries).with_(batch_size=batch_size)
    when = parse_date(as_of, "--as-of")
    if when and not offline:
        fail(ConfigError("--as-of replays the bundled snapshot; use it with --offline"))
    selected = load_selected(settings, names)
    out = display.Output.for_stdout(json_mode=as_json)
    with open_library(settings) as library, eutils_client(settings, offline, when) as client:
        observer = out.run_observer()
        runner = Runner(library, client, settings, observer=observer, offline=offline,
                        today=when)
        try:
            report = guarded(lambda: runner.run(selected), settings)
        finally:
            observer.close()
    if as_json:
        emit_json(report.to_json())
    else:
        out.run_summary(report)


@app.command()
def stats(db: DbOption = None, as_json: JsonOption = False) -> None:
    """What the library holds: articles by design, per query, events and runs."""
    settings = make_settings(db)
    with open_library(settings) as library:
        data = library.stats()
    if as_json:
        emit_json(data)
    else:
        display.Output.for_stdout().stats(data)


@queries_app.command("list")
def queries_list(queries: QueriesOption = None, as_json: JsonOption = False) -> None:
    """The saved queries: name, source, description and term."""
    settings = make_settings(None, queries)
    found = guarded(lambda: load_queries(settings.queries_dir), settings)
    if as_json:
        emit_json([{"name": q.name, "source": q.source, "description": q.description,
                    "tags": list(q.tags), "term": q.term, "version": q.version} for q in found])
    else:
        display.Output.for_stdout().queries_list(found)


@queries_app.command("check")
def queries_check(
    names: Annotated[list[str] | None, typer.Argument(
        metavar="[NAME]...", help="Queries to check (default: all).", show_default=False)] = None,
    offline: OfflineOption = False,
    as_of: AsOfOption = None,
    queries: QueriesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Each query's hit count at the source, NCBI's translation of it, and its warnings.

    NCBI silently drops terms it cannot find (PhraseNotFound, FieldNotFound,
    QuotedPhraseNotFound) and widens the search; they are printed, never hidden.
    Exits 0 even when there are warnings: they are advice, not failures.
    """
    settings = make_settings(None, queries)
    selected = load_selected(settings, names)
    when = parse_date(as_of, "--as-of")
    results = []
    with eutils_client(settings, offline, when) as client:
        for query in selected:
            if query.source != "pubmed":
                continue
            page = guarded(lambda q=query: client.esearch(q.term, retmax=0, usehistory=False),
                           settings)
            results.append({"name": query.name, "count": page.count,
                            "translation": page.translation, "errors": page.errors,
                            "warnings": page.warnings})
    if as_json:
        emit_json(results)
    else:
        display.Output.for_stdout().queries_check(results)


@app.command()
def show(
    identifier: Annotated[str, typer.Argument(metavar="ID",
                                              help="PMID, DOI, PMCID or NCT number.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """One record from the library, by PMID, DOI, PMCID or NCT number."""
    from .lookup import find_article

    settings = make_settings(db)
    with open_library(settings) as library:
        pmid = guarded(lambda: find_article(library, identifier), settings)
        data = library.article_json(pmid)
    if as_json:
        emit_json(data)
    else:
        display.Output.for_stdout().article(data or {})


# digest
@app.command()
def digest(
    since: Annotated[str, typer.Option(
        "--since", metavar="last|DATE",
        help="'last': what no digest has reported yet; DATE (YYYY-MM-DD): that, plus "
             "everything first seen on or after DATE.")] = "last",
    fmt: Annotated[str | None, typer.Option(
        "--format", metavar="rich|text|markdown|html|json",
        help="Output format [default: rich on a terminal, text otherwise].",
        show_default=False)] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Write the digest to FILE instead of stdout.",
        show_default=False)] = None,
    email: Annotated[list[str] | None, typer.Option(
        "--email", metavar="ADDR",
        help="Mail the digest (text + HTML) to ADDR; repeatable. Needs KETTRACK_SMTP_URL and "
             "KETTRACK_MAIL_FROM. Nothing goes to stdout unless --output is given.",
        show_default=False)] = None,
    peek: Annotated[bool, typer.Option(
        "--peek", help="Show the digest without marking its items as reported.")] = False,
    quiet_if_empty: Annotated[bool, typer.Option(
        "--quiet-if-empty", help="When nothing is new, print and send nothing (exit 0).")] = False,
    db: DbOption = None,
) -> None:
    """What is new since the last digest: trials, studies, reviews, and updates.

    Printing or mailing a digest marks its items as reported (unless --peek),
    so the next digest shows only what came after. With --email the items are
    marked only once the mail server accepted the message. Exit codes: 0 done
    (also when nothing is new); 1 the mail could not be sent or the file
    written, nothing marked, the next digest repeats the items; 2 bad input.
    """
    from . import digest as digests
    from . import digest_format, mail

    settings = make_settings(db)
    when = None if since == "last" else parse_date(since, "--since")
    if fmt is None:
        fmt = "rich" if output is None and sys.stdout.isatty() else "text"
    if fmt not in digest_format.FORMATS:
        fail(ConfigError(f"--format {fmt!r}: choose one of {', '.join(digest_format.FORMATS)}"))
    recipients = [guarded(lambda a=a: mail.check_address(a, "--email"), settings)
                  for a in email or []]
    target = sender = None
    if recipients:
        target = guarded(lambda: mail.parse_smtp_url(settings.smtp_url), settings)
        sender = settings.mail_from or fail(ConfigError(
            "--email needs KETTRACK_MAIL_FROM (the sender address of digests)"))
        guarded(lambda: mail.check_address(sender or "", "KETTRACK_MAIL_FROM"), settings)
    if output is not None and not output.parent.is_dir():
        fail(ConfigError(f"--output {output}: folder {output.parent} does not exist"))
    with open_library(settings) as library:
        found = guarded(lambda: digests.collect(library, when), settings)
        if found.is_empty and quiet_if_empty:
            return
        if recipients and target is not None and sender is not None:
            message = mail.build_message(
                subject=f"kettrack digest: {digests.headline(found)}", sender=sender,
                recipients=recipients, text=digest_format.render_text(found),
                html=digest_format.render_html(found))
            guarded(lambda: mail.send(message, target), settings)
        if output is not None:
            guarded(lambda: _write_atomically(output, digest_format.render(found, fmt)),
                    settings)
        elif not recipients:
            if fmt == "rich":
                digest_format.print_rich(found, display.Output.for_stdout().console)
            else:
                typer.echo(digest_format.render(found, fmt), nl=False)
        if not peek:
            guarded(lambda: digests.mark(library, found, format="email" if recipients else fmt,
                                         sent_to=recipients or None), settings)
    if recipients and sys.stderr.isatty():
        typer.echo(f"sent to {', '.join(recipients)}: {digests.headline(found)}", err=True)


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all."""
    from .errors import Failure

    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise Failure(f"--output {path}: cannot write ({exc.strerror or exc})") from None


def main() -> None:  # pragma: no cover - console entry for `python -m kettrack`
    try:
        app()
    except BadInput as exc:
        fail(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
