"""Sign-in and API sessions (intacct_sage100.md §2).

A session starts with a request that signs in (``<login>``: user, company, user password,
entity) and holds ``<getAPISession/>`` alone, as Intacct asks. The answer gives a session id and
the endpoint to use from then on. Every later response's authentication block carries the
projected ``<sessiontimeout>`` (a sliding window whose length each company sets: 6 h and 24 h
are both seen), so we track it from every answer instead of assuming a lifetime.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from mlconnector.errors import AuthError
from mlconnector.systems.intacct._xml import sub

# Renew a session this close to its projected timeout rather than have a call refused.
RENEWAL_MARGIN = 60.0


@dataclass
class Session:
    sessionid: str
    endpoint: str
    locationid: str | None
    # Our clock's time when the session times out; None until an answer says.
    expires_at: float | None = None

    def expiring(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at - now < RENEWAL_MARGIN


def login_element(user_id: str, company_id: str, password: str, entity_id: str | None) -> etree._Element:
    """``<login>`` in the schema's order: userid, companyid, password, locationid."""
    login = etree.Element("login")
    sub(login, "userid", user_id)
    sub(login, "companyid", company_id)
    sub(login, "password", password)
    if entity_id:
        sub(login, "locationid", entity_id)
    return login


def get_api_session_element(entity_id: str | None) -> etree._Element:
    session = etree.Element("getAPISession")
    if entity_id:
        sub(session, "locationid", entity_id)
    return session


def _instant(text: str | None) -> float | None:
    if not text or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def seconds_left(authentication: etree._Element | None, now: float) -> float | None:
    """How long the session lives from ``now``, per an ``<authentication>`` block; None if it does not say.

    ``sessiontimeout - sessiontimestamp`` are both the server's clock, so their difference is
    immune to skew between its clock and ours; a timeout without a timestamp is read as absolute.
    """
    if authentication is None:
        return None
    timeout = _instant(authentication.findtext("sessiontimeout"))
    if timeout is None:
        return None
    stamp = _instant(authentication.findtext("sessiontimestamp"))
    return timeout - stamp if stamp is not None else timeout - now


def _host(url: str) -> str:
    return (urllib.parse.urlsplit(url).hostname or "").rstrip(".").lower()


def checked_endpoint(endpoint: str, *, configured_url: str, system: str) -> str:
    """The endpoint a session answer names, if we may send credentials there.

    Accepted: https on a host under ``intacct.com`` (the PHP SDK's rule), or the host of the
    configured ``url`` (a local simulator) with the configured scheme. Anything else could be a
    tampered answer steering the session id to another server.
    """
    endpoint = endpoint.strip()
    parts = urllib.parse.urlsplit(endpoint)
    host = _host(endpoint)
    configured = urllib.parse.urlsplit(configured_url)
    if host and host == _host(configured_url) and parts.scheme in ("https", configured.scheme):
        return endpoint
    if parts.scheme == "https" and (host == "intacct.com" or host.endswith(".intacct.com")):
        return endpoint
    shown = host or endpoint[:80] or "an empty endpoint"
    raise AuthError(
        f"the API session answer names the endpoint host {shown}, which is neither a host under "
        f"intacct.com (https) nor the configured host {_host(configured_url)}; refusing to send the session there",
        system=system,
        hint="Check `url` in the configuration; if it is right, the answer did not come from Sage Intacct "
        "(a proxy or an interception).",
    )
