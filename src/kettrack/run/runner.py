"""``kettrack run``: saved queries -> esearch -> one efetch pass -> the library.

The order of work, and why:

1. One esearch per saved PubMed query (all IDs, however many: see
   :meth:`~kettrack.sources.eutils.EutilsClient.search_ids`). Nothing is written yet
   but the query's version row.
2. One efetch pass over the *union* of hits not yet in the library, so a paper
   found by five queries is fetched once, plus a bounded refetch of records NLM
   has not finished indexing (their publication types, MeSH, retractions and
   errata arrive later). Batches are reconciled: IDs NCBI did not return are
   asked for once more; ``DeleteCitation`` IDs are recorded as deleted; IDs
   still missing are left for the next run, not marked.
   Each batch is stored in one transaction, with the memberships of the queries
   that found its records.
   Then the whole library is checked for retractions, errata and expressions
   of concern in a bounded number of requests, and what changed is re-fetched
   (:func:`kettrack.run.corrections.check_library`).
3. Each query's step (memberships for hits already held, its summary) is one
   transaction.
   With ``watches``, the citation watch step (:mod:`kettrack.run.watch`) asks
   ELink (and any other citation source) who cites each watched paper before
   this pass, and the citing papers not yet held join it, with the membership
   ``cited-by:NAME``; each watch's step is then one transaction.
4. Saved registry queries (``source = "clinicaltrials"``) run through the
   ClinicalTrials.gov client when the Runner has one
   (:func:`kettrack.library.trial.run_registry_queries`): a backfill for a new query
   version, then only studies updated since its last run; one transaction each.
5. Saved Europe PMC queries (``source = "europepmc"``) run through the Europe
   PMC client when the Runner has one (:func:`run_europepmc_queries`), after
   the PubMed step so a record both sources hold is one row with both
   memberships.

A run killed at any point leaves every finished batch and step stored; running
again converges to the library an uninterrupted run would have made.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from kettrack.errors import QueryFileError, QuerySyntaxError
from kettrack.library import design
from kettrack.library.store import Library
from kettrack.queries import SavedQuery
from kettrack.run import registry
from kettrack.run import watch as watching
from kettrack.run.corrections import check_library
from kettrack.run.parallel import (
    FetchedBatch,
    Prepared,
    Workers,
    default_workers,
    fetch_batches,
    in_flight,
    prepare,
)
from kettrack.settings import Settings, redact
from kettrack.sources import europepmc
from kettrack.sources.ctgov import CtgovClient
from kettrack.sources.europepmc import EuropePmcClient
from kettrack.sources.eutils import EutilsClient, SearchOutcome


class RunObserver(Protocol):
    """What the display layer is told as a run goes (all optional no-ops)."""

    def searched(self, query: SavedQuery, outcome: SearchOutcome) -> None: ...
    def fetching(self, total: int) -> None: ...
    def fetched(self, count: int) -> None: ...


class _Silent:
    def searched(self, query: SavedQuery, outcome: SearchOutcome) -> None:
        pass

    def fetching(self, total: int) -> None:
        pass

    def fetched(self, count: int) -> None:
        pass


@dataclass
class QueryReport:
    """One saved query's line in the run summary."""

    name: str
    count: int
    new: int
    updated: int
    source: str = "pubmed"
    translation: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    backfill: bool = False


@dataclass
class RunReport:
    """The outcome of ``kettrack run`` (``run --json``)."""

    run_id: int
    status: str
    queries: list[QueryReport]
    new_total: int
    updated_total: int
    requests: int
    fetched: int = 0
    refetched: int = 0
    missing: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    events: int = 0
    #: registered trials new to the library / revised at the registry (not in new_total)
    new_trials: int = 0
    updated_trials: int = 0
    #: the corrections check (epost + esearch per 9,999 PMIDs, efetch of what changed)
    corrections_requests: int = 0
    corrections: dict[str, Any] = field(default_factory=dict)
    #: the watch step: watches asked, and the requests the citation sources sent
    watches: int = 0
    watch_requests: int = 0
    #: requests sent to Europe PMC (included in ``requests``)
    europepmc_requests: int = 0


@dataclass
class EuropePmcOutcome:
    """One Europe PMC query's result in a run."""

    query: SavedQuery
    count: int
    keys: list[str]
    new: set[str]
    updated: set[str]
    events: int
    backfill: bool
    pages: int
    renamed: dict[str, str]


def run_europepmc_queries(library: Library, client: EuropePmcClient,
                          queries: Sequence[SavedQuery], run_id: int, *,
                          new_before: Iterable[str] = ()) -> list[EuropePmcOutcome]:
    """Run the saved Europe PMC queries among ``queries`` into ``library``.

    The seen-ID rule, as for PubMed: every run lists the query's whole result
    (cursor paging, 1000 records a page, so a weekly run with nothing new costs
    one request per 1000 hits), and the library decides what is new (a record no
    row holds by any identifier) and what is updated (a record whose content
    changed, a new version, a journal version). A record that enters Europe PMC
    late, with an old date, is still found: no date window decides. Each page is
    one transaction; the query's summary is another. A work stored earlier in
    the same run (``new_before``: by a PubMed query) is new for this query too.
    """
    outcomes = []
    earlier = set(new_before)
    for query in queries:
        if query.source != "europepmc":
            continue
        qv_id, is_new_version = library.query_version_id(query, run_id)
        count, pages, events = 0, 0, 0
        keys: list[str] = []
        new: set[str] = set()
        updated: set[str] = set()
        renamed: dict[str, str] = {}
        try:
            for page in client.pages(query.term):
                pages += 1
                count = page.hit_count
                articles = []
                for record in page.records:
                    article = europepmc.parse_record(record)
                    if article is not None:
                        articles.append(design.classify(article))
                stored = library.store_europepmc(articles, qv_id, run_id)
                renamed.update(stored.renamed)
                keys = [stored.renamed.get(k, k) for k in keys] + stored.keys
                new = {stored.renamed.get(k, k) for k in new} | set(stored.new)
                updated = ({stored.renamed.get(k, k) for k in updated} | set(stored.updated)) - new
                events += len(stored.events)
        except QuerySyntaxError as exc:
            raise QueryFileError(f"{query.path or query.name}: {exc}") from None
        keys = list(dict.fromkeys(keys))
        new |= {k for k in keys if k in earlier}
        updated -= new
        library.record_query(run_id, qv_id, count=count, hits=keys, new=len(new),
                             updated=len(updated))
        outcomes.append(EuropePmcOutcome(query=query, count=count, keys=keys, new=new,
                                         updated=updated, events=events,
                                         backfill=is_new_version, pages=pages,
                                         renamed=renamed))
    return outcomes


class Searches:
    """The PubMed searches of a run, sent as soon as this is made: they need
    nothing from the library, so ``kettrack run`` starts them before it opens
    (and, for a new library, creates) it. A context manager: leaving it cancels
    the searches not started and waits for the rest (a run that failed before
    using them)."""

    def __init__(self, client: EutilsClient, queries: Sequence[SavedQuery]) -> None:
        self.client = client
        self.queries = [q for q in queries if q.source == "pubmed"]
        #: the client's request count before the first search (the run's requests)
        self.sent_before = client.http.log.sent
        rate = in_flight(client.http.limiter.rate)
        self._pool = ThreadPoolExecutor(max_workers=rate, thread_name_prefix="esearch")
        self.futures = [self._pool.submit(client.search_ids, q.term, in_flight=rate)
                        for q in self.queries]

    def __enter__(self) -> Searches:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for future in self.futures:
            future.cancel()
        self._pool.shutdown(wait=True)


def batched(items: Sequence[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i:i + size])


__all__ = ["Prepared", "Runner", "RunReport", "Searches", "batched", "prepare"]


class Runner:
    """Runs saved PubMed queries into a library through one E-utilities client."""

    def __init__(self, library: Library, client: EutilsClient, settings: Settings, *,
                 observer: RunObserver | None = None, offline: bool = False,
                 today: date | None = None, ctgov: CtgovClient | None = None,
                 watches: bool = False,
                 citation_sources: Sequence[watching.CitationSource] | None = None,
                 europepmc: EuropePmcClient | None = None,
                 searches: Searches | None = None) -> None:
        self.library = library
        #: the run's PubMed searches, already sent (else the run sends them)
        self.searches = searches
        self.client = client
        #: runs the ``source = "europepmc"`` queries; without it they are skipped
        self.europepmc = europepmc
        self._epmc_before = 0
        #: runs the ``source = "clinicaltrials"`` queries; without it they are skipped
        self.ctgov = ctgov
        self._ctgov_before = 0
        self.settings = settings
        self.observer = observer or _Silent()
        self.offline = offline
        self.today = today
        self._sent_before = 0
        #: run the citation watches too (``kettrack run`` with no NAME)
        self.watches = watches
        self.citation_sources = citation_sources

    def run(self, queries: Sequence[SavedQuery]) -> RunReport:
        """Run ``queries`` (PubMed ones) and store what they find."""
        with self.library.writer_lock():
            run_id = self.library.start_run(offline=self.offline)
            self._sent_before = (self.searches.sent_before if self.searches is not None
                                 else self.client.http.log.sent)
            self._ctgov_before = self.ctgov.http.log.sent if self.ctgov else 0
            self._epmc_before = self.europepmc.http.log.sent if self.europepmc else 0
            try:
                report = self._run(run_id, queries)
            except BaseException as exc:
                self.library.finish_run(run_id, status="failed", requests=self._requests(),
                                        new=0, updated=0,
                                        error=redact(" ".join(str(exc).split()),
                                                     self.settings.secrets())[:300])
                raise
            self.library.finish_run(run_id, status="ok", requests=report.requests,
                                    new=report.new_total, updated=report.updated_total)
            return report

    def _requests(self) -> int:
        """HTTP requests sent by this run (retries included)."""
        sent = self.client.http.log.sent - self._sent_before
        if self.ctgov is not None:
            sent += self.ctgov.http.log.sent - self._ctgov_before
        return sent + self._europepmc_requests()

    def _europepmc_requests(self) -> int:
        if self.europepmc is None:
            return 0
        return self.europepmc.http.log.sent - self._epmc_before

    def _run(self, run_id: int, queries: Sequence[SavedQuery]) -> RunReport:
        lib = self.library
        if self.ctgov is not None:
            registry.registry_searches(queries)  # a bad registry term fails before any request
        searched: list[tuple[SavedQuery, int, bool, SearchOutcome]] = []
        pubmed_queries = [q for q in queries if q.source == "pubmed"]
        versions = [lib.query_version_id(q, run_id) for q in pubmed_queries]
        # the searches go out together (the rate limiter spaces their starts),
        # perhaps before the library was opened; their answers are taken in the
        # queries' order
        searches = self.searches
        if searches is not None and searches.queries != pubmed_queries:
            raise ValueError("the searches sent ahead are not this run's")
        with (Searches(self.client, pubmed_queries) if searches is None
              else nullcontext(searches)) as searches:
            for query, (qv_id, is_new_version), future in zip(
                    pubmed_queries, versions, searches.futures, strict=True):
                outcome = future.result()
                self.observer.searched(query, outcome)
                searched.append((query, qv_id, is_new_version, outcome))

        found_by: dict[str, list[int]] = {}
        for _, qv_id, _, outcome in searched:
            for pmid in outcome.ids:
                found_by.setdefault(pmid, []).append(qv_id)
        answers, watch_requests = self._ask_watches()
        for pmid, qv_ids in answers.found_by().items():
            found_by.setdefault(pmid, []).extend(qv_ids)
        known = lib.known_pmids(found_by)
        to_fetch = [p for p in found_by if p not in known]
        wanted = set(to_fetch)
        due = lib.pmids_to_refetch(max_age_days=self.settings.refetch_days, today=self.today,
                                   include_reserved=self.offline)
        refetch = [p for p in due if p not in wanted]
        new: set[str] = set()
        updated: set[str] = set()
        missing: list[str] = []
        deleted: list[str] = []
        events = 0
        self.observer.fetching(len(to_fetch) + len(refetch))
        fresh: set[str] = set()
        workers = self.settings.workers
        if workers is None:
            workers = default_workers()
        big = len(to_fetch) + len(refetch) >= self.settings.workers_from
        with Workers(workers if big else 0) as pool:
            for fetched in self._fetch(batched(to_fetch + refetch, self.settings.batch_size),
                                       pool):
                stored = lib.store_prepared(fetched.records, found_by, run_id)
                new.update(stored.new)
                updated.update(stored.updated)
                events += len(stored.events)
                fresh.update(p.article.pmid for p in fetched.records)
                if fetched.deleted:
                    deleted.extend(lib.record_deleted(fetched.deleted, run_id,
                                                      "DeleteCitation in efetch"))
                missing.extend(fetched.missing)
                self.observer.fetched(len(fetched.pmids))

            # retractions, errata, expressions of concern: every record held that
            # this run did not just fetch (those carry NCBI's flags as of now)
            sent = self.client.http.log.sent
            fixes = check_library(lib, self.client, run_id,
                                  lambda batches: self._fetch(batches, pool),
                                  batch_size=self.settings.batch_size,
                                  include_reserved=self.offline, fresh=fresh,
                                  in_flight=self._in_flight())
            corrections_requests = self.client.http.log.sent - sent
        updated.update(p for p in fixes.updated if p not in new)
        deleted.extend(fixes.deleted)
        events += fixes.event_total

        reports: list[QueryReport] = []
        for query, qv_id, is_new_version, outcome in searched:
            q_new = sum(1 for p in outcome.ids if p in new)
            q_updated = sum(1 for p in outcome.ids if p in updated)
            lib.record_query(run_id, qv_id, count=outcome.count, hits=outcome.ids,
                             new=q_new, updated=q_updated)
            reports.append(QueryReport(
                name=query.name, count=outcome.count, new=q_new, updated=q_updated,
                translation=outcome.translation, errors=outcome.errors,
                warnings=outcome.warnings, backfill=is_new_version,
            ))
        if self.europepmc is not None:
            for found in run_europepmc_queries(lib, self.europepmc, queries, run_id,
                                               new_before=new):
                new = {found.renamed.get(k, k) for k in new} | found.new
                updated = ({found.renamed.get(k, k) for k in updated} | found.updated) - new
                events += found.events
                reports.append(QueryReport(
                    name=found.query.name, count=found.count, new=len(found.new),
                    updated=len(found.updated), source="europepmc",
                    translation=found.query.term, backfill=found.backfill))
        for step in watching.record(lib, answers, run_id, new=new, updated=updated):
            reports.append(QueryReport(
                name=step.watch.membership, count=step.count, new=step.new,
                updated=step.updated, source="watch",
                translation=f"papers citing {step.watch.label}",
            ))
        new_trials: set[str] = set()
        updated_trials: set[str] = set()
        if self.ctgov is not None:
            # each registry query's step is one transaction (see registry.run_registry_queries)
            for done in registry.run_registry_queries(lib, self.ctgov, queries, run_id,
                                                      today=self.today):
                new_trials.update(done.new)
                updated_trials.update(done.updated)
                events += done.events
                reports.append(QueryReport(
                    name=done.query.name, count=done.count, new=len(done.new),
                    updated=len(done.updated), source="clinicaltrials",
                    translation=registry.translation(done.params),
                    backfill=done.backfill,
                ))
        order = {q.name: i for i, q in enumerate(queries)}
        reports.sort(key=lambda r: order.get(r.name, len(order)))
        return RunReport(
            run_id=run_id, status="ok", queries=reports, new_total=len(new),
            updated_total=len(updated), requests=self._requests(),
            fetched=len(to_fetch), refetched=len(refetch), missing=missing, deleted=deleted,
            events=events, new_trials=len(new_trials), updated_trials=len(updated_trials),
            corrections_requests=corrections_requests, corrections=fixes.to_json(),
            watches=len(answers.watches), watch_requests=watch_requests,
            europepmc_requests=self._europepmc_requests(),
        )

    def _ask_watches(self) -> tuple[watching.WatchAnswers, int]:
        """Who cites each watched paper (nothing when watches are off), and the
        requests that took."""
        if not self.watches:
            return watching.WatchAnswers([]), 0
        sources = self.citation_sources
        if sources is None:
            sources = [watching.ElinkCitations(self.client, include_reserved=self.offline)]
            if self.europepmc is not None:
                sources.append(watching.EuropePmcCitations(self.europepmc,
                                                           include_reserved=self.offline))
        before = [s.requests() for s in sources]
        answers = watching.ask(self.library, sources)
        return answers, sum(s.requests() - b for s, b in zip(sources, before, strict=True))

    def _in_flight(self) -> int:
        return in_flight(self.client.http.limiter.rate)

    def _fetch(self, batches: Iterable[list[str]], pool: Workers) -> Iterable[FetchedBatch]:
        """``batches`` fetched together within the rate and parsed by ``pool``,
        each as it is done (:func:`kettrack.run.parallel.fetch_batches`)."""
        return fetch_batches(self.client, batches, in_flight=self._in_flight(),
                             prepare_rows=pool.prepare, max_retries=self.settings.max_retries)
