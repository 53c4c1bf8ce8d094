"""Scrub secrets by value from everything that leaves the process.

Every credential resolved by :mod:`mlconnector.secrets` and every token a client receives is
registered here. Logs, error messages, audit and quarantine rows, tracebacks and recorded
cassettes all pass through :func:`scrub`. Matching is by value, not by key name, because a
secret can surface anywhere: a URL, a Basic header, an echoed request body (anchors.md §2 #9).
"""

from __future__ import annotations

import base64
import logging
import threading
import urllib.parse
from typing import Any

MASK = "****"
# Shorter values would mask ordinary words; a secret this short is not worth the damage.
MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_ordered: list[str] = []


def _variants(value: str) -> set[str]:
    forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    forms.add(base64.b64encode(value.encode()).decode())
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


def register(value: str | None) -> None:
    """Remember a secret value so that :func:`scrub` hides it from now on."""
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        new = _variants(value) - _secrets
        if not new:
            return
        _secrets.update(new)
        # Longest first, so a secret that contains another is masked whole.
        _ordered[:] = sorted(_secrets, key=len, reverse=True)


def register_basic_auth(username: str, password: str) -> None:
    """Register the Base64 form of ``username:password`` as sent in a Basic header."""
    if password:
        register(base64.b64encode(f"{username}:{password}".encode()).decode())


def scrub(text: str) -> str:
    """Return ``text`` with every registered secret replaced by ``****``."""
    if not text or not _ordered:
        return text
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def scrub_obj(value: Any) -> Any:
    """Scrub strings inside nested dicts, lists and tuples (for JSON payloads)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub_obj(k): scrub_obj(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(scrub_obj(v) for v in value)
    return value


def known_secrets() -> list[str]:
    """The registered values (tests use this to scan files for leaks)."""
    with _lock:
        return list(_ordered)


def forget_all() -> None:
    """Clear the registry (tests only)."""
    with _lock:
        _secrets.clear()
        _ordered.clear()


class RedactingFilter(logging.Filter):
    """A logging filter that renders the message and scrubs it, arguments and traceback included."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = scrub(message)
        record.args = None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


def install_logging_filter(logger: logging.Logger | None = None) -> None:
    """Attach the filter to every handler of ``logger`` (the root logger by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
