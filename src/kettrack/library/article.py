"""The normalised record of a published work: :class:`Article`.

``kettrack.sources.pubmed`` builds Articles from PubMed XML; the library
(``kettrack.library.store``) stores them. What is stored is
:meth:`Article.to_record` (the source's fields plus kettrack's judgements:
design, species, sample size); what identifies a revision is
:meth:`Article.source_hash` (the source's fields alone, see
:mod:`kettrack.library.records`). Public output is built elsewhere
(``kettrack.render.json``), so adding an output key changes nothing stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kettrack.library.identifiers import doi_url, pubmed_url
from kettrack.library.records import record_hash
from kettrack.text import sentences


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


@dataclass
class VersionLink:
    """Europe PMC's link from one version of a work to another ("preprint in",
    "preprint of"): the other record's source (``PPR``, ``MED``...) and id."""

    relation: str
    source: str
    id: str
    doi: str | None = None


#: CommentsCorrections types that flag a problem with *this* article
RETRACTION_TYPES = {"RetractionIn", "WithdrawalIn"}
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
    #: the authors' institutions, each once, in author order (see :data:`UNHASHED_FIELDS`)
    affiliations: list[str] = field(default_factory=list)
    nct_ids: list[str] = field(default_factory=list)
    other_trial_ids: list[str] = field(default_factory=list)  # ISRCTN, EudraCT...
    corrections: list[Correction] = field(default_factory=list)
    citation_status: str | None = None  # MEDLINE, PubMed-not-MEDLINE, In-Process, Publisher...
    publication_status: str | None = None  # ppublish, epublish, aheadofprint
    is_book: bool = False
    # Europe PMC (kettrack.sources.europepmc); defaults for PubMed records
    epmc_source: str | None = None  # MED, PPR, PMC...: the record came from Europe PMC
    epmc_id: str | None = None
    is_preprint: bool = False  # not peer reviewed
    preprint_server: str | None = None  # medRxiv, bioRxiv, Research Square...
    version: str | None = None  # the preprint server's version number
    withdrawn: bool = False  # a withdrawn preprint: as unmistakable as a retraction
    version_links: list[VersionLink] = field(default_factory=list)
    revised_on: str | None = None  # Europe PMC's dateOfRevision
    # decided by kettrack.library.design
    design: str = "other"
    species: str | None = None  # "human", "animal", or None when unknown
    sample_size: int | None = None  # participants (or animals) randomised or included
    studies: int | None = None  # for a review: the studies it included

    @property
    def abstract(self) -> str:
        """The abstract as one text, section labels kept ("METHODS: ...")."""
        parts = []
        for s in self.abstract_sections:
            parts.append(f"{s.label}: {s.text}" if s.label else s.text)
        return "\n".join(parts)

    @property
    def retracted(self) -> bool:
        """Retracted, or (a preprint) withdrawn: either way, not to be cited."""
        return self.withdrawn or any(
            c.ref_type in RETRACTION_TYPES for c in self.corrections) or any(
            pt.name == "Retracted Publication" for pt in self.publication_types)

    @property
    def preprint(self) -> bool:
        """Not peer reviewed: a preprint from Europe PMC, or a PubMed record of
        publication type Preprint."""
        return self.is_preprint or any(p.name == "Preprint" for p in self.publication_types)

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
        return pubmed_url(self.pmid) or doi_url(self.doi)

    def source_fields(self) -> dict[str, Any]:
        """What the source said, normalised: every field but kettrack's judgements
        (:data:`DERIVED_FIELDS`). The input of :meth:`source_hash`.

        Built by hand rather than with ``dataclasses.asdict``: this runs for every
        stored record, and asdict's deep copies cost more than parsing does.
        """
        return {
            "pmid": self.pmid,
            "title": self.title,
            "abstract_sections": [
                {"text": s.text, "label": s.label, "category": s.category}
                for s in self.abstract_sections
            ],
            "doi": self.doi,
            "pmcid": self.pmcid,
            "pii": self.pii,
            "authors": list(self.authors),
            "journal": self.journal,
            "journal_iso": self.journal_iso,
            "volume": self.volume,
            "issue": self.issue,
            "pages": self.pages,
            "pub_date": self.pub_date,
            "year": self.year,
            "entrez_date": self.entrez_date,
            "languages": list(self.languages),
            "publication_types": [{"name": p.name, "ui": p.ui} for p in self.publication_types],
            "mesh": [
                {"descriptor": m.descriptor, "ui": m.ui, "major": m.major,
                 "qualifiers": [list(q) for q in m.qualifiers]}
                for m in self.mesh
            ],
            "keywords": list(self.keywords),
            "nct_ids": list(self.nct_ids),
            "other_trial_ids": list(self.other_trial_ids),
            "corrections": [
                {"ref_type": c.ref_type, "pmid": c.pmid, "source": c.source}
                for c in self.corrections
            ],
            "citation_status": self.citation_status,
            "publication_status": self.publication_status,
            "is_book": self.is_book,
            **self._preprint_fields(),
        }

    def _preprint_fields(self) -> dict[str, Any]:
        """The Europe PMC fields, only when set: a PubMed record's fingerprint is
        what it was before kettrack knew Europe PMC."""
        if not (self.epmc_source or self.is_preprint or self.withdrawn or self.version_links):
            return {}
        return {
            "epmc_source": self.epmc_source,
            "epmc_id": self.epmc_id,
            "is_preprint": self.is_preprint,
            "preprint_server": self.preprint_server,
            "version": self.version,
            "withdrawn": self.withdrawn,
            "version_links": [{"relation": v.relation, "source": v.source, "id": v.id,
                               "doi": v.doi} for v in self.version_links],
            "revised_on": self.revised_on,
        }

    def source_hash(self) -> str:
        """The fingerprint of what the source said (:func:`records.record_hash`)."""
        return record_hash(self.source_fields())

    def to_record(self) -> dict[str, Any]:
        """What the library stores: the source's fields and kettrack's judgements."""
        record = self.source_fields()
        record["affiliations"] = list(self.affiliations)
        record.update(design=self.design, species=self.species, sample_size=self.sample_size,
                      studies=self.studies)
        return record

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Article:
        """Rebuild an Article from :meth:`to_record` (unknown keys, as older
        versions stored, are ignored)."""
        known = cls.__dataclass_fields__
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
        kwargs["version_links"] = [VersionLink(**v) for v in data.get("version_links") or []]
        return cls(**kwargs)


#: source fields stored but kept out of :meth:`Article.source_hash`: affiliations came
#: after libraries already held records, and fingerprinting them would make every
#: stored record look revised on its next fetch (an event, a digest "update") though
#: nothing a reader is told about changed. A changed affiliation alone rewrites the
#: row without an event, as a better classifier's judgement does.
UNHASHED_FIELDS = ("affiliations",)

#: the fields kettrack decides (``kettrack.library.design``), not the source
DERIVED_FIELDS = ("design", "species", "sample_size", "studies")


# sentences and labelled sections that close an abstract without concluding anything
_NOT_A_CONCLUSION = re.compile(
    r"^(?:trial registration|registration|clinical ?trials?\.gov|prospero|funding|"
    r"copyright|\u00a9|\(c\)|published by|this article is protected|keywords?)\b|"
    r"^[^a-z]*(?:NCT\d{8}|ISRCTN\d+)[^a-z]*$",
    re.IGNORECASE)


def _concluding(text: str) -> list[str]:
    return [s for s in sentences(text) if not _NOT_A_CONCLUSION.search(s)]


#: labelled sections that conclude (NLM category CONCLUSIONS, or these labels)
_CONCLUDING_LABELS = ("CONCLUSION", "INTERPRETATION", "IMPLICATION", "SUMMARY AND CONCLUSION",
                      "MAIN CONCLUSION", "CLINICAL RELEVANCE", "CONCLUSIONS AND RELEVANCE")
# a last sentence that states an aim or a method, not a finding
_NOT_CONCLUDING = re.compile(
    r"^(?:to (?:examine|evaluate|assess|determine|investigate|compare|explore|describe|test|"
    r"identify|review|estimate)|(?:the|our|this) (?:aim|objective|purpose|goal)s?\b|"
    r"(?:this|the present|the current|our) (?:study|trial|review|paper|article) "
    r"(?:aims?|aimed|will|seeks?|sought|examines|examined|evaluates|evaluated|investigates|"
    r"investigated|describes|protocol)\b|we (?:aim|aimed|will|sought|seek|examined|"
    r"investigated|evaluated|assessed|enrolled|recruited|randomi[sz]ed)\b)",
    re.IGNORECASE)
# a last sentence in which the paper describes itself ("This review examines...", "It
# included 118 trials", "As its title indicates, it considers..."): what it covers, not
# what it concludes
_SELF_DESCRIBING = re.compile(
    r"^(?:as [^,]{0,40}, )?(?:it |(?:this|the present|the current|our) (?:[\w-]+,? ){0,8}?|"
    r"the (?:[\w-]+ ){0,3}?(?:review|study|trial|report|article|paper|commentary|editorial|"
    r"statement|chapter|analysis|overview|update|letter|authors?)\b,? (?:[^,]{0,60}, )?)"
    r"(?:\w+ly )?"
    r"(?:describes?|discuss(?:es)?|considers?|examines?|summari[sz]es?|reviews?|compares?|"
    r"maps?|warns?|notes?|highlights?|cites?|covers?|outlines?|presents?|reports?|ends?|"
    r"included|includes|appeared|was published|published|focuses|addresses|explores)\b",
    re.IGNORECASE)
# what a sentence that concludes says: an inference ("suggest", "may"), a judgement
# ("effective", "safe", "promising"), a finding's direction ("reduced", "did not") or
# the words of concluding ("in conclusion", "taken together")
_CONCLUDING_CUE = re.compile(
    r"\b(?:conclu\w*|in summary|taken together|overall|together,|thus|therefore|hence|"
    r"suggest\w*|indicat\w*|impl(?:y|ies|ied)|support\w*|demonstrat\w*|show(?:s|ed|n)?|"
    r"reveal\w*|confirm\w*|may|might|could|can(?:not)?|appears?|seems?|likely|unlikely|"
    r"promising|warrant\w*|should|need(?:s|ed)?|recommend\w*|further|future|"
    r"effective\w*|efficac\w*|safe(?:ly|ty)?|tolerated|benefi\w*|useful|feasible|"
    r"associated|related|linked|predict\w*|reduc\w*|increas\w*|decreas\w*|improv\w*|"
    r"wors\w*|lower\w*|higher|greater|fewer|less|more|enhanc\w*|impair\w*|prevent\w*|"
    r"did not|does not|do not|neither|no (?:significant|difference|effect|evidence|"
    r"association|correlation|relationship|change)|necessary|essential|evident|reliable|"
    r"differ\w*|important|role|evidence (?:for|of|that)|findings?|results?)\b",
    re.IGNORECASE)


def _concludes(sentence: str) -> bool:
    """An unlabelled last sentence reads as a conclusion: no aim or method, no
    description of the paper by itself, and a concluding word."""
    return not (_NOT_CONCLUDING.search(sentence) or _SELF_DESCRIBING.search(sentence)) and bool(
        _CONCLUDING_CUE.search(sentence))


def conclusion_of(article: Article) -> str:
    """The abstract's conclusion, or "" when it states none.

    A structured abstract's CONCLUSIONS (or INTERPRETATION...) section; a
    structured abstract without one has no conclusion to show (its last
    section is an objective, a method or a result). An unstructured abstract's
    last sentence when it reads as one: it draws an inference or states a finding
    ("Ketamine may help", "did not reduce relapse"), and neither states an aim or a
    method ("To examine whether...", "We enrolled...") nor describes the paper
    ("This review examines...", "Eleven studies were included"). Registration
    numbers, funding and copyright lines are never conclusions.
    """
    structured = any(s.label or s.category for s in article.abstract_sections)
    for section in reversed(article.abstract_sections):
        category = (section.category or "").upper()
        label = (section.label or "").upper()
        if category == "CONCLUSIONS" or label.startswith(_CONCLUDING_LABELS):
            kept = _concluding(section.text)
            if kept:
                return " ".join(kept)
    if structured:
        return ""
    for section in reversed(article.abstract_sections):
        kept = _concluding(section.text)
        if kept:
            return kept[-1] if _concludes(kept[-1]) else ""
    return ""
