"""Parse E-utilities XML with Bio.Entrez, never fetching a DTD from the network.

Bio.Entrez validates against the DTD named in a response's DOCTYPE. It ships
NCBI's DTDs, but for one it lacks it would download the file at parse time; and
it refuses old ``http://`` DOCTYPEs outright. kettrack parses with a
:class:`DataHandler` subclass that

- loads only DTDs that Biopython ships (or that sit in ``KETTRACK_DTD_DIR``);
- reads a newer ``pubmed_YYMMDD.dtd`` than Biopython knows with the newest one
  it ships (NCBI adds one each January; the element model changes little);
- reads an ``eLink_YYMMDD.dtd`` it does not ship (NCBI's 2002 ``eLink_020511``,
  still named by old recordings) with the newest eLink DTD it ships: the
  elements ELink answers with (LinkSet, IdList, LinkSetDb, Link, Id, Score,
  Info, LinkSetDbHistory, WebEnv) are the same;
- treats any other unknown DTD as a service error, and never opens a URL.

Since the 2025 DTD, ``PubmedArticleSet`` may end in a ``DeleteCitation``, which
makes Bio.Entrez take it for a dictionary and refuse ``Entrez.parse``. The
handler declares it a list, so an efetch batch streams record by record in
document order (``DeleteCitation`` arrives as one more item).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

from Bio.Entrez import Parser

from kettrack.errors import ServiceError

_PUBMED_DTD = re.compile(r"^pubmed_(\d{6})\.dtd$")
_ELINK_DTD = re.compile(r"^eLink_(\d{6})\.dtd$")
#: the eLink DTD an unknown ``eLink_YYMMDD.dtd`` is read with (the one ``elink.dtd`` names)
ELINK_FALLBACK_DTD = "eLink_101123.dtd"


@lru_cache(maxsize=1)
def _newest_pubmed_dtd() -> str:
    names = [n for n in os.listdir(Parser.DataHandler.global_dtd_dir) if _PUBMED_DTD.match(n)]
    return max(names, key=lambda n: _PUBMED_DTD.match(n).group(1))  # type: ignore[union-attr]


class DataHandler(Parser.DataHandler):  # type: ignore[misc]
    """Bio.Entrez's handler with DTD loading kept on this machine."""

    def elementDecl(self, name: str, model: Any) -> None:
        super().elementDecl(name, model)
        if name == "PubmedArticleSet":
            cls, args = self.constructors[name]
            if cls is not Parser.ListElement:
                self.constructors[name] = (Parser.ListElement, (args[0],))

    def verify_security(self, url: str, verify_hostname: bool = True) -> None:
        # The DTD is read from disk, never from ``url``; only the host matters.
        host = urlparse(url).hostname or ""
        if verify_hostname and host and not host.endswith(".nih.gov"):
            raise ServiceError(f"response names a DTD outside NCBI: {url}")

    def open_dtd_file(self, filename: str) -> Any:
        extra = os.environ.get("KETTRACK_DTD_DIR")
        if extra:
            path = os.path.join(extra, filename)
            if os.path.exists(path):
                return open(path, "rb")  # noqa: SIM115 - Bio.Entrez closes it
        handle = super().open_dtd_file(filename)
        if handle is None and _PUBMED_DTD.match(filename):
            handle = super().open_dtd_file(_newest_pubmed_dtd())
        if handle is None and _ELINK_DTD.match(filename):
            handle = super().open_dtd_file(ELINK_FALLBACK_DTD)
        if handle is None:
            raise ServiceError(f"response uses DTD {filename}, which this Biopython does not ship")
        return handle

    def save_dtd_file(self, filename: str, text: bytes) -> None:  # pragma: no cover
        raise ServiceError(f"refusing to cache DTD {filename} fetched at parse time")


def _handler(ignore_errors: bool = False) -> DataHandler:
    return DataHandler(validate=True, escape=False, ignore_errors=ignore_errors)


def read(data: bytes) -> Any:
    """Parse a whole E-utilities response (esearch, epost, einfo...).

    An ``<ERROR>`` element is kept in the result (key ``"ERROR"``) for the
    caller to judge, not raised: whether it means a bad query or a broken
    service depends on which utility answered.
    """
    try:
        return _handler(ignore_errors=True).read(io.BytesIO(data))
    except ServiceError:
        raise
    except Exception as exc:  # expat and Bio.Entrez raise a zoo of types
        raise ServiceError(f"unreadable E-utilities XML: {_one_line(exc)}") from None


def parse(data: bytes) -> Iterator[Any]:
    """Stream the records of an efetch response one by one (PubmedArticle,
    PubmedBookArticle, DeleteCitation...), in document order."""
    yielded = False
    try:
        for record in _handler().parse(io.BytesIO(data)):
            yielded = True
            yield record
    except ServiceError:
        raise
    except Exception as exc:
        if not yielded and "does not represent a list" in str(exc):
            return  # an empty <PubmedArticleSet/>: efetch's answer for IDs it no longer has
        raise ServiceError(f"unreadable E-utilities XML: {_one_line(exc)}") from None


@dataclass
class LinkSet:
    """One ELink LinkSet: the IDs it answers for, and per LinkSetDb name the
    linked IDs in NCBI's order with their scores (None where none is sent)."""

    dbfrom: str
    ids: list[str]
    links: dict[str, list[tuple[str, int | None]]] = field(default_factory=dict)


def link_sets(data: bytes) -> list[LinkSet]:
    """The LinkSets of an eLinkResult. A top-level ``<ERROR>`` (or one inside
    a LinkSet that has no links) is a :class:`ServiceError`; a LinkSetDb whose
    ``<Info>`` says "Empty result" is an empty list."""
    record = read(data)
    if isinstance(record, dict):  # <eLinkResult><ERROR>...</ERROR></eLinkResult>
        error = record.get("ERROR")
        raise ServiceError(f"NCBI elink failed: {' '.join(str(error or record).split())[:200]}")
    found: list[LinkSet] = []
    for item in record:
        if not isinstance(item, dict):  # a top-level <ERROR> next to (or instead of) LinkSets
            if str(item).strip():
                raise ServiceError(f"NCBI elink failed: {' '.join(str(item).split())[:200]}")
            continue
        ids = [str(i) for i in item.get("IdList", [])]
        linkset = LinkSet(str(item.get("DbFrom", "")), ids)
        for db in item.get("LinkSetDb", []):
            name = str(db.get("LinkName", ""))
            pairs = linkset.links.setdefault(name, [])
            for link in db.get("Link", []):
                score = link.get("Score")
                pairs.append((str(link["Id"]), int(score) if score is not None else None))
        errors = [str(e) for e in item.get("ERROR", []) if str(e).strip()]
        if errors and not linkset.links:
            raise ServiceError(f"NCBI elink failed: {' '.join(errors[0].split())[:200]}")
        found.append(linkset)
    return found


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
