"""Intacct readers and writers over a small scripted gateway: readByQuery/readMore paging, the query
strings each reader sends, flattened rows, generic create/update; `ping` through mlconnector.connect;
and the configuration of kind intacct (file, line and key on every bad value)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from lxml import etree

from mlconnector import xmlsafe
from mlconnector.config import load_config
from mlconnector.connect import ping
from mlconnector.errors import ConfigError, ResponseError
from mlconnector.secrets import env_var_name
from mlconnector.systems.intacct import IntacctClient, IntacctResultError
from mlconnector.systems.intacct.client import Result, flatten
from mlconnector.systems.intacct.paging import read_by_query
from mlconnector.systems.intacct.readers import (
    VENDOR_FIELDS,
    dimension_rows,
    find_bill,
    get_bill,
    get_vendor,
    gl_account_pages,
    ids_of,
    intacct_datetime,
    quote,
    vendor_pages,
)
from mlconnector.systems.intacct.settings import IntacctSettings
from mlconnector.systems.intacct.writers import create, fields_xml, update

XSD_PATH = Path("/work/shared/specs/intacct/intacct_dtd/api.v3.0.xsd")
if not XSD_PATH.is_file():
    XSD_PATH = Path(__file__).resolve().parents[2] / "mlconnector" / "sandbox" / "data" / "intacct" / "api.v3.0.xsd"
_SCHEMA: list[etree.XMLSchema] = []


def schema() -> etree.XMLSchema | None:
    if not _SCHEMA and XSD_PATH.is_file():
        _SCHEMA.append(etree.XMLSchema(etree.parse(str(XSD_PATH))))
    return _SCHEMA[0] if _SCHEMA else None


def envelope(result: str) -> bytes:
    return ("<response><control><status>success</status><senderid>S</senderid><controlid>c</controlid></control>"
            "<operation><authentication><status>success</status><userid>U</userid><companyid>ACME</companyid>"
            "<sessiontimestamp>2025-06-15T08:00:00-07:00</sessiontimestamp>"
            "<sessiontimeout>2025-06-15T14:00:00-07:00</sessiontimeout></authentication>"
            f"{result}</operation></response>").encode()


def render(tag: str, row: dict) -> str:
    inner = "".join(f"<{k}>{render_value(v)}</{k}>" for k, v in row.items())
    return f"<{tag}>{inner}</{tag}>"


def render_value(value) -> str:
    if isinstance(value, list):
        return "".join(render("APBILLITEM", item) for item in value)
    return str(value)


class TinyGateway:
    """readByQuery/readMore over in-memory rows (``tables[obj]``), ``read`` by RECORDNO, and a
    scripted answer for create/update. Records each function element it was sent."""

    def __init__(self, tables: dict[str, list[dict]] | None = None, page: int | None = None) -> None:
        self.tables = tables or {}
        self.page = page  # serve at most this many rows a page, whatever pagesize asks
        self.functions: list[etree._Element] = []
        self.uniqueids: list[str] = []
        self.pending: dict[str, tuple[str, list[dict], int]] = {}
        self.write_answer = ""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        root = xmlsafe.parse(request.content)
        if schema() is not None:
            assert schema().validate(root), str(schema().error_log)
        function = root.find("operation/content/function")[0]
        if function.tag == "getAPISession":
            return self.ok(self.result("getAPISession", "<data><api><sessionid>sess-123456</sessionid>"
                                                        "<endpoint>https://api.intacct.com/ia/xml/xmlgw.phtml</endpoint>"
                                                        "</api></data>"))
        self.functions.append(function)
        self.uniqueids.append(root.findtext("control/uniqueid"))
        if function.tag == "readByQuery":
            obj = function.findtext("object")
            size = min(int(function.findtext("pagesize") or 100), self.page or 1000)
            return self.ok(self.page_of(obj, list(self.tables.get(obj, [])), size))
        if function.tag == "readMore":
            return self.ok(self.page_of(*self.pending.pop(function.findtext("resultId"))))
        if function.tag == "read":
            obj = function.findtext("object")
            rows = [r for r in self.tables.get(obj, []) if str(r.get("RECORDNO")) == function.findtext("keys")]
            return self.ok(self.result("read", f'<data listtype="{obj}" count="{len(rows)}">'
                                               + "".join(render(obj, r) for r in rows) + "</data>"))
        return self.ok(self.write_answer)

    def page_of(self, obj: str, rows: list[dict], size: int) -> str:
        page, rest = rows[:size], rows[size:]
        result_id = ""
        if rest:
            result_id = f"rid-{len(self.functions)}"
            self.pending[result_id] = (obj, rest, size)  # readMore keeps the query's page size
        data = "".join(render(obj, r) for r in page)
        return self.result("readByQuery", f'<data listtype="{obj}" count="{len(page)}" totalcount="{len(rows)}" '
                                          f'numremaining="{len(rest)}" resultId="{result_id}">{data}</data>')

    @staticmethod
    def result(function: str, body: str, status: str = "success") -> str:
        return (f"<result><status>{status}</status><function>{function}</function><controlid>x</controlid>"
                f"{body}</result>")

    @staticmethod
    def ok(result: str) -> httpx.Response:
        return httpx.Response(200, content=envelope(result))

    def queries(self) -> list[str | None]:
        return [f.findtext("query") for f in self.functions if f.tag == "readByQuery"]


def settings(**overrides) -> IntacctSettings:
    values = dict(name="intacct", kind="intacct", sender_id="SENDER", company_id="ACME", user_id="ws_user",
                  page_size=1000)
    values.update(overrides)
    return IntacctSettings(**values)


@pytest.fixture
def make_client(sleep, clock):
    clients = []

    def make(gateway: TinyGateway, **overrides) -> IntacctClient:
        client = IntacctClient(settings(**overrides), sender_password="sender-pw-1", user_password="user-pw-2",
                               transport=httpx.MockTransport(gateway), sleep=sleep, clock=clock)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def vendors(n: int) -> list[dict]:
    return [{"RECORDNO": i, "VENDORID": f"V{i:03d}", "NAME": f"Vendor {i}"} for i in range(1, n + 1)]


# -- paging --------------------------------------------------------------------------------------------


def test_read_by_query_pages_with_read_more_until_nothing_remains(make_client):
    gateway = TinyGateway({"VENDOR": vendors(7)})
    client = make_client(gateway, page_size=3)
    pages = list(read_by_query(client, "VENDOR", ["VENDORID", "NAME"], "STATUS = 'active'", what="read vendors"))
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [r["VENDORID"] for p in pages for r in p] == [f"V{i:03d}" for i in range(1, 8)]
    first, *more = gateway.functions
    assert (first.findtext("object"), first.findtext("fields"), first.findtext("query"), first.findtext("pagesize")) \
        == ("VENDOR", "VENDORID,NAME", "STATUS = 'active'", "3")
    assert [f.tag for f in more] == ["readMore", "readMore"]
    assert [f.findtext("resultId") for f in more] == ["rid-1", "rid-2"]
    assert set(gateway.uniqueids) == {"false"}


def test_a_server_page_smaller_than_asked_still_pages_on(make_client):
    gateway = TinyGateway({"VENDOR": vendors(5)}, page=2)
    pages = list(read_by_query(make_client(gateway), "VENDOR", [], what="read vendors"))
    assert [len(p) for p in pages] == [2, 2, 1]
    assert gateway.functions[0].findtext("fields") == "*"


def _scripted(*answers: str):
    def handler(request: httpx.Request) -> httpx.Response:
        root = xmlsafe.parse(request.content)
        if root.find("operation/content/function/getAPISession") is not None:
            return TinyGateway.ok(TinyGateway.result("getAPISession", "<data><api><sessionid>s-1234</sessionid>"
                                                                      "</api></data>"))
        return TinyGateway.ok(answers[handler.calls])

    handler.calls = 0

    def counting(request):
        response = handler(request)
        if xmlsafe.parse(request.content).find("operation/authentication/sessionid") is not None:
            handler.calls += 1
        return response

    return counting


@pytest.mark.parametrize("data, message", [
    ('<data count="1" numremaining="4" resultId=""><V><A>1</A></V></data>', "gives no resultId"),
    ('<data count="0" numremaining="4" resultId="r1"></data>', "an empty page with 4 rows"),
])
def test_paging_that_cannot_go_on_is_an_error_not_a_loop(sleep, data, message):
    client = IntacctClient(settings(), sender_password="sender-pw-1", user_password="user-pw-2",
                           transport=httpx.MockTransport(_scripted(TinyGateway.result("readByQuery", data))),
                           sleep=sleep)
    with client, pytest.raises(ResponseError, match=message):
        list(read_by_query(client, "VENDOR", [], what="read vendors"))


# -- query strings ----------------------------------------------------------------------------------------


def test_intacct_datetime_and_quote():
    assert intacct_datetime(datetime(2025, 1, 2, 3, 4, 5)) == "01/02/2025 03:04:05"
    aware = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5)))
    assert intacct_datetime(aware) == "01/02/2025 08:04:05"  # taken to UTC
    assert quote("Jane's Deli") == "'Jane\\'s Deli'"
    assert quote("C:\\") == "'C:\\\\'"
    assert quote(42) == "'42'"


def test_vendor_pages_filter_on_when_modified(make_client):
    gateway = TinyGateway({"VENDOR": vendors(2)})
    client = make_client(gateway)
    since = datetime(2025, 6, 1, 12, 30, 0, tzinfo=UTC)
    assert [len(p) for p in vendor_pages(client, since)] == [2]
    assert list(vendor_pages(client, None))
    assert gateway.queries() == ["WHENMODIFIED >= '06/01/2025 12:30:00'", ""]
    assert gateway.functions[0].findtext("fields") == ",".join(VENDOR_FIELDS)


def test_get_vendor_by_id_quotes_the_id(make_client):
    gateway = TinyGateway({"VENDOR": vendors(1)})
    client = make_client(gateway)
    assert get_vendor(client, "O'Brien & Sons <1>")["VENDORID"] == "V001"  # the tiny gateway ignores the query
    assert gateway.queries() == ["VENDORID = 'O\\'Brien & Sons <1>'"]
    assert get_vendor(make_client(TinyGateway()), "V404") is None


def test_ids_of_reads_active_ids_only_by_default(make_client):
    gateway = TinyGateway({"DEPARTMENT": [{"DEPARTMENTID": "10"}, {"DEPARTMENTID": "20"}, {"DEPARTMENTID": ""}]})
    client = make_client(gateway)
    assert ids_of(client, "DEPARTMENT", "DEPARTMENTID") == {"10", "20"}
    assert ids_of(client, "DEPARTMENT", "DEPARTMENTID", active_only=False) == {"10", "20"}
    assert gateway.queries() == ["STATUS = 'active'", ""]
    assert gateway.functions[0].findtext("fields") == "DEPARTMENTID"


def test_find_bill_by_record_id_and_vendor(make_client):
    bill = {"RECORDNO": 77, "RECORDID": "INV-9", "VENDORID": "V1", "STATE": "Posted"}
    gateway = TinyGateway({"APBILL": [bill]})
    client = make_client(gateway)
    assert find_bill(client, "INV-9") == {k: str(v) for k, v in bill.items()}
    find_bill(client, "INV-9", vendor_id="V1")
    assert gateway.queries() == ["RECORDID = 'INV-9'", "RECORDID = 'INV-9' AND VENDORID = 'V1'"]
    assert find_bill(make_client(TinyGateway()), "INV-404") is None


def test_get_bill_reads_by_recordno_with_its_lines(make_client):
    bill = {"RECORDNO": 77, "RECORDID": "INV-9", "APBILLITEMS": [
        {"ACCOUNTNO": "5100", "TRX_AMOUNT": "750.75"}, {"ACCOUNTNO": "5200", "TRX_AMOUNT": "1.00"}]}
    gateway = TinyGateway({"APBILL": [bill]})
    client = make_client(gateway)
    got = get_bill(client, 77)
    assert got == {"RECORDNO": "77", "RECORDID": "INV-9", "APBILLITEMS": [
        {"ACCOUNTNO": "5100", "TRX_AMOUNT": "750.75"}, {"ACCOUNTNO": "5200", "TRX_AMOUNT": "1.00"}]}
    read = gateway.functions[0]
    assert (read.tag, read.findtext("object"), read.findtext("keys"), read.findtext("fields")) == \
        ("read", "APBILL", "77", "*")
    assert get_bill(client, 78) is None


def test_gl_accounts_and_dimensions(make_client):
    gateway = TinyGateway({"GLACCOUNT": [{"ACCOUNTNO": "5100", "TITLE": "Subcontracts"}],
                           "PROJECT": [{"PROJECTID": "P-1", "NAME": "Tower"}, {"PROJECTID": "P-2", "NAME": "Mall"}]})
    client = make_client(gateway, page_size=1)
    assert [r["ACCOUNTNO"] for p in gl_account_pages(client, None) for r in p] == ["5100"]
    assert dimension_rows(client, "PROJECT", ["PROJECTID", "NAME"]) == [
        {"PROJECTID": "P-1", "NAME": "Tower"}, {"PROJECTID": "P-2", "NAME": "Mall"}]


# -- flattening rows ----------------------------------------------------------------------------------------


def test_rows_flatten_nested_fields_to_dotted_names_and_keep_dotted_names():
    row = xmlsafe.parse(
        b"<VENDOR><VENDORID>V1</VENDORID><DISPLAYCONTACT.EMAIL1>a@b.c</DISPLAYCONTACT.EMAIL1>"
        b"<DISPLAYCONTACT><PRINTAS>V One</PRINTAS><MAILADDRESS><CITY>Lyon</CITY></MAILADDRESS></DISPLAYCONTACT>"
        b"<APBILLITEMS><APBILLITEM><LINE_NO>1</LINE_NO></APBILLITEM></APBILLITEMS>"
        b"<LINES><line><N>1</N></line><line><N>2</N></line></LINES><EMPTY/></VENDOR>")
    assert flatten(row) == {
        "VENDORID": "V1", "DISPLAYCONTACT.EMAIL1": "a@b.c", "DISPLAYCONTACT.PRINTAS": "V One",
        "DISPLAYCONTACT.MAILADDRESS.CITY": "Lyon", "APBILLITEMS": [{"LINE_NO": "1"}],
        "LINES": [{"N": "1"}, {"N": "2"}], "EMPTY": "",
    }
    assert Result("success", "read", "x").records() == []


# -- writers -------------------------------------------------------------------------------------------------


def test_fields_xml_nests_dicts_repeats_lists_and_leaves_out_none():
    node = fields_xml("APBILL", {
        "VENDORID": "V1", "WHENCREATED": date(2024, 6, 28), "ONHOLD": False, "SKIP": None,
        "APBILLITEMS": {"APBILLITEM": [{"ACCOUNTNO": "5100", "TRX_AMOUNT": Decimal("750.75")},
                                       {"ACCOUNTNO": "5200", "TRX_AMOUNT": 0.00001, "TASKID": None}]},
    })
    assert etree.tostring(node).decode() == (
        "<APBILL><VENDORID>V1</VENDORID><WHENCREATED>06/28/2024</WHENCREATED><ONHOLD>false</ONHOLD>"
        "<APBILLITEMS><APBILLITEM><ACCOUNTNO>5100</ACCOUNTNO><TRX_AMOUNT>750.75</TRX_AMOUNT></APBILLITEM>"
        "<APBILLITEM><ACCOUNTNO>5200</ACCOUNTNO><TRX_AMOUNT>0.00001</TRX_AMOUNT></APBILLITEM></APBILLITEMS></APBILL>")


def test_create_and_update_send_uniqueid_true_and_return_the_recordno(make_client):
    gateway = TinyGateway()
    client = make_client(gateway)
    gateway.write_answer = TinyGateway.result(
        "create", '<data listtype="objects" count="1"><apbill><RECORDNO>501</RECORDNO><RECORDID>INV-1</RECORDID>'
                  "</apbill></data>")
    assert create(client, "APBILL", {"VENDORID": "V1", "RECORDID": "INV-1"}, controlid="bill-INV-1-v1") == "501"
    gateway.write_answer = TinyGateway.result(
        "update", '<data listtype="objects" count="1"><vendor><RECORDNO>12</RECORDNO><VENDORID>V1</VENDORID>'
                  "</vendor></data>")
    assert update(client, "VENDOR", {"VENDORID": "V1", "NAME": "New"}, controlid="vendor-V1-v2") == "12"
    gateway.write_answer = TinyGateway.result("update", "")
    assert update(client, "APBILL", {"RECORDNO": 501, "DESCRIPTION": "x"}, controlid="bill-INV-1-v2") == "501"
    assert [(f.tag, f[0].tag) for f in gateway.functions] == [
        ("create", "APBILL"), ("update", "VENDOR"), ("update", "APBILL")]
    assert gateway.uniqueids == ["true", "true", "true"]


def test_a_write_answer_without_a_recordno_is_an_error(make_client):
    gateway = TinyGateway()
    gateway.write_answer = TinyGateway.result("create", "")
    with pytest.raises(ResponseError, match="names no RECORDNO"):
        create(make_client(gateway), "APBILL", {"VENDORID": "V1"}, controlid="bill-1")


def test_a_refused_write_is_a_result_error_a_writer_can_quarantine(make_client):
    gateway = TinyGateway()
    gateway.write_answer = TinyGateway.result(
        "create", "<errormessage><error><errorno>BL03000018</errorno><description2>Invalid Location 999"
                  "</description2></error></errormessage>", status="failure")
    with pytest.raises(IntacctResultError, match="create APBILL failed: BL03000018 Invalid Location 999") as info:
        create(make_client(gateway), "APBILL", {"VENDORID": "V1"}, controlid="bill-1")
    assert info.value.errors[0].description2 == "Invalid Location 999"


# -- connect: open_client and ping --------------------------------------------------------------------------

CONFIG = """\
systems:
  erp:
    kind: intacct
    sender_id: SENDER
    company_id: ACME
    user_id: ws_user
"""


def test_ping_signs_in_and_reads_one_vendor_page(tmp_path, monkeypatch):
    path = tmp_path / "mlconnector.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv(env_var_name("erp", "sender_password"), "sender-pw-1")
    monkeypatch.setenv(env_var_name("erp", "user_password"), "user-pw-2")
    gateway = TinyGateway({"VENDOR": vendors(4)})
    got = ping(load_config(path), "erp", transport=httpx.MockTransport(gateway))
    assert got.kind == "intacct" and got.reached == "company ACME, vendors: 4"
    assert got.url == "https://api.intacct.com/ia/xml/xmlgw.phtml"
    assert gateway.functions[0].findtext("pagesize") == "1"


def test_open_client_names_both_missing_passwords(tmp_path):
    from mlconnector.connect import open_client
    from mlconnector.errors import CredentialError

    path = tmp_path / "mlconnector.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    with pytest.raises(CredentialError) as info:
        open_client(load_config(path), "erp")
    assert "sender_password" in str(info.value) and "user_password" in str(info.value)


# -- configuration ---------------------------------------------------------------------------------------------


def test_config_of_kind_intacct_gets_its_defaults(tmp_path):
    path = tmp_path / "mlconnector.yaml"
    path.write_text(CONFIG + "    entity_id: '100'\n", encoding="utf-8")
    system = load_config(path).system("erp")
    assert system == IntacctSettings(name="erp", kind="intacct", sender_id="SENDER", company_id="ACME",
                                     user_id="ws_user", entity_id="100")
    assert (system.url, system.timeout, system.page_size) == ("https://api.intacct.com/ia/xml/xmlgw.phtml", 120.0, 1000)


@pytest.mark.parametrize("line, key, message", [
    ("    page_size: 1001\n", "page_size", "must be between 1 and 1000 (got '1001')"),
    ("    url: http://api.intacct.com/ia/xml/xmlgw.phtml\n", "url", "must use https://"),
    ("    user_password: hunter22\n", "user_password", "is a credential"),
    ("    sender_password: hunter22\n", "sender_password", "is a credential"),
    ("    entity_id: ''\n", "entity_id", "must not be empty"),
    ("    timeout: 0\n", "timeout", "greater than 0"),
    ("    company_id: 1234\n", "company_id", "put it in quotes"),
    ("    sender: X\n", "sender", "did you mean 'sender_id'"),
])
def test_bad_intacct_values_name_file_line_and_key(tmp_path, line, key, message):
    path = tmp_path / "mlconnector.yaml"
    text = CONFIG.replace("    company_id: ACME\n", "") if key == "company_id" else CONFIG
    path.write_text(text + line, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.file == str(path) and err.line == text.count("\n") + 1 and err.key == f"systems.erp.{key}"
    assert message in err.message


def test_missing_sender_id_is_reported_at_the_system(tmp_path):
    path = tmp_path / "mlconnector.yaml"
    path.write_text(CONFIG.replace("    sender_id: SENDER\n", ""), encoding="utf-8")
    with pytest.raises(ConfigError, match="missing required key 'sender_id'") as info:
        load_config(path)
    assert info.value.line == 2 and info.value.key == "systems.erp.sender_id"


def test_a_loopback_simulator_url_may_use_http(tmp_path):
    path = tmp_path / "mlconnector.yaml"
    path.write_text(CONFIG + "    url: http://127.0.0.1:8400/ia/xml/xmlgw.phtml\n", encoding="utf-8")
    assert load_config(path).system("erp").url == "http://127.0.0.1:8400/ia/xml/xmlgw.phtml"
