"""How ``search``, ``check`` and ``show`` print for people: rich on a terminal, plain otherwise.

A display module: it receives typed items and results
(:class:`~kettrack.tools.search.SearchHit`, :class:`~kettrack.tools.check.CheckResult`,
:class:`~kettrack.library.items.ArticleItem`, :class:`~kettrack.library.items.TrialItem`)
and only prints, branching on the item's type. Plain output is one fact per
line, so it reads well in a cron mail or through ``grep``. Record text is
always appended as plain :class:`rich.text.Text`, never parsed as markup.

A registered trial among the results is headed ``[registered trial]`` and
always carries its evidence note (still under way, no results posted, or its
publications), so it is never read as a paper.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.text import Text

from kettrack.library.identifiers import pmid_label, public_pmid
from kettrack.library.items import FLAG_WORDS, ArticleItem, Item, TrialItem, TrialLink
from kettrack.library.trial import status_words
from kettrack.render.json import design_label, size_words
from kettrack.text import one_line, strip_control

if TYPE_CHECKING:
    from kettrack.tools.check import CheckResult, Evidence
    from kettrack.tools.search import SearchHit
    from kettrack.tools.show import PublicationsOf
    from kettrack.tools.watch import Similar

#: how a registered trial is headed wherever it is listed with articles
TRIAL_HEAD = "[registered trial]"


class Lines:
    """Where a display writes: a rich console on a terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO, *, rich: bool) -> None:
        self.stream = stream
        self.console = Console(file=stream, highlight=False, soft_wrap=False) if rich else None

    def line(self, text: str | Text = "", style: str = "") -> None:
        if isinstance(text, str):  # normalisation strips them; a library stored before may not
            text = strip_control(text, keep_newlines=True)
        if self.console is not None:
            shown = text if isinstance(text, Text) else Text(text, style=style)
            self.console.print(shown)
        else:
            print(text.plain if isinstance(text, Text) else text, file=self.stream)


def _marked(snippet: str) -> Text:
    """A snippet whose match markers become bold."""
    from kettrack.library.reading import MARK_CLOSE, MARK_OPEN

    text = Text()
    bold = False
    for part in snippet.replace(MARK_CLOSE, MARK_OPEN).split(MARK_OPEN):
        text.append(part, style="bold yellow" if bold else "")
        bold = not bold
    return text


def flag_text(flags: Sequence[str]) -> str:
    """Flags in words, as every output words them."""
    return ", ".join(FLAG_WORDS.get(f, f) for f in flags)


def ids_line(item: ArticleItem) -> str:
    """``PMID 123 | doi:10... | PMC...`` (a snapshot-only record shows no PMID)."""
    a = item.article
    parts = [f"PMID {public_pmid(a.pmid)}"] if public_pmid(a.pmid) else []
    if a.doi:
        parts.append(f"doi:{a.doi}")
    if a.pmcid:
        parts.append(a.pmcid)
    return " | ".join(parts)


def phases_words(phases: Sequence[str]) -> str:
    """``["PHASE2", "PHASE3"]`` -> ``phase 2/phase 3``; ``NA`` -> ``n/a``."""
    return "/".join("n/a" if p == "NA" else p.lower().replace("early_phase", "early phase ")
                    .replace("phase", "phase ").replace("  ", " ") for p in phases)


def trial_meta(item: TrialItem) -> str:
    """``NCT… · recruiting · phase 2 · 120 enrolled (estimated) · first posted …``."""
    t = item.trial
    kind = f" ({t.enrollment_type.lower()})" if t.enrollment_type else ""
    parts = [t.nct_id, status_words(t.overall_status), phases_words(t.phases),
             f"{t.enrollment} enrolled{kind}" if t.enrollment is not None else "",
             f"first posted {t.first_posted}" if t.first_posted else ""]
    return " · ".join(p for p in parts if p)


def _trial_entry(out: Lines, n: int, item: TrialItem, extra: Text | str = "") -> None:
    """One registered trial in a list: head, registry facts, evidence note, ``extra``."""
    out.line(f"{n}. {TRIAL_HEAD} {item.title or item.id}", "bold")
    out.line(f"   {trial_meta(item)}", "dim")
    out.line(f"   {item.evidence}", "yellow")
    if extra:
        out.line(Text("   ") + (extra if isinstance(extra, Text) else Text(extra)))
    out.line(f"   {item.url}", "dim")


# -- search ----------------------------------------------------------------------


def print_search(hits: Sequence[SearchHit], text: str, stream: TextIO, *, rich: bool) -> None:
    """The hits of ``search``, best first, each with its snippet; registered trials
    after the articles."""
    out = Lines(stream, rich=rich)
    shown = " ".join(text.split())
    if not hits:
        out.line(f"No articles in the library match {shown!r}.")
        return
    if all(isinstance(h.item, TrialItem) for h in hits):
        out.line(f"No articles in the library match {shown!r}; registered trials only "
                 "(not published evidence):")
    for n, hit in enumerate(hits, 1):
        item = hit.item
        if isinstance(item, TrialItem):
            _trial_entry(out, n, item, _marked(hit.snippet))
            continue
        a = item.article
        out.line(f"{n}. {a.title or '(no title)'}", "bold")
        meta = " · ".join(str(x) for x in (design_label(a), a.journal, a.year, ids_line(item))
                          if x)
        out.line(f"   {meta}" + ("" if rich else f"  score {hit.score}"), "dim")
        short = [f for f in item.flags if f in ("retracted", "withdrawn", "erratum",
                                                 "expression-of-concern", "preprint")]
        if short:
            out.line(f"   {flag_text(short)}", "bold red")
        out.line(Text("   ") + _marked(hit.snippet))


# -- check -----------------------------------------------------------------------


def _evidence_entry(out: Lines, n: int, found: Evidence, rich: bool) -> None:
    from kettrack.tools.cite import cite_item

    item = found.item
    out.line()
    if isinstance(item, TrialItem):
        _trial_entry(out, n, item, f"{found.closeness}; ranked as {found.score:.2f}: a "
                                   f"registry record, not a publication")
        out.line(f"   {'' if rich else 'cite: '}{cite_item(item)}", "italic")
        return
    a = item.article
    size = size_words(a) or "n=?"
    out.line(f"{n}. [{design_label(a)}] {a.title}", "bold")
    meta = " · ".join(str(x) for x in (a.species or "species ?", size, a.year, a.journal) if x)
    stance = ("a protocol: no results yet" if a.design == "protocol"
              else STANCE_WORDS.get(found.stance, found.stance))
    out.line(f"   {meta} · {stance}", "dim")
    out.line(f"   {found.closeness} (relevance {found.relevance:.2f})", "dim")
    if item.flags:
        out.line(f"   {'⚠ ' if rich else 'flags: '}{flag_text(item.flags)}", "bold red")
    for note in found.notes:
        out.line(f"   note: {note}", "yellow")
    for sentence in found.sentences:
        if rich:
            out.line(textwrap.fill(sentence, 96, initial_indent="   “",
                                   subsequent_indent="    ") + "”")
        else:
            out.line(f"   > {sentence}")
    out.line(f"   {'' if rich else 'cite: '}{cite_item(item)}", "italic")


#: a stance in words
STANCE_WORDS = {"supports": "supports the claim", "contradicts": "contradicts the claim",
                "no-clear-effect": "finds no clear effect", "unclear": "stance unclear"}
_PLURAL = {"meta-analysis": "meta-analyses", "systematic-review": "systematic reviews",
           "rct": "RCTs", "trial": "other trials", "observational": "observational studies",
           "case-report": "case reports", "preclinical": "preclinical studies",
           "review": "narrative reviews", "protocol": "protocols", "other": "other papers"}
_SINGULAR = {"meta-analysis": "meta-analysis", "systematic-review": "systematic review",
             "rct": "RCT", "trial": "other trial", "observational": "observational study",
             "case-report": "case report", "preclinical": "preclinical study",
             "review": "narrative review", "protocol": "protocol", "other": "other paper"}


def check_summary(result: CheckResult) -> str:
    """One line above the list: how many studies bear on the claim, those listed by
    design, strongest first, and how many of them support or contradict it. When
    ``--limit`` leaves some out, the line says how many bear in all ("or more"
    when the first stage was full) and that the rest of it counts those shown."""
    papers = result.evidence
    designs = ", ".join(f"{n} {(_SINGULAR if n == 1 else _PLURAL).get(d, d)}"
                        for d, n in result.designs())
    stances = result.stances()
    said = [f"{stances[s]} {one if stances[s] == 1 else many}" for s, one, many in (
        ("supports", "supports it", "support it"), ("contradicts", "contradicts it",
                                                      "contradict it"),
        ("no-clear-effect", "finds no clear effect", "find no clear effect"),
        ("unclear", "unclear", "unclear")) if stances[s]]
    bearing = max(result.bearing, len(papers))
    if bearing > len(papers):
        # the designs and stances are those of the studies listed, so the line says so
        line = (f"{bearing}{' or more' if result.more else ''} studies bear on the claim; "
                f"the {len(papers)} shown")
    else:
        line = f"{len(papers)} {'study bears' if len(papers) == 1 else 'studies bear'} on the claim"
    line += f" ({designs})" if designs else ""
    line += ": " + ", ".join(said) if said else ""
    trials = len(result.trials)
    if trials:
        line += f"; and {trials} registered trial{'s' if trials > 1 else ''}, not evidence"
    return line + "."


def print_check(result: CheckResult, stream: TextIO, *, rich: bool) -> None:
    """The evidence on a claim, or a plain statement that the library has none.

    A summary line comes first (designs, strongest first; stances). Registered
    trials are listed in their rank, each saying it is not evidence; when only
    trials bear on the claim, that is said first: the library holds no
    published evidence on it. When the answers share only the library's
    background words (ketamine, alcohol) with the claim, that is said too.
    """
    out = Lines(stream, rich=rich)
    concepts = ", ".join(c.label for c in result.concepts)
    if not result.concepts:
        out.line("The claim has no words kettrack can search for.")
        return
    if not result.ranked:
        out.line(f"Nothing in the library bears on this claim: no record shares a word with "
                 f"it (looked for: {concepts}).")
        out.line("Try `kettrack check --online` to search PubMed first, or rephrase the claim.")
        return
    if result.background_only:
        topics = ", ".join(c.label for c in result.concepts if c.kind not in
                           ("drug", "condition")) or concepts
        out.line(f"Nothing in the library mentions {topics}; these share only the library's "
                 f"background words with the claim. Try `kettrack check --online`:")
    elif not result.evidence:
        out.line(f"No published evidence in the library bears on this claim (looked for: "
                 f"{concepts}).")
        out.line("Registered trials only, which are not evidence; try `kettrack check "
                 "--online` to search PubMed:")
    else:
        out.line(f"Read the claim as: {concepts}")
        out.line(check_summary(result), "bold")
    for n, found in enumerate(result.ranked, 1):
        _evidence_entry(out, n, found, rich)


# -- show ------------------------------------------------------------------------


def trial_link_lines(links: Sequence[TrialLink]) -> list[str]:
    """``show PMID``'s "registered trials" lines."""
    out = []
    for link in links:
        t = link.trial
        status = status_words(t.overall_status) if t else "not in the library"
        extra = "; under way, not evidence yet" if t and t.ongoing else ""
        extra += "; results posted" if t and t.has_results else ""
        out.append(f"{link.nct_id}: {status}{extra}")
    return out


def _history(item: Item) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    if item.events:
        lines += [("", ""), ("bold", "history")]
    for e in item.events:
        lines.append(("", f"  {e.created_at[:10]} {e.summary}"))
    return lines


def version_line(v: dict[str, Any]) -> str:
    """One version of a work: "preprint medRxiv v2 (PPR:PPR1, 2025-08-09, doi:...)"."""
    if v.get("kind") == "probable":
        return (f"probably the same work: {v.get('id')} (same title and first author, "
                "dates fit; not merged)")
    what = " ".join(str(x) for x in (v.get("kind"), v.get("server"),
                                     f"v{v['version']}" if v.get("version") else None) if x)
    facts = ", ".join(str(x) for x in (v.get("id"), v.get("posted"),
                                       f"doi:{v['doi']}" if v.get("doi") else None) if x)
    return f"{what} ({facts})" + (" WITHDRAWN" if v.get("withdrawn") else "")


def article_lines(item: ArticleItem) -> list[tuple[str, str]]:
    """(style, line) pairs for one article in full."""
    a = item.article
    lines: list[tuple[str, str]] = [("bold", a.title or "(no title)")]
    if item.flags:
        lines.append(("bold red", flag_text(item.flags)))
    if a.authors:
        lines.append(("", ", ".join(a.authors)))
    volume = (f"{a.volume or ''}{'(' + a.issue + ')' if a.issue else ''}"
              f"{':' + a.pages if a.pages else ''}")
    lines.append(("", " ".join(x for x in (a.journal or "", a.pub_date or "", volume) if x)))
    lines.append(("dim", ids_line(item) or pmid_label(a.pmid)))
    if a.url:
        lines.append(("dim", a.url))
    lines.append(("", f"design: {design_label(a)} · species: {a.species or '?'} · "
                      f"sample size: {a.sample_size or '?'}"
                      + (f" · studies: {a.studies}" if a.studies else "")))
    if a.publication_types:
        lines.append(("", "publication types: " + ", ".join(p.name for p in a.publication_types)))
    dates = [f"entered PubMed {a.entrez_date}" if a.entrez_date else "",
             f"status {a.citation_status}" if a.citation_status else "",
             f"in library since {(item.first_seen_at or '')[:10]}",
             f"updated {item.updated_at[:10]}" if item.updated_at else ""]
    lines.append(("dim", " · ".join(d for d in dates if d)))
    if item.trials:
        lines.append(("", "registered trials:"))
        lines += [("", f"  {line}") for line in trial_link_lines(item.trials)]
    others = list(a.other_trial_ids)
    if not item.trials:
        others = [*a.nct_ids, *others]
    if others:
        lines.append(("", "registered trials: " + ", ".join(others)))
    if item.queries:
        lines.append(("", "found by: " + ", ".join(item.queries)))
    if item.cites_watched:
        lines.append(("", "cites watched papers: " + ", ".join(
            f"{w.label} (watch {w.name})" for w in item.cites_watched)))
    if item.watched_as:
        n = item.cited_by_count
        lines.append(("", f"watched as {item.watched_as.name}: {n} citing paper"
                          f"{'s' if n != 1 else ''} seen (membership "
                          f"{item.watched_as.membership})"))
    if item.versions:
        lines.append(("", "versions:"))
        lines += [("", f"  {version_line(v)}") for v in item.versions]
    mesh = [m.descriptor + ("*" if m.major else "") for m in a.mesh]
    if mesh:
        lines.append(("", "MeSH: " + "; ".join(mesh)))
    if a.keywords:
        lines.append(("", "keywords: " + "; ".join(a.keywords)))
    for c in a.corrections:
        target = f"({pmid_label(c.pmid)})" if c.pmid else ""
        lines.append(("yellow", " ".join(x for x in (c.ref_type + ":", c.source or "", target)
                                         if x)))
    if a.abstract_sections:
        lines.append(("", ""))
        for s in a.abstract_sections:
            label = f"{s.label}: " if s.label else ""
            lines.append(("", textwrap.fill(label + s.text, 100)))
    return lines + _history(item)


def _dated(value: str | None, kind: str | None) -> str:
    if not value:
        return "?"
    return f"{value} ({kind.lower()})" if kind else value


def trial_lines(item: TrialItem) -> list[tuple[str, str]]:
    """(style, line) pairs for one registered trial in full."""
    t = item.trial
    title = t.title or "(title not in the registry snapshot)"
    if t.acronym and t.acronym not in title:
        title += f" ({t.acronym})"
    lines = [("bold", title),
             ("yellow" if t.ongoing else "green", f"{t.nct_id} | {status_words(t.overall_status)}")]
    if t.ongoing:
        lines.append(("", "still under way: no results yet, not evidence"))
    if t.has_results:
        lines.append(("", "results posted on ClinicalTrials.gov"))
    enrolment = "?" if t.enrollment is None else (
        f"{t.enrollment} ({t.enrollment_type.lower()})" if t.enrollment_type else str(t.enrollment))
    lines.append(("", f"phase: {phases_words(t.phases) or '?'}  allocation: "
                      f"{(t.allocation or '?').lower()}  enrolment: {enrolment}"))
    if t.sponsor:
        lines.append(("", f"sponsor: {t.sponsor}"))
    if t.conditions:
        lines.append(("", "conditions: " + "; ".join(t.conditions)))
    if t.interventions:
        lines.append(("", "interventions: " + "; ".join(t.interventions)))
    lines.append(("", f"start: {_dated(t.start_date, t.start_date_type)}  "
                      f"completion: {_dated(t.completion_date, t.completion_type)}"))
    lines.append(("", f"first posted: {t.first_posted or '?'}  last update: "
                      f"{t.last_update_posted or '?'}"))
    if item.queries:
        lines.append(("", "found by: " + ", ".join(item.queries)))
    lines.append(("", "publications:" if item.publications else "publications: none linked yet"))
    for p in item.publications:
        how = " and ".join(f"named by the {w}" for w in p.via)
        a = p.article
        year = f" ({a.year})" if a and a.year else ""
        design = f" [{design_label(a)}]" if a else ""
        lines.append(("", f"  {pmid_label(p.pmid)}{year}{design}: "
                          f"{a.title if a else '(not in the library)'}"
                          + (f"; {how}" if how else "")))
    if item.events:
        lines.append(("", "changes seen at the registry:"))
    for e in item.events:
        lines.append(("", "  " + trial_event_line(t.nct_id, e.kind, e.detail)))
    lines.append(("dim", t.url))
    return lines


def trial_event_line(nct_id: str, kind: str, detail: dict[str, object]) -> str:
    """One trial event in the digest's words: ``NCT…: RECRUITING → COMPLETED``."""
    if kind == "trial_status_changed":
        return f"{nct_id}: {detail.get('from') or '?'} → {detail.get('to') or '?'}"
    if kind == "trial_results_posted":
        return f"{nct_id}: results posted"
    if kind == "trial_completion_changed":
        return f"{nct_id}: completion {detail.get('from') or '?'} → {detail.get('to') or '?'}"
    return f"{nct_id}: {kind.replace('_', ' ')}"


def print_found(found: Item | PublicationsOf, stream: TextIO, *, rich: bool) -> None:
    """``show``: one work in full, or the publications that name an NCT number."""
    out = Lines(stream, rich=rich)
    if isinstance(found, TrialItem):
        for style, line in trial_lines(found):
            out.line(line, style)
        return
    if isinstance(found, ArticleItem):
        for style, line in article_lines(found):
            out.line(line, style)
        return
    out.line(f"{found.nct_id}: {len(found.items)} publication(s) in the library")
    for item in found.items:
        out.line()
        for style, line in article_lines(item):
            out.line(line, style)


def print_similar(answer: Similar, stream: TextIO) -> None:
    """``similar ID``: one line per suggestion, best first."""
    if not answer.suggestions:
        stream.write(f"no similar articles outside the library ({answer.held} already held)\n")
        return
    for s in answer.suggestions:
        a = s.article
        title = one_line(a.title) if a else "(not returned by efetch)"
        year = f" ({a.year})" if a and a.year else ""
        stream.write(f"{s.score:>10}  {pmid_label(s.pmid)}  {title}{year}\n")
    stream.write(f"{len(answer.suggestions)} suggested, {answer.held} similar articles already "
                 "in the library\n")
    if answer.added:
        stream.write(f"added {len(answer.added)} to the library "
                     f"(membership similar:{answer.pmid})\n")
