"""How ``search``, ``check`` and ``show`` print for people (rich on a terminal, plain otherwise).

A display module: it receives the plain dicts the library modules build
(``search.search_results``, ``claims.CheckResult``, ``lookup.record_for``) and
only prints. Plain output is one fact per line, so it reads well in a cron
mail or through ``grep``.

A registered trial among the results (``item_type: "trial"``) is headed
``[registered trial]`` and always carries its evidence note (still under way,
no results posted, or its publications), so it is never read as a paper.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.text import Text

from kettrack.library.article import pmid_label
from kettrack.tools.check import CheckResult, Evidence, TrialEvidence

_FLAG_WORDS = {
    "retracted": "RETRACTED",
    "erratum": "erratum published",
    "expression-of-concern": "EXPRESSION OF CONCERN",
    "animal-only": "animal study only",
    "small-sample": "small sample (n < 30)",
    "protocol-without-results": "protocol, no results in the library",
}


#: how a registered trial is headed wherever it is listed with articles
TRIAL_HEAD = "[registered trial]"


def _console(stream: TextIO) -> Console:
    return Console(file=stream, highlight=False, soft_wrap=False)


def _rich_snippet(snippet: str) -> Text:
    """A snippet whose ``**word**`` marks become bold."""
    text = Text()
    for i, part in enumerate(snippet.split("**")):
        text.append(part, style="bold yellow" if i % 2 else "")
    return text


def _ids(data: dict[str, Any]) -> str:
    parts = []
    if data.get("pmid") and not str(data.get("url") or "").startswith("https://doi.org"):
        parts.append(f"PMID {data['pmid']}")
    if data.get("doi"):
        parts.append(f"doi:{data['doi']}")
    if data.get("pmcid"):
        parts.append(str(data["pmcid"]))
    return " | ".join(parts)


def _flag_text(flags: Sequence[str]) -> str:
    return ", ".join(_FLAG_WORDS.get(f, f) for f in flags)


def _short_flags(data: dict[str, Any]) -> list[str]:
    out = []
    if data.get("retracted"):
        out.append("retracted")
    if data.get("has_erratum"):
        out.append("erratum")
    if data.get("has_concern"):
        out.append("expression-of-concern")
    return out


# -- search ----------------------------------------------------------------------


def trial_meta(item: dict[str, Any]) -> str:
    """``NCT… · recruiting · phase 2 · 120 enrolled (estimated) · first posted …``."""
    status = (item.get("overall_status") or "status unknown").lower().replace("_", " ")
    phases = "/".join("n/a" if p == "NA" else p.lower().replace("_", " ").replace(
        "phase", "phase ") for p in item.get("phases") or [])
    enrolled = item.get("enrollment")
    kind = f" ({item['enrollment_type'].lower()})" if item.get("enrollment_type") else ""
    parts = [item.get("nct_id"), status, phases,
             f"{enrolled} enrolled{kind}" if enrolled is not None else "",
             f"first posted {item['first_posted']}" if item.get("first_posted") else ""]
    return " · ".join(str(p) for p in parts if p)


def _print_trial_item(n: int, item: dict[str, Any], stream: TextIO, console: Console | None,
                      extra: str = "") -> None:
    """One registered trial: head, registry facts, the evidence note, then ``extra``."""
    head = f"{n}. {TRIAL_HEAD} {item.get('title') or item.get('nct_id')}"
    meta = trial_meta(item)
    note = str(item.get("evidence") or "")
    if console is not None:
        console.print(Text(head, style="bold"))
        console.print(Text(f"   {meta}", style="dim"))
        console.print(Text(f"   {note}", style="yellow"))
        if extra:
            console.print(Text("   ") + _rich_snippet(extra))
        console.print(Text(f"   {item.get('url')}", style="dim"))
    else:
        print(head, file=stream)
        print(f"   {meta}", file=stream)
        print(f"   {note}", file=stream)
        if extra:
            print(f"   {extra}", file=stream)
        print(f"   {item.get('url')}", file=stream)


def print_search(results: Sequence[dict[str, Any]], text: str, stream: TextIO, *,
                 rich: bool) -> None:
    """The hits of ``search``, best first, each with its snippet; registered trials
    after the articles."""
    if not results:
        print(f"No articles in the library match {text!r}.", file=stream)
        return
    console = _console(stream) if rich else None
    if all(hit.get("item_type") == "trial" for hit in results):
        print(f"No articles in the library match {text!r}; registered trials only "
              "(not published evidence):", file=stream)
    for n, hit in enumerate(results, 1):
        if hit.get("item_type") == "trial":
            _print_trial_item(n, hit, stream, console, hit.get("snippet") or "")
            continue
        flags = _flag_text(_short_flags(hit))
        head = f"{n}. {hit.get('title') or '(no title)'}"
        meta = " · ".join(str(x) for x in (hit.get("design"), hit.get("journal"),
                                           hit.get("year"), _ids(hit)) if x)
        if console is not None:
            console.print(Text(head, style="bold"))
            console.print(Text(f"   {meta}", style="dim"))
            if flags:
                console.print(Text(f"   {flags}", style="bold red"))
            console.print(Text("   ") + _rich_snippet(hit.get("snippet") or ""))
        else:
            print(head, file=stream)
            print(f"   {meta}  score {hit.get('score')}", file=stream)
            if flags:
                print(f"   {flags}", file=stream)
            print(f"   {hit.get('snippet') or ''}", file=stream)


# -- check -----------------------------------------------------------------------


def _print_check_trial(n: int, found: TrialEvidence, stream: TextIO,
                       console: Console | None) -> None:
    matched = ", ".join(c.label for c in found.matched)
    if console is not None:
        console.print()
    else:
        print("", file=stream)
    _print_trial_item(n, found.item, stream, console,
                      f"relevance {found.relevance:.2f} ({matched}), ranked as "
                      f"{found.score:.2f}: a registry record, not a publication")
    cite = found.item.get("citation") or ""
    if console is not None:
        console.print(Text(f"   {cite}", style="italic"))
    else:
        print(f"   cite: {cite}", file=stream)


def print_check(result: CheckResult, stream: TextIO, *, rich: bool) -> None:
    """The evidence on a claim, or a plain statement that the library has none.

    Registered trials are listed in their rank, each saying it is not evidence;
    when only trials bear on the claim, that is said first: the library holds no
    published evidence on it.
    """
    concepts = ", ".join(c.label for c in result.concepts)
    if not result.concepts:
        print("The claim has no words kettrack can search for.", file=stream)
        return
    if not result.evidence and not result.trials:
        print(f"Nothing in the library bears on this claim (looked for: {concepts}).",
              file=stream)
        print("Try `kettrack check --online` to search PubMed first, or rephrase the claim.",
              file=stream)
        return
    console = _console(stream) if rich else None
    if not result.evidence:
        print(f"No published evidence in the library bears on this claim (looked for: "
              f"{concepts}).", file=stream)
        print("Registered trials only, which are not evidence; try `kettrack check "
              "--online` to search PubMed:", file=stream)
    else:
        print(f"Read the claim as: {concepts}", file=stream)
    for n, item in enumerate(result.items(), 1):
        if isinstance(item, TrialEvidence):
            _print_check_trial(n, item, stream, console)
            continue
        ev: Evidence = item
        a = ev.article
        size = f"n={a.sample_size}" if a.sample_size else "n=?"
        head = f"{n}. [{a.design}] {a.title}"
        meta = " · ".join(str(x) for x in (a.species or "species ?", size, a.year, a.journal)
                          if x)
        matched = ", ".join(c.label for c in ev.matched)
        if console is not None:
            console.print()
            console.print(Text(head, style="bold"))
            console.print(Text(f"   {meta} · relevance {ev.relevance:.2f} ({matched})",
                               style="dim"))
            if ev.flags:
                console.print(Text(f"   ⚠ {_flag_text(ev.flags)}", style="bold red"))
            for sentence in ev.sentences:
                console.print(Text(textwrap.fill(sentence, 96, initial_indent="   “",
                                                 subsequent_indent="    ") + "”"))
            console.print(Text(f"   {ev.to_json()['citation']}", style="italic"))
        else:
            print("", file=stream)
            print(head, file=stream)
            print(f"   {meta} · relevance {ev.relevance:.2f} ({matched})", file=stream)
            if ev.flags:
                print(f"   flags: {_flag_text(ev.flags)}", file=stream)
            for sentence in ev.sentences:
                print(f"   > {sentence}", file=stream)
            print(f"   cite: {ev.to_json()['citation']}", file=stream)


# -- show ------------------------------------------------------------------------


def _record_lines(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(style, line) pairs for one article record."""
    lines: list[tuple[str, str]] = [("bold", data.get("title") or "(no title)")]
    flags = data.get("flags") or []
    if flags:
        lines.append(("bold red", _flag_text(flags)))
    authors = data.get("authors") or []
    if authors:
        lines.append(("", ", ".join(authors)))
    source = " ".join(str(x) for x in (
        data.get("journal"), data.get("pub_date"),
        f"{data.get('volume') or ''}{'(' + data['issue'] + ')' if data.get('issue') else ''}"
        f"{':' + data['pages'] if data.get('pages') else ''}") if x)
    lines.append(("", source))
    lines.append(("dim", _ids(data)))
    if data.get("url"):
        lines.append(("dim", str(data["url"])))
    lines.append(("", f"design: {data.get('design')} · species: {data.get('species') or '?'} · "
                      f"sample size: {data.get('sample_size') or '?'}"))
    pts = [p["name"] for p in data.get("publication_types") or []]
    if pts:
        lines.append(("", "publication types: " + ", ".join(pts)))
    dates = [f"entered PubMed {data['entrez_date']}" if data.get("entrez_date") else "",
             f"status {data['citation_status']}" if data.get("citation_status") else "",
             f"in library since {str(data.get('first_seen_at') or '')[:10]}",
             f"updated {str(data['updated_at'])[:10]}" if data.get("updated_at") else ""]
    lines.append(("dim", " · ".join(d for d in dates if d)))
    registered = data.get("trials")
    if registered:
        from kettrack.render.trial import trials_lines

        lines.append(("", "registered trials:"))
        lines += [("", f"  {line}") for line in trials_lines(registered)]
    others = [t for t in data.get("other_trial_ids") or []]
    if not registered:
        others = [*(data.get("nct_ids") or []), *others]
    if others:
        lines.append(("", "registered trials: " + ", ".join(others)))
    if data.get("queries"):
        lines.append(("", "found by: " + ", ".join(data["queries"])))
    mesh = [m["descriptor"] + ("*" if m.get("major") else "") for m in data.get("mesh") or []]
    if mesh:
        lines.append(("", "MeSH: " + "; ".join(mesh)))
    if data.get("keywords"):
        lines.append(("", "keywords: " + "; ".join(data["keywords"])))
    for c in data.get("corrections") or []:
        target = pmid_label(c["pmid"]) if c.get("pmid") else ""
        lines.append(("yellow", " ".join(x for x in (c["ref_type"] + ":", c.get("source") or "",
                                                       f"({target})" if target else "") if x)))
    sections = data.get("abstract_sections") or []
    if sections:
        lines.append(("", ""))
        for s in sections:
            label = f"{s['label']}: " if s.get("label") else ""
            lines.append(("", textwrap.fill(label + s["text"], 100)))
    events = data.get("events") or []
    if events:
        lines.append(("", ""))
        lines.append(("bold", "history"))
        for e in events:
            detail = ", ".join(f"{k}: {v}" for k, v in (e.get("detail") or {}).items() if v)
            lines.append(("", f"  {str(e['at'])[:10]} {e['kind']}"
                              + (f" ({detail})" if detail else "")))
    return lines


def print_record(data: dict[str, Any], stream: TextIO, *, rich: bool) -> None:
    """One article in full, or the publications linked to an NCT number."""
    records = data.get("publications", [data])
    console = _console(stream) if rich else None
    if "publications" in data:
        print(f"{data['nct_id']}: {len(records)} publication(s) in the library", file=stream)
    for i, record in enumerate(records):
        if i or "publications" in data:
            print("", file=stream)
        for style, line in _record_lines(record):
            if console is not None:
                console.print(Text(line, style=style))
            else:
                print(line, file=stream)


def print_citation(citation: str, stream: TextIO) -> None:
    """A citation, alone on its line (for pasting)."""
    print(citation, file=stream)
