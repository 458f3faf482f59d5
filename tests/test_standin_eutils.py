"""The in-process E-utilities stand-in, driven through httpx as kettrack drives NCBI.

Every answer is parsed with kettrack's own Bio.Entrez reader, which validates
against NCBI's DTDs: a stand-in answer that parses is shaped as NCBI's would be.
The snapshot here is built from small synthetic records whose dates, status and
indexing the tests control; the bundled snapshot and real NCBI records are
checked at the end.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from Bio import Entrez

from kettrack.dev.replicate import replicate
from kettrack.errors import ServiceError
from kettrack.sources import entrez_xml
from kettrack.standin.eutils import PUBMED_LIMIT, PUBMED_SET_HEAD, PUBMED_SET_TAIL, EutilsStandin
from kettrack.standin.snapshot import (
    PendingIndexing,
    Snapshot,
    default_snapshot_dir,
    split_records,
)

from .conftest import FIXTURES

BASE = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
ALL_VISIBLE = date(2025, 1, 1)

# ---------------------------------------------------------------------------- records

_PT_UI = {
    "Journal Article": "D016428",
    "Randomized Controlled Trial": "D016449",
    "Review": "D016454",
    "Retracted Publication": "D016441",
}


def article(
    pmid: int,
    title: str,
    entrez: date,
    *,
    abstract: str = "",
    pub_types: tuple[str, ...] = ("Journal Article",),
    mesh: tuple[tuple[str, str, bool], ...] = (),
    status: str = "MEDLINE",
    keywords: tuple[str, ...] = (),
    coi: str | None = None,
) -> str:
    """One PubmedArticle in efetch's format (pubmed_250101 element order)."""
    pts = "".join(f'<PublicationType UI="{_PT_UI[p]}">{p}</PublicationType>' for p in pub_types)
    heads = "".join(
        f'<MeshHeading><DescriptorName UI="{ui}" MajorTopicYN="{"Y" if major else "N"}">'
        f"{name}</DescriptorName></MeshHeading>"
        for name, ui, major in mesh
    )
    abstract_xml = (
        f"<Abstract><AbstractText>{abstract}</AbstractText></Abstract>" if abstract else ""
    )
    keyword_xml = (
        '<KeywordList Owner="NOTNLM">'
        + "".join(f'<Keyword MajorTopicYN="N">{k}</Keyword>' for k in keywords)
        + "</KeywordList>"
        if keywords
        else ""
    )
    d = entrez
    return (
        f'<PubmedArticle><MedlineCitation Status="{status}" Owner="NLM">'
        f'<PMID Version="1">{pmid}</PMID>'
        f"<DateRevised><Year>{d.year}</Year><Month>{d.month:02d}</Month><Day>{d.day:02d}</Day>"
        "</DateRevised>"
        '<Article PubModel="Print"><Journal><ISSN IssnType="Electronic">1234-5678</ISSN>'
        '<JournalIssue CitedMedium="Internet"><Volume>1</Volume>'
        f"<PubDate><Year>{d.year}</Year><Month>{d:%b}</Month></PubDate></JournalIssue>"
        "<Title>Journal of Tests</Title><ISOAbbreviation>J Tests</ISOAbbreviation></Journal>"
        f"<ArticleTitle>{title}</ArticleTitle><Pagination><MedlinePgn>1-2</MedlinePgn>"
        f"</Pagination>{abstract_xml}"
        '<AuthorList CompleteYN="Y"><Author ValidYN="Y"><LastName>Grabski</LastName>'
        "<ForeName>Meg</ForeName><Initials>M</Initials></Author></AuthorList>"
        f"<Language>eng</Language><PublicationTypeList>{pts}</PublicationTypeList></Article>"
        "<MedlineJournalInfo><Country>England</Country><MedlineTA>J Tests</MedlineTA>"
        "<NlmUniqueID>0000001</NlmUniqueID></MedlineJournalInfo>"
        + (f"<MeshHeadingList>{heads}</MeshHeadingList>" if heads else "")
        + keyword_xml
        + (f"<CoiStatement>{coi}</CoiStatement>" if coi else "")
        + "</MedlineCitation><PubmedData><History>"
        f'<PubMedPubDate PubStatus="entrez"><Year>{d.year}</Year><Month>{d.month}</Month>'
        f"<Day>{d.day}</Day><Hour>6</Hour><Minute>0</Minute></PubMedPubDate>"
        f'<PubMedPubDate PubStatus="pubmed"><Year>{d.year}</Year><Month>{d.month}</Month>'
        f"<Day>{d.day}</Day><Hour>6</Hour><Minute>1</Minute></PubMedPubDate>"
        "</History><PublicationStatus>ppublish</PublicationStatus><ArticleIdList>"
        f'<ArticleId IdType="pubmed">{pmid}</ArticleId>'
        f'<ArticleId IdType="doi">10.1000/test.{pmid}</ArticleId>'
        "</ArticleIdList></PubmedData></PubmedArticle>"
    )


KETAMINE = ("Ketamine", "D007649", True)
ALCOHOLISM = ("Alcoholism", "D000437", False)

RECORDS = [
    article(
        30000001,
        "Ketamine for alcohol use disorder: a randomized controlled trial",
        date(2020, 3, 1),
        abstract="A single <i>ketamine</i> infusion reduced relapse.",
        pub_types=("Journal Article", "Randomized Controlled Trial"),
        mesh=(KETAMINE, ALCOHOLISM),
    ),
    article(30000002, "Esketamine and drinking in rats", date(2021, 6, 15), mesh=(KETAMINE,)),
    article(30000003, "Ketamine in addiction: a review", date(2022, 1, 10), pub_types=("Review",)),
    article(
        30000004,
        "Retracted: ketamine and craving",
        date(2023, 2, 1),
        pub_types=("Journal Article", "Retracted Publication"),
    ),
    article(
        30000005,
        "Ketamine-assisted therapy for heavy drinking",
        date(2024, 5, 1),
        status="In-Process",
        keywords=("psychedelic therapy",),
        coi="None declared.",
    ),
    article(30000006, "Budesonide in mild asthma", date(2024, 9, 1)),
]
PENDING = {
    "30000005": {
        "due": "2024-07-01",
        "publication_types": [
            ["Journal Article", "D016428"],
            ["Randomized Controlled Trial", "D016449"],
        ],
        "mesh": [["Ketamine", "D007649", True], ["Alcoholism", None, False]],
        "status": "MEDLINE",
    }
}
SNAPSHOT_XML = (
    '<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, '
    '1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
    "<PubmedArticleSet>\n" + "\n".join(RECORDS) + "\n</PubmedArticleSet>\n"
).encode()


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return Snapshot.from_bytes(SNAPSHOT_XML, json.dumps(PENDING))


def client_for(standin: EutilsStandin) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(standin), base_url=BASE)


@pytest.fixture
def standin(snapshot: Snapshot) -> EutilsStandin:
    return EutilsStandin(snapshot, as_of=ALL_VISIBLE)


@pytest.fixture
def client(standin: EutilsStandin) -> Iterator[httpx.Client]:
    with client_for(standin) as c:
        yield c


def esearch(client: httpx.Client, **params: object) -> dict:
    response = client.get("esearch.fcgi", params={"db": "pubmed", **params})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    return entrez_xml.read(response.content)


def efetch_pmids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200
    return [str(r["MedlineCitation"]["PMID"]) for r in entrez_xml.parse(response.content)]


# ---------------------------------------------------------------------------- snapshot


def test_snapshot_keeps_record_bytes_and_indexes_them(snapshot: Snapshot) -> None:
    assert snapshot.pmids == [str(30000001 + i) for i in range(6)]
    assert snapshot.raw("30000002") == RECORDS[1].encode()
    first = snapshot.record("30000001")
    assert first.title.startswith("Ketamine for alcohol use disorder")
    assert first.abstract == "A single ketamine infusion reduced relapse."  # <i> flattened
    assert first.mesh == [("Ketamine", True), ("Alcoholism", False)]
    assert first.publication_types == ["Journal Article", "Randomized Controlled Trial"]
    assert first.authors == ["Grabski M"]
    assert first.languages == ["eng"]
    assert first.pub_date == date(2020, 3, 1)
    assert first.entrez_date == date(2020, 3, 1)
    assert snapshot.record("30000005").keywords == ["psychedelic therapy"]


def test_split_records_skips_the_set_element() -> None:
    pmids = [pmid for pmid, _raw in split_records(SNAPSHOT_XML)]
    assert pmids == [str(30000001 + i) for i in range(6)]


def test_load_reads_files(tmp_path: Path) -> None:
    (tmp_path / "pubmed").mkdir()
    (tmp_path / "pubmed" / "snapshot.xml").write_bytes(SNAPSHOT_XML)
    (tmp_path / "pubmed" / "pending_indexing.json").write_text(json.dumps(PENDING))
    loaded = Snapshot.load(tmp_path / "pubmed" / "snapshot.xml")
    assert len(loaded) == 6 and loaded.pending == {}
    default = Snapshot.load_default(tmp_path)
    assert default.pending["30000005"].due == date(2024, 7, 1)


def test_default_snapshot_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KETTRACK_SNAPSHOT_DIR", str(tmp_path))
    assert default_snapshot_dir() == tmp_path
    monkeypatch.delenv("KETTRACK_SNAPSHOT_DIR")
    assert default_snapshot_dir().name == "data"


# ---------------------------------------------------------------------------- esearch


def test_esearch_count_ids_and_translation(client: httpx.Client) -> None:
    result = esearch(client, term="ketamine")
    # Newest entry first: PubMed's default order.
    assert result["IdList"] == ["30000005", "30000004", "30000003", "30000002", "30000001"]
    assert result["Count"] == "5"
    assert result["RetMax"] == "5" and result["RetStart"] == "0"
    assert "ketamine" in result["QueryTranslation"]
    assert "QueryKey" not in result and "WebEnv" not in result


def test_esearch_response_is_shaped_like_ncbis(client: httpx.Client) -> None:
    text = client.get("esearch.fcgi", params={"db": "pubmed", "term": "ketamine"}).text
    reference = (FIXTURES / "ncbi" / "esearch2.xml").read_text().splitlines()
    assert text.splitlines()[:2] == reference[:2]  # XML declaration and DOCTYPE
    assert re.match(
        r"<eSearchResult><Count>5</Count><RetMax>5</RetMax><RetStart>0</RetStart>"
        r"<IdList>\n<Id>30000005</Id>\n",
        text.splitlines(keepends=True)[2] + "".join(text.splitlines(keepends=True)[3:4]),
    )


def test_esearch_paging_and_default_retmax(client: httpx.Client) -> None:
    page = esearch(client, term="ketamine", retstart=1, retmax=2)
    assert page["IdList"] == ["30000004", "30000003"]
    assert (page["Count"], page["RetMax"], page["RetStart"]) == ("5", "2", "1")
    past_end = esearch(client, term="ketamine", retstart=10)
    assert past_end["IdList"] == [] and past_end["Count"] == "5"


def test_esearch_rettype_count(client: httpx.Client) -> None:
    result = esearch(client, term="ketamine", rettype="count")
    assert dict(result) == {"Count": "5"}


def test_esearch_date_limits(client: httpx.Client) -> None:
    result = esearch(client, term="ketamine", datetype="edat", mindate="2021", maxdate="2022")
    assert result["IdList"] == ["30000003", "30000002"]
    assert "Date - Entrez" in result["QueryTranslation"]
    pdat = esearch(
        client, term="ketamine", datetype="pdat", mindate="2020/01/01", maxdate="2020/12/31"
    )
    assert pdat["IdList"] == ["30000001"]


def test_esearch_usehistory_numbers_query_keys_per_webenv(client: httpx.Client) -> None:
    first = esearch(client, term="ketamine", usehistory="y")
    assert first["QueryKey"] == "1"
    assert re.fullmatch(r"MCID_[0-9a-f]{24}", first["WebEnv"])
    second = esearch(client, term="asthma", usehistory="y", WebEnv=first["WebEnv"])
    assert (second["QueryKey"], second["WebEnv"]) == ("2", first["WebEnv"])
    other = esearch(client, term="asthma", usehistory="y")
    assert other["QueryKey"] == "1" and other["WebEnv"] != first["WebEnv"]


def test_esearch_history_set_terms(client: httpx.Client) -> None:
    found = esearch(client, term="ketamine", usehistory="y")
    env = found["WebEnv"]
    retracted = esearch(
        client,
        term="#1 AND (retracted publication[pt] OR retraction of publication[pt])",
        WebEnv=env,
        usehistory="y",
    )
    assert retracted["IdList"] == ["30000004"]
    # one parser for both: the history set and the index terms translate as a plain search
    plain = esearch(client, term="(retracted publication[pt] OR retraction of publication[pt])")
    assert retracted["QueryTranslation"] == f"#1 AND {plain['QueryTranslation']}"
    assert retracted["QueryKey"] == "2"
    assert esearch(client, term="#1", WebEnv=env)["Count"] == "5"
    reviews_first = esearch(client, term="(review[pt]) AND #1", WebEnv=env)
    assert reviews_first["IdList"] == ["30000003"]
    not_reviews = esearch(client, term="#1 NOT review[pt]", WebEnv=env)
    assert "30000003" not in not_reviews["IdList"] and not_reviews["Count"] == "4"
    either = esearch(client, term="#2 OR asthma", WebEnv=env)
    assert either["IdList"] == ["30000006", "30000004"]
    # query_key narrows a search to a stored set, as NCBI's esearch does.
    narrowed = esearch(client, term="review[pt]", WebEnv=env, query_key="1")
    assert narrowed["IdList"] == ["30000003"]
    dated = esearch(client, term="#1", WebEnv=env, datetype="edat", mindate="2022", maxdate="2023")
    assert dated["IdList"] == ["30000004", "30000003"]


def test_esearch_unknown_history_set_is_an_error(client: httpx.Client) -> None:
    found = esearch(client, term="ketamine", usehistory="y")
    answer = esearch(client, term="#7 AND ketamine", WebEnv=found["WebEnv"])
    assert answer["ERROR"] == "Unable to obtain query #7"
    assert "Count" not in answer


def test_esearch_phrase_not_found_and_no_items(client: httpx.Client) -> None:
    widened = esearch(client, term="ketamine AND zzqxv")
    # NCBI drops the unknown phrase (and so widens the query), and says so.
    assert widened["ErrorList"]["PhraseNotFound"] == ["zzqxv"]
    assert widened["Count"] == "5"
    nothing = esearch(client, term='"alcohol use disorder"[ti] AND asthma[ti]')
    assert nothing["Count"] == "0" and nothing["IdList"] == []
    assert nothing["WarningList"]["OutputMessage"] == ["No items found."]
    field = esearch(client, term="ketamine[nonsense]")
    assert field["ErrorList"]["FieldNotFound"]


def test_esearch_errors_are_http_200_error_elements(client: httpx.Client) -> None:
    bad_syntax = esearch(client, term="(ketamine")
    assert "unbalanced" in bad_syntax["ERROR"] and "Count" not in bad_syntax
    bad_db = client.get("esearch.fcgi", params={"db": "fleegle", "term": "x"})
    assert bad_db.status_code == 200
    # Bio.Entrez itself raises on <ERROR>, as it does for NCBI's esearch.baderror.xml.
    with pytest.raises(RuntimeError, match="Invalid db name specified: fleegle"):
        Entrez.read(io.BytesIO(bad_db.content))
    reference = (FIXTURES / "ncbi" / "esearch.baderror.xml").read_bytes()
    assert entrez_xml.read(bad_db.content) == entrez_xml.read(reference)
    assert esearch(client, term="")["ERROR"] == "Empty term and query_key - nothing todo"


def test_esearch_accepts_post(client: httpx.Client, standin: EutilsStandin) -> None:
    response = client.post("esearch.fcgi", data={"db": "pubmed", "term": "asthma"})
    assert entrez_xml.read(response.content)["IdList"] == ["30000006"]
    assert standin.requests[-1] == ("esearch", "POST", {"db": "pubmed", "term": "asthma"})


# ------------------------------------------------------------------ the 9,999 ceiling


@pytest.fixture(scope="module")
def big_standin(snapshot: Snapshot) -> EutilsStandin:
    big = replicate(snapshot,
        PUBMED_LIMIT + 51, 50_000_000, first=date(2010, 1, 1), last=date(2019, 12, 31)
    )
    return EutilsStandin(big, as_of=ALL_VISIBLE)


def test_esearch_reaches_only_the_first_9999(big_standin: EutilsStandin) -> None:
    with client_for(big_standin) as client:
        result = esearch(
            client, term="journal article[pt] OR review[pt]", retmax=100000, usehistory="y"
        )
        assert int(result["Count"]) > PUBMED_LIMIT
        assert len(result["IdList"]) == PUBMED_LIMIT
        tail = esearch(client, term="journal article[pt] OR review[pt]", retstart=9990, retmax=500)
        assert len(tail["IdList"]) == 9
        refused = esearch(client, term="journal article[pt] OR review[pt]", retstart=9999)
        assert "'retstart' cannot be larger than 9998" in refused["ERROR"]
        # Clients split by date instead: each window is under the ceiling.
        window = esearch(
            client,
            term="journal article[pt] OR review[pt]",
            datetype="edat",
            mindate="2010",
            maxdate="2012",
            retmax=10000,
        )
        assert 0 < int(window["Count"]) == len(window["IdList"]) < PUBMED_LIMIT
        # History fetches stop at the same place.
        env = {"WebEnv": result["WebEnv"], "query_key": result["QueryKey"], "db": "pubmed"}
        end = client.get("efetch.fcgi", params={**env, "retstart": 9997, "retmax": 10})
        assert len(efetch_pmids(end)) == 2
        beyond = client.get("efetch.fcgi", params={**env, "retstart": 9999, "retmax": 10})
        assert b"cannot be larger than 9998" in beyond.content


# ---------------------------------------------------------------------------- efetch


def test_efetch_by_ids_in_request_order(client: httpx.Client, snapshot: Snapshot) -> None:
    response = client.get(
        "efetch.fcgi",
        params={"db": "pubmed", "id": "30000003,30000001,99999999,30000002", "retmode": "xml"},
    )
    assert efetch_pmids(response) == ["30000003", "30000001", "30000002"]
    # The answer is the stored bytes, concatenated.
    assert snapshot.raw("30000003") in response.content
    assert response.content.startswith(b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet')


def test_efetch_by_post(client: httpx.Client) -> None:
    response = client.post("efetch.fcgi", data={"db": "pubmed", "id": "30000004,30000006"})
    assert efetch_pmids(response) == ["30000004", "30000006"]


def test_efetch_unknown_ids_give_the_empty_set(client: httpx.Client) -> None:
    response = client.get("efetch.fcgi", params={"db": "pubmed", "id": "1,2"})
    assert response.status_code == 200
    assert list(entrez_xml.parse(response.content)) == []
    empty = (FIXTURES / "ncbi" / "37909814.xml").read_bytes()
    assert response.content.replace(b"\n", b"") == empty.replace(b"\n", b"")


def test_efetch_by_history(client: httpx.Client) -> None:
    found = esearch(client, term="ketamine", usehistory="y")
    params = {"db": "pubmed", "WebEnv": found["WebEnv"], "query_key": found["QueryKey"]}
    assert efetch_pmids(client.get("efetch.fcgi", params=params)) == found["IdList"]
    page = client.get("efetch.fcgi", params={**params, "retstart": 1, "retmax": 2})
    assert efetch_pmids(page) == found["IdList"][1:3]


def test_efetch_errors(client: httpx.Client) -> None:
    no_ids = client.get("efetch.fcgi", params={"db": "pubmed"})
    assert b"<ERROR>Empty id list - nothing todo</ERROR>" in no_ids.content
    stale = client.get("efetch.fcgi", params={"db": "pubmed", "WebEnv": "MCID_0", "query_key": 1})
    assert b"<eFetchResult>" in stale.content and b"<ERROR>" in stale.content
    with pytest.raises(ServiceError):
        list(entrez_xml.parse(stale.content))
    bad_db = client.get("efetch.fcgi", params={"db": "pmcx", "id": "1"})
    assert b"Invalid db name specified: pmcx" in bad_db.content


# ---------------------------------------------------------------------------- epost / einfo


def test_epost_then_efetch(client: httpx.Client) -> None:
    response = client.post("epost.fcgi", data={"db": "pubmed", "id": "30000001,abc,30000003"})
    posted = entrez_xml.read(response.content)
    assert posted["InvalidIdList"] == ["abc"]
    assert posted["QueryKey"] == "1" and posted["WebEnv"].startswith("MCID_")
    fetched = client.get(
        "efetch.fcgi",
        params={"db": "pubmed", "WebEnv": posted["WebEnv"], "query_key": posted["QueryKey"]},
    )
    assert efetch_pmids(fetched) == ["30000001", "30000003"]
    nothing = entrez_xml.read(client.post("epost.fcgi", data={"db": "pubmed", "id": "x"}).content)
    assert nothing["ERROR"] == "Empty ID list; Nothing to store"
    assert "WebEnv" not in nothing


def test_einfo(client: httpx.Client) -> None:
    (info,) = entrez_xml.read(client.get("einfo.fcgi", params={"db": "pubmed"}).content)["DbInfo"]
    assert info["DbName"] == "pubmed" and info["Count"] == "6"
    assert info["LastUpdate"] == "2025/01/01 00:00"
    listing = entrez_xml.read(client.get("einfo.fcgi").content)
    assert listing["DbList"] == ["pubmed"]


def test_unknown_endpoint_is_404(client: httpx.Client, standin: EutilsStandin) -> None:
    assert client.get("esummary.fcgi", params={"db": "pubmed"}).status_code == 404
    assert standin.count("esummary") == 1


def test_requests_are_recorded(client: httpx.Client, standin: EutilsStandin) -> None:
    esearch(client, term="ketamine")
    client.get("efetch.fcgi", params={"db": "pubmed", "id": ["30000001", "30000002"]})
    assert [r.endpoint for r in standin.requests] == ["esearch", "efetch"]
    endpoint, method, params = standin.requests[1]
    assert (endpoint, method, params["id"]) == ("efetch", "GET", "30000001,30000002")
    assert standin.count("esearch") == 1 and standin.count() == 2


# ---------------------------------------------------------------------------- as_of


def test_records_appear_on_their_entrez_date(snapshot: Snapshot) -> None:
    with client_for(EutilsStandin(snapshot, as_of=date(2022, 6, 1))) as client:
        assert esearch(client, term="ketamine")["IdList"] == ["30000003", "30000002", "30000001"]
        fetched = client.get("efetch.fcgi", params={"db": "pubmed", "id": "30000004,30000003"})
        assert efetch_pmids(fetched) == ["30000003"]


def test_pending_record_is_served_unindexed_before_due(snapshot: Snapshot) -> None:
    with client_for(EutilsStandin(snapshot, as_of=date(2024, 6, 30))) as client:
        assert esearch(client, term="randomized controlled trial[pt]")["IdList"] == ["30000001"]
        assert esearch(client, term="ketamine[mh]")["IdList"] == ["30000002", "30000001"]
        response = client.get("efetch.fcgi", params={"db": "pubmed", "id": "30000005"})
        (record,) = entrez_xml.parse(response.content)
    citation = record["MedlineCitation"]
    assert citation.attributes["Status"] == "In-Process"
    assert "MeshHeadingList" not in citation
    assert snapshot.raw("30000005") in response.content


def test_pending_record_is_indexed_once_due(snapshot: Snapshot) -> None:
    with client_for(EutilsStandin(snapshot, as_of=date(2024, 7, 1))) as client:
        rcts = esearch(client, term="randomized controlled trial[pt]")["IdList"]
        assert rcts == ["30000005", "30000001"]
        assert "30000005" in esearch(client, term="alcoholism[mh]")["IdList"]
        response = client.get("efetch.fcgi", params={"db": "pubmed", "id": "30000005"})
        (record,) = entrez_xml.parse(response.content)
    citation = record["MedlineCitation"]
    assert citation.attributes["Status"] == "MEDLINE"
    assert dict(citation["DateCompleted"]) == {"Year": "2024", "Month": "07", "Day": "01"}
    assert dict(citation["DateRevised"]) == {"Year": "2024", "Month": "07", "Day": "01"}
    types = citation["Article"]["PublicationTypeList"]
    assert [str(t) for t in types] == ["Journal Article", "Randomized Controlled Trial"]
    assert types[1].attributes["UI"] == "D016449"
    headings = citation["MeshHeadingList"]
    assert [str(h["DescriptorName"]) for h in headings] == ["Ketamine", "Alcoholism"]
    assert headings[0]["DescriptorName"].attributes["MajorTopicYN"] == "Y"
    # The sidecar left Alcoholism's UI out; it is taken from another record.
    assert headings[1]["DescriptorName"].attributes["UI"] == "D000437"
    # Element order is the DTD's: MeshHeadingList before KeywordList and CoiStatement.
    root = ET.fromstring(
        response.content.split(b"<PubmedArticleSet>")[1].split(b"</PubmedArticleSet>")[0]
    )
    order = [child.tag for child in root.find("MedlineCitation")]
    assert order == [
        "PMID",
        "DateCompleted",
        "DateRevised",
        "Article",
        "MedlineJournalInfo",
        "MeshHeadingList",
        "KeywordList",
        "CoiStatement",
    ]


def test_pending_indexing_from_json() -> None:
    pending = PendingIndexing.from_json(PENDING["30000005"])
    assert pending.due == date(2024, 7, 1)
    assert pending.mesh[1] == ("Alcoholism", None, False)


# ---------------------------------------------------------------------------- replicate


def test_replicate_makes_fresh_pmids_and_spreads_entrez_dates(snapshot: Snapshot) -> None:
    clone = replicate(snapshot, 25, 40_000_000, first=date(2015, 1, 1), last=date(2015, 1, 25))
    assert clone.pmids == [str(40_000_000 + i) for i in range(25)]
    dates = [clone.record(p).entrez_date for p in clone.pmids]
    assert dates[0] == date(2015, 1, 1) and dates[-1] == date(2015, 1, 25)
    assert dates == sorted(dates)
    raw = clone.raw("40000007")  # a copy of record 30000002
    assert b'<PMID Version="1">40000007</PMID>' in raw
    assert b'<ArticleId IdType="pubmed">40000007</ArticleId>' in raw
    assert b">30000002<" not in raw
    # Pending records stay pending, due the same number of days after entry.
    assert clone.pending["40000004"].due == date(2015, 1, 5) + (date(2024, 7, 1) - date(2024, 5, 1))
    with client_for(EutilsStandin(clone, as_of=ALL_VISIBLE)) as client:
        found = esearch(client, term="esketamine", retmax=100)
        assert found["IdList"] == ["40000019", "40000013", "40000007", "40000001"]
        response = client.post("efetch.fcgi", data={"db": "pubmed", "id": ",".join(clone.pmids)})
        records = list(entrez_xml.parse(response.content))
    assert [str(r["MedlineCitation"]["PMID"]) for r in records] == clone.pmids
    history = records[7]["PubmedData"]["History"]
    entrez = next(d for d in history if d.attributes["PubStatus"] == "entrez")
    assert (entrez["Year"], entrez["Month"], entrez["Day"]) == ("2015", "1", "8")


# ---------------------------------------------------------------------------- rate limit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_without_and_with_api_key(snapshot: Snapshot) -> None:
    clock = FakeClock()
    standin = EutilsStandin(snapshot, as_of=ALL_VISIBLE, enforce_rate_limit=True, clock=clock)
    with client_for(standin) as client:
        for _ in range(3):
            assert client.get("einfo.fcgi").status_code == 200
            clock.now += 0.1
        refused = client.get("einfo.fcgi")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        body = refused.json()
        reference = json.loads(
            (
                FIXTURES
                / "ncbi"
                / ("biomcp_25d2878202364a3ed7e3c45a166f42121f8d49e5552be6951a87fa54d126f548.json")
            ).read_text()
        )
        assert body.keys() == reference.keys()
        assert (body["error"], body["count"], body["limit"]) == (
            "API rate limit exceeded",
            "4",
            "3",
        )
        clock.now += 0.8  # the first request has left the one-second window
        assert client.get("einfo.fcgi").status_code == 200

        keyed = {"api_key": "k" * 36}
        for _ in range(10):
            assert client.get("einfo.fcgi", params=keyed).status_code == 200
        refused = client.get("einfo.fcgi", params=keyed)
        assert refused.status_code == 429 and refused.json()["limit"] == "10"


def test_no_rate_limit_unless_asked(client: httpx.Client) -> None:
    assert all(client.get("einfo.fcgi").status_code == 200 for _ in range(20))


# ---------------------------------------------------------------------------- real data


def test_real_ncbi_records_round_trip(tmp_path: Path) -> None:
    names = [
        "pubmed1.xml",
        "pubmed4.xml",
        "pubmed6.xml",
        "38833988.xml",
        "efetch.pubmedbook.xml",
        "pubmed-29768149.xml",
    ]
    bodies = []
    for name in names:
        data = (FIXTURES / "ncbi" / name).read_bytes()
        bodies.append(data.split(b"<PubmedArticleSet>", 1)[1].rsplit(b"</PubmedArticleSet>")[0])
    path = tmp_path / "snapshot.xml"
    path.write_bytes(b"<PubmedArticleSet>" + b"".join(bodies) + b"</PubmedArticleSet>")
    snap = Snapshot.load(path)
    assert "20301295" in snap  # the GeneReviews book chapter
    book = snap.record("20301295")
    assert book.title and book.entrez_date is not None and book.pub_date == date(1993, 1, 1)
    assert snap.record("12091962").pub_date == date(1990, 4, 1)  # Season: Spring
    assert "TERT" in snap.record("27797938").title
    with client_for(EutilsStandin(snap, as_of=ALL_VISIBLE)) as client:
        response = client.post("efetch.fcgi", data={"db": "pubmed", "id": ",".join(snap.pmids)})
        records = list(entrez_xml.parse(response.content))
        assert len(records) == len(snap)
        assert esearch(client, term="asthma[ti]")["IdList"] == ["29768149"]


@pytest.mark.skipif(
    not (default_snapshot_dir() / "pubmed" / "snapshot.xml").exists(),
    reason="bundled snapshot not built yet",
)
def test_bundled_snapshot_serves_every_record() -> None:
    snap = Snapshot.load_default()
    standin = EutilsStandin(snap, as_of=date(2100, 1, 1))  # every pending record indexed
    with client_for(standin) as client:
        response = client.post("efetch.fcgi", data={"db": "pubmed", "id": ",".join(snap.pmids)})
        records = list(entrez_xml.parse(response.content))
        assert len(records) == len(snap) == len(standin.view)
        for pmid in snap.pending:
            fetched = client.get("efetch.fcgi", params={"db": "pubmed", "id": pmid})
            (record,) = entrez_xml.parse(fetched.content)
            assert "MeshHeadingList" in record["MedlineCitation"]


# ---------------------------------------------------------------------------- corrections


def _with_links(record: str, *links: tuple[str, int]) -> str:
    """``record`` with a CommentsCorrectionsList (in the DTD's place, after MedlineJournalInfo)."""
    items = "".join(
        f'<CommentsCorrections RefType="{ref}"><RefSource>J Tests. 2020</RefSource>'
        f'<PMID Version="1">{target}</PMID></CommentsCorrections>'
        for ref, target in links
    )
    return record.replace(
        "</MedlineJournalInfo>",
        f"</MedlineJournalInfo><CommentsCorrectionsList>{items}</CommentsCorrectionsList>",
        1,
    )


@pytest.fixture(scope="module")
def corrected() -> Snapshot:
    """A trial (March 2020) whose erratum notice enters PubMed in September 2020; the
    trial also links a comment the snapshot does not hold (kept whatever the day)."""
    trial = _with_links(
        article(30000101, "Ketamine and drinking: a trial", date(2020, 3, 1)),
        ("CommentIn", 29999999),
        ("ErratumIn", 30000102),
    )
    notice = _with_links(
        article(30000102, "Erratum: Ketamine and drinking", date(2020, 9, 1)),
        ("ErratumFor", 30000101),
    )
    xml = PUBMED_SET_HEAD + f"{trial}\n{notice}".encode() + b"\n" + PUBMED_SET_TAIL
    return Snapshot.from_bytes(xml)


def test_correction_filters_are_searchable(corrected: Snapshot) -> None:
    with client_for(EutilsStandin(corrected, as_of=ALL_VISIBLE)) as client:
        assert esearch(client, term="haserratumin")["IdList"] == ["30000101"]
        assert esearch(client, term="haserratumin[filter]")["IdList"] == ["30000101"]
        result = esearch(client, term="ketamine AND hasretractionin")
        assert result["Count"] == "0" and result["QueryTranslation"].endswith(
            '"hasretractionin"[Filter]')
        # combined with a posted set, as the corrections check asks
        posted = client.post("epost.fcgi", data={"db": "pubmed", "id": "30000101,30000102"})
        webenv = entrez_xml.read(posted.content)["WebEnv"]
        found = esearch(client, term="#1 AND (haserratumin)", WebEnv=webenv)
        assert found["IdList"] == ["30000101"]


def test_a_link_to_a_later_notice_appears_when_the_notice_does(corrected: Snapshot) -> None:
    before, after = date(2020, 8, 31), date(2020, 9, 1)
    with client_for(EutilsStandin(corrected, as_of=before)) as client:
        assert esearch(client, term="haserratumin")["IdList"] == []
        (record,) = entrez_xml.parse(
            client.get("efetch.fcgi", params={"db": "pubmed", "id": "30000101"}).content)
    links = record["MedlineCitation"]["CommentsCorrectionsList"]
    assert [(c.attributes["RefType"], str(c["PMID"])) for c in links] == [
        ("CommentIn", "29999999")]  # a PMID the snapshot does not hold: kept
    assert corrected.view(before).hidden_links("30000101") == {"30000102"}

    with client_for(EutilsStandin(corrected, as_of=after)) as client:
        assert esearch(client, term="haserratumin")["IdList"] == ["30000101"]
        served = client.get("efetch.fcgi", params={"db": "pubmed", "id": "30000101"}).content
    assert corrected.raw("30000101") in served  # whole again: the stored bytes, untouched
    assert corrected.view(after).hidden_links("30000101") == frozenset()


def test_a_record_whose_only_link_is_hidden_loses_the_list_element() -> None:
    trial = _with_links(article(30000201, "Ketamine trial", date(2020, 3, 1)),
                        ("RetractionIn", 30000202))
    notice = article(30000202, "Retraction: Ketamine trial", date(2021, 1, 1))
    snap = Snapshot.from_bytes(PUBMED_SET_HEAD + f"{trial}\n{notice}".encode()
                               + PUBMED_SET_TAIL)
    served = snap.view(date(2020, 6, 1)).raw("30000201")
    assert served is not None and b"CommentsCorrections" not in served
    (record,) = entrez_xml.parse(PUBMED_SET_HEAD + served + PUBMED_SET_TAIL)
    assert "CommentsCorrectionsList" not in record["MedlineCitation"]
    assert snap.view(date(2020, 6, 1)).search("hasretractionin").ids == []
    assert snap.view(date(2021, 1, 1)).search("hasretractionin").ids == ["30000201"]
