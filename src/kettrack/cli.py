"""The ``kettrack`` command line: parse options, call the library, print the result.

Commands only parse and print. Exceptions become exit codes in one place,
:class:`KettrackGroup` (as httpx maps transport exceptions in one place): a
:class:`~kettrack.errors.KettrackError` is one redacted line on stderr and its
code (1 failed, 2 bad input); Ctrl-C is "interrupted" and 130. Modules a
command needs are imported inside it, so ``kettrack --help`` and ``kettrack
show ID`` do not pay for httpx, Bio.Entrez, sqlite-utils or rich.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from kettrack import __version__
from kettrack.errors import ConfigError, KettrackError

if TYPE_CHECKING:
    from kettrack.library.filters import Filters
    from kettrack.library.store import Library
    from kettrack.settings import Settings


def _fail_line(message: str) -> None:
    from kettrack.settings import env_secrets, redact

    text = " ".join(message.split())
    typer.echo(f"Error: {redact(text, env_secrets())}", err=True)


class KettrackGroup(TyperGroup):
    """The one place exceptions become messages and exit codes."""

    def invoke(self, ctx: Any) -> Any:
        import sqlite3

        try:
            return super().invoke(ctx)
        except KettrackError as exc:
            _fail_line(str(exc) or type(exc).__name__)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; what was stored is kept", err=True)
            raise typer.Exit(130) from None
        except sqlite3.Error as exc:
            from kettrack.library.store import sqlite_failure

            failure = sqlite_failure(exc, None, "reading the library")
            _fail_line(str(failure))
            raise typer.Exit(getattr(failure, "exit_code", 1)) from None
        except OSError as exc:
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            _fail_line(f"{where}{exc.strerror or exc}")
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=KettrackGroup,
    help="Track the research literature on ketamine for alcohol use disorder.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts show "[env: ...]" literally
)
queries_app = typer.Typer(help="The saved queries.", no_args_is_help=True)
app.add_typer(queries_app, name="queries")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kettrack {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print kettrack's version and exit.")] = False,
) -> None:
    """Track the research literature on ketamine for alcohol use disorder."""


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
NamesArgument = Annotated[
    list[str] | None,
    typer.Argument(metavar="NAME", help="Saved queries, by name (default: all).",
                   show_default=False),
]
DesignOption = Annotated[
    list[str] | None,
    typer.Option("--design", metavar="DESIGN", show_default=False,
                 help="Only this study design (rct, trial, protocol, meta-analysis, "
                      "systematic-review, review, observational, case-report, preclinical, "
                      "other); repeatable."),
]
SinceOption = Annotated[
    str | None,
    typer.Option("--since", metavar="DATE", show_default=False,
                 help="Only articles that entered PubMed on or after DATE (YYYY, YYYY-MM or "
                      "YYYY-MM-DD; the publication year where PubMed gives no date)."),
]
QueryNameOption = Annotated[
    str | None,
    typer.Option("--query", metavar="NAME", show_default=False,
                 help="Only articles found by this saved query."),
]


def settings_for(db: Path | None = None, queries: Path | None = None, **more: Any) -> Settings:
    """The environment's settings, with what the command line overrides."""
    from kettrack.settings import Settings

    return Settings.from_env().with_(db_path=db, queries_dir=queries, **more)


def open_library(settings: Settings) -> Library:
    from kettrack.library.store import Library

    return Library.open(settings.db_path, lock_timeout=settings.lock_timeout)


def parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


def emit_json(data: Any) -> None:
    from kettrack.render.json import dumps

    typer.echo(dumps(data))


def is_terminal() -> bool:
    return sys.stdout.isatty()


def filters_for(library: Library, design: list[str] | None, since: str | None,
                query: str | None) -> Filters:
    """The --design/--since/--query slice, checked against the library."""
    from kettrack.library.filters import Filters, parse_since

    return library.check_filters(Filters(tuple(design or ()), parse_since(since), query))


@app.command()
def run(
    names: NamesArgument = None,
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
    from kettrack.queries import load_queries, select
    from kettrack.render.console import Output
    from kettrack.run.runner import Runner
    from kettrack.sources.offline import ctgov_client, eutils_client

    settings = settings_for(db, queries, batch_size=batch_size)
    when = parse_day(as_of, "--as-of")
    if when and not offline:
        raise ConfigError("--as-of replays the bundled snapshot; use it with --offline")
    selected = select(load_queries(settings.queries_dir), names or [])
    out = Output.for_stdout(json_mode=as_json)
    with (open_library(settings) as library,
          eutils_client(settings, offline=offline, as_of=when) as client,
          ctgov_client(settings, offline=offline, as_of=when) as ctgov):
        observer = out.run_observer()
        try:
            report = Runner(library, client, settings, observer=observer, offline=offline,
                            today=when, ctgov=ctgov).run(selected)
        finally:
            observer.close()
    if as_json:
        from kettrack.render.json import run_json

        emit_json(run_json(report))
    else:
        out.run_summary(report)


@app.command()
def stats(db: DbOption = None, as_json: JsonOption = False) -> None:
    """What the library holds: articles by design, per query, events and runs."""
    with open_library(settings_for(db)) as library:
        data = library.stats()
    if as_json:
        emit_json(data)
    else:
        from kettrack.render.console import Output

        Output.for_stdout().stats(data)


@queries_app.command("list")
def queries_list(queries: QueriesOption = None, as_json: JsonOption = False) -> None:
    """The saved queries: name, source, description and term."""
    from kettrack.queries import load_queries

    found = load_queries(settings_for(None, queries).queries_dir)
    if as_json:
        from kettrack.render.json import query_json

        emit_json([query_json(q) for q in found])
    else:
        from kettrack.render.console import Output

        Output.for_stdout().queries_list(found)


@queries_app.command("check")
def queries_check(
    names: NamesArgument = None,
    offline: OfflineOption = False,
    as_of: AsOfOption = None,
    queries: QueriesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Each query's hit count at the source, NCBI's translation of it, and its warnings.

    NCBI silently drops terms it cannot find (PhraseNotFound, FieldNotFound,
    QuotedPhraseNotFound) and widens the search; they are printed, never hidden.
    Registry queries (source "clinicaltrials") show their hit count at
    ClinicalTrials.gov, the query.* parameters sent as their translation, and a
    warning when they find no study.
    Exits 0 even when there are warnings: they are advice, not failures.
    """
    from kettrack.queries import load_queries, select
    from kettrack.run.preview import check_queries

    settings = settings_for(None, queries)
    selected = select(load_queries(settings.queries_dir), names or [])
    results = check_queries(settings, selected, offline=offline,
                            as_of=parse_day(as_of, "--as-of"))
    if as_json:
        emit_json(results)
    else:
        from kettrack.render.console import Output

        Output.for_stdout().queries_check(results)


@app.command()
def show(
    identifier: Annotated[str, typer.Argument(metavar="ID",
                                              help="PMID, DOI, PMCID or NCT number.")],
    db: DbOption = None,
    as_json: JsonOption = False,
    cite: Annotated[str | None, typer.Option(
        "--cite", metavar="vancouver|apa|ama",
        help="Print only a formatted citation in this style.", show_default=False)] = None,
) -> None:
    """One record from the library, by PMID, DOI, PMCID or NCT number.

    The full record: authors, journal, dates, design, publication types, MeSH,
    the abstract with its section labels, registered trials, corrections and
    retractions, the saved queries that found it and its history. A DOI may be
    written doi:10..., https://doi.org/10... or in any case; an NCT number shows
    the trial's registry record when the library has one (its citation with
    --cite), else the publications that name it. An unknown or malformed ID
    exits 2.
    """
    from kettrack.tools.cite import check_style
    from kettrack.tools.show import PublicationsOf, lookup

    if cite is not None:
        check_style(cite)
    with open_library(settings_for(db)) as library:
        found = lookup(library, identifier)
    works = found.items if isinstance(found, PublicationsOf) else [found]
    if cite is not None:
        from kettrack.render.json import citation_json

        citations = [citation_json(w, cite) for w in works]
        if as_json:
            emit_json(citations if isinstance(found, PublicationsOf) else citations[0])
        else:
            for c in citations:
                typer.echo(c["citation"])
        return
    if as_json:
        from kettrack.render.json import item_json, publications_json

        emit_json(publications_json(found) if isinstance(found, PublicationsOf)
                  else item_json(found))
        return
    from kettrack.render.records import print_found

    print_found(found, sys.stdout, rich=is_terminal())


@app.command()
def digest(
    since: Annotated[str, typer.Option(
        "--since", metavar="last|DATE",
        help="'last': what no digest has reported yet; DATE (YYYY-MM-DD): that, plus "
             "everything first seen on or after DATE.")] = "last",
    fmt: Annotated[str | None, typer.Option(
        "--format", metavar="rich|text|markdown|html|json",
        help="Output format (default: rich on a terminal, text otherwise).",
        show_default=False)] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Write the digest to FILE instead of stdout.",
        show_default=False)] = None,
    email: Annotated[list[str] | None, typer.Option(
        "--email", metavar="ADDR",
        help="Mail the digest (text + HTML) to ADDR; repeatable. Needs KETTRACK_SMTP_URL and "
             "KETTRACK_MAIL_FROM. Nothing is printed; --output FILE also keeps a copy.",
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
    from kettrack.digest.collect import headline
    from kettrack.digest.deliver import DigestRequest, deliver
    from kettrack.digest.mail import check_address, parse_smtp_url
    from kettrack.render.digest import FORMATS

    settings = settings_for(db)
    when = None if since == "last" else parse_day(since, "--since")
    if fmt is None:
        fmt = "rich" if output is None and is_terminal() else "text"
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    recipients = tuple(check_address(a, "--email") for a in email or [])
    target = sender = None
    if recipients:
        target = parse_smtp_url(settings.smtp_url)
        if not settings.mail_from:
            raise ConfigError("--email needs KETTRACK_MAIL_FROM (the sender address of digests)")
        sender = check_address(settings.mail_from, "KETTRACK_MAIL_FROM")
    if output is not None and not (output.parent if str(output.parent) else Path(".")).is_dir():
        raise ConfigError(f"--output {output}: folder {output.parent} does not exist")
    request = DigestRequest(format=fmt, since=when, output=output, recipients=recipients,
                            smtp=target, sender=sender, peek=peek, quiet_if_empty=quiet_if_empty)
    with open_library(settings) as library:
        done = deliver(library, request, stdout=sys.stdout, terminal=is_terminal())
    if done.sent_to and sys.stderr.isatty():
        typer.echo(f"sent to {', '.join(done.sent_to)}: {headline(done.digest)}", err=True)


@app.command()
def search(
    text: Annotated[str, typer.Argument(metavar="TEXT", help="Words to look for.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000,
                                       help="At most this many hits (up to a quarter of "
                                            "them may be registered trials).")] = 20,
    raw: Annotated[bool, typer.Option(
        "--raw", help="TEXT is an SQLite FTS5 expression (AND, OR, NOT, NEAR, \"phrases\", "
                      "prefix*, title:word); a bad one exits 2.")] = False,
    design: DesignOption = None,
    since: SinceOption = None,
    query: QueryNameOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Full-text search of the library: title, abstract, MeSH and keywords, best match first.

    Ranked by BM25 (a word in the title or the indexing counts for more than one in
    the abstract), with the matching passage highlighted. Whatever you type is
    searched as words: quotes make a phrase, and punctuation, AND/OR/NOT and
    brackets are never syntax, unless --raw. Matching registered trials are
    listed after the articles, each saying what it can tell you (a trial still
    under way is not evidence yet).
    """
    from kettrack.tools.search import search as run_search

    with open_library(settings_for(db)) as library:
        filters = filters_for(library, design, since, query)
        hits = run_search(library, text, filters=filters, limit=limit, raw=raw)
    if as_json:
        from kettrack.render.json import search_json

        emit_json(search_json(hits))
        return
    from kettrack.render.records import print_search

    print_search(hits, text, sys.stdout, rich=is_terminal())


@app.command()
def check(
    claim: Annotated[str, typer.Argument(metavar="CLAIM", help="The claim, in plain words.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=200,
                                       help="At most this many studies.")] = 10,
    online: Annotated[bool, typer.Option(
        "--online", help="First search PubMed for the claim's key terms and store the hits "
                         "(recorded as the query check:<hash>).")] = False,
    offline: Annotated[bool, typer.Option(
        "--offline", help="With --online: search the bundled snapshot, not NCBI.")] = False,
    design: DesignOption = None,
    since: SinceOption = None,
    query: QueryNameOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The evidence in the library on a claim: closest match first, then strongest design.

    Every record that shares a content word with the claim is a candidate
    (BM25 over title, abstract, MeSH and keywords); the field's vocabulary
    widens the search (alcoholism = alcohol use disorder = AUD; relapse =
    abstinence = heavy drinking days; Spravato = esketamine ...) but never
    narrows it. Candidates are re-ranked by how much of the claim's wording
    they hold, rare words counting more; scores within 0.05 of each other go
    strongest design first. A summary line says how many studies of which
    designs bear on the claim and how many support or contradict it. Each study
    is shown with its design, human or animal, sample size, year, journal, its
    stance (supports, contradicts, no clear effect, unclear), how closely it
    matches the claim in words, notes where it differs from the claim (a single
    dose against several infusions, a diagnosis against harmful drinkers, people
    against rats, the institution the claim credits against the authors'
    affiliations), the sentences that bear on the claim (findings first), flags
    (retracted, erratum, expression of concern, animal only, n < 30, protocol
    without results) and a citation. Registered trials rank a step below papers
    of the same score, and one still under way says it is not evidence yet.
    "Nothing bears on this claim" only when no record shares a word with it
    (exit 0; --json prints []); records that share only the library's
    background words (ketamine, alcohol) are listed as such. --online first
    runs a PubMed search built from the claim's own concepts.
    """
    from kettrack.tools.check import check as run_check
    from kettrack.tools.check import online_query

    if offline and not online:
        raise ConfigError("--offline goes with --online (it searches the bundled snapshot)")
    if not claim.strip():
        raise ConfigError("the claim is empty: say what to check")
    settings = settings_for(db)
    with open_library(settings) as library:
        filters = filters_for(library, design, since, query)
        if online:
            saved = online_query(claim)
            if saved is not None:
                _check_online(library, settings, saved, offline)
        result = run_check(library, claim, limit=limit, filters=filters)
    if as_json:
        from kettrack.render.json import check_json

        emit_json(check_json(result))
        return
    from kettrack.render.records import print_check

    print_check(result, sys.stdout, rich=is_terminal())


def _check_online(library: Library, settings: Settings, saved: Any, offline: bool) -> None:
    """Run ``check --online``'s PubMed search into the library through the normal pipeline."""
    from kettrack.run.runner import Runner
    from kettrack.sources.offline import eutils_client

    with eutils_client(settings, offline=offline) as client:
        report = Runner(library, client, settings, offline=offline).run([saved])
    if sys.stderr.isatty() or not offline:
        typer.echo(f"PubMed: {report.queries[0].count if report.queries else 0} hits for "
                   f"{saved.name}, {report.new_total} new to the library", err=True)


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="ris|bibtex|csv|json|atom",
                                     help="Output format.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE", show_default=False,
        help="Write to FILE (whole or not at all) instead of stdout.")] = None,
    query: QueryNameOption = None,
    since: SinceOption = None,
    design: DesignOption = None,
    limit: Annotated[int | None, typer.Option(
        "--limit", min=1, show_default=False,
        help="At most this many articles [default: all; atom: the newest 100].")] = None,
    db: DbOption = None,
) -> None:
    """The library, or a slice of it, for reference managers, spreadsheets and feed readers.

    ris (Zotero, EndNote, Mendeley), bibtex, csv (one row per article), json
    (the article shape of docs/json.md) or atom (a feed of the newest articles,
    for a feed reader subscribed to a file a cron job refreshes with -o).
    """
    from kettrack.tools import export as exports

    with open_library(settings_for(db)) as library:
        text = exports.export(library, fmt, filters_for(library, design, since, query), limit)
    if output is None:
        typer.echo(text, nl=False)
    else:
        exports.write_atomic(output, text)


def main() -> None:
    """The ``kettrack`` entry point."""
    try:
        app(prog_name="kettrack")
    except KeyboardInterrupt:
        typer.echo("interrupted; what was stored is kept", err=True)
        raise SystemExit(130) from None

