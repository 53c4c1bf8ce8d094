"""A Sage 300 Web API simulator: HTTP Basic, OData query options and paging, AP vendors,
PO purchase orders and PO invoices.

Behaviour follows shared/reference/sage300_syspro.md Part A: §1 URLs, query options and the
``@odata.nextLink`` quirk, §2 auth, §3 APVendors fields, §4 POPurchaseOrders and POInvoices
(detail lines embedded in the entity), §5 OData error bodies.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from mlconnector.sandbox._odata import QueryError, compile_filter
from mlconnector.sandbox._server import Request, Response, SimulatorServer, json_response

# APVendors fields in server order (sage300_syspro.md §3), each with its $filter type.
VENDOR_FIELD_TYPES: dict[str, str] = {
    "VendorNumber": "string", "ShortName": "string", "GroupCode": "string", "Status": "string",
    "InactiveDate": "datetime", "DateLastMaintained": "datetime", "OnHold": "string", "StartDate": "datetime",
    "VendorName": "string", "AddressLine1": "string", "AddressLine2": "string", "AddressLine3": "string",
    "AddressLine4": "string", "City": "string", "StateProvince": "string", "ZipPostalCode": "string",
    "Country": "string", "ContactName": "string", "PhoneNumber": "string", "FaxNumber": "string",
    "Email": "string", "ContactsEmail": "string", "WebSite": "string", "CurrencyCode": "string",
    "Terms": "string", "TaxGroup": "string", "TaxRegistrationCode1": "string", "LegalName": "string",
    "BusinessRegistrationNumber": "string", "VendorOptionalFieldValues": "collection", "UpdateOperation": "string",
}
VENDOR_FIELDS = tuple(VENDOR_FIELD_TYPES)
DATE_FIELDS = frozenset(name for name, kind in VENDOR_FIELD_TYPES.items() if kind == "datetime")

# POPurchaseOrders and POInvoices (sage300_syspro.md §4): header fields in server order with their
# $filter type; detail lines are a collection embedded in the entity, each line field with its default.
PURCHASE_ORDER_FIELD_TYPES: dict[str, str] = {
    "PurchaseOrderSequenceKey": "number", "PurchaseOrderNumber": "string", "PurchaseOrderDate": "datetime",
    "DateLastEdited": "datetime", "Vendor": "string", "VendorName": "string", "Description": "string",
    "Reference": "string", "Comment": "string", "Completed": "string", "DateCompleted": "datetime",
    "OnHold": "string", "CurrencyCode": "string", "PurchaseOrderLines": "collection",
}
PURCHASE_ORDER_LINE_DEFAULTS: dict[str, Any] = {
    "LineNumber": None, "ItemNumber": "", "ItemDescription": "", "UnitOfMeasure": "Ea.", "QuantityOrdered": 0,
    "QuantityReceived": 0, "UnitCost": 0, "ExtendedCost": None, "Contract": "", "Project": "", "Category": "",
    "Resource": "", "GLAccount": "", "Completed": "No", "UpdateOperation": "Unspecified",
}
PO_INVOICE_FIELD_TYPES: dict[str, str] = {
    "InvoiceSequenceKey": "number", "InvoiceNumber": "string", "InvoiceDate": "datetime",
    "DateLastEdited": "datetime", "Vendor": "string", "PurchaseOrderNumber": "string",
    "PurchaseOrderSequenceKey": "number", "Description": "string", "Reference": "string", "Total": "number",
    "InvoiceLines": "collection",
}
PO_INVOICE_LINE_DEFAULTS: dict[str, Any] = {
    "LineNumber": None, "PurchaseOrderLineNumber": None, "ItemNumber": "", "ItemDescription": "",
    "UnitOfMeasure": "Ea.", "QuantityReceived": 0, "UnitCost": 0, "ExtendedCost": None, "Contract": "",
    "Project": "", "Category": "", "UpdateOperation": "Unspecified",
}
QUERY_OPTIONS = ("$filter", "$top", "$skip", "$select", "$count")
PASSWORD_SYMBOLS = "!#%*+-=?@^_"


@dataclass
class _Resource:
    """One entity set: its URL, fields, key and rows (key -> record)."""

    module: str  # AP, PO
    name: str  # the entity set, e.g. POPurchaseOrders
    type_name: str  # the entity type named in error messages, e.g. POPurchaseOrder
    field_types: dict[str, str]  # field -> $filter type, in server order
    key: str  # the entity key (a string or a number)
    number: str  # what the Python API finds a record by (the key itself for vendors)
    edited: str  # the date an upsert stamps with ``today``
    defaults: dict[str, Any]
    lines: str | None = None  # the embedded detail collection, if any
    line_defaults: dict[str, Any] = field(default_factory=dict)
    line_step: int = 1000  # LineNumber spacing (Sage's PO sample uses 1000, 2000, ...)
    next_key: int = 1  # the next system-generated numeric key
    rows: dict[Any, dict[str, Any]] = field(default_factory=dict)
    _order: list | None = field(default=None, repr=False)

    @property
    def numeric_key(self) -> bool:
        return self.field_types[self.key] == "number"

    @property
    def date_fields(self) -> frozenset[str]:
        return frozenset(name for name, kind in self.field_types.items() if kind == "datetime")

    def find(self, number: str) -> dict[str, Any] | None:
        if not self.numeric_key:
            return self.rows.get(number)
        return next((row for row in self.rows.values() if row[self.number] == number), None)

    def in_key_order(self) -> list[dict[str, Any]]:
        # Sorted once per change of the key set, not once per page (the benchmark pages 50,000 rows).
        if self._order is None:
            self._order = sorted(self.rows)
        return [self.rows[key] for key in self._order]

    def put(self, key: Any, record: dict[str, Any]) -> None:
        if key not in self.rows:
            self._order = None
        self.rows[key] = record

    def remove(self, key: Any) -> None:
        del self.rows[key]
        self._order = None


@dataclass
class _User:
    password: str
    web_api_access: bool = True


class Sage300Simulator(SimulatorServer):
    def __init__(
        self,
        *,
        port: int = 0,
        company: str = "SAMLTD",
        username: str = "WEBAPI",
        password: str | None = None,
        page_size: int = 100,
        legacy_uppercase_passwords: bool = False,
    ) -> None:
        super().__init__(port=port)
        self.company = company.upper()
        self.username = username.upper()
        self.password = password if password is not None else strong_password()
        self.page_size = page_size
        self.legacy_uppercase_passwords = legacy_uppercase_passwords  # older releases stored passwords upper-case
        self.error_content_type = "application/json; charset=utf-8"  # some installs send "text/plain"
        self._other_users: dict[str, _User] = {}
        self._today: date | None = None
        self._vendors = _Resource(
            "AP", "APVendors", "APVendor", VENDOR_FIELD_TYPES, key="VendorNumber", number="VendorNumber",
            edited="DateLastMaintained", defaults={"Status": "Active", "OnHold": "NotOnHold"})
        self._purchase_orders = _Resource(
            "PO", "POPurchaseOrders", "POPurchaseOrder", PURCHASE_ORDER_FIELD_TYPES, key="PurchaseOrderSequenceKey",
            number="PurchaseOrderNumber", edited="DateLastEdited",
            defaults={"Completed": "No", "OnHold": "No", "CurrencyCode": "USD"},
            lines="PurchaseOrderLines", line_defaults=PURCHASE_ORDER_LINE_DEFAULTS, next_key=5001)
        self._po_invoices = _Resource(
            "PO", "POInvoices", "POInvoice", PO_INVOICE_FIELD_TYPES, key="InvoiceSequenceKey", number="InvoiceNumber",
            edited="DateLastEdited", defaults={}, lines="InvoiceLines", line_defaults=PO_INVOICE_LINE_DEFAULTS,
            line_step=10, next_key=8001)  # PO receipts and invoices number their lines 10, 20, ...
        for resource in (self._vendors, self._purchase_orders, self._po_invoices):
            prefix = rf"/Sage300WebApi/v1\.0/-/(?P<company>[^/]+)/{resource.module}/{resource.name}"
            self.route("GET", prefix, functools.partial(self._list, resource=resource))
            self.route("GET", prefix + r"\((?P<key>.*)\)", functools.partial(self._one, resource=resource))

    @property
    def base_url(self) -> str:
        """What a client configures: ``http://127.0.0.1:<port>/Sage300WebApi/v1.0/-/<COMPANY>``."""
        return f"{self.url}/Sage300WebApi/v1.0/-/{self.company}"

    # -- Python API for tests ------------------------------------------------------------------

    @property
    def today(self) -> date:
        """The date an upsert stamps in ``DateLastMaintained``/``DateLastEdited``; the real UTC date unless set."""
        return self._today or datetime.now(UTC).date()

    @today.setter
    def today(self, value: date | str | None) -> None:
        self._today = date.fromisoformat(value[:10]) if isinstance(value, str) else value

    def add_user(self, username: str, password: str, *, web_api_access: bool = True) -> None:
        """Another Sage user; ``web_api_access=False`` lacks the "Sage 300 Web API" right (→ 403)."""
        with self.lock:
            self._other_users[username.upper()] = _User(password, web_api_access)

    def upsert_vendor(self, **fields: Any) -> dict[str, Any]:
        """Create or change a vendor as a Sage user would; ``DateLastMaintained`` becomes ``today``
        unless given. Dates may be ``date`` objects or ISO strings."""
        with self.lock:
            return copy.deepcopy(self._upsert(self._vendors, fields))

    def vendor(self, number: str) -> dict[str, Any] | None:
        with self.lock:
            return copy.deepcopy(self._vendors.find(number))

    def vendors(self) -> list[dict[str, Any]]:
        """Every vendor in key order."""
        with self.lock:
            return copy.deepcopy(self._vendors.in_key_order())

    def upsert_purchase_order(self, **fields: Any) -> dict[str, Any]:
        """Create or change a PO found by ``PurchaseOrderNumber``; a new one gets the next
        ``PurchaseOrderSequenceKey``. ``DateLastEdited`` becomes ``today`` unless given.
        ``PurchaseOrderLines`` (dicts) replace all lines: ``LineNumber`` defaults to 1000, 2000, ...
        and ``ExtendedCost`` to ``QuantityOrdered`` × ``UnitCost`` rounded to cents."""
        with self.lock:
            return copy.deepcopy(self._upsert(self._purchase_orders, fields, extend_by="QuantityOrdered"))

    def purchase_order(self, number: str) -> dict[str, Any] | None:
        with self.lock:
            return copy.deepcopy(self._purchase_orders.find(number))

    def purchase_orders(self) -> list[dict[str, Any]]:
        """Every purchase order in key (sequence) order."""
        with self.lock:
            return copy.deepcopy(self._purchase_orders.in_key_order())

    def delete_purchase_order(self, number: str) -> bool:
        """Remove a PO (as deleting it in Sage would); False when there was none."""
        with self.lock:
            record = self._purchase_orders.find(number)
            if record is None:
                return False
            self._purchase_orders.remove(record["PurchaseOrderSequenceKey"])
            return True

    def upsert_po_invoice(self, **fields: Any) -> dict[str, Any]:
        """Create or change a PO invoice found by ``InvoiceNumber`` (like ``upsert_purchase_order``;
        lines are numbered 10, 20, ...). ``PurchaseOrderSequenceKey`` is taken from the PO named by
        ``PurchaseOrderNumber`` and ``Total`` is the sum of the lines' ``ExtendedCost``, unless given."""
        with self.lock:
            record = self._upsert(self._po_invoices, fields, extend_by="QuantityReceived")
            po = self._purchase_orders.find(record["PurchaseOrderNumber"])
            if "PurchaseOrderSequenceKey" not in fields and po is not None:
                record["PurchaseOrderSequenceKey"] = po["PurchaseOrderSequenceKey"]
            if "Total" not in fields:
                record["Total"] = _to_json_number(sum(Decimal(str(line["ExtendedCost"]))
                                                      for line in record["InvoiceLines"]))
            return copy.deepcopy(record)

    def po_invoice(self, number: str) -> dict[str, Any] | None:
        with self.lock:
            return copy.deepcopy(self._po_invoices.find(number))

    def po_invoices(self) -> list[dict[str, Any]]:
        """Every PO invoice in key (sequence) order."""
        with self.lock:
            return copy.deepcopy(self._po_invoices.in_key_order())

    def _upsert(self, resource: _Resource, fields: dict[str, Any], *, extend_by: str = "") -> dict[str, Any]:
        """Create or change the record ``fields[resource.number]`` names; returns the stored record.
        Nothing is stored when a field is wrong."""
        unknown = set(fields) - set(resource.field_types)
        if unknown:
            raise TypeError(f"unknown {resource.name} fields: {sorted(unknown)}")
        number = fields.get(resource.number)
        if not isinstance(number, str) or not number.strip():
            raise ValueError(f"{resource.number} is required")
        values = dict(fields)
        for name in resource.date_fields & set(values):
            values[name] = _sage_date(values[name])
        if resource.lines in values:
            values[resource.lines] = [_new_line(resource, n, line, extend_by)
                                      for n, line in enumerate(values[resource.lines], start=1)]
        values.setdefault(resource.edited, _sage_date(self.today))
        record = resource.find(number)
        if record is not None:
            if resource.key in values and values[resource.key] != record[resource.key]:
                raise ValueError(f"{resource.key} of {number} cannot change")
            record.update(values)
            return record
        record = {**_new_record(resource), **values}
        if resource.numeric_key:  # system-generated unless given
            key = record[resource.key] = values.get(resource.key) or resource.next_key
            if key in resource.rows:
                raise ValueError(f"{resource.key} {key} is already taken")
            resource.next_key = max(resource.next_key, key + 1)
        resource.put(record[resource.key], record)
        return record

    # -- checks on every request --------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        with self.lock:
            return self._authenticate(request) or self._require_json(request) or super().dispatch(request)

    def not_found(self, request: Request) -> Response:
        return self._error(404, "ResourceNotFound", f"The resource '{request.path}' cannot be found.")

    def method_not_allowed(self, request: Request, allowed: list[str]) -> Response:
        response = self._error(405, "MethodNotAllowed", f"The method '{request.method}' is not allowed.")
        response.headers["Allow"] = ", ".join(allowed)
        return response

    def _error(self, status: int, code: str, message: str) -> Response:
        body = {"error": {"code": code, "message": {"lang": "en-US", "value": message}}}
        return json_response(status, body, content_type=self.error_content_type)

    def _authenticate(self, request: Request) -> Response | None:
        """None when the Basic credentials belong to a user with Web API rights."""
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            credentials = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            credentials = ""
        username, colon, password = credentials.partition(":")
        user = self._users().get(username.upper())  # user ids are stored upper-case
        if scheme.lower() != "basic" or not colon or user is None:
            return self._unauthorized()
        expected = user.password.upper() if self.legacy_uppercase_passwords else user.password
        if not secrets.compare_digest(password.encode("utf-8"), expected.encode("utf-8")):
            return self._unauthorized()
        if not user.web_api_access:
            return self._error(403, "Forbidden", "The specified user does not have enough rights")
        return None

    def _unauthorized(self) -> Response:
        response = self._error(401, "Unauthorized", "Invalid credentials used in authentication header")
        response.headers["WWW-Authenticate"] = 'Basic realm="Sage300WebApi"'
        return response

    def _users(self) -> dict[str, _User]:
        return {**self._other_users, self.username.upper(): _User(self.password)}

    def _require_json(self, request: Request) -> Response | None:
        """Sage answers 500 to any request, GET included, without ``Content-Type: application/json``."""
        media_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media_type == "application/json":
            return None
        return self._error(500, "InternalServerError",
                           "An error has occurred. The request Content-Type must be 'application/json'.")

    # -- entity sets ----------------------------------------------------------------------------

    def _list(self, request: Request, company: str, resource: _Resource) -> Response:
        if company.upper() != self.company:
            return self._unknown_company(company)
        try:
            options = self._query_options(request, resource)
        except QueryError as problem:
            return self._error(400, "InvalidParameters", str(problem))
        rows = resource.in_key_order()  # key order, never by date
        if options["filter"]:
            rows = [row for row in rows if options["filter"](row)]
        skip, top = options["skip"], options["top"]
        page = rows[skip: skip + min(top if top is not None else self.page_size, self.page_size)]
        select = options["select"]
        context = f"{self.base_url}/{resource.module}/$metadata#{resource.name}" + (
            f"({','.join(select)})" if select else "")
        payload: dict[str, Any] = {"@odata.context": context}
        if options["count"]:
            payload["@odata.count"] = len(rows)
        payload["value"] = [_project(row, select or list(resource.field_types)) for row in page]
        if page and skip + len(page) < len(rows):
            # The real quirk: the link carries $skip only; $filter, $select and $top are lost.
            payload["@odata.nextLink"] = f"{self.base_url}/{resource.module}/{resource.name}?$skip={skip + len(page)}"
        return json_response(200, payload)

    def _one(self, request: Request, company: str, key: str, resource: _Resource) -> Response:
        if company.upper() != self.company:
            return self._unknown_company(company)
        value = _parse_key(key, resource)
        if value is None:
            return self._error(400, "InvalidEntityKey", f"The entity key ({key}) is not valid.")
        record = resource.rows.get(value)
        if record is None:
            return self._error(404, "RecordNotFound", "A Record cannot be found for the specified entity key")
        context = f"{self.base_url}/{resource.module}/$metadata#{resource.name}/$entity"
        return json_response(200, {"@odata.context": context, **record})

    def _unknown_company(self, company: str) -> Response:
        return self._error(404, "ResourceNotFound", f"The company '{company}' cannot be found.")

    def _query_options(self, request: Request, resource: _Resource) -> dict[str, Any]:
        for name, values in request.query.items():
            if name.startswith("$") and name not in QUERY_OPTIONS:
                raise QueryError(f"The query parameter '{name}' is not supported.")
            if name in QUERY_OPTIONS and len(values) > 1:
                raise QueryError(f"Query option '{name}' was specified more than once, "
                                  "but it must be specified at most once.")
        filter_text = request.param("$filter")
        count = (request.param("$count") or "false").lower()
        if count not in ("true", "false"):
            raise QueryError(f"'{count}' is not a valid count option.")
        return {
            "filter": compile_filter(filter_text, resource.field_types, resource.type_name) if filter_text else None,
            "top": _non_negative(request, "$top"),
            "skip": _non_negative(request, "$skip") or 0,
            "select": _select(request.param("$select"), resource),
            "count": count == "true",
        }


def strong_password() -> str:
    """A password that meets Sage 300 2024's rule: upper, lower, digit and symbol."""
    alphabet = string.ascii_letters + string.digits + PASSWORD_SYMBOLS
    groups = (string.ascii_lowercase, string.ascii_uppercase, string.digits, PASSWORD_SYMBOLS)
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(16))
        if all(any(c in group for c in password) for group in groups):
            return password


def _new_record(resource: _Resource) -> dict[str, Any]:
    """Blank strings, null dates and numbers, empty collections, then the resource's defaults."""
    blank = {"string": "", "datetime": None, "number": None, "collection": []}
    record: dict[str, Any] = {name: copy.copy(blank[kind]) for name, kind in resource.field_types.items()}
    record.update(resource.defaults)
    if "UpdateOperation" in record:
        record["UpdateOperation"] = "Unspecified"
    return record


def _new_line(resource: _Resource, position: int, fields: dict[str, Any], extend_by: str) -> dict[str, Any]:
    unknown = set(fields) - set(resource.line_defaults)
    if unknown:
        raise TypeError(f"unknown {resource.lines} fields: {sorted(unknown)}")
    line = {**resource.line_defaults, **fields}
    if line["LineNumber"] is None:
        line["LineNumber"] = position * resource.line_step
    if line["ExtendedCost"] is None:
        extended = Decimal(str(line[extend_by])) * Decimal(str(line["UnitCost"]))
        line["ExtendedCost"] = _to_json_number(extended.quantize(Decimal("0.01"), ROUND_HALF_UP))
    return line


def _to_json_number(value: Decimal) -> int | float:
    """A Decimal as Sage's JSON writes it: an integer when whole, else a float."""
    return int(value) if value == value.to_integral_value() else float(value)


def _sage_date(value: date | str | None) -> str | None:
    """Sage dates carry no time: always midnight, written ``YYYY-MM-DDT00:00:00Z``."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value:%Y-%m-%d}T00:00:00Z"


def _parse_key(text: str, resource: _Resource) -> Any:
    """The key value in ``(…)``: ``'ACME'``, ``ACME`` or ``(VendorNumber='ACME')``; numeric keys
    unquoted (``(1234)``, ``(PurchaseOrderSequenceKey=1234)``, ``(1234m)``). None when malformed."""
    named = re.fullmatch(rf"\s*(?:{resource.key}\s*=\s*)?(?P<value>.*?)\s*", text)
    value = named["value"] if named else ""
    if resource.numeric_key:
        number = re.fullmatch(r"(\d+)(?:\.0*)?[mM]?", value)
        return int(number[1]) if number else None
    match = re.fullmatch(r"'(?P<quoted>(?:[^']|'')*)'|(?P<bare>[^'\s]+)", value)
    if match is None:
        return None
    return match["bare"] if match["quoted"] is None else match["quoted"].replace("''", "'")


def _non_negative(request: Request, option: str) -> int | None:
    text = request.param(option)
    if text is None:
        return None
    if not re.fullmatch(r"[0-9]+", text.strip()):
        raise QueryError(f"Invalid value '{text}' for {option} query option found. "
                          f"The {option} query option requires a non-negative integer value.")
    return int(text)


def _select(text: str | None, resource: _Resource) -> list[str]:
    if text is None or text.strip() == "*":
        return []
    names = [name.strip() for name in text.split(",")]
    for name in names:
        if name not in resource.field_types:
            raise QueryError(f"Could not find a property named '{name}' on type '{resource.type_name}'.")
    return names


def _project(row: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """Only these fields of the row, in server order."""
    return {name: copy.deepcopy(value) for name, value in row.items() if name in fields}
