"""Our requests against the vendors' published field names (tests/fixtures, copied from shared/specs).

Procore: what the vendor mapping sends (plus ``origin_id`` and ``id``, set by the target) must be
properties of ``updates.items`` in ``PATCH /rest/v1.0/vendors/sync``; the token request and the
list parameters must be the spec's. Sage 300: every ``$select`` name must exist in Sage's own
files (the APVendors sample, or the AR ``$metadata`` with Customer for Vendor — §3, §6).
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from mlconnector.pairs.sage300_procore import map_vendor
from mlconnector.systems.procore import ProcoreClient
from mlconnector.systems.procore.readers import find_vendors_by_origin_id
from mlconnector.systems.procore.settings import ProcoreSettings
from mlconnector.systems.sage300.readers import VENDOR_FIELDS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def spec(name: str) -> dict:
    return json.loads((FIXTURES / "procore" / name).read_text(encoding="utf-8"))


# A row that makes map_vendor fill every field it can (country and state resolve).
FULL_ROW = {
    "VendorNumber": "1200", "ShortName": "ACME", "Status": "Active", "VendorName": "Acme Concrete",
    "AddressLine1": "100 Main St", "AddressLine2": "Suite 4", "AddressLine3": "", "AddressLine4": "",
    "City": "Austin", "StateProvince": "TX", "ZipPostalCode": "78701", "Country": "USA",
    "PhoneNumber": "5125550100", "FaxNumber": "5125550101", "Email": "ap@acme.example", "WebSite": "acme.example",
}


def test_every_field_of_our_vendor_sync_item_is_in_the_sync_spec():
    body = spec("RestV10VendorsSyncPatch.json")["requestBody"]["schema"]
    assert set(body["required"]) == {"company_id", "updates"}
    allowed = body["properties"]["updates"]["items"]["properties"]
    mapped = map_vendor(FULL_ROW)
    assert {"country_code", "state_code"} <= set(mapped.payload), "the row should exercise every mapped field"
    sent = set(mapped.payload) | {"origin_id", "id"}
    assert sent - set(allowed) == set(), f"not in the Procore vendor sync spec: {sorted(sent - set(allowed))}"
    for name, value in mapped.payload.items():
        expected = {"string": str, "boolean": bool, "integer": int}[allowed[name]["type"]]
        assert isinstance(value, expected), f"{name} is {type(value).__name__}, the spec says {allowed[name]['type']}"


def test_our_token_request_matches_the_oauth_spec():
    operation = spec("OauthTokenPost.json")
    schema = operation["requestBody"]["schema"]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "spec-token-0123456789abcdef", "token_type": "bearer",
                                             "expires_in": 5400, "created_at": 1750000000})
        return httpx.Response(200, json=[])

    settings = ProcoreSettings(name="procore", kind="procore", api_url="https://api.procore.test",
                               login_url="https://login.procore.test", company_id=42)
    with ProcoreClient(settings, client_id="spec-id", client_secret="spec-secret",
                       transport=httpx.MockTransport(handler)) as client:
        find_vendors_by_origin_id(client, "sage300:SAMLTD:1200")

    token_request, list_request = seen
    assert token_request.method == operation["method"] and token_request.url.path == operation["path"]
    form = dict(urllib.parse.parse_qsl(token_request.content.decode()))
    assert set(schema["required"]) <= set(form) <= set(schema["properties"])
    assert form["grant_type"] in schema["properties"]["grant_type"]["enum"]
    # What we read from the answer is in the 200 schema.
    assert {"access_token", "expires_in"} <= set(operation["responses"]["200"]["schema"]["properties"])

    listing = spec("RestV10VendorsGet.json")
    parameters = {p["name"]: p for p in listing["parameters"]}
    assert list_request.url.path == listing["path"]
    assert set(list_request.url.params) <= set(parameters), "every query parameter we send is a documented one"
    assert {name for name, p in parameters.items() if p.get("required")} <= set(list_request.url.params)


def sage_names() -> set[str]:
    """Field names from Sage's files: the APVendors POST sample and the AR Customer entity (Customer -> Vendor)."""
    names = set(json.loads((FIXTURES / "sage300" / "APVendors.txt").read_text(encoding="utf-8")))
    tree = ElementTree.parse(FIXTURES / "sage300" / "AR-service-2016.edmx")
    customer = next(e for e in tree.iter() if e.tag.endswith("}EntityType") and e.get("Name") == "Customer")
    names |= {p.get("Name").replace("Customer", "Vendor") for p in customer if p.tag.endswith("}Property")}
    return names


def test_our_sage_vendor_select_names_are_sage_field_names():
    names = sage_names()
    assert {"VendorNumber", "VendorName", "ShortName", "DateLastMaintained"} <= names  # the parse worked
    assert [f for f in VENDOR_FIELDS if f not in names] == []


@pytest.mark.parametrize("field", ["VendorNumber", "VendorName"])
def test_sage_sample_payload_uses_the_key_and_name_we_read(field):
    assert field in json.loads((FIXTURES / "sage300" / "APVendors.txt").read_text(encoding="utf-8"))
