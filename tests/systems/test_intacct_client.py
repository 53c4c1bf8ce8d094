"""IntacctClient against the gateway's own answers (every file in /work/shared/specs/intacct, served
through httpx.MockTransport) and scripted ones: the request envelope checked against the gateway's
schema (api.v3.0.xsd), sessions and their renewal, the three error levels, retries, control
characters and secrets (intacct_sage100.md Part A §1–§7)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from lxml import etree

from mlconnector import xmlsafe
from mlconnector.errors import (
    AuthError,
    ExitCode,
    PermissionDenied,
    ResponseError,
    UnreachableError,
)
from mlconnector.systems.intacct import IntacctClient, IntacctResultError
from mlconnector.systems.intacct._xml import element
from mlconnector.systems.intacct.auth import checked_endpoint
from mlconnector.systems.intacct.client import xml_text
from mlconnector.systems.intacct.errors import IntacctErrorDetail, join_errors
from mlconnector.systems.intacct.paging import read_by_query, read_more_element
from mlconnector.systems.intacct.settings import DEFAULT_URL, IntacctSettings
from mlconnector.systems.intacct.writers import create, fields_xml

SPECS = Path("/work/shared/specs/intacct")
if not SPECS.is_dir():  # the specs live outside the repository; the simulator keeps a copy of the schema
    SPECS = Path(__file__).resolve().parents[2] / "mlconnector" / "sandbox" / "data" / "intacct"
XSD_PATH = SPECS / "intacct_dtd" / "api.v3.0.xsd"
pytestmark = pytest.mark.skipif(not XSD_PATH.is_file(), reason="the Intacct specs are not available")

SENDER_PASSWORD = "Sender#Pass-9x"
USER_PASSWORD = "User#Pass-7y"
SESSION_ID = "fAkESesSiOnId.."  # what response_getAPISession_success.xml hands out


def fixture(name: str) -> bytes:
    for folder in ("jfcote87-intacct-testfiles", "intacct-sdk-php-test-heredocs"):
        path = SPECS / folder / name
        if path.is_file():
            return path.read_bytes()
    raise FileNotFoundError(name)


_SCHEMA: list[etree.XMLSchema] = []


def schema() -> etree.XMLSchema:
    if not _SCHEMA:
        _SCHEMA.append(etree.XMLSchema(etree.parse(str(XSD_PATH))))
    return _SCHEMA[0]


# -- scripted answers ---------------------------------------------------------------------------

STAMP = "2025-06-15T08:00:00-07:00"


def answer(results: str = "", *, hours: float | None = 6, auth_status: str = "success", auth_errors: str = "") -> bytes:
    """A gateway answer: control success, an authentication block (session ``hours`` long), ``results``."""
    timeout = ""
    if hours is not None:
        from datetime import datetime, timedelta

        end = datetime.fromisoformat(STAMP) + timedelta(hours=hours)
        timeout = f"<sessiontimeout>{end.isoformat()}</sessiontimeout>"
    return (
        "<?xml version='1.0' encoding='UTF-8'?><response><control><status>success</status><senderid>S</senderid>"
        "<controlid>c</controlid><uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control><operation>"
        f"<authentication><status>{auth_status}</status><userid>U</userid><companyid>C</companyid><locationid/>"
        f"<sessiontimestamp>{STAMP}</sessiontimestamp>{timeout}</authentication>{auth_errors}{results}"
        "</operation></response>"
    ).encode()


def result(function: str, data: str = "", *, status: str = "success", errors: str = "", attrs: str = "") -> str:
    body = f"<data{attrs}>{data}</data>" if data or attrs else ""
    return (f"<result><status>{status}</status><function>{function}</function><controlid>f</controlid>{body}"
            f"{errors}</result>")


def error(errorno: str, description2: str = "", *, description: str = "", correction: str = "") -> str:
    return (f"<errormessage><error><errorno>{errorno}</errorno><description>{description}</description>"
            f"<description2>{description2}</description2><correction>{correction}</correction></error></errormessage>")


def session_answer(*, endpoint: str = DEFAULT_URL, sessionid: str = SESSION_ID, hours: float | None = 24) -> bytes:
    return answer(result("getAPISession", f"<api><sessionid>{sessionid}</sessionid><endpoint>{endpoint}</endpoint>"
                                          "<locationid/></api>"), hours=hours)


def control_failure(errorno: str, description2: str = "", correction: str = "") -> bytes:
    return (f"<response><control><status>failure</status><senderid/><controlid/></control>"
            f"{error(errorno, description2, correction=correction)}</response>").encode()


VENDORS_PAGE = answer(result("readByQuery", "<VENDOR><RECORDNO>1</RECORDNO><VENDORID>V1</VENDORID></VENDOR>",
                             attrs=' listtype="VENDOR" count="1" totalcount="1" numremaining="0" resultId=""'))

Answer = bytes | httpx.Response | Callable[[httpx.Request], httpx.Response]


class Gateway:
    """Checks every request against the schema and answers from a script.

    Sign-in requests (``<login>``) get ``logins`` in turn (then the SDK's getAPISession answer);
    every other request the next of ``answers``.
    """

    def __init__(self, *answers: Answer, logins: list[Answer] | None = None) -> None:
        self.answers = list(answers)
        self.logins = list(logins or [])
        self.requests: list[tuple[httpx.Request, etree._Element]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        root = xmlsafe.parse(request.content)
        assert schema().validate(root), str(schema().error_log)
        self.requests.append((request, root))
        if root.find("operation/authentication/login") is not None:
            reply = self.logins.pop(0) if self.logins else fixture("response_getAPISession_success.xml")
        else:
            assert self.answers, "an unexpected request"
            reply = self.answers.pop(0)
        if callable(reply):
            return reply(request)
        if isinstance(reply, httpx.Response):
            return reply
        return httpx.Response(200, content=reply, headers={"Content-Type": "text/xml"})

    @property
    def logins_made(self) -> int:
        return sum(1 for _, root in self.requests if root.find("operation/authentication/login") is not None)

    def calls(self) -> list[etree._Element]:
        """The function requests (not sign-ins)."""
        return [root for _, root in self.requests if root.find("operation/authentication/sessionid") is not None]


def settings(**overrides) -> IntacctSettings:
    values = dict(name="intacct", kind="intacct", sender_id="MLCONNECTOR", company_id="ACME", user_id="xml_gateway")
    values.update(overrides)
    return IntacctSettings(**values)


@pytest.fixture
def make_client(clock, sleep):
    clients: list[IntacctClient] = []

    def make(gateway: Gateway, **overrides) -> IntacctClient:
        client = IntacctClient(settings(**overrides), sender_password=SENDER_PASSWORD, user_password=USER_PASSWORD,
                               transport=httpx.MockTransport(gateway), sleep=sleep, clock=clock)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def read_vendors(client: IntacctClient):
    return client.call(element("readByQuery", object="VENDOR", fields="*", query="", pagesize=10),
                       controlid="read-vendors", what="read vendors")


# -- the request envelope (§1) ---------------------------------------------------------------------


def test_sign_in_asks_for_a_session_alone_then_calls_with_the_session(make_client):
    gateway = Gateway(VENDORS_PAGE)
    client = make_client(gateway)
    read_vendors(client)
    (login_request, login), (call_request, call) = gateway.requests
    assert [c.tag for c in login.find("control")] == [
        "senderid", "password", "controlid", "uniqueid", "dtdversion", "includewhitespace"]
    assert login.findtext("control/senderid") == "MLCONNECTOR"
    assert login.findtext("control/password") == SENDER_PASSWORD
    assert login.findtext("control/dtdversion") == "3.0"
    assert login.findtext("control/includewhitespace") == "false"
    assert login.find("operation").get("transaction") == "false"
    assert [c.tag for c in login.find("operation/authentication/login")] == ["userid", "companyid", "password"]
    assert login.findtext("operation/authentication/login/password") == USER_PASSWORD
    functions = login.findall("operation/content/function")
    assert len(functions) == 1 and [c.tag for c in functions[0]] == ["getAPISession"]
    assert call.findtext("operation/authentication/sessionid") == SESSION_ID
    assert call.find("operation/content/function").get("controlid") == "read-vendors"
    for request in (login_request, call_request):
        assert request.method == "POST"
        assert request.headers["Content-Type"] == "application/xml"
        assert str(request.url) == DEFAULT_URL


def test_envelope_matches_the_sdk_session_envelope():
    """request_envelope_sessionid.xml: the PHP SDK's envelope, element for element."""
    sdk = xmlsafe.parse(fixture("request_envelope_sessionid.xml"))
    gateway = Gateway(VENDORS_PAGE)
    client = IntacctClient(settings(), sender_password=SENDER_PASSWORD, user_password=USER_PASSWORD,
                           transport=httpx.MockTransport(gateway))
    with client:
        read_vendors(client)
    ours = gateway.calls()[0]
    for path in ("control", "operation/authentication"):
        assert [c.tag for c in ours.find(path)] == [c.tag for c in sdk.find(path)], path
    assert ours.find("operation").attrib == sdk.find("operation").attrib
    assert [c.tag for c in ours.find("operation")] == [c.tag for c in sdk.find("operation")]
    # The SDK fixture's empty <content> is not valid; ours is.
    assert not schema().validate(sdk) and schema().validate(ours)


def test_uniqueid_is_true_for_writes_and_false_for_reads(make_client):
    created = answer(result("create", "<vendor><RECORDNO>7</RECORDNO><VENDORID>V7</VENDORID></vendor>",
                            attrs=' listtype="objects" count="1"'))
    gateway = Gateway(VENDORS_PAGE, created)
    client = make_client(gateway)
    read_vendors(client)
    assert create(client, "VENDOR", {"VENDORID": "V7", "NAME": "Seven"}, controlid="vendor-V7-1") == "7"
    login, read, write = (root for _, root in gateway.requests)
    assert login.findtext("control/uniqueid") == "false"
    assert read.findtext("control/uniqueid") == "false"
    assert write.findtext("control/uniqueid") == "true"
    assert write.find("operation/content/function").get("controlid") == "vendor-V7-1"
    assert client.reads == 2 and client.writes == 1


def test_entity_id_goes_into_login_and_get_api_session_as_the_sdk_writes_it(make_client):
    gateway = Gateway(VENDORS_PAGE)
    client = make_client(gateway, entity_id="100")
    read_vendors(client)
    login = gateway.requests[0][1]
    assert login.findtext("operation/authentication/login/locationid") == "100"
    sdk = xmlsafe.parse(fixture("request_function_getAPISession_locationid.xml"))
    ours = login.find("operation/content/function")
    assert canonical(ours.find("getAPISession")) == canonical(sdk.find("getAPISession"))


def test_read_more_element_matches_the_sdk():
    sdk = xmlsafe.parse(fixture("request_function_readMore_resultId.xml"))
    assert canonical(read_more_element("6465763031VyprCMCoHYQAAGr@aRsAAAAU4")) == canonical(sdk.find("readMore"))


def canonical(node: etree._Element) -> bytes:
    """``node`` without the indentation between elements (the fixtures are pretty-printed)."""
    node = copy.deepcopy(node)
    for each in node.iter():
        if len(each) and each.text is not None and not each.text.strip():
            each.text = None
        if each.tail is not None and not each.tail.strip():
            each.tail = None
    return etree.tostring(node)


def _as_fields(node: etree._Element) -> dict:
    return {c.tag: (_as_fields(c) if len(c) else c.text) for c in node}


def test_fields_xml_writes_the_sdk_full_vendor_create(make_client):
    """request_function_create_VENDOR_full.xml: the same VENDOR from a dict, and a valid request."""
    sdk = xmlsafe.parse(fixture("request_function_create_VENDOR_full.xml")).find("create/VENDOR")
    ours = fields_xml("VENDOR", _as_fields(sdk))
    assert canonical(ours) == canonical(sdk)
    gateway = Gateway(answer(result("create", "<vendor><RECORDNO>9</RECORDNO><VENDORID>V1234</VENDORID></vendor>",
                                    attrs=' listtype="objects" count="1"')))
    assert create(make_client(gateway), "VENDOR", _as_fields(sdk), controlid="unittest") == "9"


def test_a_too_long_controlid_is_refused_before_sending(make_client):
    gateway = Gateway()
    with pytest.raises(ValueError, match="256"):
        make_client(gateway).call(element("readMore", resultId="x"), controlid="x" * 257, what="read more")
    with pytest.raises(ValueError):
        make_client(gateway).call(element("readMore", resultId="x"), controlid="", what="read more")


# -- control characters (§6) -------------------------------------------------------------------------


def test_xml_text_removes_what_xml_forbids_and_keeps_tab_newline_return():
    assert xml_text("a\x00b\x0bc\x0cd\x1fe\ud800f\ufffeg\uffffh") == "abcdefgh"
    assert xml_text("tab\tnew\nret\r") == "tab\tnew\nret\r"
    assert xml_text("émoji 😀 & <tag>") == "émoji 😀 & <tag>"
    assert xml_text(12.5) == "12.5"


def test_control_characters_never_reach_the_gateway(make_client):
    created = answer(result("create", "<apbill><RECORDNO>3</RECORDNO></apbill>", attrs=' listtype="objects"'))
    gateway = Gateway(created)
    client = make_client(gateway)
    description = "Concrete\x0b pour\x00, level 2 & <north>\x1f\tend"
    create(client, "APBILL", {"VENDORID": "V1", "DESCRIPTION": description,
                              "APBILLITEMS": {"APBILLITEM": [{"ENTRYDESCRIPTION": "line\x08 one"}]}},
           controlid="bill-1")
    request, root = gateway.requests[-1]
    for bad in (b"\x0b", b"\x00", b"\x1f", b"\x08"):
        assert bad not in request.content
    bill = root.find("operation/content/function/create/APBILL")
    assert bill.findtext("DESCRIPTION") == "Concrete pour, level 2 & <north>\tend"
    assert bill.findtext("APBILLITEMS/APBILLITEM/ENTRYDESCRIPTION") == "line one"
    assert b"&amp; &lt;north&gt;" in request.content


# -- sessions (§2) -------------------------------------------------------------------------------------


def test_get_api_session_success_fixture_opens_a_24_hour_session(make_client, clock):
    gateway = Gateway(VENDORS_PAGE)
    client = make_client(gateway)
    read_vendors(client)
    session = client.session
    assert session.sessionid == SESSION_ID and session.endpoint == DEFAULT_URL and session.locationid is None
    # The fixture's timeout is 24 h after its timestamp; the vendors answer then slides it to 6 h.
    assert session.expires_at == pytest.approx(clock() + 6 * 3600)


def test_the_session_lifetime_is_read_from_every_answer_fixture(make_client, clock):
    """functionErrorSuccess.xml: timestamp and timeout 6 h apart, whatever our clock says."""
    gateway = Gateway(fixture("functionErrorSuccess.xml"))
    client = make_client(gateway)
    with pytest.raises(IntacctResultError):
        read_vendors(client)
    assert client.session.expires_at == pytest.approx(clock() + 6 * 3600)


def test_a_session_is_reused_until_it_nears_its_timeout(make_client, clock):
    gateway = Gateway(*(answer(result("readByQuery", attrs=' count="0" numremaining="0"'), hours=1)
                        for _ in range(4)), logins=[session_answer(hours=1), session_answer(hours=1)])
    client = make_client(gateway)
    read_vendors(client)
    clock.advance(3600 - 61)
    read_vendors(client)  # 61 s left: still good, and the answer slides the window to 1 h again
    assert gateway.logins_made == 1
    clock.advance(3600 - 59)
    read_vendors(client)  # 59 s left: a new session first
    assert gateway.logins_made == 2
    read_vendors(client)
    assert gateway.logins_made == 2


def test_an_answer_without_a_timeout_keeps_the_last_known_one(make_client, clock):
    gateway = Gateway(fixture("vendorResponse.xml"), logins=[session_answer(hours=2)])
    client = make_client(gateway)
    read_vendors(client)  # vendorResponse.xml has a sessiontimestamp and no sessiontimeout
    assert client.session.expires_at == pytest.approx(clock() + 2 * 3600)


def test_an_invalid_session_signs_in_again_once_and_repeats_the_call(make_client):
    """sessionInvalid.xml: XL03000006 at the authentication level after the session was made."""
    gateway = Gateway(VENDORS_PAGE, fixture("sessionInvalid.xml"), VENDORS_PAGE,
                      logins=[session_answer(sessionid="first-session"), session_answer(sessionid="second-session")])
    client = make_client(gateway)
    read_vendors(client)
    assert read_vendors(client).records() == [{"RECORDNO": "1", "VENDORID": "V1"}]
    assert gateway.logins_made == 2
    sessions = [root.findtext("operation/authentication/sessionid") for root in gateway.calls()]
    assert sessions == ["first-session", "first-session", "second-session"]
    controlids = [root.find("operation/content/function").get("controlid") for root in gateway.calls()]
    assert controlids == ["read-vendors"] * 3


def test_an_invalid_session_twice_in_a_row_is_an_auth_error(make_client):
    gateway = Gateway(fixture("sessionInvalid.xml"), fixture("sessionInvalid.xml"), VENDORS_PAGE)
    client = make_client(gateway)
    with pytest.raises(AuthError, match="Invalid session") as info:
        read_vendors(client)
    assert info.value.code == "XL03000006" and info.value.exit_code == ExitCode.FATAL
    assert gateway.logins_made == 2 and len(gateway.calls()) == 2


@pytest.mark.parametrize("name", ["execLoginInvalid.xml", "response_authentication_failure_XL03000006.xml"])
def test_wrong_sign_in_is_an_auth_error_naming_what_to_check(make_client, name):
    gateway = Gateway(logins=[fixture(name)])
    with pytest.raises(AuthError) as info:
        read_vendors(make_client(gateway))
    assert "XL03000006 Sign-in information is incorrect" in info.value.message
    assert "user_id" in info.value.hint and "credentials set intacct" in info.value.hint
    assert info.value.code == "XL03000006"
    assert gateway.logins_made == 1  # a wrong password is not retried


def test_a_permission_failure_at_sign_in_is_permission_denied(make_client):
    refused = answer(auth_status="failure", auth_errors=error("XL03000006x", "You do not have permission for API "
                                                                               "access"), hours=None)
    with pytest.raises(PermissionDenied, match="permission"):
        read_vendors(make_client(Gateway(logins=[refused])))


@pytest.mark.parametrize("endpoint", [
    "https://api.intacct.com/ia/xml/xmlgw.phtml",
    "https://api-eu.intacct.com/ia/xml/xmlgw.phtml",
    "https://api.intacct.com./ia/xml/xmlgw.phtml",
])
def test_an_endpoint_under_intacct_com_is_used(make_client, endpoint):
    gateway = Gateway(VENDORS_PAGE, logins=[session_answer(endpoint=endpoint)])
    client = make_client(gateway)
    read_vendors(client)
    assert str(gateway.requests[-1][0].url) == endpoint


@pytest.mark.parametrize("endpoint, host", [
    ("https://evil.example.com/ia/xml/xmlgw.phtml", "evil.example.com"),
    ("https://api.intacct.com.evil.net/ia/xml/xmlgw.phtml", "api.intacct.com.evil.net"),
    ("https://notintacct.com/ia/xml/xmlgw.phtml", "notintacct.com"),
    ("http://api.intacct.com/ia/xml/xmlgw.phtml", "api.intacct.com"),  # plain http: the session in clear
    ("ftp://api.intacct.com/x", "api.intacct.com"),
])
def test_an_endpoint_elsewhere_is_refused_naming_its_host(make_client, endpoint, host):
    gateway = Gateway(VENDORS_PAGE, logins=[session_answer(endpoint=endpoint)])
    with pytest.raises(AuthError, match=f"endpoint host {host}"):
        read_vendors(make_client(gateway))
    assert gateway.calls() == []  # the session id never went there


def test_the_configured_host_is_accepted_for_a_local_simulator(make_client):
    url = "http://127.0.0.1:8123/ia/xml/xmlgw.phtml"
    gateway = Gateway(VENDORS_PAGE, logins=[session_answer(endpoint=url)])
    client = make_client(gateway, url=url)
    read_vendors(client)
    assert [str(r.url) for r, _ in gateway.requests] == [url, url]
    with pytest.raises(AuthError):
        checked_endpoint("http://127.0.0.2:8123/ia/xml/xmlgw.phtml", configured_url=url, system="intacct")


# -- the gateway's answers: every fixture (§3) -----------------------------------------------------------


def test_read_by_query_fixture_gives_rows_and_paging_attributes(make_client):
    """execProjectSuccess.xml: the first result of a multi-result answer."""
    client = make_client(Gateway(fixture("execProjectSuccess.xml")))
    got = read_vendors(client)
    assert (got.status, got.function, got.listtype) == ("success", "readByQuery", "project")
    assert (got.count, got.totalcount, got.numremaining) == (5, 35, 30)
    assert got.result_id == "7765623336W-ne68CoA4gAAEEhD7EAAAAP4"
    rows = got.records()
    assert len(rows) == 5
    assert rows[0] == {"RECORDNO": "989", "PROJECTID": "A17-ADVC", "NAME": "Advisory Council"}


def test_vendor_fixture_keeps_empty_fields_as_empty_strings(make_client):
    client = make_client(Gateway(fixture("vendorResponse.xml")))
    got = read_vendors(client)
    assert got.function == "read" and got.listtype == "VENDOR" and got.count == 2
    assert got.records()[1] == {"RECORDNO": "29182", "VENDORID": "100002TEST", "NAME": "TEST VENDOR 2",
                                "NAME1099": "VENDOR TEST 2", "PARENTKEY": "", "PARENTID": "", "PARENTNAME": ""}


def test_empty_read_by_query_fixture_is_one_empty_page(make_client):
    client = make_client(Gateway(fixture("response_readByQuery_empty_with_sessiontimeout.xml")))
    assert list(read_by_query(client, "DEPARTMENT", ["DEPARTMENTID"], what="read departments")) == [[]]


def test_multi_error_failure_joins_every_error_with_its_correction(make_client):
    """execFuncError.xml: a duplicate PROJECT, three errors for one function."""
    client = make_client(Gateway(fixture("execFuncError.xml")))
    with pytest.raises(IntacctResultError) as info:
        create(client, "PROJECT", {"PROJECTID": "Fellow PD1"}, controlid="testFunctionId")
    exc = info.value
    assert "create PROJECT failed: BL34000061 Another Project with the given value(s) Fellow PD1 already exists " \
           "— Use a unique value instead.; BL01001973 Could not create project record!; " \
           "BL01001973 Error while saving the Project info" in exc.message
    assert [e.errorno for e in exc.errors] == ["BL34000061", "BL01001973", "BL01001973"]
    assert exc.errors[0].correction == "Use a unique value instead."
    assert exc.code == "BL34000061" and exc.has_error("BL34000061")
    assert (exc.function, exc.controlid, exc.result_status) == ("create", "testFunctionId", "failure")
    assert isinstance(exc, ResponseError)


def test_a_failed_function_in_a_mixed_answer_is_a_result_error(make_client):
    """functionErrorSuccess.xml: errorno is free text ("Invalid fields list x")."""
    with pytest.raises(IntacctResultError, match="read vendors failed: Invalid fields list x$"):
        read_vendors(make_client(Gateway(fixture("functionErrorSuccess.xml"))))


@pytest.mark.parametrize("name, first", [
    ("response_result_aborted_XL03000009.xml", "Query Failed Object definition VENDOR9 not found"),
    ("response_transaction_rollback_two_functions.xml", "XL03000009 The entire transaction"),
])
def test_aborted_results_say_they_were_rolled_back(make_client, name, first):
    with pytest.raises(IntacctResultError, match="read vendors was rolled back: " + first) as info:
        read_vendors(make_client(Gateway(fixture(name))))
    assert info.value.result_status == "aborted"
    assert info.value.has_error("XL03000009")


@pytest.mark.parametrize("name, message, code", [
    ("execXMLError.xml", ("XL03000003 XML Parse schema error: Fatal Error 76: Opening and ending tag mismatch: "
                          "PROJECTID line 18 and PROJECT. Line: 18, column: 62.; XL03000003 XML Parse schema "
                          "error: Fatal Error 76: Opening and ending tag mismatch: PROJECT line 17 and CUSTOMER."),
     "XL03000003"),
    ("response_control_failure_PL04000055.xml", "PL04000055 This company is a demo company and has expired.",
     "PL04000055"),
])
def test_control_level_failures_raise_with_every_error(make_client, name, message, code):
    gateway = Gateway(fixture(name))
    with pytest.raises(ResponseError) as info:
        read_vendors(make_client(gateway))
    assert not isinstance(info.value, (AuthError, IntacctResultError))
    assert message in info.value.message and info.value.code == code
    assert len(gateway.calls()) == 1  # nothing to retry: the request itself was refused


def test_control_level_failure_at_sign_in_is_raised_too(make_client):
    with pytest.raises(ResponseError, match="sign in .*PL04000055"):
        read_vendors(make_client(Gateway(logins=[fixture("response_control_failure_PL04000055.xml")])))


def test_control_level_sign_in_refusal_points_at_the_sender(make_client):
    refused = control_failure("XL03000006", "Incorrect Intacct XML Partner ID or password.")
    with pytest.raises(AuthError) as info:
        read_vendors(make_client(Gateway(logins=[refused])))
    assert "sender_id" in info.value.hint


def test_http_401_with_an_xml_body_is_parsed_and_not_retried(make_client):
    """response_http401_XMLGW_JPP0002.xml, served with HTTP 401 as the SDK test does."""
    reply = httpx.Response(401, content=fixture("response_http401_XMLGW_JPP0002.xml"),
                           headers={"Content-Type": "text/xml"})
    gateway = Gateway(logins=[reply])
    with pytest.raises(AuthError) as info:
        read_vendors(make_client(gateway))
    exc = info.value
    assert "XMLGW_JPP0002 Sign-in information is incorrect. Please check your request." in exc.message
    assert exc.status == 401 and exc.code == "XMLGW_JPP0002"
    assert gateway.logins_made == 1


def test_legacy_create_answer_gives_its_key(make_client):
    client = make_client(Gateway(fixture("response_legacy_create_key.xml")))
    assert create(client, "CLASS", {"CLASSID": "C1234"}, controlid="d4814563") == "C1234"


def test_an_acknowledgement_without_results_is_a_response_error(make_client):
    with pytest.raises(ResponseError, match="no <result>"):
        read_vendors(make_client(Gateway(fixture("response_async_acknowledgement.xml"))))


def test_every_fixture_is_covered():
    covered = {
        "execFuncError.xml", "execLoginInvalid.xml", "execProjectSuccess.xml", "execXMLError.xml",
        "functionErrorSuccess.xml", "sessionInvalid.xml", "vendorResponse.xml",
        "response_getAPISession_success.xml", "response_authentication_failure_XL03000006.xml",
        "response_control_failure_PL04000055.xml", "response_readByQuery_empty_with_sessiontimeout.xml",
        "response_result_aborted_XL03000009.xml", "response_legacy_create_key.xml",
        "response_transaction_rollback_two_functions.xml", "response_http401_XMLGW_JPP0002.xml",
        "response_async_acknowledgement.xml", "request_envelope_sessionid.xml",
        "request_function_create_VENDOR_full.xml", "request_function_getAPISession_locationid.xml",
        "request_function_readMore_resultId.xml",
    }
    assert {p.name for p in SPECS.rglob("*.xml")} == covered


# -- error messages ---------------------------------------------------------------------------------------


def test_error_message_joins_the_four_parts_and_decodes_the_support_id():
    details = [
        IntacctErrorDetail("BL03000018", "Invalid Location", "Location 999 not found [Support ID: ab%40C%7Ed]",
                           "Use a valid location."),
        IntacctErrorDetail("BL03000018", "Invalid Location", "Location 999 not found [Support ID: ab%40C%7Ed]",
                           "Use a valid location."),
        IntacctErrorDetail("GW-0011", "Invalid Request [Request ID: x]"),
    ]
    assert join_errors(details) == ("BL03000018 Invalid Location Location 999 not found [Support ID: ab@C~d] "
                                    "— Use a valid location.; GW-0011 Invalid Request [Request ID: x]")
    assert join_errors([]) == "no error details given"


# -- retries (§7) ------------------------------------------------------------------------------------------


def status(code: int, body: bytes = b"", **headers) -> httpx.Response:
    return httpx.Response(code, content=body, headers=headers)


@pytest.mark.parametrize("transient", [
    status(500, b"oops"),
    status(502),
    status(503, b"", **{"Retry-After": "7"}),
    status(429, b"<html>slow down</html>"),
    control_failure("GW-0010", "Rate limit exceeded"),
    control_failure("XL03000099", "The Service is Temporarily Off-line"),
    answer(result("readByQuery", status="failure", errors=error("XYZ", "busy", correction="Please Try Again Later"))),
    b"<html><body>API rate limit exceeded</body></html>",
    status(200, b"<!DOCTYPE html><html><head><title>502</title></head><body class='cf-error-details'></body></html>",
           **{"Content-Type": "text/html"}),
    b"<response><control><status>succ",  # cut off mid-answer
], ids=["500", "502", "503-retry-after", "429", "GW-0010", "off-line", "try-again-later", "rate-limit-text",
        "cloudflare-html", "truncated"])
def test_transient_answers_are_retried(make_client, sleep, transient):
    gateway = Gateway(transient, VENDORS_PAGE)
    client = make_client(gateway)
    assert read_vendors(client).records() == [{"RECORDNO": "1", "VENDORID": "V1"}]
    assert len(gateway.calls()) == 2 and len(sleep.waits) == 1
    if isinstance(transient, httpx.Response) and transient.headers.get("Retry-After"):
        assert sleep.waits[0] >= 7


def test_http_524_is_not_retried_and_says_the_outcome_is_unknown(make_client, sleep):
    gateway = Gateway(status(524, b"<html>timeout</html>"), VENDORS_PAGE)
    client = make_client(gateway)
    with pytest.raises(UnreachableError, match="whether it was carried out is unknown") as info:
        create(client, "APBILL", {"RECORDID": "INV-1"}, controlid="bill-INV-1")
    assert info.value.status == 524 and "looked up" in info.value.hint
    assert len(gateway.calls()) == 1 and sleep.waits == []


def test_a_gateway_that_stays_down_is_unreachable_after_the_retries(make_client, sleep):
    gateway = Gateway(*[status(503)] * 6)
    with pytest.raises(UnreachableError, match="still failing after 6 attempts"):
        read_vendors(make_client(gateway))
    assert len(gateway.calls()) == 6


def test_a_4xx_without_xml_is_not_retried(make_client, sleep):
    gateway = Gateway(status(400, b"Bad Request"))
    with pytest.raises(ResponseError, match="HTTP 400: Bad Request"):
        read_vendors(make_client(gateway))
    assert len(gateway.calls()) == 1 and sleep.waits == []


def test_a_redirect_is_not_followed(make_client):
    gateway = Gateway(status(302, b"", Location="https://login.example.com/"))
    with pytest.raises(ResponseError, match="redirect to https://login.example.com/"):
        read_vendors(make_client(gateway))


def test_a_doctype_in_an_xml_answer_is_refused_not_parsed(make_client):
    evil = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><response>&x;</response>'
    with pytest.raises(ResponseError, match="DOCTYPE"):
        read_vendors(make_client(Gateway(evil)))


# -- secrets -----------------------------------------------------------------------------------------------


def test_secrets_never_appear_in_errors_or_logs(make_client, caplog):
    echo = answer(result("readByQuery", status="failure",
                         errors=error("XL0", f"bad password {SENDER_PASSWORD} for {USER_PASSWORD} in {SESSION_ID}")))
    raised: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for gateway in (
            Gateway(echo),
            Gateway(status(500, f"{SENDER_PASSWORD} {USER_PASSWORD}".encode()), echo),
            Gateway(logins=[fixture("execLoginInvalid.xml")]),
            Gateway(fixture("sessionInvalid.xml"), fixture("sessionInvalid.xml")),
            Gateway(*[status(503, USER_PASSWORD.encode())] * 6),
        ):
            with pytest.raises(Exception) as info:
                read_vendors(make_client(gateway))
            raised.append(str(info.value))
            assert any(SENDER_PASSWORD.encode() in r.content for r, _ in gateway.requests)
    text = "\n".join(raised) + caplog.text
    assert "****" in text
    for secret in (SENDER_PASSWORD, USER_PASSWORD, SESSION_ID):
        assert secret not in text
