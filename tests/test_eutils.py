"""The E-utilities client: parameters, POST, NCBI's errors and notes, the 9,999 ceiling."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from kettrack.errors import NetworkError, QuerySyntaxError, ServiceError
from kettrack.settings import Settings
from kettrack.sources.eutils import ESEARCH_CEILING, EutilsClient

from .conftest import fixture_bytes


def params_of(request: httpx.Request) -> dict[str, str]:
    if request.method == "POST":
        raw = parse_qs(request.content.decode())
    else:
        raw = parse_qs(request.url.query.decode())
    return {k: v[0] for k, v in raw.items()}


def make_client(handler, **settings: object) -> EutilsClient:  # type: ignore[no-untyped-def]
    base = Settings(backoff_base=0, max_retries=2, rate_limit=1000)
    return EutilsClient(base.with_(**settings), transport=httpx.MockTransport(handler),
                        sleep=lambda s: None)


def serve(body: bytes, status: int = 200, seen: list[httpx.Request] | None = None):  # type: ignore[no-untyped-def]
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, content=body)
    return handler


def test_etiquette_parameters_on_every_request() -> None:
    seen: list[httpx.Request] = []
    with make_client(serve(fixture_bytes("esearch2.xml"), seen=seen),
                     api_key="KEY123", email="team@example.org") as client:
        client.esearch("cancer", retmax=100)
    params = params_of(seen[0])
    assert params["tool"] == "kettrack" and params["email"] == "team@example.org"
    assert params["api_key"] == "KEY123" and params["db"] == "pubmed"
    assert params["usehistory"] == "y" and seen[0].url.path.endswith("/esearch.fcgi")


def test_no_email_or_key_when_not_configured() -> None:
    seen: list[httpx.Request] = []
    with make_client(serve(fixture_bytes("esearch2.xml"), seen=seen)) as client:
        client.esearch("cancer")
    assert "email" not in params_of(seen[0]) and "api_key" not in params_of(seen[0])


def test_esearch_reads_history_and_ids() -> None:
    with make_client(serve(fixture_bytes("esearch2.xml"))) as client:
        page = client.esearch("cancer", retmax=100)
    assert page.count == 42249 and len(page.ids) == 100
    assert page.webenv == "MCID_6927d6e7fee3e90f880ec190" and page.query_key == "1"
    assert page.translation.startswith('("cancer s"[All Fields]')


def test_phrase_not_found_is_reported_not_hidden() -> None:
    with make_client(serve(fixture_bytes("esearch8.xml"))) as client:
        page = client.esearch("abcXYZ")
    assert page.count == 0
    assert page.errors == {"PhraseNotFound": ["abcXYZ"]}
    assert page.warnings == {"OutputMessage": ["No items found."]}


def test_results_with_error_list_still_count() -> None:
    with make_client(serve(fixture_bytes("esearch.error.xml"))) as client:
        page = client.esearch("obstetrics[MeSH] OR fleegle[MeSH]")
    assert page.count == 5163 and page.errors == {"PhraseNotFound": ["fleegle[MeSH Terms]"]}


def test_error_element_in_http_200_is_a_service_error() -> None:
    with make_client(serve(fixture_bytes("esearch.baderror.xml"))) as client, \
            pytest.raises(ServiceError, match="Invalid db name specified: fleegle"):
        client.esearch("x")


def test_syntax_error_from_ncbi_is_bad_input() -> None:
    body = (b'<?xml version="1.0" ?><!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch '
            b'20060628//EN" "https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">'
            b"<eSearchResult><ERROR>unbalanced parenthesis at position 3</ERROR></eSearchResult>")
    with make_client(serve(body)) as client, pytest.raises(QuerySyntaxError):
        client.esearch("((x")


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body><h1>Service unavailable</h1></body></html>",
        fixture_bytes("biomcp_25d2878202364a3ed7e3c45a166f42121f8d49e5552be6951a87fa54d126f548.json"),
        fixture_bytes("esearch2.xml")[:900],  # cut short
    ],
    ids=["html", "json-error", "truncated"],
)
def test_unusable_200_answers_are_retried_then_fail(body: bytes) -> None:
    seen: list[httpx.Request] = []
    with make_client(serve(body, seen=seen)) as client, pytest.raises(NetworkError):
        client.esearch("ketamine")
    assert len(seen) == 3  # first try + max_retries=2


def test_http_400_is_a_service_error_with_detail() -> None:
    with make_client(serve(b"Bad Request: invalid term", status=400)) as client, \
            pytest.raises(ServiceError, match="HTTP 400: Bad Request: invalid term"):
        client.esearch("x")


def test_long_id_lists_are_posted() -> None:
    seen: list[httpx.Request] = []
    with make_client(serve(fixture_bytes("37909814.xml"), seen=seen)) as client:
        client.efetch([str(30000000 + i) for i in range(10)])
        client.efetch([str(30000000 + i) for i in range(500)])
    assert seen[0].method == "GET" and seen[1].method == "POST"
    assert params_of(seen[1])["id"].count(",") == 499 and params_of(seen[1])["tool"] == "kettrack"


def test_epost_returns_history_keys_and_errors() -> None:
    with make_client(serve(fixture_bytes("epost1.xml"))) as client:
        assert client.epost(["1", "2"]) == ("MCID_692851c130aec64bed0a8c2a", "1")
    with make_client(serve(fixture_bytes("epost2.xml"))) as client, \
            pytest.raises(ServiceError, match="Invalid db name"):
        client.epost(["1"])


class SlicingServer:
    """A fake esearch whose records are spread over entrez dates: enough to
    exceed the 9,999 ceiling, so the client must slice by date."""

    def __init__(self, per_year: int, years: range, drop_from_slices: int = 0) -> None:
        self.records = [(f"{y}{i:06d}", date(y, 1 + i % 12, 1 + i % 28))
                        for y in years for i in range(per_year)]
        self.drop = drop_from_slices
        self.requests: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        p = params_of(request)
        self.requests.append(p)
        hits = self.records
        if p.get("datetype") == "edat":
            lo = date(*map(int, p["mindate"].split("/")))
            hi = date(*map(int, p["maxdate"].split("/")))
            hits = [r for r in hits if lo <= r[1] <= hi]
        count = len(hits) - (self.drop if "datetype" in p and hits else 0)
        retmax = min(int(p.get("retmax", 20)), ESEARCH_CEILING)
        ids = "".join(f"<Id>{i}</Id>" for i, _ in hits[:retmax])
        body = (
            '<?xml version="1.0" ?><!DOCTYPE eSearchResult PUBLIC '
            '"-//NLM//DTD esearch 20060628//EN" "https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd"><eSearchResult>'
            f"<Count>{count}</Count><RetMax>{min(retmax, len(hits))}</RetMax><RetStart>0</RetStart>"
            f"<IdList>{ids}</IdList><TranslationSet/><QueryTranslation>x</QueryTranslation>"
            "</eSearchResult>"
        )
        return httpx.Response(200, content=body.encode())


def test_small_result_is_one_request() -> None:
    server = SlicingServer(per_year=100, years=range(2020, 2023))
    with make_client(server) as client:
        outcome = client.search_ids("ketamine")
    assert outcome.count == 300 and len(outcome.ids) == 300 and len(server.requests) == 1


def test_large_result_is_split_by_entrez_date_and_adds_up() -> None:
    server = SlicingServer(per_year=3000, years=range(2015, 2025))  # 30,000 records
    with make_client(server) as client:
        outcome = client.search_ids("alcohol")
    assert outcome.count == 30000
    assert sorted(outcome.ids) == sorted(r[0] for r in server.records)
    slice_requests = [r for r in server.requests
                      if r.get("datetype") == "edat" and r.get("rettype") != "count"]
    assert all(r["retmax"] == str(ESEARCH_CEILING) for r in slice_requests)
    assert outcome.slices >= -(-30000 // ESEARCH_CEILING)
    counts = [r for r in server.requests if r.get("rettype") == "count"]
    assert len(server.requests) == 1 + len(counts) + len(slice_requests)
    # no range is asked twice, in either form
    asked = [(r["mindate"], r["maxdate"], r.get("rettype")) for r in server.requests[1:]]
    assert len(asked) == len(set(asked))
    # halving blind from 1780 took 20 requests of up to 9,999 IDs each here
    assert len(server.requests) < 20


@pytest.mark.parametrize(("per_year", "years"), [(625, range(1994, 2026)),
                                                 (2500, range(2000, 2025)),
                                                 (20000, range(2024, 2026))])
def test_slice_plan_covers_every_record_once(per_year: int, years: range) -> None:
    server = SlicingServer(per_year=per_year, years=years)
    with make_client(server) as client:
        outcome = client.search_ids("alcohol")
    assert sorted(outcome.ids) == sorted(r[0] for r in server.records)
    slices = [(r["mindate"], r["maxdate"]) for r in server.requests
              if r.get("datetype") == "edat" and r.get("rettype") != "count"]
    assert outcome.slices <= len(slices)  # the rest were over the ceiling and cut again


def test_slices_that_do_not_add_up_fail_rather_than_miss_records() -> None:
    server = SlicingServer(per_year=3000, years=range(2015, 2025), drop_from_slices=1)
    with make_client(server) as client, pytest.raises(ServiceError, match="add up to"):
        client.search_ids("alcohol")


# -- NCBI's errors, classified (issue 9) -------------------------------------------------

def error_answer(root: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8" ?>\n<{root}>\n\t<ERROR>{message}</ERROR>\n'
            f"</{root}>\n").encode()


def test_transient_error_in_http_200_is_retried_like_a_5xx() -> None:
    answers = [error_answer("eSearchResult", "Search Backend failed: Database is not "
                                             "supported: pubmed"), fixture_bytes("esearch2.xml")]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=answers.pop(0))

    with make_client(handler) as client:
        assert client.esearch("cancer", retmax=100).count > 0
    assert len(seen) == 2


def test_persistent_transient_error_fails_in_ncbis_words() -> None:
    body = error_answer("eFetchResult", "Search Backend failed: out of memory")
    with make_client(serve(body)) as client, pytest.raises(NetworkError) as err:
        client.efetch(["1", "2"])
    assert "after 3 tries (last: NCBI said 'Search Backend failed: out of memory')" in str(
        err.value)


def test_efetch_error_is_reported_in_ncbis_words_not_as_an_unknown_document() -> None:
    body = error_answer("eFetchResult", "Cannot retrieve query from history &amp; stuff\x1b[2J")
    seen: list[httpx.Request] = []
    with make_client(serve(body, seen=seen)) as client, pytest.raises(ServiceError) as err:
        client.efetch(["1"])
    assert str(err.value) == "NCBI efetch failed: Cannot retrieve query from history & stuff[2J"
    assert len(seen) == 1  # an answer, not a blip


def test_api_key_echoed_in_an_error_body_is_redacted() -> None:
    body = b'{"error":"API key invalid","api-key":"0123456789abcdef0123"}'
    with make_client(serve(body, status=400), api_key="0123456789abcdef0123") as client, \
            pytest.raises(ServiceError) as err:
        client.esearch("x")
    assert '"api-key":"***"' in str(err.value) and "0123456789abcdef" not in str(err.value)


def test_api_key_never_reaches_runs_error(tmp_path: Path) -> None:
    from kettrack.library.store import Library
    from kettrack.queries import SavedQuery
    from kettrack.run.runner import Runner

    key = "0123456789abcdef0123"
    # no key-shaped text at all: the key is masked as a secret too, wherever it sits
    body = f'{{"error":"API key invalid","detail":"key {key} unknown"}}'.encode()
    library = Library.open(tmp_path / "lib.db")
    with make_client(serve(body, status=400), api_key=key) as client, \
            pytest.raises(ServiceError) as err:
        Runner(library, client, client.settings).run([SavedQuery(name="q", term="ketamine")])
    (error,) = library.db.execute("SELECT error FROM runs").fetchone()
    assert key not in error and key not in str(err.value) and "***" in error
    library.close()
