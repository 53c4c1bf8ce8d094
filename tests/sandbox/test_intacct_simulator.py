"""The Sage Intacct XML gateway simulator, spoken to over real HTTP with httpx and lxml only.

The answers are checked against the envelope grammar of ``intacct_response.v2.1.dtd`` (plus
``sessiontimeout``), the same check every response fixture in shared/specs/intacct passes.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree
from lxml.builder import E

from mlconnector.sandbox import intacct
from mlconnector.sandbox.intacct import IntacctSimulator, compile_query
from tests.sandbox.conftest import FakeClock

ROOT = Path(__file__).resolve().parents[2]
SPECS = Path("/work/shared/specs/intacct")
FIXTURE_DIRS = (SPECS / "jfcote87-intacct-testfiles", SPECS / "intacct-sdk-php-test-heredocs")
# Response fixtures that are not a synchronous gateway answer of the DTD's shape: the asynchronous
# acknowledgement (an extra <acknowledgement>) and the HTTP 401 body (a bare <control><status>).
NOT_DTD_SHAPED = {"response_async_acknowledgement.xml", "response_http401_XMLGW_JPP0002.xml"}


# -- the envelope grammar (intacct_response.v2.1.dtd, + sessiontimeout as 3.0 answers carry it) ----------

ENVELOPE = {
    "response": r"control (operation )+|control errormessage ",
    "control": r"status senderid controlid (uniqueid )?(dtdversion )?",
    "operation": r"authentication (errormessage )?|authentication (result )*",
    "authentication": r"status userid companyid (clientstatus )?((clientid|locationid) )?(sessiontimestamp )?"
                      r"(sessiontimeout )?",
    "result": r"status function controlid ((listtype|key) )?(data )?(errormessage )?",
    "errormessage": r"(error )*",
    "error": r"errorno (description )?(description2 )?(correction )?",
}
TEXT_ONLY = {"status", "senderid", "controlid", "uniqueid", "dtdversion", "userid", "companyid", "locationid",
             "sessiontimestamp", "sessiontimeout", "function", "key", "errorno", "description", "description2",
             "correction"}


def envelope_problems(root: etree._Element) -> list[str]:
    """Where ``root`` breaks the response envelope grammar (empty: it follows it). What is inside
    ``<data>`` is the object's business, not the envelope's."""
    if root.tag != "response":
        return [f"root is <{root.tag}>"]
    problems: list[str] = []

    def walk(element: etree._Element) -> None:
        if element.tag in TEXT_ONLY and len(element):
            problems.append(f"<{element.tag}> has child elements")
        rule = ENVELOPE.get(element.tag)
        if rule is not None:
            children = "".join(f"{child.tag} " for child in element)
            if re.fullmatch(rule, children) is None:
                problems.append(f"<{element.tag}> children {children.split()} do not match {rule!r}")
        if element.tag == "result" and element.findtext("status") not in ("success", "failure", "aborted"):
            problems.append(f"result status {element.findtext('status')!r}")
        for child in element:
            if child.tag != "data":
                walk(child)

    walk(root)
    return problems


def response_fixtures() -> list[Path]:
    return sorted(p for d in FIXTURE_DIRS for p in d.glob("*.xml")
                  if (p.name.startswith("response_") or d.name.startswith("jfcote")) and p.name not in NOT_DTD_SHAPED)


@pytest.mark.skipif(not SPECS.exists(), reason="the shared specs are not on this machine")
@pytest.mark.parametrize("path", response_fixtures(), ids=lambda p: p.name)
def test_the_envelope_check_accepts_every_real_response_fixture(path: Path):
    assert envelope_problems(etree.fromstring(path.read_bytes())) == []


@pytest.mark.skipif(not SPECS.exists(), reason="the shared specs are not on this machine")
def test_the_envelope_check_catches_what_breaks_the_grammar():
    good = (SPECS / "jfcote87-intacct-testfiles" / "functionErrorSuccess.xml").read_bytes()
    for old, new in [(b"<status>failure</status>\n            <function>read</function>",
                      b"<function>read</function><status>failure</status>"),  # order inside the last result
                     (b"</sessiontimeout>", b"</sessiontimeout><extra/>"),
                     (b"<status>success</status>\n            <function>read</function>",
                      b"<status>done</status><function>read</function>")]:
        assert old in good
        assert envelope_problems(etree.fromstring(good.replace(old, new, 1))) != [], new


# -- talking to the simulator ---------------------------------------------------------------------


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[IntacctSimulator]:
    with IntacctSimulator(clock=clock) as simulator:
        yield simulator
    assert simulator.unhandled_errors == []


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(headers={"Content-Type": "application/xml"}) as client:
        yield client


def envelope(sim: IntacctSimulator, *functions: etree._Element, session: str | None = None,
             uniqueid: bool = False, transaction: bool = False, user_password: str | None = None,
             sender_password: str | None = None, locationid: str | None = None) -> bytes:
    if session is not None:
        authentication = E.authentication(E.sessionid(session))
    else:
        login = E.login(E.userid(sim.user_id), E.companyid(sim.company_id),
                        E.password(sim.user_password if user_password is None else user_password))
        if locationid is not None:
            login.append(E.locationid(locationid))
        authentication = E.authentication(login)
    request = E.request(
        E.control(E.senderid(sim.sender_id), E.password(sim.sender_password if sender_password is None
                                                         else sender_password),
                  E.controlid("request-1"), E.uniqueid("true" if uniqueid else "false"), E.dtdversion("3.0"),
                  E.includewhitespace("false")),
        E.operation(authentication, E.content(*functions), transaction="true" if transaction else "false"))
    return etree.tostring(request, xml_declaration=True, encoding="UTF-8")


def post(http: httpx.Client, sim: IntacctSimulator, body: bytes) -> etree._Element:
    response = http.post(sim.url, content=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(response.content)
    assert envelope_problems(root) == [], response.text
    return root


def call(http: httpx.Client, sim: IntacctSimulator, *functions: etree._Element, **options) -> etree._Element:
    """The answer; the control and authentication levels must have succeeded."""
    root = post(http, sim, envelope(sim, *functions, **options))
    assert root.findtext("control/status") == "success", etree.tostring(root)
    assert root.findtext("operation/authentication/status") == "success", etree.tostring(root)
    return root


def fn(controlid: str, body: etree._Element) -> etree._Element:
    return E.function(body, controlid=controlid)


def create(obj: str, **fields) -> etree._Element:
    return E.create(E(obj, *build(fields)))


def update(obj: str, **fields) -> etree._Element:
    return E.update(E(obj, *build(fields)))


def build(fields: dict) -> list[etree._Element]:
    children = []
    for name, value in fields.items():
        if name == "APBILLITEMS":
            children.append(E.APBILLITEMS(*(E.APBILLITEM(*build(line)) for line in value)))
        elif isinstance(value, dict):
            children.append(E(name, *build(value)))
        else:
            children.append(E(name, str(value)))
    return children


def read_by_query(obj: str, query: str = "", fields: str = "*", pagesize: int | None = None) -> etree._Element:
    body = E.readByQuery(E.object(obj), E.fields(fields), E.query(query))
    if pagesize is not None:
        body.append(E.pagesize(str(pagesize)))
    return body


def result(root: etree._Element, index: int = 0) -> etree._Element:
    return root.findall("operation/result")[index]


def errors(element: etree._Element) -> list[tuple[str, str, str]]:
    """(errorno, description2, correction) of each error; an empty text is None."""
    return [(e.findtext("errorno") or None, e.findtext("description2") or None, e.findtext("correction") or None)
            for e in element.iterfind("errormessage/error")]


def session_id(http: httpx.Client, sim: IntacctSimulator, **options) -> str:
    root = call(http, sim, fn("session", E.getAPISession()), **options)
    return root.findtext("operation/result/data/api/sessionid")


@pytest.fixture
def coded(sim: IntacctSimulator) -> IntacctSimulator:
    """A company with a vendor and every dimension a bill line can name."""
    sim.add_vendor("V100", "Acme Concrete", DISPLAYCONTACT={"EMAIL1": "ap@acme.test", "MAILADDRESS": {"CITY": "Denver"}})
    sim.add_record("GLACCOUNT", ACCOUNTNO="5100", TITLE="Subcontracts")
    sim.add_record("GLACCOUNT", ACCOUNTNO="5999", TITLE="Old", STATUS="inactive")
    sim.add_record("LOCATION", LOCATIONID="400", NAME="Colorado")
    sim.add_record("DEPARTMENT", DEPARTMENTID="35", TITLE="Field")
    sim.add_record("PROJECT", PROJECTID="P-1001", NAME="Library")
    sim.add_record("TASK", TASKID="03-300", NAME="Concrete", PROJECTID="P-1001")
    sim.add_record("COSTTYPE", COSTTYPEID="SUB", NAME="Subcontract", PROJECTID="P-1001", TASKID="03-300")
    return sim


def bill(**overrides) -> dict:
    line = {"ACCOUNTNO": "5100", "TRX_AMOUNT": "750.75", "ENTRYDESCRIPTION": "Level 2 pour", "LOCATIONID": "400",
            "DEPARTMENTID": "35", "PROJECTID": "P-1001", "TASKID": "03-300", "COSTTYPEID": "SUB"}
    line.update(overrides.pop("line", {}))
    fields = {"VENDORID": "V100", "WHENCREATED": "06/28/2024", "WHENDUE": "07/28/2024", "RECORDID": "SUB-INV-42",
              "DESCRIPTION": "Procore commitment invoice 42", "APBILLITEMS": [line]}
    fields.update(overrides)
    return fields


# -- transport, envelope, control level ---------------------------------------------------------------


def test_an_empty_body_is_a_parse_error(sim: IntacctSimulator, http: httpx.Client):
    root = post(http, sim, b"")
    assert root.findtext("control/status") == "failure"
    assert errors(root)[0][0] == "XL03000003" and "Document is empty" in errors(root)[0][1]


def test_an_unknown_function_or_format_fails_only_that_function(sim: IntacctSimulator, http: httpx.Client):
    root = call(http, sim, fn("i", E.inspect(E.object("VENDOR"))),
                fn("j", E.readByQuery(E.object("VENDOR"), E.query(""), E.returnFormat("json"))))
    assert [errors(r)[0][0] for r in root.findall("operation/result")] == ["XL03000005", "Query Failed"]
    assert "inspect" in errors(result(root, 0))[0][1] and "json" in errors(result(root, 1))[0][1]


def test_get_is_refused_and_other_paths_are_not_found(sim: IntacctSimulator, http: httpx.Client):
    assert http.get(sim.url).status_code == 405
    assert http.post(sim.base_url + "/ia/xml/other.phtml", content=b"<request/>").status_code == 404


def test_get_api_session_hands_back_a_session_and_this_endpoint(sim: IntacctSimulator, http: httpx.Client,
                                                                clock: FakeClock):
    root = call(http, sim, fn("s1", E.getAPISession()))
    assert [c.tag for c in root.find("control")] == ["status", "senderid", "controlid", "uniqueid", "dtdversion"]
    auth = root.find("operation/authentication")
    assert auth.findtext("userid") == sim.user_id and auth.findtext("companyid") == sim.company_id
    assert auth.findtext("sessiontimestamp") == "2025-06-15T15:06:40+00:00"  # the fake clock, UTC
    assert auth.findtext("sessiontimeout") == "2025-06-15T16:06:40+00:00"  # + session_seconds (3600)
    res = result(root)
    assert [res.findtext("status"), res.findtext("function"), res.findtext("controlid")] == [
        "success", "getAPISession", "s1"]
    api = res.find("data/api")
    assert [c.tag for c in api] == ["sessionid", "endpoint", "locationid"]
    assert api.findtext("endpoint") == sim.url and sim.url.endswith("/ia/xml/xmlgw.phtml")
    session = api.findtext("sessionid")
    root = call(http, sim, fn("r", read_by_query("VENDOR")), session=session)
    assert result(root).findtext("status") == "success"
    assert sim.logins == 1 and sim.sessions_created == 1


def test_a_session_slides_and_then_times_out(sim: IntacctSimulator, http: httpx.Client, clock: FakeClock):
    sim.session_seconds = 60
    session = session_id(http, sim)
    clock.advance(50)
    root = call(http, sim, fn("r", read_by_query("VENDOR")), session=session)
    assert root.findtext("operation/authentication/sessiontimeout") == "2025-06-15T15:08:30+00:00"  # now + 60
    clock.advance(59)
    call(http, sim, fn("r", read_by_query("VENDOR")), session=session)  # still alive: the window slid
    clock.advance(60)
    root = post(http, sim, envelope(sim, fn("r", read_by_query("VENDOR")), session=session))
    assert_invalid_session(root)


def test_expire_all_sessions_ends_every_session(sim: IntacctSimulator, http: httpx.Client):
    session = session_id(http, sim)
    sim.expire_all_sessions()
    assert_invalid_session(post(http, sim, envelope(sim, fn("r", read_by_query("VENDOR")), session=session)))
    assert_invalid_session(post(http, sim, envelope(sim, fn("r", read_by_query("VENDOR")), session="made-up..")))


def assert_invalid_session(root: etree._Element) -> None:
    assert root.findtext("control/status") == "success"
    operation = root.find("operation")
    assert operation.findtext("authentication/status") == "failure"
    assert operation.find("result") is None
    assert errors(operation) == [("XL03000006", "Invalid session", None)]


def test_wrong_user_password_is_an_authentication_failure(sim: IntacctSimulator, http: httpx.Client):
    root = post(http, sim, envelope(sim, fn("s", E.getAPISession()), user_password="wrong"))
    assert root.findtext("control/status") == "success"
    auth = root.find("operation/authentication")
    assert [c.tag for c in auth] == ["status", "userid", "companyid"]  # as execLoginInvalid.xml
    assert auth.findtext("status") == "failure"
    assert errors(root.find("operation")) == [("XL03000006", "Sign-in information is incorrect", None)]
    assert sim.logins == 0 and sim.sessions_created == 0


def test_an_unknown_entity_cannot_log_in_and_a_known_one_is_echoed(sim: IntacctSimulator, http: httpx.Client):
    root = post(http, sim, envelope(sim, fn("s", E.getAPISession()), locationid="E9"))
    assert root.findtext("operation/authentication/status") == "failure"
    assert "E9" in errors(root.find("operation"))[0][2]
    sim.add_record("LOCATION", LOCATIONID="E1", NAME="Entity 1")
    root = call(http, sim, fn("s", E.getAPISession()), locationid="E1")
    assert root.findtext("operation/authentication/locationid") == "E1"
    assert root.findtext("operation/result/data/api/locationid") == "E1"


def test_wrong_sender_password_fails_at_control_level(sim: IntacctSimulator, http: httpx.Client):
    root = post(http, sim, envelope(sim, fn("s", E.getAPISession()), sender_password="wrong"))
    assert root.findtext("control/status") == "failure"
    assert root.find("operation") is None
    assert errors(root) == [("XL03000006", "Invalid Web Services Authorization", None)]


def test_malformed_xml_is_a_control_level_parse_error_like_the_gateways(sim: IntacctSimulator, http: httpx.Client):
    body = envelope(sim, fn("c", create("VENDOR", VENDORID="V1", NAME="A"))).replace(b"</NAME>", b"</NAMEX>")
    root = post(http, sim, body)
    assert root.findtext("control/status") == "failure" and root.find("operation") is None
    (errorno, text, _), *_ = errors(root)
    assert errorno == "XL03000003"
    assert re.fullmatch(r"XML Parse schema error: Fatal Error 76: Opening and ending tag mismatch: NAME line 2 "
                        r"and NAMEX\. Line: 2, column: \d+\.", text), text  # line 1 is the declaration
    assert sim.vendors() == []


@pytest.mark.parametrize("bad", [b"\x0b", b"&#11;", b"&#x1F;", b"\x00"], ids=["raw-VT", "ref-VT", "ref-US", "NUL"])
def test_a_control_character_rejects_the_whole_request(sim: IntacctSimulator, http: httpx.Client, bad: bytes):
    body = envelope(sim, fn("c", create("VENDOR", VENDORID="V1", NAME="A-B"))).replace(b"A-B", b"A" + bad + b"B")
    root = post(http, sim, body)
    assert root.findtext("control/status") == "failure"
    assert {e[0] for e in errors(root)} == {"XL03000003"}
    assert errors(root)[0][1].startswith("XML Parse schema error: Fatal Error ")
    assert sim.vendors() == []


def test_a_doctype_is_refused_and_no_entity_is_resolved(sim: IntacctSimulator, http: httpx.Client, tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    body = envelope(sim, fn("c", create("VENDOR", VENDORID="V1", NAME="XXE")))
    body = body.replace(b"?>", f'?><!DOCTYPE request [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode(), 1)
    body = body.replace(b"<NAME>XXE</NAME>", b"<NAME>&xxe;</NAME>")
    response = http.post(sim.url, content=body)
    assert b"TOP-SECRET" not in response.content
    root = etree.fromstring(response.content)
    assert root.findtext("control/status") == "failure"
    assert errors(root)[0][0] == "XL03000003" and "DOCTYPE" in errors(root)[0][1]
    assert sim.vendors() == []


def test_every_request_is_validated_against_the_xsd(sim: IntacctSimulator, http: httpx.Client):
    # <readByQuery> without its required <query>; then <control> children out of order.
    root = post(http, sim, envelope(sim, fn("q", E.readByQuery(E.object("VENDOR"), E.fields("*")))))
    assert root.findtext("control/status") == "failure"
    assert root.findtext("control/senderid") == sim.sender_id  # known once the XML parsed
    assert re.match(r"XML Parse schema error: Error \d+: Element 'readByQuery': Missing child element",
                    errors(root)[0][1]), errors(root)
    body = envelope(sim, fn("s", E.getAPISession())).replace(b"<dtdversion>3.0</dtdversion>", b"").replace(
        b"<uniqueid>false</uniqueid>", b"<uniqueid>false</uniqueid><dtdversion>3.0</dtdversion><debug/>"
        b"<policyid/>")
    root = post(http, sim, body)
    assert root.findtext("control/status") == "failure" and "policyid" in errors(root)[0][1]
    root = post(http, sim, etree.tostring(fn("s", E.getAPISession())))  # a function is no request
    assert root.findtext("control/status") == "failure"


@pytest.mark.skipif(not SPECS.exists(), reason="the shared specs are not on this machine")
def test_the_sdk_request_fixtures_are_accepted(sim: IntacctSimulator, http: httpx.Client):
    """The PHP SDK's request bodies pass the simulator's schema; the full VENDOR create works."""
    heredocs = SPECS / "intacct-sdk-php-test-heredocs"
    envelope_fixture = (heredocs / "request_envelope_sessionid.xml").read_bytes()  # declares iso-8859-1
    body = envelope_fixture.replace(b"testsenderid", sim.sender_id.encode()).replace(
        b"pass123!", sim.sender_password.encode())
    root = post(http, sim, body)  # its <content> is empty, which the XSD does not allow (function+)
    assert "Element 'content': Missing child element(s)" in errors(root)[0][1]
    body = body.replace(b"<content></content>", b'<content><function controlid="f"><getAPISession/></function>'
                                                b"</content>")
    assert_invalid_session(post(http, sim, body))  # it parsed and validated: only the session is unknown
    vendor = etree.fromstring((heredocs / "request_function_create_VENDOR_full.xml").read_bytes())
    sim.add_vendor("V5678", "Parent Co")
    root = call(http, sim, vendor)
    assert [c.tag for c in result(root).find("data/vendor")] == ["RECORDNO", "VENDORID"]
    assert sim.record("VENDOR", "V1234")["DISPLAYCONTACT"]["MAILADDRESS"]["CITY"] == "San Jose"
    session = session_id(http, sim)
    more = etree.fromstring((heredocs / "request_function_readMore_resultId.xml").read_bytes())
    root = call(http, sim, more, session=session)
    assert result(root).findtext("status") == "failure"  # schema-valid; the result id is simply unknown
    assert errors(result(root))[0][0] == "Query Failed"


def skeleton(root: etree._Element) -> list[str]:
    """Every element path outside the rows of <data> (``data`` itself with its attribute names)."""
    paths = []

    def walk(element: etree._Element, path: str) -> None:
        for child in element:
            here = f"{path}/{child.tag}"
            if child.tag == "data":
                paths.append(f"{here}[{','.join(sorted(child.attrib))}]")
                if child.get("listtype") is None:  # getAPISession's <api> is envelope too
                    walk(child, here)
                continue
            paths.append(here)
            walk(child, here)
    walk(root, "")
    return paths


def fixture(name: str) -> etree._Element:
    folder = FIXTURE_DIRS[0] if name.startswith(("exec", "session", "function", "vendor")) else FIXTURE_DIRS[1]
    return etree.fromstring((folder / name).read_bytes())


@pytest.mark.skipif(not SPECS.exists(), reason="the shared specs are not on this machine")
def test_answers_have_the_shape_of_the_real_fixtures(coded: IntacctSimulator, http: httpx.Client):
    session = call(http, coded, fn("s", E.getAPISession()))
    assert skeleton(session) == skeleton(fixture("response_getAPISession_success.xml"))
    empty = call(http, coded, fn("q", read_by_query("DEPARTMENT", "DEPARTMENTID = 'none'")))
    assert skeleton(empty) == skeleton(fixture("response_readByQuery_empty_with_sessiontimeout.xml"))
    assert result(empty).find("data").attrib == {"listtype": "DEPARTMENT", "count": "0", "totalcount": "0",
                                                 "numremaining": "0", "resultId": ""}
    parse_error = post(http, coded, b"<request><control></PROJECT></request>")
    assert skeleton(parse_error)[:4] == ["/control", "/control/status", "/control/senderid", "/control/controlid"]
    schema_error = post(http, coded, envelope(coded, fn("q", E.readByQuery(E.object("VENDOR")))))
    assert skeleton(schema_error) == skeleton(fixture("execXMLError.xml"))[:len(skeleton(schema_error))]
    bad_login = post(http, coded, envelope(coded, fn("s", E.getAPISession()), user_password="nope"))
    assert skeleton(bad_login) == skeleton(fixture("execLoginInvalid.xml"))
    duplicate = call(http, coded, fn("v", create("VENDOR", VENDORID="V100", NAME="Again")))
    # execFuncError.xml: a failed create with 3 errors (we send 2), its <data> and no sessiontimeout.
    expected = [p for p in skeleton(fixture("execFuncError.xml")) if "/data" not in p][:-5]
    assert [p for p in skeleton(duplicate) if not p.endswith("sessiontimeout")] == expected


# -- uniqueid, transactions, several functions ------------------------------------------------------------


def test_uniqueid_refuses_a_repeated_function_controlid_and_creates_nothing(coded: IntacctSimulator,
                                                                           http: httpx.Client):
    root = call(http, coded, fn("procore-ci-42-v1", create("APBILL", **bill())), uniqueid=True)
    assert result(root).findtext("status") == "success"
    root = call(http, coded, fn("procore-ci-42-v1", create("APBILL", **bill(RECORDID="OTHER"))), uniqueid=True)
    assert result(root).findtext("status") == "failure"
    assert errors(result(root)) == [(
        "XL03000012", "A successful transaction has already been recorded with the control id 'procore-ci-42-v1'",
        None)]
    assert [b["RECORDID"] for b in coded.bills()] == ["SUB-INV-42"]
    # Without uniqueid the same controlid runs again (here the duplicate RECORDID stops it instead).
    root = call(http, coded, fn("procore-ci-42-v1", create("APBILL", **bill(RECORDID="OTHER"))))
    assert result(root).findtext("status") == "success"
    assert len(coded.bills()) == 2


def test_a_failed_function_does_not_use_up_its_controlid(coded: IntacctSimulator, http: httpx.Client):
    root = call(http, coded, fn("ci-7", create("APBILL", **bill(VENDORID="NOPE"))), uniqueid=True)
    assert result(root).findtext("status") == "failure"
    root = call(http, coded, fn("ci-7", create("APBILL", **bill())), uniqueid=True)
    assert result(root).findtext("status") == "success"


def test_a_transaction_rolls_back_every_function_when_one_fails(coded: IntacctSimulator, http: httpx.Client):
    root = call(http, coded, fn("v", create("VENDOR", VENDORID="V200", NAME="New")),
                fn("b", create("APBILL", **bill(VENDORID="MISSING"))), transaction=True, uniqueid=True)
    first, second = result(root, 0), result(root, 1)
    rolled_back = ("XL03000009", "The entire transaction in this operation has been rolled back due to an error.",
                   None)
    assert first.findtext("status") == "aborted" and errors(first) == [rolled_back]
    assert first.find("data") is None
    assert second.findtext("status") == "failure" and errors(second)[-1] == rolled_back
    assert coded.record("VENDOR", "V200") is None and coded.bills() == []
    root = call(http, coded, fn("v", create("VENDOR", VENDORID="V200", NAME="New")), uniqueid=True)
    assert result(root).findtext("status") == "success"  # the rolled-back controlid is free again


def test_without_a_transaction_each_function_stands_alone(coded: IntacctSimulator, http: httpx.Client):
    root = call(http, coded, fn("a", read_by_query("NOPE")), fn("b", create("VENDOR", VENDORID="V2", NAME="Two")),
                fn("c", E.read(E.object("VENDOR"), E.keys("1"), E.fields("BOGUS"))))
    assert [r.findtext("status") for r in root.findall("operation/result")] == ["failure", "success", "failure"]
    assert errors(result(root, 0)) == [("Query Failed", "Object definition NOPE not found", None)]
    assert coded.record("VENDOR", "V2")["NAME"] == "Two"


# -- objects: create, update, read ------------------------------------------------------------------------


def test_vendor_create_answers_recordno_and_vendorid(sim: IntacctSimulator, http: httpx.Client, clock: FakeClock):
    root = call(http, sim, fn("v", create("VENDOR", VENDORID="V1", NAME="Acme", DISPLAYCONTACT={
        "PRINTAS": "Acme Inc", "EMAIL1": "ap@acme.test"})))
    data = result(root).find("data")
    assert data.attrib == {"listtype": "objects", "count": "1"}
    vendor = sim.vendors()[0]
    assert [(c.tag, c.text) for c in data.find("vendor")] == [("RECORDNO", str(vendor["RECORDNO"])),
                                                              ("VENDORID", "V1")]
    assert isinstance(vendor["RECORDNO"], int) and vendor["STATUS"] == "active"
    assert vendor["WHENCREATED"] == vendor["WHENMODIFIED"] == "06/15/2025 15:06:40"
    assert vendor["DISPLAYCONTACT"] == {"PRINTAS": "Acme Inc", "EMAIL1": "ap@acme.test"}


def test_vendor_create_checks_id_uniqueness_and_name(sim: IntacctSimulator, http: httpx.Client):
    sim.add_vendor("V1", "Acme")
    root = call(http, sim, fn("a", create("VENDOR", VENDORID="V1", NAME="Again")),
                fn("b", create("VENDOR", VENDORID="V2")))
    assert errors(result(root, 0)) == [
        ("BL34000061", "Another Vendor with the given value(s) V1  already exists", "Use a unique value instead."),
        ("BL01001973", "Could not create vendor record!", None)]
    (errorno, text, _), = errors(result(root, 1))
    assert errorno == "BL03000018" and "NAME" in text
    assert [v["VENDORID"] for v in sim.vendors()] == ["V1"]


def test_vendor_update_by_vendorid_merges_fields_and_moves_whenmodified(sim: IntacctSimulator, http: httpx.Client,
                                                                        clock: FakeClock):
    sim.add_vendor("V1", "Acme", DISPLAYCONTACT={"PRINTAS": "Acme", "EMAIL1": "old@acme.test"})
    clock.advance(3600)
    root = call(http, sim, fn("u", update("VENDOR", VENDORID="V1", DISPLAYCONTACT={"EMAIL1": "new@acme.test"})))
    assert [c.tag for c in result(root).find("data/vendor")] == ["RECORDNO", "VENDORID"]
    vendor = sim.record("VENDOR", "V1")
    assert vendor["DISPLAYCONTACT"] == {"PRINTAS": "Acme", "EMAIL1": "new@acme.test"}
    assert vendor["WHENMODIFIED"] == "06/15/2025 16:06:40" and vendor["WHENCREATED"] == "06/15/2025 15:06:40"
    root = call(http, sim, fn("u", update("VENDOR", VENDORID="V404", NAME="X")))
    assert errors(result(root)) == [("BL01001973", "Cannot update non-existing VENDOR with VENDORID=V404.", None)]


def test_bill_create_answers_recordno_and_recordid_and_keeps_the_lines(coded: IntacctSimulator, http: httpx.Client):
    two_lines = bill(APBILLITEMS=[{"ACCOUNTNO": "5100", "TRX_AMOUNT": "750.75"},
                                  {"ACCOUNTNO": "5100", "TRX_AMOUNT": "99.25", "PROJECTID": "P-1001"}])
    root = call(http, coded, fn("b", create("APBILL", **two_lines)))
    item = result(root).find("data/apbill")
    assert [c.tag for c in item] == ["RECORDNO", "RECORDID"] and item.findtext("RECORDID") == "SUB-INV-42"
    stored, = coded.bills()
    assert stored["RECORDNO"] == int(item.findtext("RECORDNO"))
    assert stored["VENDORNAME"] == "Acme Concrete" and stored["STATE"] == "Posted"
    assert stored["TOTALENTERED"] == stored["TOTALDUE"] == "850.00"
    assert stored["WHENCREATED"] == "06/28/2024"  # a bill's WHENCREATED is its date
    assert [(l["LINE_NO"], l["TRX_AMOUNT"]) for l in stored["APBILLITEMS"]] == [("1", "750.75"), ("2", "99.25")]


@pytest.mark.parametrize(("change", "named"), [
    ({"VENDORID": "V404"}, "V404"),
    ({"line": {"ACCOUNTNO": "9999"}}, "9999"),
    ({"line": {"ACCOUNTNO": "5999"}}, "inactive"),
    ({"line": {"LOCATIONID": "L9"}}, "L9"),
    ({"line": {"DEPARTMENTID": "D9"}}, "D9"),
    ({"line": {"PROJECTID": "P9"}}, "P9"),
    ({"line": {"TASKID": "T9"}}, "T9"),
    ({"line": {"COSTTYPEID": "C9"}}, "C9"),
    ({"line": {"TRX_AMOUNT": "lots"}}, "lots"),
    ({"WHENCREATED": "2024-06-28"}, "2024-06-28"),
    ({"DESCRIPTION": "x" * 1001}, "1001"),
    ({"APBILLITEMS": []}, "at least one line"),
], ids=["vendor", "account", "inactive-account", "location", "department", "project", "task", "costtype",
        "amount", "date", "description", "no-lines"])
def test_bill_create_refuses_what_intacct_would(coded: IntacctSimulator, http: httpx.Client, change: dict,
                                                named: str):
    root = call(http, coded, fn("b", create("APBILL", **bill(**change))))
    assert result(root).findtext("status") == "failure"
    (errorno, text, _), = errors(result(root))
    assert errorno == "BL03000018" and named in text
    assert coded.bills() == []


def test_a_cost_type_needs_its_task_in_its_project(coded: IntacctSimulator):
    coded.add_record("PROJECT", PROJECTID="P-2", NAME="Other")
    with pytest.raises(ValueError, match="03-300"):
        coded.add_record("COSTTYPE", COSTTYPEID="LAB", NAME="Labour", PROJECTID="P-2", TASKID="03-300")
    coded.add_record("TASK", TASKID="03-300", NAME="Concrete", PROJECTID="P-2")  # the same task id, another project
    with pytest.raises(ValueError, match="RECORDNO"):
        coded.record("TASK", "03-300")
    assert coded.add_record("COSTTYPE", COSTTYPEID="SUB", NAME="Sub", PROJECTID="P-2", TASKID="03-300")


def test_a_task_must_belong_to_the_lines_project(coded: IntacctSimulator, http: httpx.Client):
    coded.add_record("PROJECT", PROJECTID="P-2", NAME="Other")
    root = call(http, coded, fn("b", create("APBILL", **bill(line={"PROJECTID": "P-2"}))))
    assert "03-300" in errors(result(root))[0][1] and "P-2" in errors(result(root))[0][1]


def test_recordid_is_unique_per_vendor(coded: IntacctSimulator, http: httpx.Client):
    coded.add_vendor("V200", "Other Co")
    root = call(http, coded, fn("1", create("APBILL", **bill())), fn("2", create("APBILL", **bill())),
                fn("3", create("APBILL", **bill(VENDORID="V200"))))
    assert [r.findtext("status") for r in root.findall("operation/result")] == ["success", "failure", "success"]
    assert errors(result(root, 1))[0] == (
        "BL34000061", "Another Bill with the given value(s) V100 SUB-INV-42  already exists",
        "Use a unique value instead.")


def test_bill_update_replaces_the_lines(coded: IntacctSimulator, http: httpx.Client, clock: FakeClock):
    created = coded.add_record("APBILL", **bill())
    clock.advance(60)
    root = call(http, coded, fn("u", update("APBILL", RECORDNO=created["RECORDNO"], DESCRIPTION="Revised",
                                            APBILLITEMS=[{"ACCOUNTNO": "5100", "TRX_AMOUNT": "10"},
                                                         {"ACCOUNTNO": "5100", "TRX_AMOUNT": "5.5"}])))
    assert result(root).findtext("data/apbill/RECORDID") == "SUB-INV-42"
    stored, = coded.bills()
    assert stored["DESCRIPTION"] == "Revised" and stored["TOTALENTERED"] == "15.50"
    assert [l["TRX_AMOUNT"] for l in stored["APBILLITEMS"]] == ["10.00", "5.50"]
    assert stored["WHENMODIFIED"] == "06/15/2025 15:07:40"


def test_read_answers_the_records_named_by_recordno(coded: IntacctSimulator, http: httpx.Client):
    created = coded.add_record("APBILL", **bill())
    vendor = coded.record("VENDOR", "V100")
    root = call(http, coded, fn("r", E.read(E.object("APBILL"), E.keys(f"{created['RECORDNO']},999999"),
                                            E.fields("*"))),
                fn("v", E.read(E.object("VENDOR"), E.keys(str(vendor["RECORDNO"])), E.fields("RECORDNO,NAME"))))
    data = result(root).find("data")
    assert data.attrib == {"listtype": "APBILL", "count": "1"}  # an unknown key is left out, not an error
    row = data.find("APBILL")
    assert row.findtext("RECORDNO") == str(created["RECORDNO"]) and row.findtext("STATE") == "Posted"
    assert [line.findtext("ACCOUNTNO") for line in row.find("APBILLITEMS")] == ["5100"]
    assert row.find("APBILLITEMS")[0].tag == "apbillitem"
    assert [(c.tag, c.text) for c in result(root, 1).find("data/VENDOR")] == [
        ("RECORDNO", str(vendor["RECORDNO"])), ("NAME", "Acme Concrete")]


# -- readByQuery and readMore -----------------------------------------------------------------------------


def test_read_by_query_pages_with_read_more_until_nothing_remains(sim: IntacctSimulator, http: httpx.Client):
    for n in range(5):
        sim.add_vendor(f"V{n}", f"Vendor {n}")
    root = call(http, sim, fn("q", read_by_query("VENDOR", "", "RECORDNO,VENDORID", pagesize=2)))
    data = result(root).find("data")
    seen = [row.findtext("VENDORID") for row in data]
    assert {k: data.get(k) for k in ("listtype", "count", "totalcount", "numremaining")} == {
        "listtype": "VENDOR", "count": "2", "totalcount": "5", "numremaining": "3"}
    result_id = data.get("resultId")
    assert result_id
    while data.get("numremaining") != "0":
        root = call(http, sim, fn("m", E.readMore(E.resultId(result_id))))
        data = result(root).find("data")
        assert data.get("totalcount") == "5"
        seen += [row.findtext("VENDORID") for row in data]
    assert seen == ["V0", "V1", "V2", "V3", "V4"] and data.get("resultId") == ""
    root = call(http, sim, fn("m", E.readMore(E.resultId(result_id))))  # spent
    assert errors(result(root))[0][0] == "Query Failed"


def test_read_by_query_answers_flattened_dotted_fields(coded: IntacctSimulator, http: httpx.Client):
    root = call(http, coded, fn("q", read_by_query(
        "VENDOR", "VENDORID = 'V100'", "VENDORID,DISPLAYCONTACT.EMAIL1,DISPLAYCONTACT.MAILADDRESS.CITY")))
    row = result(root).find("data/VENDOR")
    assert [(c.tag, c.text) for c in row] == [("VENDORID", "V100"), ("DISPLAYCONTACT.EMAIL1", "ap@acme.test"),
                                              ("DISPLAYCONTACT.MAILADDRESS.CITY", "Denver")]
    root = call(http, coded, fn("q", read_by_query("VENDOR")))  # "*": every field, empty ones included
    row = result(root).find("data/VENDOR")
    assert row.findtext("DISPLAYCONTACT.EMAIL1") == "ap@acme.test" and row.find("PARENTID").text is None
    assert row.find("DISPLAYCONTACT") is None


def test_read_by_query_filters_by_whenmodified(sim: IntacctSimulator, http: httpx.Client, clock: FakeClock):
    sim.add_vendor("OLD", "Old")
    clock.advance(86400)
    sim.add_vendor("NEW", "New")
    since = "06/16/2025 15:06:40"
    root = call(http, sim, fn("q", read_by_query("VENDOR", f"WHENMODIFIED >= '{since}'", "VENDORID")))
    assert [r.findtext("VENDORID") for r in result(root).find("data")] == ["NEW"]
    clock.advance(60)
    sim.touch("VENDOR", "OLD", NAME="Old, renamed")
    root = call(http, sim, fn("q", read_by_query("VENDOR", f"WHENMODIFIED > '{since}'", "VENDORID,NAME")))
    assert [(r.findtext("VENDORID"), r.findtext("NAME")) for r in result(root).find("data")] == [
        ("OLD", "Old, renamed")]


@pytest.mark.parametrize("pagesize", [0, 1001])
def test_read_by_query_takes_pagesize_1_to_1000(sim: IntacctSimulator, http: httpx.Client, pagesize: int):
    root = call(http, sim, fn("q", read_by_query("VENDOR", pagesize=pagesize)))
    assert result(root).findtext("status") == "failure" and "1000" in errors(result(root))[0][1]


def test_read_by_query_names_an_unknown_field(sim: IntacctSimulator, http: httpx.Client):
    root = call(http, sim, fn("q", read_by_query("VENDOR", "NOSUCH = 'x'")),
                fn("f", read_by_query("VENDOR", "", "VENDORID,NOSUCH2")),
                fn("s", read_by_query("VENDOR", "VENDORID = ")))
    assert [errors(r)[0][0] for r in root.findall("operation/result")] == ["Query Failed"] * 3
    assert "NOSUCH" in errors(result(root, 0))[0][1] and "NOSUCH2" in errors(result(root, 1))[0][1]


ROWS = [
    {"VENDORID": "V1", "NAME": "Jane's Deli", "STATUS": "active", "RECORDNO": "9", "WHENMODIFIED": "06/01/2025 10:00:00"},
    {"VENDORID": "V2", "NAME": "Acme", "STATUS": "inactive", "RECORDNO": "10", "WHENMODIFIED": "05/31/2025 23:59:59",
     "PARENTID": "V1"},
    {"VENDORID": "V3", "NAME": "Acme West", "STATUS": "active", "RECORDNO": "100", "WHENMODIFIED": "12/31/2024"},
]


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["V1", "V2", "V3"]),
    ("VENDORID = 'V2'", ["V2"]),
    ("VENDORID != 'V2'", ["V1", "V3"]),
    ("VENDORID <> 'V2'", ["V1", "V3"]),
    ("NAME = 'Jane\\'s Deli'", ["V1"]),
    ("NAME like 'Acme%'", ["V2", "V3"]),
    ("NAME not like 'Acme%'", ["V1"]),
    ("NAME LIKE 'Acm_'", ["V2"]),
    ("VENDORID in ('V1', 'V3')", ["V1", "V3"]),
    ("VENDORID NOT IN ('V1', 'V3')", ["V2"]),
    ("PARENTID IS NULL", ["V1", "V3"]),
    ("PARENTID IS NOT NULL", ["V2"]),
    ("RECORDNO > 9", ["V2", "V3"]),  # numbers compare as numbers: 100 > 9
    ("RECORDNO < '11'", ["V1", "V2"]),
    ("WHENMODIFIED >= '06/01/2025 00:00:00'", ["V1"]),
    ("WHENMODIFIED < '06/01/2025'", ["V2", "V3"]),
    ("STATUS = 'active' AND (NAME like 'Acme%' OR VENDORID = 'V1')", ["V1", "V3"]),
    ("NOT STATUS = 'active' OR VENDORID = 'V3'", ["V2", "V3"]),
    ("name = 'acme'", []),  # field names are case-insensitive, values case-sensitive
])
def test_the_query_grammar(query: str, expected: list[str]):
    match = compile_query(query, ["VENDORID", "NAME", "STATUS", "RECORDNO", "WHENMODIFIED", "PARENTID"], "VENDOR")
    assert [row["VENDORID"] for row in ROWS if match(row)] == expected


@pytest.mark.parametrize("query", ["VENDORID = ", "VENDORID = 'V1' AND", "(VENDORID = 'V1'", "VENDORID ~ 'x'",
                                   "WHENMODIFIED > 'yesterday'", "RECORDNO > 'ten'", "VENDORID = 'V1' 'V2'"])
def test_a_malformed_query_says_what_is_wrong(query: str):
    with pytest.raises(intacct._Failure) as caught:
        compile_query(query, ["VENDORID", "WHENMODIFIED", "RECORDNO"], "VENDOR")
    assert caught.value.errors[0].errorno == "Query Failed" and query in caught.value.errors[0].description2


# -- the Python API, faults, packaging ----------------------------------------------------------------------


def test_seed_helpers_check_like_the_api_and_touch_moves_whenmodified(coded: IntacctSimulator, clock: FakeClock):
    with pytest.raises(ValueError, match="V404"):
        coded.add_record("APBILL", **bill(VENDORID="V404"))
    with pytest.raises(ValueError, match="BL34000061"):
        coded.add_vendor("V100", "Twice")
    with pytest.raises(KeyError):
        coded.records("CUSTOMER")
    created = coded.add_record("APBILL", **bill(), TOTALPAID=100)
    assert created["TOTALDUE"] == "650.75"
    clock.advance(120)
    touched = coded.touch("APBILL", created["RECORDNO"], STATE="Paid", DESCRIPTION=None)
    assert touched["STATE"] == "Paid" and "DESCRIPTION" not in touched
    assert touched["WHENMODIFIED"] == "06/15/2025 15:08:40"
    assert coded.bills()[0]["STATE"] == "Paid"
    assert coded.delete("APBILL", created["RECORDNO"]) and coded.bills() == []


def test_injected_faults_apply_to_the_gateway(sim: IntacctSimulator, http: httpx.Client):
    sim.inject_fault("/ia/xml/", 503, body="<html>Service Unavailable</html>")
    assert http.post(sim.url, content=envelope(sim, fn("s", E.getAPISession()))).status_code == 503
    call(http, sim, fn("s", E.getAPISession()))
    write = envelope(sim, fn("v", create("VENDOR", VENDORID="V1", NAME="A")))
    read = envelope(sim, fn("q", read_by_query("VENDOR")))
    assert [r.is_write for r in sim.requests] == [False, False]  # a getAPISession changes no data
    post(http, sim, write)
    post(http, sim, read)
    assert [r.is_write for r in sim.requests[2:]] == [True, False]


def test_the_schema_ships_with_the_package_and_its_provenance():
    data = ROOT / "mlconnector" / "sandbox" / "data" / "intacct"
    assert intacct.SCHEMA_PATH == data / "api.v3.0.xsd" and intacct.SCHEMA_PATH.stat().st_size > 400_000
    assert "Apache License" in (data / "LICENSE.txt").read_text(encoding="utf-8")
    provenance = (data / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "Intacct/intacct_dtd" in provenance and "40f820e57cd06f19f32dd0c67128de1d3ccf59a1" in provenance
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "tool"]["setuptools"]["package-data"]["mlconnector"]
    assert "sandbox/data/intacct/*" in package_data
    if SPECS.exists():
        assert intacct.SCHEMA_PATH.read_bytes() == (SPECS / "intacct_dtd" / "api.v3.0.xsd").read_bytes()
