"""Scrubbing of recorded exchanges and the leak scanner for cassettes (anchors.md §6.2).

Scrub both sides: vcrpy's ``filter_headers`` only touches request headers, so ``Set-Cookie``,
token bodies and anything echoed back need ``before_record_response``. Every value the
redactor knows (sandbox credentials, issued tokens) is masked on both sides as well.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from mlconnector import redact

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
PLACEHOLDER = "REDACTED"
TOKEN_PLACEHOLDER = "REDACTED-ACCESS-TOKEN"

SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
DROPPED_RESPONSE_HEADERS = frozenset({"set-cookie", "set-cookie2"})
SECRET_FORM_FIELDS = frozenset({"client_id", "client_secret", "refresh_token", "password", "code"})
SECRET_JSON_KEYS = frozenset({"access_token", "refresh_token", "id_token", "client_secret", "client_id", "password"})

# Every secret value seen while recording in this session (credentials, issued tokens). The
# redactor is cleared after each test (tests/conftest.py), so the scanner keeps its own copy.
RECORDED_SECRETS: set[str] = set()

# Demo credentials that circulate publicly (Sage's samples); they must never be in a cassette either.
WELL_KNOWN_SECRETS = ("ADMIN:ADMIN", "WEBAPI:WEBAPI")


# -- scrubbing (vcr_config callbacks) ------------------------------------------------------------------


def _scrub_json(value: Any) -> tuple[Any, bool]:
    """Replace secret-named values in a JSON document; (document, whether anything changed)."""
    if isinstance(value, dict):
        changed = False
        out = {}
        for key, item in value.items():
            if isinstance(key, str) and key.lower() in SECRET_JSON_KEYS and item not in (None, ""):
                out[key] = TOKEN_PLACEHOLDER if key.lower() == "access_token" else PLACEHOLDER
                changed = True
            else:
                out[key], sub = _scrub_json(item)
                changed |= sub
        return out, changed
    if isinstance(value, list):
        items = [_scrub_json(v) for v in value]
        return [v for v, _ in items], any(c for _, c in items)
    return value, False


def _scrub_body(body: bytes | str | None, content_type: str) -> bytes | str | None:
    if not body:
        return body
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return body  # binary: nothing of ours is binary; the scanner still reads it
    if "x-www-form-urlencoded" in content_type:
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True)
        if any(name in SECRET_FORM_FIELDS for name, _ in pairs):
            text = urllib.parse.urlencode([(n, PLACEHOLDER if n in SECRET_FORM_FIELDS else v) for n, v in pairs])
    elif text.lstrip()[:1] in ("{", "["):
        try:
            document, changed = _scrub_json(json.loads(text))
        except ValueError:
            changed = False
        if changed:
            text = json.dumps(document, ensure_ascii=False)
    text = redact.scrub(text)
    return text.encode("utf-8") if isinstance(body, bytes) else text


def scrub_request(request):
    """vcrpy ``before_record_request``: also applied to live requests before matching, so it is pure."""
    for name in list(request.headers):
        if name.lower() in SECRET_HEADERS:
            request.headers[name] = PLACEHOLDER
        else:
            request.headers[name] = redact.scrub(request.headers[name])
    content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")
    body = request.body = _scrub_body(request.body, content_type)
    if body is not None:  # earlier filters (filter_post_data_parameters) may have changed it too
        for name in list(request.headers):
            if name.lower() == "content-length":
                request.headers[name] = str(len(body.encode("utf-8") if isinstance(body, str) else body))
    request.uri = redact.scrub(request.uri)
    return request


def scrub_response(response: dict) -> dict:
    """vcrpy ``before_record_response``: drop cookies, mask tokens and every registered secret."""
    headers: dict[str, list[str]] = response["headers"]
    for name in list(headers):
        if name.lower() in DROPPED_RESPONSE_HEADERS:
            del headers[name]
        elif name.lower() in SECRET_HEADERS:
            headers[name] = [PLACEHOLDER]
        else:
            headers[name] = [redact.scrub(v) for v in headers[name]]
    content_type = next((v[0] for k, v in headers.items() if k.lower() == "content-type" and v), "")
    body = response["body"]["string"]
    scrubbed = _scrub_body(body, content_type)
    if scrubbed != body:
        response["body"]["string"] = scrubbed
        size = len(scrubbed.encode("utf-8") if isinstance(scrubbed, str) else scrubbed)
        for name in headers:
            if name.lower() == "content-length":
                headers[name] = [str(size)]
    return response


# -- the leak scanner ------------------------------------------------------------------------------------

_AUTH_VALUE = re.compile(r"(?i)\b(basic|bearer)\s+(?!realm=)([A-Za-z0-9+/=._~-]{8,})")
_FORM_SECRET = re.compile(
    r"(?i)\b(client_secret|client_id|password|refresh_token|access_token)=(?!REDACTED\b)([^&\s'\"]+)")
_JSON_SECRET = re.compile(
    r"(?i)\\?[\"'](access_token|refresh_token|id_token|client_secret|client_id|password)\\?[\"']\s*:\s*"
    r"\\?[\"'](?!REDACTED)([^\"'\\]+)")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{12,}={0,2}(?![A-Za-z0-9+/=])")
_BASIC_PAIR = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,31}:[\x21-\x7e]{3,}$")
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9._~+/=-]{20,}$")


def _strings(node: Any, key: str = "") -> list[tuple[str, str]]:
    """Every (parent key, text) leaf of a parsed cassette; bytes (``!!binary``) decoded."""
    if isinstance(node, dict):
        return [pair for k, v in node.items() for pair in _strings(v, str(k))]
    if isinstance(node, list):
        return [pair for v in node for pair in _strings(v, key)]
    if isinstance(node, bytes):
        return [(key, node.decode("utf-8", "replace"))]
    if isinstance(node, str):
        return [(key, node)]
    return []


def _header_values(node: Any) -> list[tuple[str, str]]:
    """(header name, value) for every header map in the cassette."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "headers" and isinstance(value, dict):
                for name, values in value.items():
                    for item in values if isinstance(values, list) else [values]:
                        found.append((str(name), str(item)))
            else:
                found.extend(_header_values(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_header_values(item))
    return found


def scan_text(text: str, *, known: list[str] = ()) -> list[str]:
    """Leaks in one piece of text: auth values, secret form/JSON fields, Basic pairs, known secrets."""
    problems = []
    for match in _AUTH_VALUE.finditer(text):
        problems.append(f"an Authorization {match.group(1)} value ({match.group(2)[:6]}…)")
    for match in _FORM_SECRET.finditer(text):
        problems.append(f"a form field {match.group(1)}= with a value")
    for match in _JSON_SECRET.finditer(text):
        problems.append(f"a JSON {match.group(1)} with a value")
    for match in _BASE64.finditer(text):
        blob = match.group(0)
        try:
            decoded = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if _BASIC_PAIR.match(decoded):
            problems.append(f"base64 user:password credentials ({blob[:6]}…)")
    for secret in known:
        if secret and secret in text:
            problems.append(f"a registered secret value ({secret[:3]}…)")
    return problems


def scan_cassette(path: Path, *, known: list[str] = ()) -> list[str]:
    """Every leak found in one cassette file, as readable lines."""
    text = path.read_text(encoding="utf-8", errors="replace")
    known = list(known) + [s for s in WELL_KNOWN_SECRETS] + [base64.b64encode(s.encode()).decode()
                                                              for s in WELL_KNOWN_SECRETS]
    problems = scan_text(text, known=known)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"{path.name}: not readable YAML ({exc})"]
    for _, value in _strings(document):
        problems.extend(scan_text(value, known=known))
    for name, value in _header_values(document):
        lowered = name.lower()
        if lowered in SECRET_HEADERS and value != PLACEHOLDER:
            problems.append(f"header {name} not redacted")
        if lowered in DROPPED_RESPONSE_HEADERS:
            problems.append(f"header {name} recorded")
        if "token" in lowered and _TOKEN_SHAPE.match(value):
            problems.append(f"header {name} holds a token-shaped value")
    return [f"{path.name}: {p}" for p in dict.fromkeys(problems)]
