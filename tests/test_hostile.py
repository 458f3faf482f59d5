"""The hostile-record corpus through every output, each read back by an independent parser.

``tests/fixtures/hostile/`` is a hand-made PubMed snapshot and registry snapshot
whose records attack each output format in every field (spreadsheet formulas,
RIS tags after newlines, unbalanced BibTeX braces and an injected PMCID, a DOI
that closes a Markdown link and opens a script, rich markup, C1/ESC control
sequences, a PMID of ``../../x``; its README lists them). It is run once per
test process through ``kettrack run --offline`` (the real client, Bio.Entrez
parser, normaliser and store), then each test writes one format and reads it
back with the parser a user's tool would use: csv, rispy, bibtexparser and
pybtex, json, xml.etree and feedparser, markdown-it-py, html.parser, and a rich
console that believes it is a terminal. Each checks both halves of the claim:
nothing forged (as many records and fields as the library holds, no live link,
script or escape sequence) and nothing lost (each field reads back as stored).
"""

from __future__ import annotations

import atexit
import csv
import io
import json
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import asdict
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import bibtexparser
import feedparser
import pybtex.database
import pytest
import rispy
from markdown_it import MarkdownIt
from rich.console import Console
from typer.testing import CliRunner

from kettrack.cli import app
from kettrack.library.article import Article
from kettrack.library.identifiers import doi_url, pubmed_url, trial_url
from kettrack.library.items import ArticleItem, TrialItem
from kettrack.library.store import Library

from .conftest import FIXTURES

HOSTILE = FIXTURES / "hostile"
runner = CliRunner()
ATOM = "{http://www.w3.org/2005/Atom}"
#: C0 and C1 control characters, DEL, bidirectional overrides and isolates
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: the page ranges of the corpus written in full (PubMed abbreviates them)
FULL_PAGES = {"90000001": "573-589", "90000002": "176-184", "90000003": "1127-1129",
              "90000004": "e0123", "90000005": "1-10; discussion 11-12"}


@lru_cache(maxsize=1)
def _hostile_db() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="kettrack-hostile-"))
    atexit.register(shutil.rmtree, folder, True)
    db = folder / "hostile.db"
    env = {"KETTRACK_DB": str(db), "KETTRACK_QUERIES": str(HOSTILE / "queries"),
           "KETTRACK_SNAPSHOT_DIR": str(HOSTILE), "KETTRACK_BACKOFF": "0",
           "NCBI_API_KEY": None, "KETTRACK_EUTILS_URL": None, "KETTRACK_CTGOV_URL": None}
    result = runner.invoke(app, ["run", "--offline", "--json"], env=env,  # type: ignore[arg-type]
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["new_total"] == len(FULL_PAGES)
    return db


@pytest.fixture
def library(kettrack_env: Path) -> Iterator[Library]:
    target = kettrack_env / "library.db"
    shutil.copyfile(_hostile_db(), target)
    opened = Library.open(target)
    yield opened
    opened.close()


@pytest.fixture
def articles(library: Library) -> dict[str, Article]:
    items = library.article_slice(None)
    assert sorted(i.article.pmid for i in items) == sorted(FULL_PAGES)
    return {i.article.pmid: i.article for i in items}


@pytest.fixture
def trial(library: Library) -> TrialItem:
    (found,) = library.trial_items(["NCT99999901"])
    return found


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    # item 19: whatever the format, no control character reaches the reader
    assert not CONTROL.search(result.stdout.replace("\n", "")), repr(result.stdout[:300])
    return result.stdout


def strings(value: Any) -> Iterator[str]:
    """Every string inside a stored record."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings(v)


def test_the_corpus_is_hostile_and_normalised(articles: dict[str, Article],
                                              trial: TrialItem) -> None:
    # item 19: no control character survives normalisation, in any field of any record
    for record in [*(a.to_record() for a in articles.values()), asdict(trial.trial)]:
        for text in strings(record):
            assert not CONTROL.search(text), repr(text)
    # ... while the attacks themselves are kept as text (nothing lost)
    assert articles["90000004"].title.startswith('"><script>alert(1)</script> [link=')
    assert articles["90000004"].doi == '10.1000/x"><script>alert(5)</script>'
    assert articles["90000001"].title.startswith('=HYPERLINK("https://evil.example/x"')
    assert "} , note = {forged" in articles["90000003"].title
    assert "ER - TY - JOUR AU - Forged" in articles["90000002"].authors[0]
    assert trial.trial.title.startswith("Ketamine ]0;retitled [2J[31mred")
    # item 21: identifiers that are not identifiers never enter the library
    assert articles["90000003"].pmcid is None  # "PMC123}, note = {forged"
    assert articles["90000001"].pmcid == "PMC6879579"
    retraction = articles["90000004"].corrections[0]
    assert retraction.ref_type == "RetractionIn" and retraction.pmid is None  # "../../x"
    assert trial.trial.reference_pmids == ["90000001"]  # not "../../x", not "1 OR 1=1"
    assert articles["90000002"].doi is None  # a DOI with a newline and a forged tag


# -- csv -------------------------------------------------------------------------

FORMULA = ("=", "+", "-", "@", "\t", "\r")


def test_csv_is_inert_in_a_spreadsheet_and_loses_nothing(articles: dict[str, Article]) -> None:
    text = cli("export", "--format", "csv")
    assert text.startswith("\ufeff")  # Excel reads UTF-8 only after a byte order mark
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    header, body = rows[0], rows[1:]
    assert len(body) == len(articles) and all(len(r) == len(header) for r in body)
    for row in body:
        for cell in row:
            assert not cell.startswith(FORMULA), cell  # OWASP: nothing a formula
    read = [{k: (v[1:] if v.startswith("'") else v) for k, v in zip(header, row, strict=True)}
            for row in body]
    for row in read:
        a = articles[row["pmid"]]
        assert row["title"] == a.title and row["journal"] == (a.journal or "")
        assert row["authors"] == "; ".join(a.authors)
        assert row["mesh"] == "; ".join(m.descriptor for m in a.mesh)
        assert row["keywords"] == "; ".join(a.keywords)
        assert row["abstract"] == a.abstract and row["doi"] == (a.doi or "")
    assert "Müller-Ötzi K" in read[0]["authors"] or any("Müller" in r["authors"] for r in read)
    plain = cli("export", "--format", "csv", "--no-bom")
    assert plain == text.removeprefix("\ufeff")


# -- ris -------------------------------------------------------------------------


def _squash(name: str) -> str:
    return re.sub(r"[,.\s]", "", name)


def test_ris_forges_no_record(articles: dict[str, Article]) -> None:
    text = cli("export", "--format", "ris")
    lines = [line for line in text.splitlines() if line]
    assert all(re.match(r"^[A-Z][A-Z0-9]  - ", line) for line in lines), lines
    assert sum(line.startswith("TY  - ") for line in lines) == len(articles)
    assert sum(line.startswith("ER  - ") for line in lines) == len(articles)
    entries = rispy.loads(text)
    assert len(entries) == len(articles)
    for entry in entries:
        a = articles[entry["accession_number"]]
        assert entry["title"] == a.title
        assert [_squash(x) for x in entry["authors"]] == [_squash(x) for x in a.authors]
        assert entry["keywords"] == [*a.keywords, *(m.descriptor for m in a.mesh)]
        assert entry["abstract"] == " ".join(a.abstract.split())
        assert entry["journal_name"] == a.journal and entry.get("doi") == a.doi
        assert entry.get("alternate_title2") == a.journal_iso
        assert (entry.get("volume"), entry.get("number")) == (a.volume, a.issue)
        pages = FULL_PAGES[a.pmid]
        if "-" in pages and ";" not in pages:
            assert f"{entry['start_page']}-{entry['end_page']}" == pages


# -- bibtex ----------------------------------------------------------------------

_TEX = {r"\textbackslash{}": "\\", r"\textbraceleft{}": "{", r"\textbraceright{}": "}",
        r"\%": "%", r"\&": "&", r"\$": "$", r"\#": "#", r"\_": "_", r"\^{}": "^", r"\~{}": "~"}
_TEX_RE = re.compile("|".join(re.escape(k) for k in sorted(_TEX, key=len, reverse=True)))


def untex(value: str) -> str:
    """The text a TeX-escaped BibTeX value stands for (docs/export.md's table, reversed)."""
    return _TEX_RE.sub(lambda m: _TEX[m.group()], value)


def test_bibtex_reads_back_whole_with_bibtexparser_and_pybtex(
        articles: dict[str, Article]) -> None:
    text = cli("export", "--format", "bibtex")
    parsed = bibtexparser.parse_string(text)
    assert not parsed.failed_blocks and len(parsed.entries) == len(articles)
    strict = pybtex.database.parse_string(text, "bibtex")
    assert len(strict.entries) == len(articles)
    allowed = {"author", "title", "journal", "year", "volume", "number", "pages", "doi", "pmid",
               "pmcid", "url", "keywords", "note"}
    for entry in parsed.entries:
        fields = {k: f.value for k, f in entry.fields_dict.items()}
        assert set(fields) <= allowed, set(fields) - allowed  # no injected NOTE, no "x"
        a = articles[fields["pmid"]]
        other = strict.entries[entry.key]
        # pybtex lower-cases field names and splits persons; same fields, same people
        assert {k.lower() for k in other.fields} | ({"author"} if other.persons else set()) == (
            set(fields))
        assert len(other.persons["author"]) == len(a.authors)
        assert untex(fields["title"]) == "{" + a.title + "}"
        assert untex(fields["journal"]) == a.journal
        assert untex(fields.get("volume", "")) == (a.volume or "")
        assert untex(fields.get("number", "")) == (a.issue or "")
        assert fields["pages"] == FULL_PAGES[a.pmid].replace("-", "--")
        assert fields.get("doi") == a.doi  # verbatim: "thp3404_7", not "thp3404\_7"
        assert fields.get("pmcid") == a.pmcid and fields["url"] == a.url
        assert untex(fields.get("keywords", "")) == ", ".join(a.keywords)


# -- json ------------------------------------------------------------------------


def test_json_is_the_library(articles: dict[str, Article]) -> None:
    data = json.loads(cli("export", "--format", "json"))
    assert len(data) == len(articles)
    for row in data:
        a = articles[row["pmid"]]
        assert (row["title"], row["authors"], row["doi"], row["pmcid"], row["journal"]) == (
            a.title, a.authors, a.doi, a.pmcid, a.journal)
        assert row["abstract"] == a.abstract and row["keywords"] == a.keywords


def test_json_digest_show_and_search_are_the_library(articles: dict[str, Article],
                                                     trial: TrialItem) -> None:
    digest = json.loads(cli("digest", "--peek", "--format", "json"))
    listed = [x for section in digest["sections"].values() for x in section]
    titles = {x["id"]: x["title"] for x in listed}
    assert titles == {**{p: a.title for p, a in articles.items()}, trial.id: trial.title}
    for pmid, a in articles.items():
        shown = json.loads(cli("show", pmid, "--json"))
        assert (shown["title"], shown["authors"], shown["doi"]) == (a.title, a.authors, a.doi)
    assert json.loads(cli("show", trial.id, "--json"))["title"] == trial.title
    found = {x["id"] for x in json.loads(cli("search", "ketamine", "--json"))}
    assert set(articles) <= found


# -- atom ------------------------------------------------------------------------


def test_atom_reads_back_with_etree_and_feedparser(articles: dict[str, Article]) -> None:
    text = cli("export", "--format", "atom")
    root = ET.fromstring(text.encode())
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == len(articles)
    feed = feedparser.parse(text)
    assert not feed.bozo and len(feed.entries) == len(articles)
    for entry, parsed in zip(entries, feed.entries, strict=True):
        a = articles[entry.findtext(f"{ATOM}id", "").rsplit(":", 1)[1]]
        title = entry.findtext(f"{ATOM}title", "")
        assert title.endswith(a.title) and parsed.title.endswith(a.title)
        link = entry.find(f"{ATOM}link")
        assert link is not None and link.get("href") == a.url == parsed.link
        assert [x.findtext(f"{ATOM}name") for x in entry.findall(f"{ATOM}author")] == a.authors
        assert (entry.findtext(f"{ATOM}summary") or "").endswith(a.abstract)


# -- markdown and html digests ---------------------------------------------------


class Page(HTMLParser):
    """The tags, link targets and text of an HTML page, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.hrefs: list[str] = []
        self.attrs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs += [name for name, _ in attrs]
        self.hrefs += [v or "" for name, v in attrs if name == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def plain(self) -> str:
        return " ".join(" ".join(self.text).split())


def page_of(html_text: str) -> Page:
    page = Page()
    page.feed(html_text)
    page.close()
    return page


def expected_links(articles: dict[str, Article], trial: TrialItem) -> set[str]:
    links = {trial_url(trial.id)}
    for a in articles.values():
        links |= {u for u in (pubmed_url(a.pmid), doi_url(a.doi)) if u}
    return {unquote(u) for u in links}


def _assert_inert(page: Page, allowed_tags: set[str], articles: dict[str, Article],
                  trial: TrialItem) -> None:
    assert page.tags <= allowed_tags, page.tags - allowed_tags  # no script, img, iframe
    assert not {a for a in page.attrs if a.startswith("on")}  # no onerror=
    assert {unquote(h) for h in page.hrefs} == expected_links(articles, trial)
    for a in articles.values():
        assert " ".join(a.title.split()) in page.plain  # nothing lost
    assert trial.trial.title in page.plain


def test_markdown_digest_renders_inert_in_commonmark(articles: dict[str, Article],
                                                     trial: TrialItem) -> None:
    text = cli("digest", "--peek", "--format", "markdown")
    rendered = MarkdownIt("commonmark").render(text)
    page = page_of(rendered)
    _assert_inert(page, {"h1", "h2", "h3", "p", "ul", "li", "a", "em", "strong", "blockquote"},
                  articles, trial)
    sici = doi_url(articles["90000005"].doi)
    assert sici and unquote(sici) in {unquote(h) for h in page.hrefs}  # the <...> DOI links
    for a in articles.values():  # each DOI is shown as it is, in its link's label
        assert not a.doi or f"DOI {a.doi}" in page.plain


def test_html_digest_is_inert(articles: dict[str, Article], trial: TrialItem) -> None:
    page = page_of(cli("digest", "--peek", "--format", "html"))
    _assert_inert(page, {"html", "head", "meta", "title", "body", "div", "h1", "h2", "p", "span",
                         "a"}, articles, trial)


# -- text and the terminal -------------------------------------------------------

#: what rich itself may write to a terminal: SGR colour codes and OSC 8 hyperlinks
_SGR = re.compile(r"\x1b\[[0-9;]*m")
_OSC8 = re.compile(r"\x1b\]8;[^;\x1b\x07]*;([^\x1b\x07]*)\x1b\\")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _terminal_text(out: str, links: set[str]) -> str:
    """``out`` less rich's own codes; every hyperlink one of ``links``."""
    targets = {unquote(u) for u in _OSC8.findall(out) if u}
    assert targets <= links, targets - links
    plain = _SGR.sub("", _OSC8.sub("", out))
    assert not CONTROL.search(plain.replace("\n", "")), repr(plain)
    return plain


def test_text_outputs_carry_no_control_characters(articles: dict[str, Article],
                                                  trial: TrialItem) -> None:
    outputs = [cli("digest", "--peek", "--format", "text"),
               cli("digest", "--peek", "--format", "rich"),
               cli("search", "ketamine"), cli("check", "ketamine reduces drinking"),
               *(cli("show", pmid) for pmid in articles), cli("show", trial.id),
               *(cli("show", pmid, "--cite", style) for pmid in articles
                 for style in ("vancouver", "apa", "ama"))]
    for out in outputs:
        assert not CONTROL.search(out.replace("\n", "")), repr(out)
    assert "Ketamine ]0;retitled" in outputs[0]


def test_the_terminal_sees_no_markup_and_no_foreign_escape(
        library: Library, articles: dict[str, Article], trial: TrialItem) -> None:
    from kettrack.digest.collect import collect
    from kettrack.queries import load_queries
    from kettrack.render.console import Output
    from kettrack.render.digest import print_rich
    from kettrack.render.records import print_found

    links = expected_links(articles, trial)
    screen = Terminal()
    print_rich(collect(library), Console(file=screen, force_terminal=True, width=100,
                                         color_system="truecolor"))
    for item in [*library.article_slice(None), trial]:
        assert isinstance(item, (ArticleItem, TrialItem))
        print_found(item, screen, rich=True)
    out = screen.getvalue()
    assert _SGR.search(out) and _OSC8.search(out)  # it did write to a terminal
    plain = _terminal_text(out, links)
    # rich markup in a record is shown, never obeyed
    assert "[link=https://evil.example]click[/link] [tiab] [mh]" in " ".join(plain.split())
    assert "[bold]Red[/bold]" in plain and "[red]markup[/red]" in plain

    queries = Terminal()
    Output(queries, rich=True).queries_list(load_queries(HOSTILE / "queries"))
    # the table wraps its cells: compare without spaces and box-drawing characters
    shown = re.sub(r"[\s\u2500-\u257f]", "", _terminal_text(queries.getvalue(), set()))
    assert "term='ketamine[tiab]'" not in shown and "ketamine[tiab]" in shown
    assert "[link=https://evil.example]x[/link]" in shown


# -- identifiers and words from a server (items 19 and 21, where they enter) ------

_ESEARCH = (b'<?xml version="1.0" ?>\n<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628'
            b'//EN" "https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
            b"<eSearchResult><Count>2</Count><RetMax>2</RetMax><RetStart>0</RetStart><IdList>"
            b"<Id>31772157</Id><Id>%s</Id></IdList><TranslationSet/><QueryTranslation>x"
            b"</QueryTranslation></eSearchResult>")


@pytest.mark.parametrize("bad", [b"../../x", b"0123", b"1 OR 1=1", b"12345678901234"])
def test_an_esearch_id_that_is_not_a_pmid_never_enters(bad: bytes) -> None:
    import httpx

    from kettrack.errors import ServiceError
    from kettrack.settings import Settings
    from kettrack.sources.eutils import EutilsClient

    client = EutilsClient(Settings(backoff_base=0, max_retries=0, rate_limit=1000),
                          transport=httpx.MockTransport(
                              lambda r: httpx.Response(200, content=_ESEARCH % bad)),
                          sleep=lambda s: None)
    with pytest.raises(ServiceError, match="not a PMID"):
        client.esearch("ketamine")


def test_an_efetch_record_whose_pmid_is_not_a_pmid_is_refused() -> None:
    from kettrack.errors import ServiceError
    from kettrack.sources.pubmed import parse_efetch

    xml = (HOSTILE / "pubmed" / "snapshot.xml").read_bytes()
    forged = xml.replace(b">90000001<", b">../../x<", 1)
    with pytest.raises(ServiceError, match=r"not a PMID: '\.\./\.\./x'"):
        list(parse_efetch(forged))
    assert len(list(parse_efetch(xml))) == len(FULL_PAGES)


def test_a_registry_error_message_reaches_the_terminal_without_escapes() -> None:
    import httpx

    from kettrack.errors import ServiceError
    from kettrack.settings import Settings
    from kettrack.sources.ctgov import CtgovClient, RegistrySearch

    body = "boom \x1b]0;retitled\x07\x1b[2J\r\nover"
    client = CtgovClient(Settings(ctgov_url="https://ctgov.test/api/v2/", max_retries=0,
                                  backoff_base=0), rate=0,
                         transport=httpx.MockTransport(
                             lambda r: httpx.Response(403, content=body.encode())))
    with pytest.raises(ServiceError) as failure:
        client.search_page(RegistrySearch(cond="x"))
    assert not CONTROL.search(str(failure.value)) and "retitled" in str(failure.value)


def test_an_error_line_carries_no_control_characters(kettrack_env: Path) -> None:
    # a library path is the user's, but the same line prints a server's words
    bad = kettrack_env / "lib\x1b]0;retitled\x07.db"
    bad.write_text("not a database")
    result = runner.invoke(app, ["stats", "--db", str(bad)])
    assert result.exit_code in (1, 2) and result.stderr.startswith("Error: ")
    assert not CONTROL.search(result.stderr.rstrip("\n")), repr(result.stderr)
