"""Identifiers: what a user types (PMID, DOI, PMCID, NCT number), what a server
sends, and the one rule for naming and linking each.

- :func:`parse_identifier` reads user input (``show``, ``watch add``, screening
  imports) in any common form;
- the ``valid_*`` checks guard identifiers that arrive from a server, so a PMID
  of ``../../x`` never becomes a row or a URL;
- snapshot-only records (the offline snapshot gives corpus records with no
  verified PMID an identifier from :data:`RESERVED_PMID_START` up) are never
  called PMIDs and never linked to PubMed: :func:`public_pmid` is None for them,
  :func:`pmid_label` names them in words that cannot be mistaken for a PMID;
- the URLs of a PubMed record, a DOI and a registered trial are built here and
  nowhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from kettrack.errors import BadIdentifier

#: PMIDs from this value up are never issued by NCBI: the offline snapshot gives
#: them to corpus records that have no verified PMID. PubMed has issued about 41
#: million PMIDs in 60 years; this range starts above 2**32, beyond any Entrez UID.
RESERVED_PMID_START = 9_900_000_000

_PMID = re.compile(r"^[1-9]\d{0,10}$")
_PMCID = re.compile(r"^PMC[1-9]\d{0,9}$")
_NCT = re.compile(r"^NCT\d{8}$")
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")

_USER_PMID = re.compile(r"^(?:pmid:?\s*)?(\d{1,11})$", re.IGNORECASE)
_USER_PMCID = re.compile(r"^(?:pmcid:?\s*)?(PMC\d{1,10})$", re.IGNORECASE)
_USER_NCT = re.compile(r"^(NCT\d{8})$", re.IGNORECASE)
_USER_PPR = re.compile(r"^(PPR\d{1,12})$", re.IGNORECASE)
_PUBMED_URL = re.compile(r"^https?://(?:www\.)?pubmed\.ncbi\.nlm\.nih\.gov/(\d{1,11})/?$")


def valid_pmid(value: object) -> bool:
    """A PMID as NCBI issues them (or a snapshot identifier): digits, no leading zero."""
    return isinstance(value, str) and bool(_PMID.match(value))


def valid_nct(value: object) -> bool:
    """``NCT`` and eight digits, upper case."""
    return isinstance(value, str) and bool(_NCT.match(value))


def valid_pmcid(value: object) -> bool:
    """``PMC`` and digits, upper case."""
    return isinstance(value, str) and bool(_PMCID.match(value))


def is_reserved_pmid(pmid: str | int | None) -> bool:
    """True for library keys that must never be shown as PubMed IDs: the
    snapshot-only identifiers, and the keys of works that have no PMID (a
    preprint keyed by its Europe PMC ``PPR`` id, a record keyed by its PMCID)."""
    if isinstance(pmid, str) and pmid and not pmid.isdigit():
        return True
    try:
        return int(pmid) >= RESERVED_PMID_START  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def public_pmid(pmid: str | None) -> str | None:
    """The PMID to show, export or link: None for a snapshot-only identifier."""
    if not pmid or is_reserved_pmid(pmid):
        return None
    return pmid


def pmid_label(pmid: str | int) -> str:
    """How to name a record by its PMID in text: "PMID 123", or, for a snapshot
    identifier, words that cannot be mistaken for a PubMed ID."""
    if isinstance(pmid, str) and pmid and not pmid.isdigit():
        return f"Europe PMC record {pmid}, no PMID"
    if is_reserved_pmid(pmid):
        return f"snapshot record {pmid}, PMID unknown"
    return f"PMID {pmid}"


def normalise_doi(doi: str | None) -> str | None:
    """Lower-case a DOI and strip ``doi:`` / ``https://doi.org/`` prefixes."""
    if not doi:
        return None
    doi = doi.strip()
    doi = re.sub(r"^(?:https?://)?(?:dx\.)?doi\.org/", "", doi, flags=re.IGNORECASE)
    doi = re.sub(r"^doi:\s*", "", doi, flags=re.IGNORECASE)
    doi = doi.strip().lower()
    return doi if doi and _DOI.match(doi) else None


def pubmed_url(pmid: str) -> str | None:
    """The PubMed page of a record (None for a snapshot-only identifier)."""
    shown = public_pmid(pmid)
    return f"https://pubmed.ncbi.nlm.nih.gov/{shown}/" if shown and valid_pmid(shown) else None


def doi_url(doi: str | None) -> str | None:
    """The resolver link of a DOI, percent-encoded where a URL needs it
    (SICI-style DOIs hold ``<``, ``>``, ``;`` and ``#``)."""
    if not doi:
        return None
    return "https://doi.org/" + quote(doi, safe="/:().-_,")


def trial_url(nct_id: str) -> str:
    """The ClinicalTrials.gov page of a registered trial."""
    return f"https://clinicaltrials.gov/study/{nct_id}"


@dataclass(frozen=True)
class Identifier:
    """A parsed identifier: ``kind`` is pmid, doi, pmcid, nct or ppr (a Europe PMC
    preprint id)."""

    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind.upper()} {self.value}"


def _shown(text: str) -> str:
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return repr(clean[:60] + ("..." if len(clean) > 60 else ""))


def parse_identifier(text: str) -> Identifier:
    """Recognise a PMID, DOI (any common form), PMCID or NCT number typed by a user."""
    raw = text.strip()
    if not raw or len(raw) > 300 or any(ord(c) < 32 for c in raw):
        raise BadIdentifier(f"{_shown(text)} is not a PMID, DOI, PMCID or NCT number")
    if m := _USER_PMID.match(raw):
        if int(m.group(1)) == 0:
            raise BadIdentifier(f"{_shown(text)} is not a PMID (PMIDs start at 1)")
        return Identifier("pmid", str(int(m.group(1))))
    if m := _PUBMED_URL.match(raw):
        return Identifier("pmid", str(int(m.group(1))))
    if m := _USER_PMCID.match(raw):
        return Identifier("pmcid", "PMC" + str(int(m.group(1)[3:])))
    if m := _USER_NCT.match(raw):
        return Identifier("nct", m.group(1).upper())
    if m := _USER_PPR.match(raw):  # a Europe PMC preprint id
        return Identifier("ppr", m.group(1).upper())
    if raw.upper().startswith("NCT"):
        raise BadIdentifier(f"{_shown(text)} is not an NCT number (NCT followed by 8 digits)")
    doi = normalise_doi(raw)
    if doi:
        return Identifier("doi", doi)
    raise BadIdentifier(f"{_shown(text)} is not a PMID, DOI, PMCID or NCT number")
