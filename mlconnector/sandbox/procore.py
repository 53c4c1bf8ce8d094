"""A Procore REST API simulator: OAuth client credentials, company header, rate limits, vendors,
and the financial tools an ERP feeds or reads: projects, cost codes, standard cost codes, cost types,
purchase order and work order contracts, direct costs, billing periods, requisitions (subcontractor
invoices) and payment applications (owner invoices).

Login and API are served by the same server. Behaviour follows shared/reference/procore.md:
§1 auth, §2 ``Procore-Company-Id``, §3 rate limits, §4 pagination, §5.1 vendors and the
``/sync`` semantics, §5.2 projects, §5.3 cost codes and line item types, §5.5 commitments,
§5.7 requisitions, §5.8 direct costs, §5.9 payment applications, §5.10 ``origin_id``, §5.11 filters,
§7 error bodies. Money is held as Decimal and written as strings with two decimals, as Procore does.

The read side a Procore → ERP sync needs: ``filters[updated_at]`` (``<from>...<to>``, ISO times or
plain dates) on the vendor, commitment, commitment line item and requisition lists; every record's
``updated_at`` moves when a value really changes, and a changed line item or invoice item also moves
its commitment's or invoice's ``updated_at`` (UNVERIFIED for real Procore: a reader that must not miss
a line edit should not rely on it alone). The ``touch_*`` helpers change a record as a person in the
Procore UI would.
"""

from __future__ import annotations

import math
import re
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from email.parser import BytesParser
from email.policy import HTTP
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlencode

from mlconnector.sandbox._iso3166 import COUNTRY_CODES, STATE_CODES_BY_COUNTRY
from mlconnector.sandbox._server import (
    Request,
    Response,
    SimulatorServer,
    json_response,
)

API = "/rest/v1.0"
API_V11 = "/rest/v1.1"
FIRST_VENDOR_ID = 562_949_953_421_312  # 2**49, the first id of any object: beyond 32 bits catches int32 bugs
MAX_SYNC_ITEMS = 1000
DEFAULT_PER_PAGE, MAX_PER_PAGE = 100, 1000

# The "extended view" subset we store, in response order (besides id, timestamps, company).
VENDOR_FIELDS = (
    "name", "abbreviated_name", "address", "city", "state_code", "country_code", "zip",
    "business_phone", "mobile_phone", "fax_number", "email_address", "website", "is_active",
    "origin_id", "origin_code", "origin_data", "notes", "license_number",
)

COMMITMENT_STATUSES = ("Draft", "Processing", "Submitted", "Partially Received", "Received", "Approved", "Closed")
WORK_ORDER_STATUSES = ("Draft", "Out For Bid", "Out For Signature", "Approved", "Complete", "Terminated", "Void")
PURCHASE_ORDER, WORK_ORDER = "PurchaseOrderContract", "WorkOrderContract"
STATUSES_BY_KIND = {PURCHASE_ORDER: COMMITMENT_STATUSES, WORK_ORDER: WORK_ORDER_STATUSES}
# Dates only a work order contract (subcontract) has, besides the shared fields (SPEC RestV10WorkOrderContractsIdGet).
WORK_ORDER_ONLY_FIELDS = ("inclusions", "exclusions", "contract_start_date", "contract_estimated_completion_date",
                          "actual_completion_date", "signed_contract_received_date")
WORK_ORDER_ONLY_KINDS: dict[str, Any] = {name: date if name.endswith("_date") else str
                                         for name in WORK_ORDER_ONLY_FIELDS}
PAYMENT_APPLICATION_STATUSES = ("draft", "under_review", "revise_and_resubmit", "approved")
DIRECT_COST_TYPES = ("invoice", "expense", "payroll", "subcontractor_invoice")
DIRECT_COST_STATUSES = ("draft", "pending", "revise_and_resubmit", "approved")
REQUISITION_STATUSES = ("draft", "under_review", "revise_and_resubmit", "approved", "approved_as_noted",
                        "pending_owner_approval")
OPEN_REQUISITION_STATUSES = ("draft", "under_review", "revise_and_resubmit")
LINE_ITEM_BASE_TYPES = ("labor", "equipment", "materials", "commitment", "owner_cost", "professional_services",
                        "other")
CLOSED_COMMITMENT = "Line items of a closed commitment cannot be changed"
NO_OPEN_PERIOD = "The project must have an open billing period (or admin can specify a period_id) to create an invoice"
NOT_LATEST_OPEN = "Must be the latest, open subcontractor invoice"

# Writable fields of the financial objects, each with what a request value is cast to (see _cast):
# str, int, bool, date (YYYY-MM-DD), Decimal, or a tuple of the allowed values.
COMMITMENT_FIELDS: dict[str, Any] = {
    "number": str, "title": str, "description": str, "status": COMMITMENT_STATUSES, "vendor_id": int,
    "contract_date": date, "delivery_date": date, "executed": bool, "accounting_method": ("amount", "unit"),
    "origin_id": str, "origin_code": str, "origin_data": str,
}
LINE_ITEM_FIELDS: dict[str, Any] = {
    "amount": Decimal, "quantity": Decimal, "unit_cost": Decimal, "uom": str, "description": str,
    "cost_code_id": int, "line_item_type_id": int, "origin_id": str, "origin_data": str,
}
DIRECT_COST_FIELDS: dict[str, Any] = {
    "direct_cost_type": DIRECT_COST_TYPES, "direct_cost_date": date, "invoice_number": str,
    "status": DIRECT_COST_STATUSES, "vendor_id": int, "description": str, "terms": str, "received_date": date,
    "payment_date": date, "origin_id": str, "origin_data": str,
}
REQUISITION_FIELDS: dict[str, Any] = {
    "period_id": int, "invoice_number": str, "billing_date": date, "status": REQUISITION_STATUSES,
    "origin_id": str, "origin_data": str, "comment": str,
}
CONTRACT_ITEM_FIELDS: dict[str, Any] = {"work_completed_this_period": Decimal, "materials_presently_stored": Decimal}
# Retainage held on an invoice item; a person sets it in Procore (the seed and touch helpers take it too).
CONTRACT_ITEM_RETAINAGE = ("work_completed_retainage_retained_this_period",
                           "materials_stored_retainage_retained_this_period")
STANDARD_COST_CODE_FIELDS: dict[str, Any] = {"code": str, "name": str, "parent_id": int, "origin_id": str,
                                             "origin_data": str}
# What each ``view`` of a standard cost code shows (SPEC RestV10StandardCostCodesGet: default = id and list id,
# compact adds origin_id, extended the rest).
STANDARD_COST_CODE_VIEWS = {
    "default": ("id", "standard_cost_code_list_id"),
    "compact": ("id", "standard_cost_code_list_id", "origin_id"),
    "extended": ("id", "standard_cost_code_list_id", "parent_id", "code", "full_code", "name", "origin_id",
                 "origin_data"),
}
PROJECT_FIELDS = ("display_name", "active", "origin_id", "origin_code", "origin_data", "id", "created_at", "updated_at")

Problems = dict[str, list[str]]

INVALID_TOKEN_HEADERS = {"WWW-Authenticate": 'Bearer realm="Doorkeeper", error="invalid_token"'}
RATE_LIMIT_MESSAGE = "You have surpassed the max number of requests for an hour. Please wait until your limit resets."
INVALID_CLIENT = {
    "error": "invalid_client",
    "error_description": "Client authentication failed due to unknown client, no client authentication included, "
    "or unsupported authentication method.",
}
UNSUPPORTED_GRANT = {
    "error": "unsupported_grant_type",
    "error_description": "The authorization grant type is not supported by the authorization server.",
}


def _errors(status: int, message: Any, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, {"errors": message}, headers)


@dataclass
class _RateWindow:
    """A fixed window: it opens at the first request and resets ``length`` seconds later."""

    limit: int
    length: float
    opened: float = -math.inf
    used: int = 0

    def hit(self, now: float) -> None:
        if now >= self.reset_at:
            self.opened, self.used = now, 0
        self.used += 1

    @property
    def reset_at(self) -> float:
        return self.opened + self.length

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit


class _LineIndex:
    """Commitment line items by commitment and by origin_id, kept beside their table: the benchmark
    writes 20,000 lines, and a scan of all of them per line would measure the simulator."""

    def __init__(self) -> None:
        self.by_holder: dict[int, list[dict[str, Any]]] = {}
        self.by_origin: dict[str, dict[str, Any]] = {}

    def add(self, line: dict[str, Any]) -> dict[str, Any]:
        self.by_holder.setdefault(line["holder_id"], []).append(line)
        self.note_origin(line)
        return line

    def note_origin(self, line: dict[str, Any]) -> None:
        if line.get("origin_id") is not None:
            self.by_origin[line["origin_id"]] = line

    def remove(self, line: dict[str, Any]) -> None:
        self.by_holder[line["holder_id"]].remove(line)
        if self.by_origin.get(line.get("origin_id")) is line:
            del self.by_origin[line["origin_id"]]

    def origin(self, origin_id: str | None) -> dict[str, Any] | None:
        line = self.by_origin.get(origin_id) if origin_id is not None else None
        return line if line is not None and line["origin_id"] == origin_id else None


class ProcoreSimulator(SimulatorServer):
    def __init__(
        self,
        *,
        port: int = 0,
        client_id: str | None = None,
        client_secret: str | None = None,
        company_id: int = 1234567,
        company_name: str = "Mountain Line Builders",
        token_lifetime: int = 5400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(port=port)
        self.client_id = client_id or secrets.token_urlsafe(32)
        self.client_secret = client_secret or secrets.token_urlsafe(32)
        self.company_id = company_id
        self.company_name = company_name
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.send_retry_after = True  # docs disagree whether a 429 carries Retry-After (procore.md §3)
        self.token_requests = 0
        self.rate_limited = 0
        self._tokens: dict[str, float] = {}  # access token -> expiry (clock seconds)
        self._vendors: dict[int, dict[str, Any]] = {}
        self._vendor_origins: dict[str, int] = {}  # origin_id -> vendor id
        self._next_id = FIRST_VENDOR_ID
        self._hourly = _RateWindow(limit=3600, length=3600)
        self._spike = _RateWindow(limit=25, length=10)

        self.route("POST", r"/oauth/token", self._token)
        self.route("GET", rf"{API}/companies", self._companies)
        self.route("GET", rf"{API}/me", self._me)
        self.route("GET", rf"{API}/vendors", self._list_active)
        self.route("POST", rf"{API}/vendors", self._create)
        self.route("PATCH", rf"{API}/vendors/sync", self._sync)
        self.route("GET", rf"{API}/vendors/(?P<vendor_id>\d+)", self._show)
        self.route("PATCH", rf"{API}/vendors/(?P<vendor_id>\d+)", self._update)
        self.route("GET", rf"{API}/companies/(?P<company_id>\d+)/vendors/inactive", self._list_inactive)

        self._projects: dict[int, dict[str, Any]] = {}
        self._cost_codes: dict[int, dict[str, Any]] = {}
        self._line_item_types: dict[int, dict[str, Any]] = {}
        self._commitments: dict[int, dict[str, Any]] = {}
        self._commitment_lines: dict[int, dict[str, Any]] = {}
        self._line_index = _LineIndex()
        self._direct_costs: dict[int, dict[str, Any]] = {}
        self._direct_cost_lines: dict[int, dict[str, Any]] = {}
        self._billing_periods: dict[int, dict[str, Any]] = {}
        self._requisitions: dict[int, dict[str, Any]] = {}
        self._contract_items: dict[int, dict[str, Any]] = {}
        self._payment_applications: dict[int, dict[str, Any]] = {}
        self._payment_application_items: dict[int, dict[str, Any]] = {}
        self._standard_lists: dict[int, dict[str, Any]] = {}
        self._standard_codes: dict[int, dict[str, Any]] = {}
        self._prime_contracts: dict[int, dict[str, Any]] = {}  # project id -> the one prime contract we bill on
        po, req, project = f"{API}/purchase_order_contracts", f"{API}/requisitions", r"(?P<project_id>\d+)"
        wo = f"{API}/work_order_contracts"
        self.route("GET", rf"{API}/projects", self._list_projects)
        self.route("GET", rf"{API}/projects/(?P<project_id>\d+)", self._show_project)
        self.route("GET", rf"{API}/cost_codes", self._list_cost_codes)
        self.route("GET", rf"{API}/line_item_types", self._list_line_item_types)
        self.route("GET", po, partial(self._list_commitments, kind=PURCHASE_ORDER))
        self.route("POST", po, self._create_commitment)
        self.route("PATCH", rf"{po}/sync", self._sync_commitments)
        self.route("GET", rf"{po}/(?P<commitment_id>\d+)", partial(self._show_commitment, kind=PURCHASE_ORDER))
        self.route("PATCH", rf"{po}/(?P<commitment_id>\d+)", self._update_commitment)
        self.route("GET", rf"{po}/(?P<commitment_id>\d+)/line_items",
                   partial(self._list_commitment_lines, kind=PURCHASE_ORDER))
        self.route("POST", rf"{po}/(?P<commitment_id>\d+)/line_items", self._create_commitment_line)
        self.route("PATCH", rf"{po}/(?P<commitment_id>\d+)/line_items/sync", self._sync_commitment_lines)
        self.route("DELETE", rf"{po}/(?P<commitment_id>\d+)/line_items/(?P<line_id>\d+)",
                   self._delete_commitment_line)
        self.route("GET", rf"{API_V11}/projects/{project}/direct_costs", self._list_direct_costs)
        self.route("GET", rf"{API_V11}/projects/{project}/direct_costs/(?P<direct_cost_id>\d+)",
                   self._show_direct_cost)
        self.route("PATCH", rf"{API}/projects/{project}/direct_costs/sync", self._sync_direct_costs)
        self.route("PATCH", rf"{API}/projects/{project}/direct_costs/line_items/sync", self._sync_direct_cost_lines)
        self.route("GET", rf"{API}/projects/{project}/billing_periods", self._list_billing_periods)
        self.route("GET", req, self._list_requisitions)
        self.route("POST", req, self._create_requisition)
        self.route("GET", rf"{req}/(?P<requisition_id>\d+)", self._show_requisition)
        self.route("PATCH", rf"{req}/(?P<requisition_id>\d+)", self._update_requisition)
        self.route("GET", rf"{req}/(?P<requisition_id>\d+)/contract_items", self._list_contract_items)
        self.route("PATCH", rf"{req}/(?P<requisition_id>\d+)/contract_items/(?P<item_id>\d+)",
                   self._update_contract_item)
        self.route("GET", wo, partial(self._list_commitments, kind=WORK_ORDER))
        self.route("GET", rf"{wo}/(?P<commitment_id>\d+)", partial(self._show_commitment, kind=WORK_ORDER))
        self.route("GET", rf"{wo}/(?P<commitment_id>\d+)/line_items",
                   partial(self._list_commitment_lines, kind=WORK_ORDER))
        self.route("GET", rf"{API}/payment_applications", self._list_payment_applications)
        self.route("GET", rf"{API}/payment_applications/(?P<application_id>\d+)", self._show_payment_application)
        self.route("GET", rf"{API}/standard_cost_code_lists", self._list_standard_lists)
        self.route("GET", rf"{API}/standard_cost_codes", self._list_standard_codes)
        self.route("PATCH", rf"{API}/standard_cost_codes/sync", self._sync_standard_codes)

    # -- Python API for tests ------------------------------------------------------------------

    def set_rate_limits(self, *, hourly: int | None = None, spike: int | None = None,
                        spike_window: float | None = None) -> None:
        """Change the limits; both windows start afresh."""
        with self.lock:
            self._hourly = _RateWindow(self._hourly.limit if hourly is None else hourly, 3600)
            self._spike = _RateWindow(self._spike.limit if spike is None else spike,
                                      self._spike.length if spike_window is None else spike_window)

    def expire_credentials(self, request: Request) -> bool:
        if not request.path.startswith("/rest/"):
            return False
        self.expire_all_tokens()
        return True

    def expire_all_tokens(self) -> None:
        with self.lock:
            self._tokens.clear()

    def add_vendor(self, **fields: Any) -> dict[str, Any]:
        """Store a vendor directly (no API validation); ``id``, ``created_at``, ``updated_at`` may be given."""
        unknown = set(fields) - set(VENDOR_FIELDS) - {"id", "created_at", "updated_at"}
        if unknown:
            raise TypeError(f"unknown vendor fields: {sorted(unknown)}")
        with self.lock:
            if fields.get("id") in self._vendors:
                raise ValueError(f"vendor id {fields['id']} is already taken")
            if fields.get("origin_id") is not None and self._by_origin_id(fields["origin_id"]) is not None:
                raise ValueError(f"origin_id {fields['origin_id']!r} is already taken")
            return _public(self._store_new(fields))

    def vendors(self) -> list[dict[str, Any]]:
        """Every vendor, active and inactive, by id."""
        with self.lock:
            return [_public(v) for v in sorted(self._vendors.values(), key=lambda v: v["id"])]

    def vendor(self, vendor_id: int) -> dict[str, Any] | None:
        with self.lock:
            found = self._vendors.get(vendor_id)
            return _public(found) if found else None

    def vendor_by_origin_id(self, origin_id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self._by_origin_id(origin_id)
            return _public(found) if found else None

    def add_project(self, name: str, project_number: str, **fields: Any) -> dict[str, Any]:
        """Store a project as someone set it up in Procore; ``display_name`` defaults to "number - name"."""
        unknown = set(fields) - set(PROJECT_FIELDS)
        if unknown:
            raise TypeError(f"unknown project fields: {sorted(unknown)}")
        with self.lock:
            if _origin_taken(self._projects, fields.get("origin_id"), None):
                raise ValueError(f"origin_id {fields['origin_id']!r} is already taken")
            project = self._insert(self._projects, {
                "name": name, "display_name": f"{project_number} - {name}", "project_number": project_number,
                "active": True, "origin_id": None, "origin_code": None, "origin_data": None,
                "company": {"id": self.company_id, "name": self.company_name}, **fields})
            return _public(project)

    def add_cost_code(self, project_id: int, full_code: str, name: str) -> dict[str, Any]:
        """A flat project cost code (no parent): ``code`` and ``full_code`` are both ``full_code``."""
        with self.lock:
            self._require(self._projects, project_id, "project")
            if any(c["project_id"] == project_id and c["full_code"] == full_code for c in self._cost_codes.values()):
                raise ValueError(f"cost code {full_code} already exists in project {project_id}")
            code = self._insert(self._cost_codes, {
                "code": full_code, "full_code": full_code, "name": name, "parent": None, "project_id": project_id,
                "biller_id": project_id, "biller_type": "Project", "origin_id": None, "origin_data": None})
            return dict(code)

    def add_line_item_type(self, code: str, name: str, base_type: str) -> dict[str, Any]:
        """A company cost type, e.g. ``("M", "Materials", "materials")``."""
        if base_type not in LINE_ITEM_BASE_TYPES:
            raise ValueError(f"base_type must be one of {LINE_ITEM_BASE_TYPES}")
        with self.lock:
            return _line_item_type(self._insert(self._line_item_types, {
                "name": name, "code": code, "base_type": base_type, "origin_id": None, "origin_data": None}))

    def add_billing_period(self, project_id: int, start_date: date | str, end_date: date | str, *,
                           open: bool = True) -> dict[str, Any]:
        """A billing period of a project; its ``due_date`` is its ``end_date``."""
        with self.lock:
            self._require(self._projects, project_id, "project")
            end = _date_text(end_date)
            position = 1 + sum(p["project_id"] == project_id for p in self._billing_periods.values())
            return dict(self._insert(self._billing_periods, {
                "project_id": project_id, "position": position, "start_date": _date_text(start_date),
                "end_date": end, "due_date": end, "status": "open" if open else "closed"}))

    def projects(self) -> list[dict[str, Any]]:
        with self.lock:
            return [_public(p) for p in _by_id(self._projects)]

    def cost_codes(self, project_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(c) for c in _by_id(self._cost_codes) if c["project_id"] == project_id]

    def line_item_types(self) -> list[dict[str, Any]]:
        with self.lock:
            return [_line_item_type(t) for t in _by_id(self._line_item_types)]

    def billing_periods(self, project_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(p) for p in _by_id(self._billing_periods) if p["project_id"] == project_id]

    def commitments(self, project_id: int | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """Commitments (show representation, with ``line_items``), of one project or all; ``kind``
        ``"PurchaseOrderContract"`` or ``"WorkOrderContract"`` keeps one kind."""
        with self.lock:
            return [self._render_commitment(c) for c in _by_id(self._commitments)
                    if project_id in (None, c["project_id"]) and kind in (None, c["kind"])]

    def direct_costs(self, project_id: int | None = None) -> list[dict[str, Any]]:
        """Direct costs with their ``line_items``, of one project or all."""
        with self.lock:
            return [self._render_direct_cost(d) for d in _by_id(self._direct_costs)
                    if project_id in (None, d["project_id"])]

    def requisitions(self, project_id: int | None = None) -> list[dict[str, Any]]:
        """Requisitions (subcontractor invoices) with their ``contract_items``, of one project or all."""
        with self.lock:
            return [{**self._render_requisition(r), "contract_items": [
                self._render_contract_item(i) for i in self._items_of(r)]}
                for r in _by_id(self._requisitions) if project_id in (None, r["project_id"])]

    def payment_applications(self, project_id: int | None = None) -> list[dict[str, Any]]:
        """Payment applications (owner invoices) with their ``line_items``, of one project or all."""
        with self.lock:
            return [self._render_payment_application(a, line_items=True) for a in _by_id(self._payment_applications)
                    if project_id in (None, a["project_id"])]

    def standard_cost_code_lists(self) -> list[dict[str, Any]]:
        with self.lock:
            return [_standard_list(s) for s in _by_id(self._standard_lists)]

    def standard_cost_codes(self, list_id: int) -> list[dict[str, Any]]:
        """The codes of one standard cost code list (extended view)."""
        with self.lock:
            return [self._render_standard_code(c, "extended") for c in _by_id(self._standard_codes)
                    if c["standard_cost_code_list_id"] == list_id]

    # -- seeding the read side: records as people create them in Procore -------------------------

    def add_commitment(self, project_id: int, *, vendor_id: int, kind: str = PURCHASE_ORDER,
                       number: str | None = None, title: str | None = None, status: str = "Draft",
                       lines: Sequence[dict[str, Any]] = (), **fields: Any) -> dict[str, Any]:
        """Store a purchase order (``kind="PurchaseOrderContract"``) or subcontract (``"WorkOrderContract"``)
        with its schedule of values; returns it as ``GET …/{id}`` shows it (with ``line_items``).

        ``lines``: dicts of :data:`LINE_ITEM_FIELDS` (``amount`` or ``quantity`` × ``unit_cost``,
        ``description``, ``cost_code_id`` of this project, ``line_item_type_id``, ...). ``fields``: the
        other commitment fields (``executed``, ``contract_date``, ``origin_id``, ...; the work-order-only
        dates for a subcontract), plus ``id``, ``created_at``, ``updated_at``.
        """
        if kind not in STATUSES_BY_KIND:
            raise ValueError(f"kind must be one of {sorted(STATUSES_BY_KIND)}")
        if status not in STATUSES_BY_KIND[kind]:
            raise ValueError(f"status of a {kind} must be one of {STATUSES_BY_KIND[kind]}")
        allowed = set(COMMITMENT_FIELDS) - {"number", "title", "status", "vendor_id"} | {"id", "created_at",
                                                                                          "updated_at"}
        if kind == WORK_ORDER:
            allowed |= set(WORK_ORDER_ONLY_FIELDS)
        unknown = set(fields) - allowed
        if unknown:
            raise TypeError(f"unknown {kind} fields: {sorted(unknown)}")
        with self.lock:
            project = self._require(self._projects, project_id, "project")
            self._require(self._vendors, vendor_id, "vendor")
            number = number or self._next_commitment_number(project_id, kind)
            if any(c["project_id"] == project_id and c["kind"] == kind and c["number"] == number
                   for c in self._commitments.values()):
                raise ValueError(f"{kind} number {number} already exists in project {project_id}")
            if _origin_taken(self._commitments, fields.get("origin_id"), None):
                raise ValueError(f"origin_id {fields['origin_id']!r} is already taken")
            record = {name: None for name in COMMITMENT_FIELDS}
            record.update(executed=False, accounting_method="amount")
            if kind == WORK_ORDER:
                record.update({name: None for name in WORK_ORDER_ONLY_FIELDS})
            kinds = {**COMMITMENT_FIELDS, **WORK_ORDER_ONLY_KINDS}
            record.update({name: _seed_value(kinds.get(name), value) for name, value in fields.items()})
            record.update(number=number, title=title, status=status, vendor_id=vendor_id, kind=kind,
                          project_id=project_id)
            commitment = self._insert(self._commitments, record)
            for line in lines:
                self._seed_line(project, commitment, line)
            return self._render_commitment(commitment)

    def _seed_line(self, project: dict[str, Any], commitment: dict[str, Any], fields: dict[str, Any]) -> None:
        unknown = set(fields) - set(LINE_ITEM_FIELDS)
        if unknown:
            raise TypeError(f"unknown line item fields: {sorted(unknown)}")
        code_id, type_id = fields.get("cost_code_id"), fields.get("line_item_type_id")
        code = self._cost_codes.get(code_id)  # type: ignore[arg-type]
        if code is None or code["project_id"] != project["id"]:
            raise ValueError(f"cost_code_id {code_id} is not a cost code of project {project['id']}")
        if type_id is not None and type_id not in self._line_item_types:
            raise ValueError(f"no line item type with id {type_id}")
        line = {name: _seed_value(LINE_ITEM_FIELDS[name], fields.get(name)) for name in LINE_ITEM_FIELDS}
        if line["amount"] is None and line["quantity"] is not None and line["unit_cost"] is not None:
            line.update(amount=_cents(line["quantity"] * line["unit_cost"]), extended_type="calculated")
        else:
            line.update(amount=line["amount"] or Decimal(0), extended_type="manual")
        if self._line_index.origin(line["origin_id"]) is not None:
            raise ValueError(f"line item origin_id {line['origin_id']!r} is already taken")
        line.update(holder_id=commitment["id"], project_id=project["id"],
                    position=1 + len(self._line_index.by_holder.get(commitment["id"], [])),
                    created_at=commitment["created_at"], updated_at=commitment["updated_at"])
        self._line_index.add(self._insert(self._commitment_lines, line))

    def add_requisition(self, project_id: int, commitment_id: int, *, period_id: int | None = None,
                        invoice_number: str | None = None, status: str = "draft", billing_date: date | str | None = None,
                        items: Sequence[dict[str, Any]] = (), **fields: Any) -> dict[str, Any]:
        """Store the next subcontractor invoice of a commitment, as the subcontractor and the project
        team filled it in; returns it with ``contract_items`` (one per commitment line).

        ``items``: ``{line_item_id, work_completed_this_period, materials_presently_stored,
        work_completed_retainage_retained_this_period, materials_stored_retainage_retained_this_period}``
        (amounts; lines not named bill nothing). ``period_id`` defaults to the latest open billing period.
        ``fields``: ``origin_id``, ``origin_data``, ``comment``, ``created_at``, ``updated_at``.
        """
        unknown = set(fields) - {"origin_id", "origin_data", "comment", "created_at", "updated_at"}
        if unknown:
            raise TypeError(f"unknown requisition fields: {sorted(unknown)}")
        if status not in REQUISITION_STATUSES:
            raise ValueError(f"status must be one of {REQUISITION_STATUSES}")
        with self.lock:
            project = self._require(self._projects, project_id, "project")
            commitment = self._in_project(self._commitments, commitment_id, project)
            if commitment is None:
                raise ValueError(f"no commitment {commitment_id} in project {project_id}")
            if period_id is None:
                open_periods = [p for p in self._billing_periods.values()
                                if p["project_id"] == project_id and p["status"] == "open"]
                if not open_periods:
                    raise ValueError(NO_OPEN_PERIOD)
                period_id = max(open_periods, key=lambda p: p["start_date"])["id"]
            elif self._in_project(self._billing_periods, period_id, project) is None:
                raise ValueError(f"no billing period {period_id} in project {project_id}")
            if _origin_taken(self._requisitions, fields.get("origin_id"), None):
                raise ValueError(f"origin_id {fields['origin_id']!r} is already taken")
            requisition = self._new_requisition(project, commitment, {
                **fields, "period_id": period_id, "invoice_number": invoice_number, "status": status,
                "billing_date": None if billing_date is None else _date_text(billing_date)})
            by_line = {i["line_item_id"]: i for i in self._items_of(requisition)}
            amounts = set(CONTRACT_ITEM_FIELDS) | set(CONTRACT_ITEM_RETAINAGE)
            for given in items:
                item = by_line.get(given.get("line_item_id"))
                if item is None:
                    raise ValueError(f"line_item_id {given.get('line_item_id')} is not a line of commitment "
                                     f"{commitment_id}")
                unknown = set(given) - amounts - {"line_item_id"}
                if unknown:
                    raise TypeError(f"unknown requisition item fields: {sorted(unknown)}")
                item.update({name: _cents(Decimal(str(value))) for name, value in given.items() if name in amounts})
            return {**self._render_requisition(requisition), "contract_items": [
                self._render_contract_item(i) for i in self._items_of(requisition)]}

    def add_payment_application(self, project_id: int, *, period_start: date | str, period_end: date | str,
                                invoice_number: str | None = None, billing_date: date | str | None = None,
                                status: str = "draft", number: int | None = None, origin_id: str | None = None,
                                origin_data: str | None = None, contract_title: str = "Prime Contract",
                                contract_company: str | None = None, line_items: Sequence[dict[str, Any]] = (),
                                **stamps: Any) -> dict[str, Any]:
        """Store an owner invoice on the project's prime contract; returns it as ``GET …/{id}`` shows it.

        ``line_items``: ``{cost_code_id, amount (= work_completed_this_period), description_of_work,
        scheduled_value, materials_presently_stored, work_completed_retainage_retained_this_period}``.
        ``stamps``: ``id``, ``created_at``, ``updated_at``.
        """
        unknown = set(stamps) - {"id", "created_at", "updated_at"}
        if unknown:
            raise TypeError(f"unknown payment application fields: {sorted(unknown)}")
        if status not in PAYMENT_APPLICATION_STATUSES:
            raise ValueError(f"status must be one of {PAYMENT_APPLICATION_STATUSES}")
        with self.lock:
            self._require(self._projects, project_id, "project")
            if _origin_taken(self._payment_applications, origin_id, None):
                raise ValueError(f"origin_id {origin_id!r} is already taken")
            contract = self._prime_contract(project_id, contract_title)
            number = number or 1 + sum(a["project_id"] == project_id for a in self._payment_applications.values())
            application = self._insert(self._payment_applications, {
                **stamps, "project_id": project_id, "contract_id": contract["id"], "number": number,
                "invoice_number": invoice_number, "status": status, "origin_id": origin_id,
                "origin_data": origin_data, "period_start": _date_text(period_start),
                "period_end": _date_text(period_end),
                "billing_date": None if billing_date is None else _date_text(billing_date),
                "formatted_contract_company": contract_company})
            for position, given in enumerate(line_items, start=1):
                self._seed_payment_application_item(application, position, given)
            return self._render_payment_application(application, line_items=True)

    def _prime_contract(self, project_id: int, title: str) -> dict[str, Any]:
        """The one prime contract of a project, made on first use (no API of its own here)."""
        if project_id not in self._prime_contracts:
            self._prime_contracts[project_id] = {"id": self._new_id(), "title": title, "type": "PrimeContract"}
        return self._prime_contracts[project_id]

    def _seed_payment_application_item(self, application: dict[str, Any], position: int,
                                       given: dict[str, Any]) -> None:
        known = {"cost_code_id", "amount", "work_completed_this_period", "description_of_work", "scheduled_value",
                 "materials_presently_stored", "work_completed_retainage_retained_this_period"}
        unknown = set(given) - known
        if unknown:
            raise TypeError(f"unknown payment application line fields: {sorted(unknown)}")
        code = self._cost_codes.get(given.get("cost_code_id"))  # type: ignore[arg-type]
        if code is None or code["project_id"] != application["project_id"]:
            raise ValueError(f"cost_code_id {given.get('cost_code_id')} is not a cost code of project "
                             f"{application['project_id']}")
        this_period = given.get("work_completed_this_period", given.get("amount", 0))

        def money(name: str, value: Any = 0) -> Decimal:
            return _cents(Decimal(str(given.get(name, value))))
        this = _cents(Decimal(str(this_period)))
        earlier = [i for i in self._payment_application_items.values()
                   if i["cost_code_id"] == code["id"] and i["application_id"] != application["id"]
                   and self._payment_applications[i["application_id"]]["project_id"] == application["project_id"]
                   and self._payment_applications[i["application_id"]]["number"] < application["number"]]
        self._insert(self._payment_application_items, {
            "application_id": application["id"], "cost_code_id": code["id"], "item_number": position,
            "description_of_work": given.get("description_of_work", code["name"]),
            "scheduled_value": money("scheduled_value", this),
            "work_completed_from_previous_application": sum((i["work_completed_this_period"] for i in earlier),
                                                            Decimal(0)),
            "work_completed_this_period": this, "materials_presently_stored": money("materials_presently_stored"),
            "work_completed_retainage_retained_this_period": money("work_completed_retainage_retained_this_period"),
            "created_at": application["created_at"], "updated_at": application["updated_at"]})

    def add_standard_cost_code_list(self, name: str, *, is_erp_list: bool = False,
                                    available_to_use_on_new_projects: bool = True) -> dict[str, Any]:
        """A company standard cost code list (an ERP connection makes one "ERP Standard Cost Code List")."""
        with self.lock:
            return _standard_list(self._insert(self._standard_lists, {
                "name": name, "is_erp_list": is_erp_list,
                "available_to_use_on_new_projects": available_to_use_on_new_projects}))

    def add_standard_cost_code(self, list_id: int, code: str, name: str, *, parent_id: int | None = None,
                               origin_id: str | None = None, origin_data: str | None = None) -> dict[str, Any]:
        with self.lock:
            self._require(self._standard_lists, list_id, "standard cost code list")
            record, problems = self._write_standard_code(list_id, None, {
                "code": code, "name": name, "parent_id": parent_id, "origin_id": origin_id, "origin_data": origin_data})
            if problems:
                raise ValueError(f"standard cost code {code}: {problems}")
            return self._render_standard_code(record, "extended")  # type: ignore[arg-type]

    # -- touching records: a person changes them in the Procore UI (updated_at moves) ------------

    def touch_vendor(self, vendor_id: int, **changes: Any) -> dict[str, Any]:
        with self.lock:
            vendor = self._require(self._vendors, vendor_id, "vendor")
            self._touch(vendor, changes, {name: None for name in VENDOR_FIELDS}, "vendor")
            return _public(vendor)

    def touch_commitment(self, commitment_id: int, **changes: Any) -> dict[str, Any]:
        with self.lock:
            commitment = self._require(self._commitments, commitment_id, "commitment")
            allowed = {**COMMITMENT_FIELDS, "status": STATUSES_BY_KIND[commitment["kind"]]}
            if commitment["kind"] == WORK_ORDER:
                allowed.update(WORK_ORDER_ONLY_KINDS)
            self._touch(commitment, changes, allowed, commitment["kind"])
            return self._render_commitment(commitment)

    def touch_commitment_line(self, line_id: int, **changes: Any) -> dict[str, Any]:
        """Change a schedule-of-values line; its commitment's ``updated_at`` moves too."""
        with self.lock:
            line = self._require(self._commitment_lines, line_id, "commitment line item")
            self._touch(line, changes, LINE_ITEM_FIELDS, "line item")
            if "amount" in changes:
                line["extended_type"] = "manual"
            commitment = self._commitments[line["holder_id"]]
            _bump_holder(commitment, line)
            return self._render_line(line, commitment["kind"])

    def touch_requisition(self, requisition_id: int, **changes: Any) -> dict[str, Any]:
        with self.lock:
            requisition = self._require(self._requisitions, requisition_id, "requisition")
            self._touch(requisition, changes, REQUISITION_FIELDS, "requisition")
            return self._render_requisition(requisition)

    def touch_requisition_item(self, item_id: int, **changes: Any) -> dict[str, Any]:
        """Change an invoice item's amounts; its requisition's ``updated_at`` moves too."""
        with self.lock:
            item = self._require(self._contract_items, item_id, "requisition item")
            allowed = {**CONTRACT_ITEM_FIELDS, **{name: Decimal for name in CONTRACT_ITEM_RETAINAGE}}
            self._touch(item, {name: _cents(Decimal(str(value))) for name, value in changes.items()}, allowed,
                        "requisition item")
            _bump_holder(self._requisitions[item["requisition_id"]], item)
            return self._render_contract_item(item)

    def touch_payment_application(self, application_id: int, **changes: Any) -> dict[str, Any]:
        with self.lock:
            application = self._require(self._payment_applications, application_id, "payment application")
            allowed = {"status": PAYMENT_APPLICATION_STATUSES, "invoice_number": str, "billing_date": date,
                       "origin_id": str, "origin_data": str, "period_start": date, "period_end": date}
            self._touch(application, changes, allowed, "payment application")
            return self._render_payment_application(application, line_items=True)

    def touch_payment_application_item(self, item_id: int, **changes: Any) -> dict[str, Any]:
        with self.lock:
            item = self._require(self._payment_application_items, item_id, "payment application line item")
            allowed = {"work_completed_this_period": Decimal, "materials_presently_stored": Decimal,
                       "scheduled_value": Decimal, "description_of_work": str,
                       "work_completed_retainage_retained_this_period": Decimal}
            self._touch(item, changes, allowed, "payment application line item")
            for name, kind in allowed.items():
                if kind is Decimal and name in changes:
                    item[name] = _cents(item[name])
            application = self._payment_applications[item["application_id"]]
            _bump_holder(application, item)
            return self._render_payment_application_item(item)

    def touch_standard_cost_code(self, code_id: int, **changes: Any) -> dict[str, Any]:
        with self.lock:
            code = self._require(self._standard_codes, code_id, "standard cost code")
            self._touch(code, changes, STANDARD_COST_CODE_FIELDS, "standard cost code")
            return self._render_standard_code(code, "extended")

    def _touch(self, record: dict[str, Any], changes: dict[str, Any], allowed: dict[str, Any], what: str) -> None:
        """A save in the UI: the changed fields (cast as stored) and a new ``updated_at``."""
        unknown = set(changes) - set(allowed)
        if unknown:
            raise TypeError(f"unknown {what} fields: {sorted(unknown)}")
        record.update({name: _seed_value(allowed[name], value) for name, value in changes.items()})
        record["updated_at"] = _iso(self.clock())

    # -- checks on every request --------------------------------------------------------------

    def default_headers(self) -> dict[str, str]:
        return {"X-Request-Id": str(uuid.uuid4())}

    def is_write(self, request: Request) -> bool:
        return super().is_write(request) and not request.path.startswith("/oauth/")  # a token is not data

    def not_found(self, request: Request) -> Response:
        return _errors(404, "Not Found")

    def method_not_allowed(self, request: Request, allowed: list[str]) -> Response:
        return _errors(405, "Method Not Allowed", {"Allow": ", ".join(allowed)})

    def dispatch(self, request: Request) -> Response:
        with self.lock:
            if not request.path.startswith("/rest/"):
                return super().dispatch(request)  # the token endpoint does not count against rate limits
            now = self.clock()
            rate_headers, retry_after = self._count_request(now)
            if retry_after is not None:
                self.rate_limited += 1
                if self.send_retry_after:
                    rate_headers["Retry-After"] = str(retry_after)
                return _errors(429, RATE_LIMIT_MESSAGE, rate_headers)
            response = self._authorized(request, now) or super().dispatch(request)
            response.headers = {**rate_headers, **response.headers}
            return response

    def _count_request(self, now: float) -> tuple[dict[str, str], int | None]:
        """Count one request in both windows: (rate headers, Retry-After seconds when over a limit)."""
        windows = (self._hourly, self._spike)
        for window in windows:
            window.hit(now)
        # Report the window closest to exhaustion; when both are spent, the one that resets last.
        shown = min(windows, key=lambda w: (w.remaining, -w.reset_at))
        headers = {
            "X-Rate-Limit-Limit": str(shown.limit),
            "X-Rate-Limit-Remaining": str(shown.remaining),
            "X-Rate-Limit-Reset": str(math.ceil(shown.reset_at)),
        }
        exceeded = [w for w in windows if w.exceeded]
        if not exceeded:
            return headers, None
        return headers, max(1, math.ceil(max(w.reset_at for w in exceeded) - now))

    def _authorized(self, request: Request, now: float) -> Response | None:
        """None when the bearer token and the company header are good, else the error answer."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expires_at = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expires_at is None or expires_at <= now:
            return _errors(401, "The access token is invalid", INVALID_TOKEN_HEADERS)
        company = request.headers.get("Procore-Company-Id")
        if not company:
            return _errors(400, "Missing Procore-Company-Id header!")
        if company.strip() != str(self.company_id):
            return _errors(403, "App is not connected to this company")
        return None

    def _company_error(self, company_id: Any) -> Response | None:
        """None when a ``company_id`` parameter names our company."""
        if company_id in (None, ""):
            return _errors(400, "param is missing or the value is empty: company_id")
        if str(company_id).strip() != str(self.company_id):
            return _errors(403, "App is not connected to this company")
        return None

    # -- OAuth ----------------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        self.token_requests += 1
        params = _form_params(request)
        if params.get("grant_type") != "client_credentials":
            return json_response(400, UNSUPPORTED_GRANT)
        if params.get("client_id") != self.client_id or params.get("client_secret") != self.client_secret:
            return json_response(401, INVALID_CLIENT)
        now = self.clock()
        self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}  # forget expired ones
        token = secrets.token_urlsafe(48)
        self._tokens[token] = now + self.token_lifetime
        payload = {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime,
                   "created_at": int(now)}
        return json_response(200, payload, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    # -- context --------------------------------------------------------------------------------

    def _companies(self, request: Request) -> Response:
        return json_response(200, [{"id": self.company_id, "name": self.company_name, "is_active": True,
                                    "logo_url": None, "pcn_business_experience": False, "my_company": True}])

    def _me(self, request: Request) -> Response:
        return json_response(200, {"id": 7_000_001, "login": "mlconnector-dmsa@sandbox.procore.test",
                                   "name": "mlconnector Sync (DMSA)"})

    # -- vendors: reads -------------------------------------------------------------------------

    def _list_active(self, request: Request) -> Response:
        return self._company_error(request.param("company_id")) or self._list(request, active=True)

    def _list_inactive(self, request: Request, company_id: str) -> Response:
        return self._company_error(company_id) or self._list(request, active=False)

    def _list(self, request: Request, *, active: bool) -> Response:
        vendors = sorted((v for v in self._vendors.values() if v["is_active"] == active), key=lambda v: v["id"])
        origin_id = request.param("filters[origin_id]")
        if origin_id:
            vendors = [v for v in vendors if v["origin_id"] == origin_id]
        search = (request.param("filters[search]") or "").casefold()
        if search:
            vendors = [v for v in vendors
                       if search in (v["name"] or "").casefold() or search in (v["origin_code"] or "").casefold()]
        updated = request.param("filters[updated_at]")
        if updated:
            try:
                start, end = _time_range(updated)
            except ValueError:
                return _errors(400, f"Invalid value for filters[updated_at]: {updated!r}")
            vendors = [v for v in vendors if start <= _parse_time(v["updated_at"]) <= end]
        if request.param("sort") == "name":
            vendors.sort(key=lambda v: ((v["name"] or "").casefold(), v["id"]))
        return self._paginate(request, vendors)

    def _paginate(self, request: Request, items: list[dict[str, Any]],
                  render: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Response:
        """One page of ``items`` (each shown by ``render``, a vendor by default) with Total, Per-Page, Link."""
        render = render or _public
        per_page = min(MAX_PER_PAGE, max(1, _int_or(request.param("per_page"), DEFAULT_PER_PAGE)))
        page = max(1, _int_or(request.param("page"), 1))
        last = max(1, math.ceil(len(items) / per_page))
        rels = [("first", 1)] + ([("prev", page - 1)] if page > 1 else []) + [("last", last)]
        if page < last:
            rels.append(("next", page + 1))
        link = ", ".join(f'<{self._page_url(request, number)}>; rel="{rel}"' for rel, number in rels)
        body = [render(v) for v in items[(page - 1) * per_page: page * per_page]]
        return json_response(200, body, {"Total": str(len(items)), "Per-Page": str(per_page), "Link": link})

    def _page_url(self, request: Request, page: int) -> str:
        """The request's own absolute URL with ``page`` changed (added when it was absent)."""
        pairs = [(name, str(page) if name == "page" else value)
                 for name, value in parse_qsl(request.query_string, keep_blank_values=True)]
        if not any(name == "page" for name, _ in pairs):
            pairs.append(("page", str(page)))
        return f"{self.url}{request.path}?{urlencode(pairs, safe='[]')}"

    def _show(self, request: Request, vendor_id: str) -> Response:
        error = self._company_error(request.param("company_id"))
        if error:
            return error
        vendor = self._vendors.get(int(vendor_id))
        return json_response(200, _public(vendor)) if vendor else _errors(404, "Not Found")

    # -- vendors: writes ------------------------------------------------------------------------

    def _create(self, request: Request) -> Response:
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        error = self._company_error(body.get("company_id"))
        if error:
            return error
        if not isinstance(body.get("vendor"), dict):
            return _errors(400, "param is missing or the value is empty: vendor")
        vendor, problems = self._write(None, body["vendor"])
        return _errors(422, problems) if problems else json_response(201, _public(vendor))

    def _update(self, request: Request, vendor_id: str) -> Response:
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        error = self._company_error(body.get("company_id"))
        if error:
            return error
        vendor = self._vendors.get(int(vendor_id))
        if vendor is None:
            return _errors(404, "Not Found")
        if not isinstance(body.get("vendor"), dict):
            return _errors(400, "param is missing or the value is empty: vendor")
        vendor, problems = self._write(vendor, body["vendor"])
        return _errors(422, problems) if problems else json_response(200, _public(vendor))

    def _sync(self, request: Request) -> Response:
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        error = self._company_error(body.get("company_id"))
        if error:
            return error
        return _sync_answer(body.get("updates"), self._sync_one, _public)

    def _sync_one(self, item: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
        if item.get("id") is None and item.get("origin_id") not in (None, ""):
            return self._write(self._by_origin_id(str(item["origin_id"])), item)  # the index, not a scan
        vendor, problems = _match(self._vendors, item)
        return (None, problems) if problems else self._write(vendor, item)

    def _write(self, vendor: dict[str, Any] | None, item: dict[str, Any]
               ) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
        """Create (``vendor`` None) or partially update from a request item: (stored vendor, errors)."""
        changes, problems = _writable_fields(item)
        merged = {**(vendor or {"is_active": True}), **changes}
        problems.update(_validate(changes, merged, creating=vendor is None))
        holder = self._by_origin_id(changes["origin_id"]) if changes.get("origin_id") is not None else None
        if holder is not None and holder is not vendor:
            problems["origin_id"] = ["has already been taken"]
        if problems:
            return None, problems
        if vendor is None:
            return self._store_new(changes), {}
        changed = {name: value for name, value in changes.items() if vendor[name] != value}
        if changed:  # a no-op update leaves updated_at alone, as Rails does
            vendor.update(changed)
            vendor["updated_at"] = _iso(self.clock())
            self._index_vendor(vendor)
        return vendor, {}

    def _store_new(self, fields: dict[str, Any]) -> dict[str, Any]:
        vendor_id = self._new_id(fields.get("id"))
        now = _iso(self.clock())
        vendor = {"id": vendor_id, **{name: fields.get(name) for name in VENDOR_FIELDS}}
        if vendor["is_active"] is None:
            vendor["is_active"] = True
        vendor["created_at"] = fields.get("created_at") or now
        vendor["updated_at"] = fields.get("updated_at") or vendor["created_at"]
        vendor["company"] = {"id": self.company_id, "name": self.company_name}
        self._vendors[vendor_id] = vendor
        self._index_vendor(vendor)
        return vendor

    def _by_origin_id(self, origin_id: str) -> dict[str, Any] | None:
        # An index, not a scan: the benchmark syncs 50,000 vendors, each looked up by origin_id.
        vendor = self._vendors.get(self._vendor_origins.get(origin_id, -1))
        return vendor if vendor is not None and vendor["origin_id"] == origin_id else None

    def _index_vendor(self, vendor: dict[str, Any]) -> None:
        if vendor.get("origin_id") is not None:
            self._vendor_origins[vendor["origin_id"]] = vendor["id"]

    def _new_id(self, wanted: int | None = None) -> int:
        """One sequence for every kind of object, so an id of one kind never names another."""
        new_id = wanted or self._next_id
        self._next_id = max(self._next_id, new_id + 1)
        return new_id

    # -- financial tools: storage ---------------------------------------------------------------

    def _insert(self, table: dict[int, dict[str, Any]], fields: dict[str, Any]) -> dict[str, Any]:
        now = _iso(self.clock())
        record = {**fields, "id": self._new_id(fields.get("id"))}
        record.setdefault("created_at", now)
        record.setdefault("updated_at", record["created_at"])
        table[record["id"]] = record
        return record

    def _change(self, record: dict[str, Any], changes: dict[str, Any]) -> None:
        """Apply a partial update; ``updated_at`` moves only when a value really changed."""
        changed = {name: value for name, value in changes.items() if record.get(name) != value}
        if changed:
            record.update(changed)
            record["updated_at"] = _iso(self.clock())
            if self._vendors.get(record.get("id")) is record:
                self._index_vendor(record)
            elif self._commitment_lines.get(record.get("id")) is record:
                self._line_index.note_origin(record)

    @staticmethod
    def _require(table: dict[int, dict[str, Any]], record_id: int, what: str) -> dict[str, Any]:
        if record_id not in table:
            raise ValueError(f"no {what} with id {record_id}")
        return table[record_id]

    def _project_param(self, request: Request, body: dict[str, Any] | None = None) -> dict[str, Any] | Response:
        """The project a request names (body or query, as Rails merges them): 400 without one, 404 unknown."""
        value = body.get("project_id") if body and body.get("project_id") is not None else request.param("project_id")
        if value in (None, ""):
            return _errors(400, "param is missing or the value is empty: project_id")
        return self._projects.get(_int_or(value, -1)) or _errors(404, "Not Found")

    def _in_project(self, table: dict[int, dict[str, Any]], record_id: Any,
                    project: dict[str, Any]) -> dict[str, Any] | None:
        record = table.get(_int_or(record_id, -1))
        return record if record is not None and record["project_id"] == project["id"] else None

    def _lines_of(self, table: dict[int, dict[str, Any]], holder_id: int) -> list[dict[str, Any]]:
        lines = (self._line_index.by_holder.get(holder_id, []) if table is self._commitment_lines
                 else (line for line in table.values() if line["holder_id"] == holder_id))
        return sorted(lines, key=lambda line: (line["position"], line["id"]))

    def _items_of(self, requisition: dict[str, Any]) -> list[dict[str, Any]]:
        return sorted((i for i in self._contract_items.values() if i["requisition_id"] == requisition["id"]),
                      key=lambda i: i["position"])

    # -- financial tools: representations ---------------------------------------------------------

    def _render_line(self, line: dict[str, Any], holder_type: str) -> dict[str, Any]:
        code = self._cost_codes.get(line["cost_code_id"])
        kind = self._line_item_types.get(line["line_item_type_id"])
        project = self._projects[line["project_id"]]
        return {
            "id": line["id"], "amount": _money(line["amount"]), "total_amount": _money(line["amount"]),
            "quantity": _decimal_text(line["quantity"]), "unit_cost": _decimal_text(line["unit_cost"]),
            "uom": line["uom"], "description": line["description"], "extended_type": line["extended_type"],
            "position": line["position"], "origin_id": line["origin_id"], "origin_data": line["origin_data"],
            "cost_code_id": line["cost_code_id"],
            "cost_code": {k: code[k] for k in ("id", "code", "full_code", "name", "origin_id")} if code else None,
            "line_item_type_id": line["line_item_type_id"],
            "line_item_type": _line_item_type(kind) if kind else None,
            "holder": {"id": line["holder_id"], "holder_type": holder_type},
            "project": {"id": project["id"], "name": project["name"]},
            "company": {"id": self.company_id, "name": self.company_name},
            "created_at": line["created_at"], "updated_at": line["updated_at"],
        }

    def _render_commitment(self, commitment: dict[str, Any], *, line_items: bool = True) -> dict[str, Any]:
        lines = self._lines_of(self._commitment_lines, commitment["id"])
        vendor = self._vendors.get(commitment["vendor_id"])
        project = self._projects[commitment["project_id"]]
        shown = {
            "id": commitment["id"], "project": {"id": project["id"], "name": project["name"]},
            "vendor": {"id": vendor["id"], "company": vendor["name"], "origin_id": vendor["origin_id"]}
            if vendor else None,
            **{name: commitment[name] for name in COMMITMENT_FIELDS if name != "vendor_id"},
            **({name: commitment.get(name) for name in WORK_ORDER_ONLY_FIELDS} if commitment["kind"] == WORK_ORDER
               else {}),
            "grand_total": _money(sum((line["amount"] for line in lines), Decimal(0))),
            "created_at": commitment["created_at"], "updated_at": commitment["updated_at"], "deleted_at": None,
        }
        if line_items:
            shown["line_items"] = [self._render_line(line, commitment["kind"]) for line in lines]
        return shown

    def _render_direct_cost(self, direct_cost: dict[str, Any]) -> dict[str, Any]:
        lines = self._lines_of(self._direct_cost_lines, direct_cost["id"])
        vendor = self._vendors.get(direct_cost["vendor_id"])
        return {
            "id": direct_cost["id"], **{name: direct_cost[name] for name in DIRECT_COST_FIELDS},
            "vendor": {"id": vendor["id"], "name": vendor["name"]} if vendor else None,
            "vendor_name": vendor["name"] if vendor else None,
            "grand_total": _money(sum((line["amount"] for line in lines), Decimal(0))),
            "line_items": [self._render_line(line, "DirectCost") for line in lines],
            "created_at": direct_cost["created_at"], "updated_at": direct_cost["updated_at"], "deleted_at": None,
        }

    def _render_requisition(self, requisition: dict[str, Any]) -> dict[str, Any]:
        commitment = self._commitments[requisition["commitment_id"]]
        vendor = self._vendors.get(commitment["vendor_id"])
        period = self._billing_periods[requisition["period_id"]]
        items = self._items_of(requisition)
        claimed = sum((i["work_completed_this_period"] for i in items), Decimal(0))
        return {
            "id": requisition["id"], "project_id": requisition["project_id"],
            "commitment_id": commitment["id"], "commitment_type": commitment["kind"],
            "contract_name": commitment["title"], "vendor_name": vendor["name"] if vendor else None,
            "number": requisition["number"], **{name: requisition[name] for name in REQUISITION_FIELDS},
            "requisition_start": period["start_date"], "requisition_end": period["end_date"],
            "total_claimed_amount": _money(claimed), "summary": _requisition_summary(items),
            "created_at": requisition["created_at"], "updated_at": requisition["updated_at"],
        }

    def _render_contract_item(self, item: dict[str, Any]) -> dict[str, Any]:
        previous, this, stored = (item["work_completed_from_previous_application"],
                                  item["work_completed_this_period"], item["materials_presently_stored"])
        return {
            "id": item["id"], "item_type": "contract", "line_item_id": item["line_item_id"],
            "cost_code_id": item["cost_code_id"], "description_of_work": item["description_of_work"],
            "scheduled_value": _money(item["scheduled_value"]),
            "work_completed_from_previous_application": _money(previous),
            "work_completed_this_period": _money(this), "materials_presently_stored": _money(stored),
            "total_completed_and_stored_to_date": _money(previous + this + stored),
            "work_completed_retainage_from_previous_application": _money(item["retainage_from_previous_application"]),
            **{name: _money(item[name]) for name in CONTRACT_ITEM_RETAINAGE},
            "position": item["position"],
        }

    # -- projects, cost codes, cost types, billing periods (read only) -----------------------------

    def _list_projects(self, request: Request) -> Response:
        error = self._company_error(request.param("company_id"))
        if error:
            return error
        status = request.param("filters[by_status]") or "Active"
        projects = [p for p in _by_id(self._projects) if status == "All" or p["active"] == (status == "Active")]
        origin_id, name = request.param("filters[origin_id]"), (request.param("filters[name]") or "").casefold()
        if origin_id:
            projects = [p for p in projects if p["origin_id"] == origin_id]
        if name:
            projects = [p for p in projects if name in p["name"].casefold()]
        return self._paginate(request, projects)

    def _show_project(self, request: Request, project_id: str) -> Response:
        error = self._company_error(request.param("company_id"))
        project = self._projects.get(int(project_id))
        return error or (json_response(200, _public(project)) if project else _errors(404, "Not Found"))

    def _list_cost_codes(self, request: Request) -> Response:
        project = self._project_param(request)
        if isinstance(project, Response):
            return project
        codes = [c for c in _by_id(self._cost_codes) if c["project_id"] == project["id"]]
        origin_id = request.param("filters[origin_id]")
        if origin_id:
            codes = [c for c in codes if c["origin_id"] == origin_id]
        return self._paginate(request, codes, dict)

    def _list_line_item_types(self, request: Request) -> Response:
        error = self._company_error(request.param("company_id"))
        if error:
            return error
        if request.param("project_id") not in (None, "") and self._projects.get(
                _int_or(request.param("project_id"), -1)) is None:
            return _errors(404, "Not Found")
        kinds = _by_id(self._line_item_types)
        origin_id = request.param("filters[origin_id]")
        if origin_id:
            kinds = [k for k in kinds if k["origin_id"] == origin_id]
        return self._paginate(request, kinds, _line_item_type)

    def _list_billing_periods(self, request: Request, project_id: str) -> Response:
        project = self._projects.get(int(project_id))
        if project is None:
            return _errors(404, "Not Found")
        periods = [p for p in _by_id(self._billing_periods) if p["project_id"] == project["id"]]
        return self._paginate(request, periods, dict)

    # -- purchase order contracts (commitments) ----------------------------------------------------

    def _list_commitments(self, request: Request, *, kind: str) -> Response:
        project = self._project_param(request)
        if isinstance(project, Response):
            return project
        found = [c for c in _by_id(self._commitments) if c["project_id"] == project["id"] and c["kind"] == kind]
        for name in ("origin_id", "status"):
            value = request.param(f"filters[{name}]")
            if value:
                found = [c for c in found if c[name] == value]
        found = _updated_filter(request, found)
        if isinstance(found, Response):
            return found
        return self._paginate(request, found, lambda c: self._render_commitment(c, line_items=False))

    def _show_commitment(self, request: Request, commitment_id: str, *, kind: str) -> Response:
        project = self._project_param(request)
        if isinstance(project, Response):
            return project
        commitment = self._commitment_in(project, commitment_id, kind)
        return json_response(200, self._render_commitment(commitment)) if commitment else _errors(404, "Not Found")

    def _commitment_in(self, project: dict[str, Any], commitment_id: Any, kind: str) -> dict[str, Any] | None:
        """A commitment of this project and kind: a subcontract is not found under purchase orders."""
        commitment = self._in_project(self._commitments, commitment_id, project)
        return commitment if commitment is not None and commitment["kind"] == kind else None

    def _create_commitment(self, request: Request) -> Response:
        return self._write_one(request, "purchase_order_contract", lambda project, fields: self._write_commitment(
            project, None, fields), self._render_commitment, 201)

    def _update_commitment(self, request: Request, commitment_id: str) -> Response:
        def write(project: dict[str, Any], fields: dict[str, Any]) -> tuple[dict[str, Any] | None, Problems]:
            commitment = self._commitment_in(project, commitment_id, PURCHASE_ORDER)
            return (self._write_commitment(project, commitment, fields) if commitment
                    else (None, {"id": ["Entity with this ID not found"]}))
        return self._write_one(request, "purchase_order_contract", write, self._render_commitment, 200)

    def _sync_commitments(self, request: Request) -> Response:
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        project = self._project_param(request, body)
        if isinstance(project, Response):
            return project

        def write(item: dict[str, Any]) -> tuple[dict[str, Any] | None, Problems]:
            commitment, problems = _match(self._commitments, item,
                                          lambda c: c["project_id"] == project["id"] and c["kind"] == PURCHASE_ORDER)
            return (None, problems) if problems else self._write_commitment(project, commitment, item)
        return _sync_answer(body.get("updates"), write, self._render_commitment)

    def _write_commitment(self, project: dict[str, Any], commitment: dict[str, Any] | None,
                          item: dict[str, Any]) -> tuple[dict[str, Any] | None, Problems]:
        changes, problems = _cast(item, COMMITMENT_FIELDS)
        if commitment is None or "vendor_id" in changes:
            vendor_id = changes.get("vendor_id")
            if vendor_id is None:
                problems.setdefault("vendor_id", ["can't be blank"])
            elif vendor_id not in self._vendors:
                problems["vendor_id"] = ["is invalid"]
        number = changes.get("number")
        if number and any(c["number"] == number and c["project_id"] == project["id"] and c is not commitment
                          and c["kind"] == PURCHASE_ORDER for c in self._commitments.values()):
            problems["number"] = ["has already been taken"]
        if _origin_taken(self._commitments, changes.get("origin_id"), commitment):
            problems["origin_id"] = ["has already been taken"]
        if problems:
            return None, problems
        if commitment is not None:
            self._change(commitment, changes)
            return commitment, {}
        if not number:  # Procore numbers a project's commitments 1, 2, ... when none is given
            changes["number"] = self._next_commitment_number(project["id"], PURCHASE_ORDER)
        defaults = {name: None for name in COMMITMENT_FIELDS}
        defaults.update(status="Draft", executed=False, accounting_method="amount")
        return self._insert(self._commitments, {**defaults, **changes, "project_id": project["id"],
                                                "kind": PURCHASE_ORDER}), {}

    def _next_commitment_number(self, project_id: int, kind: str) -> str:
        taken = [int(c["number"]) for c in self._commitments.values()
                 if c["project_id"] == project_id and c["kind"] == kind and (c["number"] or "").isdigit()]
        return str(max(taken, default=0) + 1)

    # -- commitment line items -------------------------------------------------------------------

    def _commitment_param(self, request: Request, commitment_id: str, body: dict[str, Any] | None = None,
                          kind: str = PURCHASE_ORDER) -> tuple[dict[str, Any], dict[str, Any]] | Response:
        project = self._project_param(request, body)
        if isinstance(project, Response):
            return project
        commitment = self._commitment_in(project, commitment_id, kind)
        return (project, commitment) if commitment else _errors(404, "Not Found")

    def _list_commitment_lines(self, request: Request, commitment_id: str, *, kind: str) -> Response:
        found = self._commitment_param(request, commitment_id, kind=kind)
        if isinstance(found, Response):
            return found
        lines = self._lines_of(self._commitment_lines, found[1]["id"])
        for name in ("cost_code_id", "line_item_type_id"):
            value = request.param(f"filters[{name}]")
            if value:
                lines = [line for line in lines if line[name] == _int_or(value, -1)]
        lines = _updated_filter(request, lines)
        if isinstance(lines, Response):
            return lines
        return self._paginate(request, lines, lambda line: self._render_line(line, kind))

    def _create_commitment_line(self, request: Request, commitment_id: str) -> Response:
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        found = self._commitment_param(request, commitment_id, body)
        if isinstance(found, Response):
            return found
        if not isinstance(body.get("line_item"), dict):
            return _errors(400, "param is missing or the value is empty: line_item")
        line, problems = self._write_commitment_line(*found, None, body["line_item"])
        if problems:
            return _errors(422, problems)
        return json_response(201, self._render_line(line, "PurchaseOrderContract"))

    def _sync_commitment_lines(self, request: Request, commitment_id: str) -> Response:
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        found = self._commitment_param(request, commitment_id, body)
        if isinstance(found, Response):
            return found
        project, commitment = found

        def write(item: dict[str, Any]) -> tuple[dict[str, Any] | None, Problems]:
            if item.get("id") is None and item.get("origin_id") not in (None, ""):
                line = self._line_index.origin(str(item["origin_id"]))  # the index, not a scan
                line, problems = (line if line is not None and line["holder_id"] == commitment["id"] else None), {}
            else:
                line, problems = _match(self._commitment_lines, item,
                                        lambda li: li["holder_id"] == commitment["id"])
            return (None, problems) if problems else self._write_commitment_line(project, commitment, line, item)
        return _sync_answer(body.get("updates"), write, lambda line: self._render_line(line, "PurchaseOrderContract"))

    def _write_commitment_line(self, project: dict[str, Any], commitment: dict[str, Any],
                               line: dict[str, Any] | None, item: dict[str, Any]
                               ) -> tuple[dict[str, Any] | None, Problems]:
        if commitment["status"] == "Closed":
            return None, {"base": [CLOSED_COMMITMENT]}
        written, problems = self._write_line(self._commitment_lines, project, commitment["id"], line, item,
                                             require_type=False)
        if written is not None:
            _bump_holder(commitment, written)
        return written, problems

    def _delete_commitment_line(self, request: Request, commitment_id: str, line_id: str) -> Response:
        found = self._commitment_param(request, commitment_id)
        if isinstance(found, Response):
            return found
        line = self._commitment_lines.get(int(line_id))
        if line is None or line["holder_id"] != found[1]["id"]:
            return _errors(404, "Not Found")
        if found[1]["status"] == "Closed":
            return _errors(422, {"base": [CLOSED_COMMITMENT]})
        del self._commitment_lines[line["id"]]
        self._line_index.remove(line)
        found[1]["updated_at"] = max(found[1]["updated_at"], _iso(self.clock()))
        return Response(204)

    def _write_line(self, table: dict[int, dict[str, Any]], project: dict[str, Any], holder_id: int,
                    line: dict[str, Any] | None, item: dict[str, Any], *, require_type: bool
                    ) -> tuple[dict[str, Any] | None, Problems]:
        """Create (``line`` None) or update a commitment or direct cost line item."""
        changes, problems = _cast(item, LINE_ITEM_FIELDS)
        if "amount" in changes and changes["amount"] is None:
            problems["amount"] = ["is not a number"]
        if line is None or "cost_code_id" in changes:
            code_id = changes.get("cost_code_id")
            if code_id is None:
                problems.setdefault("cost_code_id", ["can't be blank"])
            elif code_id not in self._cost_codes or self._cost_codes[code_id]["project_id"] != project["id"]:
                problems["cost_code_id"] = ["is not a cost code of this project"]
        type_id = changes.get("line_item_type_id")
        if type_id is not None and type_id not in self._line_item_types:
            problems["line_item_type_id"] = ["is invalid"]
        elif require_type and line is None and type_id is None:
            problems.setdefault("line_item_type_id", ["can't be blank"])
        if table is self._commitment_lines:
            holder = self._line_index.origin(changes.get("origin_id"))
            taken = holder is not None and holder is not line
        else:
            taken = _origin_taken(table, changes.get("origin_id"), line)
        if taken:
            problems["origin_id"] = ["has already been taken"]
        if problems:
            return None, problems
        if "amount" in changes:
            changes["extended_type"] = "manual"
        elif "quantity" in changes or "unit_cost" in changes:  # amount = quantity × unit cost
            quantity = changes.get("quantity", line and line["quantity"])
            unit_cost = changes.get("unit_cost", line and line["unit_cost"])
            if quantity is not None and unit_cost is not None:
                changes.update(amount=_cents(quantity * unit_cost), extended_type="calculated")
        if line is not None:
            self._change(line, changes)
            return line, {}
        defaults = {name: None for name in LINE_ITEM_FIELDS}
        siblings = (len(self._line_index.by_holder.get(holder_id, [])) if table is self._commitment_lines
                    else sum(li["holder_id"] == holder_id for li in table.values()))
        defaults.update(amount=Decimal(0), extended_type="manual", position=1 + siblings)
        created = self._insert(table, {**defaults, **changes, "holder_id": holder_id, "project_id": project["id"]})
        if table is self._commitment_lines:
            self._line_index.add(created)
        return created, {}

    # -- direct costs ------------------------------------------------------------------------------

    def _list_direct_costs(self, request: Request, project_id: str) -> Response:
        project = self._projects.get(int(project_id))
        if project is None:
            return _errors(404, "Not Found")
        found = [d for d in _by_id(self._direct_costs) if d["project_id"] == project["id"]]
        for name in ("origin_id", "invoice_number"):
            value = request.param(f"filters[{name}]")
            if value:
                found = [d for d in found if d[name] == value]
        return self._paginate(request, found, self._render_direct_cost)

    def _show_direct_cost(self, request: Request, project_id: str, direct_cost_id: str) -> Response:
        direct_cost = self._direct_costs.get(int(direct_cost_id))
        if direct_cost is None or direct_cost["project_id"] != int(project_id):
            return _errors(404, "Not Found")
        return json_response(200, self._render_direct_cost(direct_cost))

    def _sync_direct_costs(self, request: Request, project_id: str) -> Response:
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        project = self._projects.get(int(project_id))
        if project is None:
            return _errors(404, "Not Found")

        def write(item: dict[str, Any]) -> tuple[dict[str, Any] | None, Problems]:
            direct_cost, problems = _match(self._direct_costs, item, lambda d: d["project_id"] == project["id"])
            return (None, problems) if problems else self._write_direct_cost(project, direct_cost, item)
        return _sync_answer(body.get("updates"), write, self._render_direct_cost)

    def _write_direct_cost(self, project: dict[str, Any], direct_cost: dict[str, Any] | None,
                           item: dict[str, Any]) -> tuple[dict[str, Any] | None, Problems]:
        changes, problems = _cast(item, DIRECT_COST_FIELDS)
        defaults = {name: None for name in DIRECT_COST_FIELDS}
        defaults["status"] = "draft"
        merged = {**(direct_cost or defaults), **changes}
        if direct_cost is None and merged["direct_cost_type"] is None:
            problems.setdefault("direct_cost_type", ["can't be blank"])
        if merged["vendor_id"] is not None and merged["vendor_id"] not in self._vendors:
            problems["vendor_id"] = ["is invalid"]
        elif merged["vendor_id"] is None and merged["direct_cost_type"] == "invoice" and "vendor_id" not in problems:
            problems["vendor"] = ["can't be blank"]  # as AGAVE users see it: "vendor: can't be blank"
        if _origin_taken(self._direct_costs, changes.get("origin_id"), direct_cost):
            problems["origin_id"] = ["has already been taken"]
        if problems:
            return None, problems
        if direct_cost is not None:
            self._change(direct_cost, changes)
            return direct_cost, {}
        return self._insert(self._direct_costs, {**merged, "project_id": project["id"]}), {}

    def _sync_direct_cost_lines(self, request: Request, project_id: str) -> Response:
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        project = self._projects.get(int(project_id))
        if project is None:
            return _errors(404, "Not Found")

        def write(item: dict[str, Any]) -> tuple[dict[str, Any] | None, Problems]:
            direct_cost = self._in_project(self._direct_costs, item.get("direct_cost_id"), project)
            if item.get("direct_cost_id") is not None and direct_cost is None:
                return None, {"direct_cost_id": ["is invalid"]}
            line, problems = _match(self._direct_cost_lines, item, lambda li: li["project_id"] == project["id"] and (
                direct_cost is None or li["holder_id"] == direct_cost["id"]))
            if problems:
                return None, problems
            if line is None and direct_cost is None:
                return None, {"direct_cost_id": ["can't be blank"]}
            holder_id = line["holder_id"] if line else direct_cost["id"]  # type: ignore[index]
            return self._write_line(self._direct_cost_lines, project, holder_id, line, item, require_type=True)
        return _sync_answer(body.get("updates"), write, lambda line: self._render_line(line, "DirectCost"))

    # -- requisitions (subcontractor invoices) -----------------------------------------------------

    def _list_requisitions(self, request: Request) -> Response:
        project = self._project_param(request)
        if isinstance(project, Response):
            return project
        found = [r for r in _by_id(self._requisitions) if r["project_id"] == project["id"]]
        for name in ("origin_id", "status"):
            value = request.param(f"filters[{name}]")
            if value:
                found = [r for r in found if r[name] == value]
        for name in ("commitment_id", "period_id"):
            value = request.param(f"filters[{name}]")
            if value:
                found = [r for r in found if r[name] == _int_or(value, -1)]
        found = _updated_filter(request, found)
        if isinstance(found, Response):
            return found
        return self._paginate(request, found, self._render_requisition)

    def _show_requisition(self, request: Request, requisition_id: str) -> Response:
        project = self._project_param(request)
        if isinstance(project, Response):
            return project
        requisition = self._in_project(self._requisitions, requisition_id, project)
        return json_response(200, self._render_requisition(requisition)) if requisition else _errors(404, "Not Found")

    def _create_requisition(self, request: Request) -> Response:
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        project = self._project_param(request, body)
        if isinstance(project, Response):
            return project
        fields = body.get("requisition") or {}
        if not isinstance(fields, dict):
            return _errors(400, "param is missing or the value is empty: requisition")
        commitment = self._in_project(self._commitments, body.get("commitment_id"), project)
        if commitment is None:
            return _errors(422, {"commitment_id": ["is invalid"]})
        changes, problems = self._check_requisition(project, None, fields)
        if problems:
            return _errors(422, problems)
        if changes.get("period_id") is None:
            open_periods = [p for p in self._billing_periods.values()
                            if p["project_id"] == project["id"] and p["status"] == "open"]
            if not open_periods:
                return _errors(422, NO_OPEN_PERIOD)
            changes["period_id"] = max(open_periods, key=lambda p: p["start_date"])["id"]
        requisition = self._new_requisition(project, commitment, changes)
        return json_response(201, self._render_requisition(requisition))

    def _new_requisition(self, project: dict[str, Any], commitment: dict[str, Any],
                         changes: dict[str, Any]) -> dict[str, Any]:
        """The next invoice of a commitment, with one item per commitment line (its schedule of values)."""
        earlier = [r for r in self._requisitions.values() if r["commitment_id"] == commitment["id"]]
        defaults = {name: None for name in REQUISITION_FIELDS}
        defaults["status"] = "draft"
        requisition = self._insert(self._requisitions, {
            **defaults, **changes, "project_id": project["id"], "commitment_id": commitment["id"],
            "number": len(earlier) + 1})
        earlier_ids = {r["id"] for r in earlier}
        for position, line in enumerate(self._lines_of(self._commitment_lines, commitment["id"]), start=1):
            before = [i for i in self._contract_items.values()
                      if i["requisition_id"] in earlier_ids and i["line_item_id"] == line["id"]]
            self._insert(self._contract_items, {
                "requisition_id": requisition["id"], "line_item_id": line["id"], "cost_code_id": line["cost_code_id"],
                "description_of_work": line["description"], "scheduled_value": line["amount"],
                "work_completed_from_previous_application": sum(
                    (i["work_completed_this_period"] for i in before), Decimal(0)),
                "retainage_from_previous_application": sum(
                    (i[name] for i in before for name in CONTRACT_ITEM_RETAINAGE), Decimal(0)),
                "work_completed_this_period": Decimal(0), "materials_presently_stored": Decimal(0),
                **{name: Decimal(0) for name in CONTRACT_ITEM_RETAINAGE}, "position": position})
        return requisition

    def _check_requisition(self, project: dict[str, Any], requisition: dict[str, Any] | None,
                           fields: dict[str, Any]) -> tuple[dict[str, Any], Problems]:
        changes, problems = _cast(fields, REQUISITION_FIELDS)
        if changes.get("period_id") is not None and self._in_project(
                self._billing_periods, changes["period_id"], project) is None:
            problems["period_id"] = ["is invalid"]
        if "status" in changes and changes["status"] is None:
            problems["status"] = ["is not included in the list"]
        if _origin_taken(self._requisitions, changes.get("origin_id"), requisition):
            problems["origin_id"] = ["has already been taken"]
        return changes, problems

    def _editable_requisition(self, request: Request, requisition_id: str,
                              body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | Response:
        """The project and requisition, if it is the latest of its commitment and still open (else 422)."""
        project = self._project_param(request, body)
        if isinstance(project, Response):
            return project
        requisition = self._in_project(self._requisitions, requisition_id, project)
        if requisition is None:
            return _errors(404, "Not Found")
        latest = max(r["number"] for r in self._requisitions.values()
                     if r["commitment_id"] == requisition["commitment_id"])
        if requisition["number"] != latest or requisition["status"] not in OPEN_REQUISITION_STATUSES:
            return _errors(422, NOT_LATEST_OPEN)
        return project, requisition

    def _update_requisition(self, request: Request, requisition_id: str) -> Response:
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        found = self._editable_requisition(request, requisition_id, body)
        if isinstance(found, Response):
            return found
        project, requisition = found
        fields = body.get("requisition")
        if not isinstance(fields, dict):
            return _errors(400, "param is missing or the value is empty: requisition")
        changes, problems = self._check_requisition(project, requisition, fields)
        if problems:
            return _errors(422, problems)
        self._change(requisition, changes)
        return json_response(200, self._render_requisition(requisition))

    def _list_contract_items(self, request: Request, requisition_id: str) -> Response:
        project = self._project_param(request)
        if isinstance(project, Response):
            return project
        requisition = self._in_project(self._requisitions, requisition_id, project)
        if requisition is None:
            return _errors(404, "Not Found")
        return self._paginate(request, self._items_of(requisition), self._render_contract_item)

    def _update_contract_item(self, request: Request, requisition_id: str, item_id: str) -> Response:
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        found = self._editable_requisition(request, requisition_id, body)
        if isinstance(found, Response):
            return found
        requisition = found[1]
        item = self._contract_items.get(int(item_id))
        if item is None or item["requisition_id"] != requisition["id"]:
            return _errors(404, "Not Found")
        fields = body.get("requisition_contract_item")
        if not isinstance(fields, dict):
            return _errors(400, "param is missing or the value is empty: requisition_contract_item")
        changes, problems = _cast(fields, CONTRACT_ITEM_FIELDS)
        problems.update({name: ["is not a number"] for name, value in changes.items() if value is None})
        if problems:
            return _errors(422, problems)
        self._change(item, {name: _cents(value) for name, value in changes.items()})
        requisition["updated_at"] = max(requisition["updated_at"], item["updated_at"])
        return json_response(200, self._render_contract_item(item))

    # -- payment applications (owner invoices, read only) --------------------------------------------

    def _render_payment_application_item(self, item: dict[str, Any]) -> dict[str, Any]:
        """A line of the owner invoice as the SPEC's "Payment Application (Owner Invoice) Contract Item"
        (RestV10PrimeContractsPrimeContractIdPaymentApplicationLineItemsIdPatch) names its fields. That
        SPEC leaves ``cost_code`` unspecified; we show ``{id, code, full_code, name}`` as project cost codes
        appear elsewhere (UNVERIFIED)."""
        code = self._cost_codes.get(item["cost_code_id"])
        previous, this, stored = (item["work_completed_from_previous_application"],
                                  item["work_completed_this_period"], item["materials_presently_stored"])
        to_date = previous + this + stored
        scheduled = item["scheduled_value"]
        return {
            "id": item["id"], "item_number": item["item_number"], "description_of_work": item["description_of_work"],
            "cost_code": {k: code[k] for k in ("id", "code", "full_code", "name")} if code else None,
            "scheduled_value": _money(scheduled), "work_completed_from_previous_application": _money(previous),
            "work_completed_this_period": _money(this), "materials_presently_stored": _money(stored),
            "total_completed_and_stored_to_date": _money(to_date),
            "total_completed_and_stored_to_date_percent": _money(to_date * 100 / scheduled) if scheduled else "0.00",
            "balance_to_finish": _money(scheduled - to_date),
            "work_completed_retainage_retained_this_period": _money(
                item["work_completed_retainage_retained_this_period"]),
        }

    def _render_payment_application(self, application: dict[str, Any], *, line_items: bool) -> dict[str, Any]:
        """The list shape of SPEC RestV10PrimeContractsPrimeContractIdPaymentApplicationsGet (the
        project-wide list's item schema is empty in the SPEC). The SPEC has no read of the line items,
        so the show answer carries them as ``line_items`` (our choice, documented in the module)."""
        items = sorted((i for i in self._payment_application_items.values()
                        if i["application_id"] == application["id"]), key=lambda i: i["item_number"])
        contract = next(c for c in self._prime_contracts.values() if c["id"] == application["contract_id"])
        scheduled = sum((i["scheduled_value"] for i in items), Decimal(0))
        this_period = sum((i["work_completed_this_period"] + i["materials_presently_stored"] for i in items),
                          Decimal(0))
        to_date = sum((i["work_completed_from_previous_application"] for i in items), Decimal(0)) + this_period
        retainage = sum((i["work_completed_retainage_retained_this_period"] for i in items), Decimal(0))
        previous = to_date - this_period
        shown = {
            "id": application["id"], "number": application["number"],
            "invoice_number": application["invoice_number"], "billing_date": application["billing_date"],
            "period_id": None, "period_start": application["period_start"], "period_end": application["period_end"],
            "status": application["status"],
            "percent_complete": _money(to_date * 100 / scheduled) if scheduled else "0.00",
            "total_amount_paid": "0.00", "total_amount_accrued_this_period": _money(this_period),
            "formatted_contract_company": application["formatted_contract_company"],
            "g702": {
                "original_contract_sum": _money(scheduled), "net_change_by_change_orders": "0.00",
                "contract_sum_to_date": _money(scheduled), "total_completed_and_stored_to_date": _money(to_date),
                "total_retainage": _money(retainage), "total_earned_less_retainage": _money(to_date - retainage),
                "less_previous_certificates_for_payment": _money(previous),
                "current_payment_due": _money(to_date - retainage - previous),
                "balance_to_finish_including_retainage": _money(scheduled - to_date + retainage),
            },
            "billing_period": {"start_date": application["period_start"], "end_date": application["period_end"]},
            "contract": dict(contract), "origin_id": application["origin_id"],
            "origin_data": application["origin_data"],
            "created_at": application["created_at"], "updated_at": application["updated_at"],
        }
        if line_items:
            shown["line_items"] = [self._render_payment_application_item(i) for i in items]
        return shown

    def _list_payment_applications(self, request: Request) -> Response:
        """SPEC RestV10PaymentApplicationsGet takes only project_id and paging: no filters (so none here)."""
        project = self._project_param(request)
        if isinstance(project, Response):
            return project
        found = [a for a in _by_id(self._payment_applications) if a["project_id"] == project["id"]]
        return self._paginate(request, found, lambda a: self._render_payment_application(a, line_items=False))

    def _show_payment_application(self, request: Request, application_id: str) -> Response:
        project = self._project_param(request)
        if isinstance(project, Response):
            return project
        application = self._in_project(self._payment_applications, application_id, project)
        if application is None:
            return _errors(404, "Not Found")
        return json_response(200, self._render_payment_application(application, line_items=True))

    # -- standard cost codes (company lists) ----------------------------------------------------------

    def _render_standard_code(self, code: dict[str, Any], view: str) -> dict[str, Any]:
        full = {**code, "full_code": self._standard_full_code(code)}
        return {name: full[name] for name in STANDARD_COST_CODE_VIEWS[view]}

    def _standard_full_code(self, code: dict[str, Any]) -> str:
        """Parent prefixes joined by "-" (UNVERIFIED: Procore's separator; our seeds use flat codes)."""
        parent = self._standard_codes.get(code["parent_id"]) if code["parent_id"] is not None else None
        return f"{self._standard_full_code(parent)}-{code['code']}" if parent else code["code"]

    def _list_standard_lists(self, request: Request) -> Response:
        return self._company_error(request.param("company_id")) or self._paginate(
            request, _by_id(self._standard_lists), _standard_list)

    def _standard_list_param(self, value: Any) -> dict[str, Any] | Response:
        if value in (None, ""):
            return _errors(400, "param is missing or the value is empty: standard_cost_code_list_id")
        return self._standard_lists.get(_int_or(value, -1)) or _errors(404, "Not Found")

    def _list_standard_codes(self, request: Request) -> Response:
        error = self._company_error(request.param("company_id"))
        if error:
            return error
        found = self._standard_list_param(request.param("standard_cost_code_list_id"))
        if isinstance(found, Response):
            return found
        codes = [c for c in _by_id(self._standard_codes) if c["standard_cost_code_list_id"] == found["id"]]
        origin_id = request.param("filters[origin_id]")
        if origin_id:
            codes = [c for c in codes if c["origin_id"] == origin_id]
        view = _view(request)
        if isinstance(view, Response):
            return view
        return self._paginate(request, codes, lambda c: self._render_standard_code(c, view))

    def _sync_standard_codes(self, request: Request) -> Response:
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        error = self._company_error(body.get("company_id"))
        if error:
            return error
        found = self._standard_list_param(body.get("standard_cost_code_list_id"))
        if isinstance(found, Response):
            return found
        view = _view(request)
        if isinstance(view, Response):
            return view

        def write(item: dict[str, Any]) -> tuple[dict[str, Any] | None, Problems]:
            code, problems = _match(self._standard_codes, item,
                                    lambda c: c["standard_cost_code_list_id"] == found["id"])
            return (None, problems) if problems else self._write_standard_code(found["id"], code, item)
        return _sync_answer(body.get("updates"), write, lambda c: self._render_standard_code(c, view))

    def _write_standard_code(self, list_id: int, code: dict[str, Any] | None,
                             item: dict[str, Any]) -> tuple[dict[str, Any] | None, Problems]:
        changes, problems = _cast(item, STANDARD_COST_CODE_FIELDS)
        merged = {**(code or {name: None for name in STANDARD_COST_CODE_FIELDS}), **changes}
        for name in ("code", "name"):
            if (code is None or name in changes) and not (merged[name] or "").strip():
                problems[name] = ["can't be blank"]
        parent_id = merged["parent_id"]
        if parent_id is not None and (self._standard_codes.get(parent_id, {}).get("standard_cost_code_list_id")
                                      != list_id or parent_id == (code or {}).get("id")):
            problems["parent_id"] = ["is invalid"]
        if merged["code"] and any(c["standard_cost_code_list_id"] == list_id and c["parent_id"] == parent_id
                                  and c["code"] == merged["code"] and c is not code
                                  for c in self._standard_codes.values()):
            problems["code"] = ["has already been taken"]
        if _origin_taken(self._standard_codes, changes.get("origin_id"), code):
            problems["origin_id"] = ["has already been taken"]
        if problems:
            return None, problems
        if code is not None:
            self._change(code, changes)
            return code, {}
        return self._insert(self._standard_codes, {**merged, "standard_cost_code_list_id": list_id}), {}

    # -- one-object writes (POST/PATCH with a wrapped body) ------------------------------------------

    def _write_one(self, request: Request, wrapper: str,
                   write: Callable[[dict[str, Any], dict[str, Any]], tuple[dict[str, Any] | None, Problems]],
                   render: Callable[[dict[str, Any]], dict[str, Any]], status: int) -> Response:
        """``{project_id, <wrapper>: {...}}`` → ``status`` with the object, or 422 ``{"errors": {...}}``."""
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        project = self._project_param(request, body)
        if isinstance(project, Response):
            return project
        if not isinstance(body.get(wrapper), dict):
            return _errors(400, f"param is missing or the value is empty: {wrapper}")
        record, problems = write(project, body[wrapper])
        if problems.get("id"):
            return _errors(404, "Not Found")
        return _errors(422, problems) if problems else json_response(status, render(record))  # type: ignore[arg-type]


# -- helpers shared by the sync endpoints and the financial objects ----------------------------------


def _sync_answer(updates: Any, write: Callable[[dict[str, Any]], tuple[dict[str, Any] | None, Problems]],
                 render: Callable[[dict[str, Any]], dict[str, Any]]) -> Response:
    """A ``/sync`` answer (procore.md §5.1): always 200 with ``entities`` and per-item ``errors``
    (the caller's item echoed back with an ``errors`` hash); 413 over 1,000 items."""
    if not isinstance(updates, list):
        return _errors(400, "param is missing or the value is empty: updates")
    if len(updates) > MAX_SYNC_ITEMS:
        return _errors(413, "Payload Too Large")
    entities, errors = [], []
    for item in updates:  # in order: a later item sees what an earlier one wrote
        if not isinstance(item, dict):
            errors.append({"item": item, "errors": {"base": ["is invalid"]}})
            continue
        record, problems = write(item)
        if problems or record is None:
            errors.append({**item, "errors": problems})
        else:
            entities.append(render(record))
    return json_response(200, {"entities": entities, "errors": errors})


def _match(table: dict[int, dict[str, Any]], item: dict[str, Any],
           scope: Callable[[dict[str, Any]], bool] = lambda record: True) -> tuple[dict[str, Any] | None, Problems]:
    """The record a sync item names (procore.md §5.1): by ``id`` when given (the only way to change
    ``origin_id``; unknown → error), else by ``origin_id`` (unknown → None: create), else None."""
    if item.get("id") is not None:
        record = table.get(_int_or(item["id"], -1))
        if record is None or not scope(record):
            return None, {"id": ["Entity with this ID not found"]}
        return record, {}
    origin_id = item.get("origin_id")
    if origin_id in (None, ""):
        return None, {}
    return next((r for r in table.values() if r["origin_id"] == str(origin_id) and scope(r)), None), {}


def _origin_taken(table: dict[int, dict[str, Any]], origin_id: str | None, record: dict[str, Any] | None) -> bool:
    """Whether another record of this kind holds ``origin_id`` (unique per kind within the company)."""
    return origin_id is not None and any(r["origin_id"] == origin_id and r is not record for r in table.values())


def _cast(item: dict[str, Any], fields: dict[str, Any]) -> tuple[dict[str, Any], Problems]:
    """The known fields of a request item cast as Procore stores them (Rails-style messages for
    values that do not fit); unknown keys are ignored, ``null`` clears a field, ``""`` is null."""
    changes: dict[str, Any] = {}
    problems: Problems = {}
    for name, kind in fields.items():
        if name not in item:
            continue
        value = item[name]
        if value is None or (value == "" and kind is not str):
            if isinstance(kind, tuple) or kind is bool:
                problems[name] = ["is not included in the list"] if isinstance(kind, tuple) else ["is invalid"]
            else:
                changes[name] = None
            continue
        try:
            changes[name] = _cast_one(value, kind)
        except (TypeError, ValueError, ArithmeticError):
            problems[name] = (["is not a number"] if kind is Decimal else
                              ["is not included in the list"] if isinstance(kind, tuple) else ["is invalid"])
    if changes.get("origin_id") == "":
        changes["origin_id"] = None
    return changes, problems


def _cast_one(value: Any, kind: Any) -> Any:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(kind, tuple):
        if value not in kind:
            raise ValueError(value)
        return value
    if kind is str:
        if is_number:
            return str(value)  # Rails casts numbers given for string columns
        if not isinstance(value, str):
            raise TypeError(value)
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError(value)
        return value
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise ValueError(value)
    if kind is Decimal:
        if not (is_number or isinstance(value, str)):
            raise TypeError(value)
        number = Decimal(str(value).strip())
        if not number.is_finite():
            raise ValueError(value)
        return number
    if kind is date:
        if not isinstance(value, str):
            raise TypeError(value)
        return _date_text(value)
    raise AssertionError(kind)


def _date_text(value: date | str) -> str:
    """``YYYY-MM-DD``; a datetime string keeps only its date, as Rails does for date columns."""
    return (date.fromisoformat(value[:10]) if isinstance(value, str) else value).isoformat()


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


def _money(value: Decimal) -> str:
    return f"{_cents(value):f}"


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def _by_id(table: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    return [table[record_id] for record_id in sorted(table)]


def _line_item_type(kind: dict[str, Any]) -> dict[str, Any]:
    return {name: kind[name] for name in ("id", "name", "code", "base_type", "origin_id", "origin_data")}


# -- helpers ------------------------------------------------------------------------------------


def _public(vendor: dict[str, Any]) -> dict[str, Any]:
    return {**vendor, "company": dict(vendor["company"])}


def _writable_fields(item: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The known fields of a request item, typed as Procore stores them; unknown keys are ignored."""
    changes: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for name in VENDOR_FIELDS:
        if name not in item:
            continue
        value = item[name]
        if name == "is_active":
            if not isinstance(value, bool):
                problems[name] = ["is invalid"]
                continue
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # Rails casts numbers given for string columns
        elif value is not None and not isinstance(value, str):
            problems[name] = ["is invalid"]
            continue
        changes[name] = value
    if changes.get("origin_id") == "":
        changes["origin_id"] = None
    return changes, problems


def _validate(changes: dict[str, Any], merged: dict[str, Any], *, creating: bool) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    name = merged.get("name")
    if (creating or "name" in changes) and not (name or "").strip():
        problems["name"] = ["can't be blank"]
    elif name and len(name) > 255:
        problems["name"] = ["is too long (maximum is 255 characters)"]
    country, state = merged.get("country_code"), merged.get("state_code")
    if "country_code" in changes and country and country not in COUNTRY_CODES:
        problems["country_code"] = ["is invalid"]
    if ("state_code" in changes or "country_code" in changes) and state:
        known = STATE_CODES_BY_COUNTRY.get(country or "")
        if not (state in known if known else re.fullmatch(r"[A-Za-z0-9]{1,3}", state)):
            problems["state_code"] = ["is invalid"]
    return problems


def _json_object(request: Request) -> dict[str, Any] | Response:
    try:
        body = request.json()
    except ValueError:
        return _errors(400, "There was a problem in the JSON you submitted")
    return body if isinstance(body, dict) else _errors(400, "The request body must be a JSON object")


def _form_params(request: Request) -> dict[str, str]:
    """Token request parameters from a form-urlencoded, JSON or multipart body."""
    content_type = request.headers.get("Content-Type", "")
    if "json" in content_type:
        try:
            body = request.json()
        except ValueError:
            return {}
        return {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    if "multipart/form-data" in content_type:
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + request.body)
        return {part.get_param("name", header="content-disposition"): part.get_content().strip()
                for part in message.iter_parts()}
    return dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))


def _int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _time_range(text: str) -> tuple[datetime, datetime]:
    """``<iso>...<iso>`` (procore.md §5.11); a missing end is open. A single time means "from then on".
    A plain date (``YYYY-MM-DD``) starts at midnight and, as an end, covers its whole day."""
    start, _, end = text.partition("...")
    low = _bound(start, end=False) if start.strip() else datetime.min.replace(tzinfo=UTC)
    high = _bound(end, end=True) if end.strip() else datetime.max.replace(tzinfo=UTC)
    return low, high


def _bound(text: str, *, end: bool) -> datetime:
    text = text.strip().strip('"')
    # An unencoded "+05:00" arrives as " 05:00" (a "+" in a query string is a space).
    text = re.sub(r"(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$", r"\1+\2", text)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = date.fromisoformat(text)
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return moment.replace(hour=23, minute=59, second=59, microsecond=999_999) if end else moment
    return _parse_time(text)


def _updated_filter(request: Request, records: list[dict[str, Any]]) -> list[dict[str, Any]] | Response:
    """The records whose ``updated_at`` lies in ``filters[updated_at]`` (all when absent; 400 when unreadable)."""
    value = request.param("filters[updated_at]")
    if not value:
        return records
    try:
        start, end = _time_range(value)
    except ValueError:
        return _errors(400, f"Invalid value for filters[updated_at]: {value!r}")
    return [r for r in records if start <= _parse_time(r["updated_at"]) <= end]


def _bump_holder(holder: dict[str, Any], part: dict[str, Any]) -> None:
    """A changed line moves its holder's ``updated_at`` along (UNVERIFIED for real Procore)."""
    holder["updated_at"] = max(holder["updated_at"], part["updated_at"])


def _view(request: Request) -> str | Response:
    view = request.param("view") or "default"
    if view not in STANDARD_COST_CODE_VIEWS:
        return _errors(400, f"view must be one of {', '.join(STANDARD_COST_CODE_VIEWS)}")
    return view


def _standard_list(found: dict[str, Any]) -> dict[str, Any]:
    return {name: found[name] for name in ("id", "name", "is_erp_list", "available_to_use_on_new_projects")}


def _seed_value(kind: Any, value: Any) -> Any:
    """A value given to a seed or touch helper, stored as the API would store it."""
    if value is None or kind is None:
        return value
    if isinstance(kind, tuple) and value not in kind:
        raise ValueError(f"{value!r} is not one of {kind}")
    if kind is Decimal:
        return Decimal(str(value))
    if kind is date:
        return _date_text(value)
    if kind is int and not isinstance(value, int):
        return int(value)
    return value


def _requisition_summary(items: list[dict[str, Any]]) -> dict[str, str]:
    """The G702-style ``summary`` of a subcontractor invoice from its items (no change orders here)."""
    def total(*names: str) -> Decimal:
        return sum((item[name] for item in items for name in names), Decimal(0))
    scheduled = total("scheduled_value")
    previous = total("work_completed_from_previous_application")
    to_date = previous + total("work_completed_this_period", "materials_presently_stored")
    retained_before = total("retainage_from_previous_application")
    retainage = retained_before + total(*CONTRACT_ITEM_RETAINAGE)
    earned = to_date - retainage
    certified_before = previous - retained_before
    return {
        "original_contract_sum": _money(scheduled), "net_change_by_change_orders": "0.00",
        "contract_sum_to_date": _money(scheduled), "total_completed_and_stored_to_date": _money(to_date),
        "total_retainage": _money(retainage), "total_earned_less_retainage": _money(earned),
        "less_previous_certificates_for_payment": _money(certified_before),
        "current_payment_due": _money(earned - certified_before),
        "balance_to_finish_including_retainage": _money(scheduled - earned),
    }


