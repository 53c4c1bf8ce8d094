"""A Sage 300 Web API simulator: HTTP Basic, OData query options and paging, AP vendors.

Behaviour follows shared/reference/sage300_syspro.md Part A: §1 URLs, query options and the
``@odata.nextLink`` quirk, §2 auth, §3 APVendors fields, §5 OData error bodies.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, date, datetime
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
QUERY_OPTIONS = ("$filter", "$top", "$skip", "$select", "$count")
PASSWORD_SYMBOLS = "!#%*+-=?@^_"


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
        self._vendors: dict[str, dict[str, Any]] = {}
        self._today: date | None = None
        self.route("GET", r"/Sage300WebApi/v1\.0/-/(?P<company>[^/]+)/AP/APVendors", self._list)
        self.route("GET", r"/Sage300WebApi/v1\.0/-/(?P<company>[^/]+)/AP/APVendors\((?P<key>.*)\)", self._one)

    @property
    def base_url(self) -> str:
        """What a client configures: ``http://127.0.0.1:<port>/Sage300WebApi/v1.0/-/<COMPANY>``."""
        return f"{self.url}/Sage300WebApi/v1.0/-/{self.company}"

    # -- Python API for tests ------------------------------------------------------------------

    @property
    def today(self) -> date:
        """The date ``upsert_vendor`` stamps in ``DateLastMaintained``; the real UTC date unless set."""
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
        unknown = set(fields) - set(VENDOR_FIELDS)
        if unknown:
            raise TypeError(f"unknown APVendors fields: {sorted(unknown)}")
        number = fields.get("VendorNumber")
        if not isinstance(number, str) or not number.strip():
            raise ValueError("VendorNumber is required")
        with self.lock:
            record = self._vendors.get(number) or _new_vendor()
            for name, value in fields.items():
                record[name] = _sage_date(value) if name in DATE_FIELDS else value
            if "DateLastMaintained" not in fields:
                record["DateLastMaintained"] = _sage_date(self.today)
            self._vendors[number] = record
            return copy.deepcopy(record)

    def vendor(self, number: str) -> dict[str, Any] | None:
        with self.lock:
            return copy.deepcopy(self._vendors.get(number))

    def vendors(self) -> list[dict[str, Any]]:
        """Every vendor in key order."""
        with self.lock:
            return [copy.deepcopy(self._vendors[key]) for key in sorted(self._vendors)]

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

    # -- APVendors ------------------------------------------------------------------------------

    def _list(self, request: Request, company: str) -> Response:
        if company.upper() != self.company:
            return self._unknown_company(company)
        try:
            options = self._query_options(request)
        except QueryError as problem:
            return self._error(400, "InvalidParameters", str(problem))
        rows = [self._vendors[key] for key in sorted(self._vendors)]  # key order, never by date
        if options["filter"]:
            rows = [row for row in rows if options["filter"](row)]
        skip, top = options["skip"], options["top"]
        page = rows[skip: skip + min(top if top is not None else self.page_size, self.page_size)]
        select = options["select"]
        context = f"{self.base_url}/AP/$metadata#APVendors" + (f"({','.join(select)})" if select else "")
        payload: dict[str, Any] = {"@odata.context": context}
        if options["count"]:
            payload["@odata.count"] = len(rows)
        payload["value"] = [_project(row, select) for row in page]
        if page and skip + len(page) < len(rows):
            # The real quirk: the link carries $skip only; $filter, $select and $top are lost.
            payload["@odata.nextLink"] = f"{self.base_url}/AP/APVendors?$skip={skip + len(page)}"
        return json_response(200, payload)

    def _one(self, request: Request, company: str, key: str) -> Response:
        if company.upper() != self.company:
            return self._unknown_company(company)
        match = re.fullmatch(r"\s*(?:VendorNumber\s*=\s*)?(?:'(?P<quoted>(?:[^']|'')*)'|(?P<bare>[^'\s]+))\s*", key)
        if match is None:
            return self._error(400, "InvalidEntityKey", f"The entity key ({key}) is not valid.")
        number = match["bare"] if match["quoted"] is None else match["quoted"].replace("''", "'")
        record = self._vendors.get(number)
        if record is None:
            return self._error(404, "RecordNotFound", "A Record cannot be found for the specified entity key")
        return json_response(200, {"@odata.context": f"{self.base_url}/AP/$metadata#APVendors/$entity",
                                   **record})

    def _unknown_company(self, company: str) -> Response:
        return self._error(404, "ResourceNotFound", f"The company '{company}' cannot be found.")

    def _query_options(self, request: Request) -> dict[str, Any]:
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
            "filter": compile_filter(filter_text, VENDOR_FIELD_TYPES) if filter_text else None,
            "top": _non_negative(request, "$top"),
            "skip": _non_negative(request, "$skip") or 0,
            "select": _select(request.param("$select")),
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


def _new_vendor() -> dict[str, Any]:
    record: dict[str, Any] = {name: "" for name in VENDOR_FIELDS}
    record.update({name: None for name in DATE_FIELDS})
    record.update(Status="Active", OnHold="NotOnHold", VendorOptionalFieldValues=[], UpdateOperation="Unspecified")
    return record


def _sage_date(value: date | str | None) -> str | None:
    """Sage dates carry no time: always midnight, written ``YYYY-MM-DDT00:00:00Z``."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value:%Y-%m-%d}T00:00:00Z"


def _non_negative(request: Request, option: str) -> int | None:
    text = request.param(option)
    if text is None:
        return None
    if not re.fullmatch(r"[0-9]+", text.strip()):
        raise QueryError(f"Invalid value '{text}' for {option} query option found. "
                          f"The {option} query option requires a non-negative integer value.")
    return int(text)


def _select(text: str | None) -> list[str]:
    if text is None or text.strip() == "*":
        return []
    names = [name.strip() for name in text.split(",")]
    for name in names:
        if name not in VENDOR_FIELD_TYPES:
            raise QueryError(f"Could not find a property named '{name}' on type 'APVendor'.")
    return names


def _project(row: dict[str, Any], select: list[str]) -> dict[str, Any]:
    """The row, or only the selected fields, in server order."""
    fields = select or VENDOR_FIELDS
    return {name: copy.deepcopy(row[name]) for name in VENDOR_FIELDS if name in fields}
