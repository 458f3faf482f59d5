"""Where a PubMed record is normalised: efetch XML in, :class:`~kettrack.library.article.Article`
out.

An efetch ``db=pubmed retmode=xml`` batch is streamed with
:func:`kettrack.sources.entrez_xml.parse` (Bio.Entrez, DTD-validated, never online) and
each record is turned into an :class:`Article` by :func:`article_from_record`:

- ``PubmedArticle`` (journal articles) and ``PubmedBookArticle`` (NCBI
  Bookshelf chapters and whole books) both become Articles; books are never
  dropped, they come out with ``is_book=True``;
- a trailing ``DeleteCitation`` becomes a :class:`Deletion`, so the caller can
  retire PMIDs that NCBI withdrew.

:func:`split_records` cuts the same response into each record's raw XML bytes
(kept by the store for audit and re-normalisation).

Server data is hostile: every text field goes through :func:`clean_text` or
``_text``, which strip control characters (C1 controls such as CSI, a CR written
``&#13;``, bidirectional overrides) and collapse whitespace, so no field holds a
newline or an escape sequence; identifiers are checked where they enter (a
record whose PMID is not a PMID is a :class:`~kettrack.errors.ServiceError`, a
PMCID or CommentsCorrections PMID that is not one is dropped).

Text fields go through :func:`clean_text`. Bio.Entrez, as kettrack runs it
(``escape=False``), does *not* strip inline markup: it hands back the element's
content with ``<i>``, ``<b>``, ``<sup>``, ``<sub>``, ``<u>`` written back as
tags, MathML re-serialised without its ``mml:`` prefix (``<math xmlns=...>``,
``<msub>``...) with the file's indentation inside it, and ``&lt;``/``&amp;``
already decoded to ``<``/``&``. So the markup cannot be told from text by
"anything in angle brackets"; only the tag names the PubMed DTD allows there
are removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kettrack.errors import ServiceError
from kettrack.library.article import (
    AbstractSection,
    Article,
    Correction,
    MeshHeading,
    PublicationType,
)
from kettrack.library.identifiers import normalise_doi, valid_pmcid, valid_pmid
from kettrack.sources import entrez_xml
from kettrack.text import strip_control

__all__ = [
    "CURRENT_PROLOG",
    "Deletion",
    "article_from_raw",
    "article_from_record",
    "clean_text",
    "parse_efetch",
    "parse_pub_date",
    "split_records",
]


@dataclass
class Deletion:
    """PMIDs that NCBI deleted, from an efetch batch's ``DeleteCitation``."""

    pmids: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- streaming


def parse_efetch(data: bytes) -> Iterator[Article | Deletion]:
    """Stream an efetch ``db=pubmed retmode=xml`` response, record by record.

    Yields one :class:`Article` per ``PubmedArticle`` or ``PubmedBookArticle``
    and a :class:`Deletion` for a ``DeleteCitation``, in document order. An
    empty ``<PubmedArticleSet/>`` yields nothing. Unreadable XML raises
    :class:`kettrack.errors.ServiceError` (from :mod:`kettrack.sources.entrez_xml`).
    """
    for record in entrez_xml.parse(data):
        tag = getattr(record, "tag", None)
        if tag == "DeleteCitation":
            yield Deletion([_checked_pmid(pmid, "DeleteCitation") for pmid in record])
        elif tag in ("PubmedArticle", "PubmedBookArticle"):
            yield article_from_record(record)
        # Anything else (a future DTD's new sibling) is not a record we can store.


_RECORD_START = re.compile(rb"<(PubmedArticle|PubmedBookArticle)>")
_FIRST_PMID = re.compile(rb"<PMID[^>]*>\s*(\d+)\s*</PMID>")


def split_records(data: bytes) -> dict[str, bytes]:
    """Map each record's PMID to its raw XML, exactly as it stands in ``data``.

    The value runs from ``<PubmedArticle>`` (or ``<PubmedBookArticle>``) to the
    matching end tag inclusive. The response is scanned with byte searches, not
    parsed: the first ``<PMID>`` inside a record is always the record's own
    (the DTD puts it first in ``MedlineCitation`` and ``BookDocument``).
    Use :func:`article_from_raw` to normalise one value again.
    """
    records: dict[str, bytes] = {}
    pos = 0
    while True:
        start = _RECORD_START.search(data, pos)
        if start is None:
            return records
        end_tag = b"</" + start.group(1) + b">"
        end = data.find(end_tag, start.end())
        if end < 0:
            return records  # truncated response; entrez_xml.parse reports it
        end += len(end_tag)
        pmid = _FIRST_PMID.search(data, start.end(), end)
        if pmid is not None:
            records[pmid.group(1).decode("ascii")] = data[start.start():end]
        pos = end


#: What efetch puts before the records today; wraps a raw record to parse it alone.
CURRENT_PROLOG = (
    b'<?xml version="1.0" ?>\n'
    b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
)


def article_from_raw(raw: bytes, prolog: bytes = CURRENT_PROLOG) -> Article:
    """Normalise one record's raw XML, as kept by :func:`split_records`.

    ``prolog`` is the XML declaration and DOCTYPE to read it with: by default
    the current PubMed DTD's, which is what efetch serves; pass the original
    response's prolog for a record fetched under an older DTD.
    """
    document = prolog + b"<PubmedArticleSet>\n" + raw + b"\n</PubmedArticleSet>\n"
    for item in parse_efetch(document):
        if isinstance(item, Article):
            return item
    raise ValueError("no PubmedArticle or PubmedBookArticle in the given XML")


# --------------------------------------------------------------------------- one record


def _checked_pmid(value: Any, where: str) -> str:
    """``value`` as a PMID, or :class:`ServiceError`: an identifier that is not one
    never becomes a row or a URL (``../../x``)."""
    pmid = str(value).strip()
    if not valid_pmid(pmid):
        shown = "".join(c if c.isprintable() else "?" for c in pmid)[:40]
        raise ServiceError(f"efetch answered a {where} PMID that is not a PMID: {shown!r}")
    return pmid


def article_from_record(record: Any) -> Article:
    """Build an :class:`Article` from one Bio.Entrez ``PubmedArticle`` or
    ``PubmedBookArticle`` element.

    ``design``, ``species`` and ``sample_size`` keep their defaults: deciding
    them is :mod:`kettrack.library.design`'s job.
    """
    if getattr(record, "tag", None) == "PubmedBookArticle" or "BookDocument" in record:
        return _book_article(record)
    return _journal_article(record)


def _journal_article(record: Any) -> Article:
    citation = record["MedlineCitation"]
    art = citation["Article"]
    journal = art.get("Journal") or {}
    issue = journal.get("JournalIssue") or {}
    pubmed_data = record.get("PubmedData") or {}

    ids = _article_ids(pubmed_data.get("ArticleIdList"))
    elocations = _article_ids(art.get("ELocationID"), attr="EIdType")

    title = clean_text(art.get("ArticleTitle")) or clean_text(art.get("VernacularTitle"))
    sections = _abstract(art.get("Abstract"))
    pub_date, year = parse_pub_date(issue.get("PubDate"))
    nct_ids, other_ids = _trial_ids(art.get("DataBankList"), title, sections)

    return Article(
        pmid=_checked_pmid(citation["PMID"], "record"),
        title=title,
        abstract_sections=sections,
        doi=normalise_doi(ids.get("doi") or elocations.get("doi")),
        pmcid=_pmcid(ids.get("pmc")),
        pii=_text(ids.get("pii") or elocations.get("pii")),
        authors=_authors(art.get("AuthorList")),
        affiliations=_affiliations(art.get("AuthorList")),
        journal=clean_text(journal.get("Title")) or None,
        journal_iso=clean_text(journal.get("ISOAbbreviation")) or None,
        volume=_text(issue.get("Volume")),
        issue=_text(issue.get("Issue")),
        pages=_pages(art.get("Pagination")),
        pub_date=pub_date,
        year=year,
        entrez_date=_entrez_date(pubmed_data.get("History")),
        languages=[lang for x in _each(art.get("Language")) if (lang := _text(x))],
        publication_types=_publication_types(art.get("PublicationTypeList")),
        mesh=_mesh(citation.get("MeshHeadingList")),
        keywords=_keywords(citation.get("KeywordList")),
        nct_ids=nct_ids,
        other_trial_ids=other_ids,
        corrections=_corrections(citation.get("CommentsCorrectionsList")),
        citation_status=_attr(citation, "Status"),
        publication_status=_text(pubmed_data.get("PublicationStatus")),
        is_book=False,
    )


def _book_article(record: Any) -> Article:
    doc = record["BookDocument"]
    book = doc.get("Book") or {}
    book_data = record.get("PubmedBookData") or {}

    ids = _article_ids(book_data.get("ArticleIdList"))
    ids.update({k: v for k, v in _article_ids(doc.get("ArticleIdList")).items() if k not in ids})
    elocations = _article_ids(book.get("ELocationID"), attr="EIdType")

    book_title = clean_text(book.get("BookTitle"))
    chapter_title = clean_text(doc.get("ArticleTitle")) or clean_text(doc.get("VernacularTitle"))
    title = chapter_title or book_title
    sections = _abstract(doc.get("Abstract"))
    # A chapter is dated by its first posting, not by the book's start year
    # (GeneReviews chapters would all be "1993").
    pub_date, year = parse_pub_date(doc.get("ContributionDate") or book.get("PubDate"))
    nct_ids, other_ids = _trial_ids(None, title, sections)

    # Who wrote the document: BookDocument's AuthorList typed "authors" (or
    # untyped); its "editors" list and the Book's lists name the book's editors.
    authors: list[str] = []
    for author_list in _each(doc.get("AuthorList")):
        if _attr(author_list, "Type") != "editors":
            authors.extend(_authors(author_list))

    return Article(
        pmid=_checked_pmid(doc["PMID"], "record"),
        title=title,
        abstract_sections=sections,
        doi=normalise_doi(ids.get("doi") or elocations.get("doi")),
        pmcid=_pmcid(ids.get("pmc")),
        pii=_text(ids.get("pii") or elocations.get("pii")),
        authors=authors,
        # a chapter's container is its book; a whole book has none
        journal=(book_title or None) if chapter_title else None,
        volume=_text(book.get("Volume")),
        pages=_pages(doc.get("Pagination")),
        pub_date=pub_date,
        year=year,
        entrez_date=_entrez_date(book_data.get("History")),
        languages=[lang for x in _each(doc.get("Language")) if (lang := _text(x))],
        publication_types=_publication_types(doc.get("PublicationType")),
        keywords=_keywords(doc.get("KeywordList")),
        nct_ids=nct_ids,
        other_trial_ids=other_ids,
        publication_status=_text(book_data.get("PublicationStatus")),
        is_book=True,
    )


# --------------------------------------------------------------------------- fields


def _attr(element: Any, name: str) -> str | None:
    try:
        value: str | None = element.attributes.get(name)
    except AttributeError:  # a plain value, not a Bio.Entrez element
        return None
    return value


def _each(value: Any) -> list[Any]:
    """The repeated children of an element; old DTDs give a lone one unwrapped."""
    if value is None:
        return []
    if isinstance(value, (str, dict)):
        return [value]
    return list(value)


def _text(value: Any) -> str | None:
    """One line of plain text (control characters out), or None."""
    if value is None:
        return None
    text = " ".join(strip_control(str(value)).split())
    return text or None


def _article_ids(elements: Any, attr: str = "IdType") -> dict[str, str]:
    """First identifier of each type, e.g. ``{"doi": ..., "pmc": ..., "pii": ...}``."""
    ids: dict[str, str] = {}
    for element in _each(elements):
        kind = _attr(element, attr)
        value = _text(element)
        if kind and value and kind not in ids:
            ids[kind] = value
    return ids


def _pmcid(value: str | None) -> str | None:
    """``PMC`` and digits, or None for anything else a server sends."""
    if not value:
        return None
    value = value.strip().upper()
    value = value if value.startswith("PMC") else f"PMC{value}"
    return value if valid_pmcid(value) else None


def _abstract(abstract: Any) -> list[AbstractSection]:
    if not abstract:
        return []
    sections = []
    for part in _each(abstract.get("AbstractText")):
        text = clean_text(part)
        label = _attr(part, "Label")
        if text or label:
            sections.append(AbstractSection(text, _text(label),
                                            _text(_attr(part, "NlmCategory"))))
    return sections


def _authors(author_list: Any) -> list[str]:
    names = []
    for author in author_list or ():
        if author.attributes.get("ValidYN") == "N":
            continue  # NLM keeps misspelt names it has corrected, flagged invalid
        last = author.get("LastName")
        if last is None:
            name = clean_text(author.get("CollectiveName"))
        else:
            initials = _text(author.get("Initials"))
            name = " ".join(x for x in (_text(last), initials) if x)
        if name:
            names.append(name)
    return names


_EMAIL = re.compile(r"\s*(?:Electronic address:\s*)?[\w.+-]+@[\w-]+(?:\.[\w-]+)+\.?")


def _affiliations(author_list: Any) -> list[str]:
    """Each author's AffiliationInfo/Affiliation, once each, e-mail addresses left out."""
    found: list[str] = []
    for author in author_list or ():
        if author.attributes.get("ValidYN") == "N":
            continue
        for info in _each(author.get("AffiliationInfo")):
            text = _EMAIL.sub("", clean_text(info.get("Affiliation"))).strip(" ;,.")
            if text and text not in found:
                found.append(text)
    return found


def _pages(pagination: Any) -> str | None:
    if not pagination:
        return None
    medline = _text(pagination.get("MedlinePgn"))
    if medline:
        return medline
    start, end = _text(pagination.get("StartPage")), _text(pagination.get("EndPage"))
    if start and end and end != start:
        return f"{start}-{end}"
    return start


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_YEAR = re.compile(r"\b(\d{4})\b")


def parse_pub_date(pub_date: Any) -> tuple[str | None, int | None]:
    """The date as PubMed prints it, and its year, from a ``PubDate`` element.

    ``Year``/``Month``/``Day`` give ``"2021 Mar 4"`` (numeric months become
    abbreviations, leading zeros go); ``Year``/``Season`` give ``"2022 Spring"``;
    a ``MedlineDate`` is kept as written (``"1998 Dec-1999 Jan"``) and its year
    is the first four-digit year in it.
    """
    if not pub_date:
        return None, None
    medline_date = _text(pub_date.get("MedlineDate"))
    if medline_date:
        found = _YEAR.search(medline_date)
        return medline_date, int(found.group(1)) if found else None
    year = _text(pub_date.get("Year"))
    if not year:
        return None, None
    parts = [year]
    season = _text(pub_date.get("Season"))
    month = _text(pub_date.get("Month"))
    if season:
        parts.append(season)
    elif month:
        if month.isdigit() and 1 <= int(month) <= 12:
            month = _MONTHS[int(month) - 1]
        parts.append(month)
        day = _text(pub_date.get("Day"))
        if day:
            parts.append(day.lstrip("0") or day)
    return " ".join(parts), int(year) if year.isdigit() else None


def _entrez_date(history: Any) -> str | None:
    by_status: dict[str, Any] = {}
    dates: list[Any] = []
    for item in _each(history):
        # before 2009 the DTD let History repeat, so it arrives as a list of lists
        dates.extend(item if getattr(item, "tag", None) == "History" else [item])
    for date in dates:
        status = _attr(date, "PubStatus")
        if status and status not in by_status:
            by_status[status] = date
    date = by_status.get("entrez") or by_status.get("pubmed")
    if date is None:
        return None
    try:
        return f"{int(date['Year']):04d}-{int(date['Month']):02d}-{int(date['Day']):02d}"
    except (KeyError, ValueError):
        return None


def _publication_types(elements: Any) -> list[PublicationType]:
    return [PublicationType(name, _text(_attr(pt, "UI")))
            for pt in _each(elements) if (name := _text(pt))]


def _mesh(heading_list: Any) -> list[MeshHeading]:
    headings = []
    for heading in heading_list or ():
        descriptor = heading["DescriptorName"]
        attributes = descriptor.attributes
        name = _text(descriptor)
        if not name:
            continue
        headings.append(
            MeshHeading(
                name,
                _text(attributes.get("UI")),
                attributes.get("MajorTopicYN") == "Y",
                [
                    (q_name, q.attributes.get("MajorTopicYN") == "Y")
                    for q in _each(heading.get("QualifierName")) if (q_name := _text(q))
                ],
            )
        )
    return headings


def _keywords(keyword_lists: Any) -> list[str]:
    seen: dict[str, None] = {}  # ordered set: NLM and author lists repeat terms
    for keyword_list in _each(keyword_lists):
        for keyword in keyword_list:
            text = clean_text(keyword)
            if text:
                seen.setdefault(text, None)
    return list(seen)


#: Cites is the reference list, not a comment or correction
_NOT_CORRECTIONS = frozenset({"Cites"})


def _corrections(comments: Any) -> list[Correction]:
    corrections = []
    for item in comments or ():
        ref_type = _text(_attr(item, "RefType"))
        if not ref_type or ref_type in _NOT_CORRECTIONS:
            continue
        pmid = _text(item.get("PMID"))
        corrections.append(
            Correction(ref_type, pmid if valid_pmid(pmid) else None,
                       _text(item.get("RefSource")))
        )
    return corrections


# Matched in upper-cased text: a literal prefix lets re skip ahead fast, where
# IGNORECASE and a leading \b make it try every position of a long abstract.
_NCT = re.compile(r"NCT ?(\d{8})(?!\d)")
_ISRCTN = re.compile(r"ISRCTN[ :]?(\d{8})(?!\d)")
#: DataBankList names of trial registries (WHO primary registries and EudraCT);
#: the other data banks (GenBank, PDB, GEO...) hold data, not trials.
_TRIAL_REGISTRIES = frozenset(
    {
        "ANZCTR", "ChiCTR", "CRiS", "CTRI", "DRKS", "EudraCT", "IRCT", "ISRCTN", "ITMCTR",
        "JPRN", "LBCTR", "NTR", "PACTR", "ReBec", "REPEC", "RPCEC", "SLCTR", "TCTR", "UMIN CTR",
    }
)


def _trial_ids(
    databanks: Any, title: str, sections: Iterable[AbstractSection]
) -> tuple[list[str], list[str]]:
    nct: set[str] = set()
    other: set[str] = set()
    for bank in databanks or ():
        name = _text(bank.get("DataBankName")) or ""
        numbers = [_text(n) or "" for n in bank.get("AccessionNumberList", ())]
        if name == "ClinicalTrials.gov":
            nct.update(f"NCT{m.group(1)}" for n in numbers if (m := _NCT.search(n.upper())))
        elif name == "ISRCTN":
            other.update(f"ISRCTN{m}" for n in numbers for m in re.findall(r"\d{8}", n))
        elif name in _TRIAL_REGISTRIES:
            other.update(n for n in numbers if n)
    text = " ".join([title, *(s.text for s in sections)]).upper()
    if "NCT" in text:
        nct.update(f"NCT{m}" for m in _NCT.findall(text))
    if "ISRCTN" in text:
        other.update(f"ISRCTN{m}" for m in _ISRCTN.findall(text))
    return sorted(nct), sorted(other)


# --------------------------------------------------------------------------- text

_MATH = re.compile(r"<(?:mml:)?math\b[^>]*>(.*?)</(?:mml:)?math>", re.DOTALL)
#: MathML token elements: the only ones whose content is text, not layout
_MATH_TOKEN = re.compile(r"<(mi|mn|mo|ms|mtext)\b[^>]*>(.*?)</\1>", re.DOTALL)
_MATH_PRESCRIPTS = re.compile(
    r"<mmultiscripts\b[^>]*>(.*?)<mprescripts\b[^>]*>(?:</mprescripts>)?(.*?)</mmultiscripts>",
    re.DOTALL,
)
_MATH_DOT_ACCENT = re.compile(
    r"<mover\b[^>]*>(.*?)<mo\b[^>]*>\s*[.\u02d9\u0307]\s*</mo>\s*</mover>", re.DOTALL
)
_MATH_TAG = re.compile(r"<[^<>]*>")
#: spaces a publisher set around an inline formula inside brackets: "( V̇O2max )"
_MATH_PADDING = re.compile(r"(?<=[(\[])\s*\x01|\x01|\x02\s*(?=[)\],.;:])|\x02")
#: %text; in the PubMed DTD (b, i, sup, sub, u), plus DispFormula around MathML
_INLINE_TAG = re.compile(r"</?(?:b|i|u|sup|sub|DispFormula)>")
#: a pretty-printer's line break before a subscript/superscript or after a tag
#: that is followed by punctuation: "β\n    <sub>2</sub>" is "β2"
_LAYOUT_BEFORE_SCRIPT = re.compile(r"\s*\n\s*(?=<su[bp]>)")
_LAYOUT_BEFORE_PUNCT = re.compile(r"(?<=>)\s*\n\s*(?=[,.;:!?)\]])")


def _math_text(match: re.Match[str]) -> str:
    # Indentation between MathML elements is layout, not text: only token
    # content is kept, run together ("V̇O2max"); <mtext> </mtext> is a real space.
    math = match.group(1)
    if "mprescripts" in math:  # isotopes: base, then pre-scripts -> "3He"
        math = _MATH_PRESCRIPTS.sub(r"<mrow>\2\1</mrow>", math)
    if "mover" in math:  # a dot accent over a token: V-dot as V + U+0307
        math = _MATH_DOT_ACCENT.sub("\\1<mo>\u0307</mo>", math)
    tokens = [
        " " if name == "mtext" and not content.strip() else content.strip()
        for name, content in _MATH_TOKEN.findall(math)
    ]
    text = "".join(tokens) if tokens else _MATH_TAG.sub(" ", math)
    return "\x01" + " ".join(text.split()) + "\x02"  # marks for _MATH_PADDING


def clean_text(value: Any) -> str:
    """Readable plain text from a Bio.Entrez string element (or any value).

    Removes the inline tags PubMed allows in titles, abstracts and keywords
    (``<i>``, ``<b>``, ``<u>``, ``<sup>``, ``<sub>``), replaces each MathML
    formula with its tokens run together, drops line breaks that a
    pretty-printed file put before a sub/superscript or punctuation, and
    collapses every run of whitespace (newlines, tabs, no-break spaces) to one
    space. Control characters go (:func:`kettrack.text.strip_control`). Literal
    ``<`` in the text (``P < 0.001``) is left alone. ``None`` gives ``""``.
    """
    if value is None:
        return ""
    text = strip_control(value if isinstance(value, str) else str(value), keep_newlines=True)
    if "<" in text:
        if "math" in text:
            text = _MATH_PADDING.sub("", _MATH.sub(_math_text, text))
        if "\n" in text:
            text = _LAYOUT_BEFORE_SCRIPT.sub("", text)
            text = _LAYOUT_BEFORE_PUNCT.sub("", text)
        text = _INLINE_TAG.sub("", text)
    return " ".join(text.split())
