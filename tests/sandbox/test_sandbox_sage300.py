"""The Sage 300 simulator over real HTTP: Basic auth, Content-Type, OData query options, paging."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

import httpx
import pytest

from mlconnector.sandbox import ProcoreSimulator, Sage300Simulator
from mlconnector.sandbox.seed import seed

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def seeded(sage: Sage300Simulator) -> Sage300Simulator:
    sage.today = date(2026, 3, 15)
    seed(sage, ProcoreSimulator(), vendors=300, seed=7)
    return sage


def _vendors(sage_api: httpx.Client, **params: str) -> dict:
    response = sage_api.get("AP/APVendors", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _odata_error(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    assert error["message"]["lang"] == "en-US"
    return response.status_code, error["code"], error["message"]["value"]


# -- authentication and headers -------------------------------------------------------------------


def test_basic_auth_good_bad_and_missing(sage: Sage300Simulator) -> None:
    url = f"{sage.base_url}/AP/APVendors"
    assert httpx.get(url, auth=(sage.username, sage.password), headers=JSON).status_code == 200
    assert httpx.get(url, auth=("webapi", sage.password), headers=JSON).status_code == 200  # ids ignore case
    for auth in [(sage.username, sage.password.swapcase()), ("NOBODY", sage.password), None]:
        response = httpx.get(url, auth=auth, headers=JSON)
        assert _odata_error(response) == (401, "Unauthorized", "Invalid credentials used in authentication header")
        assert response.headers["Content-Type"].startswith("application/json")


def test_legacy_uppercase_passwords(sage: Sage300Simulator) -> None:
    sage.password = "Str0ng!Pass"
    sage.legacy_uppercase_passwords = True
    url = f"{sage.base_url}/AP/APVendors"
    assert httpx.get(url, auth=(sage.username, "Str0ng!Pass"), headers=JSON).status_code == 401
    assert httpx.get(url, auth=(sage.username, "STR0NG!PASS"), headers=JSON).status_code == 200


def test_user_without_web_api_rights_is_forbidden(sage: Sage300Simulator) -> None:
    sage.add_user("clerk", "Clerk#2024")
    response = httpx.get(f"{sage.base_url}/AP/APVendors", auth=("CLERK", "Clerk#2024"), headers=JSON)
    assert response.status_code == 200
    sage.add_user("viewer", "View#2024", web_api_access=False)
    response = httpx.get(f"{sage.base_url}/AP/APVendors", auth=("VIEWER", "View#2024"), headers=JSON)
    assert _odata_error(response) == (403, "Forbidden", "The specified user does not have enough rights")


def test_missing_content_type_is_a_500_even_on_get(sage: Sage300Simulator) -> None:
    response = httpx.get(f"{sage.base_url}/AP/APVendors", auth=(sage.username, sage.password))
    status, code, _ = _odata_error(response)
    assert (status, code) == (500, "InternalServerError")


def test_errors_can_come_as_text_plain(sage: Sage300Simulator, sage_api: httpx.Client) -> None:
    sage.error_content_type = "text/plain"
    response = sage_api.get("AP/APVendors('NOPE')")
    assert response.headers["Content-Type"] == "text/plain"
    assert _odata_error(response)[:2] == (404, "RecordNotFound")


def test_generated_password_is_strong(sage: Sage300Simulator) -> None:
    password = sage.password
    assert len(password) >= 12 and password != password.upper() and password != password.lower()
    assert any(c.isdigit() for c in password) and any(not c.isalnum() for c in password)


# -- $filter ----------------------------------------------------------------------------------------


def test_filter_on_dates_matches_python(seeded: Sage300Simulator, sage_api: httpx.Client) -> None:
    expected = sorted(v["VendorNumber"] for v in seeded.vendors() if v["DateLastMaintained"] >= "2025-06-01")
    for literal in ["2025-06-01T00:00:00Z", "datetime'2025-06-01T00:00'", "2025-06-01"]:
        numbers, skip = [], 0
        while True:
            page = _vendors(sage_api, **{"$filter": f"DateLastMaintained ge {literal}", "$skip": str(skip)})
            numbers += [v["VendorNumber"] for v in page["value"]]
            if "@odata.nextLink" not in page:
                break
            skip = int(page["@odata.nextLink"].rsplit("$skip=", 1)[1])
        assert numbers == expected
    assert 0 < len(expected) < 300


@pytest.mark.parametrize(("expression", "expected"), [
    ("VendorNumber eq 'O''NEIL'", ["O'NEIL"]),
    ("VendorNumber eq 'GRN VLY'", ["GRN VLY"]),
    ("VendorName eq 'Acme Concrete, LLC' or VendorName eq 'ACME CONCRETE LLC'", ["ACME-01", "ACMECONC"]),
    ("startswith(VendorNumber,'ACME') and not (VendorNumber eq 'ACMESUP')", ["ACME-01", "ACMECONC"]),
    ("substringof('Québec', VendorName)", ["BETONQC"]),
    ("endswith(VendorNumber,'DE') and Country eq 'Germany'", ["MULLERDE"]),
    ("(Country eq 'Atlantis' or StateProvince eq 'XX') and Status eq 'Active'", ["ATLANTIS", "BADSTATE"]),
    ("VendorNumber ge 'V00295' and InactiveDate eq null and length(VendorNumber) eq 6", None),
])
def test_filter_expressions(seeded: Sage300Simulator, sage_api: httpx.Client, expression: str,
                            expected: list[str] | None) -> None:
    numbers = [v["VendorNumber"] for v in _vendors(sage_api, **{"$filter": expression})["value"]]
    if expected is None:  # compare with the same rule applied in Python
        expected = [v["VendorNumber"] for v in seeded.vendors()
                    if v["VendorNumber"] >= "V00295" and v["InactiveDate"] is None]
    assert numbers == expected


@pytest.mark.parametrize(("expression", "fragment"), [
    ("Nonsense eq 'x'", "Nonsense"),
    ("VendorNumber eq 'unterminated", "position 16"),
    ("VendorNumber eq", "end of the expression"),
    ("VendorNumber eq 'A' and", "end of the expression"),
    ("(VendorNumber eq 'A'", "')' expected"),
    ("VendorNumber eq 1200", "Edm.String"),
    ("DateLastMaintained ge '2025-06-01'", "Edm.DateTimeOffset"),
    ("VendorName", "boolean"),
    ("not VendorNumber eq 'A'", "'not'"),  # not binds tighter than eq, as in ODataLib
    ("frobnicate(VendorName)", "frobnicate"),
    ("VendorOptionalFieldValues eq null", "VendorOptionalFieldValues"),
    ("DateLastMaintained ge 2025-13-01T00:00:00Z", "2025-13-01"),
])
def test_bad_filters_are_400_invalid_parameters(sage_api: httpx.Client, expression: str, fragment: str) -> None:
    status, code, message = _odata_error(sage_api.get("AP/APVendors", params={"$filter": expression}))
    assert (status, code) == (400, "InvalidParameters")
    assert fragment in message


def test_filter_ignores_trailing_blanks_of_fixed_length_fields(sage: Sage300Simulator,
                                                               sage_api: httpx.Client) -> None:
    sage.upsert_vendor(VendorNumber="PAD", VendorName="Padded Name".ljust(60), GroupCode="CONC  ")
    found = _vendors(sage_api, **{"$filter": "VendorName eq 'Padded Name' and GroupCode eq 'CONC'"})["value"]
    assert [v["VendorName"] for v in found] == ["Padded Name".ljust(60)]  # returned as stored


# -- $top, $skip, $select, $count, paging ---------------------------------------------------------------


def test_top_skip_select_and_count(seeded: Sage300Simulator, sage_api: httpx.Client) -> None:
    all_numbers = [v["VendorNumber"] for v in seeded.vendors()]
    page = _vendors(sage_api, **{"$top": "5", "$skip": "10", "$select": "VendorNumber, VendorName",
                                 "$count": "true"})
    assert [v["VendorNumber"] for v in page["value"]] == all_numbers[10:15]
    assert all(list(v) == ["VendorNumber", "VendorName"] for v in page["value"])
    assert page["@odata.count"] == 300
    assert page["@odata.context"] == f"{seeded.base_url}/AP/$metadata#APVendors(VendorNumber,VendorName)"
    assert list(page) == ["@odata.context", "@odata.count", "value", "@odata.nextLink"]
    plain = _vendors(sage_api, **{"$top": "1"})
    assert plain["@odata.context"] == f"{seeded.base_url}/AP/$metadata#APVendors"
    assert "@odata.count" not in plain


@pytest.mark.parametrize("params", [{"$select": "VendorNumber,Bogus"}, {"$top": "-1"}, {"$skip": "x"},
                                    {"$orderby": "VendorName"}, {"$count": "maybe"}])
def test_bad_query_options_are_400(sage_api: httpx.Client, params: dict[str, str]) -> None:
    assert _odata_error(sage_api.get("AP/APVendors", params=params))[:2] == (400, "InvalidParameters")


def test_next_link_carries_only_skip_and_pages_never_exceed_page_size(seeded: Sage300Simulator,
                                                                      sage_api: httpx.Client) -> None:
    seeded.page_size = 40
    first = _vendors(sage_api, **{"$top": "1000", "$filter": "Status eq 'Active'", "$select": "VendorNumber"})
    assert len(first["value"]) == 40
    assert first["@odata.nextLink"] == f"{seeded.base_url}/AP/APVendors?$skip=40"
    followed = sage_api.get(first["@odata.nextLink"]).json()  # what a naive client gets: no filter, all fields
    assert len(followed["value"]) == 40 and len(followed["value"][0]) > 1
    assert followed["@odata.nextLink"].endswith("$skip=80")
    last = _vendors(sage_api, **{"$skip": "280"})
    assert len(last["value"]) == 20 and "@odata.nextLink" not in last
    assert [v["VendorNumber"] for v in last["value"]] == [v["VendorNumber"] for v in seeded.vendors()][280:]


# -- one vendor by key ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "number"), [
    ("('ACME-01')", "ACME-01"), ("(ACME-01)", "ACME-01"), ("('O''NEIL')", "O'NEIL"),
    (f"({quote(chr(39) + 'GRN VLY' + chr(39))})", "GRN VLY"), ("(VendorNumber='V00001')", "V00001"),
])
def test_vendor_by_key(seeded: Sage300Simulator, sage_api: httpx.Client, key: str, number: str) -> None:
    response = sage_api.get(f"AP/APVendors{key}")
    assert response.status_code == 200
    body = response.json()
    assert body["VendorNumber"] == number
    assert "value" not in body
    assert body["UpdateOperation"] == "Unspecified" and body["VendorOptionalFieldValues"] == []


def test_unknown_key_company_resource_and_method(seeded: Sage300Simulator, sage_api: httpx.Client) -> None:
    assert _odata_error(sage_api.get("AP/APVendors('NOPE')")) == (
        404, "RecordNotFound", "A Record cannot be found for the specified entity key")
    other_company = sage_api.get(seeded.base_url.replace("SAMLTD", "SAMINC") + "/AP/APVendors")
    assert _odata_error(other_company)[:2] == (404, "ResourceNotFound")
    assert _odata_error(sage_api.get("AP/APNothing"))[:2] == (404, "ResourceNotFound")
    assert _odata_error(sage_api.post("AP/APVendors", json={}))[:2] == (405, "MethodNotAllowed")


def test_upsert_stamps_date_last_maintained_with_today(sage: Sage300Simulator, sage_api: httpx.Client) -> None:
    sage.today = date(2026, 1, 31)
    sage.upsert_vendor(VendorNumber="NEW1", VendorName="New Vendor")
    sage.today = date(2026, 2, 2)
    sage.upsert_vendor(VendorNumber="NEW1", City="Austin")
    body = sage_api.get("AP/APVendors('NEW1')").json()
    assert (body["DateLastMaintained"], body["City"], body["VendorName"]) == (
        "2026-02-02T00:00:00Z", "Austin", "New Vendor")
    with pytest.raises(TypeError):
        sage.upsert_vendor(VendorNumber="NEW2", Telephone="555")


# -- POPurchaseOrders and POInvoices ------------------------------------------------------------------


def _odata_page(sage_api: httpx.Client, resource: str, **params: str) -> dict:
    response = sage_api.get(resource, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _numbers(sage_api: httpx.Client, resource: str, field: str, expression: str) -> list[str]:
    """Every row matching the filter, paging with $skip as a careful client does."""
    numbers, skip = [], 0
    while True:
        page = _odata_page(sage_api, resource, **{"$filter": expression, "$skip": str(skip)})
        numbers += [row[field] for row in page["value"]]
        if "@odata.nextLink" not in page:
            return numbers
        skip = int(page["@odata.nextLink"].rsplit("$skip=", 1)[1])


def test_purchase_orders_filter_by_date_number_and_vendor(seeded: Sage300Simulator, sage_api: httpx.Client) -> None:
    seeded.page_size = 7
    orders = seeded.purchase_orders()
    assert len(orders) == 40 and [o["PurchaseOrderNumber"] for o in orders][:2] == ["PO000101", "PO000102"]
    since = "2026-03-01"
    expected = [o["PurchaseOrderNumber"] for o in orders if o["DateLastEdited"] >= since]
    assert 0 < len(expected) < 40
    assert _numbers(sage_api, "PO/POPurchaseOrders", "PurchaseOrderNumber",
                    f"DateLastEdited ge {since}T00:00:00Z") == expected
    by_date = [o["PurchaseOrderNumber"] for o in orders if o["PurchaseOrderDate"] >= since]
    assert _numbers(sage_api, "PO/POPurchaseOrders", "PurchaseOrderNumber",
                    f"PurchaseOrderDate ge {since}T00:00:00Z") == by_date
    assert _numbers(sage_api, "PO/POPurchaseOrders", "PurchaseOrderNumber",
                    "PurchaseOrderNumber eq 'PO000117'") == ["PO000117"]
    oneil = [o["PurchaseOrderNumber"] for o in orders if o["Vendor"] == "O'NEIL"]
    assert oneil and _numbers(sage_api, "PO/POPurchaseOrders", "PurchaseOrderNumber", "Vendor eq 'O''NEIL'") == oneil
    key = orders[3]["PurchaseOrderSequenceKey"]
    assert _numbers(sage_api, "PO/POPurchaseOrders", "PurchaseOrderNumber",
                    f"PurchaseOrderSequenceKey gt {key}") == [o["PurchaseOrderNumber"] for o in orders[4:]]


def test_purchase_order_shape_select_and_next_link_quirk(seeded: Sage300Simulator, sage_api: httpx.Client) -> None:
    seeded.page_size = 15
    first = _odata_page(sage_api, "PO/POPurchaseOrders", **{
        "$filter": "Completed eq 'No'", "$select": "PurchaseOrderNumber,PurchaseOrderLines", "$count": "true"})
    assert first["@odata.context"] == (
        f"{seeded.base_url}/PO/$metadata#POPurchaseOrders(PurchaseOrderNumber,PurchaseOrderLines)")
    assert first["@odata.count"] == 38 and len(first["value"]) == 15
    assert first["@odata.nextLink"] == f"{seeded.base_url}/PO/POPurchaseOrders?$skip=15"
    line = first["value"][0]["PurchaseOrderLines"][0]
    assert list(line) == ["LineNumber", "ItemNumber", "ItemDescription", "UnitOfMeasure", "QuantityOrdered",
                          "QuantityReceived", "UnitCost", "ExtendedCost", "Contract", "Project", "Category",
                          "Resource", "GLAccount", "Completed", "UpdateOperation"]
    assert line["LineNumber"] == 1000 and line["UpdateOperation"] == "Unspecified"
    followed = sage_api.get(first["@odata.nextLink"]).json()  # the filter and $select are gone
    assert len(followed["value"][0]) == 14 and followed["@odata.nextLink"].endswith("$skip=30")
    completed = [o for o in seeded.purchase_orders() if o["Completed"] == "Yes"]
    assert len(completed) == 2 and all(o["DateCompleted"] for o in completed)


def test_purchase_order_by_key(seeded: Sage300Simulator, sage_api: httpx.Client) -> None:
    po = seeded.purchase_order("PO000105")
    key = po["PurchaseOrderSequenceKey"]
    for form in (f"({key})", f"(PurchaseOrderSequenceKey={key})", f"({key}m)"):
        body = sage_api.get(f"PO/POPurchaseOrders{form}").json()
        assert body["PurchaseOrderNumber"] == "PO000105" and "value" not in body
        assert body["@odata.context"] == f"{seeded.base_url}/PO/$metadata#POPurchaseOrders/$entity"
    assert _odata_error(sage_api.get("PO/POPurchaseOrders(1)"))[:2] == (404, "RecordNotFound")
    assert _odata_error(sage_api.get(f"PO/POPurchaseOrders('{key}')"))[:2] == (400, "InvalidEntityKey")
    assert _odata_error(sage_api.get("PO/POPurchaseOrders(PO000105)"))[:2] == (400, "InvalidEntityKey")
    unknown = _odata_error(sage_api.get("PO/POPurchaseOrders", params={"$filter": "Nonsense eq 1"}))
    assert unknown == (400, "InvalidParameters",
                       "Could not find a property named 'Nonsense' on type 'POPurchaseOrder'.")
    lines = _odata_error(sage_api.get("PO/POPurchaseOrders", params={"$filter": "PurchaseOrderLines eq null"}))
    assert lines[:2] == (400, "InvalidParameters")
    assert _odata_error(sage_api.post("PO/POPurchaseOrders", json={}))[:2] == (405, "MethodNotAllowed")


def test_po_invoices_filter_and_key(seeded: Sage300Simulator, sage_api: httpx.Client) -> None:
    invoices = seeded.po_invoices()
    assert len(invoices) == 15
    since = "2026-01-01"
    assert _numbers(sage_api, "PO/POInvoices", "InvoiceNumber", f"DateLastEdited ge {since}") == [
        i["InvoiceNumber"] for i in invoices if i["DateLastEdited"] >= since]
    twice = [i for i in invoices if sum(j["PurchaseOrderNumber"] == i["PurchaseOrderNumber"] for j in invoices) > 1]
    po_number = twice[0]["PurchaseOrderNumber"]
    assert _numbers(sage_api, "PO/POInvoices", "InvoiceNumber", f"PurchaseOrderNumber eq '{po_number}'") == [
        i["InvoiceNumber"] for i in twice]
    number = invoices[4]["InvoiceNumber"]
    assert _numbers(sage_api, "PO/POInvoices", "InvoiceNumber", f"InvoiceNumber eq '{number}'") == [number]
    body = sage_api.get(f"PO/POInvoices({invoices[4]['InvoiceSequenceKey']})").json()
    assert body["InvoiceNumber"] == number and body["InvoiceLines"][0]["LineNumber"] == 10
    assert _odata_error(sage_api.get("PO/POInvoices", params={"$select": "Bogus"}))[2] == (
        "Could not find a property named 'Bogus' on type 'POInvoice'.")


def test_upsert_purchase_order_and_invoice(sage: Sage300Simulator, sage_api: httpx.Client) -> None:
    sage.today = date(2026, 4, 1)
    created = sage.upsert_purchase_order(PurchaseOrderNumber="PO000900", Vendor="V1", PurchaseOrderDate="2026-03-30",
                                         PurchaseOrderLines=[{"QuantityOrdered": 3, "UnitCost": 10.005},
                                                             {"QuantityOrdered": 2.5, "UnitCost": 4}])
    assert created["PurchaseOrderSequenceKey"] == 5001 and created["DateLastEdited"] == "2026-04-01T00:00:00Z"
    assert [(li["LineNumber"], li["ExtendedCost"]) for li in created["PurchaseOrderLines"]] == [
        (1000, 30.02), (2000, 10)]
    assert (created["Completed"], created["OnHold"], created["DateCompleted"]) == ("No", "No", None)
    sage.today = date(2026, 4, 2)
    changed = sage.upsert_purchase_order(PurchaseOrderNumber="PO000900", Description="Changed")
    assert (changed["PurchaseOrderSequenceKey"], changed["DateLastEdited"], len(changed["PurchaseOrderLines"])) == (
        5001, "2026-04-02T00:00:00Z", 2)
    assert sage.upsert_purchase_order(PurchaseOrderNumber="PO000901")["PurchaseOrderSequenceKey"] == 5002
    invoice = sage.upsert_po_invoice(InvoiceNumber="INV-1", PurchaseOrderNumber="PO000900", InvoiceLines=[
        {"PurchaseOrderLineNumber": 1000, "QuantityReceived": 2, "UnitCost": 10.005}])
    assert (invoice["InvoiceSequenceKey"], invoice["PurchaseOrderSequenceKey"], invoice["Total"]) == (8001, 5001, 20.01)
    assert sage_api.get("PO/POInvoices(8001)").json()["InvoiceLines"][0]["ExtendedCost"] == 20.01
    with pytest.raises(TypeError):
        sage.upsert_purchase_order(PurchaseOrderNumber="PO000902", PurchaseOrderLines=[{"Bogus": 1}])
    with pytest.raises(ValueError):
        sage.upsert_purchase_order(PurchaseOrderNumber="PO000900", PurchaseOrderSequenceKey=77)
    assert sage.delete_purchase_order("PO000900") and not sage.delete_purchase_order("PO000900")
    assert _odata_error(sage_api.get("PO/POPurchaseOrders(5001)"))[:2] == (404, "RecordNotFound")
    assert [o["PurchaseOrderNumber"] for o in sage.purchase_orders()] == ["PO000901"]
