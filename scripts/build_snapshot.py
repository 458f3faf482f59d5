"""Build kettrack's offline PubMed snapshot from the corpus and its indexing notes.

Reads ``data/corpus/publications.json`` (facts about real papers),
``data/source/records.toml`` (abstracts written for the snapshot, and the
publication types, MeSH, keywords and dates the kettrack team assigned) and
``data/source/journals.toml`` (journal abbreviations), and writes

- ``data/pubmed/snapshot.xml``: an efetch-format ``PubmedArticleSet``
  (DTD pubmed_250101), one ``PubmedArticle`` per record, sorted by PMID;
- ``data/pubmed/pending_indexing.json``: records NLM has not finished indexing,
  with the indexing the E-utilities stand-in reveals on their ``due`` date.

The output is deterministic: rebuilding from the same inputs gives the same
bytes. Run from the repository root::

    python scripts/build_snapshot.py            # writes data/pubmed/
    python scripts/build_snapshot.py --out DIR  # the same two files, into DIR

Only the standard library is used, plus ``kettrack.library.article.RESERVED_PMID_START``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kettrack.library.identifiers import RESERVED_PMID_START  # noqa: E402

DATA = ROOT / "data"
CORPUS = DATA / "corpus" / "publications.json"
RECORDS = DATA / "source" / "records.toml"
JOURNALS = DATA / "source" / "journals.toml"

HEADER = (
    '<?xml version="1.0" ?>\n'
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
)

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

#: Registry numbers NLM gives these substances in ChemicalList ("0" for classes).
CHEMICALS = {
    "Ketamine": "690G0D6V8H",
    "Ethanol": "3K9958V90M",
    "Naltrexone": "5S6W795CQM",
    "Midazolam": "R60L0SM5BC",
    "Excitatory Amino Acid Antagonists": "0",
    "Antidepressive Agents": "0",
    "Narcotic Antagonists": "0",
    "Receptors, N-Methyl-D-Aspartate": "0",
}

STATUSES = {"MEDLINE", "In-Process", "Publisher", "PubMed-not-MEDLINE"}
NLM_CATEGORIES = {"BACKGROUND", "OBJECTIVE", "METHODS", "RESULTS", "CONCLUSIONS", "UNASSIGNED"}
NAME_PARTICLES = {
    "da", "de", "do", "dos", "das", "di", "van", "von", "der", "den", "del", "la", "le",
}


class BuildError(Exception):
    """The inputs are inconsistent; the message names the record."""


# ----------------------------------------------------------------------------- helpers


def _text(value: Any) -> str:
    return escape(str(value))


def _attr(value: Any) -> str:
    return quoteattr(str(value))


def _el(name: str, value: Any, **attrs: Any) -> str:
    a = "".join(f" {k}={_attr(v)}" for k, v in attrs.items())
    return f"<{name}{a}>{_text(value)}</{name}>"


def _stable(key: str, salt: str, modulo: int) -> int:
    """A number in [0, modulo) fixed by the record key: deterministic variety."""
    return zlib.crc32(f"{salt}:{key}".encode()) % modulo


def _ymd(d: date) -> str:
    return f"<Year>{d.year}</Year><Month>{d.month:02d}</Month><Day>{d.day:02d}</Day>"


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise BuildError(f"{where}: not a YYYY-MM-DD date: {value!r}") from None


@dataclass
class Author:
    last: str
    fore: str | None
    initials: str | None
    suffix: str | None = None


def _initials_of(forename: str) -> str:
    parts = [p for p in re.split(r"[\s\-]+", forename.replace(".", " ")) if p]
    return "".join(p[0].upper() for p in parts if p not in NAME_PARTICLES)


def parse_author(raw: str, overrides: dict[str, list[str]]) -> Author:
    """Read the corpus's author styles: "Grabski M", "Zarate CA Jr", "Krystal J. H.",
    "Crowley, Nicole A.", "Mark J. Niciu", "Kolp". Ambiguous natural-order names
    (compound surnames) come from ``author_overrides`` in records.toml."""
    name = re.sub(r",?\s+et al\.?$", "", raw.strip())
    if name in overrides:
        last, fore, initials = overrides[name]
        return Author(last, fore or None, initials or None)
    suffix = None
    m = re.match(r"^(.*?)[\s,]+(Jr|Sr|II|III)\.?$", name)
    if m:
        name, suffix = m.group(1), m.group(2)
    if "," in name:  # "Crowley, Nicole A."
        last, fore = (s.strip() for s in name.split(",", 1))
        fore = fore.replace(".", "").strip()
        return Author(last, fore or None, _initials_of(fore) or None, suffix)
    tokens = name.split()
    if len(tokens) == 1:
        return Author(tokens[0], None, None, suffix)
    if re.fullmatch(r"[A-Z]{1,4}", tokens[-1]):  # "Grabski M", "van der Meer PB"
        initials = tokens[-1]
        return Author(" ".join(tokens[:-1]), initials, initials, suffix)
    dotted = [t for t in tokens if re.fullmatch(r"[A-Z]\.", t)]
    if dotted and all(re.fullmatch(r"[A-Z]\.", t) for t in tokens[len(tokens) - len(dotted):]):
        # "Krystal J. H.", "D'Souza D. C."
        last = " ".join(tokens[: len(tokens) - len(dotted)])
        initials = "".join(t[0] for t in dotted)
        return Author(last, initials, initials, suffix)
    # natural order: "Mark J. Niciu", "Brenda Costa da Conceição"
    i = len(tokens) - 1
    while i > 1 and tokens[i - 1] in NAME_PARTICLES:
        i -= 1
    last = " ".join(tokens[i:])
    fore = " ".join(tokens[:i]).replace(".", "")
    return Author(last, fore, _initials_of(fore), suffix)


# ----------------------------------------------------------------------------- loading


def load_inputs(
    corpus_path: Path = CORPUS, records_path: Path = RECORDS, journals_path: Path = JOURNALS
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    corpus = {r["id"]: r for r in json.loads(corpus_path.read_text(encoding="utf-8"))}
    with records_path.open("rb") as fh:
        records = tomllib.load(fh)
    with journals_path.open("rb") as fh:
        journals = tomllib.load(fh)
    for key in records:
        if key not in corpus:
            raise BuildError(f"records.toml [{key}]: no such corpus id")
    return corpus, records, journals


def assign_pmids(corpus: dict[str, dict[str, Any]], records: dict[str, Any]) -> dict[str, str]:
    """Corpus PMIDs where verified; otherwise reserved ones, numbered in sorted id order."""
    pmids: dict[str, str] = {}
    seq = 0
    for key in sorted(records):
        given = corpus[key].get("pmid")
        if given:
            pmids[key] = str(int(given))
        else:
            seq += 1
            pmids[key] = str(RESERVED_PMID_START + seq)
    seen: dict[str, str] = {}
    for key, pmid in pmids.items():
        if pmid in seen:
            raise BuildError(f"[{key}] and [{seen[pmid]}] share PMID {pmid}")
        seen[pmid] = key
    return pmids


# ----------------------------------------------------------------------------- one record


class RecordBuilder:
    def __init__(
        self,
        corpus: dict[str, dict[str, Any]],
        records: dict[str, Any],
        journals: dict[str, dict[str, Any]],
        pmids: dict[str, str],
    ) -> None:
        self.corpus = corpus
        self.records = records
        self.journals = journals
        self.pmids = pmids

    # -- derived facts

    def journal(self, key: str) -> dict[str, Any]:
        src = self.records[key]
        name = src.get("journal") or self.corpus[key].get("journal")
        if not name:
            raise BuildError(f"[{key}]: no journal in the corpus or records.toml")
        if name not in self.journals:
            raise BuildError(f"[{key}]: journal {name!r} missing from journals.toml")
        return {"title": name, **self.journals[name]}

    def year(self, key: str) -> int:
        fact = self.corpus[key]
        if fact.get("year"):
            return int(fact["year"])
        if fact.get("epub_date"):
            return int(fact["epub_date"][:4])
        return int(self.records[key].get("year", 0)) or _date(
            self.records[key]["entrez_date"], key
        ).year

    def status(self, key: str) -> str:
        src = self.records[key]
        status = src.get("status") or ("MEDLINE" if src.get("indexed") else None)
        if status not in STATUSES:
            raise BuildError(f"[{key}]: status {status!r}; set indexed = DATE or status = ...")
        if status == "MEDLINE" and not src.get("indexed"):
            raise BuildError(f"[{key}]: MEDLINE status needs an indexed date")
        if status != "MEDLINE" and src.get("indexed"):
            raise BuildError(f"[{key}]: indexed = {src['indexed']} but status {status}")
        return status

    def ref_source(self, key: str) -> str:
        fact = self.corpus[key]
        j = self.journal(key)
        out = f"{j['medline_ta']}. {self.year(key)}"
        if fact.get("month"):
            out += f" {fact['month']}"
        if fact.get("volume"):
            out += f";{fact['volume']}"
            if fact.get("issue"):
                out += f"({fact['issue']})"
        pages = self.pages(key)
        if pages:
            out += f":{pages[2]}"
        return out

    def pages(self, key: str) -> tuple[str | None, str | None, str] | None:
        raw = self.corpus[key].get("pages")
        if not raw:
            return None
        raw = re.sub(r"\s*\(article number\)\s*$", "", str(raw)).strip()
        m = re.fullmatch(r"([A-Za-z]*\d+)-([A-Za-z]*\d+)", raw)
        if m and len(m.group(2)) >= len(m.group(1)):
            return m.group(1), m.group(2), raw
        if m:  # "2062-71": MEDLINE's short form; keep it as printed
            return None, None, raw
        return raw, None, raw

    def authors(self, key: str) -> tuple[list[Author], bool]:
        fact = self.corpus[key]
        overrides = self.records[key].get("author_overrides", {})
        raw = fact.get("authors") or []
        complete = bool(fact.get("authors_complete"))
        if not raw and fact.get("first_author"):
            raw, complete = [fact["first_author"]], False
        if any(re.search(r"et al\.?$", a) for a in raw):
            complete = False
        return [parse_author(a, overrides) for a in raw], complete

    def nct_ids(self, key: str) -> list[str]:
        ids = self.corpus[key].get("registered_trial_ids") or []
        return [i for i in ids if re.fullmatch(r"NCT\d{8}", i)]

    # -- XML

    def build(self, key: str) -> tuple[str, dict[str, Any] | None]:
        fact, src, pmid = self.corpus[key], self.records[key], self.pmids[key]
        status = self.status(key)
        entrez = _date(src["entrez_date"], f"[{key}] entrez_date")
        indexed = _date(src["indexed"], f"[{key}] indexed") if src.get("indexed") else None
        due = (
            _date(src["indexing_due"], f"[{key}] indexing_due") if src.get("indexing_due") else None
        )
        if due and status not in {"In-Process", "Publisher"}:
            raise BuildError(f"[{key}]: indexing_due needs status In-Process or Publisher")
        if status in {"In-Process", "Publisher"} and not due:
            raise BuildError(f"[{key}]: status {status} needs indexing_due")
        if indexed and indexed <= entrez:
            raise BuildError(f"[{key}]: indexed {indexed} is not after entrez {entrez}")
        if due and due <= entrez:
            raise BuildError(f"[{key}]: indexing_due {due} is not after entrez {entrez}")

        pub_types = [tuple(p) for p in src.get("publication_types", [])]
        mesh = [(m["name"], m.get("ui"), bool(m.get("major", False))) for m in src.get("mesh", [])]
        for name, ui, _ in mesh:
            if not ui:
                raise BuildError(f"[{key}]: MeSH {name!r} has no UI (the DTD requires one)")
        pending = None
        if due:
            pending = {
                "due": due.isoformat(),
                "publication_types": [list(p) for p in pub_types],
                "mesh": [[n, u, m] for n, u, m in mesh],
                "status": "MEDLINE",
            }
            served_types = [tuple(p) for p in src.get("publisher_publication_types", [])] or [
                ("Journal Article", "D016428")
            ]
            served_mesh: list[tuple[str, str, bool]] = []
        else:
            served_types, served_mesh = pub_types, (mesh if status == "MEDLINE" else [])
            if mesh and status != "MEDLINE":
                raise BuildError(f"[{key}]: MeSH given but status is {status}")
        if not served_types:
            raise BuildError(f"[{key}]: no publication types")

        revised = (indexed or entrez) + timedelta(days=3 + _stable(key, "revised", 40))
        journal = self.journal(key)
        year = self.year(key)
        epub = _date(fact["epub_date"], f"[{key}] epub_date") if fact.get("epub_date") else None
        preprint = any(p[0] == "Preprint" for p in served_types)
        model = "Electronic" if preprint else ("Print-Electronic" if epub else "Print")

        c: list[str] = []
        c.append(f'<MedlineCitation Status="{status}" Owner="NLM">')
        c.append(f'<PMID Version="1">{pmid}</PMID>')
        if indexed:
            c.append(f"<DateCompleted>{_ymd(indexed)}</DateCompleted>")
        c.append(f"<DateRevised>{_ymd(revised)}</DateRevised>")
        c.append(f"<Article PubModel={_attr(model)}>")
        # Print-era citations (before 2000, no electronic date) were cited from print.
        medium = "Internet" if (epub or preprint or year >= 2000) else "Print"
        ji = [f"<JournalIssue CitedMedium={_attr(medium)}>"]
        if fact.get("volume"):
            ji.append(_el("Volume", fact["volume"]))
        if fact.get("issue"):
            ji.append(_el("Issue", fact["issue"]))
        pubdate = f"<Year>{year}</Year>"
        if fact.get("month"):
            if fact["month"] not in MONTHS:
                raise BuildError(f"[{key}]: month {fact['month']!r}")
            pubdate += f"<Month>{fact['month']}</Month>"
        ji.append(f"<PubDate>{pubdate}</PubDate></JournalIssue>")
        c.append("<Journal>" + "".join(ji) + _el("Title", journal["title"])
                 + _el("ISOAbbreviation", journal["iso_abbreviation"]) + "</Journal>")
        title = fact["title"].strip()
        if not title.endswith((".", "?", "!")):
            title += "."
        c.append(_el("ArticleTitle", title))
        pages = self.pages(key)
        doi = fact.get("doi")
        if pages:
            start, end, pgn = pages
            p = (_el("StartPage", start) if start else "") + (_el("EndPage", end) if end else "")
            c.append(f"<Pagination>{p}{_el('MedlinePgn', pgn)}</Pagination>")
        elif not doi:
            c.append("<Pagination><MedlinePgn></MedlinePgn></Pagination>")
        if doi:
            c.append(_el("ELocationID", doi, EIdType="doi", ValidYN="Y"))
        sections = src.get("abstract", [])
        if not sections:
            raise BuildError(f"[{key}]: no abstract")
        a = []
        for s in sections:
            attrs = {}
            if s.get("label"):
                attrs["Label"] = s["label"]
            if s.get("category"):
                if s["category"] not in NLM_CATEGORIES:
                    raise BuildError(f"[{key}]: NLM category {s['category']!r}")
                attrs["NlmCategory"] = s["category"]
            a.append(_el("AbstractText", " ".join(s["text"].split()), **attrs))
        c.append("<Abstract>" + "".join(a) + "</Abstract>")
        authors, complete = self.authors(key)
        if authors:
            al = []
            for au in authors:
                x = _el("LastName", au.last)
                if au.fore:
                    x += _el("ForeName", au.fore)
                if au.initials:
                    x += _el("Initials", au.initials)
                if au.suffix:
                    x += _el("Suffix", au.suffix)
                al.append(f'<Author ValidYN="Y">{x}</Author>')
            c.append(f'<AuthorList CompleteYN="{"Y" if complete else "N"}">' + "".join(al)
                     + "</AuthorList>")
        c.append(_el("Language", src.get("language", "eng")))
        ncts = self.nct_ids(key)
        if ncts:
            acc = "".join(_el("AccessionNumber", n) for n in ncts)
            c.append('<DataBankList CompleteYN="Y"><DataBank><DataBankName>ClinicalTrials.gov'
                     f"</DataBankName><AccessionNumberList>{acc}</AccessionNumberList></DataBank>"
                     "</DataBankList>")
        c.append("<PublicationTypeList>"
                 + "".join(_el("PublicationType", n, UI=u) for n, u in served_types)
                 + "</PublicationTypeList>")
        if epub:
            c.append(f'<ArticleDate DateType="Electronic">{_ymd(epub)}</ArticleDate>')
        c.append("</Article>")
        info = ""
        if journal.get("country"):
            info += _el("Country", journal["country"])
        info += _el("MedlineTA", journal["medline_ta"])
        c.append(f"<MedlineJournalInfo>{info}</MedlineJournalInfo>")
        chems = [(CHEMICALS[n], n, u) for n, u, _ in served_mesh if n in CHEMICALS]
        if chems:
            c.append("<ChemicalList>" + "".join(
                f"<Chemical>{_el('RegistryNumber', r)}{_el('NameOfSubstance', n, UI=u)}</Chemical>"
                for r, n, u in sorted(chems, key=lambda t: (t[0] == "0", t[1]))
            ) + "</ChemicalList>")
        if status == "MEDLINE":
            c.append("<CitationSubset>IM</CitationSubset>")
        cc = []
        for link in src.get("comments_corrections", []):
            if link.get("target"):
                target = link["target"]
                if target not in self.records:
                    raise BuildError(f"[{key}]: comments_corrections target {target!r} not built")
                source, ref_pmid = self.ref_source(target), self.pmids[target]
            else:
                source, ref_pmid = link["source"], link.get("pmid")
            x = _el("RefSource", source)
            if ref_pmid:
                x += _el("PMID", ref_pmid, Version="1")
            cc.append(f"<CommentsCorrections RefType={_attr(link['ref_type'])}>{x}"
                      "</CommentsCorrections>")
        if cc:
            c.append("<CommentsCorrectionsList>" + "".join(cc) + "</CommentsCorrectionsList>")
        if served_mesh:
            c.append("<MeshHeadingList>" + "".join(
                "<MeshHeading>"
                + _el("DescriptorName", n, UI=u, MajorTopicYN="Y" if m else "N")
                + "</MeshHeading>"
                for n, u, m in served_mesh
            ) + "</MeshHeadingList>")
        if src.get("keywords"):
            c.append('<KeywordList Owner="NOTNLM">' + "".join(
                _el("Keyword", k, MajorTopicYN="N") for k in src["keywords"]
            ) + "</KeywordList>")
        c.append("</MedlineCitation>")

        # PubmedData
        hour, minute = _stable(key, "hour", 24), _stable(key, "minute", 60)
        hist = [("entrez", entrez, hour, minute), ("pubmed", entrez, min(hour + 1, 23), minute)]
        medline_day = indexed or entrez
        hist.append(("medline", medline_day, _stable(key, "mhour", 24), _stable(key, "mmin", 60)))
        h = "".join(
            f'<PubMedPubDate PubStatus="{s}">{_ymd(d)}<Hour>{hh}</Hour><Minute>{mm}</Minute>'
            "</PubMedPubDate>"
            for s, d, hh, mm in sorted(hist, key=lambda t: (t[1], t[2], t[3], t[0]), reverse=True)
        )
        if preprint:
            pub_status = "epublish"
        elif fact.get("volume") or fact.get("pages") or not epub:
            pub_status = "ppublish"
        else:
            pub_status = "aheadofprint"
        ids = [_el("ArticleId", pmid, IdType="pubmed")]
        if fact.get("pmcid"):
            ids.append(_el("ArticleId", fact["pmcid"], IdType="pmc"))
        if doi:
            ids.append(_el("ArticleId", doi, IdType="doi"))
        d = (f"<PubmedData><History>{h}</History>{_el('PublicationStatus', pub_status)}"
             f"<ArticleIdList>{''.join(ids)}</ArticleIdList></PubmedData>")
        return "<PubmedArticle>" + "".join(c) + d + "</PubmedArticle>", pending


# ----------------------------------------------------------------------------- the set


def _pending_json(pending: dict[str, Any]) -> str:
    """pending_indexing.json with one publication type or MeSH heading per line."""
    def dump(v: Any) -> str:
        return json.dumps(v, ensure_ascii=False)

    entries = []
    for pmid in sorted(pending, key=int):
        e = pending[pmid]
        lines = [
            f"  {dump(pmid)}: {{",
            f'    "due": {dump(e["due"])},',
            f'    "status": {dump(e["status"])},',
        ]
        for field in ("publication_types", "mesh"):
            items = ",\n".join(f"      {dump(x)}" for x in e[field])
            comma = "," if field == "publication_types" else ""
            lines.append(f'    "{field}": [\n{items}\n    ]{comma}')
        lines.append("  }")
        entries.append("\n".join(lines))
    return "{\n" + ",\n".join(entries) + "\n}\n"


def build(out_dir: Path, *, quiet: bool = False) -> dict[str, int]:
    """Write snapshot.xml and pending_indexing.json into ``out_dir``; return counts."""
    corpus, records, journals = load_inputs()
    pmids = assign_pmids(corpus, records)
    builder = RecordBuilder(corpus, records, journals, pmids)
    built: list[tuple[int, str]] = []
    pending: dict[str, Any] = {}
    statuses: dict[str, int] = {}
    for key in sorted(records, key=lambda k: int(pmids[k])):
        xml, pend = builder.build(key)
        built.append((int(pmids[key]), xml))
        if pend:
            pending[pmids[key]] = pend
        s = builder.status(key)
        statuses[s] = statuses.get(s, 0) + 1
    out_dir.mkdir(parents=True, exist_ok=True)
    body = (
        HEADER + "<PubmedArticleSet>\n" + "\n".join(x for _, x in built)
        + "\n</PubmedArticleSet>\n"
    )
    (out_dir / "snapshot.xml").write_text(body, encoding="utf-8", newline="\n")
    (out_dir / "pending_indexing.json").write_text(_pending_json(pending), encoding="utf-8",
                                                    newline="\n")
    counts = {
        "records": len(built),
        "indexed": statuses.get("MEDLINE", 0),
        "pending": len(pending),
        "not_medline": statuses.get("PubMed-not-MEDLINE", 0),
        "reserved_pmids": sum(1 for p in pmids.values() if int(p) >= RESERVED_PMID_START),
    }
    if not quiet:
        print(
            f"{counts['records']} records: {counts['indexed']} indexed (MEDLINE), "
            f"{counts['pending']} pending indexing, {counts['not_medline']} PubMed-not-MEDLINE; "
            f"{counts['reserved_pmids']} reserved PMIDs (>= {RESERVED_PMID_START}) -> {out_dir}"
        )
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA / "pubmed",
                        help="folder for snapshot.xml and pending_indexing.json "
                        "(default data/pubmed)")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    try:
        build(args.out, quiet=args.quiet)
    except BuildError as exc:
        print(f"build_snapshot: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
