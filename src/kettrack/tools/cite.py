"""Formatted citations of library articles: Vancouver (NLM), APA 7 and AMA 11.

Plain text (no italics): what a writer pastes into a draft or a fact-check
note. Authors come from PubMed as ``"Lastname Initials"`` (or a collective
name); journal abbreviations are NLM's ISO form where the record has one. A
retracted article's citation says so, as NLM's own citations do, and so does one
with a published erratum ("Erratum in: ..."), so a writer cites both.

Page ranges: Vancouver keeps PubMed's own ``MedlinePgn`` (``176-84``, NLM's
abbreviated form); APA, AMA and the exports print them in full (``176-184``,
:func:`full_pages`). A record without a volume never prints an empty one
(``2021 Jul:573-89``, not ``2021 Jul;:573-89``).
"""

from __future__ import annotations

import re

from kettrack.errors import ConfigError
from kettrack.library.article import Article
from kettrack.library.identifiers import doi_url, is_reserved_pmid
from kettrack.library.items import ArticleItem, Item, TrialItem
from kettrack.library.trial import Trial

STYLES = ("vancouver", "apa", "ama")

_PERSON = re.compile(r"^(?P<last>.+?)\s+(?P<initials>[A-Z]{1,4})$")


def _split(author: str) -> tuple[str, str] | None:
    """("Morgan", "CJA") for "Morgan CJA"; None for a collective name."""
    m = _PERSON.match(author.strip())
    return (m.group("last"), m.group("initials")) if m else None


def _dotted(initials: str) -> str:
    return " ".join(f"{c}." for c in initials)


def _sentence(text: str) -> str:
    """``text`` ending with exactly one full stop (titles may end with ? or !)."""
    text = " ".join(text.split())
    return text if text.endswith((".", "?", "!")) else text + "."


def _journal_abbrev(article: Article) -> str:
    # NLM's ISO abbreviation has full stops ("Am. J. Psychiatry"); Vancouver and
    # AMA print it without them.
    name = article.journal_iso or article.journal or ""
    return name.replace(".", "").strip()


def _doi_note(article: Article, prefix: str) -> str:
    return f" {prefix}{article.doi}" if article.doi else ""


def _retraction_note(article: Article) -> str:
    if not article.retracted:
        return ""
    notices = [c.source for c in article.corrections if c.ref_type == "RetractionIn" and c.source]
    return f" Retraction in: {_sentence(notices[0])}" if notices else " Retracted publication."


def _notices(article: Article, ref_type: str) -> list[str]:
    return [c.source for c in article.corrections if c.ref_type == ref_type and c.source]


def _erratum_note(article: Article, *, words: str = "Erratum in:") -> str:
    """NLM's "Erratum in: <source>." for every erratum the record links to."""
    if not article.has_erratum:
        return ""
    notices = _notices(article, "ErratumIn")
    if not notices:
        return " Erratum published."
    return "".join(f" {words} {_sentence(n)}" for n in notices)


_RANGE = re.compile(r"^([A-Za-z]*)(\d+)([A-Za-z]*)-([A-Za-z]*)(\d+)([A-Za-z]*)$")


def full_pages(pages: str | None) -> str | None:
    """PubMed's abbreviated page ranges written in full: ``176-84`` -> ``176-184``,
    ``1127-9`` -> ``1127-1129``, ``S12-5`` -> ``S12-S15``; several ranges
    (``1-10; discussion 11-2``) each; anything else (``e0123``, ``iii-iv``) as is."""
    if not pages:
        return pages
    return re.sub(r"[^\s,;]+", lambda m: _full_range(m.group()), pages)


def _full_range(text: str) -> str:
    m = _RANGE.match(text)
    if not m:
        return text
    pre, first, post, end_pre, last, end_post = m.groups()
    if end_pre and end_pre != pre:
        return text
    if len(last) < len(first) and not end_pre:
        widened = first[: len(first) - len(last)] + last
        if int(widened) >= int(first):
            last = widened
    return f"{pre}{first}{post}-{end_pre or pre}{last}{end_post or post}"


def _pubmed_ids(article: Article) -> str:
    parts = []
    if not is_reserved_pmid(article.pmid):
        parts.append(f"PMID: {article.pmid}")
    if article.pmcid:
        parts.append(f"PMCID: {article.pmcid}")
    return f" {'; '.join(parts)}." if parts else ""


def _dated_source(when: str, article: Article, pages: str | None) -> str:
    """``2022 Feb;179(2):152-62``; without a volume or issue ``2021 Jul:573-89``
    (NLM: the colon follows the date), never ``2021 Jul;:573-89``."""
    holder = (article.volume or "") + (f"({article.issue})" if article.issue else "")
    out = when
    if holder:
        out += f";{holder}" if out else holder
    if pages:
        out += f":{pages}"
    return out


def vancouver(article: Article) -> str:
    """NLM/Vancouver: up to six authors then "et al."; "2022 Feb;179(2):152-62"."""
    authors = article.authors[:6]
    who = ", ".join(authors) + (", et al" if len(article.authors) > 6 else "")
    parts = [_sentence(who)] if who else []
    parts.append(_sentence(article.title or "[No title]"))
    when = article.pub_date or (str(article.year) if article.year else "")
    source = _journal_abbrev(article)
    detail = _dated_source(when, article, article.pages)
    parts.append(". ".join(x for x in (source, detail) if x) + ".")
    text = " ".join(p for p in parts if p.strip(". "))
    text += _doi_note(article, "doi: ") + ("." if article.doi else "")
    # PubMed's own NLM citations put the notices before the identifiers
    return (text + _erratum_note(article) + _retraction_note(article)
            + _pubmed_ids(article))


def _apa_author(author: str) -> str:
    split = _split(author)
    return f"{split[0]}, {_dotted(split[1])}" if split else author


def apa(article: Article) -> str:
    """APA 7: up to 20 authors (19, an ellipsis, the last); "(2022)"; doi.org link."""
    names = [_apa_author(a) for a in article.authors]
    if len(names) > 20:
        who = ", ".join(names[:19]) + ", . . . " + names[-1]
    elif len(names) > 1:
        who = ", ".join(names[:-1]) + ", & " + names[-1]
    else:
        who = names[0] if names else ""
    year = f"({article.year})" if article.year else "(n.d.)"
    head = f"{who} {year}." if who else f"{_sentence(article.title)} {year}."
    parts = [head]
    if who:
        parts.append(_sentence(article.title or "[No title]"))
    source = article.journal or _journal_abbrev(article)
    detail = source
    if article.volume:
        detail += f", {article.volume}"
        if article.issue:
            detail += f"({article.issue})"
    pages = full_pages(article.pages)
    if pages:
        detail += f", {pages.replace('-', '–')}" if detail else pages.replace("-", "–")
    if detail:
        parts.append(_sentence(detail))
    if article.doi:
        parts.append(doi_url(article.doi) or "")
    elif article.url:
        parts.append(article.url)
    text = " ".join(parts)
    if article.has_erratum:
        # APA 7 cites the corrected article; a reader still needs to know of the notice
        text += "".join(f" (Erratum published: {_sentence(n).rstrip('.')})"
                        for n in _notices(article, "ErratumIn")) or " (Erratum published)"
    if article.retracted:
        text += " (Retraction published)"
    return text


def ama(article: Article) -> str:
    """AMA 11: all authors up to six, else three and "et al"; "2022;179(2):152-162"."""
    authors = article.authors if len(article.authors) <= 6 else article.authors[:3]
    who = ", ".join(authors) + (", et al" if len(article.authors) > 6 else "")
    parts = [_sentence(who)] if who else []
    parts.append(_sentence(article.title or "[No title]"))
    detail = _dated_source(str(article.year) if article.year else "", article,
                           full_pages(article.pages))
    source = _journal_abbrev(article)
    parts.append(". ".join(x for x in (source, detail) if x) + ".")
    text = " ".join(p for p in parts if p.strip(". "))
    text += _erratum_note(article)
    if article.doi:
        text += f" doi:{article.doi}"
    if article.retracted:
        text += " Retracted publication."
    return text


def check_style(style: str) -> str:
    """``style`` if it is one of :data:`STYLES`, else :class:`ConfigError`."""
    if style not in STYLES:
        raise ConfigError(f"--cite {style!r} is not a citation style; one of {', '.join(STYLES)}")
    return style


def cite(article: Article, style: str = "vancouver") -> str:
    """``article`` formatted in ``style`` (one of :data:`STYLES`)."""
    formatter = {"vancouver": vancouver, "apa": apa, "ama": ama}[check_style(style)]
    return formatter(article)


def trial_citation(trial: Trial, style: str = "vancouver") -> str:
    """A registry entry's citation: title, sponsor, ClinicalTrials.gov identifier and
    URL (APA names the sponsor first, as for a dataset)."""
    check_style(style)
    title = " ".join(trial.title.split()).rstrip(".") or f"Registered trial {trial.nct_id}"
    posted = trial.first_posted or ""
    if style == "apa":
        who = f"{trial.sponsor}. " if trial.sponsor else "ClinicalTrials.gov. "
        year = f"({posted[:4]})" if posted[:4].isdigit() else "(n.d.)"
        return f"{who}{year}. {title} (ClinicalTrials.gov identifier {trial.nct_id}). {trial.url}"
    parts = [title]
    if trial.sponsor:
        parts.append(trial.sponsor)
    first = f" First posted {posted}." if posted else ""
    return (". ".join(parts) + f". ClinicalTrials.gov identifier: {trial.nct_id}.{first} "
            f"Available from: {trial.url}")


def registry_entry(nct_id: str) -> TrialItem:
    """A registered trial the library holds no registry record of, known by its
    number alone: what ``show NCT... --cite`` cites then (the NCT number names the
    registry entry, not the papers that report it)."""
    return TrialItem(Trial(nct_id=nct_id))


def cite_item(item: Item, style: str = "vancouver") -> str:
    """Any work in the library, cited in ``style``."""
    if isinstance(item, ArticleItem):
        return cite(item.article, style)
    return trial_citation(item.trial, style)
