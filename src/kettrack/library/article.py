"""The normalised record every source is turned into: :class:`Article`.

An Article is what the library stores, one per work. ``kettrack.sources.pubmed``
builds them from PubMed XML; ``kettrack.library.store`` writes and reads them. The
public JSON form (DESIGN.md's keys, plus detail keys) is :meth:`Article.to_json`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

#: PMIDs from this value up are never issued by NCBI: the offline snapshot gives
#: them to corpus records that have no verified PMID. PubMed has issued about 41
#: million PMIDs in 60 years; this range starts above 2**32, beyond any Entrez UID.
RESERVED_PMID_START = 9_900_000_000


def is_reserved_pmid(pmid: str | int | None) -> bool:
    """True for the snapshot-only identifiers that must never be shown as PubMed links."""
    try:
        return int(pmid) >= RESERVED_PMID_START  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def pmid_label(pmid: str | int) -> str:
    """How to name a record by its PMID in text: "PMID 123", or, for a snapshot
    identifier, words that cannot be mistaken for a PubMed ID."""
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
    return doi or None


@dataclass
class AbstractSection:
    """One paragraph of an abstract; ``label`` is set for structured abstracts."""

    text: str
    label: str | None = None
    category: str | None = None  # NLM category: BACKGROUND, METHODS, RESULTS, CONCLUSIONS...


@dataclass
class PublicationType:
    name: str
    ui: str | None = None


@dataclass
class MeshHeading:
    descriptor: str
    ui: str | None = None
    major: bool = False
    qualifiers: list[tuple[str, bool]] = field(default_factory=list)  # (name, major)


@dataclass
class Correction:
    """A CommentsCorrections link, e.g. ``RetractionIn`` -> PMID 123."""

    ref_type: str
    pmid: str | None = None
    source: str | None = None


#: CommentsCorrections types that flag a problem with *this* article
RETRACTION_TYPES = {"RetractionIn"}
ERRATUM_TYPES = {"ErratumIn"}
CONCERN_TYPES = {"ExpressionOfConcernIn"}


@dataclass
class Article:
    """One work in the library, normalised from its source record."""

    pmid: str
    title: str = ""
    abstract_sections: list[AbstractSection] = field(default_factory=list)
    doi: str | None = None
    pmcid: str | None = None
    pii: str | None = None
    authors: list[str] = field(default_factory=list)
    journal: str | None = None
    journal_iso: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    pub_date: str | None = None  # as printed: "2019 Jan-Feb", "2022 Spring", "2021 Mar 4"
    year: int | None = None
    entrez_date: str | None = None  # ISO date the record entered PubMed
    languages: list[str] = field(default_factory=list)
    publication_types: list[PublicationType] = field(default_factory=list)
    mesh: list[MeshHeading] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    nct_ids: list[str] = field(default_factory=list)
    other_trial_ids: list[str] = field(default_factory=list)  # ISRCTN, EudraCT...
    corrections: list[Correction] = field(default_factory=list)
    citation_status: str | None = None  # MEDLINE, PubMed-not-MEDLINE, In-Process, Publisher...
    publication_status: str | None = None  # ppublish, epublish, aheadofprint
    is_book: bool = False
    # decided by kettrack.library.design
    design: str = "other"
    species: str | None = None  # "human", "animal", or None when unknown
    sample_size: int | None = None

    @property
    def abstract(self) -> str:
        """The abstract as one text, section labels kept ("METHODS: ...")."""
        parts = []
        for s in self.abstract_sections:
            parts.append(f"{s.label}: {s.text}" if s.label else s.text)
        return "\n".join(parts)

    @property
    def retracted(self) -> bool:
        return any(c.ref_type in RETRACTION_TYPES for c in self.corrections) or any(
            pt.name == "Retracted Publication" for pt in self.publication_types
        )

    @property
    def has_erratum(self) -> bool:
        return any(c.ref_type in ERRATUM_TYPES for c in self.corrections)

    @property
    def has_concern(self) -> bool:
        return any(c.ref_type in CONCERN_TYPES for c in self.corrections)

    @property
    def indexed(self) -> bool:
        """NLM has finished indexing this record (MeSH and publication types are final)."""
        return self.citation_status == "MEDLINE"

    @property
    def url(self) -> str | None:
        """PubMed link, or the DOI link for snapshot records without a real PMID."""
        if not is_reserved_pmid(self.pmid):
            return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"
        if self.doi:
            return f"https://doi.org/{self.doi}"
        return None

    def to_json(self) -> dict[str, Any]:
        """DESIGN.md's article keys first, then the detail keys.

        Built by hand rather than with ``dataclasses.asdict``: this runs for every
        stored record, and asdict's deep copies cost more than parsing does.
        """
        return {
            "pmid": self.pmid,
            "doi": self.doi,
            "pmcid": self.pmcid,
            "title": self.title,
            "journal": self.journal,
            "year": self.year,
            "authors": list(self.authors),
            "design": self.design,
            "nct_ids": list(self.nct_ids),
            "queries": [],
            "retracted": self.retracted,
            "url": self.url,
            "abstract_sections": [
                {"text": s.text, "label": s.label, "category": s.category}
                for s in self.abstract_sections
            ],
            "pii": self.pii,
            "journal_iso": self.journal_iso,
            "volume": self.volume,
            "issue": self.issue,
            "pages": self.pages,
            "pub_date": self.pub_date,
            "entrez_date": self.entrez_date,
            "languages": list(self.languages),
            "publication_types": [{"name": p.name, "ui": p.ui} for p in self.publication_types],
            "mesh": [
                {"descriptor": m.descriptor, "ui": m.ui, "major": m.major,
                 "qualifiers": [list(q) for q in m.qualifiers]}
                for m in self.mesh
            ],
            "keywords": list(self.keywords),
            "other_trial_ids": list(self.other_trial_ids),
            "corrections": [
                {"ref_type": c.ref_type, "pmid": c.pmid, "source": c.source}
                for c in self.corrections
            ],
            "citation_status": self.citation_status,
            "publication_status": self.publication_status,
            "is_book": self.is_book,
            "species": self.species,
            "sample_size": self.sample_size,
            "abstract": self.abstract,
            "has_erratum": self.has_erratum,
            "has_concern": self.has_concern,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Article:
        """Rebuild an Article from :meth:`to_json` (or the store's JSON columns)."""
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["abstract_sections"] = [
            AbstractSection(**s) for s in data.get("abstract_sections") or []]
        kwargs["publication_types"] = [
            PublicationType(**p) for p in data.get("publication_types") or []]
        kwargs["mesh"] = [
            MeshHeading(m["descriptor"], m.get("ui"), m.get("major", False),
                        [tuple(q) for q in m.get("qualifiers") or []])  # type: ignore[misc]
            for m in data.get("mesh") or []
        ]
        kwargs["corrections"] = [Correction(**c) for c in data.get("corrections") or []]
        return cls(**kwargs)
