"""Procore error bodies, turned into messages and exception classes.

Procore's 4xx bodies vary by endpoint (procore.md §7): ``{"errors": "..."}``,
``{"errors": {"field": ["msg"]}}``, ``{"errors": {"base": [...], "fields": {...}}}``,
``{"error": "..."}``, ``{"error": {"code", "message"}}``, ``{"message": ...}``, OAuth's
``{"error", "error_description"}``. We accept all of them.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from mlconnector.errors import AuthError, PermissionDenied, RemoteError, ResponseError
from mlconnector.http import body_excerpt
from mlconnector.redact import scrub


def describe_errors(errors: Any) -> str:
    """Render an ``errors`` value (string, list, or dict of field -> messages) as one line."""
    if errors is None:
        return ""
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list):
        return "; ".join(describe_errors(e) for e in errors if e not in (None, ""))
    if isinstance(errors, dict):
        parts = []
        for field, messages in errors.items():
            text = describe_errors(messages)
            # "base" holds record-level messages; "fields" nests field -> messages (ErrorsResponse).
            parts.append(text if field in ("base", "fields") else f"{field}: {text}")
        return "; ".join(p for p in parts if p)
    return str(errors)


def error_message(response: httpx.Response) -> str:
    """The most useful human text in a Procore error response."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return body_excerpt(response)
    if isinstance(body, dict):
        for key in ("errors", "error", "message"):
            value = body.get(key)
            if isinstance(value, dict) and "message" in value and key == "error":
                return scrub(str(value["message"]))
            if value:
                text = describe_errors(value)
                description = body.get("error_description")
                return scrub(f"{text}: {description}" if description else text)
    return body_excerpt(response)


def raise_for_error(response: httpx.Response, *, system: str, what: str) -> None:
    """Raise the right RemoteError for a non-2xx answer that is not retried."""
    status = response.status_code
    message = f"{what}: {error_message(response)}"
    request_id = response.headers.get("X-Request-Id")
    if status == 401:
        raise AuthError(
            message,
            system=system,
            status=status,
            request_id=request_id,
            hint=f"Check the client id and secret (`mlconnector credentials set {system}`) and that "
            "the app is installed for this company.",
        )
    if status == 403:
        raise PermissionDenied(
            message,
            system=system,
            status=status,
            request_id=request_id,
            hint="The service account lacks a permission, the tool is disabled in the project, or "
            "the app is not connected to this company (App Management).",
        )
    cls = ResponseError if 400 <= status < 600 else RemoteError
    raise cls(message, system=system, status=status, request_id=request_id)
