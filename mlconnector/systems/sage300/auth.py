"""HTTP Basic for the Sage 300 Web API (sage300_syspro.md §2).

The user id is sent upper-case (every Sage example does, and Sage user ids are upper-case);
the password is sent exactly as configured, because Sage 300 2024+ passwords are mixed-case.
Older versions stored passwords upper-case: ``uppercase_password: true`` covers them.
"""

from __future__ import annotations

import httpx

from mlconnector import redact


def basic_auth(username: str, password: str, *, uppercase_password: bool) -> httpx.BasicAuth:
    user = username.upper()
    secret = password.upper() if uppercase_password else password
    redact.register(secret)
    redact.register_basic_auth(user, secret)
    return httpx.BasicAuth(user, secret)


def unauthorized_hint(system: str, *, uppercase_password: bool) -> str:
    hint = (
        f"Check the user id in the configuration and the password (`mlconnector credentials set {system}`); "
        "the user needs the 'Sage 300 Web API' security right."
    )
    if not uppercase_password:
        hint += " Older Sage 300 versions store passwords upper-case: try `uppercase_password: true`."
    return hint
