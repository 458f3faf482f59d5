"""The works of the library as every command sees them: typed items.

A work in the library is one of a few kinds, each a dataclass wrapping its
source model with what the library knows about it (the saved queries that
found it, when it was first seen and updated, its history of events, its
links to other works):

- :class:`ArticleItem`: a published work (:class:`~kettrack.library.article.Article`);
- :class:`TrialItem`: a registered trial (:class:`~kettrack.library.trial.Trial`).

Search, check, digest, show and export take and return these; renderers
(``kettrack.render``) branch on the item's type, never on which keys a dict
happens to have. A new source adds a source module, perhaps a new kind here,
and its renderers, not a new path through every command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from kettrack.library.article import Article
from kettrack.library.identifiers import public_pmid
from kettrack.library.trial import REGISTERED_DESIGN, Trial, evidence_note, trial_flags
from kettrack.library.watches import Watch

#: fewer than this many participants is flagged ``small-sample``
SMALL_SAMPLE = 30
#: article flags, in the order they are shown, and the words every output uses for them
FLAG_WORDS = {
    "retracted": "RETRACTED",
    "erratum": "erratum published",
    "expression-of-concern": "EXPRESSION OF CONCERN",
    "animal-only": "animal study only",
    "small-sample": f"small sample (n < {SMALL_SAMPLE})",
    "protocol-without-results": "protocol, no results in the library",
    "registered-only": "registered trial, not a publication",
    "under-way": "still under way",
    "stopped": "stopped early",
    "results-posted": "results posted on ClinicalTrials.gov",
    "no-results-posted": "no results posted",
}


@dataclass(frozen=True)
class Event:
    """One change the library recorded about a work (``events`` row)."""

    id: int
    kind: str
    detail: dict[str, Any]
    created_at: str
    run_id: int | None = None

    @property
    def summary(self) -> str:
        """One human sentence for this event."""
        return describe_event(self.kind, self.detail)


def describe_event(kind: str, detail: dict[str, Any]) -> str:
    """One human sentence for an event of ``kind``."""
    def by() -> str:
        refs = [str(p) for p in detail.get("by") or [] if p]
        return f" (notice PMID {', '.join(refs)})" if refs else ""

    if kind == "retracted":
        return "RETRACTED" + by()
    if kind == "erratum":
        return "erratum published" + by()
    if kind == "concern":
        return "expression of concern published" + by()
    if kind == "design_changed":
        return f"design now {detail.get('to')} (was {detail.get('from')})"
    if kind == "status_changed":
        if detail.get("to") == "MEDLINE":
            return "indexed by NLM (MEDLINE)"
        return f"citation status now {detail.get('to')} (was {detail.get('from')})"
    if kind == "publication_types_changed":
        parts = []
        if detail.get("added"):
            parts.append("added " + ", ".join(detail["added"]))
        if detail.get("removed"):
            parts.append("removed " + ", ".join(detail["removed"]))
        return "publication types " + ("; ".join(parts) or "changed")
    if kind == "deleted":
        return "deleted from PubMed"
    if kind == "trial_status_changed":
        return f"trial status now {detail.get('to')} (was {detail.get('from')})"
    if kind == "trial_results_posted":
        return "results posted on ClinicalTrials.gov"
    if kind == "trial_completion_changed":
        if "to" in detail:
            return f"completion date now {detail.get('to')} (was {detail.get('from')})"
        return "completion date changed"
    if kind == "revised":
        return "revised at the source"
    return kind.replace("_", " ")


@dataclass(frozen=True)
class TrialLink:
    """A registered trial linked to an article, with its current status."""

    nct_id: str
    #: how the link is known: "paper" (the article names it), "registry" (the
    #: registry lists the article), or both
    via: tuple[str, ...]
    trial: Trial | None = None  # None when the library does not hold the trial

    @property
    def in_library(self) -> bool:
        return self.trial is not None


@dataclass(frozen=True)
class PublicationLink:
    """A publication linked to a registered trial."""

    pmid: str
    via: tuple[str, ...]
    article: Article | None = None  # None when the library does not hold it

    @property
    def in_library(self) -> bool:
        return self.article is not None


def article_flags(article: Article, *, protocol_has_results: bool = False) -> list[str]:
    """What a writer must know before leaning on ``article``."""
    out = []
    if article.retracted:
        out.append("retracted")
    if article.has_erratum:
        out.append("erratum")
    if article.has_concern:
        out.append("expression-of-concern")
    if article.species == "animal" or (article.design == "preclinical"
                                       and article.species != "human"):
        out.append("animal-only")
    if article.sample_size is not None and article.sample_size < SMALL_SAMPLE and (
            article.species != "animal"):
        out.append("small-sample")
    if article.design == "protocol" and not protocol_has_results:
        out.append("protocol-without-results")
    return out


@dataclass
class ArticleItem:
    """A published work and what the library knows about it."""

    kind: ClassVar[str] = "article"

    article: Article
    queries: list[str] = field(default_factory=list)
    first_seen_at: str | None = None
    updated_at: str | None = None
    fetched_at: str | None = None
    events: list[Event] = field(default_factory=list)
    trials: list[TrialLink] = field(default_factory=list)
    #: another work in the library reports results of a trial this protocol registered
    protocol_has_results: bool = False
    #: the watched papers (``watch add``) this work cites, as the watch runs saw it
    cites_watched: list[Watch] = field(default_factory=list)
    #: the watch on this work itself, and how many citing papers its runs have seen
    watched_as: Watch | None = None
    cited_by_count: int = 0

    @property
    def id(self) -> str:
        return self.article.pmid

    @property
    def key(self) -> tuple[str, str]:
        return ("article", self.article.pmid)

    @property
    def title(self) -> str:
        return self.article.title

    @property
    def design(self) -> str:
        return self.article.design

    @property
    def year(self) -> int | None:
        return self.article.year

    @property
    def retracted(self) -> bool:
        return self.article.retracted

    @property
    def url(self) -> str | None:
        return self.article.url

    @property
    def pmid(self) -> str | None:
        """The PMID to show (None for a snapshot-only identifier)."""
        return public_pmid(self.article.pmid)

    @property
    def flags(self) -> list[str]:
        return article_flags(self.article, protocol_has_results=self.protocol_has_results)

    @property
    def date(self) -> str:
        """The day the work entered the library's source (for ordering)."""
        return self.article.entrez_date or ""


@dataclass
class TrialItem:
    """A registered trial and what the library knows about it."""

    kind: ClassVar[str] = "trial"

    trial: Trial
    queries: list[str] = field(default_factory=list)
    first_seen_at: str | None = None
    updated_at: str | None = None
    fetched_at: str | None = None
    events: list[Event] = field(default_factory=list)
    publications: list[PublicationLink] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.trial.nct_id

    @property
    def key(self) -> tuple[str, str]:
        return ("trial", self.trial.nct_id)

    @property
    def title(self) -> str:
        return self.trial.title

    @property
    def design(self) -> str:
        return REGISTERED_DESIGN

    @property
    def year(self) -> int | None:
        return self.trial.year

    @property
    def retracted(self) -> bool:
        return False

    @property
    def url(self) -> str:
        return self.trial.url

    @property
    def pmid(self) -> None:
        return None

    @property
    def flags(self) -> list[str]:
        return trial_flags(self.trial)

    @property
    def date(self) -> str:
        return self.trial.start_date or self.trial.first_posted or ""

    @property
    def evidence(self) -> str:
        """What this registry record can tell a writer (one sentence)."""
        return evidence_note(self.trial, [
            (p.pmid, p.article.design if p.article else None, p.in_library)
            for p in self.publications])


Item = ArticleItem | TrialItem
