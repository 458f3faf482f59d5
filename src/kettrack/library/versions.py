"""Where it is decided that two records are versions of one work.

A preprint and its journal version are one row with versions and a history, not
two papers. Three kinds of evidence, strongest first:

1. **Europe PMC's own links** (``commentCorrectionList`` entries whose type starts
   with "preprint", e.g. "Preprint in" / "Preprint of", naming the other record's
   source and id): merged, ``link = "europepmc-link"``.
2. **Identifiers and DOI relations**: the same PMID, DOI or PMCID is the same
   work (``link = "pmid" / "doi" / "pmcid"``); two preprint DOIs that differ only
   in a version suffix (Research Square's ``.../v1`` and ``.../v2``, medRxiv's
   ``...v2``) are versions of one preprint (``link = "doi-relation"``).
3. **A conservative match** (:func:`probable_match`): the same normalised title,
   the same first author's surname, and a journal version dated on or after the
   preprint and within three years. It is *recorded* as probable, with its
   evidence, and never merged silently: the two rows stay two rows until a link
   of kind 1 or 2 arrives.

:func:`identifiers` and :func:`linked_identifiers` give the ``(kind, value)``
pairs the store looks works up by (``work_ids``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from kettrack.library.article import Article
from kettrack.library.identifiers import normalise_doi, valid_pmcid, valid_pmid

#: years a journal version may follow its preprint and still be a probable match
MAX_GAP_YEARS = 3
_DOI_VERSION = re.compile(r"^(?P<base>10\.\d{4,9}/.+?)(?:/v\d{1,3}|v\d{1,3})$")
_WORD = re.compile(r"[a-z0-9]+")


def doi_base(doi: str | None) -> str | None:
    """A preprint DOI without its version suffix (``10.21203/rs.3.rs-1/v2`` ->
    ``10.21203/rs.3.rs-1``); None when the DOI carries no version."""
    found = _DOI_VERSION.match(doi or "")
    return found.group("base") if found else None


def identifiers(article: Article) -> list[tuple[str, str]]:
    """The ``(kind, value)`` identifiers a record gives for itself."""
    out: list[tuple[str, str]] = []
    if valid_pmid(article.pmid):
        out.append(("pmid", article.pmid))
    if article.doi:
        out.append(("doi", article.doi))
        if article.is_preprint and (base := doi_base(article.doi)):
            out.append(("doibase", base))
    if article.pmcid:
        out.append(("pmcid", article.pmcid))
    if article.epmc_source and article.epmc_id:
        out.append(("epmc", f"{article.epmc_source}:{article.epmc_id}"))
        if article.epmc_source == "PPR":
            out.append(("ppr", article.epmc_id))
    return out


def linked_identifiers(article: Article) -> list[tuple[str, str]]:
    """The identifiers of the other versions Europe PMC links this record to."""
    out: list[tuple[str, str]] = []
    for link in article.version_links:
        out.append(("epmc", f"{link.source}:{link.id}"))
        if link.source == "MED" and valid_pmid(link.id):
            out.append(("pmid", link.id))
        elif link.source == "PPR":
            out.append(("ppr", link.id))
        elif link.source == "PMC" and valid_pmcid(link.id):
            out.append(("pmcid", link.id))
        if link.doi and (doi := normalise_doi(link.doi)):
            out.append(("doi", doi))
    return out


def normalised_title(title: str) -> str:
    """Lower case, accents and punctuation out, words joined by single spaces."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return " ".join(_WORD.findall(text))


def first_surname(article: Article) -> str | None:
    """The first author's surname, lower case ("Grabski M" -> "grabski")."""
    if not article.authors:
        return None
    words = normalised_title(article.authors[0]).split()
    if not words:
        return None
    # PubMed and Europe PMC write "Surname Initials"; the initials are the last word
    return " ".join(words[:-1]) if len(words) > 1 and len(words[-1]) <= 3 else words[0]


def probable_match(preprint: Article, journal: Article) -> dict[str, Any] | None:
    """The evidence that ``journal`` is probably the published version of
    ``preprint``, or None. Every test must pass: a title that normalises the same,
    the same first author, and a journal year from the preprint's year to
    :data:`MAX_GAP_YEARS` after."""
    if not preprint.is_preprint or journal.is_preprint:
        return None
    title = normalised_title(preprint.title)
    if len(title.split()) < 4 or title != normalised_title(journal.title):
        return None
    author = first_surname(preprint)
    if not author or author != first_surname(journal):
        return None
    if preprint.year is None or journal.year is None or not (
            0 <= journal.year - preprint.year <= MAX_GAP_YEARS):
        return None
    return {"title": title, "first_author": author,
            "years": [preprint.year, journal.year], "how": "probable"}


def newer_version(old: str | None, new: str | None) -> bool:
    """True when version ``new`` is later than ``old`` (numbers compared as numbers)."""
    def number(v: str | None) -> int:
        try:
            return int(str(v or "0").lstrip("vV"))
        except ValueError:
            return 0
    return number(new) > number(old)
