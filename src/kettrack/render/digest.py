"""How a digest looks: rich (terminal), text (cron mail), markdown, html (e-mail), json.

A display module: it may import rich, and it only turns a
:class:`~kettrack.digest.collect.Digest` into text. Every piece of record text is
treated as untrusted: HTML escapes it, Markdown backslash-escapes it, rich
appends it as plain :class:`rich.text.Text` (never as markup). A retracted
record is flagged the same loud way in each format, before its title.
"""

from __future__ import annotations

import html
import io
import re
import textwrap
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.rule import Rule
from rich.style import Style
from rich.text import Text

from kettrack.digest.collect import Digest, DigestEntry, headline, screening_lines
from kettrack.library.article import conclusion_of
from kettrack.library.identifiers import doi_url, pubmed_url, trial_url
from kettrack.library.items import FLAG_WORDS, ArticleItem, Item, TrialItem
from kettrack.library.trial import status_words
from kettrack.render.json import (
    BADGES,
    badge_of,
    digest_json,
    dumps,
    first_authors,
    size_words,
)
from kettrack.render.records import phases_words
from kettrack.text import one_line, strip_control

FORMATS = ("rich", "text", "markdown", "html", "json")
SECTION_TITLES = {"trials": "Trials", "studies": "Studies", "reviews": "Reviews",
                  "updates": "Updates to records reported earlier"}
RETRACTED = "RETRACTED"
_WIDTH = 78


def _since_line(digest: Digest) -> str:
    if digest.since:
        return f"New since {digest.since}"
    return "Everything in the library (first digest)"


def citing_lines(digest: Digest) -> list[str]:
    """"3 new papers cite Grabski 2022", one line per watched paper."""
    return [f"{len(entries)} new paper{'s cite' if len(entries) != 1 else ' cites'} "
            f"{watch.label} (watch {watch.name})"
            for watch, entries in digest.citing_watched()]


def render(digest: Digest, fmt: str) -> str:
    """``digest`` in ``fmt`` as one string (rich comes out as plain text)."""
    if fmt == "json":
        return render_json(digest)
    if fmt == "html":
        return render_html(digest)
    if fmt == "markdown":
        return render_markdown(digest)
    if fmt == "rich":
        buffer = io.StringIO()
        print_rich(digest, Console(file=buffer, width=100, color_system=None,
                                   force_terminal=False, highlight=False))
        return buffer.getvalue()
    return render_text(digest)


def render_json(digest: Digest) -> str:
    """The ``digest`` shape of docs/json.md, indented."""
    return dumps(digest_json(digest)) + "\n"


# ----------------------------------------------------------------------------- facts


def badge(item: Item) -> str:
    """The design as a badge shows it; a preprint says it is not peer reviewed."""
    if isinstance(item, ArticleItem):
        return badge_of(item.article)
    return BADGES.get(item.design, item.design)


def stop_word(entry: DigestEntry) -> str:
    """The banner over a work not to be cited: RETRACTED, or WITHDRAWN for a preprint."""
    item = entry.item
    withdrawn = (isinstance(item, ArticleItem) and item.article.withdrawn) or any(
        e.kind == "withdrawn" for e in entry.news)
    return "WITHDRAWN PREPRINT" if withdrawn else RETRACTED


def _facts(item: Item) -> list[str]:
    """Species, sample size and trial facts: what the reader weighs evidence by."""
    if isinstance(item, TrialItem):
        t = item.trial
        facts = [status_words(t.overall_status)]
        if t.enrollment:
            facts.append(f"n={t.enrollment}")
        if t.sponsor:
            facts.append(f"sponsor: {t.sponsor}")
        if t.phases:
            facts.append(phases_words(t.phases))
        if t.has_results:
            facts.append("results posted")
        return facts
    a = item.article
    facts = [a.species or "species not stated",
             size_words(a) or "n not stated"]
    facts += [FLAG_WORDS[f] for f in item.flags if f in ("erratum", "expression-of-concern")]
    return facts


def _links(item: Item) -> list[tuple[str, str]]:
    if isinstance(item, TrialItem):
        return [(item.id, item.url)]
    a = item.article
    links: list[tuple[str, str]] = []
    page = pubmed_url(a.pmid)
    if page:
        links.append((f"PubMed {a.pmid}", page))
    if a.doi:
        links.append((f"DOI {a.doi}", doi_url(a.doi) or ""))
    links += [(nct, trial_url(nct)) for nct in a.nct_ids]
    return links


def _byline(item: Item) -> str:
    if isinstance(item, TrialItem):
        t = item.trial
        dates = " to ".join(d for d in (t.start_date, t.completion_date) if d)
        return " | ".join(x for x in (", ".join(t.conditions), dates) if x)
    a = item.article
    return " | ".join(x for x in (first_authors(a.authors), a.journal or "",
                                  str(a.pub_date or a.year or "")) if x)


def _conclusion(item: Item) -> str:
    return conclusion_of(item.article) if isinstance(item, ArticleItem) else ""


def _updates(entry: DigestEntry) -> list[str]:
    return [e.summary for e in entry.news]


# ----------------------------------------------------------------------------- text


def _wrap(text: str, indent: str = "  ") -> list[str]:
    return textwrap.wrap(text, width=_WIDTH, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False) or [indent]


def _text_item(entry: DigestEntry) -> Iterator[str]:
    item = entry.item
    if entry.retracted:
        yield (f"*** {stop_word(entry)} *** Do not cite this article without its "
               "retraction notice.")
    yield from _wrap(f"[{badge(item)}] {item.title or '(no title)'}", indent="")
    byline = _byline(item)
    if byline:
        yield from _wrap(byline)
    yield from _wrap(" · ".join(_facts(item)))
    if item.queries:
        yield from _wrap("found by: " + ", ".join(item.queries))
    for update in _updates(entry):
        yield from _wrap(f"update: {update}")
    conclusion = _conclusion(item)
    if conclusion:
        yield from _wrap(f"Conclusion: {conclusion}")
    for label, url in _links(item):
        yield f"  {label}: {url}"


def render_text(digest: Digest) -> str:
    """Plain text for a terminal-less reader or a cron mail: no colour, 78 columns."""
    lines = [f"kettrack digest: {headline(digest)}", _since_line(digest)]
    lines += citing_lines(digest)
    lines += screening_lines(digest)
    if digest.is_empty:
        lines += ["", "Nothing new."]
    for name, items in digest.sections.items():
        if not items:
            continue
        title = f"{SECTION_TITLES[name].upper()} ({len(items)})"
        lines += ["", title, "=" * len(title)]
        for item in items:
            lines.append("")
            lines.extend(_text_item(item))
    # normalisation strips control characters; a library stored before it may hold some
    return "\n".join(strip_control(line) for line in lines) + "\n"


# ----------------------------------------------------------------------------- markdown

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")
#: characters left as they are in a link target (the rest is percent-encoded;
#: an existing %XX escape stays as it is)
_URL_SAFE = "/:?#=;,.-_~%@!$*+()"


def md(text: Any) -> str:
    """Record text made inert in Markdown (CommonMark backslash escapes, one line,
    control characters out)."""
    return _MD_SPECIAL.sub(r"\\\1", one_line(text))


def md_link(label: str, url: str) -> str:
    """``[label](<url>)`` that no record can break out of: the label escaped, the
    target percent-encoded wherever CommonMark or HTML would read it as syntax
    (``<``, ``>``, quotes, spaces, backslashes, brackets), so a DOI holding
    ``"><script>`` or a SICI ``<...>`` stays one inert link."""
    target = quote(one_line(url), safe=_URL_SAFE)
    return f"[{md(label)}](<{target}>)"


def render_markdown(digest: Digest) -> str:
    """GitHub-flavoured Markdown: a heading per section, a subheading per item."""
    out = [f"# kettrack digest: {headline(digest)}", "", f"_{md(_since_line(digest))}_"]
    cites = citing_lines(digest)
    if cites:
        out += ["", *(f"- {md(line)}" for line in cites)]
    out += [f"\n**{md(line)}**" for line in screening_lines(digest)]
    if digest.is_empty:
        out += ["", "Nothing new."]
    for name, items in digest.sections.items():
        if not items:
            continue
        out += ["", f"## {SECTION_TITLES[name]} ({len(items)})"]
        for entry in items:
            item = entry.item
            out.append("")
            if entry.retracted:
                out += [f"> **⚠ {stop_word(entry)}**: do not cite without its retraction "
                        "notice.", ""]
            out.append(f"### [{md(badge(item))}] {md(item.title or '(no title)')}")
            out.append("")
            byline = _byline(item)
            if byline:
                out.append(f"- {md(byline)}")
            out.append(f"- {md(' · '.join(_facts(item)))}")
            if item.queries:
                out.append(f"- found by: {md(', '.join(item.queries))}")
            for update in _updates(entry):
                out.append(f"- **update:** {md(update)}")
            conclusion = _conclusion(item)
            if conclusion:
                out.append(f"- conclusion: {md(conclusion)}")
            links = _links(item)
            if links:
                out.append("- " + " · ".join(md_link(label, url) for label, url in links))
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- html

_STYLE = {
    "body": "margin:0;padding:16px;background:#ffffff;color:#1a1a1a;"
            "font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:1.45;",
    "h1": "font-size:20px;margin:0 0 4px 0;",
    "since": "color:#555555;margin:0 0 16px 0;",
    "h2": "font-size:17px;margin:24px 0 8px 0;padding-bottom:4px;border-bottom:2px solid #dddddd;",
    "item": "margin:0 0 14px 0;padding:8px 10px;border-left:4px solid #4a7ab5;",
    "item_retracted": "margin:0 0 14px 0;padding:8px 10px;border-left:4px solid #b00020;"
                      "background:#fdecee;",
    "retracted": "display:inline-block;margin:0 0 4px 0;padding:2px 6px;background:#b00020;"
                 "color:#ffffff;font-weight:bold;font-size:13px;",
    "badge": "display:inline-block;padding:1px 6px;margin-right:6px;background:#e8eef7;"
             "color:#1f3f6e;font-size:12px;font-weight:bold;border-radius:3px;",
    "title": "font-weight:bold;font-size:15px;",
    "meta": "color:#444444;margin:2px 0;",
    "update": "color:#8a4b00;margin:2px 0;font-weight:bold;",
    "conclusion": "margin:4px 0;font-style:italic;",
    "links": "margin:4px 0;",
    "a": "color:#1f5fbf;",
}


def _e(text: Any) -> str:
    return html.escape(strip_control(str(text), keep_newlines=True), quote=True)


def _html_item(entry: DigestEntry) -> list[str]:
    item = entry.item
    style = _STYLE["item_retracted"] if entry.retracted else _STYLE["item"]
    out = [f'<div style="{style}">']
    if entry.retracted:
        out.append(f'<div style="{_STYLE["retracted"]}">&#9888; {stop_word(entry)}: do not cite '
                   "without its retraction notice</div>")
    out.append(f'<div><span style="{_STYLE["badge"]}">{_e(badge(item))}</span>'
               f'<span style="{_STYLE["title"]}">{_e(item.title or "(no title)")}'
               "</span></div>")
    byline = _byline(item)
    if byline:
        out.append(f'<div style="{_STYLE["meta"]}">{_e(byline)}</div>')
    out.append(f'<div style="{_STYLE["meta"]}">{_e(" · ".join(_facts(item)))}</div>')
    if item.queries:
        out.append(f'<div style="{_STYLE["meta"]}">found by: {_e(", ".join(item.queries))}'
                   "</div>")
    for update in _updates(entry):
        out.append(f'<div style="{_STYLE["update"]}">update: {_e(update)}</div>')
    conclusion = _conclusion(item)
    if conclusion:
        out.append(f'<div style="{_STYLE["conclusion"]}">{_e(conclusion)}</div>')
    links = _links(item)
    if links:
        anchors = " &middot; ".join(
            f'<a style="{_STYLE["a"]}" href="{_e(url)}">{_e(label)}</a>' for label, url in links)
        out.append(f'<div style="{_STYLE["links"]}">{anchors}</div>')
    out.append("</div>")
    return out


def render_html(digest: Digest) -> str:
    """One self-contained, e-mail-safe page: inline CSS only, no scripts, no
    external resources; every piece of record text escaped."""
    title = f"kettrack digest: {headline(digest)}"
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_e(title)}</title>", "</head>", f'<body style="{_STYLE["body"]}">',
           '<div style="max-width:760px;margin:0 auto;">',
           f'<h1 style="{_STYLE["h1"]}">{_e(title)}</h1>',
           f'<p style="{_STYLE["since"]}">{_e(_since_line(digest))}</p>']
    out += [f'<p style="{_STYLE["meta"]}">{_e(line)}</p>' for line in citing_lines(digest)]
    out += [f'<p style="{_STYLE["update"]}">{_e(line)}</p>' for line in screening_lines(digest)]
    if digest.is_empty:
        out.append("<p>Nothing new.</p>")
    for name, items in digest.sections.items():
        if not items:
            continue
        out.append(f'<h2 style="{_STYLE["h2"]}">{_e(SECTION_TITLES[name])} ({len(items)})</h2>')
        for item in items:
            out.extend(_html_item(item))
    out += ["</div>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- rich


def _rich_item(entry: DigestEntry) -> RenderableType:
    item = entry.item
    head = Text()
    if entry.retracted:
        head.append(f" {stop_word(entry)} ", style="bold white on red")
        head.append(" do not cite without its retraction notice\n", style="bold red")
    head.append(f"[{badge(item)}] ", style="bold cyan")
    head.append(item.title or "(no title)", style="bold")
    lines: list[Text] = []
    byline = _byline(item)
    if byline:
        lines.append(Text(byline, style="dim"))
    lines.append(Text(" · ".join(_facts(item))))
    if item.queries:
        lines.append(Text("found by: " + ", ".join(item.queries), style="dim"))
    lines += [Text("update: " + update, style="yellow") for update in _updates(entry)]
    conclusion = _conclusion(item)
    if conclusion:
        lines.append(Text(conclusion, style="italic"))
    for label, url in _links(item):
        link = Text()
        link.append(label, style=Style(link=url))  # a Style, never parsed from text
        link.append(f" {url}", style="blue")
        lines.append(link)
    return Group(head, Padding(Group(*lines), (0, 0, 0, 2)))


def print_rich(digest: Digest, console: Console) -> None:
    """The digest on a terminal: a rule per section, one block per item."""
    console.print(Text(f"kettrack digest: {headline(digest)}", style="bold"))
    console.print(Text(_since_line(digest), style="dim"))
    for line in citing_lines(digest):
        console.print(Text(line, style="bold"))
    for line in screening_lines(digest):
        console.print(Text(line, style="bold yellow"))
    if digest.is_empty:
        console.print("Nothing new.")
    for name, items in digest.sections.items():
        if not items:
            continue
        console.print(Rule(f"{SECTION_TITLES[name]} ({len(items)})", align="left"))
        console.print(Group(*[Group(_rich_item(item), Text("")) for item in items]))
