"""Intacct error blocks, turned into one readable message and the right exception class.

Every level of a response (control, authentication, result) reports failure the same way:
``<errormessage><error>(errorno, description?, description2?, correction?)</error>…`` and often
several errors for one failure (intacct_sage100.md §3). ``errorno`` is free text as often as a
code ("Query Failed", "Invalid fields list x"), so a message joins all four parts.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from lxml import etree

from mlconnector.errors import AuthError, PermissionDenied, ResponseError
from mlconnector.redact import scrub

# Sign-in failed, invalid session, unauthorised sender: the gateway uses this one code for all.
SIGN_IN_FAILED = "XL03000006"
RATE_LIMITED = "GW-0010"
# Answers that say "not now" rather than "no" (intacct_sage100.md §3: SDK and tap behaviour).
_TRANSIENT_TEXT = ("api rate limit exceeded", "temporarily off-line", "temporarily offline", "please try again later")
_SUPPORT_ID = re.compile(r"\[Support ID: ([^\]]*)\]")


@dataclass(frozen=True)
class IntacctErrorDetail:
    """One ``<error>`` of an ``<errormessage>``."""

    errorno: str = ""
    description: str = ""
    description2: str = ""
    correction: str = ""

    @property
    def message(self) -> str:
        """"BL34000061 Another Project … already exists — Use a unique value instead." """
        text = " ".join(p for p in (self.errorno, self.description, self.description2) if p)
        if self.correction:
            text = f"{text} — {self.correction}" if text else self.correction
        # The gateway URL-encodes the support id it appends ("[Support ID: abc%7Edef]").
        return _SUPPORT_ID.sub(lambda m: f"[Support ID: {urllib.parse.unquote(m.group(1))}]", text)

    @property
    def transient(self) -> bool:
        if self.errorno.strip().upper() == RATE_LIMITED:
            return True
        text = " ".join((self.errorno, self.description, self.description2, self.correction)).lower()
        return any(marker in text for marker in _TRANSIENT_TEXT)


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def parse_errors(container: etree._Element | None) -> list[IntacctErrorDetail]:
    """The errors of an ``<errormessage>`` that is a child of ``container`` (none when absent)."""
    if container is None:
        return []
    details = []
    for error in container.findall("errormessage/error"):
        details.append(IntacctErrorDetail(*(_clean(error.findtext(tag)) for tag in
                                             ("errorno", "description", "description2", "correction"))))
    return details


def join_errors(details: list[IntacctErrorDetail]) -> str:
    """All errors as one line, secrets scrubbed; repeated messages said once."""
    messages = list(dict.fromkeys(d.message for d in details if d.message))
    return scrub("; ".join(messages)) if messages else "no error details given"


class IntacctResultError(ResponseError):
    """One function failed (``failure``) or was rolled back (``aborted``); the others may have run.

    ``errors`` keeps each error so a writer can quarantine the one record with the gateway's words.
    """

    def __init__(self, message: str, *, system: str, errors: list[IntacctErrorDetail], function: str,
                 controlid: str, result_status: str, hint: str | None = None) -> None:
        code = next((d.errorno for d in errors if d.errorno), None)
        super().__init__(message, system=system, code=code, hint=hint)
        self.errors = errors
        self.function = function
        self.controlid = controlid
        self.result_status = result_status

    def has_error(self, errorno: str) -> bool:
        return any(d.errorno == errorno for d in self.errors)


def _mentions_permission(details: list[IntacctErrorDetail]) -> bool:
    return any("permission" in d.message.lower() for d in details)


def envelope_error(details: list[IntacctErrorDetail], *, level: str, system: str, what: str,
                   status: int | None = None, signing_in: bool = False) -> ResponseError:
    """The exception for a control- or authentication-level failure (nothing was executed)."""
    message = f"{what}: {join_errors(details)}"
    code = next((d.errorno for d in details if d.errorno), None)
    if _mentions_permission(details):
        return PermissionDenied(
            message, system=system, status=status, code=code,
            hint="The Web Services user signs in but lacks a right: give its role the permissions on "
            "the modules used (Accounts Payable, General Ledger, Projects) in Company > Roles.",
        )
    if code in (SIGN_IN_FAILED, "XMLGW_JPP0002") or status == 401:
        if level == "control":
            hint = (f"Check sender_id and the sender password (`mlconnector credentials set {system}`), and "
                    "that the company lists the sender id under Company > Web Services authorizations.")
        elif signing_in:
            hint = (f"Check user_id, company_id and entity_id in the configuration and the user password "
                    f"(`mlconnector credentials set {system}`); the user must be a Web Services user, and the "
                    "sender id must be authorised in the company (Company > Web Services authorizations).")
        else:
            hint = "The session was refused even after signing in again; run again, and check the user's status."
        return AuthError(message, system=system, status=status, code=code, hint=hint)
    return ResponseError(message, system=system, status=status, code=code)
