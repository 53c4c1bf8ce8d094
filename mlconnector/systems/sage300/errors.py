"""Sage 300 Web API error bodies: ``{"error": {"code", "message": {"lang", "value"}}}``.

The code is more precise than the HTTP status (sage300_syspro.md §5); bodies may come as
``text/plain``, so we parse JSON whatever the content type and fall back to the raw text.
"""

from __future__ import annotations

import json

import httpx

from mlconnector.errors import AuthError, PermissionDenied, ResponseError
from mlconnector.http import body_excerpt
from mlconnector.redact import scrub
from mlconnector.systems.sage300.auth import unauthorized_hint


def odata_error(response: httpx.Response) -> tuple[str | None, str]:
    """(code, message) from an OData error body, or (None, an excerpt of the body)."""
    try:
        body = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None, body_excerpt(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, body_excerpt(response)
    message = error.get("message")
    if isinstance(message, dict):
        message = message.get("value")
    inner = error.get("innererror")
    if isinstance(inner, dict) and inner.get("message"):
        message = f"{message} ({inner['message']})"
    code = error.get("code")
    return (str(code) if code else None), scrub(str(message or "no message"))


def raise_for_error(response: httpx.Response, *, system: str, what: str, uppercase_password: bool) -> None:
    status = response.status_code
    code, message = odata_error(response)
    text = f"{what}: {message}"
    if status == 401 or code == "Unauthorized":
        raise AuthError(text, system=system, status=status, code=code,
                        hint=unauthorized_hint(system, uppercase_password=uppercase_password))
    if status == 403 or code == "Forbidden":
        raise PermissionDenied(
            text, system=system, status=status, code=code,
            hint="The user signs in but lacks a right: give it the 'Sage 300 Web API' security "
            "authorization and rights on the module (AP, PO).",
        )
    raise ResponseError(text, system=system, status=status, code=code)
