"""Parse E-utilities XML with Bio.Entrez, never fetching a DTD from the network.

Bio.Entrez validates against the DTD named in a response's DOCTYPE. It ships
NCBI's DTDs, but for one it lacks it would download the file at parse time; and
it refuses old ``http://`` DOCTYPEs outright. kettrack parses with a
:class:`DataHandler` subclass that

- loads only DTDs that Biopython ships (or that sit in ``KETTRACK_DTD_DIR``);
- reads a newer ``pubmed_YYMMDD.dtd`` than Biopython knows with the newest one
  it ships (NCBI adds one each January; the element model changes little);
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
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

from Bio.Entrez import Parser

from kettrack.errors import ServiceError

_PUBMED_DTD = re.compile(r"^pubmed_(\d{6})\.dtd$")


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


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
