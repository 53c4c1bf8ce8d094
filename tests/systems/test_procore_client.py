"""ProcoreClient against scripted answers (httpx.MockTransport): auth, headers, paging, pacing,
retries and error parsing, per procore.md §1, §3, §4, §5.1 and §7. No sleeping: waits are recorded."""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Callable

import httpx
import pytest

from mlconnector.errors import (
    AuthError,
    ExitCode,
    PermissionDenied,
    RateBudgetExhausted,
    ResponseError,
    UnreachableError,
)
from mlconnector.http import USER_AGENT
from mlconnector.systems.procore import ProcoreClient
from mlconnector.systems.procore.readers import find_vendors_by_origin_id, get_vendor, iter_vendors
from mlconnector.systems.procore.settings import ProcoreSettings
from mlconnector.systems.procore.writers import SYNC_BATCH_SIZE, parse_sync_response, sync_vendors

API = "https://api.procore.test"
LOGIN = "https://login.procore.test"
COMPANY = 4_242_424
CLIENT_ID = "cid-7Qm2vX9pL4kR8sT1wZ3yB6nD"
CLIENT_SECRET = "csec-Hh5Jj8Kk2Ll9Mm4Nn7Pp1Qq6Rr3"
VENDORS = "/rest/v1.0/vendors"

Handler = Callable[[httpx.Request], httpx.Response]


class FakeProcore:
    """A token endpoint on the login host plus a scripted API; logs every request."""

    def __init__(self, api: Handler, *, expires_in: int = 5400, token: Handler | None = None) -> None:
        self.api = api
        self.expires_in = expires_in
        self.token_handler = token
        self.requests: list[httpx.Request] = []
        self.issued: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == "login.procore.test" and request.url.path == "/oauth/token":
            if self.token_handler is not None:
                return self.token_handler(request)
            token = f"access-{len(self.issued) + 1}-Zx8Vb5Nm2Qw7Er4Ty1Ui9Op"
            self.issued.append(token)
            return httpx.Response(200, json={"access_token": token, "token_type": "bearer",
                                             "expires_in": self.expires_in, "created_at": 1})
        return self.api(request)

    @property
    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path != "/oauth/token"]

    @property
    def token_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == "/oauth/token"]


def settings(**overrides) -> ProcoreSettings:
    values = dict(name="procore", kind="procore", api_url=API, login_url=LOGIN, company_id=COMPANY,
                  page_size=2, max_rate_wait=300.0)
    values.update(overrides)
    return ProcoreSettings(**values)


@pytest.fixture
def make_client(clock, sleep):
    clients: list[ProcoreClient] = []

    def make(fake: FakeProcore, **overrides) -> ProcoreClient:
        client = ProcoreClient(settings(**overrides), client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                               transport=httpx.MockTransport(fake), sleep=sleep, clock=clock)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def ok(payload=None, **headers) -> httpx.Response:
    return httpx.Response(200, json=[] if payload is None else payload, headers=headers)


def bearer(request: httpx.Request) -> str:
    return request.headers["Authorization"].removeprefix("Bearer ")


# -- OAuth client credentials (procore.md §1) ------------------------------------------------------


def test_token_request_is_form_urlencoded_client_credentials(make_client):
    fake = FakeProcore(lambda r: ok())
    make_client(fake).request("GET", VENDORS, params={"company_id": COMPANY}, what="list vendors")

    [token_request] = fake.token_requests
    assert str(token_request.url) == f"{LOGIN}/oauth/token"
    assert token_request.method == "POST"
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(urllib.parse.parse_qsl(token_request.content.decode()))
    assert form == {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert fake.api_requests[0].headers["Authorization"] == f"Bearer {fake.issued[0]}"


def test_token_is_reused_across_calls(make_client):
    fake = FakeProcore(lambda r: ok())
    client = make_client(fake)
    for _ in range(4):
        client.request("GET", VENDORS, what="list vendors")
    assert len(fake.token_requests) == 1
    assert {bearer(r) for r in fake.api_requests} == {fake.issued[0]}


def test_token_is_renewed_before_expires_in_runs_out(make_client, clock):
    # expires_in 600 s -> renewal margin 60 s (a tenth of the lifetime, at least 10 s).
    fake = FakeProcore(lambda r: ok(), expires_in=600)
    client = make_client(fake)
    client.request("GET", VENDORS, what="a")
    clock.advance(539)
    client.request("GET", VENDORS, what="b")
    assert len(fake.token_requests) == 1, "still 61 s left: no renewal yet"
    clock.advance(2)  # 59 s left: inside the margin, renewed before Procore would answer 401
    client.request("GET", VENDORS, what="c")
    assert len(fake.token_requests) == 2
    assert [bearer(r) for r in fake.api_requests] == [fake.issued[0], fake.issued[0], fake.issued[1]]


def test_a_401_renews_the_token_once_and_retries_once(make_client):
    def api(request):
        if bearer(request) == fake.issued[0]:
            return httpx.Response(401, json={"errors": "The access token is invalid"})
        return ok([{"id": 1, "name": "Acme"}])

    fake = FakeProcore(api)
    assert make_client(fake).request("GET", VENDORS, what="list vendors") == [{"id": 1, "name": "Acme"}]
    assert len(fake.token_requests) == 2
    assert [bearer(r) for r in fake.api_requests] == fake.issued


def test_a_second_401_raises_auth_error_naming_the_credentials_command(make_client):
    fake = FakeProcore(lambda r: httpx.Response(401, json={"errors": "The access token is invalid"},
                                                headers={"X-Request-Id": "req-401"}))
    with pytest.raises(AuthError) as caught:
        make_client(fake).request("GET", VENDORS, what="list vendors")
    assert len(fake.api_requests) == 2 and len(fake.token_requests) == 2, "one renewal, one retry, no more"
    error = caught.value
    assert error.exit_code == ExitCode.FATAL and error.status == 401
    assert "mlconnector credentials set procore" in error.hint
    assert "The access token is invalid" in str(error) and "req-401" in str(error)


@pytest.mark.parametrize("status", [400, 401])
def test_a_refused_token_request_is_an_auth_error(make_client, status):
    fake = FakeProcore(lambda r: ok(), token=lambda r: httpx.Response(status, json={
        "error": "invalid_client", "error_description": "Client authentication failed"}))
    with pytest.raises(AuthError) as caught:
        make_client(fake).request("GET", VENDORS, what="list vendors")
    assert "invalid_client: Client authentication failed" in str(caught.value)
    assert "mlconnector credentials set procore" in caught.value.hint
    assert fake.api_requests == []


def test_a_failing_token_endpoint_is_retried_with_the_injected_sleep(make_client, sleep):
    answers = iter([httpx.Response(503, text="busy"), httpx.Response(502, text="bad gateway")])

    def token(request):
        answer = next(answers, None)
        if answer is not None:
            return answer
        return httpx.Response(200, json={"access_token": "late-token-Kk2Ll9Mm4Nn7", "expires_in": 5400})

    fake = FakeProcore(lambda r: ok(), token=token)
    make_client(fake).request("GET", VENDORS, what="list vendors")
    assert len(fake.token_requests) == 3
    assert len(sleep.waits) == 2, "the token retries must use the client's sleep, not time.sleep"
    assert bearer(fake.api_requests[0]) == "late-token-Kk2Ll9Mm4Nn7"


# -- headers on every request (procore.md §2) -------------------------------------------------------


def test_every_request_carries_company_id_bearer_and_user_agent(make_client):
    def api(request):
        if request.method == "PATCH":
            return ok({"entities": [], "errors": []})
        return ok([{"id": 1, "origin_id": "x"}])

    fake = FakeProcore(api)
    client = make_client(fake)
    client.request("GET", VENDORS, what="list")
    get_vendor(client, 1)
    sync_vendors(client, [{"origin_id": "x", "name": "X"}])
    assert len(fake.api_requests) == 3
    for request in fake.api_requests:
        assert request.headers["Procore-Company-Id"] == str(COMPANY)
        assert request.headers["Authorization"] == f"Bearer {fake.issued[0]}"
        assert request.headers["User-Agent"] == USER_AGENT
        assert request.url.host == "api.procore.test"
    assert fake.token_requests[0].headers["User-Agent"] == USER_AGENT
    assert "Authorization" not in fake.token_requests[0].headers
    assert "Procore-Company-Id" not in fake.token_requests[0].headers


# -- paging (procore.md §4) ---------------------------------------------------------------------------


def paged_vendors(total: int, *, link: bool = True, total_header: bool = True,
                  link_host: str = "api.procore.test") -> Handler:
    vendors = [{"id": 100 + i, "name": f"V{i}"} for i in range(total)]

    def api(request):
        page = int(request.url.params.get("page", 1))
        per_page = int(request.url.params["per_page"])
        rows = vendors[(page - 1) * per_page: page * per_page]
        headers = {"Per-Page": str(per_page)}
        if total_header:
            headers["Total"] = str(total)
        if link:
            last = max(1, math.ceil(total / per_page))
            params = dict(request.url.params)
            rels = [("first", 1), ("last", last)] + ([("next", page + 1)] if page < last else [])
            headers["Link"] = ", ".join(
                f'<https://{link_host}{request.url.path}?{urllib.parse.urlencode({**params, "page": n})}>; rel="{rel}"'
                for rel, n in rels)
        return ok(rows, **headers)

    return api


def test_link_next_paging_reads_every_page_and_stops_when_next_is_absent(make_client):
    fake = FakeProcore(paged_vendors(5))
    pages = list(make_client(fake).get_pages(VENDORS, {"company_id": COMPANY}, what="list vendors"))
    assert [[v["id"] for v in page] for page in pages] == [[100, 101], [102, 103], [104]]
    assert [r.url.params["page"] for r in fake.api_requests] == ["1", "2", "3"]
    assert all(r.url.params["company_id"] == str(COMPANY) for r in fake.api_requests)


def test_paging_without_a_link_header_goes_on_while_total_says_more_rows_exist(make_client):
    fake = FakeProcore(paged_vendors(5, link=False))
    pages = list(make_client(fake).get_pages(VENDORS, {"company_id": COMPANY}, what="list vendors"))
    assert sum(len(p) for p in pages) == 5
    assert [r.url.params["page"] for r in fake.api_requests] == ["1", "2", "3"]


def test_paging_without_link_or_total_reads_one_page(make_client):
    fake = FakeProcore(paged_vendors(5, link=False, total_header=False))
    pages = list(make_client(fake).get_pages(VENDORS, {}, what="list vendors"))
    assert len(pages) == 1 and len(fake.api_requests) == 1


def test_a_next_link_on_another_host_is_not_followed_there(make_client):
    fake = FakeProcore(paged_vendors(3, link_host="evil.example.net"))
    pages = list(make_client(fake).get_pages(VENDORS, {"company_id": COMPANY}, what="list vendors"))
    assert sum(len(p) for p in pages) == 3
    assert {r.url.host for r in fake.api_requests} == {"api.procore.test"}, "the token stays on the API host"
    assert [r.url.params["page"] for r in fake.api_requests] == ["1", "2"]


def test_iter_vendors_reads_active_then_inactive_vendors(make_client):
    def api(request):
        if request.url.path.endswith("/vendors/inactive"):
            return ok([{"id": 9, "is_active": False}], Total="1")
        return ok([{"id": 1, "is_active": True}], Total="1")

    fake = FakeProcore(api)
    pages = list(iter_vendors(make_client(fake)))
    assert pages == [[{"id": 1, "is_active": True}], [{"id": 9, "is_active": False}]]
    assert fake.api_requests[1].url.path == f"/rest/v1.0/companies/{COMPANY}/vendors/inactive"


def test_find_vendors_by_origin_id_sends_the_filter_and_keeps_exact_matches(make_client):
    fake = FakeProcore(lambda r: ok([{"id": 1, "origin_id": "sage300:X:1"}, {"id": 2, "origin_id": "sage300:X:10"}]))
    found = find_vendors_by_origin_id(make_client(fake), "sage300:X:1")
    assert [v["id"] for v in found] == [1]
    assert fake.api_requests[0].url.params["filters[origin_id]"] == "sage300:X:1"


# -- rate limits (procore.md §3) ----------------------------------------------------------------------


def rate_headers(remaining: int, reset: float, limit: int = 25) -> dict[str, str]:
    return {"X-Rate-Limit-Limit": str(limit), "X-Rate-Limit-Remaining": str(remaining),
            "X-Rate-Limit-Reset": str(int(reset))}


def test_a_spent_window_makes_the_next_request_wait_for_the_reset_and_no_429_happens(make_client, clock, sleep):
    reset = clock.now + 30
    statuses = []

    def api(request):
        if clock.now < reset and statuses:  # a second request before the reset would be over the limit
            statuses.append(429)
            return httpx.Response(429, json={"errors": "limit"}, headers=rate_headers(0, reset))
        statuses.append(200)
        return ok([], **rate_headers(0 if len(statuses) == 1 else 24, reset if len(statuses) == 1 else reset + 10))

    fake = FakeProcore(api)
    client = make_client(fake)
    client.request("GET", VENDORS, what="first")
    assert sleep.waits == []
    client.request("GET", VENDORS, what="second")
    assert statuses == [200, 200]
    assert len(sleep.waits) == 1 and 30 <= sleep.waits[0] <= 31
    assert client.pacer.rate_limited == 0


def test_a_429_with_retry_after_waits_that_long(make_client, clock, sleep):
    answers = iter([httpx.Response(429, json={"errors": "You have surpassed the max number of requests"},
                                   headers={"Retry-After": "12", **rate_headers(0, clock.now + 600)})])
    fake = FakeProcore(lambda r: next(answers, None) or ok([{"id": 1}]))
    assert make_client(fake).request("GET", VENDORS, what="list") == [{"id": 1}]
    assert len(sleep.waits) == 1 and 12 <= sleep.waits[0] <= 13, "Retry-After wins over the reset time"
    assert len(fake.api_requests) == 2


def test_a_429_without_retry_after_waits_until_the_rate_limit_reset(make_client, clock, sleep):
    answers = iter([httpx.Response(429, json={"errors": "limit"}, headers=rate_headers(0, clock.now + 45))])
    fake = FakeProcore(lambda r: next(answers, None) or ok([]))
    make_client(fake).request("GET", VENDORS, what="list")
    assert len(sleep.waits) == 1 and 45 <= sleep.waits[0] <= 46


def test_a_429_asking_longer_than_max_rate_wait_pauses_the_run(make_client, clock, sleep):
    fake = FakeProcore(lambda r: httpx.Response(429, json={"errors": "limit"},
                                                headers={"Retry-After": "3600", **rate_headers(0, clock.now + 3600)}))
    with pytest.raises(RateBudgetExhausted) as caught:
        make_client(fake, max_rate_wait=120).request("GET", VENDORS, what="list")
    error = caught.value
    assert error.exit_code == ExitCode.PAUSED == 5
    assert clock.now + 3600 <= error.resume_at <= clock.now + 3601
    assert "UTC" in str(error) and "120 s" in str(error)
    assert sleep.waits == [] and len(fake.api_requests) == 1


def test_a_spent_window_resetting_later_than_max_rate_wait_pauses_before_sending(make_client, clock, sleep):
    fake = FakeProcore(lambda r: ok([], **rate_headers(0, clock.now + 1800, limit=3600)))
    client = make_client(fake, max_rate_wait=60)
    client.request("GET", VENDORS, what="first")
    with pytest.raises(RateBudgetExhausted) as caught:
        client.request("GET", VENDORS, what="second")
    assert len(fake.api_requests) == 1, "the request that would be refused is not sent"
    assert caught.value.resume_at >= clock.now + 1800
    assert sleep.waits == []


# -- retries (DESIGN.md §5) ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_server_errors_are_retried_with_backoff_then_unreachable_names_the_system(make_client, sleep, status):
    fake = FakeProcore(lambda r: httpx.Response(status, text="upstream trouble"))
    with pytest.raises(UnreachableError) as caught:
        make_client(fake).request("GET", VENDORS, what="list vendors")
    assert len(fake.api_requests) == 6
    assert len(sleep.waits) == 5 and sleep.waits[-1] > sleep.waits[0], "exponential backoff"
    message = str(caught.value)
    assert message.startswith("procore: ") and f"HTTP {status}" in message and "list vendors" in message
    assert caught.value.exit_code == ExitCode.FATAL


def test_a_5xx_that_passes_is_invisible(make_client):
    answers = iter([httpx.Response(500), httpx.Response(502)])
    fake = FakeProcore(lambda r: next(answers, None) or ok([{"id": 3}]))
    assert make_client(fake).request("GET", VENDORS, what="list") == [{"id": 3}]


def test_a_503_retry_after_is_honoured(make_client, sleep):
    answers = iter([httpx.Response(503, text="Service Unavailable", headers={"Retry-After": "17"})])
    fake = FakeProcore(lambda r: next(answers, None) or ok([]))
    make_client(fake).request("GET", VENDORS, what="list")
    assert len(sleep.waits) == 1 and sleep.waits[0] >= 17


def test_a_503_asking_longer_than_max_rate_wait_pauses_the_run(make_client, clock, sleep):
    fake = FakeProcore(lambda r: httpx.Response(503, text="Service Unavailable", headers={"Retry-After": "3600"}))
    with pytest.raises(RateBudgetExhausted) as caught:
        make_client(fake, max_rate_wait=300).request("GET", VENDORS, what="list")
    assert caught.value.exit_code == ExitCode.PAUSED
    assert caught.value.resume_at >= clock.now + 3600
    assert sleep.waits == [] and len(fake.api_requests) == 1


def test_a_503_retry_after_within_a_long_max_rate_wait_is_waited_for(make_client, sleep):
    answers = iter([httpx.Response(503, text="Service Unavailable", headers={"Retry-After": "600"})])
    fake = FakeProcore(lambda r: next(answers, None) or ok([]))
    make_client(fake, max_rate_wait=900).request("GET", VENDORS, what="list")
    assert len(sleep.waits) == 1 and sleep.waits[0] >= 600


@pytest.mark.parametrize("failure", [
    httpx.ReadTimeout("timed out"),
    httpx.ConnectTimeout("timed out"),
    httpx.ReadError("[Errno 104] Connection reset by peer"),
    httpx.RemoteProtocolError("Server disconnected without sending a response."),
])
def test_timeouts_and_connection_resets_are_retried(make_client, failure):
    calls = []

    def api(request):
        calls.append(request)
        if len(calls) < 3:
            raise failure
        return ok([{"id": 5}])

    assert make_client(FakeProcore(api)).request("GET", VENDORS, what="list") == [{"id": 5}]
    assert len(calls) == 3


def test_a_host_that_always_times_out_is_unreachable(make_client):
    def api(request):
        raise httpx.ConnectTimeout("timed out")

    with pytest.raises(UnreachableError) as caught:
        make_client(FakeProcore(api)).request("GET", VENDORS, what="list vendors")
    assert "timed out" in str(caught.value) and "procore" in str(caught.value)


@pytest.mark.parametrize(("body", "content_type", "shown"), [
    ("<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "text/html", "an HTML page"),
    ('[{"id": 1, "name": "Acme Con', "application/json", '[{"id": 1, "name": "Acme Con'),
])
def test_a_200_that_is_not_json_is_retried_then_a_clear_error(make_client, body, content_type, shown):
    fake = FakeProcore(lambda r: httpx.Response(200, text=body, headers={"Content-Type": content_type}))
    with pytest.raises(UnreachableError) as caught:
        make_client(fake).request("GET", VENDORS, what="list vendors")
    assert len(fake.api_requests) == 6
    assert "not JSON" in str(caught.value) and shown in str(caught.value)


def test_a_truncated_answer_once_is_retried_and_succeeds(make_client):
    answers = iter([httpx.Response(200, text='[{"id": 1', headers={"Content-Type": "application/json"})])
    fake = FakeProcore(lambda r: next(answers, None) or ok([{"id": 1}]))
    assert make_client(fake).request("GET", VENDORS, what="list") == [{"id": 1}]


def test_a_redirect_is_an_error_naming_where_it_points(make_client):
    fake = FakeProcore(lambda r: httpx.Response(302, headers={"Location": "https://sso.example.net/login"}))
    with pytest.raises(ResponseError) as caught:
        list(make_client(fake).get_pages(VENDORS, {"company_id": COMPANY}, what="list vendors"))
    assert "https://sso.example.net/login" in str(caught.value)
    assert len(fake.api_requests) == 1, "a redirect is not retried and never followed with the token"


# -- error bodies (procore.md §7) --------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "expected"), [
    ({"errors": "Missing Procore-Company-Id header!"}, "Missing Procore-Company-Id header!"),
    ({"errors": ["is invalid", "is locked"]}, "is invalid; is locked"),
    ({"errors": {"name": ["can't be blank"], "origin_id": ["has already been taken"]}},
     "name: can't be blank; origin_id: has already been taken"),
    ({"errors": {"base": ["Budget is locked"]}}, "Budget is locked"),
    ({"errors": {"base": ["Vendor is invalid"], "fields": {"name": ["can't be blank"]}}},
     "Vendor is invalid; name: can't be blank"),
    ({"message": "Resource not permitted for this project"}, "Resource not permitted for this project"),
    ({"error": "param is missing or the value is empty: vendor"}, "param is missing or the value is empty: vendor"),
    ({"error": {"code": 400, "message": "Invalid company base URL"}}, "Invalid company base URL"),
    ({"message": "Unprocessable Entity", "error": "wbs_code_id: This Budget Code already exists"},
     "wbs_code_id: This Budget Code already exists"),
    ({"code": 422, "message": "Validation failed", "fields": "name", "reason": "blank"}, "Validation failed"),
])
def test_error_bodies_become_readable_messages_with_the_request_id(make_client, body, expected):
    fake = FakeProcore(lambda r: httpx.Response(422, json=body, headers={"X-Request-Id": "8f14e45f-ceea"}))
    with pytest.raises(ResponseError) as caught:
        make_client(fake).request("PATCH", f"{VENDORS}/1", json_body={"vendor": {}}, what="update vendor 1")
    message = str(caught.value)
    assert expected in message and "update vendor 1" in message
    assert "[request id 8f14e45f-ceea]" in message and caught.value.request_id == "8f14e45f-ceea"
    assert caught.value.status == 422
    assert len(fake.api_requests) == 1, "a 4xx is not retried"


def test_an_html_error_page_is_described_not_dumped(make_client):
    fake = FakeProcore(lambda r: httpx.Response(404, text="<html><body>" + "x" * 5000 + "</body></html>",
                                                headers={"Content-Type": "text/html"}))
    with pytest.raises(ResponseError) as caught:
        make_client(fake).request("GET", VENDORS, what="list")
    assert "an HTML page" in str(caught.value) and "xxxx" not in str(caught.value)


def test_a_403_is_permission_denied(make_client):
    fake = FakeProcore(lambda r: httpx.Response(403, json={"errors": "App is not connected to this company"},
                                                headers={"X-Request-Id": "req-403"}))
    with pytest.raises(PermissionDenied) as caught:
        make_client(fake).request("GET", VENDORS, what="list vendors")
    assert "App is not connected to this company" in str(caught.value) and "req-403" in str(caught.value)
    assert "App Management" in caught.value.hint
    assert len(fake.token_requests) == 1, "a 403 does not renew the token"


def test_a_404_reading_one_vendor_is_none(make_client):
    fake = FakeProcore(lambda r: httpx.Response(404, json={"errors": "Not Found"}))
    assert get_vendor(make_client(fake), 5) is None


def test_an_error_echoing_the_token_is_scrubbed(make_client):
    def api(request):
        return httpx.Response(400, json={"errors": f"bad token {bearer(request)}"})

    fake = FakeProcore(api)
    with pytest.raises(ResponseError) as caught:
        make_client(fake).request("GET", VENDORS, what="list")
    assert fake.issued[0] not in str(caught.value) and "****" in str(caught.value)


# -- vendors/sync (procore.md §5.1) --------------------------------------------------------------------------


def test_sync_vendors_sends_one_batch_and_reads_entities_and_errors_by_origin_id(make_client):
    def api(request):
        body = json.loads(request.content)
        good, bad = body["updates"]
        return ok({"entities": [{"id": 562949953421312, **good}],
                   "errors": [{**bad, "errors": {"name": ["can't be blank"], "state_code": ["is invalid"]}}]})

    fake = FakeProcore(api)
    outcome = sync_vendors(make_client(fake), [
        {"origin_id": "sage300:SAMLTD:1200", "name": "Acme"},
        {"origin_id": "sage300:SAMLTD:1300", "name": "", "state_code": "ZZ"},
    ])
    [request] = fake.api_requests
    assert request.method == "PATCH" and request.url.path == "/rest/v1.0/vendors/sync"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content)["company_id"] == COMPANY
    assert outcome.written["sage300:SAMLTD:1200"]["id"] == 562949953421312  # beyond 32 bits, kept exact
    assert outcome.rejected == {"sage300:SAMLTD:1300": "name: can't be blank; state_code: is invalid"}


def test_sync_vendors_refuses_more_than_the_batch_cap_without_a_request(make_client):
    fake = FakeProcore(lambda r: ok({"entities": [], "errors": []}))
    client = make_client(fake)
    items = [{"origin_id": f"o{i}", "name": f"V{i}"} for i in range(SYNC_BATCH_SIZE + 1)]
    with pytest.raises(ValueError, match="at most 500"):
        sync_vendors(client, items)
    assert fake.requests == []
    sync_vendors(client, items[:SYNC_BATCH_SIZE])
    assert len(json.loads(fake.api_requests[0].content)["updates"]) == 500


@pytest.mark.parametrize("body", [[], "ok", {"entities": "nope"}, None])
def test_a_sync_answer_without_the_lists_is_a_response_error(body):
    with pytest.raises(ResponseError):
        parse_sync_response(body, system="procore")


def test_a_sync_error_without_field_messages_still_says_rejected():
    outcome = parse_sync_response({"entities": [], "errors": [{"origin_id": "o1"}]}, system="procore")
    assert outcome.rejected == {"o1": "rejected"}


def test_an_answer_naming_items_only_by_id_still_tells_updates_from_drops():
    """Entities and error echoes without origin_id are matched to updates by their id."""
    outcome = parse_sync_response(
        {"entities": [{"id": 11, "name": "A"}], "errors": [{"id": 12, "errors": {"name": ["can't be blank"]}}]},
        system="procore",
    )
    assert outcome.outcome_of("o-11", "11") == ({"id": 11, "name": "A"}, None)
    assert outcome.outcome_of("o-12", "12") == (None, "name: can't be blank")
    assert outcome.outcome_of("o-13", "13") == (None, None)
    assert outcome.outcome_of("o-new", None) == (None, None)


def test_a_next_link_without_a_page_parameter_is_followed(make_client):
    def api(request):
        if "cursor" not in request.url.params:
            return ok([{"id": 1}], Link=f'<{API}{VENDORS}?company_id={COMPANY}&cursor=abc>; rel="next"')
        return ok([{"id": 2}])

    fake = FakeProcore(api)
    pages = list(make_client(fake).get_pages(VENDORS, {"company_id": COMPANY}, what="list vendors"))
    assert pages == [[{"id": 1}], [{"id": 2}]]


def test_a_next_link_to_the_same_page_does_not_loop_forever(make_client):
    def api(request):
        return ok([{"id": 1}], Link=f'<{API}{VENDORS}?{request.url.query.decode()}>; rel="next"')

    fake = FakeProcore(api)
    with pytest.raises(ResponseError, match="points at the page just read"):
        list(make_client(fake).get_pages(VENDORS, {"company_id": COMPANY}, what="list vendors"))
    assert len(fake.api_requests) == 1


def test_a_rejected_certificate_fails_at_once_with_the_ca_bundle_hint():
    import ssl

    from mlconnector.errors import UnreachableError
    from mlconnector.http import call_with_retries

    attempts = []

    def attempt():
        attempts.append(1)
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed: unable to get local issuer certificate")
        except ssl.SSLError as cause:
            raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]") from cause

    with pytest.raises(UnreachableError) as caught:
        call_with_retries(attempt, system="procore", what="list vendors", sleep=lambda s: None)
    assert len(attempts) == 1
    assert "ca_bundle" in str(caught.value) and "certificate" in str(caught.value)
