"""Build kettrack's offline ClinicalTrials.gov snapshot from the trial corpus.

Reads ``data/corpus/trials.json`` (facts about registered trials) and
``data/corpus/publications.json`` (for the PMIDs of linked papers) and writes
``data/clinicaltrials/studies.json``: for each NCT-registered trial, one or
more *versions* of its API v2 record, each dated by the day it was posted, so
the stand-in (:mod:`kettrack.standin.ctgov`) can replay the registry week by week.

Every value comes from the corpus; the rules that turn corpus text into v2
fields, and the status histories (which are reconstructed, not registry
archives), are listed in ``data/clinicaltrials/README.md``. Deterministic:
the same inputs give the same bytes. Run from the repository root::

    python scripts/build_trials.py            # writes data/clinicaltrials/studies.json
    python scripts/build_trials.py --out FILE
"""

from __future__ import annotations

import argparse
import copy
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "corpus"
OUT = ROOT / "data" / "clinicaltrials" / "studies.json"

STATUSES = {
    "completed": "COMPLETED",
    "recruiting": "RECRUITING",
    "not yet recruiting": "NOT_YET_RECRUITING",
    "withdrawn": "WITHDRAWN",
    "terminated": "TERMINATED",
    "active, not recruiting": "ACTIVE_NOT_RECRUITING",
    "suspended": "SUSPENDED",
}
#: statuses a trial reaches on its completion date
CLOSING = {"COMPLETED", "TERMINATED", "WITHDRAWN"}

#: (pattern over title + official title + design + notes, condition); order kept
CONDITIONS = [
    (r"alcohol use disorder|\bAUD\b|disordered alcohol use|problem drinking",
     "Alcohol Use Disorder"),
    (r"alcohol[- ]dependen|alcoholic relapse", "Alcohol Dependence"),
    (r"alcoholism", "Alcoholism"),
    (r"alcohol abuse", "Alcohol Abuse"),
    (r"alcohol withdrawal", "Alcohol Withdrawal"),
    (r"major depressive disorder|\bMDD\b", "Major Depressive Disorder"),
    (r"depression", "Depression"),
    (r"suicid", "Suicidal Ideation"),
]
#: (pattern over title + design, intervention name, v2 intervention type)
INTERVENTIONS = [
    (r"(?<!es)ketamine", "Ketamine", "DRUG"),
    (r"esketamine", "Esketamine", "DRUG"),
    (r"naltrexone", "Naltrexone", "DRUG"),
    (r"midazolam", "Midazolam", "DRUG"),
    (r"saline", "Saline", "DRUG"),
    (r"placebo(?!-\s*controlled)", "Placebo", "DRUG"),
    (r"\bMET\b|motivational enhancement", "Motivational Enhancement Therapy", "BEHAVIORAL"),
    (r"\bMBRP\b", "Mindfulness-Based Relapse Prevention", "BEHAVIORAL"),
    (r"relapse[- ]prevention therapy|x therapy", "Relapse Prevention Therapy", "BEHAVIORAL"),
    (r"\bCBT\b", "Cognitive Behavioral Therapy", "BEHAVIORAL"),
]
_DATE = re.compile(r"^\d{4}-\d{2}(?:-\d{2})?")
_FIRST_POSTED = re.compile(r"first posted (\d{4}-\d{2}-\d{2})", re.IGNORECASE)
_RESULTS_POSTED = re.compile(r"results first posted (\d{4}-\d{2}-\d{2})", re.IGNORECASE)


def clean_date(text: str | None) -> str | None:
    """``2023-08-31 (listed end date)`` -> ``2023-08-31``; None when there is no date."""
    m = _DATE.match(text or "")
    return m.group(0) if m else None


def day(text: str) -> date:
    """A v2 date (``YYYY-MM`` or ``YYYY-MM-DD``) as a day; a month means its first day."""
    return date.fromisoformat(text if len(text) == 10 else text + "-01")


def status_of(text: str | None) -> str | None:
    """Corpus status text -> v2 ``overallStatus``: the first listed status wins."""
    if not text:
        return None
    head = text.split("(")[0].strip().lower()
    return STATUSES.get(head)


def phases_of(text: str | None) -> list[str]:
    """``Phase 1/Phase 2 (Veeva) / Phase 1 (Huxley)`` -> the first source's phases."""
    if not text:
        return []
    head = text.split(" (")[0].split(" / ")[0].strip()
    if head.upper() in ("N/A", "NA"):
        return ["NA"]
    return [f"PHASE{n}" for n in re.findall(r"Phase\s*(\d)", head, re.IGNORECASE)]


def allocation_of(design: str | None) -> str | None:
    text = (design or "").lower()
    if "non-randomi" in text:
        return "NON_RANDOMIZED"
    if "randomi" in text or re.search(r"\brct\b", text):
        return "RANDOMIZED"
    if "single-group" in text or "single-arm" in text:
        return "NA"
    return None


def matches(patterns: list[tuple[Any, ...]], text: str) -> list[tuple[Any, ...]]:
    return [p for p in patterns if re.search(p[0], text, re.IGNORECASE)]


def references(entry: dict[str, Any], pubs: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """Linked papers with a PMID in the corpus; "(probable)"/"(possible)" links are left out
    (the corpus matched those by design only, so a registry would not list them)."""
    out = []
    for key in entry.get("linked_publications") or []:
        if "(" in key:
            continue
        pub = pubs.get(key)
        if not pub or not pub.get("pmid"):
            continue
        citation = (f"{pub.get('first_author') or ''} et al. {pub.get('title') or ''} "
                    f"{pub.get('journal') or ''}. {pub.get('year') or ''}.")
        out.append({"pmid": str(pub["pmid"]), "type": "RESULT",
                    "citation": " ".join(citation.split())})
    return out


def final_study(entry: dict[str, Any], pubs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The v2 record as the corpus describes the trial today."""
    nct = entry["registry_id"]
    text = " ".join(str(entry.get(k) or "") for k in ("title", "official_title", "design",
                                                       "notes"))
    ident: dict[str, Any] = {"nctId": nct}
    for key, field in (("title", "briefTitle"), ("official_title", "officialTitle"),
                       ("acronym", "acronym")):
        if entry.get(key):
            ident[field] = entry[key]
    status: dict[str, Any] = {}
    final = status_of(entry.get("status"))
    if final:
        status["overallStatus"] = final
    start = clean_date(entry.get("start_date"))
    completion = clean_date(entry.get("completion_date"))
    if start:
        started = final not in ("NOT_YET_RECRUITING", "WITHDRAWN")
        status["startDateStruct"] = {"date": start, "type": "ACTUAL" if started else "ESTIMATED"}
    if completion:
        status["completionDateStruct"] = {
            "date": completion, "type": "ACTUAL" if final in CLOSING else "ESTIMATED"}
    design: dict[str, Any] = {"studyType": "INTERVENTIONAL"}
    phases = phases_of(entry.get("phase"))
    if phases:
        design["phases"] = phases
    allocation = allocation_of(entry.get("design"))
    if allocation:
        design["designInfo"] = {"allocation": allocation}
    if entry.get("enrollment") is not None:
        planned = re.search(r"target figure|planned figure|not the registry",
                            entry.get("notes") or "", re.IGNORECASE)
        actual = final in {"COMPLETED", "TERMINATED"} and not planned
        design["enrollmentInfo"] = {"count": int(entry["enrollment"]),
                                    "type": "ACTUAL" if actual else "ESTIMATED"}
    sponsors: dict[str, Any] = {}
    if entry.get("sponsor"):
        sponsors["leadSponsor"] = {"name": entry["sponsor"]}
    if entry.get("collaborators"):
        sponsors["collaborators"] = [{"name": c} for c in entry["collaborators"]]
    ps: dict[str, Any] = {"identificationModule": ident, "statusModule": status}
    if sponsors:
        ps["sponsorCollaboratorsModule"] = sponsors
    conditions = list(dict.fromkeys(c for _, c in matches(CONDITIONS, text)))
    if conditions:
        ps["conditionsModule"] = {"conditions": conditions}
    ps["designModule"] = design
    interventions = matches(INTERVENTIONS, text)
    if interventions:
        ps["armsInterventionsModule"] = {
            "interventions": [{"type": t, "name": n} for _, n, t in interventions]}
    refs = references(entry, pubs)
    if refs:
        ps["referencesModule"] = {"references": refs}
    has_results = bool(_RESULTS_POSTED.search(entry.get("notes") or ""))
    return {"protocolSection": ps, "hasResults": has_results}


def versions(entry: dict[str, Any], study: dict[str, Any]) -> list[dict[str, Any]]:
    """The dated versions of a study (see the README's "Status histories").

    The last version is ``study`` itself, plus its posting dates.
    """
    final_sm = study["protocolSection"]["statusModule"]
    notes = entry.get("notes") or ""
    final = final_sm.get("overallStatus")
    start = clean_date(entry.get("start_date"))
    completion = clean_date(entry.get("completion_date"))
    noted = _FIRST_POSTED.search(notes)
    results = _RESULTS_POSTED.search(notes)
    posted, posted_type = (noted.group(1), "ACTUAL") if noted else (start, "ESTIMATED")
    if posted is None:
        # No date at all: one undated version, present from the start of any replay.
        return [{"posted": None, "study": study}]
    posted_day = day(posted).isoformat()

    waiting = final in ("NOT_YET_RECRUITING", "WITHDRAWN")
    steps: list[tuple[str, dict[str, Any]]] = []  # (day, what changes that day)
    if start and (waiting or day(start) > day(posted)):
        steps.append((posted_day, {"overallStatus": "NOT_YET_RECRUITING"}))
        if not waiting:
            steps.append((day(start).isoformat(), {"overallStatus": "RECRUITING",
                                                   "start": "ACTUAL"}))
    elif start:
        steps.append((posted_day, {"overallStatus": "RECRUITING", "start": "ACTUAL"}))
    if completion and final in CLOSING and steps and day(completion) > day(steps[-1][0]):
        steps.append((day(completion).isoformat(), {"overallStatus": final,
                                                    "completion": "ACTUAL"}))
    if not steps or steps[-1][1]["overallStatus"] != final:
        # The corpus has no dates for how the final status was reached: no history.
        steps = [(posted_day, {"final": True})]
    if results:
        steps.append((results.group(1), {"hasResults": True}))

    current = copy.deepcopy(study)
    current["hasResults"] = False
    sm = current["protocolSection"]["statusModule"]
    sm.pop("overallStatus", None)
    for key in ("startDateStruct", "completionDateStruct"):
        if key in sm:
            sm[key]["type"] = "ESTIMATED"
    enrollment = current["protocolSection"]["designModule"].get("enrollmentInfo")
    final_enrollment = copy.deepcopy(enrollment)
    if enrollment:
        enrollment["type"] = "ESTIMATED"  # a trial's count is a target until it closes
    by_day: dict[str, dict[str, Any]] = {}
    for when, changes in sorted(steps, key=lambda s: s[0]):
        if changes.get("final"):
            current["protocolSection"]["statusModule"] = sm = copy.deepcopy(final_sm)
        if changes.get("overallStatus"):
            sm["overallStatus"] = changes["overallStatus"]
        if "start" in changes and "startDateStruct" in sm:
            sm["startDateStruct"]["type"] = changes["start"]
        if "completion" in changes and "completionDateStruct" in sm:
            sm["completionDateStruct"]["type"] = changes["completion"]
        if (changes.get("final") or changes.get("completion")) and enrollment:
            enrollment.update(final_enrollment or {})
        if changes.get("hasResults"):
            current["hasResults"] = True
        sm["studyFirstPostDateStruct"] = {"date": posted_day, "type": posted_type}
        sm["lastUpdatePostDateStruct"] = {"date": when, "type": "ACTUAL"}
        # Two steps on one day are one posted version (the later state).
        by_day[when] = {"posted": when, "study": copy.deepcopy(current)}
    return list(by_day.values())


def build(trials: list[dict[str, Any]], pubs: list[dict[str, Any]]) -> dict[str, Any]:
    by_id = {p["id"]: p for p in pubs}
    studies, skipped = [], []
    for entry in trials:
        nct = entry.get("registry_id") or ""
        if not re.fullmatch(r"NCT\d{8}", nct):
            skipped.append({"registry_id": nct, "registry": entry.get("registry"),
                            "reason": "not registered on ClinicalTrials.gov"})
            continue
        study = final_study(entry, by_id)
        studies.append({"nct_id": nct, "versions": versions(entry, study)})
    studies.sort(key=lambda s: s["nct_id"])
    return {"built_from": ["data/corpus/trials.json", "data/corpus/publications.json"],
            "studies": studies, "skipped": skipped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    trials = json.loads((CORPUS / "trials.json").read_text(encoding="utf-8"))
    pubs = json.loads((CORPUS / "publications.json").read_text(encoding="utf-8"))
    data = build(trials, pubs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    versions_total = sum(len(s["versions"]) for s in data["studies"])
    print(f"{args.out}: {len(data['studies'])} studies, {versions_total} versions, "
          f"{len(data['skipped'])} skipped")


if __name__ == "__main__":
    main()
