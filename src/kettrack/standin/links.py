"""ELink's answers over the snapshot: who cites whom, and similar articles.

:class:`CitationGraph` reads ``data/source/citations.toml`` (each relation with
its provenance: a real reference list, or an assumption, marked so) and
resolves its papers to snapshot PMIDs: a PMID as written, or ``doi:...`` for a
snapshot record found by the DOI in its ArticleIdList. :func:`neighbor_scores`
stands in for PubMed's similar-articles scores.

Approximations (also in :data:`kettrack.standin.eutils.APPROXIMATIONS`):

- a citation appears in ``pubmed_pubmed_citedin`` from the citing paper's
  entrez date, and only while both papers are visible on the view's day
  (NCBI's links arrive when PMC or the publisher deposits the reference list,
  some days or weeks later);
- similar-article scores are not PubMed's (a word-and-MeSH model whose weights
  are not published): they count shared MeSH descriptors (a major topic counts
  double), keywords and title words, scaled to integers like NCBI's, with the
  paper itself first at 2147483647 as NCBI lists it.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kettrack.standin.snapshot import Snapshot, SnapshotView

#: the score NCBI gives a paper itself in its own neighbour list
SELF_SCORE = 2147483647
#: the most links the stand-in lists per LinkSetDb (NCBI's pubmed_pubmed lists ~100-150)
MAX_NEIGHBOURS = 100

_DOI = re.compile(rb'<ArticleId IdType="doi">\s*([^<\s]+)\s*</ArticleId>')
_STOP_WORDS = ("a an and are as at by for from in into is its of on or the to with without "
               "versus vs study trial review effect effects use using based")
_STOP = frozenset(_STOP_WORDS.split())


@dataclass(frozen=True)
class Citation:
    """One citing relation, as the snapshot's source gives it."""

    citing: str
    cited: str
    assumed: bool
    source: str


class CitationGraph:
    """Who cites whom among snapshot records (PMIDs)."""

    def __init__(self, citations: Iterable[Citation] = ()) -> None:
        self.citations = list(citations)
        self._cited_by: dict[str, set[str]] = {}
        self._cites: dict[str, set[str]] = {}
        for c in self.citations:
            self._cited_by.setdefault(c.cited, set()).add(c.citing)
            self._cites.setdefault(c.citing, set()).add(c.cited)

    @classmethod
    def load(cls, path: str | Path, snapshot: Snapshot) -> CitationGraph:
        """Read ``citations.toml``; papers it names that the snapshot lacks are an error."""
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        by_doi = _dois(snapshot)
        found: list[Citation] = []

        def resolve(ref: str) -> str:
            key = ref.strip()
            pmid = by_doi.get(key[4:].lower()) if key.lower().startswith("doi:") else key
            if pmid is None or pmid not in snapshot:
                raise ValueError(f"{path}: {ref!r} is not a snapshot record")
            return pmid

        for table in data.get("citing", []):
            citing = resolve(str(table["paper"]))
            for cited in table.get("cites", []):
                found.append(Citation(citing, resolve(str(cited)), bool(table["assumed"]),
                                      str(table["source"])))
        return cls(found)

    def cited_by(self, pmid: str, view: SnapshotView) -> list[str]:
        """Visible papers citing ``pmid`` on the view's day, newest PMID first
        (as NCBI orders ``pubmed_pubmed_citedin``)."""
        if pmid not in view:
            return []
        return sorted((p for p in self._cited_by.get(pmid, ()) if p in view),
                      key=int, reverse=True)

    def references(self, pmid: str, view: SnapshotView) -> list[str]:
        """Visible papers ``pmid`` cites (``pubmed_pubmed_refs``)."""
        if pmid not in view:
            return []
        return sorted((p for p in self._cites.get(pmid, ()) if p in view), key=int, reverse=True)


def _dois(snapshot: Snapshot) -> dict[str, str]:
    """Lower-cased DOI -> PMID, from each record's own ArticleIdList."""
    out: dict[str, str] = {}
    for pmid in snapshot.pmids:
        match = _DOI.search(snapshot.raw(pmid))
        if match:
            out.setdefault(match.group(1).decode("utf-8").lower(), pmid)
    return out


def _features(view: SnapshotView, pmid: str) -> Mapping[str, float]:
    record = view.record(pmid)
    weights: dict[str, float] = {}
    for name, major in record.mesh:
        if name.lower() in ("humans", "male", "female", "animals", "adult", "middle aged"):
            continue  # check tags say nothing about the subject
        weights["mh:" + name.lower()] = 2.0 if major else 1.0
    for keyword in record.keywords:
        weights.setdefault("kw:" + keyword.lower(), 1.0)
    for word in re.findall(r"[a-z0-9]+", record.title.lower()):
        if len(word) > 2 and word not in _STOP:
            weights.setdefault("ti:" + word, 0.5)
    return weights


def neighbor_scores(view: SnapshotView, pmid: str,
                    limit: int = MAX_NEIGHBOURS) -> list[tuple[str, int]]:
    """Similar visible records to ``pmid`` with integer scores, best first; the
    paper itself first with :data:`SELF_SCORE`. Empty if ``pmid`` is not visible."""
    if pmid not in view:
        return []
    mine = _features(view, pmid)
    norm = math.sqrt(sum(w * w for w in mine.values())) or 1.0
    scored: list[tuple[str, int]] = []
    for other in view.pmids:
        if other == pmid:
            continue
        theirs = _features(view, other)
        shared = sum(min(w, theirs[k]) * w for k, w in mine.items() if k in theirs)
        if shared <= 0:
            continue
        other_norm = math.sqrt(sum(w * w for w in theirs.values())) or 1.0
        scored.append((other, int(1e8 * shared / (norm * other_norm))))
    scored.sort(key=lambda pair: (-pair[1], -int(pair[0])))
    return [(pmid, SELF_SCORE), *scored[: max(limit - 1, 0)]]
