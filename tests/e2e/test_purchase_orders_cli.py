"""Purchase orders and PO invoices through the CLI as a user runs it: `python -m mlconnector ...` in a
child process, over real HTTP to the sandbox in this process. Output is piped (plain text for sync,
tables for the rest), so this is also what cron and a script see.

The test ends by checking that no secret of the sandbox appeared in any output or in the state file.
"""

from __future__ import annotations

import json
import re

import pytest

from mlconnector.sandbox import DATA_DIR
from mlconnector.sandbox.seed import origin_id_for

pytestmark = pytest.mark.e2e

PAIR = "sage300-procore"
UNMAPPED = "99-900"


@pytest.fixture
def cli(run_cli, workdir, sandbox, assert_nothing_leaked):
    """run_cli in a workdir configured for every stream; afterwards, no secret anywhere it wrote."""
    sandbox.procore.set_rate_limits(spike=100_000, hourly=1_000_000)
    workdir.write_config(sandbox.config_yaml(workdir.state_path, ("vendors", "purchase_orders", "po_invoices")))
    yield run_cli
    assert_nothing_leaked(sandbox)


def flat(text: str) -> str:
    """A table as one line of words: cell borders and the wrapping of long cells taken out."""
    return re.sub(r"[\s│┃]+", " ", text)


def unmapped_pos(sandbox) -> list[str]:
    return [po["PurchaseOrderNumber"] for po in sandbox.sage300.purchase_orders()
            if any(line["Category"] == UNMAPPED for line in po["PurchaseOrderLines"])]


def test_purchase_orders_through_the_cli(cli, sandbox, workdir) -> None:
    # Mapping tables, checked against Procore as they are imported.
    for name in ("projects.csv", "costcodes.csv"):
        code, out, err = cli("mappings", "import", str(DATA_DIR / name))
        assert code == 0, err
        assert name in out.replace("\n", "") and "warning" not in err

    # The first sync: a plain line per stream (output is piped), exit 1 for the quarantined records.
    code, out, err = cli("sync", PAIR)
    assert code == 1, err
    for stream in ("vendors", "purchase_orders", "po_invoices"):
        assert re.search(rf"^{PAIR} run 1 {stream}: create=[1-9]\d* update=0 link=\d+ skip=0 quarantine=[1-9]",
                         out, re.MULTILINE), out
    assert not re.search(r"[┏┃┡│└]", out)
    assert re.search(r"^quarantined in [\d.]+ s \(sage300: \d+ reads, 0 writes, procore: \d+ reads, \d+ writes\)$",
                     out, re.MULTILINE), out
    assert "records in quarantine: `mlconnector audit --run 1` shows why" in err
    created = int(re.search(r"run 1 purchase_orders: create=(\d+)", out).group(1))
    assert created == len(sandbox.procore.commitments()) == len(sandbox.sage300.purchase_orders()) - 2

    # The quarantine, as a table and as JSON.
    code, out, err = cli("quarantine", "list")
    assert code == 0, err
    held = unmapped_pos(sandbox)
    assert "records in quarantine" in out and all(f"PO:{po}" in out for po in held)
    code, out, err = cli("quarantine", "list", "--json")
    assert code == 0, err
    rows = {row["record"]: row for row in json.loads(out)}
    for po in held:
        assert rows[f"PO:{po}"]["stream"] == "purchase_orders"
        assert f"no cost code mapping for Sage 300 category {UNMAPPED}" in rows[f"PO:{po}"]["reason"]
    no_period = next(r for r in rows.values() if "open billing period" in r["reason"])
    assert no_period["record"].startswith("INV:")
    waiting = [i for i in sandbox.sage300.po_invoices() if i["PurchaseOrderNumber"] in held]
    assert waiting
    for invoice in waiting:
        assert rows[f"INV:{invoice['InvoiceNumber']}"]["reason"].startswith(
            f"Sage 300 PO invoice {invoice['InvoiceNumber']} waits for purchase order {invoice['PurchaseOrderNumber']}, "
            "which is not in the target yet: ")
    code, out, err = cli("quarantine", "list", "--stream", "purchase_orders", "--json")
    assert code == 0 and {row["record"] for row in json.loads(out)} == {f"PO:{po}" for po in held}

    first, second = held
    code, out, err = cli("quarantine", "show", str(rows[f"PO:{first}"]["id"]))
    assert code == 0, err
    assert f"PO:{first}" in out and '"PurchaseOrderNumber": "' + first + '"' in out and UNMAPPED in out
    code, out, err = cli("quarantine", "show", str(rows[f"PO:{first}"]["id"]), "--json")
    assert code == 0 and json.loads(out)["payload"]["PurchaseOrderNumber"] == first

    # Replay while the mapping is still missing: still held, exit 1, the table says why.
    code, out, err = cli("replay", f"PO:{first}")
    assert code == 1, err
    assert f"replay of PO:{first}" in out
    assert f"PO:{first} quarantine Sage 300 purchase order {first}: no cost code mapping" in flat(out)
    # A record id that is no record id, a quarantine id that does not exist: usage errors.
    for bad in ("PX:PO000101", "nonsense", "99999"):
        code, out, err = cli("replay", bad)
        assert code == 2, (bad, out, err)
        assert "error:" in err and ("not a record id" in err or "no quarantined record with id 99999" in err)

    # The missing mapping arrives: replay by record id, then by quarantine id.
    code, out, err = cli("mappings", "import", str(DATA_DIR / "costcodes-extra.csv"))
    assert code == 0, err
    code, out, err = cli("replay", f"PO:{first}")
    assert code == 0, err
    commitment = next(c for c in sandbox.procore.commitments() if c["origin_id"] == origin_id_for(first))
    assert f"replay of PO:{first}" in out
    assert f"PO:{first} create {commitment['project']['id']}/{commitment['id']}" in flat(out)
    code, out, err = cli("replay", str(rows[f"PO:{second}"]["id"]))
    assert code == 0, err
    assert f"replay of PO:{second}" in out and "create" in out
    # The invoice Procore refuses is still refused: exit 1.
    code, out, err = cli("replay", str(no_period["id"]))
    assert code == 1, err
    assert (f"{no_period['record']} quarantine {no_period['reason']}") in flat(out)

    # What happened to one PO, run by run.
    code, out, err = cli("audit", "--record", f"PO:{first}")
    assert code == 0, err
    assert f"PO:{first} quarantine Sage 300 purchase order {first}: no cost code mapping" in flat(out)
    assert f"PO:{first} create {commitment['project']['id']}/{commitment['id']}" in flat(out)
    code, out, err = cli("audit", "--record", f"PO:{first}", "--json")
    assert code == 0, err
    events = json.loads(out)
    assert [e["action"] for e in events] == ["create", "quarantine", "quarantine"]  # newest first
    assert {e["record"] for e in events} == {f"PO:{first}"}

    # Discard the refused invoice by hand: gone from the list, and the audit says so.
    code, out, err = cli("quarantine", "discard", str(no_period["id"]))
    assert code == 0, err
    assert f"{no_period['record']} discarded from quarantine" in out
    code, out, err = cli("quarantine", "list", "--json")
    assert no_period["record"] not in {row["record"] for row in json.loads(out)}
    code, out, err = cli("audit", "--record", no_period["record"], "--action", "discard", "--json")
    assert code == 0, err
    (event,) = json.loads(out)
    assert event["run_id"] is None and "discarded from quarantine by hand" in event["message"]
    assert "open billing period" in event["message"]
    code, out, err = cli("quarantine", "discard", str(no_period["id"]))
    assert code == 2 and "no quarantined record with id" in err

    # The next sync takes the invoices of the replayed POs through; status shows all three streams.
    code, out, err = cli("sync", PAIR)
    assert code == 1, err  # the ambiguous vendor of the seed is still held
    assert re.search(r"run \d+ po_invoices: create=[1-9]", out), out
    code, out, err = cli("status")
    assert code == 0, err
    for stream in ("vendors", "purchase_orders", "po_invoices"):
        assert re.search(rf"│\s*{stream}\s*│", out), out
    code, out, err = cli("status", "--json")
    streams = {s["stream"]: s for s in json.loads(out)["pairs"][0]["streams"]}
    assert set(streams) == {"vendors", "purchase_orders", "po_invoices"}
    assert streams["purchase_orders"]["linked"] == len(sandbox.sage300.purchase_orders())
    assert streams["purchase_orders"]["quarantined"] == 0 and streams["po_invoices"]["quarantined"] == 0
    assert all(s["watermark"] for s in streams.values())

    # On a terminal the same commands draw rich tables; a dry run lists what it would write.
    po = sandbox.sage300.purchase_orders()[0]
    sandbox.sage300.upsert_purchase_order(PurchaseOrderNumber=po["PurchaseOrderNumber"], Description="Amended")
    writes = sum(1 for r in sandbox.procore.requests if r.is_write)
    result = cli.on_terminal("sync", PAIR, "--dry-run")
    assert result.code == 1, result.stdout
    assert "planned actions" in result.stdout and "DRY RUN" in result.stdout
    key = po["PurchaseOrderNumber"]
    assert re.search(rf"purchase_orders\s*│\s*{key}\s*│\s*update", result.stdout), result.stdout
    for stream in ("vendors", "purchase_orders", "po_invoices"):
        assert re.search(rf"│\s*{stream}\s*│", result.stdout)
    assert sum(1 for r in sandbox.procore.requests if r.is_write) == writes
