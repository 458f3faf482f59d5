"""The bundled PubMed snapshot, as the E-utilities stand-in serves it.

A snapshot is an efetch-format ``PubmedArticleSet`` (``data/pubmed/snapshot.xml``)
plus an optional sidecar (``pending_indexing.json``) naming records that NLM had
not finished indexing: they are stored In-Process/Publisher, without MeSH, and
become fully indexed on a ``due`` date. The stand-in never re-serialises a
record it can avoid touching: each record is kept as the exact bytes of its
``<PubmedArticle>``/``<PubmedBookArticle>`` element, so efetch answers are
concatenations and a 20,000-record benchmark stays cheap.

:meth:`Snapshot.view` freezes the snapshot at a date, the way PubMed looked on
that day: records not yet entered are invisible, pending records are indexed
once their ``due`` date has passed, and a CommentsCorrections link to a record
of the snapshot that has not entered PubMed yet (an erratum, retraction or
comment published later) is hidden, in the served XML and in the search index,
until that record appears: NCBI adds the link to the earlier record when it
publishes the notice, so a replay sees the erratum arrive. Links to PMIDs the
snapshot does not hold are kept as stored (their date is unknown).
(:mod:`kettrack.dev.replicate` clones records under fresh PMIDs for benchmarks.)
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from kettrack.standin.pubmed_query import HistoryLookup, IndexedRecord, SearchIndex, SearchResult

__all__ = [
    "PendingIndexing",
    "Snapshot",
    "SnapshotView",
    "default_snapshot_dir",
    "hide_comments_corrections",
    "split_records",
]

# ET would rename the MathML prefix to ``ns0`` when a pending record is
# rewritten, and Bio.Entrez validates element names against the DTD's ``mml:``.
ET.register_namespace("mml", "http://www.w3.org/1998/Math/MathML")
ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")

#: one record of a PubmedArticleSet; records never nest, so a lazy match is exact
_RECORD = re.compile(
    rb"<(PubmedArticle|PubmedBookArticle)(?=[\s>])[^>]*>.*?</\1>",
    re.DOTALL,
)
OWN_PMID = re.compile(rb"<PMID(?:\s[^>]*)?>\s*(\d+)\s*</PMID>")
PUBMED_DATE = re.compile(
    rb'(<PubMedPubDate\s+PubStatus="(?:entrez|pubmed)"\s*>\s*<Year>)\d+(</Year>\s*<Month>)'
    rb"\d+(</Month>\s*<Day>)\d+(</Day>)"
)

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
        start=1,
    )
}
# PubMed files a season under a month for sorting; these are its usual choices.
_SEASONS = {"winter": 1, "spring": 4, "summer": 7, "fall": 10, "autumn": 10}

#: MedlineCitation children that come after MeshHeadingList (pubmed_250101.dtd)
_AFTER_MESH = frozenset(
    {
        "NumberOfReferences",
        "PersonalNameSubjectList",
        "OtherID",
        "OtherAbstract",
        "KeywordList",
        "CoiStatement",
        "SpaceFlightMission",
        "InvestigatorList",
        "GeneralNote",
    }
)


def default_snapshot_dir() -> Path:
    """The folder holding ``pubmed/snapshot.xml``.

    ``KETTRACK_SNAPSHOT_DIR`` wins; otherwise the ``data/`` folder of a source
    checkout (beside ``src/``); otherwise ``./data``.
    """
    env = os.environ.get("KETTRACK_SNAPSHOT_DIR")
    if env:
        return Path(env)
    import kettrack

    repo_data = Path(kettrack.__file__).resolve().parents[2] / "data"
    if repo_data.is_dir():
        return repo_data
    return Path("data")


@dataclass(frozen=True)
class PendingIndexing:
    """How a record looks once NLM has indexed it, and from which day."""

    due: date
    #: (name, UI) pairs, replacing the stored PublicationTypeList
    publication_types: tuple[tuple[str, str], ...]
    #: (descriptor name, UI or None, major topic)
    mesh: tuple[tuple[str, str | None, bool], ...]
    status: str = "MEDLINE"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PendingIndexing:
        """Read one entry of ``pending_indexing.json``."""
        return cls(
            due=date.fromisoformat(str(data["due"])),
            publication_types=tuple(
                (str(name), str(ui)) for name, ui in data.get("publication_types", [])
            ),
            mesh=tuple(
                (str(name), None if ui is None else str(ui), bool(major))
                for name, ui, major in data.get("mesh", [])
            ),
            status=str(data.get("status") or "MEDLINE"),
        )


def split_records(xml: bytes) -> Iterator[tuple[str, bytes]]:
    """Yield ``(pmid, raw bytes)`` for each record of a PubmedArticleSet, in order.

    The bytes are the record element exactly as written, so character
    references and inline markup survive untouched. ``DeleteCitation`` is skipped.
    """
    for match in _RECORD.finditer(xml):
        raw = match.group(0)
        pmid = OWN_PMID.search(raw)
        if pmid is None:
            continue
        yield pmid.group(1).decode("ascii"), raw


# --------------------------------------------------------------------------- indexing


def _text(elem: ET.Element | None) -> str:
    """Element text with inline markup (<i>, <sup>, MathML) flattened."""
    if elem is None:
        return ""
    return " ".join("".join(elem.itertext()).split())


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() else None


def _month(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip().lower()
    if text.isdigit():
        value = int(text)
        return value if 1 <= value <= 12 else None
    return _MONTHS.get(text[:3]) or _SEASONS.get(text)


def _make_date(year: int | None, month: int | None = None, day: int | None = None) -> date | None:
    if year is None or not 1 <= year <= 9999:
        return None
    month = month or 1
    try:
        return date(year, month, day or 1)
    except ValueError:
        return date(year, month, 1)


def _pub_date(elem: ET.Element | None) -> date | None:
    """A PubDate: Year/Month/Day (or Season), else the first year of MedlineDate."""
    if elem is None:
        return None
    year = _int(elem.findtext("Year"))
    if year is not None:
        month = _month(elem.findtext("Month")) or _month(elem.findtext("Season"))
        return _make_date(year, month, _int(elem.findtext("Day")))
    medline = elem.findtext("MedlineDate") or ""
    found = re.search(r"\b(\d{4})\b(?:\s+([A-Za-z]+))?", medline)
    if not found:
        return None
    return _make_date(int(found.group(1)), _month(found.group(2)))


def _history_date(history: ET.Element | None, status: str) -> date | None:
    if history is None:
        return None
    for item in history.iter("PubMedPubDate"):
        if item.get("PubStatus") == status:
            return _make_date(
                _int(item.findtext("Year")),
                _month(item.findtext("Month")),
                _int(item.findtext("Day")),
            )
    return None


def _authors(author_list: ET.Element | None) -> list[str]:
    """Authors as PubMed's [au] field sees them: "Lastname Initials"."""
    if author_list is None:
        return []
    names = []
    for author in author_list.iter("Author"):
        collective = author.findtext("CollectiveName")
        if collective:
            names.append(" ".join(collective.split()))
            continue
        last = (author.findtext("LastName") or "").strip()
        initials = (author.findtext("Initials") or "").strip()
        if last:
            names.append(f"{last} {initials}".strip())
    return names


def _mesh(citation: ET.Element) -> list[tuple[str, bool]]:
    headings = []
    for heading in citation.iterfind("MeshHeadingList/MeshHeading"):
        descriptor = heading.find("DescriptorName")
        if descriptor is None:
            continue
        # [majr] matches a descriptor starred itself or through any qualifier.
        major = descriptor.get("MajorTopicYN") == "Y" or any(
            q.get("MajorTopicYN") == "Y" for q in heading.iterfind("QualifierName")
        )
        headings.append((_text(descriptor), major))
    return headings


def _comments_corrections(citation: ET.Element) -> list[tuple[str, str | None]]:
    """(RefType, target PMID or None) for each CommentsCorrections link."""
    links = []
    for item in citation.iterfind("CommentsCorrectionsList/CommentsCorrections"):
        target = (item.findtext("PMID") or "").strip()
        links.append((item.get("RefType") or "", target or None))
    return links


#: one CommentsCorrections element (they never nest; the list element is not matched)
_CC_ELEMENT = re.compile(rb"<CommentsCorrections(?=[\s>])[^>]*>.*?</CommentsCorrections>\s*",
                         re.DOTALL)
_CC_TARGET = re.compile(rb"<PMID(?:\s[^>]*)?>\s*(\d+)\s*</PMID>")
_CC_EMPTY_LIST = re.compile(rb"<CommentsCorrectionsList(?:\s[^>]*)?>\s*</CommentsCorrectionsList>")


def hide_comments_corrections(raw: bytes, targets: Iterable[str]) -> bytes:
    """A record's bytes without the CommentsCorrections links to ``targets``
    (and without the list element if nothing is left in it; the DTD wants one
    link at least). Everything else is left byte for byte."""
    hidden = {t.encode("ascii") for t in targets}

    def keep(match: re.Match[bytes]) -> bytes:
        target = _CC_TARGET.search(match.group(0))
        return b"" if target is not None and target.group(1) in hidden else match.group(0)

    return _CC_EMPTY_LIST.sub(b"", _CC_ELEMENT.sub(keep, raw))


def index_record(pmid: str, root: ET.Element) -> IndexedRecord:
    """Build the search index's view of one parsed record element."""
    if root.tag == "PubmedBookArticle":
        doc = root.find("BookDocument")
        doc = doc if doc is not None else root
        title = _text(doc.find("ArticleTitle")) or _text(doc.find("Book/BookTitle"))
        author_list = doc.find("AuthorList")
        if author_list is None:
            author_list = doc.find("Book/AuthorList")
        return IndexedRecord(
            pmid=pmid,
            title=title,
            abstract=" ".join(_text(a) for a in doc.iterfind("Abstract/AbstractText")),
            mesh=[],
            publication_types=[_text(p) for p in doc.iterfind("PublicationType")],
            authors=_authors(author_list),
            keywords=[_text(k) for k in doc.iterfind("KeywordList/Keyword")],
            languages=[_text(lang) for lang in doc.iterfind("Language")],
            pub_date=_pub_date(doc.find("Book/PubDate")),
            entrez_date=_history_date(root.find("PubmedBookData/History"), "entrez"),
        )
    citation = root.find("MedlineCitation")
    if citation is None:
        raise ValueError(f"PMID {pmid}: record has no MedlineCitation")
    article = citation.find("Article")
    article = article if article is not None else ET.Element("Article")
    return IndexedRecord(
        pmid=pmid,
        title=_text(article.find("ArticleTitle")),
        abstract=" ".join(_text(a) for a in article.iterfind("Abstract/AbstractText")),
        mesh=_mesh(citation),
        publication_types=[
            _text(p) for p in article.iterfind("PublicationTypeList/PublicationType")
        ],
        authors=_authors(article.find("AuthorList")),
        keywords=[_text(k) for k in citation.iterfind("KeywordList/Keyword")],
        languages=[_text(lang) for lang in article.iterfind("Language")],
        pub_date=_pub_date(article.find("Journal/JournalIssue/PubDate")),
        entrez_date=_history_date(root.find("PubmedData/History"), "entrez"),
        comments_corrections=_comments_corrections(citation),
    )


def replace_record(record: IndexedRecord, **changes: Any) -> IndexedRecord:
    if dataclasses.is_dataclass(record):
        return dataclasses.replace(record, **changes)
    fields = {
        name: getattr(record, name)
        for name in (
            "pmid",
            "title",
            "abstract",
            "mesh",
            "publication_types",
            "authors",
            "keywords",
            "languages",
            "pub_date",
            "entrez_date",
        )
    }
    fields["comments_corrections"] = getattr(record, "comments_corrections", [])
    fields.update(changes)
    return IndexedRecord(**fields)


# --------------------------------------------------------------------- pending reveal


def _ymd(tag: str, when: date) -> ET.Element:
    elem = ET.Element(tag)
    for name, value in (("Year", f"{when.year:04d}"), ("Month", f"{when.month:02d}")):
        ET.SubElement(elem, name).text = value
    ET.SubElement(elem, "Day").text = f"{when.day:02d}"
    return elem


def _elem_date(elem: ET.Element | None) -> date | None:
    if elem is None:
        return None
    return _make_date(
        _int(elem.findtext("Year")), _int(elem.findtext("Month")), _int(elem.findtext("Day"))
    )


def reveal_indexing(
    raw: bytes, pending: PendingIndexing, mesh_uis: Mapping[str, str] | None = None
) -> bytes:
    """Rewrite a stored In-Process record the way NCBI serves it once indexed.

    Sets ``Status``, adds ``DateCompleted`` (and moves ``DateRevised`` up to the
    due date, as NCBI revises a record when indexing completes), replaces the
    PublicationTypeList and inserts a MeshHeadingList in the DTD's place.
    ``mesh_uis`` supplies descriptor UIs the sidecar left out.
    """
    root = ET.fromstring(raw)
    citation = root.find("MedlineCitation")
    if citation is None:  # books are never MEDLINE-indexed
        return raw
    citation.set("Status", pending.status)

    def position_after(tag: str) -> int:
        tags = [child.tag for child in citation]
        return tags.index(tag) + 1 if tag in tags else 0

    completed = citation.find("DateCompleted")
    if completed is not None:
        citation.remove(completed)
    citation.insert(position_after("PMID"), _ymd("DateCompleted", pending.due))
    revised = citation.find("DateRevised")
    if revised is None:
        citation.insert(position_after("DateCompleted"), _ymd("DateRevised", pending.due))
    else:
        old = _elem_date(revised)
        if old is None or old < pending.due:
            revised[:] = list(_ymd("DateRevised", pending.due))

    article = citation.find("Article")
    if article is not None and pending.publication_types:
        pt_list = article.find("PublicationTypeList")
        if pt_list is None:
            pt_list = ET.SubElement(article, "PublicationTypeList")
        tail = pt_list[0].tail if len(pt_list) else None
        pt_list[:] = []
        for name, pt_ui in pending.publication_types:
            pt = ET.SubElement(pt_list, "PublicationType", {"UI": pt_ui})
            pt.text = name
            pt.tail = tail

    if pending.mesh:
        old_list = citation.find("MeshHeadingList")
        if old_list is not None:
            citation.remove(old_list)
        mesh_list = ET.Element("MeshHeadingList")
        for name, given_ui, major in pending.mesh:
            ui = given_ui or (mesh_uis or {}).get(name)
            attrs = {"UI": ui} if ui else {}
            attrs["MajorTopicYN"] = "Y" if major else "N"
            heading = ET.SubElement(mesh_list, "MeshHeading")
            ET.SubElement(heading, "DescriptorName", attrs).text = name
        where = next(
            (i for i, child in enumerate(citation) if child.tag in _AFTER_MESH), len(citation)
        )
        citation.insert(where, mesh_list)
    return ET.tostring(root, encoding="unicode").encode("utf-8")


def _indexed(record: IndexedRecord, pending: PendingIndexing) -> IndexedRecord:
    changes: dict[str, Any] = {}
    if pending.publication_types:
        changes["publication_types"] = [name for name, _ in pending.publication_types]
    if pending.mesh:
        changes["mesh"] = [(name, major) for name, _, major in pending.mesh]
    return replace_record(record, **changes) if changes else record


# --------------------------------------------------------------------------- snapshot


class Rendered(Protocol):
    """A record kept as a recipe and rendered only when served
    (:mod:`kettrack.dev.replicate` clones records this way)."""

    def render(self) -> bytes: ...


class Snapshot:
    """Every record of a snapshot, as stored, with its search-index entry."""

    def __init__(
        self,
        raw: Mapping[str, bytes | Rendered],
        records: Mapping[str, IndexedRecord],
        pending: Mapping[str, PendingIndexing] | None = None,
        *,
        mesh_tree: Any = None,
        mesh_uis: dict[str, str] | None = None,
    ) -> None:
        self._raw = dict(raw)
        self._records = dict(records)
        self.pending: dict[str, PendingIndexing] = dict(pending or {})
        self.mesh_tree = mesh_tree
        self._views: dict[date, SnapshotView] = {}
        self._revealed: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._mesh_uis = mesh_uis

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_bytes(
        cls,
        xml: bytes,
        pending: Mapping[str, Any] | bytes | str | None = None,
        *,
        mesh_tree: Any = None,
    ) -> Snapshot:
        """Read a PubmedArticleSet (and the pending-indexing sidecar, as JSON
        text or already decoded)."""
        raw: dict[str, bytes] = {}
        records: dict[str, IndexedRecord] = {}
        for pmid, chunk in split_records(xml):
            raw[pmid] = chunk
            records[pmid] = index_record(pmid, ET.fromstring(chunk))
        entries: Mapping[str, Any] = (
            json.loads(pending) if isinstance(pending, bytes | str) else (pending or {})
        )
        return cls(
            raw,
            records,
            {str(k): PendingIndexing.from_json(v) for k, v in entries.items()},
            mesh_tree=mesh_tree,
        )

    @classmethod
    def load(
        cls,
        xml_path: str | os.PathLike[str],
        pending_path: str | os.PathLike[str] | None = None,
        *,
        mesh_tree: Any = None,
    ) -> Snapshot:
        """Read a snapshot file and, if given, its pending-indexing sidecar."""
        pending = Path(pending_path).read_bytes() if pending_path is not None else None
        return cls.from_bytes(Path(xml_path).read_bytes(), pending, mesh_tree=mesh_tree)

    @classmethod
    def load_default(cls, directory: str | os.PathLike[str] | None = None) -> Snapshot:
        """The bundled snapshot: ``pubmed/snapshot.xml`` and, when present,
        ``pubmed/pending_indexing.json`` under :func:`default_snapshot_dir`."""
        base = Path(directory) if directory is not None else default_snapshot_dir()
        sidecar = base / "pubmed" / "pending_indexing.json"
        return cls.load(base / "pubmed" / "snapshot.xml", sidecar if sidecar.exists() else None)

    # ------------------------------------------------------------------ access

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, pmid: object) -> bool:
        return pmid in self._raw

    @property
    def pmids(self) -> list[str]:
        """Every PMID, in file order."""
        return list(self._raw)

    def raw(self, pmid: str) -> bytes:
        """The record's bytes as stored (pending records un-indexed)."""
        stored = self._raw[pmid]
        return stored if isinstance(stored, bytes) else stored.render()

    def record(self, pmid: str) -> IndexedRecord:
        """The record's search-index entry as stored."""
        return self._records[pmid]

    def mesh_uis(self) -> dict[str, str]:
        """Descriptor name -> UI over every stored MeshHeading, to fill UIs a
        pending entry leaves out (the DTD requires one)."""
        if self._mesh_uis is None:
            found: dict[str, str] = {}
            pattern = re.compile(
                rb'<DescriptorName\s[^>]*?UI="(D\d+)"[^>]*>([^<]+)</DescriptorName>'
            )
            for pmid in self._raw:
                for ui, name in pattern.findall(self.raw(pmid)):
                    found.setdefault(name.decode("utf-8").strip(), ui.decode("ascii"))
            self._mesh_uis = found
        return self._mesh_uis

    def revealed(self, pmid: str) -> bytes:
        """A pending record's bytes in its indexed form (cached)."""
        with self._lock:
            cached = self._revealed.get(pmid)
        if cached is None:
            cached = reveal_indexing(self.raw(pmid), self.pending[pmid], self.mesh_uis())
            with self._lock:
                self._revealed[pmid] = cached
        return cached

    # ------------------------------------------------------------------ views

    def view(self, as_of: date | None = None) -> SnapshotView:
        """PubMed as it stood on ``as_of`` (today when None); views are cached."""
        as_of = as_of or date.today()
        with self._lock:
            cached = self._views.get(as_of)
        if cached is not None:
            return cached
        view = SnapshotView(self, as_of)
        with self._lock:
            return self._views.setdefault(as_of, view)


class SnapshotView:
    """The snapshot as PubMed served it on one day: what esearch can find and
    efetch can return."""

    def __init__(self, snapshot: Snapshot, as_of: date) -> None:
        self.snapshot = snapshot
        self.as_of = as_of
        self._records: dict[str, IndexedRecord] = {}
        self._indexed: set[str] = set()
        #: pmid -> targets of CommentsCorrections links hidden on this day
        self._hidden_links: dict[str, frozenset[str]] = {}
        self._masked: dict[str, bytes] = {}
        for pmid in snapshot.pmids:
            record = snapshot.record(pmid)
            if record.entrez_date is not None and record.entrez_date > as_of:
                continue
            pending = snapshot.pending.get(pmid)
            if pending is not None and pending.due <= as_of:
                record = _indexed(record, pending)
                self._indexed.add(pmid)
            self._records[pmid] = record
        for pmid, record in self._records.items():
            links = getattr(record, "comments_corrections", None) or []
            later = frozenset(t for _ref, t in links
                              if t is not None and t in snapshot and t not in self._records)
            if later:
                self._hidden_links[pmid] = later
                self._records[pmid] = replace_record(record, comments_corrections=[
                    (ref, t) for ref, t in links if t not in later])
        self.index = SearchIndex(self._records.values(), mesh_tree=snapshot.mesh_tree)
        # PubMed's default esearch order ("most recent"): newest entry first.
        self._rank = {
            pmid: i
            for i, pmid in enumerate(
                sorted(
                    self._records,
                    key=lambda p: (self._records[p].entrez_date or date.min, int(p)),
                    reverse=True,
                )
            )
        }

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, pmid: object) -> bool:
        return pmid in self._records

    @property
    def pmids(self) -> list[str]:
        """Visible PMIDs in PubMed's default order (newest entry first)."""
        return sorted(self._records, key=self._rank.__getitem__)

    def record(self, pmid: str) -> IndexedRecord:
        """The visible record's index entry (indexed form once due)."""
        return self._records[pmid]

    def raw(self, pmid: str) -> bytes | None:
        """The record's bytes as served on this day, or None if not visible."""
        if pmid not in self._records:
            return None
        raw = self.snapshot.revealed(pmid) if pmid in self._indexed else self.snapshot.raw(pmid)
        hidden = self._hidden_links.get(pmid)
        if hidden is None:
            return raw
        masked = self._masked.get(pmid)
        if masked is None:
            masked = self._masked.setdefault(pmid, hide_comments_corrections(raw, hidden))
        return masked

    def hidden_links(self, pmid: str) -> frozenset[str]:
        """Targets of the record's CommentsCorrections links not shown on this day
        (records that enter PubMed later)."""
        return self._hidden_links.get(pmid, frozenset())

    def search(
        self,
        term: str,
        *,
        datetype: str | None = None,
        mindate: str | None = None,
        maxdate: str | None = None,
        history: HistoryLookup | None = None,
    ) -> SearchResult:
        """Run a PubMed query over the visible records."""
        return self.index.search(term, datetype=datetype, mindate=mindate, maxdate=maxdate,
                                 history=history)

    def order(self, pmids: Iterable[str]) -> list[str]:
        """Visible PMIDs among ``pmids`` in PubMed's default order."""
        rank = self._rank
        return sorted((p for p in set(pmids) if p in rank), key=rank.__getitem__)
