"""Turning what a user types (PMID, DOI, PMCID, NCT number) into a library record."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from kettrack.errors import BadIdentifier, NotInLibrary
from kettrack.library.article import normalise_doi
from kettrack.library.store import Library

_PMID = re.compile(r"^(?:pmid:?\s*)?(\d{1,10})$", re.IGNORECASE)
_PMCID = re.compile(r"^(?:pmcid:?\s*)?(PMC\d{1,10})$", re.IGNORECASE)
_NCT = re.compile(r"^(NCT\d{8})$", re.IGNORECASE)
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_PUBMED_URL = re.compile(r"^https?://(?:www\.)?pubmed\.ncbi\.nlm\.nih\.gov/(\d{1,10})/?$")


@dataclass(frozen=True)
class Identifier:
    """A parsed identifier: ``kind`` is pmid, doi, pmcid or nct."""

    kind: str
    value: str


def parse_identifier(text: str) -> Identifier:
    """Recognise a PMID, DOI (any common form), PMCID or NCT number."""
    raw = text.strip()
    if not raw or len(raw) > 300 or any(ord(c) < 32 for c in raw):
        raise BadIdentifier(f"{_show(text)} is not a PMID, DOI, PMCID or NCT number")
    if m := _PMID.match(raw):
        if int(m.group(1)) == 0:
            raise BadIdentifier(f"{_show(text)} is not a PMID (PMIDs start at 1)")
        return Identifier("pmid", str(int(m.group(1))))
    if m := _PUBMED_URL.match(raw):
        return Identifier("pmid", m.group(1))
    if m := _PMCID.match(raw):
        return Identifier("pmcid", m.group(1).upper())
    if m := _NCT.match(raw):
        return Identifier("nct", m.group(1).upper())
    if raw.upper().startswith("NCT"):
        raise BadIdentifier(f"{_show(text)} is not an NCT number (NCT followed by 8 digits)")
    doi = normalise_doi(raw)
    if doi and _DOI.match(doi):
        return Identifier("doi", doi)
    raise BadIdentifier(f"{_show(text)} is not a PMID, DOI, PMCID or NCT number")


def find_article(library: Library, text: str) -> str:
    """The PMID of the library record ``text`` names (for an NCT number, the oldest
    publication that names the trial: see :func:`linked_publications`)."""
    ident = parse_identifier(text)
    if ident.kind == "nct":
        found = linked_publications(library, ident.value)
    else:
        column = {"pmid": "pmid", "pmcid": "pmcid", "doi": "doi"}[ident.kind]
        found = [str(r[0]) for r in library.db.execute(
            f"SELECT pmid FROM articles WHERE {column} = ? LIMIT 1", (ident.value,))]
    if not found:
        raise NotInLibrary(f"{ident.kind.upper()} {ident.value} is not in the library")
    return found[0]


def _show(text: str) -> str:
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return repr(clean[:60] + ("..." if len(clean) > 60 else ""))


# -- the full record, for ``show`` ---------------------------------------------


def linked_publications(library: Library, nct_id: str) -> list[str]:
    """PMIDs of the library's publications that name the registered trial ``nct_id``,
    oldest first (protocol, then results, then follow-ups, as a rule)."""
    return [str(r[0]) for r in library.db.execute(
        "SELECT a.pmid FROM article_trial_ids t JOIN articles a ON a.pmid = t.pmid "
        "WHERE t.trial_id = ? ORDER BY coalesce(a.entrez_date, printf('%04d', a.year)), a.pmid",
        (nct_id,))]


def article_record(library: Library, pmid: str) -> dict[str, Any]:
    """Everything the library knows about one article, for ``show``.

    DESIGN.md's article keys (:meth:`Library.article_json`), then: ``flags``,
    when the library first saw it and last updated it, and ``events`` (its
    history: retractions, errata, design or status changes, revisions), oldest
    first.
    """
    from kettrack.library.trial import trials_for_article
    from kettrack.tools.check import flags

    data = library.article_json(pmid)
    article = library.article(pmid)
    if data is None or article is None:
        raise NotInLibrary(f"PMID {pmid} is not in the library")
    row = library.db.execute(
        "SELECT first_seen_at, updated_at, fetched_at FROM articles WHERE pmid = ?", (pmid,)
    ).fetchone()
    data["first_seen_at"], data["updated_at"], data["fetched_at"] = row
    data["flags"] = flags(library, article)
    data["trials"] = trials_for_article(library, pmid)
    data["events"] = [
        {"kind": kind, "detail": json.loads(detail or "{}"), "at": at, "run_id": run_id}
        for kind, detail, at, run_id in library.db.execute(
            "SELECT kind, detail, created_at, run_id FROM events WHERE pmid = ? ORDER BY id",
            (pmid,))
    ]
    return data


def record_for(library: Library, text: str) -> dict[str, Any]:
    """What ``show`` prints for ``text``: an article record, or for an NCT number
    ``{"nct_id", "publications": [article record...]}``.

    A registered trial's own registry record is shown before this by the
    registry feature (``kettrack.library.trial``); this is the part made of
    publications, and what ``show NCT...`` answers when the library has no
    registry record of the trial.
    """
    ident = parse_identifier(text)
    if ident.kind == "nct":
        pmids = linked_publications(library, ident.value)
        if not pmids:
            raise NotInLibrary(f"NCT {ident.value}: no publication in the library names "
                               "this trial")
        return {"nct_id": ident.value,
                "publications": [article_record(library, p) for p in pmids]}
    return article_record(library, find_article(library, text))
