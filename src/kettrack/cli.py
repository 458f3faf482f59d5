"""The ``kettrack`` command line: parse options, call the library, pick the output.

Only this module maps exceptions to exit codes: 0 done, 1 failed (network,
NCBI, SMTP, a busy library), 2 bad input. Messages are one line, name what was
wrong and where, and pass through :func:`kettrack.settings.redact`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from functools import partial
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import httpx
import typer

from kettrack.errors import ConfigError, KettrackError
from kettrack.library.store import Library
from kettrack.queries import SavedQuery, load_queries, select
from kettrack.render import console as display
from kettrack.render import records as writer_format
from kettrack.settings import Settings, env_secrets, redact
from kettrack.sources.ctgov import CtgovClient
from kettrack.sources.eutils import EutilsClient

app = typer.Typer(
    help="Track the research literature on ketamine for alcohol use disorder.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts show "[env: ...]" literally
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
NamesArgument = Annotated[
    list[str] | None,
    typer.Argument(metavar="NAME", help="Saved queries, by name (default: all).",
                   show_default=False),
]


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
    from kettrack.standin.eutils import EutilsStandin
    from kettrack.standin.snapshot import Snapshot, default_snapshot_dir

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


OFFLINE_RATE = 1e6  # the in-process stand-in needs no spacing between requests


def eutils_client(settings: Settings, offline: bool, as_of: date | None) -> EutilsClient:
    if not offline:
        return EutilsClient(settings)
    transport = guarded(lambda: offline_transport(as_of), settings)
    return EutilsClient(settings.with_(rate_limit=OFFLINE_RATE), transport=transport)


def load_selected(settings: Settings, names: list[str] | None) -> list[SavedQuery]:
    return guarded(lambda: select(load_queries(settings.queries_dir), names or []), settings)


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


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
    from kettrack.run.runner import Runner

    settings = make_settings(db, queries).with_(batch_size=batch_size)
    when = parse_date(as_of, "--as-of")
    if when and not offline:
        fail(ConfigError("--as-of replays the bundled snapshot; use it with --offline"))
    selected = load_selected(settings, names)
    out = display.Output.for_stdout(json_mode=as_json)
    with (open_library(settings) as library, eutils_client(settings, offline, when) as client,
          registry_client(settings, offline, when) as ctgov):
        observer = out.run_observer()
        runner = Runner(library, client, settings, observer=observer, offline=offline,
                        today=when, ctgov=ctgov)
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
    from kettrack.library import trial as registry

    settings = make_settings(None, queries)
    selected = load_selected(settings, names)
    when = parse_date(as_of, "--as-of")
    results = []
    ctgov = (registry_client(settings, offline, when)
             if any(q.source == "clinicaltrials" for q in selected) else None)
    try:
        with eutils_client(settings, offline, when) as client:
            for query in selected:
                if query.source == "clinicaltrials" and ctgov is not None:
                    results.append(guarded(partial(registry.check_query, ctgov, query),
                                           settings))
                    continue
                if query.source != "pubmed":
                    continue
                page = guarded(partial(client.esearch, query.term, retmax=0, usehistory=False),
                               settings)
                results.append({"name": query.name, "source": "pubmed", "count": page.count,
                                "translation": page.translation, "errors": page.errors,
                                "warnings": page.warnings})
    finally:
        if ctgov is not None:
            ctgov.close()
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
    cite: Annotated[str | None, typer.Option(
        "--cite", metavar="vancouver|apa|ama",
        help="Print only a formatted citation in this style.", show_default=False)] = None,
) -> None:
    """One record from the library, by PMID, DOI, PMCID or NCT number.

    The full record: authors, journal, dates, design, publication types, MeSH,
    the abstract with its section labels, registered trials, corrections and
    retractions, the saved queries that found it and its history. A DOI may be
    written doi:10..., https://doi.org/10... or in any case; an NCT number shows
    the trial's registry record when the library has one, then the
    publications that name it. An unknown or malformed ID exits 2.
    """
    settings = make_settings(db)
    with open_library(settings) as library:
        if cite is not None:
            show_citation(library, identifier, cite, settings, as_json)
            return
        if show_trial(library, identifier, settings, as_json):  # registry record (issue 5)
            return
        data = show_record(library, identifier, settings)
    if as_json:
        emit_json(data)
    else:
        out = display.Output.for_stdout()
        writer_format.print_record(data, out.stream, rich=out.rich)


# digest
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
    from kettrack.digest import collect as digests
    from kettrack.digest import mail
    from kettrack.render import digest as digest_format
    from kettrack.tools.export import write_atomic

    settings = make_settings(db)
    when = None if since == "last" else parse_date(since, "--since")
    if fmt is None:
        fmt = "rich" if output is None and sys.stdout.isatty() else "text"
    if fmt not in digest_format.FORMATS:
        fail(ConfigError(f"--format {fmt!r}: choose one of {', '.join(digest_format.FORMATS)}"))
    recipients = [guarded(partial(mail.check_address, a, "--email"), settings)
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
            text = digest_format.render(found, fmt)
            guarded(lambda: write_atomic(output, text, option="--output"), settings)
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


# registered trials (ClinicalTrials.gov)
def registry_client(settings: Settings, offline: bool, as_of: date | None) -> CtgovClient:
    """The ClinicalTrials.gov client for ``run`` (the bundled snapshot with --offline)."""
    from kettrack.sources.ctgov import make_client

    return guarded(lambda: make_client(settings, offline=offline, as_of=as_of), settings)


def show_trial(library: Library, identifier: str, settings: Settings, as_json: bool) -> bool:
    """``show NCT…``: print the trial and return True when the library holds it."""
    from kettrack.library import trial as registry
    from kettrack.render import trial as trial_format
    from kettrack.tools.show import parse_identifier

    ident = guarded(lambda: parse_identifier(identifier), settings)
    data = registry.trial_json(library, ident.value) if ident.kind == "nct" else None
    if data is None:
        return False
    if as_json:
        emit_json(data)
    else:
        out = display.Output.for_stdout()
        trial_format.print_trial(data, out.stream, rich=out.rich)
    return True


# writers' tools: search, check, show (record and --cite), export
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


def writer_filters(library: Library, settings: Settings, design: list[str] | None,
                   since: str | None, query: str | None) -> Any:
    """The --design/--since/--query slice, checked against the library."""
    from kettrack.tools.search import Filters, parse_since

    when = guarded(lambda: parse_since(since), settings)
    return guarded(lambda: Filters(tuple(design or ()), when, query).validate(library), settings)


def show_record(library: Library, identifier: str, settings: Settings) -> dict[str, Any]:
    """``show``'s article record, or the publications that name an NCT number."""
    from kettrack.tools.show import record_for

    return guarded(lambda: record_for(library, identifier), settings)


def show_citation(library: Library, identifier: str, style: str, settings: Settings,
                  as_json: bool) -> None:
    """``show ID --cite STYLE``: the citation(s) alone."""
    from kettrack.tools.cite import STYLES, cite

    if style not in STYLES:
        fail(ConfigError(f"--cite {style!r} is not a citation style; one of {', '.join(STYLES)}"))
    data = show_record(library, identifier, settings)
    records = data.get("publications") or [data]
    pmids = [r["pmid"] for r in records]
    citations = []
    for pmid in pmids:
        article = library.article(pmid)
        if article is not None:
            citations.append({"pmid": pmid, "style": style, "citation": cite(article, style)})
    if as_json:
        emit_json(citations if "publications" in data else citations[0])
        return
    for c in citations:
        writer_format.print_citation(c["citation"], sys.stdout)


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
    from kettrack.tools.search import search_results

    settings = make_settings(db)
    with open_library(settings) as library:
        filters = writer_filters(library, settings, design, since, query)
        hits = guarded(lambda: run_search(library, text, filters=filters, limit=limit, raw=raw),
                       settings)
        results = search_results(library, hits)
    if as_json:
        emit_json(results)
        return
    out = display.Output.for_stdout()
    writer_format.print_search(results, text, out.stream, rich=out.rich)


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
    """The evidence in the library on a claim: most relevant, then strongest design first.

    The claim is read with the field's vocabulary (alcoholism = alcohol use
    disorder = AUD; relapse = abstinence = heavy drinking days; Spravato =
    esketamine ...). A study counts as relevant when it matches at least half of
    the claim's concepts and at least a third of its specific ones (not just
    "ketamine", "alcohol" and "reduces"). Each is shown with its design, human or animal,
    sample size, year, journal, the sentences that bear on the claim, flags
    (retracted, erratum, expression of concern, animal only, n < 30, protocol
    without results) and a citation. Registered trials that bear on the claim
    rank one step below papers of the same relevance, and one still under way
    says it is not evidence yet. When nothing is relevant it says so (exit 0;
    --json prints [], or only the registered trials when just those match).
    """
    from kettrack.tools.check import check as run_check
    from kettrack.tools.check import online_query

    settings = make_settings(db)
    if offline and not online:
        fail(ConfigError("--offline goes with --online (it searches the bundled snapshot)"))
    with open_library(settings) as library:
        filters = writer_filters(library, settings, design, since, query)
        if online:
            saved = online_query(claim)
            if saved is not None:
                check_online(library, settings, saved, offline)
        result = guarded(lambda: run_check(library, claim, limit=limit, filters=filters),
                         settings)
    if as_json:
        emit_json(result.to_json())
        return
    out = display.Output.for_stdout()
    writer_format.print_check(result, out.stream, rich=out.rich)


def check_online(library: Library, settings: Settings, saved: SavedQuery, offline: bool) -> None:
    """Run ``check --online``'s PubMed search into the library through the normal pipeline."""
    from kettrack.run.runner import Runner

    with eutils_client(settings, offline, None) as client:
        runner = Runner(library, client, settings, offline=offline)
        report = guarded(lambda: runner.run([saved]), settings)
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
    (DESIGN.md's article keys) or atom (a feed of the newest articles, for a
    feed reader subscribed to a file a cron job refreshes with -o).
    """
    from kettrack.tools import export as exports

    settings = make_settings(db)
    with open_library(settings) as library:
        filters = writer_filters(library, settings, design, since, query)
        text = guarded(lambda: exports.export(library, fmt, filters, limit), settings)
    if output is None:
        typer.echo(text, nl=False)
    else:
        guarded(lambda: exports.write_atomic(output, text), settings)
