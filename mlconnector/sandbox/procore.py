"""A Procore REST API simulator: OAuth client credentials, company header, rate limits, vendors.

Login and API are served by the same server. Behaviour follows shared/reference/procore.md:
§1 auth, §2 ``Procore-Company-Id``, §3 rate limits, §4 pagination, §5.1 vendors and the
``/sync`` semantics, §7 error bodies.
"""

from __future__ import annotations

import math
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl, urlencode

from mlconnector.sandbox._iso3166 import COUNTRY_CODES, STATE_CODES_BY_COUNTRY
from mlconnector.sandbox._server import Request, Response, SimulatorServer, json_response

API = "/rest/v1.0"
FIRST_VENDOR_ID = 562_949_953_421_312  # 2**49: ids beyond 32 bits catch int32 bugs in clients
MAX_SYNC_ITEMS = 1000
DEFAULT_PER_PAGE, MAX_PER_PAGE = 100, 1000

# The "extended view" subset we store, in response order (besides id, timestamps, company).
VENDOR_FIELDS = (
    "name", "abbreviated_name", "address", "city", "state_code", "country_code", "zip",
    "business_phone", "mobile_phone", "fax_number", "email_address", "website", "is_active",
    "origin_id", "origin_code", "origin_data", "notes", "license_number",
)

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

    # -- Python API for tests ------------------------------------------------------------------

    def set_rate_limits(self, *, hourly: int | None = None, spike: int | None = None,
                        spike_window: float | None = None) -> None:
        """Change the limits; both windows start afresh."""
        with self.lock:
            self._hourly = _RateWindow(self._hourly.limit if hourly is None else hourly, 3600)
            self._spike = _RateWindow(self._spike.limit if spike is None else spike,
                                      self._spike.length if spike_window is None else spike_window)

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

    def _paginate(self, request: Request, items: list[dict[str, Any]]) -> Response:
        per_page = min(MAX_PER_PAGE, max(1, _int_or(request.param("per_page"), DEFAULT_PER_PAGE)))
        page = max(1, _int_or(request.param("page"), 1))
        last = max(1, math.ceil(len(items) / per_page))
        rels = [("first", 1)] + ([("prev", page - 1)] if page > 1 else []) + [("last", last)]
        if page < last:
            rels.append(("next", page + 1))
        link = ", ".join(f'<{self._page_url(request, number)}>; rel="{rel}"' for rel, number in rels)
        body = [_public(v) for v in items[(page - 1) * per_page: page * per_page]]
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
        updates = body.get("updates")
        if not isinstance(updates, list):
            return _errors(400, "param is missing or the value is empty: updates")
        if len(updates) > MAX_SYNC_ITEMS:
            return _errors(413, "Payload Too Large")
        entities, errors = [], []
        for item in updates:  # in order: a later item sees what an earlier one wrote
            if not isinstance(item, dict):
                errors.append({"item": item, "errors": {"base": ["is invalid"]}})
                continue
            vendor, problems = self._sync_one(item)
            if problems:
                errors.append({**item, "errors": problems})
            else:
                entities.append(_public(vendor))
        return json_response(200, {"entities": entities, "errors": errors})

    def _sync_one(self, item: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
        """Match as procore.md §5.1 says: on ``id`` when given (the only way to change ``origin_id``),
        else on ``origin_id`` (create when unknown), else create."""
        if item.get("id") is not None:
            vendor = self._vendors.get(_int_or(item["id"], -1))
            if vendor is None:
                return None, {"id": ["Entity with this ID not found"]}
            return self._write(vendor, item)
        if item.get("origin_id") not in (None, ""):
            return self._write(self._by_origin_id(str(item["origin_id"])), item)
        return self._write(None, item)

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
        return vendor, {}

    def _store_new(self, fields: dict[str, Any]) -> dict[str, Any]:
        vendor_id = fields.get("id") or self._next_id
        self._next_id = max(self._next_id, vendor_id + 1)
        now = _iso(self.clock())
        vendor = {"id": vendor_id, **{name: fields.get(name) for name in VENDOR_FIELDS}}
        if vendor["is_active"] is None:
            vendor["is_active"] = True
        vendor["created_at"] = fields.get("created_at") or now
        vendor["updated_at"] = fields.get("updated_at") or vendor["created_at"]
        vendor["company"] = {"id": self.company_id, "name": self.company_name}
        self._vendors[vendor_id] = vendor
        return vendor

    def _by_origin_id(self, origin_id: str) -> dict[str, Any] | None:
        return next((v for v in self._vendors.values() if v["origin_id"] == origin_id), None)


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
    """``<iso>...<iso>``; a missing end is open. A single time means "from then on"."""
    start, _, end = text.partition("...")
    low = _parse_time(start) if start.strip() else datetime.min.replace(tzinfo=UTC)
    high = _parse_time(end) if end.strip() else datetime.max.replace(tzinfo=UTC)
    return low, high


