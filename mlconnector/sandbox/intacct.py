"""A Sage Intacct XML gateway simulator: one POST endpoint, the 3.0 request schema, sessions,
``uniqueid`` de-duplication and the generic functions on AP bills, vendors and the GL dimensions.

Behaviour follows shared/reference/intacct_sage100.md Part A and the response fixtures in
shared/specs/intacct/: §1 envelope (every request is validated against the real ``api.v3.0.xsd``,
copied to ``data/intacct/``), §2 ``getAPISession`` and the sliding session timeout, §3 the three
error levels (control, authentication, result) and ``transaction="true"`` roll-back, §4 ``uniqueid``,
§5 objects, ``readByQuery`` (query-string grammar, ``pagesize`` ≤ 1000, ``readMore``), §6 control
characters (a control-level ``XL03000003``, as any parse error).

Answers are built with lxml and keep the element order of ``intacct_response.v2.1.dtd`` (plus
``sessiontimeout`` after ``sessiontimestamp``, as 3.0 answers carry it). Requests are parsed with
:mod:`mlconnector.xmlsafe`: a DOCTYPE is refused, no entity is resolved, nothing is fetched.

Objects are kept in memory: VENDOR, APBILL (lines in ``APBILLITEMS``), GLACCOUNT, DEPARTMENT,
LOCATION, PROJECT, TASK, COSTTYPE. Every record has ``RECORDNO`` (one increasing counter for all
objects, so a vendor's RECORDNO never names a bill) and ``WHENMODIFIED`` (server clock, UTC,
``MM/DD/YYYY HH:MM:SS``). ``WHENCREATED`` is the creation time too, except on APBILL where it is the
bill date the caller sends (``MM/DD/YYYY``, as in Intacct); a bill's creation time is ``AUWHENCREATED``.
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lxml import etree

from mlconnector import xmlsafe
from mlconnector.sandbox._server import Request, Response, SimulatorServer

GATEWAY_PATH = "/ia/xml/xmlgw.phtml"
SCHEMA_PATH = Path(__file__).parent / "data" / "intacct" / "api.v3.0.xsd"
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
MAX_DESCRIPTION = 1000  # APBILL DESCRIPTION (reference §6); applied to every object's DESCRIPTION
MAX_CURSORS = 500  # readByQuery result sets kept for readMore; the oldest go first
XML_CONTENT_TYPE = "text/xml; charset=UTF-8"


# -- errors -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntacctError:
    """One ``<error>``: the four children every gateway error carries, in this order."""

    errorno: str
    description2: str = ""
    correction: str = ""
    description: str = ""


# Every code and text the simulator answers with, in one place. "Seen" = in a fixture or the docs;
# UNVERIFIED = our best guess (reference §4, §11): clients must not depend on the exact text.
PARSE_ERROR = "XL03000003"  # seen (execXMLError.xml): "XML Parse schema error: ..."
AUTH_ERROR = "XL03000006"  # seen: sign-in (execLoginInvalid.xml), session (sessionInvalid.xml)
SIGN_IN_INCORRECT = "Sign-in information is incorrect"  # seen
INVALID_SESSION = "Invalid session"  # seen ("Invalid session q....", the id elided)
# Seen in the developer FAQ for an unauthorised sender ID; that it is a *control*-level failure is
# UNVERIFIED (the plan's choice: the sender check comes before authentication).
SENDER_NOT_AUTHORISED = "Invalid Web Services Authorization"
ROLLED_BACK = IntacctError(  # seen (response_transaction_rollback_two_functions.xml)
    "XL03000009", "The entire transaction in this operation has been rolled back due to an error.")
# UNVERIFIED (reference §4): the real answer to a repeated function controlid with uniqueid=true is
# not documented anywhere we found. Code and text are our guess; only "refused, nothing created" is sure.
DUPLICATE_CONTROLID = ("XL03000012", "A successful transaction has already been recorded with the control id '{}'")
QUERY_FAILED = "Query Failed"  # seen (response_result_aborted_XL03000009.xml): "Object definition VENDOR9 not found"
DUPLICATE_RECORD = ("BL34000061", "Use a unique value instead.")  # seen (execFuncError.xml), with BL01001973 after it
RECORD_NOT_SAVED = "BL01001973"  # seen: "Could not create project record!"
# UNVERIFIED: the code for a missing or invalid field value (a reference to a record that does not
# exist, a required field left out, a value too long or malformed). The texts name field and value.
INVALID_VALUE = "BL03000018"
UNSUPPORTED_FUNCTION = "XL03000005"  # UNVERIFIED; the simulator implements only the functions listed in the docstring


class _Failure(Exception):
    """A function (or the whole request, or its authentication) failed with these errors."""

    def __init__(self, *errors: IntacctError) -> None:
        super().__init__("; ".join(f"{e.errorno} {e.description2}" for e in errors))
        self.errors = list(errors)


def _invalid(text: str, correction: str = "") -> _Failure:
    return _Failure(IntacctError(INVALID_VALUE, text, correction))


def _query_failed(text: str) -> _Failure:
    return _Failure(IntacctError(QUERY_FAILED, text))


# -- the objects ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ObjectType:
    name: str  # VENDOR
    label: str  # "Vendor", as messages name it ("Another Vendor with the given value(s) ...")
    id_field: str  # what a person calls the record by; the create/update answer echoes it
    required: tuple[str, ...]  # fields a create must carry
    fields: tuple[str, ...]  # the standard fields, flattened (dotted) as readByQuery returns them
    unique_within: tuple[str, ...] = ()  # the id is unique among records sharing these fields
    # (field, object, fields the referenced record must share): e.g. a cost type's task is in its project
    references: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


_AUDIT = ("WHENCREATED", "WHENMODIFIED", "CREATEDBY", "MODIFIEDBY")
_CONTACT = tuple(f"DISPLAYCONTACT.{name}" for name in (
    "CONTACTNAME", "PRINTAS", "COMPANYNAME", "TAXABLE", "TAXGROUP", "PREFIX", "FIRSTNAME", "LASTNAME", "INITIAL",
    "PHONE1", "PHONE2", "CELLPHONE", "PAGER", "FAX", "EMAIL1", "EMAIL2", "URL1", "URL2")) + tuple(
    f"DISPLAYCONTACT.MAILADDRESS.{name}" for name in (
        "ADDRESS1", "ADDRESS2", "CITY", "STATE", "ZIP", "COUNTRY", "COUNTRYCODE"))

OBJECTS: dict[str, _ObjectType] = {o.name: o for o in (
    _ObjectType("VENDOR", "Vendor", "VENDORID", ("VENDORID", "NAME"), (
        "RECORDNO", "VENDORID", "NAME", "NAME1099", "PARENTKEY", "PARENTID", "PARENTNAME", *_CONTACT, "ONETIME",
        "STATUS", "HIDEDISPLAYCONTACT", "VENDTYPE", "GLGROUP", "TAXID", "FORM1099TYPE", "FORM1099BOX", "SUPDOCID",
        "APACCOUNT", "CREDITLIMIT", "ONHOLD", "DONOTCUTCHECK", "COMMENTS", "CURRENCY", "PAYMETHODKEY",
        "PAYMENTPRIORITY", "TERMNAME", "VENDORACCOUNTNO", *_AUDIT)),
    _ObjectType("APBILL", "Bill", "RECORDID", ("VENDORID", "WHENCREATED"), (
        "RECORDNO", "RECORDTYPE", "RECORDID", "DOCNUMBER", "STATE", "VENDORID", "VENDORNAME", "DESCRIPTION",
        "WHENCREATED", "WHENPOSTED", "WHENDUE", "TERMNAME", "TOTALENTERED", "TRX_TOTALENTERED", "TOTALPAID",
        "TOTALDUE", "TRX_TOTALDUE", "BASECURR", "CURRENCY", "SUPDOCID", "AUWHENCREATED", "WHENMODIFIED",
        "CREATEDBY", "MODIFIEDBY"),
        unique_within=("VENDORID",), references=(("VENDORID", "VENDOR", ()),)),
    _ObjectType("GLACCOUNT", "GL Account", "ACCOUNTNO", ("ACCOUNTNO", "TITLE"), (
        "RECORDNO", "ACCOUNTNO", "TITLE", "ACCOUNTTYPE", "NORMALBALANCE", "CLOSINGTYPE", "CATEGORY",
        "ALTERNATIVEACCOUNT", "STATUS", *_AUDIT)),
    _ObjectType("DEPARTMENT", "Department", "DEPARTMENTID", ("DEPARTMENTID", "TITLE"), (
        "RECORDNO", "DEPARTMENTID", "TITLE", "PARENTID", "STATUS", *_AUDIT)),
    _ObjectType("LOCATION", "Location", "LOCATIONID", ("LOCATIONID", "NAME"), (
        "RECORDNO", "LOCATIONID", "NAME", "PARENTID", "STATUS", "CURRENCY", *_AUDIT)),
    _ObjectType("PROJECT", "Project", "PROJECTID", ("PROJECTID", "NAME"), (
        "RECORDNO", "PROJECTID", "NAME", "DESCRIPTION", "PROJECTCATEGORY", "PROJECTSTATUS", "CUSTOMERID",
        "DEPARTMENTID", "LOCATIONID", "STATUS", *_AUDIT)),
    _ObjectType("TASK", "Task", "TASKID", ("TASKID", "NAME", "PROJECTID"), (
        "RECORDNO", "TASKID", "NAME", "PROJECTID", "TASKSTATUS", "STATUS", *_AUDIT),
        unique_within=("PROJECTID",), references=(("PROJECTID", "PROJECT", ()),)),
    _ObjectType("COSTTYPE", "Cost Type", "COSTTYPEID", ("COSTTYPEID", "NAME", "PROJECTID", "TASKID"), (
        "RECORDNO", "COSTTYPEID", "NAME", "PROJECTID", "TASKID", "STATUS", *_AUDIT),
        unique_within=("PROJECTID", "TASKID"),
        references=(("PROJECTID", "PROJECT", ()), ("TASKID", "TASK", ("PROJECTID",)))),
)}

BILL_LINES, BILL_LINE = "APBILLITEMS", "APBILLITEM"
# How `read` writes a bill's lines: <APBILLITEMS><apbillitem>. The lower-case item tag is how Intacct
# answers owned-object lists as we remember it (UNVERIFIED: no fixture shows a bill read with lines).
BILL_LINE_ANSWER_TAG = "apbillitem"
BILL_LINE_FIELDS = ("RECORDNO", "LINE_NO", "ACCOUNTNO", "TRX_AMOUNT", "AMOUNT", "ENTRYDESCRIPTION", "LOCATIONID",
                    "DEPARTMENTID", "PROJECTID", "TASKID", "COSTTYPEID")
# Dimensions a bill line may name: (field, object, the line fields the dimension must also match).
LINE_DIMENSIONS = (("ACCOUNTNO", "GLACCOUNT", ()), ("LOCATIONID", "LOCATION", ()), ("DEPARTMENTID", "DEPARTMENT", ()),
                   ("PROJECTID", "PROJECT", ()), ("TASKID", "TASK", ("PROJECTID",)),
                   ("COSTTYPEID", "COSTTYPE", ("PROJECTID", "TASKID")))
DATETIME_FIELDS = frozenset({"WHENCREATED", "WHENMODIFIED", "WHENPOSTED", "WHENDUE", "WHENPAID", "AUWHENCREATED"})
NUMBER_FIELDS = frozenset({"RECORDNO", "PARENTKEY", "TOTALENTERED", "TRX_TOTALENTERED", "TOTALPAID", "TOTALDUE",
                           "TRX_TOTALDUE", "CREDITLIMIT", "TRX_AMOUNT", "AMOUNT", "LINE_NO"})
_WRITE_FUNCTION = re.compile(rb"<\s*(create|update|delete)\b")


# -- the schema: loaded once per process (420 KB; about 40 ms) ----------------------------------

_schema: etree.XMLSchema | None = None
_schema_lock = threading.Lock()  # one XMLSchema object: validate() and its error_log are not thread-safe


def _validate(root: etree._Element) -> list[Any]:
    """The schema errors of ``root`` (empty when it is valid)."""
    global _schema
    with _schema_lock:
        if _schema is None:
            _schema = xmlsafe.schema(SCHEMA_PATH)
        if _schema.validate(root):
            return []
        return list(_schema.error_log)


# -- sessions and cursors -----------------------------------------------------------------------


@dataclass
class _Session:
    userid: str
    locationid: str
    expires: float  # clock seconds; every call made before it slides it to now + session_seconds


@dataclass
class _Cursor:
    obj: str
    rows: list[etree._Element]  # the rendered rows still to send
    totalcount: int
    pagesize: int


@dataclass
class _Context:
    """Who is calling in this operation."""

    userid: str
    locationid: str
    session_id: str | None  # None when the operation logged in with <login>


@dataclass
class _Outcome:
    function: str
    controlid: str
    data: etree._Element | None = None
    errors: list[IntacctError] = field(default_factory=list)
    status: str = "success"


class IntacctSimulator(SimulatorServer):
    """The Sage Intacct XML gateway on ``{url}`` (``http://127.0.0.1:<port>/ia/xml/xmlgw.phtml``).

    Credentials: ``sender_id``/``sender_password`` (the Web Services sender, checked in ``<control>``
    of every request) and ``user_id``/``user_password`` of ``company_id`` (checked in ``<login>``).
    Sessions from ``getAPISession`` live ``session_seconds`` after the last call (sliding);
    ``expire_all_sessions()`` ends them all at once. ``clock`` (seconds since the epoch) stamps
    records and ages sessions: tests pass a settable one instead of sleeping.
    """

    def __init__(self, *, port: int = 0, sender_id: str = "MLCONNECTOR", sender_password: str | None = None,
                 company_id: str = "MOUNTAINLINE", user_id: str = "xml_gateway", user_password: str | None = None,
                 session_seconds: float = 3600, clock: Callable[[], float] = time.time) -> None:
        super().__init__(port=port)
        self.sender_id = sender_id
        self.sender_password = sender_password if sender_password is not None else secrets.token_urlsafe(18)
        self.company_id = company_id
        self.user_id = user_id
        self.user_password = user_password if user_password is not None else secrets.token_urlsafe(18)
        self.session_seconds = session_seconds
        self.clock = clock
        self.logins = 0  # successful <login> authentications
        self.sessions_created = 0
        self.functions_run: list[tuple[str, str]] = []  # (function, controlid) of every function executed
        self._sessions: dict[str, _Session] = {}
        self._records: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in OBJECTS}
        self._next_recordno = 101
        self._done_controlids: set[str] = set()  # function controlids that succeeded with uniqueid=true
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._last_cursor: dict[str, str] = {}  # object -> its newest resultId (readMore by <object>)
        self.route("POST", re.escape(GATEWAY_PATH), self._gateway)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, the server root."""
        return super().url

    @property
    def url(self) -> str:  # type: ignore[override]
        """The gateway endpoint a client posts to, and the ``endpoint`` getAPISession hands back."""
        return super().url + GATEWAY_PATH

    # -- Python API for tests and seed data --------------------------------------------------

    def expire_credentials(self, request: Request) -> bool:
        self.expire_all_sessions()
        return True

    def expire_all_sessions(self) -> None:
        """Every session ends now: the next call with one gets XL03000006 "Invalid session"."""
        with self.lock:
            self._sessions.clear()

    def add_vendor(self, vendor_id: str, name: str, **fields: Any) -> dict[str, Any]:
        """Create a vendor as a person in Intacct would (same checks as the API); returns it.
        Nested fields are dicts: ``DISPLAYCONTACT={"EMAIL1": ..., "MAILADDRESS": {"CITY": ...}}``."""
        return self.add_record("VENDOR", VENDORID=vendor_id, NAME=name, **fields)

    def add_record(self, obj: str, **fields: Any) -> dict[str, Any]:
        """Create any object (``"GLACCOUNT"``, ``"APBILL"`` with ``APBILLITEMS=[{...}]``, ...) through
        the API's own checks; ValueError says what is wrong. Values are strings (numbers are turned
        into strings); ``RECORDNO``/``WHENMODIFIED``/... may be given to set them."""
        with self.lock:
            try:
                return copy.deepcopy(self._create(OBJECTS[_object_name(obj)], _plain(fields), seeding=True))
            except _Failure as failure:
                raise ValueError(str(failure)) from None

    def records(self, obj: str) -> list[dict[str, Any]]:
        """Every record of an object, by RECORDNO (``RECORDNO`` is an int; bills carry their lines)."""
        with self.lock:
            table = self._records[_object_name(obj)]
            return [copy.deepcopy(table[n]) for n in sorted(table)]

    def vendors(self) -> list[dict[str, Any]]:
        return self.records("VENDOR")

    def bills(self) -> list[dict[str, Any]]:
        """Every AP bill with its lines in ``"APBILLITEMS"`` (a list of dicts)."""
        return self.records("APBILL")

    def record(self, obj: str, key: int | str) -> dict[str, Any] | None:
        """One record by RECORDNO (int) or by its id field (VENDORID, ACCOUNTNO, RECORDID...)."""
        with self.lock:
            found = self._public_find(obj, key)
            return copy.deepcopy(found) if found is not None else None

    def touch(self, obj: str, key: int | str, **changes: Any) -> dict[str, Any]:
        """Change a record as a person in Intacct would: apply ``changes`` (None removes a field) and
        move WHENMODIFIED to now. ``key`` is the RECORDNO or the id field's value."""
        with self.lock:
            otype = OBJECTS[_object_name(obj)]
            record = self._public_find(obj, key)
            if record is None:
                raise KeyError(f"no {otype.name} {key!r}")
            for name, value in _plain(changes).items():
                if value is None:
                    record.pop(name, None)
                else:
                    record[name] = value
            record["WHENMODIFIED"] = self._now_text()
            if otype.name == "APBILL":
                self._derive_bill(record)
            return copy.deepcopy(record)

    def delete(self, obj: str, key: int | str) -> bool:
        """Remove a record (as deleting it in Intacct would); False when there was none."""
        with self.lock:
            otype = OBJECTS[_object_name(obj)]
            record = self._public_find(obj, key)
            if record is None:
                return False
            del self._records[otype.name][record["RECORDNO"]]
            return True

    def _public_find(self, obj: str, key: int | str) -> dict[str, Any] | None:
        try:
            return self._find(OBJECTS[_object_name(obj)], key)
        except _Failure as failure:  # an id that names several records (a task id in two projects)
            raise ValueError(str(failure)) from None

    # -- HTTP ------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        with self.lock:
            return super().dispatch(request)

    def is_write(self, request: Request) -> bool:
        # Every call is a POST; only create/update/delete change data (lost-response faults hit those).
        return request.method == "POST" and _WRITE_FUNCTION.search(request.body) is not None

    def not_found(self, request: Request) -> Response:
        return Response(404, b"Not Found\n", {"Content-Type": "text/plain; charset=utf-8"})

    def method_not_allowed(self, request: Request, allowed: list[str]) -> Response:
        # GET has been blocked since 2023-01-15 (reference §1).
        return Response(405, b"Method Not Allowed: the XML gateway takes POST only\n",
                        {"Content-Type": "text/plain; charset=utf-8", "Allow": ", ".join(allowed)})

    def _gateway(self, request: Request) -> Response:
        try:
            root = xmlsafe.parse(request.body)
        except xmlsafe.UnsafeXMLError:
            return _control_failure(None, [IntacctError(
                PARSE_ERROR, "XML Parse schema error: a DOCTYPE (DTD or entities) is not allowed.")])
        except xmlsafe.XMLParseError as exc:
            return _control_failure(None, _syntax_errors(exc.errors))
        if root.tag != "request":
            return _control_failure(root, [IntacctError(
                PARSE_ERROR, f"XML Parse schema error: the root element is <{root.tag}>; it must be <request>.")])
        schema_errors = _validate(root)
        if schema_errors:
            return _control_failure(root, [IntacctError(PARSE_ERROR, "XML Parse schema error: " + _libxml_text(e))
                                           for e in schema_errors[:5]])
        dtdversion = (root.findtext("control/dtdversion") or "3.0").strip()
        if dtdversion != "3.0":
            return _control_failure(root, [IntacctError(
                PARSE_ERROR, f"XML Parse schema error: dtdversion {dtdversion} is not served by the simulator.",
                "Send <dtdversion>3.0</dtdversion>.")])
        if not (_same(root.findtext("control/senderid"), self.sender_id)
                and _same(root.findtext("control/password"), self.sender_password)):
            return _control_failure(root, [IntacctError(AUTH_ERROR, SENDER_NOT_AUTHORISED)])
        unique = _uniqueid(root)
        answer = etree.Element("response")
        _control_block(answer, root, "success", unique)
        for operation in root.iterfind("operation"):
            self._operation(answer, operation, unique)
        return _xml_response(answer)

    # -- one operation ---------------------------------------------------------------------------

    def _operation(self, answer: etree._Element, operation: etree._Element, unique: bool) -> None:
        out = etree.SubElement(answer, "operation")
        auth = operation.find("authentication")
        try:
            context = self._authenticate(auth)
        except _Failure as failure:
            login = auth.find("login")
            block = etree.SubElement(out, "authentication")
            _text(block, "status", "failure")
            _text(block, "userid", login.findtext("userid", "") if login is not None else "")
            _text(block, "companyid", login.findtext("companyid", "") if login is not None else "")
            _errors(out, failure.errors)
            return
        functions = [f for content in operation.iterfind("content") for f in content.iterfind("function")]
        transaction = operation.get("transaction", "false") == "true"
        snapshot = self._snapshot() if transaction else None
        outcomes = [self._function(function, context, unique) for function in functions]
        if snapshot is not None and any(o.status != "success" for o in outcomes):
            self._restore(snapshot)
            for outcome in outcomes:
                outcome.status = "failure" if outcome.errors else "aborted"
                outcome.data = None
                outcome.errors.append(ROLLED_BACK)
        session = self._sessions.get(context.session_id or "")
        now = self.clock()
        block = etree.SubElement(out, "authentication")
        _text(block, "status", "success")
        _text(block, "userid", context.userid)
        _text(block, "companyid", self.company_id)
        _text(block, "locationid", context.locationid)
        _text(block, "sessiontimestamp", _iso(now))
        _text(block, "sessiontimeout", _iso(session.expires if session else now + self.session_seconds))
        for outcome in outcomes:
            result = etree.SubElement(out, "result")
            _text(result, "status", outcome.status)
            _text(result, "function", outcome.function)
            _text(result, "controlid", outcome.controlid)
            if outcome.data is not None:
                result.append(outcome.data)
            if outcome.errors:
                _errors(result, outcome.errors)

    def _authenticate(self, auth: etree._Element) -> _Context:
        now = self.clock()
        session_id = auth.findtext("sessionid")
        if session_id is not None:
            session = self._sessions.get(session_id.strip())
            if session is None or now >= session.expires:
                self._sessions.pop(session_id.strip(), None)
                raise _Failure(IntacctError(AUTH_ERROR, INVALID_SESSION))
            session.expires = now + self.session_seconds  # the window slides with every call
            return _Context(session.userid, session.locationid, session_id.strip())
        login = auth.find("login")
        if login is None:  # <oauth>: valid per schema, not offered by the simulator
            raise _Failure(IntacctError(AUTH_ERROR, SIGN_IN_INCORRECT, "Log in with <login> or <sessionid>."))
        userid = login.findtext("userid", "")
        if not (userid.lower() == self.user_id.lower()
                and login.findtext("companyid", "").lower() == self.company_id.lower()
                and _same(login.findtext("password"), self.user_password)):
            raise _Failure(IntacctError(AUTH_ERROR, SIGN_IN_INCORRECT))
        locationid = (login.findtext("locationid") or "").strip()
        if locationid and self._find(OBJECTS["LOCATION"], locationid) is None:
            raise _Failure(IntacctError(AUTH_ERROR, SIGN_IN_INCORRECT,
                                        f"The entity (locationid) '{locationid}' does not exist in {self.company_id}."))
        self.logins += 1
        return _Context(self.user_id, locationid, None)

    # -- one function ----------------------------------------------------------------------------

    def _function(self, function: etree._Element, context: _Context, unique: bool) -> _Outcome:
        controlid = function.get("controlid", "")
        body = function[0]
        outcome = _Outcome(body.tag, controlid)
        handler = {"create": self._fn_create, "update": self._fn_update, "read": self._fn_read,
                   "readByQuery": self._fn_read_by_query, "readMore": self._fn_read_more,
                   "getAPISession": self._fn_get_api_session}.get(body.tag)
        try:
            if handler is None:
                raise _Failure(IntacctError(UNSUPPORTED_FUNCTION, f"The simulator does not offer the function "
                                            f"{body.tag}.", "Use create, update, read, readByQuery, readMore "
                                            "or getAPISession."))
            if unique and controlid in self._done_controlids:
                code, text = DUPLICATE_CONTROLID
                raise _Failure(IntacctError(code, text.format(controlid)))
            outcome.data = handler(body, context)
        except _Failure as failure:
            outcome.status, outcome.errors = "failure", failure.errors
            return outcome
        self.functions_run.append((body.tag, controlid))
        if unique:
            self._done_controlids.add(controlid)
        return outcome

    def _fn_get_api_session(self, body: etree._Element, context: _Context) -> etree._Element:
        wanted = body.findtext("locationid")
        locationid = context.locationid if wanted is None else wanted.strip()  # empty: the top level
        if locationid and self._find(OBJECTS["LOCATION"], locationid) is None:
            raise _Failure(IntacctError("Get API Session Failed", f"The entity (locationid) '{locationid}' "
                                        f"does not exist in {self.company_id}."))
        session_id = context.session_id
        if session_id is None or self._sessions[session_id].locationid != locationid:
            session_id = secrets.token_urlsafe(24) + ".."  # real ids end in ".." too
            self._sessions[session_id] = _Session(context.userid, locationid, self.clock() + self.session_seconds)
            self.sessions_created += 1
        data = etree.Element("data")
        api = etree.SubElement(data, "api")
        _text(api, "sessionid", session_id)
        _text(api, "endpoint", self.url)
        _text(api, "locationid", locationid)
        return data

    def _fn_create(self, body: etree._Element, context: _Context) -> etree._Element:
        created = []
        for element in body:
            otype = _object_type(element.tag)
            created.append((otype, self._create(otype, _element_fields(element))))
        return _objects_data(created)

    def _fn_update(self, body: etree._Element, context: _Context) -> etree._Element:
        updated = []
        for element in body:
            otype = _object_type(element.tag)
            updated.append((otype, self._update(otype, _element_fields(element))))
        return _objects_data(updated)

    def _fn_read(self, body: etree._Element, context: _Context) -> etree._Element:
        otype = _object_type(body.findtext("object", "").strip(), query=True)
        _require_xml_format(body)
        table = self._records[otype.name]
        known = _known_fields(otype, [_flatten(record) for record in table.values()])
        fields = self._field_list(otype, body.findtext("fields"), known, lines=True)
        rows = []
        for key in (k.strip() for k in body.findtext("keys", "").split(",")):
            if key.isdigit() and int(key) in table:  # an unknown key answers nothing, not an error
                rows.append(_render_read(otype, table[int(key)], fields))
        data = etree.Element("data", listtype=otype.name, count=str(len(rows)))
        data.extend(rows)
        return data

    def _fn_read_by_query(self, body: etree._Element, context: _Context) -> etree._Element:
        otype = _object_type(body.findtext("object", "").strip(), query=True)
        _require_xml_format(body)
        table = self._records[otype.name]
        flats = [_flatten(table[n]) for n in sorted(table)]  # flattened once: the e2e runs query a lot
        known = _known_fields(otype, flats)
        fields = self._field_list(otype, body.findtext("fields"), known)
        pagesize_text = (body.findtext("pagesize") or str(DEFAULT_PAGE_SIZE)).strip()
        if not pagesize_text.isdigit() or not 1 <= int(pagesize_text) <= MAX_PAGE_SIZE:
            raise _query_failed(f"pagesize {pagesize_text!r} is not allowed; use 1 to {MAX_PAGE_SIZE}")
        match = compile_query(body.findtext("query", ""), known, otype.name)
        rows = [_render_row(otype, flat, fields or known) for flat in flats if match(flat)]
        cursor = _Cursor(otype.name, rows, len(rows), int(pagesize_text))
        return self._page(cursor, secrets.token_urlsafe(18))

    def _fn_read_more(self, body: etree._Element, context: _Context) -> etree._Element:
        result_id = body.findtext("resultId")
        if result_id is None:  # <readMore><object>APBILL</object>: the newest result set of that object
            obj = _object_name(body.findtext("object") or body.findtext("view") or "")
            result_id = self._last_cursor.get(obj, "")
        cursor = self._cursors.get(result_id.strip())
        if cursor is None:
            raise _query_failed(f"Invalid resultId {result_id.strip()!r}: it is unknown or all its rows were read")
        return self._page(cursor, result_id.strip())

    def _page(self, cursor: _Cursor, result_id: str) -> etree._Element:
        page, cursor.rows = cursor.rows[:cursor.pagesize], cursor.rows[cursor.pagesize:]
        remaining = len(cursor.rows)
        if remaining:
            self._cursors[result_id] = cursor
            self._cursors.move_to_end(result_id)
            self._last_cursor[cursor.obj] = result_id
            while len(self._cursors) > MAX_CURSORS:
                self._cursors.popitem(last=False)
        else:
            self._cursors.pop(result_id, None)  # read to the end: the result id is spent
        data = etree.Element("data", listtype=cursor.obj, count=str(len(page)), totalcount=str(cursor.totalcount),
                             numremaining=str(remaining), resultId=result_id if remaining else "")
        data.extend(page)
        return data

    def _field_list(self, otype: _ObjectType, text: str | None, known_fields: list[str], *,
                    lines: bool = False) -> list[str]:
        """The asked fields (empty: all); an unknown one fails the function. Only ``read`` answers
        a bill's lines (readByQuery rows are flat)."""
        if text is None or text.strip() in ("", "*"):
            return []
        names = [name.strip().upper() for name in text.split(",") if name.strip()]
        known = set(known_fields) | ({BILL_LINES} if lines and otype.name == "APBILL" else set())
        unknown = [name for name in names if name not in known]
        if unknown:
            raise _query_failed(f"Invalid field(s) {', '.join(unknown)} for object {otype.name}")
        return names

    # -- creating and changing records --------------------------------------------------------------

    def _create(self, otype: _ObjectType, fields: dict[str, Any], *, seeding: bool = False) -> dict[str, Any]:
        fields = {name: value for name, value in fields.items() if value not in ("", None)}
        missing = [name for name in otype.required if not _blank_free(fields.get(name))]
        if missing:
            raise _invalid(f"Required field(s) {', '.join(missing)} missing for the new {otype.label}",
                           f"Give {', '.join(missing)}.")
        if not seeding:  # the server sets these; WHENCREATED is the caller's only on a bill (its date)
            server_set = {"RECORDNO", "WHENMODIFIED", "AUWHENCREATED", *(() if otype.name == "APBILL" else ("WHENCREATED",))}
            fields = {k: v for k, v in fields.items() if k not in server_set}
        record: dict[str, Any] = {"RECORDNO": None, **fields}
        if otype.name != "APBILL":
            record.setdefault("STATUS", "active")
            record.setdefault("WHENCREATED", self._now_text())
        else:
            record.setdefault("AUWHENCREATED", self._now_text())
        record.setdefault("WHENMODIFIED", self._now_text())
        self._check(otype, record, creating=True)
        number = int(fields["RECORDNO"]) if seeding and "RECORDNO" in fields else self._next_recordno
        if number in self._records[otype.name]:
            raise _invalid(f"RECORDNO {number} is already taken for {otype.name}")
        self._next_recordno = max(self._next_recordno, number + 1)
        record["RECORDNO"] = number
        if otype.name == "APBILL":
            self._derive_bill(record)
        self._records[otype.name][number] = record
        return record

    def _update(self, otype: _ObjectType, fields: dict[str, Any]) -> dict[str, Any]:
        key = fields.get("RECORDNO") or fields.get(otype.id_field if otype.name != "APBILL" else "RECORDNO")
        if not key:
            raise _invalid(f"An update of {otype.name} needs RECORDNO"
                           + ("" if otype.name == "APBILL" else f" or {otype.id_field}"))
        by = "RECORDNO" if fields.get("RECORDNO") else otype.id_field
        current = self._find(otype, int(key) if by == "RECORDNO" and str(key).isdigit() else str(key), by=by)
        if current is None:
            raise _Failure(IntacctError(RECORD_NOT_SAVED, f"Cannot update non-existing {otype.name} with {by}={key}."))
        if by == "RECORDNO" and fields.get(otype.id_field) not in (None, current.get(otype.id_field)) \
                and otype.name != "APBILL":
            raise _invalid(f"{otype.id_field} of {otype.name} {key} cannot change "
                           f"(from {current.get(otype.id_field)!r} to {fields[otype.id_field]!r})")
        record = copy.deepcopy(current)
        for name, value in fields.items():
            if name == "RECORDNO":
                continue
            if value in ("", None):
                record.pop(name, None)  # an empty element clears the field
            elif isinstance(value, dict) and isinstance(record.get(name), dict):
                record[name] = _merge(record[name], value)
            else:
                record[name] = value  # APBILLITEMS given: the lines are replaced
        record["WHENMODIFIED"] = self._now_text()
        self._check(otype, record, creating=False)
        if otype.name == "APBILL":
            self._derive_bill(record)
        self._records[otype.name][record["RECORDNO"]] = record
        return record

    def _check(self, otype: _ObjectType, record: dict[str, Any], *, creating: bool) -> None:
        """Required fields, references, lengths and uniqueness; raises _Failure naming field and value."""
        missing = [name for name in otype.required if not _blank_free(record.get(name))]
        if missing:
            raise _invalid(f"Required field(s) {', '.join(missing)} missing for {otype.label}")
        description = record.get("DESCRIPTION")
        if isinstance(description, str) and len(description) > MAX_DESCRIPTION:
            raise _invalid(f"DESCRIPTION is {len(description)} characters long; at most {MAX_DESCRIPTION} "
                           "are allowed", "Shorten the description.")
        for name, target, within in otype.references:
            self._require(target, name, record.get(name), {n: record.get(n) for n in within})
        if otype.name == "APBILL":
            self._check_bill(record)
        key = record.get(otype.id_field)
        if key:
            scope = {name: record.get(name) for name in otype.unique_within}
            for other in self._records[otype.name].values():
                if other["RECORDNO"] != record["RECORDNO"] and other.get(otype.id_field) == key \
                        and all(other.get(n) == v for n, v in scope.items()):
                    given = " ".join(str(v) for v in (*scope.values(), key))
                    code, correction = DUPLICATE_RECORD
                    verb = "create" if creating else "update"
                    raise _Failure(
                        IntacctError(code, f"Another {otype.label} with the given value(s) {given}  already exists",
                                     correction),
                        IntacctError(RECORD_NOT_SAVED, f"Could not {verb} {otype.label.lower()} record!"))

    def _check_bill(self, record: dict[str, Any]) -> None:
        for name in ("WHENCREATED", "WHENDUE", "WHENPOSTED"):
            if name in record and _parse_date(record[name]) is None:
                raise _invalid(f"{name} {record[name]!r} is not a date; use MM/DD/YYYY")
        lines = record.get(BILL_LINES)
        if not isinstance(lines, list) or not lines:
            raise _invalid(f"A bill needs at least one line ({BILL_LINES}/{BILL_LINE})")
        for number, line in enumerate(lines, start=1):
            if not isinstance(line, dict):
                raise _invalid(f"Line {number} of the bill is not an {BILL_LINE}")
            if not line.get("ACCOUNTNO"):
                raise _invalid(f"Line {number}: required field ACCOUNTNO is missing", "Give the GL account number.")
            if _decimal(line.get("TRX_AMOUNT")) is None:
                raise _invalid(f"Line {number}: TRX_AMOUNT {line.get('TRX_AMOUNT')!r} is not an amount",
                               "Give the amount as a number, e.g. 750.75.")
            for name, target, within in LINE_DIMENSIONS:
                if line.get(name):
                    self._require(target, name, line[name], {n: line.get(n) for n in within}, line=number)

    def _require(self, obj: str, name: str, value: Any, within: dict[str, Any], *, line: int | None = None) -> None:
        """``value`` must name an active ``obj`` record (matching ``within`` where given)."""
        otype = OBJECTS[obj]
        where = f"Line {line}: " if line else ""
        matches = [r for r in self._records[obj].values() if r.get(otype.id_field) == value
                   and all(r.get(n) == v for n, v in within.items() if v)]
        context = "".join(f" in {n} {v}" for n, v in within.items() if v)
        if not matches:
            raise _invalid(f"{where}Invalid {otype.label} '{value}' ({name}): no such {otype.label.lower()}"
                           f"{context}", f"Use an existing {otype.label.lower()} or create it in Intacct first.")
        if all(str(r.get("STATUS", "active")).lower() == "inactive" for r in matches):
            raise _invalid(f"{where}{otype.label} '{value}' ({name}) is inactive{context}",
                           f"Use an active {otype.label.lower()}.")

    def _derive_bill(self, bill: dict[str, Any]) -> None:
        """The fields Intacct computes: vendor name, totals, state, line numbers and amounts."""
        vendor = self._find(OBJECTS["VENDOR"], bill.get("VENDORID", ""))
        bill["RECORDTYPE"] = "apbill"
        bill["VENDORNAME"] = vendor.get("NAME", "") if vendor else ""
        action = str(bill.pop("ACTION", "")).lower()  # Draft or Submit (the default); not stored
        bill["STATE"] = "Draft" if action == "draft" else "Posted" if action == "submit" else bill.get("STATE", "Posted")
        total = Decimal(0)
        for number, line in enumerate(bill.get(BILL_LINES) or [], start=1):
            amount = _decimal(line.get("TRX_AMOUNT")) or Decimal(0)
            total += amount
            line["LINE_NO"] = str(number)
            line["AMOUNT"] = line["TRX_AMOUNT"] = _money(amount)
            if "RECORDNO" not in line:
                line["RECORDNO"] = self._next_recordno
                self._next_recordno += 1
        paid = _decimal(bill.get("TOTALPAID")) or Decimal(0)
        bill["TOTALENTERED"] = bill["TRX_TOTALENTERED"] = _money(total)
        bill["TOTALPAID"] = _money(paid)
        bill["TOTALDUE"] = bill["TRX_TOTALDUE"] = _money(total - paid)

    def _find(self, otype: _ObjectType, key: int | str, *, by: str | None = None) -> dict[str, Any] | None:
        table = self._records[otype.name]
        if by in (None, "RECORDNO") and isinstance(key, int):
            return table.get(key)
        if by == "RECORDNO":
            return None
        matches = [r for r in table.values() if r.get(otype.id_field) == key]
        if len(matches) > 1:
            raise _invalid(f"{otype.id_field} {key} names {len(matches)} {otype.name} records; give RECORDNO")
        return matches[0] if matches else None

    def _now_text(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).strftime("%m/%d/%Y %H:%M:%S")

    def _snapshot(self) -> tuple[Any, ...]:
        return copy.deepcopy((self._records, self._next_recordno, self._done_controlids)), len(self.functions_run)

    def _restore(self, snapshot: tuple[Any, ...]) -> None:
        (self._records, self._next_recordno, self._done_controlids), ran = snapshot
        del self.functions_run[ran:]


# -- the query-string grammar of readByQuery (DEV-QRY) -------------------------------------------

_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<number>-?\d+(?:\.\d+)?)(?![\w.])
  | (?P<op><>|!=|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<bad>\S)
)""", re.VERBOSE)
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "IS", "NULL"})


def compile_query(text: str, fields: Iterable[str], obj: str = "") -> Callable[[dict[str, str]], bool]:
    """``text`` (``VENDORID = 'V1' AND WHENMODIFIED >= '06/01/2025 00:00:00'``) as a test of a
    flattened record (dotted name → text). Operators ``= != <> < > <= >=``, ``[NOT] LIKE`` (``%``
    and ``_``), ``[NOT] IN (…)``, ``IS [NOT] NULL``, ``NOT``, ``AND``, ``OR``, parentheses; string
    values single-quoted with ``\\'`` escapes. Date fields compare as dates, number fields as numbers,
    the rest as case-sensitive text. Raises _Failure ("Query Failed") naming what is wrong."""
    tokens: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(text or ""):
        kind = match.lastgroup or ""
        value = match[kind] if kind else ""
        if kind == "bad":
            raise _query_failed(f"Invalid query {text!r}: unexpected {value!r} at position {match.start(kind)}")
        if kind == "word" and value.upper() in _KEYWORDS:
            kind, value = "keyword", value.upper()
        if kind:
            tokens.append((kind, value))
    if not tokens:
        return lambda row: True
    parser = _QueryParser(tokens, {name.upper() for name in fields}, text, obj)
    test = parser.expression()
    if parser.position != len(tokens):
        raise parser.error("unexpected " + repr(tokens[parser.position][1]))
    return test


class _QueryParser:
    def __init__(self, tokens: list[tuple[str, str]], fields: set[str], text: str, obj: str) -> None:
        self.tokens, self.fields, self.text, self.obj = tokens, fields, text, obj
        self.position = 0

    def error(self, what: str) -> _Failure:
        return _query_failed(f"Invalid query {self.text!r}: {what}")

    def peek(self, kind: str, value: str | None = None) -> bool:
        if self.position >= len(self.tokens):
            return False
        token_kind, token_value = self.tokens[self.position]
        return token_kind == kind and (value is None or token_value == value)

    def take(self, kind: str, value: str | None = None) -> str:
        if not self.peek(kind, value):
            found = self.tokens[self.position][1] if self.position < len(self.tokens) else "the end"
            raise self.error(f"expected {value or kind}, found {found!r}")
        self.position += 1
        return self.tokens[self.position - 1][1]

    def expression(self) -> Callable[[dict[str, str]], bool]:
        terms = [self.term()]
        while self.peek("keyword", "OR"):
            self.take("keyword", "OR")
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else (lambda row: any(t(row) for t in terms))

    def term(self) -> Callable[[dict[str, str]], bool]:
        factors = [self.factor()]
        while self.peek("keyword", "AND"):
            self.take("keyword", "AND")
            factors.append(self.factor())
        return factors[0] if len(factors) == 1 else (lambda row: all(f(row) for f in factors))

    def factor(self) -> Callable[[dict[str, str]], bool]:
        if self.peek("keyword", "NOT"):
            self.take("keyword", "NOT")
            inner = self.factor()
            return lambda row: not inner(row)
        if self.peek("punct", "("):
            self.take("punct", "(")
            inner = self.expression()
            self.take("punct", ")")
            return inner
        return self.comparison()

    def comparison(self) -> Callable[[dict[str, str]], bool]:
        name = self.take("word").upper()
        if name not in self.fields:
            raise _query_failed(f"Invalid query {self.text!r}: {self.obj} has no field {name}")
        if self.peek("keyword", "IS"):
            self.take("keyword", "IS")
            negate = self.peek("keyword", "NOT") and bool(self.take("keyword", "NOT"))
            self.take("keyword", "NULL")
            return lambda row: (row.get(name, "") == "") != negate
        negate = self.peek("keyword", "NOT") and bool(self.take("keyword", "NOT"))
        if self.peek("keyword", "LIKE"):
            self.take("keyword", "LIKE")
            pattern = _like(self.value())
            return lambda row: row.get(name, "") != "" and (pattern.fullmatch(row[name]) is not None) != negate
        if self.peek("keyword", "IN"):
            self.take("keyword", "IN")
            self.take("punct", "(")
            values = [self.value()]
            while self.peek("punct", ","):
                self.take("punct", ",")
                values.append(self.value())
            self.take("punct", ")")
            keys = [_comparable(name, v, self) for v in values]
            return lambda row: row.get(name, "") != "" and (_row_value(name, row) in keys) != negate
        if negate:
            raise self.error("NOT must be followed by LIKE or IN here")
        op = self.take("op")
        right = _comparable(name, self.value(), self)
        compare = _OPERATORS[op]

        def test(row: dict[str, str]) -> bool:
            left = _row_value(name, row)
            if left is None:
                return False
            try:
                return compare(left, right)
            except TypeError:
                return False
        return test

    def value(self) -> str:
        if self.peek("string"):
            raw = self.take("string")[1:-1]
            return re.sub(r"\\(.)", r"\1", raw)
        if self.peek("number"):
            return self.take("number")
        found = self.tokens[self.position][1] if self.position < len(self.tokens) else "the end"
        raise self.error(f"expected a value ('text' or a number), found {found!r}")


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
}


def _comparable(name: str, value: str, parser: _QueryParser) -> Any:
    """A query value in the type of its field; a value that does not fit fails the query."""
    if name.rsplit(".", 1)[-1] in DATETIME_FIELDS:
        parsed = _parse_date(value)
        if parsed is None:
            raise parser.error(f"{value!r} is not a date for {name}; use MM/DD/YYYY or MM/DD/YYYY HH:MM:SS")
        return parsed
    if name.rsplit(".", 1)[-1] in NUMBER_FIELDS:
        number = _decimal(value)
        if number is None:
            raise parser.error(f"{value!r} is not a number for {name}")
        return number
    return value


def _row_value(name: str, row: dict[str, str]) -> Any:
    text = row.get(name, "")
    if text == "":
        return None
    leaf = name.rsplit(".", 1)[-1]
    if leaf in DATETIME_FIELDS:
        return _parse_date(text)
    if leaf in NUMBER_FIELDS:
        return _decimal(text)
    return text


def _like(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern), re.DOTALL)


_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


def _parse_date(text: Any) -> datetime | None:
    """``MM/DD/YYYY`` or ``MM/DD/YYYY HH:MM[:SS]`` as a naive datetime; None when it is neither."""
    match = _DATE.fullmatch(str(text).strip())
    if match is None:
        return None
    month, day, year, hour, minute, second = (int(g) if g else 0 for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


# -- values, records and rendering ---------------------------------------------------------------


def _require_xml_format(body: etree._Element) -> None:
    wanted = (body.findtext("returnFormat") or "xml").strip().lower()
    if wanted != "xml":
        raise _query_failed(f"returnFormat {wanted} is not offered by the simulator; ask for xml")


def _object_name(obj: str) -> str:
    name = obj.strip().upper()
    if name not in OBJECTS:
        raise KeyError(f"the simulator keeps no {obj!r} records; it keeps {', '.join(OBJECTS)}")
    return name


def _object_type(tag: str, *, query: bool = False) -> _ObjectType:
    otype = OBJECTS.get(tag.upper() if query else tag)
    if otype is None:
        if query:
            raise _query_failed(f"Object definition {tag} not found")
        raise _Failure(IntacctError(RECORD_NOT_SAVED, f"Object definition {tag} not found",
                                    f"Use one of {', '.join(OBJECTS)} (generic functions take UPPERCASE objects)."))
    return otype


def _element_fields(element: etree._Element) -> dict[str, Any]:
    """An object element as a dict: text leaves, nested dicts, ``APBILLITEMS`` as a list of lines,
    any other repeated child as a list."""
    fields: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if child.tag == BILL_LINES:
            value: Any = [_element_fields(line) for line in child if isinstance(line.tag, str)]
        elif len(child):
            value = _element_fields(child)
        else:
            value = child.text or ""
        if child.tag in fields:
            previous = fields[child.tag]
            fields[child.tag] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            fields[child.tag] = value
    return fields


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    """Seed values as the API stores them: text, dicts and lists of dicts (numbers become text)."""
    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if value is None or isinstance(value, str):
            return value
        return str(value)
    return {name: (value if name == "RECORDNO" else convert(value)) for name, value in fields.items()}


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for name, value in new.items():
        if value in ("", None):
            merged.pop(name, None)
        elif isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = _merge(merged[name], value)
        else:
            merged[name] = value
    return merged


def _blank_free(value: Any) -> bool:
    return value is not None and (not isinstance(value, str) or value.strip() != "")


def _known_fields(otype: _ObjectType, flats: list[dict[str, str]]) -> list[str]:
    """The standard fields, then any other field a (flattened) record of this object carries."""
    known = list(otype.fields)
    seen = set(known)
    for flat in flats:
        for name in flat:
            if name not in seen:
                seen.add(name)
                known.append(name)
    return known


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted names → text, as readByQuery answers (``DISPLAYCONTACT.EMAIL1``); lists (lines) left out."""
    flat: dict[str, str] = {}
    for name, value in record.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{name}."))
        elif not isinstance(value, list):
            flat[prefix + name] = "" if value is None else str(value)
    return flat


def _render_row(otype: _ObjectType, flat: dict[str, str], fields: list[str]) -> etree._Element:
    row = etree.Element(otype.name)
    for name in fields:
        etree.SubElement(row, name).text = flat.get(name) or None
    return row


def _render_read(otype: _ObjectType, record: dict[str, Any], fields: list[str]) -> etree._Element:
    """A record as ``read`` answers: nested elements, lines as ``<APBILLITEMS><apbillitem>``."""
    if not fields:
        row = etree.Element(otype.name)
        order = {name.split(".", 1)[0]: position for position, name in reversed(list(enumerate(otype.fields)))}
        names = sorted(record, key=lambda name: order.get(name, len(order)))  # stable: extras keep their order
        _render_nested(row, {name: record[name] for name in names})
        return row
    flat = _flatten(record)
    row = etree.Element(otype.name)
    for name in fields:
        if name == BILL_LINES:
            _render_nested(row, {BILL_LINES: record.get(BILL_LINES) or []})
        else:
            etree.SubElement(row, name).text = flat.get(name) or None
    return row


def _render_nested(parent: etree._Element, values: dict[str, Any]) -> None:
    for name, value in values.items():
        child = etree.SubElement(parent, name)
        if name == BILL_LINES:
            for line in value or []:
                _render_nested(etree.SubElement(child, BILL_LINE_ANSWER_TAG),
                               {n: line[n] for n in (*BILL_LINE_FIELDS, *line) if n in line})
        elif isinstance(value, dict):
            _render_nested(child, value)
        elif isinstance(value, list):
            child.text = ", ".join(str(v) for v in value if not isinstance(v, dict)) or None
        elif value not in (None, ""):
            child.text = str(value)


def _objects_data(records: list[tuple[_ObjectType, dict[str, Any]]]) -> etree._Element:
    """What generic create/update answer: ``<data listtype="objects"><vendor><RECORDNO>…<VENDORID>…``."""
    data = etree.Element("data", listtype="objects", count=str(len(records)))
    for otype, record in records:
        item = etree.SubElement(data, otype.name.lower())
        _text(item, "RECORDNO", str(record["RECORDNO"]))
        _text(item, otype.id_field, str(record.get(otype.id_field, "")))
    return data


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _same(given: str | None, expected: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _uniqueid(root: etree._Element) -> bool:
    # The docs: "When set to true, which is the default, a request cannot be repeated" (reference §4).
    return (root.findtext("control/uniqueid") or "true").strip().lower() == "true"


# -- the envelope ---------------------------------------------------------------------------------


def _text(parent: etree._Element, tag: str, text: str | None) -> etree._Element:
    child = etree.SubElement(parent, tag)
    child.text = text or None
    return child


def _control_block(answer: etree._Element, root: etree._Element | None, status: str,
                   unique: bool | None = None) -> None:
    control = etree.SubElement(answer, "control")
    _text(control, "status", status)
    _text(control, "senderid", root.findtext("control/senderid", "") if root is not None else "")
    _text(control, "controlid", root.findtext("control/controlid", "") if root is not None else "")
    if root is not None:
        _text(control, "uniqueid", "true" if (_uniqueid(root) if unique is None else unique) else "false")
        _text(control, "dtdversion", "3.0")


def _errors(parent: etree._Element, errors: list[IntacctError]) -> None:
    message = etree.SubElement(parent, "errormessage")
    for error in errors:
        item = etree.SubElement(message, "error")
        _text(item, "errorno", error.errorno)
        _text(item, "description", error.description)
        _text(item, "description2", error.description2)
        _text(item, "correction", error.correction)


def _control_failure(root: etree._Element | None, errors: list[IntacctError]) -> Response:
    """Nothing ran: ``<control><status>failure</status>…</control><errormessage>``, no operation."""
    answer = etree.Element("response")
    _control_block(answer, root, "failure")
    _errors(answer, errors)
    return _xml_response(answer)


def _xml_response(answer: etree._Element) -> Response:
    # lxml writes the declaration with single quotes; the gateway's has double quotes.
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(answer, encoding="UTF-8")
    return Response(200, body, {"Content-Type": XML_CONTENT_TYPE})


_LEVELS = {"FATAL": "Fatal Error", "ERROR": "Error", "WARNING": "Warning"}


def _libxml_text(entry: Any) -> str:
    """One libxml2 message as the gateway words it (it runs libxml2 too): ``Fatal Error 76: Opening
    and ending tag mismatch: PROJECTID line 18 and PROJECT. Line: 18, column: 62.``"""
    level = _LEVELS.get(entry.level_name, entry.level_name.title())
    return f"{level} {entry.type}: {entry.message.strip().rstrip('.')}. Line: {entry.line}, column: {entry.column}."


def _syntax_errors(log: list[Any]) -> list[IntacctError]:
    """The parse errors xmlsafe reported (libxml2's error number, line and column, which the
    gateway quotes) as the gateway's errors."""
    entries: list[Any] = []
    seen: set[tuple[Any, ...]] = set()
    for entry in log:  # libxml2 may log one error twice
        key = (entry.type, entry.line, entry.column, entry.message)
        if entry.level_name in ("FATAL", "ERROR") and key not in seen:
            seen.add(key)
            entries.append(entry)
    if not entries:
        return [IntacctError(PARSE_ERROR, "XML Parse schema error: the request is not well-formed XML.")]
    return [IntacctError(PARSE_ERROR, "XML Parse schema error: " + _libxml_text(e)) for e in entries[:5]]
