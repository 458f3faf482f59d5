"""``kettrack export``: the library, or a slice of it, for other tools.

Formats (docs/export.md says what each reader gets)
    ``ris``     reference managers (Zotero, EndNote, Mendeley); written with rispy;
                every value one line, so no field can start a tag or a record
    ``bibtex``  LaTeX / BibTeX / biber; unique ASCII keys (``grabski2022adjunctive``,
                then ``...a``, ``...b`` on a clash); values brace-delimited, TeX
                specials escaped with commands whose braces balance (``{`` is
                ``\\textbraceleft{}``: BibTeX counts braces whatever precedes them),
                titles double-braced so their case survives; ``doi`` and ``url``
                verbatim (biblatex reads them so: ``\\_`` would break the link);
                page ranges in full (``176--184``)
    ``csv``     one row per article (RFC 4180 quoting via the csv module); list
                columns joined with ``"; "``; a UTF-8 byte order mark first unless
                ``bom=False`` (Excel reads UTF-8 only so); a cell that starts with
                ``= + - @``, tab, CR or ``'`` gets one ``'`` in front (OWASP's
                defence against formula injection)
    ``json``    a list of articles, each the article shape of docs/json.md
    ``atom``    an Atom 1.0 feed (RFC 4287) of the newest items, newest first, for
                a feed reader pointed at a file a cron job refreshes; entry ids
                are stable, and the feed's ``updated`` is its newest entry's, so
                a refresh that adds nothing changes nothing

The slice is chosen with :class:`kettrack.tools.search.Filters` (``--query``,
``--since``, ``--design``), or, with ``--review NAME``, it is the articles with
a current screening decision in that review (``--decision``: include by
default); each then carries its decision, reason, note, reviewer and time as
fields (CSV columns, a JSON ``screening`` object, RIS notes, BibTeX fields,
an Atom category). :func:`write_atomic` writes ``-o FILE`` whole or not at all.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rispy.writer import RisWriter

from kettrack.errors import ConfigError, Failure
from kettrack.library.article import Article
from kettrack.library.filters import Filters
from kettrack.library.identifiers import is_reserved_pmid, pmid_label, public_pmid
from kettrack.library.items import FLAG_WORDS, ArticleItem, article_flags
from kettrack.library.store import Library
from kettrack.render.json import design_label
from kettrack.review.model import Decision
from kettrack.text import strip_control
from kettrack.tools.cite import full_pages

Item = ArticleItem
#: what a review export adds to each record: the review and its current decision on it
Screened = dict[str, tuple[str, Decision]]
SCREENING_COLUMNS = ("review", "decision", "reason", "note", "reviewer", "decided_at")

FORMATS = ("ris", "bibtex", "csv", "json", "atom")
#: how many of the newest articles an Atom feed carries unless --limit says otherwise
ATOM_LIMIT = 100
ATOM_NS = "http://www.w3.org/2005/Atom"


def _one_line(text: str | None) -> str:
    return " ".join(strip_control(text or "").split())


def _pages(pages: str | None) -> tuple[str | None, str | None]:
    pages = full_pages(_one_line(pages))
    if not pages:
        return None, None
    start, _, end = pages.partition("-")
    return start.strip() or None, end.strip() or None


def _person(author: str) -> str:
    """"Morgan CJA" -> "Morgan, C. J. A."; a collective name stays as it is."""
    m = re.match(r"^(.+?)\s+([A-Z]{1,4})$", author.strip())
    if not m:
        return author
    return f"{m.group(1)}, {' '.join(c + '.' for c in m.group(2))}"


#: the flags an exported record carries in its notes: what its source published about it
_NOTICE_FLAGS = ("retracted", "withdrawn", "preprint", "erratum", "expression-of-concern")


def _flags(article: Article) -> list[str]:
    """The article's notices, worded as everywhere else (:data:`FLAG_WORDS`)."""
    return [FLAG_WORDS[f] for f in article_flags(article) if f in _NOTICE_FLAGS]


# -- RIS -----------------------------------------------------------------------


class _Ris(RisWriter):
    """rispy's writer without its "1." reference counter lines."""

    def set_header(self, count: int) -> str:
        return ""


def _ris_value(value: Any) -> Any:
    """Every RIS value on one line: a newline in an author or a MeSH heading would
    start a forged tag (``ER  -`` then ``TY  -``: a record that is not the source's)."""
    if isinstance(value, list):
        return [v for v in (_one_line(x) for x in value) if v]
    return _one_line(value) if isinstance(value, str) else value


def _screening_words(screened: Screened | None, pmid: str) -> list[str]:
    if not screened or pmid not in screened:
        return []
    review, d = screened[pmid]
    words = f"review {review}: {d.decision}" + (f" ({d.reason})" if d.reason else "")
    words += f" by {d.reviewer} at {d.decided_at}"
    return [words] + ([f"screening note: {d.note}"] if d.note else [])


def to_ris(items: Sequence[Item], screened: Screened | None = None) -> str:
    """RIS (one ``TY - JOUR`` ... ``ER -`` block per article)."""
    entries = []
    for item in items:
        a = item.article
        start, end = _pages(a.pages)
        entry: dict[str, Any] = {
            "type_of_reference": "BOOK" if a.is_book else "JOUR",
            "title": a.title,
            "authors": [_person(_one_line(x)) for x in a.authors],
            "year": str(a.year) if a.year else None,
            "journal_name": a.journal,
            "alternate_title2": a.journal_iso,
            "volume": a.volume,
            "number": a.issue,
            "start_page": start,
            "end_page": end,
            "doi": a.doi,
            # a snapshot-only identifier is no PubMed accession number
            "accession_number": None if is_reserved_pmid(a.pmid) else a.pmid,
            "urls": [a.url] if a.url else [],
            "abstract": a.abstract,
            "keywords": [*a.keywords, *(m.descriptor for m in a.mesh)],
            "notes": [f"design: {design_label(a)}", *_flags(a)]
            + ([f"trials: {', '.join(a.nct_ids)}"] if a.nct_ids else [])
            + _screening_words(screened, a.pmid),
            "name_of_database": "PubMed",
        }
        clean = {k: _ris_value(v) for k, v in entry.items()}
        entries.append({k: v for k, v in clean.items() if v not in (None, "", [])})
    return _Ris().formats(entries)


# -- BibTeX --------------------------------------------------------------------

# Braces become commands whose own braces balance: BibTeX counts every { and },
# backslash or not, so "\}" would close the field early (pybtex then drops fields).
_TEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\textbraceleft{}",
                "}": r"\textbraceright{}", "%": r"\%", "&": r"\&", "$": r"\$", "#": r"\#",
                "_": r"\_", "^": r"\^{}", "~": r"\~{}"}


def _tex(text: str | None) -> str:
    return "".join(_TEX_SPECIAL.get(c, c) for c in _one_line(text))


def _verbatim(text: str | None) -> str:
    """A ``doi`` or ``url`` value: verbatim, as biblatex and JabRef read these fields
    (an escaped ``\\_`` breaks the link); only what would unbalance the entry's braces
    is percent-encoded."""
    return "".join({"{": "%7B", "}": "%7D", "\\": "%5C"}.get(c, c) for c in _one_line(text))


def _brace_unsafe(name: str) -> str:
    """A name part that BibTeX would split ("X and Y", "Smith, Jr") kept whole."""
    if re.search(r"\band\b", name, re.IGNORECASE) or "," in name:
        return "{" + name + "}"
    return name


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


_KEY_STOPWORDS = {"a", "an", "the", "of", "on", "in", "for", "and", "to", "with", "is", "are"}


def bibtex_key(article: Article) -> str:
    """``firstauthorYEARfirstword`` in ASCII (``grabski2022adjunctive``)."""
    first = article.authors[0] if article.authors else "anon"
    last = re.match(r"^(.+?)(?:\s+[A-Z]{1,4})?$", first.strip())
    name = _ascii(last.group(1) if last else first)[:20] or "anon"
    words = [_ascii(w) for w in article.title.split()]
    word = next((w for w in words if w and w not in _KEY_STOPWORDS), "")
    return f"{name}{article.year or ''}{word[:20]}" or f"pmid{article.pmid}"


def _bib_author(author: str) -> str:
    author = _one_line(author)
    m = re.match(r"^(.+?)\s+([A-Z]{1,4})$", author)
    if not m:  # a collective name, or one word: one unit, never split at " and "
        return "{" + _tex(author) + "}" if " " in author or "," in author else _tex(author)
    initials = " ".join(c + "." for c in m.group(2))
    return f"{_brace_unsafe(_tex(m.group(1)))}, {initials}"


def to_bibtex(items: Sequence[Item], screened: Screened | None = None) -> str:
    """BibTeX ``@article`` entries with unique keys."""
    used: set[str] = set()
    blocks = []
    for item in items:
        a = item.article
        base = bibtex_key(a)
        key = base
        n = 0
        while key in used:
            key = base + _suffix(n)
            n += 1
        used.add(key)
        fields: list[tuple[str, str]] = [
            ("author", " and ".join(_bib_author(x) for x in a.authors)),
            ("title", "{" + _tex(a.title) + "}"),
            ("journal", _tex(a.journal)),
            ("year", str(a.year or "")),
            ("volume", _tex(a.volume)),
            ("number", _tex(a.issue)),
            ("pages", _tex(full_pages(_one_line(a.pages))).replace("-", "--")),
            ("doi", _verbatim(a.doi)),
            ("pmid", "" if is_reserved_pmid(a.pmid) else _tex(a.pmid)),
            ("pmcid", _tex(a.pmcid)),
            ("url", _verbatim(a.url)),
            ("keywords", _tex(", ".join(a.keywords))),
            ("note", _tex("; ".join(_flags(a)))),
        ]
        if screened and a.pmid in screened:
            review, d = screened[a.pmid]
            fields += [("review", _tex(review)), ("decision", d.decision),
                       ("reason", _tex(d.reason)), ("screeningnote", _tex(d.note))]
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields if value)
        kind = "book" if a.is_book else "article"
        blocks.append(f"@{kind}{{{key},\n{body}\n}}\n")
    return "\n".join(blocks)


def _suffix(n: int) -> str:
    """a, b, ... z, aa, ab, ... for the n-th clash of a key."""
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(ord("a") + r) + out
    return out


# -- CSV and JSON --------------------------------------------------------------

CSV_COLUMNS = ("id", "pmid", "doi", "pmcid", "title", "journal", "year", "authors", "design",
               "nct_ids", "queries", "retracted", "url", "species", "sample_size",
               "has_erratum", "has_concern", "pub_date", "entrez_date", "publication_types",
               "mesh", "keywords", "first_seen_at", "abstract")


#: what a spreadsheet reads as the start of a formula (OWASP, "CSV Injection"), and
#: the apostrophe itself, so that one leading apostrophe always means "added"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
#: the byte order mark Excel needs to read a CSV file as UTF-8
BOM = "\ufeff"


def csv_cell(value: Any) -> Any:
    """One CSV cell: text made inert for spreadsheets (a leading ``'`` before a
    formula character), control characters out (newlines kept: the abstract's
    sections); numbers and booleans as they are."""
    if value is None:
        return ""
    if isinstance(value, (bool, int, float)):
        return value
    raw = str(value)
    text = strip_control(raw, keep_newlines=True).replace("\t", " ")
    # a formula after leading blanks is still a formula to some spreadsheets
    inert = raw.startswith(("\t", "\r")) or text.lstrip(" \n").startswith(_FORMULA_START)
    return "'" + text if inert else text


def to_csv(items: Sequence[Item], screened: Screened | None = None, *,
           bom: bool = True) -> str:
    """CSV with a header row, one row per article (a byte order mark first unless
    ``bom`` is False; a review export adds the screening columns at the end)."""
    buffer = io.StringIO(newline="")
    if bom:
        buffer.write(BOM)
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL)
    columns = CSV_COLUMNS + (SCREENING_COLUMNS if screened is not None else ())
    writer.writerow(columns)
    for item in items:
        a = item.article
        row = {
            "id": a.pmid, "pmid": public_pmid(a.pmid) or "", "doi": a.doi, "pmcid": a.pmcid,
            "title": a.title,
            "journal": a.journal, "year": a.year, "design": a.design,
            "retracted": a.retracted, "url": a.url, "species": a.species,
            "sample_size": a.sample_size, "has_erratum": a.has_erratum,
            "has_concern": a.has_concern, "pub_date": a.pub_date, "entrez_date": a.entrez_date,
            "authors": "; ".join(a.authors),
            "nct_ids": "; ".join(a.nct_ids),
            "queries": "; ".join(item.queries),
            "publication_types": "; ".join(p.name for p in a.publication_types),
            "mesh": "; ".join(m.descriptor for m in a.mesh),
            "keywords": "; ".join(a.keywords),
            "first_seen_at": item.first_seen_at,
            "abstract": a.abstract,
        }
        if screened and a.pmid in screened:
            row.update(_screening_json(*screened[a.pmid]))
        writer.writerow([csv_cell(row.get(c)) for c in columns])
    return buffer.getvalue()


def _screening_json(review: str, d: Decision) -> dict[str, Any]:
    return {"review": review, "decision": d.decision, "reason": d.reason, "note": d.note,
            "reviewer": d.reviewer, "decided_at": d.decided_at}


def to_json(items: Sequence[Item], screened: Screened | None = None) -> str:
    """A JSON list of articles (the article shape of docs/json.md; a review export
    adds ``screening``)."""
    from kettrack.render.json import item_json

    out = []
    for item in items:
        data = item_json(item)
        if screened and item.article.pmid in screened:
            data["screening"] = _screening_json(*screened[item.article.pmid])
        out.append(data)
    return json.dumps(out, indent=2, ensure_ascii=False) + "\n"


# -- Atom ----------------------------------------------------------------------


def _atom_time(value: str | None) -> str:
    """RFC 3339 with a Z, from the library's ISO timestamps or dates."""
    if not value:
        return "1970-01-01T00:00:00Z"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return "1970-01-01T00:00:00Z"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry_link(a: Article) -> str:
    if a.url:
        return a.url
    return "https://pubmed.ncbi.nlm.nih.gov/?term=" + quote(f'"{_one_line(a.title)}"')


def to_atom(items: Sequence[Item], *, title: str = "kettrack: ketamine for alcohol use disorder",
            feed_id: str = "urn:kettrack:library", screened: Screened | None = None) -> str:
    """An Atom 1.0 feed of ``items`` (already newest first)."""
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        # control characters are not XML: a feed holding one is no feed at all
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}",
                           {k: strip_control(v) for k, v in attrs.items()})
        if text is not None:
            el.text = strip_control(text, keep_newlines=True)
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "id", feed_id)
    sub(feed, "title", title)
    stamps = [_atom_time(i.updated_at or i.first_seen_at) for i in items]
    sub(feed, "updated", max(stamps) if stamps else _atom_time(datetime.now(UTC).isoformat()))
    author = sub(feed, "author")
    sub(author, "name", "kettrack")
    sub(feed, "generator", "kettrack")
    for item, stamp in zip(items, stamps, strict=True):
        a = item.article
        entry = sub(feed, "entry")
        # stable ids: a PMID's never changes; a snapshot-only record is not called a PMID
        sub(entry, "id", f"urn:kettrack:pmid:{a.pmid}" if public_pmid(a.pmid)
            else f"urn:kettrack:snapshot:{a.pmid}")
        flags = _flags(a)
        sub(entry, "title", ("[" + ", ".join(flags) + "] " if flags else "")
            + (_one_line(a.title) or pmid_label(a.pmid)))
        sub(entry, "updated", stamp)
        sub(entry, "published", _atom_time(item.first_seen_at))
        sub(entry, "link", href=_entry_link(a), rel="alternate")
        for name in a.authors[:10]:
            sub(sub(entry, "author"), "name", name)
        sub(entry, "category", term=a.design)
        head = " · ".join(str(x) for x in (design_label(a), a.journal, a.year) if x)
        if screened and a.pmid in screened:
            review, d = screened[a.pmid]
            sub(entry, "category", term=d.decision, scheme=f"urn:kettrack:review:{review}",
                label=f"{d.decision} ({d.reason})" if d.reason else d.decision)
        summary = head + (f" · {', '.join(flags)}" if flags else "")
        if a.abstract:
            summary += "\n\n" + a.abstract
        sub(entry, "summary", summary, type="text")
    ET.indent(feed)
    return ET.tostring(feed, encoding="unicode", xml_declaration=True) + "\n"


# -- the command's work --------------------------------------------------------


REVIEW_DECISIONS = ("include", "exclude", "maybe", "any")


def screened_articles(library: Library, review_name: str, decision: str) -> Screened:
    """PMID -> (review, current decision) of the review's articles with ``decision``
    (``any``: every current decision)."""
    from kettrack.review.decide import get_review
    from kettrack.review.queue import Screening

    if decision not in REVIEW_DECISIONS:
        raise ConfigError(f"--decision {decision!r}: choose one of {', '.join(REVIEW_DECISIONS)}")
    screening = Screening(library, get_review(library, review_name))
    held = set(screening.records)
    return {ident: (review_name, d) for (kind, ident), d in screening.decisions.items()
            if kind == "article" and (kind, ident) in held
            and decision in ("any", d.decision)}


def export(library: Library, fmt: str, filters: Filters | None = None,
           limit: int | None = None, *, bom: bool = True, review: str | None = None,
           decision: str = "include") -> str:
    """The slice of the library in ``fmt`` (one of :data:`FORMATS`); ``bom`` (csv
    only) puts Excel's UTF-8 byte order mark first; with ``review``, only its
    articles with ``decision``, each with the decision as fields."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r} is not an export format; one of {', '.join(FORMATS)}")
    if review is not None:
        screened = screened_articles(library, review, decision)
        items = [i for i in library.article_slice(filters, newest_first=fmt == "atom")
                 if i.article.pmid in screened][:limit]
        if fmt == "atom":
            return to_atom(items, title=f"kettrack: review {review} ({decision})",
                           feed_id=f"urn:kettrack:review:{review}:{decision}",
                           screened=screened)
        if fmt == "csv":
            return to_csv(items, screened, bom=bom)
        writer = {"ris": to_ris, "bibtex": to_bibtex, "json": to_json}[fmt]
        return writer(items, screened)
    if fmt == "atom":
        items = library.article_slice(filters, newest_first=True, limit=limit or ATOM_LIMIT)
        parts = [f.query for f in [filters] if f and f.query]
        feed_id = "urn:kettrack:" + (f"query:{parts[0]}" if parts else "library")
        title = "kettrack" + (f": {parts[0]}" if parts else ": ketamine for alcohol use disorder")
        return to_atom(items, title=title, feed_id=feed_id)
    items = library.article_slice(filters, limit=limit)
    if fmt == "csv":
        return to_csv(items, bom=bom)
    return {"ris": to_ris, "bibtex": to_bibtex, "json": to_json}[fmt](items)


def write_atomic(path: Path, text: str, *, option: str = "-o") -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file beside it,
    then a rename), so a feed reader or a failed cron job never sees half a file."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"{option} {path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise Failure(f"{option} {path}: cannot write in {folder} ({exc.strerror or exc})"
                      ) from None
    try:
        # mkstemp makes the file private; a feed or export is meant to be read
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise Failure(f"{option} {path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
