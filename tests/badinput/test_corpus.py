"""The bad-input corpus: one table of hostile or broken inputs, each run end to end through the CLI
(``python -m mlconnector`` in a child process, over HTTP to the sandbox in this process).

Every case asserts the exit code of its class (DESIGN.md §5), a message naming where the problem
is (file:line [key], or the record and its field, or the system and what it was doing), no
traceback, and no partial write:

    yaml    a broken pipeline file (cases of tests/config)        exit 2, nothing created
    csv     a broken mapping file (cases of tests/mappings)       exit 2, state byte-identical
    server  a server answering garbage with HTTP 200 (or 5xx)     exit 3, bounded retries, time and
                                                                  memory, a short excerpt, Procore
                                                                  and the links untouched
    field   a hostile field value in one Sage 300 record           exit 1; the record goes through
                                                                  cleaned (Procore and the audit show
                                                                  the cleaned value) or sits in
                                                                  quarantine naming its field, and the
                                                                  other records went through

Retry back-off in the child is recorded, not waited for (tests/badinput/_hook): the waits asked
for are checked against the retry policy instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlconnector.http import DEFAULT_RETRY
from mlconnector.sandbox import DATA_DIR, Sandbox

from .conftest import isolated_env, load_table_module, run_child, tree

pytestmark = pytest.mark.e2e

PAIR = "sage300-procore"
CONFIG_CASES = load_table_module("config/test_config_errors.py", "test_config_errors")
from mappings import conftest as mappings_env
from mappings import test_mappings_csv as csv_cases


def flat(text: str) -> str:
    """Output as one line: rich wraps long messages at 160 columns when piped."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # yaml | csv | server | field
    exit: int
    # yaml / csv: the bad file, its line and key, words of the message
    text: str | bytes | None = None
    line: int | None = None
    key: str | None = None
    words: tuple[str, ...] = ()
    # server: which simulator answers what on which path
    system: str = ""
    path: str = ""
    status: int = 200
    body: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    retried: bool = True  # a transient failure: every attempt is spent
    # field: the record (stream, Sage key), how to make it, and what must come of it
    stream: str = ""
    record: str = ""
    make: Callable[[Any], None] | None = None
    quarantined_field: str | None = None  # None: it goes through
    procore: Callable[[dict], bool] | None = None  # the Procore record as it must look
    # A record without a usable key (``record`` blank) is looked for in Procore by this instead:
    # the vendor's name, or the PO's description (a commitment's title).
    named: str = ""


# --- yaml: cases of tests/config/test_config_errors.py, through `mlconnector sync` --------------------

YAML_IDS = ("syntax-flow", "unclosed-quote", "control-char", "tab-indent", "duplicate-key", "merge-key",
            "unknown-system-key", "credential-in-file", "int-word", "int-octal", "bool-yes", "str-number",
            "int-huge", "stream-option-unknown", "env-unset")
_config_bad = {c[0]: c for c in CONFIG_CASES.BAD}
YAML = [Case(f"yaml-{i}", "yaml", 2, text=_config_bad[i][1], line=_config_bad[i][2], key=_config_bad[i][3],
             words=(_config_bad[i][4],)) for i in YAML_IDS]

# --- csv: cases of tests/mappings/test_mappings_csv.py, through `mappings import` ---------------------

CSV_IDS = ("unknown-column", "missing-column", "empty-key", "duplicate-key-different-target", "ragged-more",
           "mixed-delimiters-row", "unclosed-quote", "text-after-quote", "not-utf8-nor-cp1252", "utf16", "xlsx",
           "tab-delimited", "pipe-in-costcode-key")
_csv_bad = {p.id: p.values for p in csv_cases.BAD}
CSV = [Case(f"csv-{i}", "csv", 2, text=_csv_bad[i][0], line=_csv_bad[i][1], key=_csv_bad[i][2],
            words=tuple(_csv_bad[i][3])) for i in CSV_IDS]

# --- server: garbage answers ---------------------------------------------------------------------------

SAGE_VENDORS = "/Sage300WebApi/v1.0/-/SAMLTD/AP/APVendors"
IIS_PAGE = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
    '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>IIS 10.0 Detailed Error - 500.19 - Internal Server '
    "Error</title></head><body><div id=\"content\"><h3>HTTP Error 500.19 - Internal Server Error</h3>"
    + "<p>The requested page cannot be accessed because the related configuration data is invalid.</p>" * 40
    + "</div></body></html>"
)
XXE = ('<?xml version="1.0"?>\n<!DOCTYPE value [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
       '<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>\n<value>&xxe;</value>')
LOL = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
       + "".join(f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">' for i in range(1, 10))
       + "]>\n<lolz>&lol9;</lolz>")
TEN_MB = (b'{"@odata.context": "x", "value": [' + b'{"VendorNumber": "V1", "VendorName": "A B C"}, ' * 230_000)


def server(id: str, system: str, path: str, body: bytes | str, words: tuple[str, ...], *, status: int = 200,
           content_type: str = "text/plain; charset=utf-8", method: str | None = None, retried: bool = True) -> Case:
    return Case(f"server-{id}", "server", 3, system=system, path=path, status=status, body=body,
                headers={"Content-Type": content_type}, method=method, words=words, retried=retried)


SERVER = [
    server("sage-iis-html-200", "sage300", SAGE_VENDORS, IIS_PAGE, ("read vendors", "an HTML page"),
           content_type="text/html"),
    server("sage-iis-html-500", "sage300", SAGE_VENDORS, IIS_PAGE, ("read vendors", "HTTP 500", "an HTML page"),
           status=500, content_type="text/html"),
    server("sage-truncated-json", "sage300", SAGE_VENDORS, '{"value": [{"VendorNumber": "V0', ("read vendors", "not JSON"),
           content_type="application/json"),
    server("sage-10mb-json-ish", "sage300", SAGE_VENDORS, TEN_MB, ("read vendors", "not JSON"),
           content_type="application/json"),
    server("sage-text-plain-garbage", "sage300", SAGE_VENDORS, b"\x00\xff\xfe garbage \x1b[2J" * 20,
           ("read vendors", "not JSON")),
    server("sage-xml-xxe", "sage300", SAGE_VENDORS, XXE, ("read vendors", "not JSON"), content_type="application/xml"),
    server("sage-xml-billion-laughs", "sage300", SAGE_VENDORS, LOL, ("read vendors", "not JSON"),
           content_type="application/xml"),
    server("sage-json-without-value", "sage300", SAGE_VENDORS, '{"d": {"results": []}}',
           ("read vendors", "no 'value' list"), content_type="application/json", retried=False),
    server("procore-token-html", "procore", "/oauth/token", IIS_PAGE, ("an HTML page",), content_type="text/html",
           retried=False),
    server("procore-sync-truncated", "procore", "/rest/v1.0/vendors/sync", '[{"id": 56294995342', ("not JSON",),
           content_type="application/json", method="PATCH"),
    server("procore-list-billion-laughs", "procore", "/rest/v1.0/vendors", LOL, ("not JSON",),
           content_type="application/xml", method="GET"),
]

# --- field: hostile values in Sage 300 records ---------------------------------------------------------

GOOD_VENDOR = "BI-GOOD"
GOOD_PO = "BI-PO-GOOD"
LINE = {"Contract": "2024-021", "Category": "03-100", "QuantityOrdered": 2, "UnitCost": 10, "ItemDescription": "Forms"}


def vendor(number: str, **fields: Any) -> Callable[[Any], None]:
    def make(sage) -> None:
        sage.upsert_vendor(VendorNumber=number, **{"VendorName": f"Vendor {number}", **fields})
    return make


def raw_vendor(number: str, **raw: Any) -> Callable[[Any], None]:
    """A vendor whose fields hold what the simulator's API refuses (an impossible date, a blank key)."""
    def make(sage) -> None:
        sage.upsert_vendor(VendorNumber=number, VendorName=f"Vendor {number}")
        with sage.lock:
            record = sage._vendors.rows.pop(number)
            record.update(raw)
            sage._vendors.rows[record["VendorNumber"]] = record
    return make


def po(number: str, lines: list[dict] | None = None, **fields: Any) -> Callable[[Any], None]:
    def make(sage) -> None:
        sage.upsert_purchase_order(PurchaseOrderNumber=number, **{"Vendor": GOOD_VENDOR, **fields},
                                   PurchaseOrderLines=[LINE] if lines is None else lines)
    return make


def raw_po(number: str, line: dict | None = None, **raw: Any) -> Callable[[Any], None]:
    def make(sage) -> None:
        sage.upsert_purchase_order(PurchaseOrderNumber=number, Vendor=GOOD_VENDOR, PurchaseOrderLines=[LINE])
        with sage.lock:
            record = sage._purchase_orders.find(number)
            record.update(raw)
            if line:
                record["PurchaseOrderLines"][0].update(line)
    return make


def vendor_case(id: str, number: str, make, *, bad_field: str | None = None, name: str | None = None,
                named: str = "") -> Case:
    check = None if name is None else (lambda v, name=name: v["name"] == name)
    return Case(f"field-{id}", "field", 1, stream="vendors", record=number, make=make, quarantined_field=bad_field,
                procore=check, named=named)


def po_case(id: str, number: str, make, *, bad_field: str | None = None,
            check: Callable[[dict], bool] | None = None, named: str = "") -> Case:
    return Case(f"field-{id}", "field", 1, stream="purchase_orders", record=number, make=make,
                quarantined_field=bad_field, procore=check, named=named)


ARABIC = "شركة البناء الحديث"
FIELD = [
    vendor_case("vendor-10k-name", "BI-LONG", vendor("BI-LONG", VendorName="L" * 10_000), bad_field="VendorName"),
    vendor_case("vendor-emoji", "BI-EMOJI", vendor("BI-EMOJI", VendorName="Café 🏗️ Builders 👷🏽‍♀️"),
                name="Café 🏗️ Builders 👷🏽‍♀️"),
    vendor_case("vendor-rtl", "BI-RTL", vendor("BI-RTL", VendorName=ARABIC, City="دبي"), name=ARABIC),
    vendor_case("vendor-rtl-override", "BI-RLO", vendor("BI-RLO", VendorName="Invoice\u202efdp.exe Supply\u2066"),
                name="Invoicefdp.exe Supply"),
    vendor_case("vendor-nul-and-controls", "BI-NUL", vendor("BI-NUL", VendorName="\x00Nul\x00 Co\x07\x1b[31m\x7f"),
                name="Nul Co[31m"),
    vendor_case("vendor-controls-only-name", "BI-CTRL", vendor("BI-CTRL", VendorName="\x00\x01\x02\t\r\n"),
                bad_field="VendorName"),
    vendor_case("vendor-empty-name", "BI-NONAME", vendor("BI-NONAME", VendorName=""), bad_field="VendorName"),
    vendor_case("vendor-blank-number", "", raw_vendor("BI-TMP", VendorNumber="   ", VendorName="Nameless Key Co"),
                bad_field="VendorNumber", named="Nameless Key Co"),
    vendor_case("vendor-impossible-date", "BI-FEB30", raw_vendor("BI-FEB30", DateLastMaintained="2025-02-30T00:00:00Z",
                                                                 VendorName="Feb Thirty Co"), name="Feb Thirty Co"),
    vendor_case("vendor-10k-address", "BI-ADDR", vendor("BI-ADDR", VendorName="Long Address Co",
                                                        AddressLine1="\x00" * 10_000 + "1 Main St"),
                name="Long Address Co"),
    po_case("po-negative-amount", "BI-PO-NEG", po("BI-PO-NEG", [{**LINE, "ExtendedCost": -5}]),
            bad_field="PurchaseOrderLines[1000].ExtendedCost"),
    po_case("po-non-numeric-amount", "BI-PO-NAN", raw_po("BI-PO-NAN", {"ExtendedCost": "12,50 EUR"}),
            bad_field="PurchaseOrderLines[1000].ExtendedCost"),
    po_case("po-nan-amount", "BI-PO-NAN2", raw_po("BI-PO-NAN2", {"ExtendedCost": "NaN"}),
            bad_field="PurchaseOrderLines[1000].ExtendedCost"),
    po_case("po-huge-amount", "BI-PO-HUGE", raw_po("BI-PO-HUGE", {"ExtendedCost": 1e30}),
            bad_field="PurchaseOrderLines[1000].ExtendedCost"),
    po_case("po-non-numeric-quantity", "BI-PO-QTY", raw_po("BI-PO-QTY", {"QuantityOrdered": "two",
                                                                         "ExtendedCost": None}),
            bad_field="PurchaseOrderLines[1000].QuantityOrdered"),
    po_case("po-date-feb-30", "BI-PO-FEB30", raw_po("BI-PO-FEB30", PurchaseOrderDate="2025-02-30T00:00:00Z"),
            bad_field="PurchaseOrderDate"),
    po_case("po-date-9999-99-99", "BI-PO-9999", raw_po("BI-PO-9999", PurchaseOrderDate="9999-99-99T00:00:00Z"),
            bad_field="PurchaseOrderDate"),
    po_case("po-blank-number", "", raw_po("BI-PO-TMP", PurchaseOrderNumber="  ", Description="Blank Key Forms"),
            bad_field="PurchaseOrderNumber", named="Blank Key Forms"),
    po_case("po-no-lines", "BI-PO-NOLINES", po("BI-PO-NOLINES", []), bad_field="PurchaseOrderLines"),
    po_case("po-no-vendor", "BI-PO-NOVENDOR", po("BI-PO-NOVENDOR", Vendor=""), bad_field="Vendor"),
    po_case("po-line-without-contract", "BI-PO-NOJOB", po("BI-PO-NOJOB", [{**LINE, "Contract": ""}]),
            bad_field="PurchaseOrderLines[1000].Contract"),
    po_case("po-emoji-nul-title", "BI-PO-EMOJI", po("BI-PO-EMOJI", Description="Forms 🏗️\x00 phase\u202e 2"),
            check=lambda c: c["title"] == "Forms 🏗️ phase 2"),
]

CASES = YAML + CSV + SERVER + FIELD


def test_the_corpus_is_big_and_covers_every_kind() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.kind for c in CASES} == {"yaml", "csv", "server", "field"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    {"yaml": _yaml, "csv": _csv, "server": _server, "field": _field}[case.kind](case, request, tmp_path)


def _no_traceback(run) -> None:
    assert "Traceback" not in run.output, run.output
    assert "internal error" not in run.output, run.output


def _yaml(case: Case, request, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    config = work / "mlconnector.yaml"
    config.write_text(case.text, encoding="utf-8")
    before = tree(work)
    run = run_child(["sync", PAIR], cwd=work, env=isolated_env(tmp_path), sleep_log=tmp_path / "sleeps")
    assert run.code == 2, run.output
    _no_traceback(run)
    message = flat(run.stderr)
    assert message.startswith(f"error: {config}:{case.line}"), message
    if case.key:
        assert f"[{case.key}]" in message, message
    for word in case.words:
        assert flat(word) in message, message
    assert tree(work) == before  # no state file, nothing else


def _csv(case: Case, request, tmp_path: Path) -> None:
    env = mappings_env.Env(tmp_path / "work")
    env.dir.mkdir()
    env.config_path.write_text(mappings_env.CONFIG, encoding="utf-8")
    env.seed()
    path = env.csv(case.text, "bad.csv")
    before = tree(env.dir)
    run = run_child(["mappings", "import", str(path), "--offline"], cwd=env.dir, env=isolated_env(tmp_path),
                    sleep_log=tmp_path / "sleeps")
    assert run.code == 2, run.output
    _no_traceback(run)
    message = flat(run.stderr)
    where = f"{path}:{case.line}" if case.line else str(path)
    assert message.startswith(f"error: {where}"), message
    if case.key:
        assert f"[{case.key}]" in message, message
    for word in case.words:
        assert flat(word) in message, message
    assert tree(env.dir) == before  # the state file byte-identical, nothing new


def _server(case: Case, request, tmp_path: Path) -> None:
    sandbox: Sandbox = request.getfixturevalue("sandbox")
    work = tmp_path / "work"
    work.mkdir()
    state = work / "state.db"
    (work / "mlconnector.yaml").write_text(sandbox.config_yaml(state, ("vendors",)), encoding="utf-8")
    simulator = sandbox.sage300 if case.system == "sage300" else sandbox.procore
    procore_before = sandbox.procore.vendors()
    simulator.inject_fault(case.path, case.status, count=50, headers=case.headers, body=case.body, method=case.method)
    run = run_child(["sync", PAIR], cwd=work, env=isolated_env(tmp_path, sandbox.credentials_env()),
                    sleep_log=tmp_path / "sleeps")
    assert run.code == 3, run.output
    _no_traceback(run)
    message = flat(run.stderr)
    assert f"{case.system}:" in message, message
    for word in case.words:
        assert word in message, message
    # A short message: an excerpt of the body at most, never the body (retry warnings included).
    error = run.stderr[run.stderr.index("error: "):]
    assert len(error) < 1500, error
    assert max(len(line) for line in run.stderr.splitlines()) < 1000, run.stderr
    assert "root:x:0:0" not in run.output and "lollollol" not in run.output
    # Retries within bounds: the policy's attempts, and only the back-off it allows.
    attempts = simulator.count(case.method, case.path)
    policy = DEFAULT_RETRY
    if case.retried:
        assert attempts == policy.attempts, attempts
    else:
        assert 1 <= attempts <= 2, attempts  # no retry (a token may be fetched twice)
    most = sum(min(policy.cap, policy.initial * 2 ** n) + policy.jitter for n in range(policy.attempts - 1))
    assert len(run.sleeps) <= policy.attempts - 1 and sum(run.sleeps) <= most, run.sleeps
    # Bounded time and memory, the 10 MB bodies included.
    assert run.seconds < 30, run.seconds
    assert run.max_rss_mb < 600, run.max_rss_mb
    # No partial write: Procore unchanged, no link recorded.
    assert sandbox.procore.vendors() == procore_before
    if state.exists():
        from mlconnector.state import open_state

        with open_state(state, readonly=True) as st:
            assert st.links(PAIR) == []


def _assert_blank_key_not_written(case: Case, result: FieldRun) -> None:
    """A record without a key cannot be looked up by it: look for it by name (vendor) or title (its
    PO's description), and for anything written with a blank key."""
    assert case.named, f"{case.id}: a blank-key case must name its record"
    records, field_name, good = ((result.all_vendors, "name", "Good Forms Supply") if case.stream == "vendors"
                                 else (result.all_commitments, "title", f"PO {GOOD_PO}"))
    assert any(r.get(field_name) == good for r in records), f"the search by {field_name} finds nothing at all"
    assert [r for r in records if case.named.casefold() in str(r.get(field_name) or "").casefold()] == []
    blank_origin = [r for r in records if str(r.get("origin_id") or "").startswith("sage300:")
                    and not str(r["origin_id"]).split(":", 2)[2].strip()]
    assert blank_origin == []
    assert [r for r in records if "origin_code" in r and r.get("origin_id") and not str(r["origin_code"]).strip()] == []
    if case.stream == "purchase_orders":
        assert [c for c in records if not str(c.get("number") or "").strip()] == []


# --- the one sync all field cases share ----------------------------------------------------------------


@dataclass
class FieldRun:
    run: Any
    quarantine: dict[tuple[str, str], dict]  # (stream, source key) -> quarantine row
    audit: list[dict]
    procore_vendors: dict[str, dict]  # origin_code -> vendor
    commitments: dict[str, dict]  # number -> commitment
    all_vendors: list[dict]  # every Procore vendor, with or without origin_code
    all_commitments: list[dict]


@pytest.fixture(scope="module")
def field_run(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("field")
    work = tmp / "work"
    work.mkdir()
    with Sandbox(vendors=30) as sandbox:
        sandbox.procore.set_rate_limits(spike=100_000, hourly=1_000_000)
        sage = sandbox.sage300
        for order in sage.purchase_orders():
            sage.delete_purchase_order(order["PurchaseOrderNumber"])
        sage.upsert_vendor(VendorNumber=GOOD_VENDOR, VendorName="Good Forms Supply")
        sage.upsert_purchase_order(PurchaseOrderNumber=GOOD_PO, Vendor=GOOD_VENDOR, PurchaseOrderLines=[LINE])
        for case in FIELD:
            case.make(sage)
        (work / "mlconnector.yaml").write_text(sandbox.config_yaml(work / "state.db", ("vendors", "purchase_orders")),
                                               encoding="utf-8")
        env = isolated_env(tmp, sandbox.credentials_env())

        def cli(*args: str):
            return run_child(list(args), cwd=work, env=env, sleep_log=tmp / "sleeps")

        for name in ("projects.csv", "costcodes.csv"):
            assert cli("mappings", "import", str(DATA_DIR / name)).code == 0
        run = cli("sync", PAIR)
        held = cli("quarantine", "list", "--json")
        audit = cli("audit", "--json", "--limit", "5000")
        assert held.code == 0 and audit.code == 0, held.output + audit.output
        result = FieldRun(
            run=run,
            quarantine={(q["stream"], q["source_key"]): q for q in json.loads(held.stdout)},
            audit=json.loads(audit.stdout),
            procore_vendors={v.get("origin_code"): v for v in sandbox.procore.vendors() if v.get("origin_code")},
            commitments={c["number"]: c for c in sandbox.procore.commitments()},
            all_vendors=sandbox.procore.vendors(),
            all_commitments=sandbox.procore.commitments(),
        )
        yield result
        assert sandbox.sage300.unhandled_errors == [] and sandbox.procore.unhandled_errors == []


def _field(case: Case, request, tmp_path: Path) -> None:
    result: FieldRun = request.getfixturevalue("field_run")
    run = result.run
    assert run.code == 1, run.output
    _no_traceback(run)
    # The other records went through.
    assert GOOD_VENDOR in result.procore_vendors and GOOD_PO in result.commitments
    assert ("vendors", GOOD_VENDOR) not in result.quarantine and ("purchase_orders", GOOD_PO) not in result.quarantine
    events = [e for e in result.audit if e["stream"] == case.stream and e["source_key"] == case.record]
    held = result.quarantine.get((case.stream, case.record))
    if case.quarantined_field:
        assert held is not None, sorted(result.quarantine)
        reason = held["reason"]
        assert f"field {case.quarantined_field}:" in reason, reason
        assert len(reason) < 1000, reason  # a 10,000-character value is not repeated
        if case.record:
            assert f"{PAIR}/{case.stream} {case.record} " in reason, reason
        assert [e["action"] for e in events] == ["quarantine"], events
        # Nothing half-written in the target.
        if case.stream == "vendors":
            assert not case.record or case.record not in result.procore_vendors
        else:
            assert not case.record or case.record not in result.commitments
        if not case.record:
            _assert_blank_key_not_written(case, result)
    else:
        assert held is None, held
        assert [e["action"] for e in events] in (["create"], ["link"]), events
        target = (result.procore_vendors if case.stream == "vendors" else result.commitments)[case.record]
        assert case.procore(target), target
        # What Procore holds is what the audit says was written.
        assert events[0]["target_id"].split("/")[-1] == str(target["id"]), events  # commitments: project/id
        if case.id == "field-vendor-impossible-date":
            assert "DateLastMaintained '2025-02-30T00:00:00Z' is not a valid date" in events[0]["message"], events
        if case.id == "field-vendor-10k-address":
            assert target["address"] == "1 Main St", target
