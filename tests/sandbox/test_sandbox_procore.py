"""The Procore simulator over real HTTP: OAuth, company header, rate limits, paging, vendors."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mlconnector.sandbox import ProcoreSimulator

from .conftest import FakeClock, procore_token

VENDORS = "/rest/v1.0/vendors"


def _company(procore: ProcoreSimulator) -> dict[str, int]:
    return {"company_id": procore.company_id}


# -- OAuth ------------------------------------------------------------------------------------------


def test_client_credentials_grant_by_form_json_and_multipart(procore: ProcoreSimulator, clock: FakeClock) -> None:
    fields = {"grant_type": "client_credentials", "client_id": procore.client_id,
              "client_secret": procore.client_secret}
    answers = [
        httpx.post(f"{procore.url}/oauth/token", data=fields),
        httpx.post(f"{procore.url}/oauth/token", json=fields),
        httpx.post(f"{procore.url}/oauth/token", data=fields, files={"unused": ("x.txt", b"x")}),
    ]
    for response in answers:
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 5400
        assert body["created_at"] == int(clock.now)
        assert response.headers["X-Request-Id"]
    assert len({r.json()["access_token"] for r in answers}) == 3
    assert procore.token_requests == 3


def test_unknown_client_and_unsupported_grant(procore: ProcoreSimulator) -> None:
    bad = httpx.post(f"{procore.url}/oauth/token", data={
        "grant_type": "client_credentials", "client_id": procore.client_id, "client_secret": "wrong"})
    assert bad.status_code == 401
    assert bad.json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed due to unknown client, no client authentication "
        "included, or unsupported authentication method."}
    password_grant = httpx.post(f"{procore.url}/oauth/token", data={
        "grant_type": "password", "client_id": procore.client_id, "client_secret": procore.client_secret})
    assert password_grant.status_code == 400
    assert password_grant.json()["error"] == "unsupported_grant_type"


def test_tokens_expire_after_their_lifetime(procore: ProcoreSimulator, clock: FakeClock) -> None:
    procore.token_lifetime = 60
    headers = {"Authorization": f"Bearer {procore_token(procore)}", "Procore-Company-Id": str(procore.company_id)}
    assert httpx.get(f"{procore.url}/rest/v1.0/me", headers=headers).status_code == 200
    clock.advance(61)
    expired = httpx.get(f"{procore.url}/rest/v1.0/me", headers=headers)
    assert expired.status_code == 401
    assert expired.json() == {"errors": "The access token is invalid"}
    assert expired.headers["WWW-Authenticate"] == 'Bearer realm="Doorkeeper", error="invalid_token"'


def test_expire_all_tokens_and_missing_token(procore: ProcoreSimulator, api: httpx.Client) -> None:
    assert api.get("/rest/v1.0/companies").status_code == 200
    procore.expire_all_tokens()
    assert api.get("/rest/v1.0/companies").status_code == 401
    no_token = httpx.get(f"{procore.url}/rest/v1.0/companies", headers={"Procore-Company-Id": "1234567"})
    assert no_token.status_code == 401
    assert no_token.json() == {"errors": "The access token is invalid"}


# -- company header, context endpoints, routing ------------------------------------------------------


def test_company_header_is_required_and_must_be_connected(procore: ProcoreSimulator) -> None:
    token = procore_token(procore)
    missing = httpx.get(f"{procore.url}/rest/v1.0/companies", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 400
    assert missing.json() == {"errors": "Missing Procore-Company-Id header!"}
    other = httpx.get(f"{procore.url}/rest/v1.0/me",
                      headers={"Authorization": f"Bearer {token}", "Procore-Company-Id": "999"})
    assert other.status_code == 403
    assert other.json() == {"errors": "App is not connected to this company"}


def test_companies_me_and_request_ids(procore: ProcoreSimulator, api: httpx.Client) -> None:
    companies = api.get("/rest/v1.0/companies")
    assert companies.json() == [{"id": 1234567, "name": procore.company_name, "is_active": True, "logo_url": None,
                                 "pcn_business_experience": False, "my_company": True}]
    me = api.get("/rest/v1.0/me")
    assert set(me.json()) == {"id", "login", "name"}
    request_ids = {companies.headers["X-Request-Id"], me.headers["X-Request-Id"]}
    assert len(request_ids) == 2 and all(uuid.UUID(r).version == 4 for r in request_ids)


def test_unknown_path_wrong_method_and_missing_company_param(api: httpx.Client) -> None:
    unknown = api.get("/rest/v1.0/nothing_here")
    assert (unknown.status_code, unknown.json()) == (404, {"errors": "Not Found"})
    assert api.delete(VENDORS).status_code == 405
    no_company = api.get(VENDORS)
    assert no_company.status_code == 400
    assert "company_id" in no_company.json()["errors"]


# -- rate limits --------------------------------------------------------------------------------------


def test_rate_headers_then_429_over_the_spike_limit(procore: ProcoreSimulator, api: httpx.Client,
                                                    clock: FakeClock) -> None:
    procore.set_rate_limits(spike=3, spike_window=10)
    answers = [api.get("/rest/v1.0/me") for _ in range(3)]
    assert [r.headers["X-Rate-Limit-Remaining"] for r in answers] == ["2", "1", "0"]
    assert all(r.headers["X-Rate-Limit-Limit"] == "3" for r in answers)
    assert answers[0].headers["X-Rate-Limit-Reset"] == str(int(clock.now) + 10)
    limited = api.get("/rest/v1.0/me")
    assert limited.status_code == 429
    assert limited.json() == {"errors": "You have surpassed the max number of requests for an hour. "
                                        "Please wait until your limit resets."}
    assert limited.headers["Retry-After"] == "10"
    assert limited.headers["X-Rate-Limit-Remaining"] == "0"
    assert procore.rate_limited == 1
    clock.advance(10)  # the spike window resets
    assert api.get("/rest/v1.0/me").status_code == 200


def test_429_without_retry_after_and_failed_requests_count(procore: ProcoreSimulator, api: httpx.Client) -> None:
    procore.set_rate_limits(spike=2)
    procore.send_retry_after = False
    assert api.get("/rest/v1.0/no_such_thing").status_code == 404  # failures count too
    assert httpx.get(f"{procore.url}/rest/v1.0/me").status_code == 401
    limited = api.get("/rest/v1.0/me")
    assert limited.status_code == 429
    assert "Retry-After" not in limited.headers
    assert "X-Rate-Limit-Reset" in limited.headers


def test_token_endpoint_does_not_count_and_hourly_window_is_reported_when_closer(
        procore: ProcoreSimulator, api: httpx.Client, clock: FakeClock) -> None:
    procore.set_rate_limits(hourly=5, spike=25)
    for _ in range(3):
        procore_token(procore)
    response = api.get("/rest/v1.0/me")
    assert response.headers["X-Rate-Limit-Limit"] == "5"
    assert response.headers["X-Rate-Limit-Remaining"] == "4"
    assert response.headers["X-Rate-Limit-Reset"] == str(int(clock.now) + 3600)


# -- vendors: reading ---------------------------------------------------------------------------------


def test_link_total_and_per_page_paging_end_to_end(procore: ProcoreSimulator, api: httpx.Client) -> None:
    created = [procore.add_vendor(name=f"Vendor {n:03d}") for n in range(250)]
    assert all(v["id"] > 2**32 for v in created)
    seen, pages = [], []
    url: str | None = f"{procore.url}{VENDORS}?company_id={procore.company_id}&per_page=100"
    while url:
        response = api.get(url)
        assert response.headers["Total"] == "250"
        assert response.headers["Per-Page"] == "100"
        links = dict((part.split("; ")[1], part.split("; ")[0].strip("<>"))
                     for part in response.headers["Link"].split(", "))
        pages.append(sorted(links))
        seen.extend(v["id"] for v in response.json())
        url = links.get('rel="next"')
    assert seen == [v["id"] for v in created]
    assert pages == [['rel="first"', 'rel="last"', 'rel="next"'],
                     ['rel="first"', 'rel="last"', 'rel="next"', 'rel="prev"'],
                     ['rel="first"', 'rel="last"', 'rel="prev"']]


def test_link_header_format_and_per_page_clamp(procore: ProcoreSimulator, api: httpx.Client) -> None:
    for n in range(12):
        procore.add_vendor(name=f"V{n}")
    response = api.get(VENDORS, params={"company_id": procore.company_id, "per_page": 5, "page": 2})
    base = f"{procore.url}{VENDORS}?company_id={procore.company_id}&per_page=5"
    assert response.headers["Link"] == (f'<{base}&page=1>; rel="first", <{base}&page=1>; rel="prev", '
                                        f'<{base}&page=3>; rel="last", <{base}&page=3>; rel="next"')
    huge = api.get(VENDORS, params={"company_id": procore.company_id, "per_page": 50000})
    assert huge.headers["Per-Page"] == "1000" and len(huge.json()) == 12


def test_filters_sort_and_inactive_list(procore: ProcoreSimulator, api: httpx.Client, clock: FakeClock) -> None:
    procore.add_vendor(name="Zeta Plumbing", origin_id="V1", origin_code="ZP-100", updated_at="2025-01-01T00:00:00Z")
    procore.add_vendor(name="alpha electric", origin_id="V2", updated_at="2025-06-15T12:00:00Z")
    gone = procore.add_vendor(name="Old Roofing", origin_id="V3", is_active=False)
    company = _company(procore)

    def names(**params: str) -> list[str]:
        return [v["name"] for v in api.get(VENDORS, params={**company, **params}).json()]

    assert names() == ["Zeta Plumbing", "alpha electric"]  # id order, active only
    assert names(sort="name") == ["alpha electric", "Zeta Plumbing"]
    assert names(**{"filters[origin_id]": "V2"}) == ["alpha electric"]
    assert names(**{"filters[origin_id]": "V3"}) == []  # inactive vendors are not listed
    assert names(**{"filters[search]": "ZP-1"}) == ["Zeta Plumbing"]  # origin_code, case-insensitive
    assert names(**{"filters[search]": "ELECTRIC"}) == ["alpha electric"]
    assert names(**{"filters[updated_at]": "2025-06-01T00:00:00Z...2025-07-01T00:00:00Z"}) == ["alpha electric"]
    inactive = api.get(f"/rest/v1.0/companies/{procore.company_id}/vendors/inactive")
    assert [v["id"] for v in inactive.json()] == [gone["id"]]
    assert inactive.headers["Total"] == "1"
    show = api.get(f"{VENDORS}/{gone['id']}", params=company)
    assert show.json()["name"] == "Old Roofing"
    assert show.json()["company"] == {"id": procore.company_id, "name": procore.company_name}
    missing = api.get(f"{VENDORS}/1", params=company)
    assert (missing.status_code, missing.json()) == (404, {"errors": "Not Found"})


# -- vendors: writing ---------------------------------------------------------------------------------


def _sync(api: httpx.Client, procore: ProcoreSimulator, updates: list) -> dict:
    response = api.patch(f"{VENDORS}/sync", json={"company_id": procore.company_id, "updates": updates})
    assert response.status_code == 200
    return response.json()


def test_sync_creates_and_matches_on_origin_id_then_id(procore: ProcoreSimulator, api: httpx.Client) -> None:
    first = _sync(api, procore, [
        {"origin_id": "V00001", "name": "Anderson Concrete", "country_code": "US", "state_code": "TX"},
        {"name": "No Keys Drywall"},
    ])
    assert first["errors"] == []
    anderson, no_keys = first["entities"]
    assert anderson["origin_id"] == "V00001" and anderson["is_active"] is True
    assert no_keys["origin_id"] is None

    again = _sync(api, procore, [{"origin_id": "V00001", "city": "Austin", "unknown_field": 1}])
    assert again["entities"][0]["id"] == anderson["id"]
    assert again["entities"][0]["name"] == "Anderson Concrete"  # partial update keeps other fields
    assert again["entities"][0]["city"] == "Austin"

    relinked = _sync(api, procore, [{"id": no_keys["id"], "origin_id": "V00002"}])
    assert relinked["entities"][0]["origin_id"] == "V00002"  # only an id match changes origin_id
    assert procore.vendor_by_origin_id("V00002")["name"] == "No Keys Drywall"
    assert len(procore.vendors()) == 2


def test_sync_reports_per_item_errors_with_http_200(procore: ProcoreSimulator, api: httpx.Client) -> None:
    procore.add_vendor(name="Taken", origin_id="V9")
    other = procore.add_vendor(name="Other")
    items = [
        {"id": 42, "name": "Ghost"},
        {"origin_id": "N1"},
        {"origin_id": "N2", "name": "Bad Country", "country_code": "USA"},
        {"origin_id": "N3", "name": "Bad State", "country_code": "US", "state_code": "XX"},
        {"origin_id": "N4", "name": "x" * 256},
        {"id": other["id"], "origin_id": "V9"},
        {"origin_id": "N5", "name": "Bayern Gerüste", "country_code": "DE", "state_code": "BY"},
        {"origin_id": "N6", "name": "Québec Toitures", "country_code": "CA", "state_code": "QC"},
    ]
    result = _sync(api, procore, items)
    assert [e["errors"] for e in result["errors"]] == [
        {"id": ["Entity with this ID not found"]},
        {"name": ["can't be blank"]},
        {"country_code": ["is invalid"]},
        {"state_code": ["is invalid"]},
        {"name": ["is too long (maximum is 255 characters)"]},
        {"origin_id": ["has already been taken"]},
    ]
    assert result["errors"][0]["name"] == "Ghost"  # the caller's item is echoed back
    assert [e["origin_id"] for e in result["entities"]] == ["N5", "N6"]


def test_sync_rejects_more_than_1000_items(procore: ProcoreSimulator, api: httpx.Client) -> None:
    response = api.patch(f"{VENDORS}/sync", json={"company_id": procore.company_id,
                                                  "updates": [{"name": f"V{n}"} for n in range(1001)]})
    assert (response.status_code, response.json()) == (413, {"errors": "Payload Too Large"})
    assert procore.vendors() == []


def test_updated_at_moves_only_on_real_change(procore: ProcoreSimulator, api: httpx.Client,
                                              clock: FakeClock) -> None:
    created = _sync(api, procore, [{"origin_id": "A", "name": "Acme"}])["entities"][0]
    clock.advance(120)
    same = _sync(api, procore, [{"origin_id": "A", "name": "Acme"}])["entities"][0]
    assert same["updated_at"] == created["updated_at"]
    changed = _sync(api, procore, [{"origin_id": "A", "name": "Acme Inc."}])["entities"][0]
    assert changed["updated_at"] > created["updated_at"]
    assert changed["created_at"] == created["created_at"]


def test_create_and_update_single_vendor(procore: ProcoreSimulator, api: httpx.Client) -> None:
    created = api.post(VENDORS, json={"company_id": procore.company_id, "vendor": {"name": "Solo Surveying"}})
    assert created.status_code == 201
    vendor_id = created.json()["id"]
    invalid = api.post(VENDORS, json={"company_id": procore.company_id, "vendor": {"city": "Austin"}})
    assert (invalid.status_code, invalid.json()) == (422, {"errors": {"name": ["can't be blank"]}})
    updated = api.patch(f"{VENDORS}/{vendor_id}", json={"company_id": procore.company_id,
                                                       "vendor": {"is_active": False}})
    assert updated.status_code == 200 and updated.json()["is_active"] is False
    assert api.get(VENDORS, params=_company(procore)).json() == []


@pytest.mark.parametrize("body", [b"{not json", b"[]"])
def test_malformed_bodies_are_400(procore: ProcoreSimulator, api: httpx.Client, body: bytes) -> None:
    response = api.patch(f"{VENDORS}/sync", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "errors" in response.json()


def test_concurrent_syncs_of_one_origin_id_make_one_vendor(procore: ProcoreSimulator, api: httpx.Client) -> None:
    procore.set_rate_limits(spike=1000)
    items = [{"origin_id": f"V{n % 5}", "name": f"Vendor {n % 5}"} for n in range(40)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda item: _sync(api, procore, [item]), items))
    assert all(r["errors"] == [] for r in results)
    assert sorted(v["origin_id"] for v in procore.vendors()) == ["V0", "V1", "V2", "V3", "V4"]
