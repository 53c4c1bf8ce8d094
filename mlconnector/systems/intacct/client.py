"""The Sage Intacct XML gateway client: envelope, session, retries, the three error levels.

One function per request. Every request is ``<request><control>…</control><operation
transaction="false"><authentication>…</authentication><content><function controlid>…``
in the order of the gateway's schema (api.v3.0.xsd; intacct_sage100.md §1). An answer is checked
in three layers, in order: control status (the request itself), authentication status (the
session), then the result status of the function (success | failure | aborted), §3.

Retries (§7): 5xx, 429 / ``GW-0010``, "rate limit", "Temporarily Off-line", "Please Try Again
Later" and answers that are not XML (a proxy's HTML page) are retried with backoff. HTTP 524
is not: the CDN cut the connection while Intacct kept working, so whether a write happened is
unknown, and only a lookup by the record's key can tell. Writes carry ``uniqueid=true`` with a
deterministic function ``controlid``, so a resent write that did run is refused, not doubled.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from lxml import etree

from mlconnector import redact, xmlsafe
from mlconnector.errors import (
    AuthError,
    PermissionDenied,
    ResponseError,
    UnreachableError,
)
from mlconnector.http import (
    SystemClient,
    Transient,
    body_excerpt,
    build_client,
    call_with_retries,
    redirect_error,
    retry_after_seconds,
)
from mlconnector.systems.intacct._xml import sub, xml_text
from mlconnector.systems.intacct.auth import (
    Session,
    checked_endpoint,
    get_api_session_element,
    login_element,
    seconds_left,
)
from mlconnector.systems.intacct.errors import (
    SIGN_IN_FAILED,
    IntacctErrorDetail,
    IntacctResultError,
    envelope_error,
    join_errors,
    parse_errors,
)
from mlconnector.systems.intacct.settings import IntacctSettings

__all__ = ["IntacctClient", "IntacctErrorDetail", "IntacctResultError", "Result", "xml_text"]

log = logging.getLogger("mlconnector.intacct")

DTD_VERSION = "3.0"
MAX_CONTROLID = 256  # the schema's limit on a function controlid


def _int(value: str | None) -> int | None:
    if value is None or not value.strip().lstrip("-").isdigit():
        return None
    return int(value)


def _children(node: etree._Element) -> list[etree._Element]:
    return [c for c in node if isinstance(c.tag, str)]


def _is_list(node: etree._Element, kids: list[etree._Element]) -> bool:
    """``<APBILLITEMS><APBILLITEM>…</APBILLITEM>…`` holds records, not one nested record."""
    tags = {k.tag for k in kids}
    if len(tags) != 1 or not all(_children(k) for k in kids):
        return False
    return len(kids) > 1 or node.tag.upper() == kids[0].tag.upper() + "S"


def flatten(node: etree._Element, prefix: str = "") -> dict:
    """One record as a dict: nested elements become dotted keys (``DISPLAYCONTACT.EMAIL1``), a
    container of repeated records (``APBILLITEMS``) a list of dicts, an empty element ``""``.
    Names that already hold dots (readByQuery flattens nested fields itself) are kept as they are."""
    record: dict = {}
    for child in _children(node):
        key = prefix + child.tag
        kids = _children(child)
        if not kids:
            record[key] = child.text or ""
        elif _is_list(child, kids):
            record[key] = [flatten(k) for k in kids]
        else:
            record.update(flatten(child, key + "."))
    return record


@dataclass(frozen=True)
class Result:
    """The answer of one function."""

    status: str
    function: str
    controlid: str
    data: etree._Element | None = None
    attrs: dict[str, str] = field(default_factory=dict)  # the <data> attributes as sent
    key: str | None = None  # legacy create_* functions answer <key> instead of <data>

    @property
    def listtype(self) -> str | None:
        return self.attrs.get("listtype")

    @property
    def count(self) -> int | None:
        return _int(self.attrs.get("count"))

    @property
    def totalcount(self) -> int | None:
        return _int(self.attrs.get("totalcount"))

    @property
    def numremaining(self) -> int | None:
        return _int(self.attrs.get("numremaining"))

    @property
    def result_id(self) -> str | None:
        return self.attrs.get("resultId") or None

    def records(self) -> list[dict]:
        """Each child of ``<data>`` flattened (see :func:`flatten`)."""
        if self.data is None:
            return []
        return [flatten(record) for record in _children(self.data)]


def parse_result(node: etree._Element) -> Result:
    data = node.find("data")
    return Result(
        status=(node.findtext("status") or "").strip(),
        function=(node.findtext("function") or "").strip(),
        controlid=node.findtext("controlid") or "",
        data=data,
        attrs=dict(data.attrib) if data is not None else {},
        key=node.findtext("key"),
    )


class _SessionRefused(Exception):
    """The gateway refused our session id (XL03000006 at the authentication level)."""

    def __init__(self, details: list[IntacctErrorDetail]) -> None:
        super().__init__("session refused")
        self.details = details


class IntacctClient(SystemClient):
    def __init__(
        self,
        settings: IntacctSettings,
        *,
        sender_password: str,
        user_password: str,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.system = settings.name
        redact.register(sender_password)
        redact.register(user_password)
        self._sender_password = sender_password
        self._user_password = user_password
        self._sleep = sleep
        self._clock = clock
        self._session: Session | None = None
        self.sessions_opened = 0
        # Bills may be posted from several threads (``concurrency``): one session, one sign-in.
        self._lock = threading.RLock()
        self._http = build_client(
            timeout=settings.timeout,
            ca_bundle=settings.ca_bundle,
            transport=transport,
            headers={"Content-Type": "application/xml", "Accept": "application/xml"},
        )

    # -- the one public call ----------------------------------------------------------------

    def call(self, function_element: etree._Element, *, controlid: str, write: bool = False, what: str) -> Result:
        """Run one function (``function_element`` is what goes inside ``<function>``: ``<create>``,
        ``<readByQuery>`` …) and return its result; raise if any layer failed.

        ``write=True`` sends ``uniqueid=true``: the gateway then refuses a function ``controlid`` it
        has already carried out, which makes a resent write safe.
        """
        if not controlid or len(controlid) > MAX_CONTROLID:
            raise ValueError(f"a function controlid must have 1 to {MAX_CONTROLID} characters")
        session = self._current_session()
        try:
            return self._run(session, function_element, controlid=controlid, write=write, what=what)
        except _SessionRefused:
            # Expired early, or ended by an administrator: sign in again once, then give up.
            log.info("%s: the session was refused; signing in again", self.system)
            with self._lock:
                if self._session is session:  # not renewed meanwhile by another thread
                    self._session = None
                session = self._current_session()
            try:
                return self._run(session, function_element, controlid=controlid, write=write, what=what)
            except _SessionRefused as again:
                raise envelope_error(again.details, level="authentication", system=self.system,
                                     what=what) from None

    @property
    def session(self) -> Session | None:
        return self._session

    # -- sessions ---------------------------------------------------------------------------

    def _current_session(self) -> Session:
        with self._lock:
            if self._session is None or self._session.expiring(self._clock()):
                self._session = self._open_session()
            return self._session

    def _open_session(self) -> Session:
        """Sign in and ask for an API session, alone in its request (as Intacct asks)."""
        s = self.settings
        what = "sign in (getAPISession)"
        authentication = etree.Element("authentication")
        authentication.append(login_element(s.user_id, s.company_id, self._user_password, s.entity_id))
        body = self._request_bytes(authentication, get_api_session_element(s.entity_id),
                                   controlid="getAPISession", write=False)
        root = self._post(s.url, body, write=False, what=what)
        self._check_control(root, what=what)
        operation = root.find("operation")
        auth = operation.find("authentication") if operation is not None else None
        if auth is not None and (auth.findtext("status") or "").strip() != "success":
            raise envelope_error(parse_errors(operation), level="authentication", system=self.system,
                                 what=what, signing_in=True)
        result = self._result(root, what=what)
        api = result.data.find("api") if result.data is not None else None
        sessionid = (api.findtext("sessionid") or "").strip() if api is not None else ""
        if not sessionid:
            raise ResponseError(f"{what}: the answer holds no session id", system=self.system)
        redact.register(sessionid)
        endpoint = (api.findtext("endpoint") or "").strip() or s.url
        session = Session(
            sessionid=sessionid,
            endpoint=checked_endpoint(endpoint, configured_url=s.url, system=self.system),
            locationid=(api.findtext("locationid") or "").strip() or None,
        )
        self._track_timeout(session, auth)
        self.sessions_opened += 1
        log.debug("%s: new API session at %s", self.system, session.endpoint)
        return session

    def _track_timeout(self, session: Session, auth: etree._Element | None) -> None:
        now = self._clock()
        left = seconds_left(auth, now)
        if left is not None:
            session.expires_at = now + left

    # -- one request ------------------------------------------------------------------------

    def _run(self, session: Session, function_element: etree._Element, *, controlid: str, write: bool,
             what: str) -> Result:
        authentication = etree.Element("authentication")
        sub(authentication, "sessionid", session.sessionid)
        body = self._request_bytes(authentication, copy.deepcopy(function_element), controlid=controlid, write=write)
        root = self._post(session.endpoint, body, write=write, what=what)
        self._check_control(root, what=what)
        operation = root.find("operation")
        auth = operation.find("authentication") if operation is not None else None
        if auth is not None and (auth.findtext("status") or "").strip() != "success":
            details = parse_errors(operation)
            if any(d.errorno == SIGN_IN_FAILED for d in details):
                raise _SessionRefused(details)
            raise envelope_error(details, level="authentication", system=self.system, what=what)
        self._track_timeout(session, auth)
        return self._result(root, what=what)

    def _request_bytes(self, authentication: etree._Element, function_element: etree._Element, *,
                       controlid: str, write: bool) -> bytes:
        s = self.settings
        request = etree.Element("request")
        control = sub(request, "control")
        sub(control, "senderid", s.sender_id)
        sub(control, "password", self._sender_password)
        # The request controlid is never checked for uniqueness (§4); the function's is.
        sub(control, "controlid", str(uuid.uuid4()))
        sub(control, "uniqueid", write)
        sub(control, "dtdversion", DTD_VERSION)
        sub(control, "includewhitespace", False)
        operation = etree.SubElement(request, "operation", transaction="false")
        operation.append(authentication)
        content = sub(operation, "content")
        function = etree.SubElement(content, "function", controlid=xml_text(controlid))
        function.append(function_element)
        return etree.tostring(request, xml_declaration=True, encoding="UTF-8")

    def _post(self, url: str, body: bytes, *, write: bool, what: str) -> etree._Element:
        """POST with retries; the parsed answer (any HTTP status that carried gateway XML)."""

        def attempt() -> etree._Element:
            with self._lock:
                if write:
                    self.writes += 1
                else:
                    self.reads += 1
            response = self._http.post(url, content=body)
            status = response.status_code
            if status == 524:
                raise UnreachableError(
                    f"{what}: HTTP 524: the connection was cut while Sage Intacct was still processing the "
                    "request, so whether it was carried out is unknown",
                    system=self.system, status=status,
                    hint="It is not sent again blindly. Run the sync again: records are looked up by their key "
                    "before anything is posted twice.",
                )
            if status == 429 or status >= 500:
                raise Transient(f"{what}: HTTP {status}: {body_excerpt(response, 120)}",
                                wait=retry_after_seconds(response) or 0.0, status=status)
            if 300 <= status < 400:
                raise redirect_error(response, system=self.system, what=what, setting="url")
            root = self._parse(response, what=what)
            details = [d for node in root.iter("errormessage") for d in parse_errors(node.getparent())]
            if any(d.transient for d in details) or b"api rate limit exceeded" in response.content.lower():
                raise Transient(f"{what}: {join_errors(details) if details else 'API rate limit exceeded'}",
                                wait=retry_after_seconds(response) or 0.0, status=status)
            if status >= 400:
                # A 4xx with an XML body (401 XMLGW_JPP0002): its errors say more than the status.
                raise envelope_error(details, level="control", system=self.system, what=what, status=status)
            return root

        return call_with_retries(attempt, system=self.system, what=what, sleep=self._sleep)

    def _parse(self, response: httpx.Response, *, what: str) -> etree._Element:
        status = response.status_code
        try:
            root = xmlsafe.parse(response.content)
        except xmlsafe.XMLParseError as exc:
            if status >= 400:
                cls = AuthError if status == 401 else PermissionDenied if status == 403 else ResponseError
                raise cls(f"{what}: HTTP {status}: {body_excerpt(response)}", system=self.system,
                          status=status) from None
            if isinstance(exc, xmlsafe.UnsafeXMLError) and "html" not in body_excerpt(response).lower():
                raise ResponseError(f"{what}: {exc}", system=self.system, status=status) from None
            # A proxy's or CDN's page, or a truncated answer: worth another try.
            raise Transient(f"{what}: HTTP {status} with a body that is not gateway XML: {body_excerpt(response)}",
                            status=status) from None
        if root.tag != "response":
            raise Transient(f"{what}: HTTP {status}: the answer is <{root.tag}>, not a gateway <response>",
                            status=status)
        return root

    def _check_control(self, root: etree._Element, *, what: str) -> None:
        control = root.find("control")
        if control is None or (control.findtext("status") or "").strip() != "success":
            raise envelope_error(parse_errors(root), level="control", system=self.system, what=what)

    def _result(self, root: etree._Element, *, what: str) -> Result:
        node = root.find("operation/result")
        if node is None:
            raise ResponseError(f"{what}: the answer holds no <result>", system=self.system)
        result = parse_result(node)
        if result.status == "success":
            return result
        details = parse_errors(node)
        verb = "was rolled back" if result.status == "aborted" else "failed"
        raise IntacctResultError(
            f"{what} {verb}: {join_errors(details)}", system=self.system, errors=details,
            function=result.function, controlid=result.controlid, result_status=result.status or "unknown",
        )
