"""What is new since the last digest, in sections, and marking it reported.

A digest is built by :func:`collect` and recorded by :func:`mark`:

- **new articles** are those no marked digest has reported (plus, with
  ``since=DATE``, those first seen on or after DATE); each goes to the section
  its design belongs to (DESIGN.md): trials = rct, trial, protocol and
  registered trials; reviews = meta-analysis, systematic-review, review;
  studies = the rest;
- **registered trials** (the ``trials`` table, once the ClinicalTrials.gov
  source has created it) never reported before go to trials;
- **updates** are ``events`` rows no marked digest has reported (retractions,
  errata, expressions of concern, design / status / publication-type changes,
  deletions, trial status, results and completion changes) on articles or
  trials reported earlier, grouped per record. An event on a record that is new
  in the same digest is folded into that record's item instead.

:func:`mark` inserts the digest and all its items in one transaction; the CLI
calls it only after the digest was printed or the mail server accepted it, so a
digest that failed to reach anyone leaves nothing marked and the next one
repeats its items. :func:`rebuild` reads an earlier digest back, for re-sending.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from kettrack.errors import NotInLibrary
from kettrack.library.article import Article
from kettrack.library.store import Library, utcnow

SECTIONS = ("trials", "studies", "reviews", "updates")
TRIAL_DESIGNS = ("rct", "trial", "protocol")
REVIEW_DESIGNS = ("meta-analysis", "systematic-review", "review")
#: display order inside a section: strongest evidence first
DESIGN_ORDER = ("rct", "trial", "protocol", "meta-analysis", "systematic-review", "review",
                "observational", "case-report", "preclinical", "other")
BADGES = {"rct": "RCT", "trial": "Trial", "protocol": "Protocol", "meta-analysis": "Meta-analysis",
          "systematic-review": "Systematic review", "review": "Review",
          "observational": "Observational", "case-report": "Case report",
          "preclinical": "Preclinical", "other": "Other", "registered-trial": "Registered trial"}
#: events a reader is told about ("revised" alone, a cosmetic change, is not news)
UPDATE_KINDS = ("retracted", "erratum", "concern", "design_changed", "status_changed",
                "publication_types_changed", "deleted", "trial_status_changed",
                "trial_results_posted", "trial_completion_changed")
#: how many authors are named before "et al."
FIRST_AUTHORS = 3
_CHUNK = 500


def section_of(design: str) -> str:
    """The digest section an article of this design belongs to."""
    if design in TRIAL_DESIGNS:
        return "trials"
    if design in REVIEW_DESIGNS:
        return "reviews"
    return "studies"


@dataclass
class DigestItem:
    """One entry of a digest: an article, a registered trial, or a record's updates.

    ``data`` is the item's JSON form (DESIGN.md's article keys plus extras);
    ``event_ids`` are the ``events`` rows this item reports (folded into a new
    record, or the whole point of an update).
    """

    item_type: str  # 'article' or 'trial'
    item_id: str  # PMID or NCT number
    section: str
    data: dict[str, Any]
    event_ids: list[int] = field(default_factory=list)

    @property
    def retracted(self) -> bool:
        """The record is retracted (or this update reports its retraction)."""
        return bool(self.data.get("retracted"))


@dataclass
class Digest:
    """What is new, in sections, and since when."""

    since: str | None
    created_at: str
    sections: dict[str, list[DigestItem]]
    id: int | None = None

    @property
    def is_empty(self) -> bool:
        """Nothing new and nothing updated."""
        return not any(self.sections.values())

    def counts(self) -> dict[str, int]:
        """Items per section."""
        return {name: len(self.sections.get(name, [])) for name in SECTIONS}

    def items(self) -> Iterable[DigestItem]:
        """Every item, section by section."""
        for name in SECTIONS:
            yield from self.sections.get(name, [])

    def to_json(self) -> dict[str, Any]:
        """DESIGN.md's ``digest --format json`` shape."""
        return {"since": self.since, "created_at": self.created_at,
                "counts": self.counts(),
                "sections": {name: [item.data for item in self.sections.get(name, [])]
                             for name in SECTIONS}}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def headline(digest: Digest) -> str:
    """The counts in words, for titles and mail subjects:
    "3 new trials, 5 new studies, 1 new review, 2 updates" (or "nothing new")."""
    c = digest.counts()
    if digest.is_empty:
        return "nothing new"
    parts = [f"{c['trials']} new trial" + ("" if c["trials"] == 1 else "s"),
             f"{c['studies']} new stud" + ("y" if c["studies"] == 1 else "ies")]
    if c["reviews"]:
        parts.append(f"{c['reviews']} new review" + ("" if c["reviews"] == 1 else "s"))
    if c["updates"]:
        parts.append(_plural(c["updates"], "update"))
    return ", ".join(parts)


# ----------------------------------------------------------------------------- selection


def has_trials_table(library: Library) -> bool:
    """Whether the ClinicalTrials.gov source's ``trials`` table exists yet."""
    found = library.db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'trials'").fetchone()
    return found is not None


def last_digest(library: Library) -> dict[str, Any] | None:
    """The most recent marked digest's row, or None."""
    row = library.db.execute(
        "SELECT id, created_at, since, format, sent_to, status FROM digests "
        "ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    keys = ("id", "created_at", "since", "format", "sent_to", "status")
    out = dict(zip(keys, row, strict=True))
    out["sent_to"] = json.loads(out["sent_to"]) if out["sent_to"] else None
    return out


def collect(library: Library, since: date | None = None) -> Digest:
    """The digest of everything not yet reported (and, with ``since``, everything
    first seen on or after that day). Reads only; :func:`mark` records it."""
    previous = last_digest(library)
    since_label = since.isoformat() if since else (previous["created_at"] if previous else None)
    cutoff = since.isoformat() if since else None
    sections: dict[str, list[DigestItem]] = {name: [] for name in SECTIONS}

    new_pmids = _new_ids(library, "articles", "pmid", "article", cutoff)
    events = _unreported_events(library, cutoff)
    articles = _article_items(library, new_pmids)
    by_pmid = {item.item_id: item for item in articles}
    for item in articles:
        sections[item.section].append(item)

    trial_items: dict[str, DigestItem] = {}
    if has_trials_table(library):
        new_ncts = _new_ids(library, "trials", "nct_id", "trial", cutoff)
        for item in _trial_items(library, new_ncts):
            trial_items[item.item_id] = item
            sections["trials"].append(item)

    updates: dict[tuple[str, str], DigestItem] = {}
    pending_articles: dict[str, list[dict[str, Any]]] = {}
    pending_trials: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if event["pmid"]:
            target = by_pmid.get(event["pmid"])
            if target is None:
                pending_articles.setdefault(event["pmid"], []).append(event)
                continue
        elif event["nct_id"]:
            target = trial_items.get(event["nct_id"])
            if target is None:
                pending_trials.setdefault(event["nct_id"], []).append(event)
                continue
        else:
            continue
        _attach(target, event)
    for item in _article_items(library, list(pending_articles), section="updates"):
        for event in pending_articles[item.item_id]:
            _attach(item, event)
        updates[("article", item.item_id)] = item
    if pending_trials and has_trials_table(library):
        for item in _trial_items(library, list(pending_trials), section="updates"):
            for event in pending_trials[item.item_id]:
                _attach(item, event)
            updates[("trial", item.item_id)] = item
    sections["updates"] = sorted(updates.values(), key=_update_order)

    for name in ("trials", "studies", "reviews"):
        _sort_section(sections[name])
    return Digest(since=since_label, created_at=utcnow(), sections=sections)


def _new_ids(library: Library, table: str, key: str, item_type: str,
             cutoff: str | None) -> list[str]:
    sql = (f"SELECT {key} FROM {table} WHERE {key} NOT IN "
           "(SELECT item_id FROM digest_items WHERE item_type = ?)")
    params: list[Any] = [item_type]
    if cutoff:
        sql += " OR first_seen_at >= ?"
        params.append(cutoff)
    return [str(r[0]) for r in library.db.execute(sql, params)]


def _unreported_events(library: Library, cutoff: str | None) -> list[dict[str, Any]]:
    marks = ",".join("?" * len(UPDATE_KINDS))
    sql = (f"SELECT id, pmid, nct_id, kind, detail, created_at FROM events "
           f"WHERE kind IN ({marks}) AND (CAST(id AS TEXT) NOT IN "
           "(SELECT item_id FROM digest_items WHERE item_type = 'event')")
    params: list[Any] = list(UPDATE_KINDS)
    if cutoff:
        sql += " OR created_at >= ?"
        params.append(cutoff)
    sql += ") ORDER BY id"
    out = []
    for id_, pmid, nct_id, kind, detail, created_at in library.db.execute(sql, params):
        try:
            parsed = json.loads(detail or "{}")
        except ValueError:
            parsed = {}
        out.append({"id": id_, "pmid": pmid, "nct_id": nct_id, "kind": kind,
                    "detail": parsed, "created_at": created_at,
                    "summary": describe_event(kind, parsed)})
    return out


def _attach(item: DigestItem, event: dict[str, Any]) -> None:
    item.event_ids.append(int(event["id"]))
    item.data.setdefault("events", []).append(
        {k: event[k] for k in ("kind", "detail", "created_at", "summary")})
    if event["kind"] == "retracted":
        item.data["retracted"] = True


def describe_event(kind: str, detail: dict[str, Any]) -> str:
    """One human sentence for an ``events`` row."""
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
    return kind.replace("_", " ")


# ----------------------------------------------------------------------------- items


def _article_items(library: Library, pmids: Sequence[str],
                   section: str | None = None) -> list[DigestItem]:
    items = []
    for i in range(0, len(pmids), _CHUNK):
        chunk = list(pmids[i:i + _CHUNK])
        marks = ",".join("?" * len(chunk))
        names = library.query_names(chunk)
        for pmid, data in library.db.execute(
                f"SELECT pmid, data FROM articles WHERE pmid IN ({marks})", chunk):
            article = Article.from_json(json.loads(data))
            item_data = article_item(article, names.get(pmid, []))
            items.append(DigestItem("article", pmid, section or section_of(article.design),
                                    item_data))
    return items


def article_item(article: Article, queries: list[str]) -> dict[str, Any]:
    """An article's digest entry: DESIGN.md's keys, then what a reader needs."""
    authors = list(article.authors)
    return {
        "item_type": "article",
        "pmid": article.pmid,
        "doi": article.doi,
        "pmcid": article.pmcid,
        "title": article.title,
        "journal": article.journal,
        "year": article.year,
        "authors": authors,
        "design": article.design,
        "nct_ids": list(article.nct_ids),
        "queries": list(queries),
        "retracted": article.retracted,
        "url": article.url,
        "badge": BADGES.get(article.design, article.design),
        "species": article.species,
        "sample_size": article.sample_size,
        "first_authors": first_authors(authors),
        "pub_date": article.pub_date,
        "entrez_date": article.entrez_date,
        "conclusion": conclusion_of(article),
        "doi_url": f"https://doi.org/{article.doi}" if article.doi else None,
        "nct_urls": [trial_url(n) for n in article.nct_ids],
        "has_erratum": article.has_erratum,
        "has_concern": article.has_concern,
        "events": [],
    }


_TRIAL_COLUMNS = ("nct_id", "title", "overall_status", "phases", "enrollment", "sponsor",
                  "conditions", "start_date", "completion_date", "has_results", "first_seen_at")


def _trial_items(library: Library, ncts: Sequence[str],
                 section: str = "trials") -> list[DigestItem]:
    have = {r[1] for r in library.db.execute("PRAGMA table_info(trials)")}
    columns = [c for c in _TRIAL_COLUMNS if c in have]
    items = []
    for i in range(0, len(ncts), _CHUNK):
        chunk = list(ncts[i:i + _CHUNK])
        marks = ",".join("?" * len(chunk))
        names = _trial_query_names(library, chunk)
        for row in library.db.execute(
                f"SELECT {', '.join(columns)} FROM trials WHERE nct_id IN ({marks})", chunk):
            record = dict(zip(columns, row, strict=True))
            record["queries"] = names.get(str(record["nct_id"]), [])
            items.append(DigestItem("trial", str(record["nct_id"]), section, trial_item(record)))
    return items


def _trial_query_names(library: Library, ncts: Sequence[str]) -> dict[str, list[str]]:
    """NCT number -> the saved queries that found it (when the source records that)."""
    found = library.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                               "name = 'trial_memberships'").fetchone()
    out: dict[str, list[str]] = {}
    if not found:
        return out
    marks = ",".join("?" * len(ncts))
    for nct, name in library.db.execute(
            "SELECT DISTINCT m.nct_id, q.name FROM trial_memberships m JOIN query_versions q "
            f"ON q.id = m.query_version_id WHERE m.nct_id IN ({marks}) ORDER BY q.name",
            list(ncts)):
        out.setdefault(str(nct), []).append(name)
    return out


def _json_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return [value]
    return parsed if isinstance(parsed, list) else [parsed]


def trial_item(record: dict[str, Any]) -> dict[str, Any]:
    """A registered trial's digest entry."""
    nct = str(record["nct_id"])
    has_results = record.get("has_results")
    return {
        "item_type": "trial",
        "nct_id": nct,
        "title": record.get("title") or "",
        "overall_status": record.get("overall_status"),
        "phases": _json_list(record.get("phases")),
        "enrollment": record.get("enrollment"),
        "sponsor": record.get("sponsor"),
        "conditions": _json_list(record.get("conditions")),
        "start_date": record.get("start_date"),
        "completion_date": record.get("completion_date"),
        "has_results": bool(has_results) if has_results is not None else None,
        "url": trial_url(nct),
        "queries": list(record.get("queries") or []),
        "badge": BADGES["registered-trial"],
        "design": "registered-trial",
        "retracted": False,
        "events": [],
    }


def trial_url(nct_id: str) -> str:
    """The ClinicalTrials.gov page of a registered trial."""
    return f"https://clinicaltrials.gov/study/{nct_id}"


def first_authors(authors: Sequence[str], n: int = FIRST_AUTHORS) -> str:
    """"A, B, C et al." (or all of them when there are no more than ``n``)."""
    if not authors:
        return ""
    if len(authors) <= n:
        return ", ".join(authors)
    return ", ".join(authors[:n]) + " et al."


# a sentence ends at . ! ? followed by space and a capital, unless the dot closes a
# common abbreviation or a single initial
_SENTENCE_END = re.compile(
    r"(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\bet al)(?<!\bFig)(?<!\b[A-Z])[.!?]"
    r"(?=\s+[\"'(\[]?[A-Z0-9])")


# sentences and labelled sections that close an abstract without concluding anything
_NOT_A_CONCLUSION = re.compile(
    r"^(?:trial registration|registration|clinical ?trials?\.gov|prospero|funding|"
    r"copyright|\u00a9|\(c\)|published by|this article is protected|keywords?)\b|"
    r"^[^a-z]*(?:NCT\d{8}|ISRCTN\d+)[^a-z]*$",
    re.IGNORECASE)


def _sentences(text: str) -> list[str]:
    text = " ".join(text.split())
    out, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        out.append(text[start:match.end()].strip())
        start = match.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def _concluding(text: str) -> list[str]:
    return [s for s in _sentences(text) if not _NOT_A_CONCLUSION.search(s)]


def conclusion_of(article: Article) -> str:
    """The CONCLUSIONS section when the abstract is labelled, else its last sentence.

    Registration numbers, funding and copyright lines are not conclusions and are
    left out.
    """
    for section in reversed(article.abstract_sections):
        category = (section.category or "").upper()
        label = (section.label or "").upper()
        if category == "CONCLUSIONS" or label.startswith(("CONCLUSION", "INTERPRETATION")):
            kept = _concluding(section.text)
            if kept:
                return " ".join(kept)
    for section in reversed(article.abstract_sections):
        if section.label and _NOT_A_CONCLUSION.search(section.label):
            continue
        kept = _concluding(section.text)
        if kept:
            return kept[-1]
    return ""


def _sort_section(items: list[DigestItem]) -> None:
    """Strongest design first; within a design, newest entry first."""
    items.sort(key=lambda item: item.item_id)
    items.sort(key=lambda item: item.data.get("entrez_date") or item.data.get("start_date") or "",
               reverse=True)
    items.sort(key=lambda item: DESIGN_ORDER.index(item.data["design"])
               if item.data.get("design") in DESIGN_ORDER else len(DESIGN_ORDER))


def _update_order(item: DigestItem) -> tuple[int, str, str]:
    # retractions first: they change what a reader should believe
    return (0 if item.retracted else 1, item.item_type, item.item_id)


# ----------------------------------------------------------------------------- marking


def mark(library: Library, digest: Digest, *, format: str,
         sent_to: Sequence[str] | None = None) -> int:
    """Record ``digest`` and every item (and event) it reported, in one transaction.

    Call only once the digest was printed, or the mail server accepted it.
    Returns the new digest's id.
    """
    rows: list[tuple[str, str, str]] = []
    for item in digest.items():
        rows.append((item.item_type, item.item_id, item.section))
        rows.extend(("event", str(e), item.section) for e in item.event_ids)
    with library.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO digests (created_at, since, format, sent_to, status) "
            "VALUES (?, ?, ?, ?, ?)",
            (digest.created_at, digest.since, format,
             json.dumps(list(sent_to)) if sent_to else None, "sent" if sent_to else "printed"))
        digest_id = int(cur.lastrowid or 0)
        conn.executemany(
            "INSERT OR IGNORE INTO digest_items (digest_id, item_type, item_id, section) "
            "VALUES (?, ?, ?, ?)", [(digest_id, *row) for row in rows])
    digest.id = digest_id
    return digest_id


def rebuild(library: Library, digest_id: int) -> Digest:
    """An earlier marked digest, read back from its items (to re-send it).

    Records are shown as they are now (a later retraction shows); the events
    it reported are re-attached to their records.
    """
    row = library.db.execute("SELECT created_at, since FROM digests WHERE id = ?",
                             (digest_id,)).fetchone()
    if row is None:
        raise NotInLibrary(f"digest {digest_id}: no such digest in the library")
    sections: dict[str, list[DigestItem]] = {name: [] for name in SECTIONS}
    listed = library.db.execute(
        "SELECT item_type, item_id, section FROM digest_items WHERE digest_id = ?",
        (digest_id,)).fetchall()
    event_ids = [int(i) for t, i, _ in listed if t == "event"]
    events: dict[int, dict[str, Any]] = {}
    for i in range(0, len(event_ids), _CHUNK):
        chunk = event_ids[i:i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for id_, pmid, nct_id, kind, detail, created_at in library.db.execute(
                "SELECT id, pmid, nct_id, kind, detail, created_at FROM events "
                f"WHERE id IN ({marks})", chunk):
            parsed = json.loads(detail or "{}")
            events[id_] = {"id": id_, "pmid": pmid, "nct_id": nct_id, "kind": kind,
                           "detail": parsed, "created_at": created_at,
                           "summary": describe_event(kind, parsed)}
    by_key: dict[tuple[str, str], DigestItem] = {}
    for item_type, item_id, section in listed:
        if item_type == "article":
            found = _article_items(library, [item_id], section=section)
        elif item_type == "trial" and has_trials_table(library):
            found = _trial_items(library, [item_id], section=section)
        else:
            continue
        for item in found:
            by_key[(item_type, item_id)] = item
            sections[section].append(item)
    for event in events.values():
        key = ("article", event["pmid"]) if event["pmid"] else ("trial", event["nct_id"])
        if key in by_key:
            _attach(by_key[key], event)
    for name in ("trials", "studies", "reviews"):
        _sort_section(sections[name])
    sections["updates"].sort(key=_update_order)
    return Digest(since=row[1], created_at=row[0], sections=sections, id=digest_id)
