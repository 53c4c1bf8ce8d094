"""No cassette may hold a credential (anchors.md §6.2, "belt and braces").

The sandbox's credentials are random per run, so besides the values the redactor knows in this
session the scanner looks for secret SHAPES: Basic/Bearer values, secret form and JSON fields,
base64 ``user:password`` pairs, unredacted auth headers, recorded cookies. The scanner is itself
tested on planted leaks, so a scanner that finds nothing cannot pass for clean cassettes.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml
from _cassettes import CASSETTES, PLACEHOLDER, RECORDED_SECRETS, TOKEN_PLACEHOLDER, scan_cassette, scrub_request, scrub_response
from vcr.request import Request

from mlconnector import redact

EXPECTED = {
    "procore": {"test_token_then_list_vendors_page_by_page", "test_vendors_sync_creates_and_reports_a_per_item_error",
                "test_an_expired_token_is_renewed_on_401_and_the_call_retried",
                "test_projects_cost_codes_and_line_item_types_page_by_page",
                "test_commitment_sync_then_its_line_items_matched_by_origin_id",
                "test_direct_cost_sync_then_its_line_items", "test_requisition_create_then_bill_its_contract_items",
                "test_a_requisition_without_an_open_billing_period_is_refused"},
    "sage300": {"test_vendor_paging_with_a_date_filter_and_a_server_page_cap", "test_a_vendor_by_key_with_a_quote",
                "test_an_unknown_vendor_is_none", "test_a_wrong_password_is_an_auth_error",
                "test_purchase_order_paging_by_last_edited_with_lines_embedded",
                "test_po_invoices_by_last_edited_and_one_by_number"},
}


def known_secrets() -> list[str]:
    # Placeholders the replayed answers carry are registered as "tokens" by the client; not secrets.
    return sorted(s for s in {*redact.known_secrets(), *RECORDED_SECRETS} if PLACEHOLDER not in s)


def test_every_expected_cassette_exists():
    for group, names in EXPECTED.items():
        present = {p.stem for p in (CASSETTES / group).glob("*.yaml")}
        assert names <= present, f"missing cassettes in cassettes/{group}: {sorted(names - present)}"


def test_no_cassette_holds_a_secret(record_mode):
    cassettes = sorted(CASSETTES.rglob("*.yaml"))
    assert cassettes, "no cassettes found"
    if record_mode != "none":
        assert RECORDED_SECRETS, "a recording run must scan for the values it recorded with"
    problems = [p for path in cassettes for p in scan_cassette(path, known=known_secrets())]
    assert problems == [], "\n".join(problems)


# -- the scanner catches what it should --------------------------------------------------------------

CLEAN = {
    "interactions": [
        {"request": {"method": "POST", "uri": "http://127.0.0.1:18301/oauth/token",
                     "body": "grant_type=client_credentials&client_id=REDACTED&client_secret=REDACTED",
                     "headers": {"Authorization": ["REDACTED"], "Content-Type": ["application/x-www-form-urlencoded"]}},
         "response": {"status": {"code": 200, "message": "OK"},
                      "headers": {"Content-Type": ["application/json"],
                                  "WWW-Authenticate": ['Bearer realm="Doorkeeper", error="invalid_token"'],
                                  "X-Request-Id": ["6f1c6f5e-52c1-4b55-8d54-1f2a9c3e0b7d"]},
                      "body": {"string": '{"access_token": "REDACTED-ACCESS-TOKEN", "token_type": "bearer", '
                                         '"expires_in": 5400, "created_at": 1750000000}'}}},
        {"request": {"method": "GET", "uri": "http://127.0.0.1:18300/Sage300WebApi/v1.0/-/SAMLTD/AP/APVendors"
                                             "?$top=100&$skip=0&$count=true", "body": None,
                     "headers": {"Authorization": ["REDACTED"]}},
         "response": {"status": {"code": 200, "message": "OK"}, "headers": {},
                      "body": {"string": '{"value": [{"VendorNumber": "562949953421312", "Email": "ap@acme.example",'
                                         ' "WebSite": "https://acme.example/contact"}]}'}}},
    ],
    "version": 1,
}

RANDOM_TOKEN = "q8Zr3LkP0vWx7NcB2mYt5HsJ9dFg4AeQ"


def leak(kind: str) -> dict:
    document = yaml.safe_load(yaml.safe_dump(CLEAN))
    token_request, sage_request = document["interactions"][0], document["interactions"][1]
    if kind == "bearer header":
        sage_request["request"]["headers"]["Authorization"] = [f"Bearer {RANDOM_TOKEN}"]
    elif kind == "basic header":
        creds = base64.b64encode(b"WEBAPI:Tr0ub4dor&3").decode()
        sage_request["request"]["headers"]["Authorization"] = [f"Basic {creds}"]
    elif kind == "lower-case authorization header":
        sage_request["request"]["headers"]["authorization"] = [RANDOM_TOKEN]
    elif kind == "client_secret in form":
        token_request["request"]["body"] = f"grant_type=client_credentials&client_secret={RANDOM_TOKEN}"
    elif kind == "client_secret in JSON":
        token_request["request"]["body"] = f'{{"grant_type": "client_credentials", "client_secret": "{RANDOM_TOKEN}"}}'
    elif kind == "access_token in body":
        token_request["response"]["body"]["string"] = f'{{"access_token": "{RANDOM_TOKEN}", "expires_in": 5400}}'
    elif kind == "access_token as binary":
        token_request["response"]["body"]["string"] = f'{{"access_token": "{RANDOM_TOKEN}"}}'.encode() + b"\xff"
    elif kind == "set-cookie":
        token_request["response"]["headers"]["Set-Cookie"] = ["ASP.NET_SessionId=abc123; path=/; HttpOnly"]
    elif kind == "basic pair echoed in a body":
        creds = base64.b64encode(b"WEBAPI:Tr0ub4dor&3").decode()
        sage_request["response"]["body"]["string"] = f'{{"error": "bad credentials {creds}"}}'
    elif kind == "well-known demo password":
        sage_request["response"]["body"]["string"] = "login ADMIN:ADMIN refused"
    elif kind == "registered secret":
        sage_request["response"]["body"]["string"] = "echo Zq7-registered-secret-Zq7"
    elif kind == "token-shaped header":
        sage_request["response"]["headers"]["X-Access-Token"] = [RANDOM_TOKEN]
    else:
        raise AssertionError(kind)
    return document


def write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "planted.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def test_the_scanner_passes_a_clean_cassette(tmp_path):
    assert scan_cassette(write(tmp_path, CLEAN), known=known_secrets()) == []


@pytest.mark.parametrize("kind", [
    "bearer header", "basic header", "lower-case authorization header", "client_secret in form",
    "client_secret in JSON", "access_token in body", "access_token as binary", "set-cookie",
    "basic pair echoed in a body", "well-known demo password", "registered secret", "token-shaped header",
])
def test_the_scanner_finds_a_planted_leak(tmp_path, kind):
    found = scan_cassette(write(tmp_path, leak(kind)), known=["Zq7-registered-secret-Zq7"])
    assert found, f"the scanner missed: {kind}"
    assert all(line.startswith("planted.yaml: ") for line in found)


# -- the scrubbers remove what the scanner looks for ----------------------------------------------------


def test_the_request_scrubber_masks_auth_headers_form_secrets_and_registered_values():
    redact.register("Reg1stered-Value-For-Scrub")
    request = Request("POST", "http://127.0.0.1:18301/oauth/token?x=Reg1stered-Value-For-Scrub",
                      b"grant_type=client_credentials&client_id=abc123456789&client_secret=Reg1stered-Value-For-Scrub",
                      {"Authorization": f"Bearer {RANDOM_TOKEN}", "Content-Type": "application/x-www-form-urlencoded"})
    scrubbed = scrub_request(request)
    assert scrubbed.headers["Authorization"] == PLACEHOLDER
    assert scrubbed.body == b"grant_type=client_credentials&client_id=REDACTED&client_secret=REDACTED"
    assert "Reg1stered" not in scrubbed.uri


def test_the_response_scrubber_drops_cookies_masks_tokens_and_fixes_the_length():
    body = f'{{"access_token": "{RANDOM_TOKEN}", "refresh_token": "r-{RANDOM_TOKEN}", "expires_in": 5400}}'.encode()
    response = {"status": {"code": 200, "message": "OK"},
                "headers": {"content-type": ["application/json"], "set-cookie": ["sid=1"],
                            "Content-Length": [str(len(body))]},
                "body": {"string": body}}
    scrubbed = scrub_response(response)
    assert "set-cookie" not in scrubbed["headers"]
    assert RANDOM_TOKEN.encode() not in scrubbed["body"]["string"]
    assert TOKEN_PLACEHOLDER.encode() in scrubbed["body"]["string"]
    assert scrubbed["headers"]["Content-Length"] == [str(len(scrubbed["body"]["string"]))]
