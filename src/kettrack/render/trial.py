"""Showing one registered trial (``kettrack show NCT…``): plain text, or rich on a terminal.

A display module: it takes the dict :func:`kettrack.library.trial.trial_json` builds
and prints it; it reads nothing from the library itself.
"""

from __future__ import annotations

from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape

from kettrack.library.article import pmid_label

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


def status_word(status: str | None) -> str:
    """``RECRUITING`` -> ``recruiting``; None -> ``status not known``."""
    if not status:
        return "status not known"
    return STATUS_WORDS.get(status, status.lower().replace("_", " "))


def _dated(value: str | None, kind: str | None) -> str:
    if not value:
        return "?"
    return f"{value} ({kind.lower()})" if kind else value


def _phases(phases: list[str]) -> str:
    if not phases:
        return "?"
    return "/".join("n/a" if p == "NA" else p.replace("PHASE", "phase ").replace(
        "EARLY_phase 1", "early phase 1") for p in phases)


def trial_lines(data: dict[str, Any]) -> list[str]:
    """The trial as lines of plain text."""
    title = data.get("title") or "(title not in the registry snapshot)"
    if data.get("acronym") and data["acronym"] not in title:
        title += f" ({data['acronym']})"
    lines = [title, f"{data['nct_id']} | {status_word(data.get('overall_status'))}"]
    if data.get("ongoing"):
        lines.append("still under way: no results yet, not evidence")
    if data.get("has_results"):
        lines.append("results posted on ClinicalTrials.gov")
    enrol = data.get("enrollment")
    enrolment = "?" if enrol is None else (
        f"{enrol} ({data['enrollment_type'].lower()})" if data.get("enrollment_type")
        else str(enrol))
    lines.append(f"phase: {_phases(data.get('phases') or [])}  allocation: "
                 f"{(data.get('allocation') or '?').lower()}  enrolment: {enrolment}")
    if data.get("sponsor"):
        lines.append(f"sponsor: {data['sponsor']}")
    if data.get("conditions"):
        lines.append("conditions: " + "; ".join(data["conditions"]))
    if data.get("interventions"):
        lines.append("interventions: " + "; ".join(data["interventions"]))
    lines.append(f"start: {_dated(data.get('start_date'), data.get('start_date_type'))}  "
                 f"completion: {_dated(data.get('completion_date'), data.get('completion_type'))}")
    lines.append(f"first posted: {data.get('first_posted') or '?'}  last update: "
                 f"{data.get('last_update_posted') or '?'}")
    if data.get("queries"):
        lines.append("found by: " + ", ".join(data["queries"]))
    papers = data.get("publications") or []
    lines.append("publications:" if papers else "publications: none linked yet")
    for p in papers:
        how = " and ".join(f"named by the {w}" for w in p.get("via", []))
        title = p.get("title") or "(not in the library)"
        year = f" ({p['year']})" if p.get("year") else ""
        design = f" [{p['design']}]" if p.get("design") else ""
        lines.append(f"  {pmid_label(p['pmid'])}{year}{design}: {title}"
                     + (f"; {how}" if how else ""))
    if data.get("events"):
        lines.append("changes seen at the registry:")
    for event in data.get("events") or []:
        lines.append("  " + event_line(data["nct_id"], event))
    lines.append(data.get("url") or f"https://clinicaltrials.gov/study/{data['nct_id']}")
    return lines


def event_line(nct_id: str, event: dict[str, Any]) -> str:
    """One trial event as the digest words it: ``NCT…: RECRUITING → COMPLETED``."""
    detail = event.get("detail") or {}
    kind = event.get("kind")
    if kind == "trial_status_changed":
        return f"{nct_id}: {detail.get('from') or '?'} → {detail.get('to') or '?'}"
    if kind == "trial_results_posted":
        return f"{nct_id}: results posted"
    if kind == "trial_completion_changed":
        return f"{nct_id}: completion {detail.get('from') or '?'} → {detail.get('to') or '?'}"
    return f"{nct_id}: {kind}"


def print_trial(data: dict[str, Any], stream: TextIO, *, rich: bool) -> None:
    """Print a trial (rich: title in bold, status coloured by whether it is under way)."""
    lines = trial_lines(data)
    if not rich:
        for line in lines:
            print(line, file=stream)
        return
    console = Console(file=stream, highlight=False, soft_wrap=False)
    colour = "yellow" if data.get("ongoing") else "green"
    console.print(f"[bold]{escape(lines[0])}[/]")
    console.print(f"[{colour}]{escape(lines[1])}[/]")
    for line in lines[2:]:
        console.print(escape(line))


def trials_lines(trials: list[dict[str, Any]]) -> list[str]:
    """``show PMID``'s "registered trials" lines, from :func:`registry.trials_for_article`."""
    out = []
    for t in trials:
        status = status_word(t.get("overall_status")) if t.get("title") is not None \
            else "not in the library"
        extra = "; under way, not evidence yet" if t.get("ongoing") else ""
        extra += "; results posted" if t.get("has_results") else ""
        out.append(f"{t['nct_id']}: {status}{extra}")
    return out
