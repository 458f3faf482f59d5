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
from contextlib import nullcontext
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
    from kettrack.text import one_line

    text = one_line(message)  # a server's words may hold escape sequences
    typer.echo(f"Error: {redact(text, env_secrets())}", err=True)


def show_retries(stream: Any) -> None:
    """On a terminal, say when a request is retried and why (the HTTP layer logs
    each retry on ``kettrack.http``); elsewhere (cron) stay quiet."""
    import logging

    if not stream.isatty():
        return
    log = logging.getLogger("kettrack.http")
    if any(getattr(h, "kettrack_for", None) is stream for h in log.handlers):
        return
    follow = stream is sys.stderr

    class Notices(logging.StreamHandler):  # type: ignore[type-arg]
        kettrack_for = stream

        def emit(self, record: logging.LogRecord) -> None:
            if follow:  # rich's progress display swaps sys.stderr while it runs
                self.stream = sys.stderr
            super().emit(record)

    handler = Notices(stream)
    handler.setFormatter(logging.Formatter("kettrack: %(message)s"))
    log.addHandler(handler)


class KettrackGroup(TyperGroup):
    """The one place exceptions become messages and exit codes."""

    def invoke(self, ctx: Any) -> Any:
        import sqlite3

        show_retries(sys.stderr)
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
watch_app = typer.Typer(help="Citation watches: follow the papers that cite a key paper.",
                        no_args_is_help=True)
app.add_typer(watch_app, name="watch")


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


def open_library(settings: Settings, *, existing: bool = False) -> Library:
    """The library; with ``existing`` (commands that only read it, or report
    from it), a missing file is bad input rather than a new, empty library: a
    mistyped KETTRACK_DB must not answer "nothing" or mail an empty digest."""
    from kettrack.library.store import Library

    path = settings.db_path
    if existing and not path.exists():
        raise ConfigError(f"{path}: no library here (KETTRACK_DB or --db); "
                          "'kettrack run' makes one")
    return Library.open(path, lock_timeout=settings.lock_timeout)


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
    the library, and how many stored records NCBI had revised. With no NAME the
    citation watches run too (see `kettrack watch`): one line each, cited-by:NAME.
    """
    from kettrack.queries import load_queries, select
    from kettrack.render.console import Output
    from kettrack.run.registry import registry_searches
    from kettrack.run.runner import Runner, Searches
    from kettrack.sources.offline import ctgov_client, europepmc_client, eutils_client

    settings = settings_for(db, queries, batch_size=batch_size)
    when = parse_day(as_of, "--as-of")
    if when and not offline:
        raise ConfigError("--as-of replays the bundled snapshot; use it with --offline")
    selected = select(load_queries(settings.queries_dir), names or [])
    out = Output.for_stdout(json_mode=as_json)
    registry_searches(selected)  # a bad registry term fails before any request
    # the PubMed searches need nothing from the library: they go out while it opens
    with (eutils_client(settings, offline=offline, as_of=when) as client,
          Searches(client, selected) as searches, open_library(settings) as library):
        # Europe PMC is asked (and its offline snapshot needed) for Europe PMC queries
        # and, when the watches run, for who cites the watched papers
        wants_epmc = any(q.source == "europepmc" for q in selected) or (
            not names and bool(library.watches()))
        with (ctgov_client(settings, offline=offline, as_of=when) as ctgov,
              (europepmc_client(settings, offline=offline, as_of=when) if wants_epmc
               else nullcontext()) as epmc):
            observer = out.run_observer()
            try:
                report = Runner(library, client, settings, observer=observer,
                                offline=offline, today=when, ctgov=ctgov, watches=not names,
                                europepmc=epmc, searches=searches).run(selected)
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
    with open_library(settings_for(db), existing=True) as library:
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
    warning when they find no study. Europe PMC queries (source "europepmc")
    show their hit count at Europe PMC and the query sent (Europe PMC has no
    translation), in one request each.
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
    the trial's registry record when the library has one, else the publications
    that name it (--cite always cites the registry entry). An unknown or
    malformed ID exits 2.
    """
    from kettrack.tools.cite import check_style
    from kettrack.tools.show import PublicationsOf, lookup

    if cite is not None:
        check_style(cite)
    with open_library(settings_for(db), existing=True) as library:
        found = lookup(library, identifier)
    if cite is not None:
        from kettrack.render.json import citation_json
        from kettrack.tools.cite import registry_entry

        if isinstance(found, PublicationsOf):  # an NCT number names the registry entry
            typer.echo(f"note: the library holds no registry record of {found.nct_id}; cited "
                       "by its number (`kettrack show` without --cite lists its papers)",
                       err=True)
        citation = citation_json(
            registry_entry(found.nct_id) if isinstance(found, PublicationsOf) else found, cite)
        if as_json:
            emit_json(citation)
        else:
            typer.echo(citation["citation"])
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
    with open_library(settings, existing=True) as library:
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

    with open_library(settings_for(db), existing=True) as library:
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
    """The evidence in the library on a claim: best match first, then strongest design.

    Every record that shares a content word with the claim is a candidate (BM25
    over title, abstract, MeSH and keywords); the field's vocabulary widens the
    search (alcoholism = alcohol use disorder = AUD; relapse = abstinence =
    heavy drinking days; Spravato = esketamine ...) but never narrows it.
    Candidates are re-ranked by how much of the claim's wording they hold, rare
    words counting more (a learned reranker, fused with the BM25 order); scores
    within 0.05 of each other go strongest design first. A summary line says how
    many studies bear on the claim, and of those listed, which designs and how
    many support or contradict it. Each study is shown with its design, human or animal, sample
    size, year, journal, its stance (supports, contradicts, no clear effect,
    unclear), how closely it matches the claim in words, notes where it differs
    from the claim (a single dose against several infusions, a diagnosis against
    harmful drinkers, people against rats, the institution the claim credits
    against the authors' affiliations as PubMed lists them), the sentences that
    bear on the claim (findings first), flags (retracted, erratum, expression of
    concern, animal only, n < 30, protocol without results) and a citation.
    Registered trials rank a step below papers of the same score, and one still
    under way says it is not evidence yet. "Nothing bears on this claim" only
    when no record shares a word with it (exit 0; --json prints []); records
    that share only the library's background words (ketamine, alcohol) are
    listed as such. --online first runs a PubMed search built from the claim's
    own concepts.
    """
    from kettrack.tools.check import check as run_check
    from kettrack.tools.check import online_query

    if offline and not online:
        raise ConfigError("--offline goes with --online (it searches the bundled snapshot)")
    if not claim.strip():
        raise ConfigError("the claim is empty: say what to check")
    settings = settings_for(db)
    with open_library(settings, existing=not online) as library:
        filters = filters_for(library, design, since, query)
        if online:
            saved = online_query(claim)
            if saved is not None:
                _check_online(library, settings, saved, offline)
        result = run_check(library, claim, limit=limit, filters=filters)
    if not result.concepts:  # only noise words: bad input, as for search
        raise ConfigError(f"{claim!r} has no words to check (only words such as "
                          "'the', 'of', 'use')")
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
        from kettrack.text import plural

        hits = plural(report.queries[0].count if report.queries else 0, "hit")
        typer.echo(f"PubMed: {hits} for {saved.name}, {report.new_total} new to the library",
                   err=True)


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
    bom: Annotated[bool, typer.Option(
        "--bom/--no-bom",
        help="csv: start with a UTF-8 byte order mark, so Excel reads non-ASCII text.")] = True,
    review: Annotated[str | None, typer.Option(
        "--review", metavar="NAME", show_default=False,
        help="Only the articles screened in this review, with the decision, reason, note, "
             "reviewer and time as fields.")] = None,
    decision: Annotated[str, typer.Option(
        "--decision", metavar="include|exclude|maybe|any",
        help="With --review: which current decisions.")] = "include",
    db: DbOption = None,
) -> None:
    """The library, or a slice of it, for reference managers, spreadsheets and feed readers.

    ris (Zotero, EndNote, Mendeley), bibtex, csv (one row per article), json
    (the article shape of docs/json.md) or atom (a feed of the newest articles,
    for a feed reader subscribed to a file a cron job refreshes with -o). In
    csv, a cell that starts with = + - @ or ' gets a ' in front, so no
    spreadsheet runs it as a formula (docs/export.md).
    """
    from kettrack.tools import export as exports

    if decision != "include" and review is None:
        raise ConfigError("--decision goes with --review NAME")
    with open_library(settings_for(db), existing=True) as library:
        text = exports.export(library, fmt, filters_for(library, design, since, query), limit,
                              bom=bom, review=review, decision=decision)
    if output is None:
        typer.echo(text, nl=False)
    else:
        exports.write_atomic(output, text)


@watch_app.command("add")
def watch_add(
    identifier: Annotated[str, typer.Argument(metavar="ID", help="PMID, DOI or PMCID.")],
    name: Annotated[str | None, typer.Option(
        "--name", metavar="NAME", show_default=False,
        help="The watch's name; its citing papers get the membership cited-by:NAME "
             "[default: first author and year, e.g. grabski2022].")] = None,
    offline: OfflineOption = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Watch a paper: each run adds the papers that cite it (membership cited-by:NAME).

    The ID is looked up in the library first; a DOI or PMCID it does not hold is
    resolved to a PMID with one PubMed search, and the paper is fetched once for
    its label ("Grabski 2022"). Who cites it is asked by every `kettrack run`
    that names no query (NCBI ELink, pubmed_pubmed_citedin). An ID PubMed does
    not know, or a paper or name already watched, exits 2.
    """
    from kettrack.sources.offline import eutils_client
    from kettrack.tools.watch import add_watch, resolve

    settings = settings_for(db)
    with open_library(settings) as library, \
            eutils_client(settings, offline=offline) as client:
        added = add_watch(library, resolve(library, client, identifier, offline=offline), name)
    if as_json:
        from kettrack.render.json import watch_json

        emit_json(watch_json(added))
        return
    typer.echo(f"watching {added.label} as {added.name}: papers citing it get the membership "
               f"{added.membership} from the next run")


@watch_app.command("list")
def watch_list(as_json: JsonOption = False, db: DbOption = None) -> None:
    """The watched papers: name, label, PMID, and citing papers seen so far."""
    with open_library(settings_for(db), existing=True) as library:
        found = [(w, library.citing_count(w.pmid)) for w in library.watches()]
    if as_json:
        from kettrack.render.json import watch_json

        emit_json([watch_json(w, citing=n) for w, n in found])
        return
    from kettrack.library.identifiers import pmid_label

    if not found:
        typer.echo("no watches (add one with: kettrack watch add ID)")
    for w, n in found:
        typer.echo(f"{w.name}: {w.label} ({pmid_label(w.pmid)}, added as {w.given}); "
                   f"{n} citing paper{'s' if n != 1 else ''} seen")


@watch_app.command("remove")
def watch_remove(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The watch's name.")],
    db: DbOption = None,
) -> None:
    """Stop watching NAME. Papers it brought in keep their cited-by:NAME membership."""
    with open_library(settings_for(db)) as library:
        gone = library.remove_watch(name)
    typer.echo(f"stopped watching {gone.label} ({gone.name}); its papers stay in the library")


@app.command()
def similar(
    identifier: Annotated[str, typer.Argument(metavar="ID", help="PMID, DOI or PMCID.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=500,
                                       help="At most this many suggestions.")] = 10,
    add: Annotated[bool, typer.Option(
        "--add", help="Store the suggestions in the library (membership similar:PMID).")
    ] = False,
    offline: OfflineOption = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """PubMed's similar articles not yet in the library, best score first.

    A suggestion, not an alert: asks NCBI ELink (pubmed_pubmed, cmd=neighbor_score)
    once, leaves out what the library holds, and fetches the rest once for their
    titles. With --add they are stored like a run's records.
    """
    from kettrack.sources.offline import eutils_client
    from kettrack.tools.watch import resolve
    from kettrack.tools.watch import similar as find_similar

    settings = settings_for(db)
    with open_library(settings) as library, \
            eutils_client(settings, offline=offline) as client:
        found = resolve(library, client, identifier, offline=offline)
        answer = find_similar(library, client, found, limit=limit, add=add, offline=offline)
    if as_json:
        from kettrack.render.json import similar_json

        emit_json(similar_json(answer))
        return
    from kettrack.render.records import print_similar

    print_similar(answer, sys.stdout)
# -- living reviews ------------------------------------------------------------

review_app = typer.Typer(help="Living reviews: screening fed by saved queries.",
                         no_args_is_help=True)
app.add_typer(review_app, name="review")
ReviewArgument = Annotated[str, typer.Argument(metavar="NAME", help="The review's name.")]


def _known_queries(settings: Settings, library: Library) -> list[str]:
    from kettrack.errors import QueryFileError
    from kettrack.queries import load_queries

    try:
        saved = [q.name for q in load_queries(settings.queries_dir)]
    except QueryFileError:
        saved = []
    return sorted({*saved, *library.saved_query_names()})


@review_app.command("create")
def review_create(
    name: ReviewArgument,
    query: Annotated[list[str], typer.Option(
        "--query", metavar="Q", help="A saved query that feeds the review; repeatable.")],
    reason: Annotated[list[str] | None, typer.Option(
        "--reason", metavar="R", show_default=False,
        help="An exclusion reason to offer; repeatable [default: wrong population, wrong "
             "intervention, wrong comparator, wrong outcome, wrong study design, not primary "
             "research, duplicate, other].")] = None,
    keyword: Annotated[list[str] | None, typer.Option(
        "--keyword", metavar="WORD", show_default=False,
        help="A word to highlight in abstracts while screening; repeatable.")] = None,
    description: Annotated[str, typer.Option("--description", help="What the review asks.")
                           ] = "",
    db: DbOption = None,
    queries: QueriesOption = None,
) -> None:
    """Create a living review fed by saved queries.

    Its records are everything its queries found, and what later runs find joins
    the queue. Exit 2 for a name already used or a query that is not saved.
    """
    from kettrack.review.decide import create

    settings = settings_for(db, queries)
    with open_library(settings) as library:
        review = create(library, name, query, known_queries=_known_queries(settings, library),
                        reasons=reason or (), keywords=keyword or (), description=description)
    typer.echo(f"created review {review.name} (queries: {', '.join(review.queries)}); "
               f"screen it with: kettrack screen {review.name}")


@review_app.command("list")
def review_list(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Every review, with how far its screening has got."""
    from kettrack.review.queue import Screening

    with open_library(settings_for(db), existing=True) as library:
        rows = [(r, Screening(library, r).progress()) for r in library.reviews()]
    if as_json:
        from kettrack.render.review import review_json

        emit_json([review_json(r, p) for r, p in rows])
        return
    from kettrack.render.review import print_reviews

    print_reviews(rows, sys.stdout, rich=is_terminal())


@review_app.command("show")
def review_show(name: ReviewArgument, db: DbOption = None, as_json: JsonOption = False) -> None:
    """One review: its queries, exclusion reasons, progress and how its queue is ordered."""
    from kettrack.review.decide import get_review
    from kettrack.review.queue import Screening, ranking_note

    with open_library(settings_for(db), existing=True) as library:
        review = get_review(library, name)
        done = Screening(library, review).progress()
    note = ranking_note(done.include, done.exclude)
    if as_json:
        from kettrack.render.review import review_json

        emit_json(review_json(review, done, note=note))
        return
    from kettrack.render.review import print_review

    print_review(review, done, note, sys.stdout, rich=is_terminal())


@review_app.command("queue")
def review_queue(
    name: ReviewArgument,
    limit: Annotated[int | None, typer.Option("--limit", min=1, show_default=False,
                                              help="At most this many records.")] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The records awaiting screening, most likely inclusions first.

    Random (seeded) order until the review has an inclusion and an exclusion;
    then ordered by a model learned from its decisions (score 0..1).
    """
    from kettrack.review.decide import get_review
    from kettrack.review.queue import Screening

    with open_library(settings_for(db), existing=True) as library:
        queue = Screening(library, get_review(library, name)).queue(limit=limit)
        items = library.items([e.key for e in queue.entries], history=False)
    if as_json:
        from kettrack.render.review import queue_json

        emit_json(queue_json(queue, items))
        return
    from kettrack.render.review import print_queue

    print_queue(queue, items, sys.stdout, rich=is_terminal())


@review_app.command("prisma")
def review_prisma(
    name: ReviewArgument,
    fmt: Annotated[str, typer.Option("--format", metavar="text|json|svg",
                                     help="Output format.")] = "text",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE", show_default=False,
        help="Write to FILE (whole or not at all) instead of stdout.")] = None,
    db: DbOption = None,
) -> None:
    """The review's PRISMA 2020 flow: counts, or the diagram as a standalone SVG.

    Records identified per source and query, duplicates removed across sources,
    screened, excluded by reason, maybe, awaiting and included.
    """
    from kettrack.review import prisma
    from kettrack.review.decide import get_review
    from kettrack.review.queue import Screening

    if fmt not in prisma.FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose one of {', '.join(prisma.FORMATS)}")
    with open_library(settings_for(db), existing=True) as library:
        counts = prisma.flow(Screening(library, get_review(library, name)))
    if fmt == "json":
        from kettrack.render.json import dumps

        text = dumps(prisma.to_json(counts)) + "\n"
    else:
        text = prisma.to_svg(counts) if fmt == "svg" else prisma.to_text(counts)
    if output is None:
        typer.echo(text, nl=False)
    else:
        from kettrack.tools.export import write_atomic

        write_atomic(output, text)


def _reviewer(value: str | None) -> str:
    import os

    from kettrack.text import one_line

    who = one_line(value or os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown")
    if not who or len(who) > 100:
        raise ConfigError("--reviewer: give a name of up to 100 characters")
    return who


@app.command()
def screen(
    name: ReviewArgument,
    decide: Annotated[tuple[str, str] | None, typer.Option(
        "--decide", metavar="ID include|exclude|maybe", show_default=False,
        help="Record one decision about the record ID (PMID, DOI, PMCID or NCT number).")
    ] = None,
    reason: Annotated[str | None, typer.Option(
        "--reason", metavar="R", show_default=False,
        help="With --decide ID exclude: the exclusion reason (one of the review's).")] = None,
    note: Annotated[str | None, typer.Option("--note", metavar="N", show_default=False,
                                             help="With --decide: a note.")] = None,
    import_file: Annotated[Path | None, typer.Option(
        "--import", metavar="FILE", show_default=False,
        help="Record the decisions in a CSV file: id,decision[,reason,note] (a header row "
             "is optional); a bad row imports nothing and exits 2.")] = None,
    reviewer: Annotated[str | None, typer.Option(
        "--reviewer", metavar="WHO", show_default=False,
        help="Who is deciding [default: $USER].")] = None,
    db: DbOption = None,
) -> None:
    """Screen a review's records: interactively, or scripted with --decide / --import.

    The interactive screen shows the record most likely to be included first,
    with the review's words highlighted; keys: i include, e exclude (then the
    reason's number), m maybe, n note, s skip, u undo, q quit. Every decision is
    stored at once with who and when; a change of mind is a new decision, and
    the old one is kept.
    """
    from kettrack.review.decide import decide as decide_one
    from kettrack.review.decide import get_review
    from kettrack.review.decide import import_file as import_decisions
    from kettrack.review.queue import Screening

    if decide is not None and import_file is not None:
        raise ConfigError("--decide and --import: one at a time")
    if (reason is not None or note is not None) and decide is None:
        raise ConfigError("--reason and --note go with --decide")
    who = _reviewer(reviewer)
    with open_library(settings_for(db)) as library:
        review = get_review(library, name)
        screening = Screening(library, review)
        records = set(screening.records)
        if decide is not None:
            key = decide_one(library, review, records, decide[0], decide[1], reason=reason,
                             note=note, reviewer=who)
            typer.echo(f"{decide[1].strip().lower()}: {key[1]} in review {review.name}")
            return
        if import_file is not None:
            stored = import_decisions(library, review, records, import_file, reviewer=who)
            typer.echo(f"imported {len(stored)} decision(s) into review {review.name}")
            return
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise ConfigError("the interactive screen needs a terminal; script it with "
                              "--decide ID DECISION or --import FILE")
        from kettrack.review.screen import run_screen

        run_screen(screening, reviewer=who)


def main() -> None:
    """The ``kettrack`` entry point."""
    try:
        app(prog_name="kettrack")
    except KeyboardInterrupt:
        typer.echo("interrupted; what was stored is kept", err=True)
        raise SystemExit(130) from None

