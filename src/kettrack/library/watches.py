"""Citation watches: a key paper whose citing papers each run adds to the library.

A watch is named (``NAME``; the membership of its citing papers is
``cited-by:NAME``) and points at one PubMed record. What the user typed (a
PMID, DOI or PMCID) is kept beside the PMID it was resolved to. The label
("Grabski 2022") is how digests name the watched paper.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from kettrack.errors import ConfigError

#: the membership prefix of a watch's citing papers
MEMBERSHIP_PREFIX = "cited-by:"
#: the query-version source recorded for watches
WATCH_SOURCE = "watch"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Watch:
    """One watched paper."""

    name: str
    pmid: str
    given: str
    label: str
    query_version_id: int
    created_at: str

    @property
    def membership(self) -> str:
        """The membership its citing papers get: ``cited-by:NAME``."""
        return MEMBERSHIP_PREFIX + self.name


def check_name(name: str) -> str:
    """A watch name as typed, if usable: lower-case letters, digits, ``-``, ``_``, ``.``."""
    if not _NAME.match(name):
        shown = "".join(c if c.isprintable() else "?" for c in name)[:70]
        raise ConfigError(f"--name {shown!r}: a watch name is 1-64 lower-case letters, digits, "
                          "'-', '_' or '.', starting with a letter or digit")
    return name


def default_name(first_author: str | None, year: int | None, pmid: str) -> str:
    """``grabski2022`` from "Grabski M" and 2022; ``pmid12345`` when either is unknown."""
    surname = (first_author or "").split(" ")[0]
    ascii_name = unicodedata.normalize("NFKD", surname).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z]", "", ascii_name.lower())
    if slug and year:
        return f"{slug}{year}"
    return f"pmid{pmid}"


def default_label(first_author: str | None, year: int | None, pmid: str) -> str:
    """"Grabski 2022" (first author's surname and year), or "PMID 12345"."""
    from kettrack.library.identifiers import pmid_label

    surname = (first_author or "").split(" ")[0]
    if surname and year:
        return f"{surname} {year}"
    return pmid_label(pmid)
