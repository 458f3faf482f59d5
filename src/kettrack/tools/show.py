"""``kettrack show ID``: the library's record of one work, by any identifier.

A PMID, DOI (any common form) or PMCID names an article; an NCT number names
a registered trial (its registry record, with the publications linked to it)
or, when the library holds no registry record, the publications that name it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kettrack.errors import NotInLibrary
from kettrack.library.identifiers import parse_identifier
from kettrack.library.items import ArticleItem, Item
from kettrack.library.store import Library


@dataclass
class PublicationsOf:
    """The papers that name a registered trial the library holds no registry record of."""

    nct_id: str
    items: list[ArticleItem]


Found = Item | PublicationsOf


def lookup(library: Library, text: str) -> Found:
    """The work ``text`` names (see the module docstring); a malformed ID is
    :class:`~kettrack.errors.BadIdentifier`, an unknown one :class:`NotInLibrary`."""
    ident = parse_identifier(text)
    if ident.kind == "nct":
        trials = library.trial_items([ident.value])
        if trials:
            return trials[0]
        pmids = library.publications_naming(ident.value)
        if not pmids:
            raise NotInLibrary(f"{ident.value}: the library holds neither the registered trial "
                               "nor a publication that names it")
        return PublicationsOf(ident.value, library.article_items(pmids))
    pmid = library.find_article(ident)
    found = library.article_items([pmid]) if pmid else []
    if not found:
        raise NotInLibrary(f"{ident} is not in the library")
    return found[0]
