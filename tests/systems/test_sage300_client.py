"""Sage300Client against scripted answers (httpx.MockTransport): Basic auth, JSON headers, OData
paging with the nextLink quirk, entity keys, error bodies (sage300_syspro.md Part A §1–§5)."""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse
from collections.abc import Callable
from datetime import date

import httpx
import pytest

from mlconnector.errors import AuthError, ExitCode, PermissionDenied, ResponseError, UnreachableError
from mlconnector.http import USER_AGENT
from mlconnector.systems.sage300 import Sage300Client
from mlconnector.systems.sage300.readers import VENDOR_FIELDS, VENDORS, get_vendor, ping, vendor_pages
from mlconnector.systems.sage300.settings import Sage300Settings

BASE = "https://erp.example.test/Sage300WebApi/v1.0/-/SAMLTD"
VENDORS_PATH = "/Sage300WebApi/v1.0/-/SAMLTD/AP/APVendors"
PASSWORD = "Mixed#Case9pw"  # Sage 300 2024+ passwords are mixed-case and must go out verbatim

Handler = Callable[[httpx.Request], httpx.Response]


def settings(**overrides) -> Sage300Settings:
    values = dict(name="sage300", kind="sage300", url=BASE, username="webapi", page_size=3)
    values.update(overrides)
    return Sage300Settings(**values)


class Recorder:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


@pytest.fixture
def make_client(sleep):
    clients: list[Sage300Client] = []

    def make(handler: Handler, *, password: str = PASSWORD, **overrides) -> tuple[Sage300Client, Recorder]:
        recorder = Recorder(handler)
        client = Sage300Client(settings(**overrides), password=password, transport=httpx.MockTransport(recorder),
                               sleep=sleep)
        clients.append(client)
        return client, recorder

    yield make
    for client in clients:
        client.close()


def odata_error(status: int, code: str, message: str, content_type: str = "application/json") -> httpx.Response:
    body = json.dumps({"error": {"code": code, "message": {"lang": "en-US", "value": message}}})
    return httpx.Response(status, content=body.encode(), headers={"Content-Type": content_type})


def rows(n: int) -> list[dict]:
    return [{"VendorNumber": f"V{i:03d}", "VendorName": f"Vendor {i}"} for i in range(n)]


def odata_server(data: list[dict], *, cap: int, signal: str = "nextLink") -> Handler:
    """An APVendors list that serves at most ``cap`` rows a page whatever ``$top`` asks.

    ``signal`` says how it tells the client more rows exist: ``nextLink`` (carrying only ``$skip``,
    as the real server does), ``count`` (``@odata.count`` integer, no link) or ``count-string``
    (old JSON-light ``odata.count`` as a string, no link).
    """

    def handle(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        skip = int(params.get("$skip", 0))
        top = int(params.get("$top", cap))
        page = data[skip: skip + min(top, cap)]
        body: dict = {"@odata.context": f"{BASE}/AP/$metadata#APVendors", "value": page}
        if signal == "nextLink" and skip + len(page) < len(data):
            # The server's own idea of its host, and $skip only (sage300_syspro.md §1.3).
            body["@odata.nextLink"] = f"http://localhost{VENDORS_PATH}?$skip={skip + len(page)}"
        if signal == "count":
            body["@odata.count"] = len(data)
        if signal == "count-string":
            body["odata.count"] = str(len(data))
        return httpx.Response(200, json=body)

    return handle


def basic_credentials(request: httpx.Request) -> str:
    scheme, _, encoded = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(encoded).decode()


# -- auth and headers (§1.1, §2) --------------------------------------------------------------------


def test_basic_auth_upper_cases_the_user_id_and_sends_the_password_verbatim(make_client):
    client, recorder = make_client(odata_server(rows(1), cap=3))
    list(client.pages(VENDORS, what="read vendors"))
    assert basic_credentials(recorder.requests[0]) == f"WEBAPI:{PASSWORD}"


def test_uppercase_password_upper_cases_the_password_too(make_client):
    client, recorder = make_client(odata_server(rows(1), cap=3), uppercase_password=True)
    list(client.pages(VENDORS, what="read vendors"))
    assert basic_credentials(recorder.requests[0]) == f"WEBAPI:{PASSWORD.upper()}"


def test_every_get_carries_json_content_type_accept_and_user_agent(make_client):
    client, recorder = make_client(odata_server(rows(7), cap=3))
    list(client.pages(VENDORS, what="read vendors"))
    get_vendor(client, "V001")
    assert len(recorder.requests) == 4
    for request in recorder.requests:
        assert request.method == "GET"
        assert request.headers["Content-Type"] == "application/json", "without it Sage answers 500"
        assert request.headers["Accept"] == "application/json"
        assert request.headers["User-Agent"] == USER_AGENT
        assert request.headers["Authorization"].startswith("Basic ")
        assert request.url.host == "erp.example.test"


# -- paging (§1.3) ---------------------------------------------------------------------------------


def test_filter_select_and_top_are_resent_on_every_page_though_the_next_link_drops_them(make_client):
    client, recorder = make_client(odata_server(rows(7), cap=3))
    pages = list(client.pages(VENDORS, filter="DateLastMaintained ge 2025-06-01T00:00:00Z",
                              select=["VendorNumber", "VendorName"], what="read vendors"))
    assert [len(p.rows) for p in pages] == [3, 3, 1]
    assert [r.url.params["$skip"] for r in recorder.requests] == ["0", "3", "6"]
    for request in recorder.requests:
        assert request.url.path == VENDORS_PATH
        assert request.url.host == "erp.example.test", "the nextLink's localhost is never followed"
        assert request.url.params["$filter"] == "DateLastMaintained ge 2025-06-01T00:00:00Z"
        assert request.url.params["$select"] == "VendorNumber,VendorName"
        assert request.url.params["$top"] == "3"


@pytest.mark.parametrize("signal", ["nextLink", "count", "count-string"])
def test_a_server_page_cap_smaller_than_top_reads_every_row_exactly_once(make_client, signal):
    data = rows(11)
    client, recorder = make_client(odata_server(data, cap=4, signal=signal), page_size=10)
    pages = list(client.pages(VENDORS, select=["VendorNumber"], what="read vendors"))
    read = [row["VendorNumber"] for page in pages for row in page.rows]
    assert read == [row["VendorNumber"] for row in data]
    assert [p.skip for p in pages] == [0, 4, 8]
    assert [p.next_skip for p in pages] == [4, 8, None]
    assert all(r.url.params["$top"] == "10" for r in recorder.requests)


def test_a_short_page_without_next_link_or_count_ends_the_scan(make_client):
    def handle(request):
        return httpx.Response(200, json={"value": rows(2)})

    client, recorder = make_client(handle)
    assert [len(p.rows) for p in client.pages(VENDORS, what="read vendors")] == [2]
    assert len(recorder.requests) == 1


def test_an_empty_table_is_one_request_and_no_rows(make_client):
    client, recorder = make_client(odata_server([], cap=3, signal="count"))
    assert [p.rows for p in client.pages(VENDORS, what="read vendors")] == [[]]
    assert len(recorder.requests) == 1


def test_a_scan_resumes_at_start_skip(make_client):
    client, recorder = make_client(odata_server(rows(7), cap=3))
    pages = list(client.pages(VENDORS, start_skip=3, what="read vendors"))
    assert [r["VendorNumber"] for p in pages for r in p.rows] == ["V003", "V004", "V005", "V006"]


def test_vendor_pages_filters_on_date_last_maintained_and_selects_the_mapped_fields(make_client):
    client, recorder = make_client(odata_server(rows(2), cap=3))
    list(vendor_pages(client, since=date(2025, 6, 1)))
    params = recorder.requests[0].url.params
    assert params["$filter"] == "DateLastMaintained ge 2025-06-01T00:00:00Z"
    assert params["$select"].split(",") == VENDOR_FIELDS
    assert params["$count"] == "true"


def test_a_400_for_select_falls_back_to_whole_rows(make_client, caplog):
    data = rows(4)

    def handle(request):
        if "$select" in request.url.params:
            return odata_error(400, "InvalidParameters",
                               "Could not find a property named 'WebSite' on type 'APVendor'.")
        return odata_server(data, cap=3)(request)

    client, recorder = make_client(handle)
    with caplog.at_level(logging.WARNING, logger="mlconnector.sage300"):
        pages = list(client.pages(VENDORS, filter="Status eq 'Active'", select=["VendorNumber", "WebSite"],
                                  what="read vendors"))
    assert [r["VendorNumber"] for p in pages for r in p.rows] == [r["VendorNumber"] for r in data]
    assert ["$select" in r.url.params for r in recorder.requests] == [True, False, False]
    assert all(r.url.params["$filter"] == "Status eq 'Active'" for r in recorder.requests)
    assert "$select refused" in caplog.text and "WebSite" in caplog.text


def test_a_400_for_count_falls_back_to_paging_by_next_link_and_short_pages(make_client):
    data = rows(5)

    def handle(request):
        if "$count" in request.url.params:
            return odata_error(400, "InvalidParameters", "The query parameter '$count' is not supported.")
        return odata_server(data, cap=2)(request)

    client, recorder = make_client(handle)
    pages = list(client.pages(VENDORS, what="read vendors"))
    assert [r["VendorNumber"] for p in pages for r in p.rows] == [r["VendorNumber"] for r in data]
    assert ["$count" in r.url.params for r in recorder.requests][:2] == [True, False]


def test_a_400_for_the_filter_is_not_hidden_by_the_select_fallback(make_client):
    client, recorder = make_client(lambda r: odata_error(400, "InvalidParameters", "bad filter"))
    with pytest.raises(ResponseError) as caught:
        list(client.pages(VENDORS, filter="nonsense", select=["VendorNumber"], what="read vendors"))
    assert caught.value.code == "InvalidParameters" and "bad filter" in str(caught.value)
    assert len(recorder.requests) == 2


def test_readers_trim_the_padding_of_fixed_length_fields(make_client):
    padded = {"VendorNumber": "1200        ", "VendorName": "Acme Concrete   ", "City": "  Austin ",
              "InactiveDate": None, "VendorOptionalFieldValues": []}

    def handle(request):
        if request.url.path.endswith(")"):
            return httpx.Response(200, json=padded)
        return httpx.Response(200, json={"value": [padded]})

    client, _ = make_client(handle)
    [page] = list(vendor_pages(client, since=None))
    expected = {"VendorNumber": "1200", "VendorName": "Acme Concrete", "City": "Austin", "InactiveDate": None,
                "VendorOptionalFieldValues": []}
    assert page.rows == [expected]
    assert get_vendor(client, "1200") == expected


def test_ping_returns_the_count(make_client):
    client, recorder = make_client(odata_server(rows(5), cap=3, signal="count-string"))
    assert ping(client) == 5
    assert recorder.requests[0].url.params["$top"] == "1"


# -- entity keys (§1.1) ----------------------------------------------------------------------------


def test_a_key_with_a_quote_is_doubled_in_the_odata_literal(make_client):
    client, recorder = make_client(lambda r: httpx.Response(200, json={"VendorNumber": "O'NEIL"}))
    assert get_vendor(client, "O'NEIL") == {"VendorNumber": "O'NEIL"}
    url = recorder.requests[0].url
    assert urllib.parse.unquote(url.path) == f"{VENDORS_PATH}('O''NEIL')"
    assert url.query == b""


@pytest.mark.parametrize("key", ["ACME 01", "A/B", "WHAT?", "NO#1", "50%OFF", "R&D"])
def test_a_key_with_url_characters_stays_inside_the_key(make_client, key):
    client, recorder = make_client(lambda r: httpx.Response(200, json={"VendorNumber": key}))
    assert get_vendor(client, key) == {"VendorNumber": key}
    url = recorder.requests[0].url
    assert url.query == b"" and url.fragment == ""
    parent, _, segment = url.raw_path.decode().rpartition("/")
    assert parent == VENDORS_PATH.rpartition("/")[0], "the key is one path segment"
    assert urllib.parse.unquote(segment) == f"APVendors('{key}')"


def test_record_not_found_is_none(make_client):
    client, _ = make_client(lambda r: odata_error(404, "RecordNotFound",
                                                  "A Record cannot be found for the specified entity key"))
    assert get_vendor(client, "NOPE") is None


def test_a_wrong_company_is_an_error_not_a_missing_record(make_client):
    client, _ = make_client(lambda r: odata_error(404, "ResourceNotFound", "The company 'SAMLTX' cannot be found."))
    with pytest.raises(ResponseError) as caught:
        get_vendor(client, "1200")
    assert caught.value.code == "ResourceNotFound" and "SAMLTX" in str(caught.value)


# -- errors (§5) -------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "text/plain"])
def test_odata_error_bodies_give_message_and_code_whatever_the_content_type(make_client, content_type):
    client, recorder = make_client(lambda r: odata_error(
        409, "RecordDuplicate", "Record already exists. Day End Processing is running.", content_type))
    with pytest.raises(ResponseError) as caught:
        client.get(VENDORS, what="read vendors")
    error = caught.value
    assert error.code == "RecordDuplicate" and error.status == 409
    assert "Record already exists. Day End Processing is running." in str(error)
    assert str(error).startswith("sage300: read vendors: ")
    assert len(recorder.requests) == 1


def test_an_inner_error_is_added_and_a_plain_text_body_is_shown(make_client):
    def handle(request):
        if request.url.params.get("$top") == "1":
            return httpx.Response(400, json={"error": {"code": "RecordInvalid", "message": {"value": "Invalid"},
                                                       "innererror": {"message": "Vendor group missing"}}})
        return httpx.Response(400, text="Bad Request - Invalid URL", headers={"Content-Type": "text/plain"})

    client, _ = make_client(handle)
    with pytest.raises(ResponseError, match=r"Invalid \(Vendor group missing\)"):
        client.get(VENDORS, params={"$top": 1}, what="a")
    with pytest.raises(ResponseError, match="Bad Request - Invalid URL"):
        client.get(VENDORS, what="b")


def test_a_401_is_an_auth_error_whose_hint_mentions_uppercase_password(make_client):
    client, recorder = make_client(lambda r: odata_error(401, "Unauthorized",
                                                         "Invalid credentials used in authentication header"))
    with pytest.raises(AuthError) as caught:
        list(vendor_pages(client, since=None))
    error = caught.value
    assert error.exit_code == ExitCode.FATAL and error.code == "Unauthorized"
    assert "uppercase_password" in error.hint and "mlconnector credentials set sage300" in error.hint
    assert "Invalid credentials" in str(error)
    assert len(recorder.requests) == 1, "a bad password is not retried (that could lock the account)"


def test_a_403_is_permission_denied(make_client):
    client, _ = make_client(lambda r: odata_error(403, "Forbidden", "The specified user does not have enough rights"))
    with pytest.raises(PermissionDenied) as caught:
        get_vendor(client, "1200")
    assert "Sage 300 Web API" in caught.value.hint and "enough rights" in str(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried_then_unreachable_names_the_system(make_client, sleep, status):
    client, recorder = make_client(lambda r: odata_error(status, "InternalServerError", "An error has occurred."))
    with pytest.raises(UnreachableError) as caught:
        client.get(VENDORS, what="read vendors")
    assert len(recorder.requests) == 6 and len(sleep.waits) == 5
    assert str(caught.value).startswith("sage300: ") and "InternalServerError" in str(caught.value)


def test_a_5xx_that_passes_is_invisible_and_retry_after_is_honoured(make_client, sleep):
    answers = iter([httpx.Response(503, text="Service Unavailable", headers={"Retry-After": "9"})])
    client, recorder = make_client(lambda r: next(answers, None) or httpx.Response(200, json={"value": []}))
    assert client.get(VENDORS, what="read vendors") == {"value": []}
    assert len(sleep.waits) == 1 and sleep.waits[0] >= 9


def test_a_retry_after_longer_than_the_retry_cap_gives_up_at_once(make_client, sleep):
    client, recorder = make_client(lambda r: httpx.Response(503, text="down for maintenance",
                                                            headers={"Retry-After": "86400"}))
    with pytest.raises(UnreachableError) as caught:
        client.get(VENDORS, what="read vendors")
    assert sleep.waits == [] and len(recorder.requests) == 1
    assert "86400" in str(caught.value) and str(caught.value).startswith("sage300: ")


def test_timeouts_are_retried(make_client):
    calls = []

    def handle(request):
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ReadTimeout("timed out")
        return httpx.Response(200, json={"value": []})

    client, _ = make_client(handle)
    assert client.get(VENDORS, what="read vendors") == {"value": []}
    assert len(calls) == 2


def test_a_redirect_is_an_error_not_a_retry(make_client):
    client, recorder = make_client(lambda r: httpx.Response(
        301, text="<html>Moved</html>", headers={"Location": "https://erp.example.test/Sage300WebApi/",
                                                 "Content-Type": "text/html"}))
    with pytest.raises(ResponseError) as caught:
        client.get(VENDORS, what="read vendors")
    assert "https://erp.example.test/Sage300WebApi/" in str(caught.value) and "url" in caught.value.hint
    assert len(recorder.requests) == 1


def test_the_password_never_appears_in_an_error(make_client):
    client, _ = make_client(lambda r: httpx.Response(400, text=f"login failed for WEBAPI/{PASSWORD}"))
    with pytest.raises(ResponseError) as caught:
        client.get(VENDORS, what="read vendors")
    assert PASSWORD not in str(caught.value) and "****" in str(caught.value)
