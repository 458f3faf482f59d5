"""A registered trial: what a ClinicalTrials.gov study is to the library.

:func:`normalise` turns a CT.gov API v2 study into a :class:`Trial`;
:func:`compare` says what a revision amounts to, as ``events`` kinds:

- ``trial_status_changed`` ``{"from", "to"}``: the overall status changed;
- ``trial_results_posted`` ``{}``: results appeared on the registry;
- ``trial_completion_changed`` ``{"from", "to"}``: the completion date moved.

A registered trial is not published evidence; :func:`evidence_note` and
:func:`trial_flags` say what one can tell a writer, in the one wording every
output uses, and :func:`status_words` is the one reading of CT.gov's statuses.
Every field of a Trial comes from the registry, so :meth:`Trial.source_hash`
hashes them all (:mod:`kettrack.library.records`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from kettrack.library.identifiers import pmid_label, trial_url, valid_nct, valid_pmid
from kettrack.library.records import record_hash
from kettrack.text import one_line

#: statuses under which a trial has not produced evidence yet
ONGOING_STATUSES = frozenset({
    "NOT_YET_RECRUITING", "RECRUITING", "ENROLLING_BY_INVITATION", "ACTIVE_NOT_RECRUITING",
})
#: a registered trial stopped before it produced results
STOPPED_STATUSES = frozenset({"TERMINATED", "SUSPENDED", "WITHDRAWN"})
#: CT.gov's words, as a reader would say them
STATUS_WORDS = {
    "NOT_YET_RECRUITING": "not yet recruiting",
    "RECRUITING": "recruiting",
    "ENROLLING_BY_INVITATION": "enrolling by invitation",
    "ACTIVE_NOT_RECRUITING": "active, not recruiting",
    "SUSPENDED": "suspended",
    "TERMINATED": "terminated",
    "COMPLETED": "completed",
    "WITHDRAWN": "withdrawn",
    "UNKNOWN": "unknown (not verified recently)",
}
#: the ``design`` a registered trial carries among results: not a study design, a
#: registry record, ranked after every published design
REGISTERED_DESIGN = "registered-trial"


def status_words(status: str | None) -> str:
    """``RECRUITING`` -> ``recruiting``; None -> ``status not known``."""
    if not status:
        return "status not known"
    return STATUS_WORDS.get(status, status.lower().replace("_", " "))


@dataclass
class Trial:
    """One registered trial, as the registry describes it."""

    nct_id: str
    title: str = ""
    official_title: str | None = None
    acronym: str | None = None
    overall_status: str | None = None
    phases: list[str] = field(default_factory=list)
    allocation: str | None = None
    enrollment: int | None = None
    enrollment_type: str | None = None
    sponsor: str | None = None
    collaborators: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    interventions: list[str] = field(default_factory=list)
    start_date: str | None = None
    start_date_type: str | None = None
    primary_completion_date: str | None = None
    primary_completion_type: str | None = None
    completion_date: str | None = None
    completion_type: str | None = None
    first_posted: str | None = None
    last_update_posted: str | None = None
    has_results: bool = False
    reference_pmids: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return trial_url(self.nct_id)

    @property
    def ongoing(self) -> bool:
        """Still under way: no evidence yet."""
        return self.overall_status in ONGOING_STATUSES

    @property
    def year(self) -> int | None:
        """The year first posted (what a registry record is dated by)."""
        year = (self.first_posted or "")[:4]
        return int(year) if year.isdigit() else None

    def source_fields(self) -> dict[str, Any]:
        """Every field: all of them are the registry's."""
        return asdict(self)

    def source_hash(self) -> str:
        """The fingerprint of what the registry said."""
        return record_hash(self.source_fields())

    def to_record(self) -> dict[str, Any]:
        """What the library stores (the same as :meth:`source_fields`)."""
        return self.source_fields()

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Trial:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return one_line(value) or None if value is not None else None


def _date(struct: Any) -> tuple[str | None, str | None]:
    struct = _dict(struct)
    return _str(struct.get("date")), _str(struct.get("type"))


def normalise(study: dict[str, Any]) -> Trial:
    """A v2 study (``{"protocolSection": ..., "hasResults": ...}``) as a :class:`Trial`.

    Tolerates a fields-limited answer: absent modules leave their fields empty.
    Raises ``ValueError`` when the study has no NCT number.
    """
    ps = _dict(study.get("protocolSection"))
    ident = _dict(ps.get("identificationModule"))
    status = _dict(ps.get("statusModule"))
    design = _dict(ps.get("designModule"))
    sponsors = _dict(ps.get("sponsorCollaboratorsModule"))
    nct = _str(ident.get("nctId"))
    if not nct or not valid_nct(nct.upper()):
        raise ValueError(f"a study without a valid identificationModule.nctId ({nct!r})")
    enrollment = _dict(design.get("enrollmentInfo"))
    count = enrollment.get("count")
    start, start_type = _date(status.get("startDateStruct"))
    primary, primary_type = _date(status.get("primaryCompletionDateStruct"))
    completion, completion_type = _date(status.get("completionDateStruct"))
    posted, _ = _date(status.get("studyFirstPostDateStruct"))
    updated, _ = _date(status.get("lastUpdatePostDateStruct"))
    interventions = []
    for item in _list(_dict(ps.get("armsInterventionsModule")).get("interventions")):
        name = _str(_dict(item).get("name"))
        if name and name not in interventions:
            interventions.append(name)
    pmids = []
    for ref in _list(_dict(ps.get("referencesModule")).get("references")):
        pmid = _str(_dict(ref).get("pmid"))
        if pmid and valid_pmid(pmid) and pmid not in pmids:
            pmids.append(pmid)
    return Trial(
        nct_id=nct.upper(),
        title=_str(ident.get("briefTitle")) or "",
        official_title=_str(ident.get("officialTitle")),
        acronym=_str(ident.get("acronym")),
        overall_status=_str(status.get("overallStatus")),
        phases=[p for v in _list(design.get("phases")) if (p := _str(v))],
        allocation=_str(_dict(design.get("designInfo")).get("allocation")),
        enrollment=int(count) if isinstance(count, int) else None,
        enrollment_type=_str(enrollment.get("type")),
        sponsor=_str(_dict(sponsors.get("leadSponsor")).get("name")),
        collaborators=[n for c in _list(sponsors.get("collaborators"))
                       if (n := _str(_dict(c).get("name")))],
        conditions=[c for v in _list(_dict(ps.get("conditionsModule")).get("conditions"))
                    if (c := _str(v))],
        interventions=interventions,
        start_date=start, start_date_type=start_type,
        primary_completion_date=primary, primary_completion_type=primary_type,
        completion_date=completion, completion_type=completion_type,
        first_posted=posted, last_update_posted=updated,
        has_results=bool(study.get("hasResults")),
        reference_pmids=pmids,
    )


def compare(old: Trial, new: Trial) -> list[tuple[str, dict[str, Any]]]:
    """The events a revision of a registry record amounts to (may be empty)."""
    events: list[tuple[str, dict[str, Any]]] = []
    if new.overall_status != old.overall_status:
        events.append(("trial_status_changed",
                       {"from": old.overall_status, "to": new.overall_status}))
    if new.has_results and not old.has_results:
        events.append(("trial_results_posted", {}))
    if new.completion_date != old.completion_date:
        events.append(("trial_completion_changed",
                       {"from": old.completion_date, "to": new.completion_date}))
    return events


def evidence_note(trial: Trial, publications: Sequence[tuple[str, str | None, bool]]) -> str:
    """What a registered trial can tell a writer, in one sentence.

    Still under way: not evidence yet. Completed without results posted: says
    so. Results posted: points to the linked publications (``publications``:
    (pmid, design or None, in the library) triples).
    """
    status = trial.overall_status
    papers = "; ".join(
        pmid_label(pmid) + (f" ({design})" if design else "" if held else " (not in the library)")
        for pmid, design, held in publications)
    if status in ONGOING_STATUSES:
        note = f"still under way ({status_words(status)}): not evidence yet"
        if trial.has_results:
            note += "; early results posted on ClinicalTrials.gov"
    elif trial.has_results:
        return "results posted on ClinicalTrials.gov; " + (
            f"see its publications: {papers}" if papers else "no linked publication yet")
    elif status == "COMPLETED":
        note = "completed, no results posted on ClinicalTrials.gov"
    elif status in STOPPED_STATUSES:
        note = f"{status_words(status)} before completion, no results posted"
    else:
        note = f"{status_words(status)}, no results posted"
    return note + (f"; linked publications: {papers}" if papers else "")


def trial_flags(trial: Trial) -> list[str]:
    """``registered-only`` always (a registry record, not a publication), then
    ``under-way``, ``stopped``, ``results-posted`` or ``no-results-posted``."""
    flags = ["registered-only"]
    if trial.overall_status in ONGOING_STATUSES:
        flags.append("under-way")
    elif trial.overall_status in STOPPED_STATUSES:
        flags.append("stopped")
    flags.append("results-posted" if trial.has_results else "no-results-posted")
    return flags
