"""Every JSON shape kettrack prints: the project's own contract for other tools.

Each shape is declared in :data:`SHAPES` (its keys, in order, and what each
means) and built by one function here from the typed models; ``docs/json.md``
is generated from :data:`SHAPES` (``cog -r docs/json.md``), and a test builds
every shape from a real library and checks it has exactly the declared keys,
so the documentation cannot drift from what is printed.

Every work has one base shape whatever command prints it (:func:`item_json`):
``article`` or ``trial``, told apart by ``item_type``. Commands add their own
keys to it (``score`` and ``snippet`` for search, ``relevance`` and ``quotes``
for check, ``section`` and ``news`` in a digest).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kettrack.library.article import Article, conclusion_of
from kettrack.library.identifiers import doi_url, public_pmid, pubmed_url, trial_url
from kettrack.library.items import ArticleItem, Event, Item, TrialItem, TrialLink

if TYPE_CHECKING:
    from kettrack.digest.collect import Digest, DigestEntry
    from kettrack.library.watches import Watch
    from kettrack.queries import SavedQuery
    from kettrack.run.runner import RunReport
    from kettrack.tools.check import CheckResult, Evidence
    from kettrack.tools.search import SearchHit
    from kettrack.tools.show import PublicationsOf
    from kettrack.tools.watch import Similar

#: how each design is named where a badge is shown
BADGES = {"rct": "RCT", "trial": "Trial", "protocol": "Protocol", "meta-analysis": "Meta-analysis",
          "systematic-review": "Systematic review", "review": "Review",
          "observational": "Observational", "case-report": "Case report",
          "preclinical": "Preclinical", "other": "Other", "registered-trial": "Registered trial"}


def badge_of(article: Article) -> str:
    """The design as a badge shows it, saying so when the work is a preprint
    ("Observational (preprint, not peer reviewed)")."""
    badge = BADGES.get(article.design, article.design)
    return f"{badge} (preprint, not peer reviewed)" if article.preprint else badge


def design_label(article: Article) -> str:
    """The design in terminal lines: the vocabulary word, and "preprint" when it is one."""
    return f"{article.design}, preprint" if article.preprint else article.design


def size_words(article: Article) -> str | None:
    """The sample as a reader sees it: "n=90"; for a review "n=854 in 11 studies"
    or "11 studies"; None when the abstract states none."""
    n = f"n={article.sample_size}" if article.sample_size else None
    if article.studies:
        studies = f"{article.studies} {'study' if article.studies == 1 else 'studies'}"
        return f"{n} in {studies}" if n else studies
    return n


#: how many authors are named before "et al."
FIRST_AUTHORS = 3


@dataclass(frozen=True)
class Shape:
    """One documented JSON shape: its keys in order, each with its meaning."""

    name: str
    where: str
    keys: dict[str, str]
    #: "item": an article's or a trial's keys come first (by its ``item_type``)
    extends: str | None = None

    def keys_for(self, item_type: str | None = None) -> list[str]:
        """The keys an object of this shape has, in order (for an item-based shape,
        those of the ``item_type`` it wraps first)."""
        inherited = list(SHAPES[item_type].keys) if self.extends and item_type else []
        return [*inherited, *self.keys]


_EVENT = {
    "id": "the event's number in the library",
    "kind": "retracted, erratum, concern, design_changed, status_changed, "
            "publication_types_changed, revised, deleted, trial_status_changed, "
            "trial_results_posted, trial_completion_changed",
    "detail": "what changed, e.g. {\"from\": \"RECRUITING\", \"to\": \"COMPLETED\"}",
    "created_at": "when the library recorded it (ISO 8601, UTC)",
    "run_id": "the run that recorded it",
    "summary": "one sentence for people",
}
_LIBRARY_KEYS = {
    "queries": "names of the saved queries that found it",
    "first_seen_at": "when this library first stored it (ISO 8601, UTC)",
    "updated_at": "when its source last revised it (null: never)",
    "fetched_at": "when it was last fetched",
    "events": "its history, oldest first: list of event objects",
}

SHAPES: dict[str, Shape] = {}


def _shape(shape: Shape) -> Shape:
    SHAPES[shape.name] = shape
    return shape


_shape(Shape("event", "inside every work's `events`, and a digest entry's `news`", _EVENT))
_shape(Shape("article", "a published work, wherever one is printed", {
    "item_type": "always \"article\"",
    "id": "the library's key for it: its PMID (also for snapshot-only records)",
    "pmid": "PubMed ID (null for a snapshot-only record, which has none)",
    "doi": "DOI, normalised: lower case, no resolver prefix",
    "pmcid": "PubMed Central ID (PMC...)",
    "title": "title",
    "journal": "journal (or the book of a chapter)",
    "year": "publication year",
    "authors": "list of \"Lastname Initials\" (or collective names)",
    "design": "rct, trial, protocol, meta-analysis, systematic-review, review, observational, "
              "case-report, preclinical or other",
    "nct_ids": "NCT numbers the record names",
    "retracted": "true when retracted",
    "url": "PubMed page, or the DOI link for a snapshot-only record",
    "badge": "the design as a badge shows it (\"RCT\", \"Case report\"; for a preprint "
             "\"RCT (preprint, not peer reviewed)\")",
    "species": "human, animal, or null when not stated",
    "sample_size": "participants (or animals) randomised or included, when stated; for a "
                   "review, the participants of its included studies",
    "studies": "for a review or meta-analysis, the studies it included, when stated",
    "preprint": "true for a preprint, not peer reviewed (a Europe PMC preprint record, or "
                "PubMed publication type Preprint)",
    "flags": "what a writer must know: retracted, withdrawn, preprint, erratum, "
             "expression-of-concern, animal-only, small-sample, protocol-without-results",
    "has_erratum": "an erratum was published",
    "has_concern": "an expression of concern was published",
    "abstract": "the abstract as one text, section labels kept",
    "abstract_sections": "list of {text, label, category}",
    "conclusion": "the abstract's conclusion: its CONCLUSIONS section, or the last sentence of "
                  "an unstructured abstract when it draws an inference or states a finding "
                  "(not an aim, a method or the paper describing itself); \"\" when none",
    "first_authors": "the first three authors and \"et al.\"",
    "journal_iso": "NLM's ISO journal abbreviation",
    "volume": "volume", "issue": "issue", "pages": "pages as printed (\"152-162\")",
    "pub_date": "publication date as printed (\"2022 Feb\", \"1998 Dec-1999 Jan\")",
    "entrez_date": "the day it entered PubMed (YYYY-MM-DD)",
    "doi_url": "the DOI's resolver link",
    "pii": "publisher item identifier",
    "languages": "language codes",
    "publication_types": "NLM publication types: list of {name, ui}",
    "mesh": "MeSH headings: list of {descriptor, ui, major, qualifiers}",
    "keywords": "author keywords",
    "other_trial_ids": "other registry numbers (ISRCTN, EudraCT ...)",
    "corrections": "CommentsCorrections links: list of {ref_type, pmid, source}",
    "citation_status": "MEDLINE once NLM has indexed it; In-Process, Publisher ... before",
    "publication_status": "ppublish, epublish, aheadofprint",
    "is_book": "a book or book chapter",
    "preprint_server": "medRxiv, bioRxiv, Research Square ... for a preprint from Europe PMC",
    "withdrawn": "a withdrawn preprint (also retracted: true): do not cite",
    "versions": "its versions from Europe PMC: list of {id, kind (preprint, journal), server, "
                "version, doi, posted, link, withdrawn}, and probable versions {id, kind: "
                "probable, link, evidence}",
    "trials": "registered trials linked to it: list of {nct_id, title, overall_status, "
              "has_results, ongoing, in_library, url, via}",
    "cites_watched": "the watched papers it cites (see docs/watch.md): list of "
                     "{name, label, pmid}",
    "watched_as": "the watch on this paper itself: {name, citing} (citing papers seen), "
                  "or null",
    **_LIBRARY_KEYS,
}))
_shape(Shape("trial", "a registered trial, wherever one is printed", {
    "item_type": "always \"trial\"",
    "id": "its NCT number",
    "pmid": "always null (a registry record is not a publication)",
    "doi": "always null", "pmcid": "always null",
    "title": "brief title",
    "journal": "always null",
    "year": "the year first posted",
    "authors": "always []",
    "design": "always \"registered-trial\"",
    "nct_ids": "[its NCT number]",
    "retracted": "always false",
    "url": "its ClinicalTrials.gov page",
    "badge": "\"Registered trial\"",
    "species": "always null", "sample_size": "always null (see enrollment)",
    "flags": "registered-only, then under-way or stopped, then results-posted or "
             "no-results-posted",
    "nct_id": "NCT number",
    "official_title": "official title", "acronym": "acronym",
    "overall_status": "CT.gov's status: RECRUITING, COMPLETED, TERMINATED ...",
    "status": "the status in words (\"active, not recruiting\")",
    "ongoing": "still under way: not evidence yet",
    "evidence": "one sentence on what it can tell a writer",
    "phases": "list: PHASE1, PHASE2 ... (NA: not applicable)",
    "allocation": "RANDOMIZED, NON_RANDOMIZED, NA",
    "enrollment": "participants enrolled (or planned)",
    "enrollment_type": "ACTUAL or ESTIMATED",
    "sponsor": "lead sponsor", "collaborators": "collaborators",
    "conditions": "conditions", "interventions": "intervention names",
    "start_date": "start date", "start_date_type": "ACTUAL or ESTIMATED",
    "primary_completion_date": "primary completion date",
    "primary_completion_type": "ACTUAL or ESTIMATED",
    "completion_date": "completion date", "completion_type": "ACTUAL or ESTIMATED",
    "first_posted": "first posted (YYYY-MM-DD)",
    "last_update_posted": "last update posted",
    "has_results": "results posted on ClinicalTrials.gov",
    "reference_pmids": "PMIDs the registry record cites",
    "linked_pmids": "PMIDs linked either way (papers naming it, then the registry's)",
    "publications": "those publications: list of {pmid, title, year, design, in_library, "
                    "url, via}",
    **_LIBRARY_KEYS,
}))
_shape(Shape("search_hit", "each item of `search --json` (an article or a trial, plus these)", {
    "score": "BM25, higher is better; 0 for a registered trial, which follows the articles",
    "match_score": "its BM25 among its own kind (articles, or trials)",
    "snippet": "the matching passage, matched words as **word**",
}, extends="item"))
_shape(Shape("check_hit", "each item of `check --json` (an article or a trial, plus these)", {
    "score": "the score it ranks with, 0..1: the claim's wording it holds (rare words "
             "counting more) blended with BM25; a registered trial's is 0.1 lower",
    "relevance": "the weighted share of the claim's concepts it matches, 0..1",
    "closeness": "how closely it matches, in words (\"matches most of the claim; not: "
                 "growth\")",
    "bm25": "its BM25 for the claim's words",
    "matched": "the claim's concepts it matches",
    "quotes": "the sentences that bear on the claim, its findings first",
    "stance": "supports, contradicts, no-clear-effect or unclear (always unclear for a "
              "registered trial or a protocol)",
    "notes": "where the study and the claim differ (dose, diagnosis, species, institution)",
    "best_sentences": "the same as quotes (older name)",
    "citation": "a Vancouver citation (a registry citation for a trial)",
}, extends="item"))
_shape(Shape("digest", "`digest --format json`", {
    "since": "what the digest covers: the last digest's time, or the --since day; null for "
             "the first digest",
    "created_at": "when it was made (ISO 8601, UTC)",
    "counts": "entries per section: {trials, studies, reviews, updates}",
    "sections": "{\"trials\": [...], \"studies\": [...], \"reviews\": [...], "
                "\"updates\": [...]}: lists of digest entries",
    "citing_watched": "new works citing a watched paper, per watch: list of "
                      "{name, label, pmid, ids} (the works are in the sections too)",
    "screening": "per living review with new records to screen: {review, new, awaiting}",
}))
_shape(Shape("digest_entry", "each entry of a digest section (an article or a trial, plus these)",
             {"section": "trials, studies, reviews or updates",
              "news": "the events this digest reports about it: list of event objects"},
             extends="item"))
_shape(Shape("run", "`run --json`", {
    "status": "ok (a failed run exits non-zero and prints an error instead)",
    "queries": "per saved query: list of run query objects",
    "new_total": "distinct articles new to the library (a paper two queries found counts once)",
    "updated_total": "distinct stored articles their source revised",
    "new_trials": "registered trials new to the library",
    "updated_trials": "registered trials the registry revised",
    "run_id": "the run's number in the library",
    "requests": "HTTP requests this run sent (retries included)",
    "fetched": "records fetched because they were new",
    "refetched": "records fetched again because NLM had not finished indexing them",
    "missing": "PMIDs NCBI did not return (tried again next run)",
    "deleted": "PMIDs NCBI deleted",
    "events": "events recorded",
    "corrections_requests": "requests the retraction / erratum / concern check cost",
    "corrections": "that check: {checked, found, refetched, events, skipped}",
    "watches": "citation watches asked (0 when the run named queries)",
    "watch_requests": "requests the watch step's citation sources sent (ELink: one per "
                      "200 watched papers)",
    "europepmc_requests": "requests sent to Europe PMC (in requests too): one per 1000 hits "
                          "per Europe PMC query",
}))
_shape(Shape("run_query", "each of `run --json`'s queries", {
    "name": "the saved query",
    "count": "its hit count at the source",
    "new": "hits that were not in the library before this run",
    "updated": "hits their source revised in this run",
    "source": "pubmed, clinicaltrials, europepmc, or watch (a citation watch, named cited-by:NAME)",
    "translation": "how the source read the term (NCBI's translation; CT.gov's parameters)",
    "errors": "terms NCBI could not find and dropped: {PhraseNotFound: [...], ...}",
    "warnings": "NCBI's warnings: {OutputMessage: [...], ...}",
    "backfill": "this run was the query version's first",
}))
_shape(Shape("watch", "each item of `watch list --json`; `watch add --json`", {
    "name": "the watch's name (its citing papers have the membership cited-by:NAME)",
    "membership": "cited-by:NAME",
    "id": "the watched paper's library key (its PMID, or a snapshot identifier offline)",
    "pmid": "its PMID (null for a snapshot-only identifier)",
    "given": "what was typed to add it (PMID, DOI or PMCID)",
    "label": "how digests name it (\"Grabski 2022\")",
    "created_at": "when it was added (ISO 8601, UTC)",
    "citing": "citing papers the watch's runs have seen (watch list only)",
}))
_shape(Shape("similar", "`similar ID --json`", {
    "id": "the paper asked about (library key)", "pmid": "its PMID (null: snapshot-only)",
    "held": "how many of PubMed's similar articles the library already holds",
    "added": "PMIDs stored by --add (membership similar:PMID)",
    "similar": "the others, best first: list of {id, pmid, score, title, year, url}",
}))
_shape(Shape("query", "each item of `queries list --json`", {
    "name": "the query's name (its file name)", "source": "pubmed, clinicaltrials or europepmc",
    "description": "description", "tags": "tags", "term": "the search term",
    "version": "a hash of source and term: a changed term is a new version",
}))
_shape(Shape("query_check", "each item of `queries check --json`", {
    "name": "the query's name", "source": "pubmed, clinicaltrials or europepmc",
    "count": "its hit count at the source now",
    "translation": "how the source reads it",
    "params": "the query.* parameters sent (registry queries; {} for PubMed)",
    "errors": "terms NCBI dropped", "warnings": "warnings",
}))
_shape(Shape("citation", "`show ID --cite STYLE --json` (a list for an NCT number's papers)", {
    "id": "the work's id", "style": "vancouver, apa or ama", "citation": "the citation",
}))
_shape(Shape("publications_of", "`show NCT... --json` when the library holds papers naming the "
             "trial but not its registry record", {
                 "nct_id": "the NCT number",
                 "publications": "the papers that name it, oldest first: list of articles",
             }))
_shape(Shape("stats", "`stats --json`", {
    "articles": "articles held", "retracted": "of which retracted",
    "designs": "{design: count}", "queries": "[{name, articles}]",
    "events": "events recorded", "trials": "registered trials held",
    "deleted": "PMIDs NCBI deleted", "runs": "runs recorded",
    "last_run": "{id, started_at, finished_at, status, new, updated} or null",
}))


# ----------------------------------------------------------------------------- builders


def event_json(event: Event) -> dict[str, Any]:
    """An event object."""
    return {"id": event.id, "kind": event.kind, "detail": event.detail,
            "created_at": event.created_at, "run_id": event.run_id, "summary": event.summary}


def _library_keys(item: Item) -> dict[str, Any]:
    return {"queries": list(item.queries), "first_seen_at": item.first_seen_at,
            "updated_at": item.updated_at, "fetched_at": item.fetched_at,
            "events": [event_json(e) for e in item.events]}


def first_authors(authors: Sequence[str], n: int = FIRST_AUTHORS) -> str:
    """"A, B, C et al." (or all of them when there are no more than ``n``)."""
    if len(authors) <= n:
        return ", ".join(authors)
    return ", ".join(authors[:n]) + " et al."


def _trial_link_json(link: TrialLink) -> dict[str, Any]:
    t = link.trial
    return {"nct_id": link.nct_id, "title": t.title if t else None,
            "overall_status": t.overall_status if t else None,
            "has_results": t.has_results if t else False,
            "ongoing": bool(t and t.ongoing), "in_library": t is not None,
            "url": trial_url(link.nct_id), "via": list(link.via)}


def article_json(item: ArticleItem) -> dict[str, Any]:
    """The ``article`` shape."""
    a = item.article
    return {
        "item_type": "article",
        "id": a.pmid,
        "pmid": public_pmid(a.pmid),
        "doi": a.doi,
        "pmcid": a.pmcid,
        "title": a.title,
        "journal": a.journal,
        "year": a.year,
        "authors": list(a.authors),
        "design": a.design,
        "nct_ids": list(a.nct_ids),
        "retracted": a.retracted,
        "url": a.url,
        "badge": badge_of(a),
        "species": a.species,
        "sample_size": a.sample_size,
        "studies": a.studies,
        "preprint": a.preprint,
        "flags": item.flags,
        "has_erratum": a.has_erratum,
        "has_concern": a.has_concern,
        "abstract": a.abstract,
        "abstract_sections": [{"text": s.text, "label": s.label, "category": s.category}
                              for s in a.abstract_sections],
        "conclusion": conclusion_of(a),
        "first_authors": first_authors(a.authors),
        "journal_iso": a.journal_iso,
        "volume": a.volume,
        "issue": a.issue,
        "pages": a.pages,
        "pub_date": a.pub_date,
        "entrez_date": a.entrez_date,
        "doi_url": doi_url(a.doi),
        "pii": a.pii,
        "languages": list(a.languages),
        "publication_types": [{"name": p.name, "ui": p.ui} for p in a.publication_types],
        "mesh": [{"descriptor": m.descriptor, "ui": m.ui, "major": m.major,
                  "qualifiers": [list(q) for q in m.qualifiers]} for m in a.mesh],
        "keywords": list(a.keywords),
        "other_trial_ids": list(a.other_trial_ids),
        "corrections": [{"ref_type": c.ref_type, "pmid": c.pmid, "source": c.source}
                        for c in a.corrections],
        "citation_status": a.citation_status,
        "publication_status": a.publication_status,
        "is_book": a.is_book,
        "preprint_server": a.preprint_server,
        "withdrawn": a.withdrawn,
        "versions": [dict(v) for v in item.versions],
        "trials": [_trial_link_json(t) for t in item.trials],
        "cites_watched": [{"name": w.name, "label": w.label, "pmid": public_pmid(w.pmid)}
                          for w in item.cites_watched],
        "watched_as": ({"name": item.watched_as.name, "citing": item.cited_by_count}
                       if item.watched_as else None),
        **_library_keys(item),
    }


def trial_json(item: TrialItem) -> dict[str, Any]:
    """The ``trial`` shape."""
    from kettrack.library.trial import REGISTERED_DESIGN, status_words

    t = item.trial
    return {
        "item_type": "trial",
        "id": t.nct_id,
        "pmid": None,
        "doi": None,
        "pmcid": None,
        "title": t.title,
        "journal": None,
        "year": t.year,
        "authors": [],
        "design": REGISTERED_DESIGN,
        "nct_ids": [t.nct_id],
        "retracted": False,
        "url": t.url,
        "badge": BADGES[REGISTERED_DESIGN],
        "species": None,
        "sample_size": None,
        "flags": item.flags,
        "nct_id": t.nct_id,
        "official_title": t.official_title,
        "acronym": t.acronym,
        "overall_status": t.overall_status,
        "status": status_words(t.overall_status),
        "ongoing": t.ongoing,
        "evidence": item.evidence,
        "phases": list(t.phases),
        "allocation": t.allocation,
        "enrollment": t.enrollment,
        "enrollment_type": t.enrollment_type,
        "sponsor": t.sponsor,
        "collaborators": list(t.collaborators),
        "conditions": list(t.conditions),
        "interventions": list(t.interventions),
        "start_date": t.start_date,
        "start_date_type": t.start_date_type,
        "primary_completion_date": t.primary_completion_date,
        "primary_completion_type": t.primary_completion_type,
        "completion_date": t.completion_date,
        "completion_type": t.completion_type,
        "first_posted": t.first_posted,
        "last_update_posted": t.last_update_posted,
        "has_results": t.has_results,
        "reference_pmids": list(t.reference_pmids),
        "linked_pmids": [p.pmid for p in item.publications],
        "publications": [{
            "pmid": public_pmid(p.pmid), "title": p.article.title if p.article else None,
            "year": p.article.year if p.article else None,
            "design": p.article.design if p.article else None, "in_library": p.in_library,
            "url": (p.article.url if p.article else pubmed_url(p.pmid)), "via": list(p.via),
        } for p in item.publications],
        **_library_keys(item),
    }


def item_json(item: Item) -> dict[str, Any]:
    """The base shape of any work: ``article`` or ``trial``."""
    if isinstance(item, TrialItem):
        return trial_json(item)
    return article_json(item)


def search_json(hits: Sequence[SearchHit]) -> list[dict[str, Any]]:
    """``search --json``."""
    from kettrack.tools.search import marked

    out = []
    for hit in hits:
        data = item_json(hit.item)
        data.update(score=hit.score,
                    match_score=hit.match_score if hit.match_score is not None else hit.score,
                    snippet=marked(hit.snippet))
        out.append(data)
    return out


def evidence_json(found: Evidence) -> dict[str, Any]:
    """One item of ``check --json``."""
    from kettrack.tools.cite import cite_item

    data = item_json(found.item)
    data.update(score=found.score, relevance=found.relevance, closeness=found.closeness,
                bm25=found.bm25, matched=[c.label for c in found.matched],
                quotes=list(found.sentences), stance=found.stance, notes=list(found.notes),
                best_sentences=list(found.sentences), citation=cite_item(found.item))
    return data


def check_json(result: CheckResult) -> list[dict[str, Any]]:
    """``check --json``: best first; empty when nothing bears on the claim."""
    return [evidence_json(e) for e in result.ranked]


def entry_json(entry: DigestEntry) -> dict[str, Any]:
    """One digest entry."""
    data = item_json(entry.item)
    data.update(section=entry.section, news=[event_json(e) for e in entry.news])
    return data


def digest_json(digest: Digest) -> dict[str, Any]:
    """``digest --format json``."""
    from kettrack.digest.collect import SECTIONS

    return {"since": digest.since, "created_at": digest.created_at, "counts": digest.counts(),
            "sections": {name: [entry_json(e) for e in digest.sections.get(name, [])]
                         for name in SECTIONS},
            "citing_watched": [{"name": w.name, "label": w.label, "pmid": public_pmid(w.pmid),
                                "ids": [e.item.id for e in entries]}
                               for w, entries in digest.citing_watched()],
            "screening": [{"review": name, "new": n, "awaiting": total}
                          for name, n, total in digest.screening]}


def run_json(report: RunReport) -> dict[str, Any]:
    """``run --json``."""
    return {
        "status": report.status,
        "queries": [{"name": q.name, "count": q.count, "new": q.new, "updated": q.updated,
                     "source": q.source, "translation": q.translation, "errors": q.errors,
                     "warnings": q.warnings, "backfill": q.backfill} for q in report.queries],
        "new_total": report.new_total,
        "updated_total": report.updated_total,
        "new_trials": report.new_trials,
        "updated_trials": report.updated_trials,
        "run_id": report.run_id,
        "requests": report.requests,
        "fetched": report.fetched,
        "refetched": report.refetched,
        "missing": report.missing,
        "deleted": report.deleted,
        "events": report.events,
        "corrections_requests": report.corrections_requests,
        "corrections": report.corrections,
        "watches": report.watches,
        "watch_requests": report.watch_requests,
        "europepmc_requests": report.europepmc_requests,
    }


def publications_json(found: PublicationsOf) -> dict[str, Any]:
    """``show NCT... --json`` when only papers naming the trial are held."""
    return {"nct_id": found.nct_id, "publications": [item_json(i) for i in found.items]}


def query_json(query: SavedQuery) -> dict[str, Any]:
    """One item of ``queries list --json``."""
    return {"name": query.name, "source": query.source, "description": query.description,
            "tags": list(query.tags), "term": query.term, "version": query.version}


def citation_json(item: Item, style: str) -> dict[str, Any]:
    """``show ID --cite STYLE --json``."""
    from kettrack.tools.cite import cite_item

    return {"id": item.id, "style": style, "citation": cite_item(item, style)}


def dumps(data: Any) -> str:
    """JSON for people and programs alike: indented, UTF-8 kept."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def reference() -> str:
    """docs/json.md's body: every shape, its keys and their meaning (for cog)."""
    parts = []
    for shape in SHAPES.values():
        parts.append(f"\n## `{shape.name}`\n\n{shape.where[0].upper()}{shape.where[1:]}.")
        if shape.extends:
            parts.append(" Every key of an `article` or a `trial` (by its `item_type`), "
                         "then:")
        parts.append("\n\n| key | meaning |\n| --- | --- |\n")
        parts.extend(f"| `{key}` | {meaning.replace('|', '/')} |\n"
                     for key, meaning in shape.keys.items())
    return "".join(parts)


def watch_json(watch: Watch, *, citing: int | None = None) -> dict[str, Any]:
    """One item of ``watch list --json`` (and ``watch add --json``)."""
    out: dict[str, Any] = {"name": watch.name, "membership": watch.membership,
                           "id": watch.pmid, "pmid": public_pmid(watch.pmid),
                           "given": watch.given, "label": watch.label,
                           "created_at": watch.created_at}
    if citing is not None:
        out["citing"] = citing
    return out


def similar_json(answer: Similar) -> dict[str, Any]:
    """``similar ID --json``."""
    return {"id": answer.pmid, "pmid": public_pmid(answer.pmid), "held": answer.held,
            "added": list(answer.added),
            "similar": [{"id": s.pmid, "pmid": public_pmid(s.pmid), "score": s.score,
                         "title": s.article.title if s.article else None,
                         "year": s.article.year if s.article else None,
                         "url": s.article.url if s.article else pubmed_url(s.pmid)}
                        for s in answer.suggestions]}
