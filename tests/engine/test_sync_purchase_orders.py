"""Sage 300 purchase orders and PO invoices -> Procore commitments, direct costs and requisitions,
through the library entry points (``sync_pair``, ``replay_record``), against the sandbox over HTTP.

Each test asserts what a person could see: documents in the sandbox's Procore (project, cost code,
cost type, amount, status), rows in the state file (links, quarantine, audit), the report's exit
code and the requests the Procore simulator logged, bodies included where it matters.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from decimal import Decimal

import pytest

from mlconnector.engine.sync import replay_record
from mlconnector.errors import ExitCode, UsageError
from mlconnector.mappings import import_mappings
from mlconnector.pairs._procore_requisitions import any_open_period
from mlconnector.sandbox import DATA_DIR
from mlconnector.sandbox._server import NO_RESPONSE, Fault, StatusFault
from mlconnector.sandbox.seed import origin_id_for

PAIR = "sage300-procore"
ALL_STREAMS = ("vendors", "purchase_orders", "po_invoices")
COMMITMENTS = "/rest/v1.0/purchase_order_contracts"
REQUISITIONS = "/rest/v1.0/requisitions"
UNMAPPED = "99-900"  # the category only costcodes-extra.csv maps


# -- helpers ------------------------------------------------------------------------------------


class Spy(Fault):
    """Lets every request through and keeps what was sent: (method, path, query, JSON body)."""

    def __init__(self, path_prefix: str = "/rest/") -> None:
        super().__init__(path_prefix, count=10**9)
        self.seen: list[tuple[str, str, str, object]] = []

    def after(self, request, response):
        body = json.loads(request.body) if request.body.strip() else None
        self.seen.append((request.method, request.path, request.query_string, body))
        return response

    def writes(self) -> list[tuple[str, str, str, object]]:
        return [s for s in self.seen if s[0] != "GET"]


class AnswerLost(Fault):
    """The simulator does the work, then the connection drops before the answer is sent.

    Only requests whose body mentions ``mentioning`` count (one given invoice, say)."""

    def __init__(self, path_prefix: str, *, method: str, mentioning: str = "") -> None:
        super().__init__(path_prefix, method=method)
        self.mentioning = mentioning

    def matches(self, request) -> bool:
        return super().matches(request) and self.mentioning.encode() in request.body

    def after(self, request, response):
        assert response.status < 400, response.body  # the work was done
        return NO_RESPONSE


@pytest.fixture
def work(workdir, sandbox):
    """The workdir with every stream of the pair on; pacing is not what these tests look at."""
    sandbox.procore.set_rate_limits(spike=100_000, hourly=1_000_000)
    workdir.write_config(sandbox.config_yaml(workdir.state_path, ALL_STREAMS))
    return workdir


def import_csv(workdir, *names: str) -> None:
    for name in names:
        import_mappings(workdir.config(), DATA_DIR / name, pair=PAIR, offline=True)


def write_csv(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def csv_rows(name: str) -> list[dict]:
    with open(DATA_DIR / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def expected_project_numbers() -> dict[str, str]:
    return {r["source_code"]: r["procore_project"] for r in csv_rows("projects.csv")}


def expected_cost_codes(*files: str) -> dict[str, tuple[str, str]]:
    return {r["source_code"]: (r["procore_cost_code"], r["cost_type"]) for name in files for r in csv_rows(name)}


def origin(sandbox, key: str) -> str:
    return origin_id_for(key, sandbox.sage300.company)


def project_ids(sandbox) -> dict[str, int]:
    return {p["project_number"]: p["id"] for p in sandbox.procore.projects()}


def commitments_of(sandbox, key: str) -> list[dict]:
    return [c for c in sandbox.procore.commitments() if c["origin_id"] == origin(sandbox, key)]


def the_commitment(sandbox, key: str) -> dict:
    found = commitments_of(sandbox, key)
    assert len(found) == 1, f"{key}: {len(found)} commitments"
    return found[0]


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def categories(po: dict) -> set[str]:
    return {line["Category"] for line in po["PurchaseOrderLines"]}


def mappable(sandbox, files=("costcodes.csv",)) -> list[dict]:
    known = expected_cost_codes(*files)
    return [po for po in sandbox.sage300.purchase_orders() if categories(po) <= set(known)]


def unmapped_pos(sandbox) -> list[dict]:
    return [po for po in sandbox.sage300.purchase_orders() if UNMAPPED in categories(po)]


def quarantine(workdir, stream: str | None = None) -> dict[str, str]:
    with workdir.state(readonly=True) as state:
        return {q.source_key: q.reason for q in state.quarantined(PAIR, stream)}


def link(workdir, stream: str, key: str) -> str | None:
    with workdir.state(readonly=True) as state:
        found = state.get_link(PAIR, stream, key)
        return found.target_id if found else None


def run_events(workdir, run_id: int) -> list:
    with workdir.state(readonly=True) as state:
        return state.audit(run_id=run_id, limit=100_000)


def procore_writes(sandbox, since: int = 0) -> list[tuple[str, str, int]]:
    with sandbox.procore.lock:
        return [(r.method, r.path, r.status) for r in sandbox.procore.requests[since:] if r.is_write]


def mark(sandbox) -> int:
    with sandbox.procore.lock:
        return len(sandbox.procore.requests)


def billing_period_reads(sandbox, since: int = 0) -> list[int]:
    """The project ids whose billing periods were listed since ``since``, in order."""
    with sandbox.procore.lock:
        return [int(r.path.split("/")[4]) for r in sandbox.procore.requests[since:]
                if r.method == "GET" and r.path.endswith("/billing_periods")]


def no_period_project(sandbox) -> int:
    """The id of the seed's one Procore project without an open billing period."""
    (project_id,) = [p["id"] for p in sandbox.procore.projects()
                     if not any(b["status"] == "open" for b in sandbox.procore.billing_periods(p["id"]))]
    return project_id


def po_line_origin(sandbox, key: str, line_number) -> str:
    return f"{origin(sandbox, key)}:{line_number}"


def assert_commitment_matches(sandbox, workdir, po: dict, *, costcodes=("costcodes.csv",)) -> dict:
    """The PO's one commitment: right project, number, vendor, status, lines and amounts."""
    key = po["PurchaseOrderNumber"]
    commitment = the_commitment(sandbox, key)
    contract = po["PurchaseOrderLines"][0]["Contract"]
    number = expected_project_numbers()[contract]
    assert commitment["project"]["id"] == project_ids(sandbox)[number], key
    assert commitment["number"] == commitment["origin_code"] == key
    assert commitment["vendor"]["id"] == int(link(workdir, "vendors", po["Vendor"])), key
    assert commitment["status"] == ("Closed" if po["Completed"] == "Yes" else "Approved"), key
    codes = expected_cost_codes(*costcodes)
    lines = {line["origin_id"]: line for line in commitment["line_items"]}
    assert len(lines) == len(po["PurchaseOrderLines"]), key
    for line in po["PurchaseOrderLines"]:
        held = lines[po_line_origin(sandbox, key, line["LineNumber"])]
        full_code, cost_type = codes[line["Category"]]
        assert held["cost_code"]["full_code"] == full_code, (key, line["LineNumber"])
        assert held["line_item_type"]["code"] == cost_type, (key, line["LineNumber"])
        assert money(held["amount"]) == money(line["ExtendedCost"]), (key, line["LineNumber"])
    total = sum(money(line["ExtendedCost"]) for line in po["PurchaseOrderLines"])
    assert money(commitment["grand_total"]) == total, key
    return commitment


# -- commitments --------------------------------------------------------------------------------


def test_every_mappable_po_becomes_one_commitment_on_the_right_project_and_cost_codes(sandbox, work) -> None:
    import_csv(work, "projects.csv", "costcodes.csv")
    report = work.sync()
    assert report.exit_code == ExitCode.QUARANTINED, report.error
    good, held = mappable(sandbox), unmapped_pos(sandbox)
    assert len(good) + len(held) == len(sandbox.sage300.purchase_orders()) and good and held
    assert any(po["PurchaseOrderLines"][0]["Contract"] == "24017" for po in good)  # mapped by projects.csv
    assert any(po["Completed"] == "Yes" for po in good)
    assert any({"01-510", "03-310"} & categories(po) for po in good)  # categories costcodes.csv renames
    for po in good:
        assert_commitment_matches(sandbox, work, po)
    assert len(sandbox.procore.commitments()) == len(good)
    origins = Counter(c["origin_id"] for c in sandbox.procore.commitments())
    assert max(origins.values()) == 1
    # A PO with a line in the unmapped category waits, saying which mapping to add.
    reasons = quarantine(work, "purchase_orders")
    assert set(reasons) == {po["PurchaseOrderNumber"] for po in held}
    for po in held:
        contract = po["PurchaseOrderLines"][0]["Contract"]
        assert (f"no cost code mapping for Sage 300 category {UNMAPPED} on contract {contract}: add it with "
                "`mlconnector mappings import costcodes.csv`") in reasons[po["PurchaseOrderNumber"]]
        assert commitments_of(sandbox, po["PurchaseOrderNumber"]) == []
    counts = {s.name: s.counts for s in report.streams}
    assert counts["purchase_orders"]["create"] == len(good)
    assert counts["purchase_orders"]["quarantine"] == len(held)


def test_a_pos_vendor_is_synced_first_when_the_vendors_stream_is_off(sandbox, work) -> None:
    work.write_config(sandbox.config_yaml(work.state_path, ("purchase_orders",)))
    import_csv(work, "projects.csv", "costcodes.csv")
    # One more PO, for the vendor Procore holds twice by name (the seed's ambiguous one).
    sandbox.sage300.upsert_purchase_order(PurchaseOrderNumber="PO000900", PurchaseOrderDate=sandbox.sage300.today,
                                          Vendor="SUMMIT", PurchaseOrderLines=[{
                                              "ItemDescription": "Rebar", "QuantityOrdered": 4, "UnitCost": 1200,
                                              "Contract": "2024-021", "Project": "BLDG", "Category": "03-200"}])
    po_vendors = {po["Vendor"] for po in sandbox.sage300.purchase_orders()} - {"SUMMIT"}
    unlinked = [v for v in po_vendors if sandbox.procore.vendor_by_origin_id(origin(sandbox, v)) is None]
    assert unlinked
    report = work.sync(streams=["purchase_orders"])
    assert report.exit_code == ExitCode.QUARANTINED, report.error
    with work.state(readonly=True) as state:
        linked = {link.source_key for link in state.links(PAIR, "vendors")}
    assert linked == po_vendors  # exactly the vendors the POs name, no others
    for po in mappable(sandbox):
        if po["PurchaseOrderNumber"] != "PO000900":
            assert_commitment_matches(sandbox, work, po)
    for vendor in po_vendors:
        assert sandbox.procore.vendor_by_origin_id(origin(sandbox, vendor)) is not None
    events = run_events(work, report.run_id)
    assert {e.source_key for e in events if e.stream == "vendors"} == po_vendors | {"SUMMIT"}
    assert [s.name for s in report.streams] == ["vendors", "purchase_orders"]
    # A vendor that cannot be synced first holds its PO back, with the vendor's reason.
    reasons = quarantine(work)
    assert set(reasons) == {po["PurchaseOrderNumber"] for po in unmapped_pos(sandbox)} | {"PO000900", "SUMMIT"}
    assert reasons["PO000900"] == (f"Sage 300 purchase order PO000900 waits for Sage 300 vendor SUMMIT, which is "
                                   f"not in the target yet: {reasons['SUMMIT']}")
    assert "matches 2 target records by name" in reasons["SUMMIT"]
    # Once a person links the vendor, the next sync takes the PO through.
    twin = min(v["id"] for v in sandbox.procore.vendors() if v["name"].casefold().startswith("summit rebar"))
    with work.state() as state:
        state.upsert_link(PAIR, "vendors", "SUMMIT", str(twin), None, manual=True)
    work.sync(streams=["purchase_orders"])
    assert "PO000900" not in quarantine(work)
    assert the_commitment(sandbox, "PO000900")["vendor"]["id"] == twin


def test_without_projects_csv_pos_wait_until_it_is_imported_then_sync_or_replay_clears_them(sandbox, work) -> None:
    import_csv(work, "costcodes.csv")
    first = work.sync()
    assert first.exit_code == ExitCode.QUARANTINED
    waiting = [po for po in mappable(sandbox) if po["PurchaseOrderLines"][0]["Contract"] == "24017"]
    assert len(waiting) >= 3
    reasons = quarantine(work, "purchase_orders")
    for po in waiting:
        reason = reasons[po["PurchaseOrderNumber"]]
        assert "no Procore project with number or id 24017 for Sage 300 contract 24017" in reason
        assert "`mlconnector mappings import projects.csv`" in reason
        assert commitments_of(sandbox, po["PurchaseOrderNumber"]) == []
    others = [po for po in mappable(sandbox) if po not in waiting]
    for po in others:
        assert_commitment_matches(sandbox, work, po)
    # An invoice on a waiting PO waits too, and says why.
    invoices = [i for i in sandbox.sage300.po_invoices() if i["PurchaseOrderNumber"] in
                {po["PurchaseOrderNumber"] for po in waiting}]
    assert invoices
    held_invoices = quarantine(work, "po_invoices")
    for invoice in invoices:
        reason = held_invoices[invoice["InvoiceNumber"]]
        assert f"waits for purchase order {invoice['PurchaseOrderNumber']}, which is not in the target yet" in reason
        assert "mappings import projects.csv" in reason

    import_csv(work, "projects.csv")
    # Replay one of them now ...
    replayed = waiting[0]["PurchaseOrderNumber"]
    report = replay_record(work.config(), PAIR, "purchase_orders", replayed)
    assert report.exit_code == ExitCode.QUARANTINED  # others are still held
    assert_commitment_matches(sandbox, work, waiting[0])
    assert replayed not in quarantine(work)
    # ... and let the next sync take the rest, the invoices after their POs.
    second = work.sync()
    for po in waiting:
        assert_commitment_matches(sandbox, work, po)
    held = quarantine(work)
    assert not {po["PurchaseOrderNumber"] for po in waiting} & set(held)
    assert not {i["InvoiceNumber"] for i in invoices} & set(held)
    assert len(sandbox.procore.commitments()) == len(mappable(sandbox))
    events = run_events(work, second.run_id)
    assert not [e for e in events if e.source_key == replayed and e.action != "skip"]


def test_an_unmapped_category_waits_until_the_mapping_is_imported_and_the_po_replayed(sandbox, work) -> None:
    import_csv(work, "projects.csv", "costcodes.csv")
    work.sync()
    held = unmapped_pos(sandbox)
    po = held[0]
    key = po["PurchaseOrderNumber"]
    reason = quarantine(work, "purchase_orders")[key]
    assert reason.startswith(f"Sage 300 purchase order {key}: ")
    assert f"no cost code mapping for Sage 300 category {UNMAPPED} on contract" in reason

    import_csv(work, "costcodes-extra.csv")
    report = replay_record(work.config(), PAIR, "purchase_orders", key)
    assert report.error is None
    assert_commitment_matches(sandbox, work, po, costcodes=("costcodes.csv", "costcodes-extra.csv"))
    assert key not in quarantine(work)
    assert {p["PurchaseOrderNumber"] for p in held[1:]} <= set(quarantine(work))  # not replayed: still held
    events = run_events(work, report.run_id)
    assert [(e.stream, e.source_key, e.action) for e in events] == [("purchase_orders", key, "create")]
    commitment = the_commitment(sandbox, key)
    assert events[0].target_id == f"{commitment['project']['id']}/{commitment['id']}"
    with work.state(readonly=True) as state:
        run = state.runs(PAIR, limit=1)[0]
    assert run.id == report.run_id and run.status == "quarantined"  # other records are still held
    # Replaying it again writes it again with the same key: still one commitment.
    again = replay_record(work.config(), PAIR, "purchase_orders", key)
    assert again.error is None and len(commitments_of(sandbox, key)) == 1


def test_a_rerun_without_changes_writes_nothing(sandbox, work) -> None:
    import_csv(work, "projects.csv", "costcodes.csv")
    first = work.sync()
    assert first.exit_code == ExitCode.QUARANTINED
    no_period = {k: r for k, r in quarantine(work, "po_invoices").items() if "no open billing period" in r}
    assert len(no_period) == 1  # the invoice on the project without an open billing period
    before = mark(sandbox)
    documents = (sandbox.procore.commitments(), sandbox.procore.requisitions())
    held = quarantine(work)
    second = work.sync()
    assert second.exit_code == ExitCode.QUARANTINED
    # Not a single write, not even for the held invoice: its project's periods are read instead.
    assert procore_writes(sandbox, before) == []
    assert second.error is None and second.requests["procore"]["writes"] == 0
    for stream in second.streams:
        assert (stream.counts["create"], stream.counts["update"], stream.counts["link"]) == (0, 0, 0), stream.name
    assert (sandbox.procore.commitments(), sandbox.procore.requisitions()) == documents
    assert quarantine(work) == held  # the same records, held for the same reasons
    assert billing_period_reads(sandbox, before) == [no_period_project(sandbox)]
    # A full rescan of every PO finds nothing to write either.
    before = mark(sandbox)
    third = work.sync(full=True, streams=["purchase_orders"])
    assert procore_writes(sandbox, before) == []
    assert third.streams[0].counts["skip"] == len(mappable(sandbox))


def amendable(sandbox) -> dict:
    """An open, mappable PO with three or more lines and no invoice."""
    invoiced = {i["PurchaseOrderNumber"] for i in sandbox.sage300.po_invoices()}
    return next(po for po in mappable(sandbox) if po["Completed"] == "No" and len(po["PurchaseOrderLines"]) >= 3
                and po["PurchaseOrderNumber"] not in invoiced)


def test_an_amended_po_updates_its_commitment_sending_only_what_changed(sandbox, work) -> None:
    import_csv(work, "projects.csv", "costcodes.csv")
    work.sync()
    po = amendable(sandbox)
    key = po["PurchaseOrderNumber"]
    before = assert_commitment_matches(sandbox, work, po)
    old_lines = {line["origin_id"]: line for line in before["line_items"]}
    first, *kept, removed = po["PurchaseOrderLines"]
    changed = dict(first, QuantityOrdered=first["QuantityOrdered"] + 7, ExtendedCost=None)
    added = dict(kept[0], LineNumber=9000, ItemDescription="Added by change order 1", QuantityOrdered=3,
                 ExtendedCost=None, Category="09-900")
    sandbox.sage300.upsert_purchase_order(PurchaseOrderNumber=key, Description="Amended: " + po["Description"],
                                          PurchaseOrderLines=[changed, *kept, added])
    amended = sandbox.sage300.purchase_order(key)
    spy = sandbox.procore.add_fault(Spy())
    report = work.sync()
    after = assert_commitment_matches(sandbox, work, amended)
    assert after["id"] == before["id"] and after["title"] == "Amended: " + po["Description"]
    assert len(sandbox.procore.commitments()) == len(mappable(sandbox))
    # Writes: the header, the changed and the new line in one line-item sync, the removed line deleted.
    removed_id = old_lines[po_line_origin(sandbox, key, removed["LineNumber"])]["id"]
    writes = [(method, path) for method, path, _, _ in spy.writes() if path.startswith(COMMITMENTS)]
    assert writes == [("PATCH", f"{COMMITMENTS}/sync"),
                      ("DELETE", f"{COMMITMENTS}/{before['id']}/line_items/{removed_id}"),
                      ("PATCH", f"{COMMITMENTS}/{before['id']}/line_items/sync")]
    header = next(body for method, path, _, body in spy.writes() if path == f"{COMMITMENTS}/sync")
    assert [item["id"] for item in header["updates"]] == [before["id"]]
    assert header["updates"][0]["origin_id"] == origin(sandbox, key)
    lines = next(body for method, path, _, body in spy.writes() if path.endswith("/line_items/sync"))
    sent = {item["origin_id"]: item for item in lines["updates"]}
    assert set(sent) == {po_line_origin(sandbox, key, first["LineNumber"]), po_line_origin(sandbox, key, 9000)}
    assert money(sent[po_line_origin(sandbox, key, first["LineNumber"])]["amount"]) == money(
        amended["PurchaseOrderLines"][0]["ExtendedCost"])
    # The kept lines are the same Procore lines as before (updated in place, not recreated).
    for line in kept:
        oid = po_line_origin(sandbox, key, line["LineNumber"])
        assert next(li["id"] for li in after["line_items"] if li["origin_id"] == oid) == old_lines[oid]["id"]
    events = [e for e in run_events(work, report.run_id) if e.source_key == key]
    assert [(e.stream, e.action) for e in events] == [("purchase_orders", "update")]
    # Nothing changed since: the next run sends nothing for it.
    spy.seen.clear()
    work.sync(streams=["purchase_orders"])
    assert not [w for w in spy.writes() if w[1].startswith(COMMITMENTS)]


def test_completing_or_cancelling_a_po_closes_its_commitment(sandbox, work) -> None:
    import_csv(work, "projects.csv", "costcodes.csv")
    work.sync()
    open_pos = [po for po in mappable(sandbox) if po["Completed"] == "No"]
    done, cancelled = open_pos[0], open_pos[1]
    # Completed: everything received. Cancelled: completed with nothing received (Sage 300 has no
    # separate cancelled state on a PO; a cancelled order is completed as it stands).
    sandbox.sage300.upsert_purchase_order(
        PurchaseOrderNumber=done["PurchaseOrderNumber"], Completed="Yes", DateCompleted=sandbox.sage300.today,
        PurchaseOrderLines=[dict(line, QuantityReceived=line["QuantityOrdered"], Completed="Yes")
                            for line in done["PurchaseOrderLines"]])
    sandbox.sage300.upsert_purchase_order(
        PurchaseOrderNumber=cancelled["PurchaseOrderNumber"], Completed="Yes", DateCompleted=sandbox.sage300.today,
        PurchaseOrderLines=[dict(line, QuantityReceived=0, Completed="Yes")
                            for line in cancelled["PurchaseOrderLines"]])
    ids = {po["PurchaseOrderNumber"]: the_commitment(sandbox, po["PurchaseOrderNumber"])["id"]
           for po in (done, cancelled)}
    before = mark(sandbox)
    report = work.sync()
    for po in (done, cancelled):
        commitment = assert_commitment_matches(sandbox, work, sandbox.sage300.purchase_order(po["PurchaseOrderNumber"]))
        assert commitment["status"] == "Closed" and commitment["id"] == ids[po["PurchaseOrderNumber"]]
    writes = [w for w in procore_writes(sandbox, before) if w[1].startswith(COMMITMENTS)]
    assert writes and all(w == ("PATCH", f"{COMMITMENTS}/sync", 200) for w in writes)  # no line changes
    assert Counter(e.action for e in run_events(work, report.run_id)
                   if e.source_key in ids)["update"] == 2
    assert len(sandbox.procore.commitments()) == len(mappable(sandbox))


def procore_api(sandbox):
    """An HTTP client acting as a person in Procore (not through mlconnector)."""
    import httpx

    token = httpx.post(f"{sandbox.procore.url}/oauth/token", data={
        "grant_type": "client_credentials", "client_id": sandbox.procore.client_id,
        "client_secret": sandbox.procore.client_secret}).json()["access_token"]
    return httpx.Client(base_url=sandbox.procore.url, headers={
        "Authorization": f"Bearer {token}", "Procore-Company-Id": str(sandbox.procore.company_id)})


def test_a_line_procore_cannot_take_quarantines_its_po_while_the_others_go_through(sandbox, work, tmp_path) -> None:
    import_csv(work, "projects.csv", "costcodes.csv")
    work.sync()
    # The unmapped category is mapped to a cost code that only one project has.
    held = unmapped_pos(sandbox)
    assert len({po["PurchaseOrderLines"][0]["Contract"] for po in held}) == 2
    has_it, lacks_it = held
    number = expected_project_numbers()[has_it["PurchaseOrderLines"][0]["Contract"]]
    sandbox.procore.add_cost_code(project_ids(sandbox)[number], "99-900", "Miscellaneous")
    import_mappings(work.config(), write_csv(tmp_path, "misc.csv", "source_code,procore_project,procore_cost_code,"
                                             "cost_type\n99-900,,99-900,O\n"), pair=PAIR, offline=True)
    # And a closed commitment is amended in Sage 300 (a price correction after completion).
    closed = next(po for po in mappable(sandbox) if po["Completed"] == "Yes")
    line = closed["PurchaseOrderLines"][0]
    sandbox.sage300.upsert_purchase_order(PurchaseOrderNumber=closed["PurchaseOrderNumber"], PurchaseOrderLines=[
        dict(line, UnitCost=line["UnitCost"] + 1, ExtendedCost=None), *closed["PurchaseOrderLines"][1:]])
    report = work.sync()
    assert report.exit_code == ExitCode.QUARANTINED
    reasons = quarantine(work, "purchase_orders")
    assert has_it["PurchaseOrderNumber"] not in reasons
    the_commitment(sandbox, has_it["PurchaseOrderNumber"])
    lacks = lacks_it["PurchaseOrderNumber"]
    assert (f"cost code 99-900 (mapped from Sage 300 category 99-900) does not exist in Procore project "
            f"{expected_project_numbers()[lacks_it['PurchaseOrderLines'][0]['Contract']]}: fix the costcodes mapping "
            "or add the cost code in Procore") in reasons[lacks]
    assert commitments_of(sandbox, lacks) == []
    # Procore's own words for the closed one; it stays linked, so the next try updates it.
    key = closed["PurchaseOrderNumber"]
    assert reasons[key] == (f"Sage 300 purchase order {key}: Procore rejected line {line['LineNumber']}: "
                            "Line items of a closed commitment cannot be changed")
    commitment = the_commitment(sandbox, key)
    assert link(work, "purchase_orders", key) == f"{commitment['project']['id']}/{commitment['id']}"
    # Someone reopens it in Procore; a replay puts the change in and closes it again.
    with procore_api(sandbox) as api:
        answer = api.patch(f"{COMMITMENTS}/{commitment['id']}", json={
            "project_id": commitment["project"]["id"], "purchase_order_contract": {"status": "Approved"}})
        assert answer.status_code == 200, answer.text
    replayed = replay_record(work.config(), PAIR, "purchase_orders", key)
    assert replayed.error is None and key not in quarantine(work)
    after = assert_commitment_matches(sandbox, work, sandbox.sage300.purchase_order(key))
    assert after["status"] == "Closed" and after["id"] == commitment["id"]


def direct_cost_config(work, sandbox, streams=("vendors", "purchase_orders")) -> None:
    text = sandbox.config_yaml(work.state_path, streams).replace(
        "purchase_orders: {enabled: true}", "purchase_orders: {enabled: true, target: direct_costs}")
    work.write_config(text)


def test_direct_costs_target_and_invoices_cannot_both_be_on(sandbox, work) -> None:
    direct_cost_config(work, sandbox, ALL_STREAMS)
    with pytest.raises(UsageError) as caught:
        work.sync()
    assert "po_invoices" in caught.value.message and "direct costs" in caught.value.message
    assert "purchase_orders" in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE
    assert not work.state_path.exists()  # nothing written, not even a run row
    assert [r for r in sandbox.procore.requests if r.is_write] == []


def test_pos_become_direct_costs_with_line_items_on_the_right_cost_codes(sandbox, work, tmp_path) -> None:
    direct_cost_config(work, sandbox)
    import_csv(work, "projects.csv", "costcodes.csv")
    # One category without a cost type: Procore wants one on a direct cost line.
    import_mappings(work.config(), write_csv(tmp_path, "no-type.csv", "source_code,procore_project,"
                                             "procore_cost_code,cost_type\n99-900,,01-100,\n"), pair=PAIR, offline=True)
    report = work.sync()
    assert report.exit_code == ExitCode.QUARANTINED
    assert sandbox.procore.commitments() == []
    costs = {d["origin_id"]: d for d in sandbox.procore.direct_costs()}
    codes = expected_cost_codes("costcodes.csv")
    for po in mappable(sandbox):
        key = po["PurchaseOrderNumber"]
        cost = costs[origin(sandbox, key)]
        number = expected_project_numbers()[po["PurchaseOrderLines"][0]["Contract"]]
        assert cost["invoice_number"] == key and cost["direct_cost_type"] == "invoice"
        assert cost["status"] == "approved" and cost["vendor"]["id"] == int(link(work, "vendors", po["Vendor"]))
        assert cost["direct_cost_date"] == po["PurchaseOrderDate"][:10]
        assert link(work, "purchase_orders", key) == f"{project_ids(sandbox)[number]}/{cost['id']}"
        lines = {li["origin_id"]: li for li in cost["line_items"]}
        assert len(lines) == len(po["PurchaseOrderLines"])
        for line in po["PurchaseOrderLines"]:
            held = lines[po_line_origin(sandbox, key, line["LineNumber"])]
            assert (held["cost_code"]["full_code"], held["line_item_type"]["code"]) == codes[line["Category"]]
            assert money(held["amount"]) == money(line["ExtendedCost"])
        assert money(cost["grand_total"]) == sum(money(line["ExtendedCost"]) for line in po["PurchaseOrderLines"])
    # The POs with the type-less line: Procore refused that line, in its words; the rest of it is in.
    reasons = quarantine(work, "purchase_orders")
    for po in unmapped_pos(sandbox):
        key = po["PurchaseOrderNumber"]
        bad = next(line for line in po["PurchaseOrderLines"] if line["Category"] == UNMAPPED)
        assert reasons[key] == (f"Sage 300 purchase order {key}: Procore rejected line {bad['LineNumber']}: "
                                "line_item_type_id: can't be blank")
        cost = costs[origin(sandbox, key)]
        assert len(cost["line_items"]) == len(po["PurchaseOrderLines"]) - 1
    # Give it a cost type and replay: the same direct cost gets its line.
    import_csv(work, "costcodes-extra.csv")
    key = unmapped_pos(sandbox)[0]["PurchaseOrderNumber"]
    replayed = replay_record(work.config(), PAIR, "purchase_orders", key)
    assert replayed.error is None and key not in quarantine(work)
    again = [d for d in sandbox.procore.direct_costs() if d["origin_id"] == origin(sandbox, key)]
    assert len(again) == 1 and again[0]["id"] == costs[origin(sandbox, key)]["id"]
    assert len(again[0]["line_items"]) == len(unmapped_pos(sandbox)[0]["PurchaseOrderLines"])
    assert [e.action for e in run_events(work, replayed.run_id)] == ["update"]


# -- PO invoices -> requisitions ----------------------------------------------------------------


def has_open_period(sandbox, project_id: int) -> bool:
    return any(p["status"] == "open" for p in sandbox.procore.billing_periods(project_id))


def requisitions_of(sandbox, invoice_number: str) -> list[dict]:
    return [r for r in sandbox.procore.requisitions() if r["origin_id"] == origin(sandbox, invoice_number)]


def assert_requisition_matches(sandbox, invoice: dict) -> dict:
    """The invoice's one requisition: on its PO's commitment, each amount on the item of the PO line it bills."""
    number = invoice["InvoiceNumber"]
    found = requisitions_of(sandbox, number)
    assert len(found) == 1, f"{number}: {len(found)} requisitions"
    requisition = found[0]
    commitment = the_commitment(sandbox, invoice["PurchaseOrderNumber"])
    assert requisition["commitment_id"] == commitment["id"]
    assert requisition["project_id"] == commitment["project"]["id"]
    assert requisition["invoice_number"] == number
    assert requisition["billing_date"] == invoice["InvoiceDate"][:10]
    line_ids = {li["origin_id"]: li["id"] for li in commitment["line_items"]}
    billed = {item["line_item_id"]: money(item["work_completed_this_period"]) for item in requisition["contract_items"]}
    expected = {line_ids[po_line_origin(sandbox, invoice["PurchaseOrderNumber"], line["PurchaseOrderLineNumber"])]:
                money(line["ExtendedCost"]) for line in invoice["InvoiceLines"]}
    assert {k: v for k, v in billed.items() if v} == expected, number
    assert money(requisition["total_claimed_amount"]) == sum(expected.values())
    return requisition


def test_invoices_become_requisitions_billing_the_po_lines_they_name(sandbox, work) -> None:
    import_csv(work, "projects.csv", "costcodes.csv")
    report = work.sync()
    assert report.exit_code == ExitCode.QUARANTINED
    held_pos = {po["PurchaseOrderNumber"] for po in unmapped_pos(sandbox)}
    invoices = sandbox.sage300.po_invoices()
    through, no_period, waiting = [], [], []
    for invoice in invoices:
        if invoice["PurchaseOrderNumber"] in held_pos:
            waiting.append(invoice)
        elif has_open_period(sandbox, the_commitment(sandbox, invoice["PurchaseOrderNumber"])["project"]["id"]):
            through.append(invoice)
        else:
            no_period.append(invoice)
    assert through and len(no_period) == 1 and waiting
    for invoice in through:
        assert_requisition_matches(sandbox, invoice)
    # A PO invoiced twice: the second invoice shows the first one's amounts as previous work.
    twice = Counter(i["PurchaseOrderNumber"] for i in through)
    po_twice = next(po for po, n in twice.items() if n == 2)
    first, second = sorted((requisitions_of(sandbox, i["InvoiceNumber"])[0] for i in through
                            if i["PurchaseOrderNumber"] == po_twice), key=lambda r: r["number"])
    previous = {i["line_item_id"]: money(i["work_completed_this_period"]) for i in first["contract_items"]}
    assert {i["line_item_id"]: money(i["work_completed_from_previous_application"])
            for i in second["contract_items"]} == previous
    reasons = quarantine(work, "po_invoices")
    assert set(reasons) == {i["InvoiceNumber"] for i in no_period + waiting}
    # The project without an open billing period: held, saying what to do, and never sent.
    number = no_period[0]["InvoiceNumber"]
    assert reasons[number] == (f"Sage 300 PO invoice {number}: Procore project 2025-009 (Mill Street Parking) has "
                               "no open billing period, which a new subcontractor invoice needs: open one in Procore "
                               "(Commitments > Billing Periods), then the next sync or "
                               f"`mlconnector replay INV:{number}` sends it")
    assert requisitions_of(sandbox, number) == []
    assert ("POST", REQUISITIONS, 422) not in procore_writes(sandbox)  # no create Procore refused
    # ... and the PO's reason for an invoice whose PO is held.
    po_reasons = quarantine(work, "purchase_orders")
    for invoice in waiting:
        po = invoice["PurchaseOrderNumber"]
        assert reasons[invoice["InvoiceNumber"]] == (
            f"Sage 300 PO invoice {invoice['InvoiceNumber']} waits for purchase order {po}, which is not in the "
            f"target yet: {po_reasons[po]}")
    assert len(sandbox.procore.requisitions()) == len(through)

    # The period opens; the next sync puts the invoice in. The PO's mapping arrives; so do the others.
    project_id = the_commitment(sandbox, no_period[0]["PurchaseOrderNumber"])["project"]["id"]
    today = sandbox.sage300.today
    sandbox.procore.add_billing_period(project_id, today.replace(day=1), today)
    import_csv(work, "costcodes-extra.csv")
    again = work.sync()
    assert again.exit_code == ExitCode.QUARANTINED  # the ambiguous vendor of the seed is still held
    assert quarantine(work, "po_invoices") == {} and quarantine(work, "purchase_orders") == {}
    for invoice in invoices:
        assert_requisition_matches(sandbox, invoice)
    assert len(sandbox.procore.requisitions()) == len(invoices)
    # A rerun finds every invoice unchanged: no write at all.
    before = mark(sandbox)
    work.sync()
    assert procore_writes(sandbox, before) == []


def held_for_want_of_a_period(sandbox) -> dict:
    """The seed's one invoice on the project without an open billing period."""
    (invoice,) = [i for i in sandbox.sage300.po_invoices() if i["InvoiceLines"][0]["Contract"] == "2025-009"]
    return invoice


def test_opening_a_billing_period_sends_the_held_invoice_and_releases_it(sandbox, work) -> None:
    import_csv(work, "projects.csv", "costcodes.csv")
    work.sync()
    invoice = held_for_want_of_a_period(sandbox)
    number = invoice["InvoiceNumber"]
    project_id = the_commitment(sandbox, invoice["PurchaseOrderNumber"])["project"]["id"]
    assert project_id == no_period_project(sandbox)
    assert "has no open billing period" in quarantine(work, "po_invoices")[number]
    before = mark(sandbox)
    work.sync()
    assert procore_writes(sandbox, before) == []  # still no period: still nothing sent
    # A dry run plans the same for it: held, for the same reason.
    planned = {p.source_key: p for s in work.sync(dry_run=True, streams=["po_invoices"]).streams for p in s.planned}
    assert (planned[number].action, planned[number].message) == ("quarantine", quarantine(work)[number])

    today = sandbox.sage300.today
    sandbox.procore.add_billing_period(project_id, today.replace(day=1), today)
    before = mark(sandbox)
    report = work.sync()
    # One write creates it (the other writes put its amounts on its own items); nothing else is sent.
    writes = procore_writes(sandbox, before)
    assert [w for w in writes if w[0] == "POST"] == [("POST", REQUISITIONS, 201)]
    requisition = assert_requisition_matches(sandbox, invoice)
    assert [w for w in writes if w[0] != "POST"] and all(
        (method, path.rpartition("/")[0], status) == ("PATCH", f"{REQUISITIONS}/{requisition['id']}/contract_items",
                                                       200) for method, path, status in writes if method != "POST")
    assert number not in quarantine(work)
    assert link(work, "po_invoices", number) == f"{project_id}/{requisition['id']}"
    done = [(e.stream, e.source_key, e.action) for e in run_events(work, report.run_id)
            if e.action not in ("skip", "quarantine")]
    assert done == [("po_invoices", number, "create")]
    # And the run after that sends nothing at all.
    before = mark(sandbox)
    work.sync()
    assert procore_writes(sandbox, before) == []


def test_billing_periods_are_read_once_per_project_and_a_refused_read_leaves_it_to_procore(sandbox, work) -> None:
    import_csv(work, "projects.csv", "costcodes.csv")
    project_id = no_period_project(sandbox)
    held = held_for_want_of_a_period(sandbox)
    # A second invoice on the same PO: two invoices wait for the same project's period.
    sandbox.sage300.upsert_po_invoice(InvoiceNumber="INV-90001", PurchaseOrderNumber=held["PurchaseOrderNumber"],
                                      InvoiceDate=sandbox.sage300.today, InvoiceLines=[{
                                          "PurchaseOrderLineNumber": held["InvoiceLines"][0]["PurchaseOrderLineNumber"],
                                          "Contract": "2025-009", "ExtendedCost": 100}])
    numbers = [held["InvoiceNumber"], "INV-90001"]
    work.sync()
    reasons = quarantine(work, "po_invoices")
    for number in numbers:
        assert "Procore project 2025-009 (Mill Street Parking) has no open billing period" in reasons[number]
        assert f"`mlconnector replay INV:{number}` sends it" in reasons[number]
    reads = Counter(billing_period_reads(sandbox))
    assert reads[project_id] == 1 and set(reads.values()) == {1}  # each project once in the run
    assert ("POST", REQUISITIONS, 422) not in procore_writes(sandbox)

    # The list refused (403: no permission on the tool): the create is tried as before the check, and
    # Procore's 422 is kept as the reason; the project's other invoice then waits without being sent.
    refused = sandbox.procore.add_fault(StatusFault(f"/rest/v1.0/projects/{project_id}/billing_periods", 403,
                                                    count=10, method="GET"))
    before = mark(sandbox)
    report = work.sync(streams=["po_invoices"])
    assert report.error is None and refused.remaining == 9
    assert procore_writes(sandbox, before) == [("POST", REQUISITIONS, 422)]
    reasons = quarantine(work, "po_invoices")
    said = sorted("refused" if "Procore refused it" in reasons[n] else "no period" for n in numbers)
    assert said == ["no period", "refused"], reasons
    assert any("must have an open billing period" in reasons[n] for n in numbers)
    assert all(requisitions_of(sandbox, n) == [] for n in numbers)


@pytest.mark.parametrize(("statuses", "expected"), [
    ([], False), (["closed"], False), (["closed", "open"], True), (["Open"], True),
    (["closed", "pending"], None), ([None], None),
])
def test_what_counts_as_an_open_billing_period(statuses, expected) -> None:
    """Only an empty list or periods that all say closed hold an invoice back; a status value that is
    not known (Procore does not document them) lets the create go and Procore decide."""
    assert any_open_period([{"id": n, "status": s} for n, s in enumerate(statuses)]) is expected


def test_with_a_new_state_file_documents_are_found_by_origin_id_not_created_again(sandbox, work) -> None:
    import_csv(work, "projects.csv", "costcodes.csv", "costcodes-extra.csv")
    work.sync()
    commitments, requisitions = sandbox.procore.commitments(), sandbox.procore.requisitions()
    assert requisitions
    held = quarantine(work)
    work.state_path.unlink()
    import_csv(work, "projects.csv", "costcodes.csv", "costcodes-extra.csv")
    before = mark(sandbox)
    report = work.sync()
    # Linked, and found already up to date: no requisition written (Procore would refuse a change to
    # any but the latest open one), and the invoice held for want of a billing period is not sent.
    assert [w for w in procore_writes(sandbox, before) if w[1].startswith(REQUISITIONS)] == []
    assert quarantine(work) == held
    assert len(sandbox.procore.commitments()) == len(commitments)
    assert len(sandbox.procore.requisitions()) == len(requisitions)
    counts = {s.name: s.counts for s in report.streams}
    assert counts["purchase_orders"]["create"] == 0 and counts["purchase_orders"]["link"] == len(commitments)
    assert counts["po_invoices"]["create"] == 0
    events = [e for e in run_events(work, report.run_id) if e.stream == "po_invoices" and e.action == "link"]
    assert events and all(e.message.startswith("matched by origin_id") for e in events)
    for invoice in sandbox.sage300.po_invoices():
        if requisitions_of(sandbox, invoice["InvoiceNumber"]):
            assert_requisition_matches(sandbox, invoice)


def test_a_create_whose_answer_was_lost_does_not_make_a_second_requisition(sandbox, work) -> None:
    import_csv(work, "projects.csv", "costcodes.csv", "costcodes-extra.csv")
    work.write_config(sandbox.config_yaml(work.state_path, ("vendors", "purchase_orders")))
    work.sync()
    work.write_config(sandbox.config_yaml(work.state_path, ALL_STREAMS))
    # An invoice create is done by Procore, but its answer never arrives; the client retries.
    invoice = next(i for i in sandbox.sage300.po_invoices()
                   if has_open_period(sandbox, the_commitment(sandbox, i["PurchaseOrderNumber"])["project"]["id"]))
    lost = sandbox.procore.add_fault(AnswerLost(REQUISITIONS, method="POST", mentioning=invoice["InvoiceNumber"]))
    report = work.sync(streams=["po_invoices"])
    assert lost.remaining == 0
    assert 0 in [r.status for r in sandbox.procore.requests if r.method == "POST" and r.path == REQUISITIONS]
    assert_requisition_matches(sandbox, invoice)
    assert invoice["InvoiceNumber"] not in quarantine(work)
    for invoice in sandbox.sage300.po_invoices():
        project_id = the_commitment(sandbox, invoice["PurchaseOrderNumber"])["project"]["id"]
        if has_open_period(sandbox, project_id):
            assert_requisition_matches(sandbox, invoice)
    assert set(quarantine(work, "po_invoices")) == {i["InvoiceNumber"] for i in sandbox.sage300.po_invoices()
                                                    if not requisitions_of(sandbox, i["InvoiceNumber"])}
    assert report.streams[0].counts["create"] == len(sandbox.procore.requisitions())


def test_an_amended_invoice_changes_only_the_amounts_that_differ(sandbox, work) -> None:
    import_csv(work, "projects.csv", "costcodes.csv", "costcodes-extra.csv")
    work.sync()
    once = Counter(i["PurchaseOrderNumber"] for i in sandbox.sage300.po_invoices())
    invoice = next(i for i in sandbox.sage300.po_invoices() if once[i["PurchaseOrderNumber"]] == 1
                   and len(i["InvoiceLines"]) >= 2 and requisitions_of(sandbox, i["InvoiceNumber"]))
    requisition = assert_requisition_matches(sandbox, invoice)
    first, *rest = invoice["InvoiceLines"]
    sandbox.sage300.upsert_po_invoice(InvoiceNumber=invoice["InvoiceNumber"], InvoiceLines=[
        dict(first, ExtendedCost=round(first["ExtendedCost"] / 2, 2)), *rest])
    spy = sandbox.procore.add_fault(Spy(REQUISITIONS))
    work.sync(streams=["po_invoices"])
    amended = sandbox.sage300.po_invoice(invoice["InvoiceNumber"])
    after = assert_requisition_matches(sandbox, amended)
    assert after["id"] == requisition["id"]
    item = next(i["id"] for i in after["contract_items"] if money(i["work_completed_this_period"]) ==
                money(amended["InvoiceLines"][0]["ExtendedCost"]))
    assert [(m, p) for m, p, _, _ in spy.writes() if f"/{requisition['id']}" in p] == [
        ("PATCH", f"{REQUISITIONS}/{requisition['id']}/contract_items/{item}")]


def test_a_dry_run_writes_nothing_and_plans_what_the_real_run_does(sandbox, work) -> None:
    import_csv(work, "projects.csv", "costcodes.csv")
    report = work.sync(dry_run=True)
    assert report.run_id is None and procore_writes(sandbox) == []
    with work.state(readonly=True) as state:
        assert state.runs(PAIR) == [] and state.links(PAIR, "purchase_orders") == []
    plans = {(p.stream, p.source_key): p for s in report.streams for p in s.planned}
    good = {po["PurchaseOrderNumber"] for po in mappable(sandbox)}
    for po in sandbox.sage300.purchase_orders():
        plan = plans["purchase_orders", po["PurchaseOrderNumber"]]
        assert plan.action == ("create" if po["PurchaseOrderNumber"] in good else "quarantine"), plan
    # A PO whose vendor the run creates first says so, and so does an invoice on a PO to be created.
    assert any(p.message.startswith("once Sage 300 vendor ") for p in plans.values() if p.stream == "purchase_orders")
    assert any(p.action == "create" and p.message.startswith("once purchase order ")
               for p in plans.values() if p.stream == "po_invoices")
    assert sandbox.procore.commitments() == [] and sandbox.procore.requisitions() == []

    real = work.sync()
    assert {s.name: s.counts["create"] for s in real.streams}["purchase_orders"] == len(good)
    reasons = quarantine(work)
    for (stream, key), plan in plans.items():
        if plan.action == "quarantine" and stream == "purchase_orders":
            assert reasons[key] == plan.message


def test_a_removed_line_whose_delete_answer_was_lost_is_not_an_error(sandbox, work) -> None:
    import_csv(work, "projects.csv", "costcodes.csv")
    work.sync()
    po = amendable(sandbox)
    key = po["PurchaseOrderNumber"]
    sandbox.sage300.upsert_purchase_order(PurchaseOrderNumber=key, PurchaseOrderLines=po["PurchaseOrderLines"][:-1])
    lost = sandbox.procore.add_fault(AnswerLost(COMMITMENTS, method="DELETE"))
    work.sync(streams=["purchase_orders"])
    assert lost.remaining == 0
    assert_commitment_matches(sandbox, work, sandbox.sage300.purchase_order(key))
    assert key not in quarantine(work)


def test_mapping_files_as_excel_writes_them_steer_each_line(sandbox, work, tmp_path) -> None:
    """Windows-1252, ';' with Excel's sep= line, CRLF, quoted notes: a project-specific cost code row wins over
    the any-project row, and a contract/project row over the contract row."""
    projects = tmp_path / "projects.csv"
    projects.write_bytes("sep=;\r\nsource_code;procore_project;note\r\n24017;2024-017;\"Riverside; main\"\r\n"
                         "24017/SITE;2024-021;\"site work billed to Harbor Point – see memo\"\r\n"
                         "2024-021;2024-021;\r\n2025-003;2025-003;\r\n2025-009;2025-009;\r\n".encode("cp1252"))
    costcodes = (DATA_DIR / "costcodes.csv").read_text(encoding="utf-8").replace(",", ";").replace("\n", "\r\n")
    costcodes += "03-300;2024-021;03-200;S\r\n"  # in Harbor Point only, ready-mix is booked as a subcontract
    (tmp_path / "costcodes.csv").write_bytes(("\ufeff" + costcodes).encode("utf-8"))
    for path in (projects, tmp_path / "costcodes.csv"):
        import_mappings(work.config(), path, pair=PAIR, offline=True)
    # A PO with site and building lines of one contract, which now belong to two projects.
    vendor = sandbox.sage300.purchase_orders()[0]["Vendor"]
    mixed = [{"ItemDescription": "Excavation", "QuantityOrdered": 100, "UnitCost": 20, "Contract": "24017",
              "Project": "SITE", "Category": "31-200"},
             {"ItemDescription": "Footings", "QuantityOrdered": 10, "UnitCost": 150, "Contract": "24017",
              "Project": "BLDG", "Category": "03-300"}]
    sandbox.sage300.upsert_purchase_order(PurchaseOrderNumber="PO000900", PurchaseOrderDate=sandbox.sage300.today,
                                          Vendor=vendor, PurchaseOrderLines=mixed)
    work.sync()
    ids = project_ids(sandbox)
    for po in mappable(sandbox):
        if po["PurchaseOrderNumber"] == "PO000900":
            continue
        first = po["PurchaseOrderLines"][0]
        commitment = the_commitment(sandbox, po["PurchaseOrderNumber"])
        expected = "2024-021" if (first["Contract"], first["Project"]) == ("24017", "SITE") else \
            expected_project_numbers()[first["Contract"]]
        assert commitment["project"]["id"] == ids[expected], po["PurchaseOrderNumber"]
        for line in commitment["line_items"]:
            number = line["origin_id"].rsplit(":", 1)[1]
            category = next(li["Category"] for li in po["PurchaseOrderLines"] if str(li["LineNumber"]) == number)
            want = ("03-200", "S") if (category, expected) == ("03-300", "2024-021") else \
                expected_cost_codes("costcodes.csv")[category]
            assert (line["cost_code"]["full_code"], line["line_item_type"]["code"]) == want
    assert any(po["PurchaseOrderLines"][0]["Contract"] == "24017" and po["PurchaseOrderLines"][0]["Project"] == "SITE"
               for po in mappable(sandbox))
    assert any(l["Category"] == "03-300" and l["Contract"] == "2024-021"
               for po in mappable(sandbox) for l in po["PurchaseOrderLines"])
    reason = quarantine(work, "purchase_orders")["PO000900"]
    assert ("its lines belong to more than one Procore project (contract 24017/BLDG -> project 2024-017, "
            "contract 24017/SITE -> project 2024-021); a commitment belongs to one") in reason
    assert commitments_of(sandbox, "PO000900") == []


def test_a_line_without_a_category_is_mapped_by_its_gl_account(sandbox, work, tmp_path) -> None:
    """README: the costcodes table maps a Sage 300 category, or the GL account of a line without one."""
    import_csv(work, "projects.csv", "costcodes.csv")
    codes = expected_cost_codes("costcodes.csv")
    po = next(po for po in mappable(sandbox) if len({line["Category"] for line in po["PurchaseOrderLines"]}) >= 2)
    first = po["PurchaseOrderLines"][0]
    second = next(line for line in po["PurchaseOrderLines"] if line["Category"] != first["Category"])
    # The GL account maps to the cost code and type of the first line's category.
    import_mappings(work.config(), write_csv(tmp_path, "gl.csv", "source_code,procore_project,procore_cost_code,"
                                             f"cost_type\n9999-00,,{codes[first['Category']][0]},"
                                             f"{codes[first['Category']][1]}\n"), pair=PAIR, offline=True)
    where = {"Contract": first["Contract"], "Project": first["Project"]}
    sandbox.sage300.upsert_purchase_order(
        PurchaseOrderNumber="PO000950", PurchaseOrderDate=sandbox.sage300.today, Vendor=po["Vendor"],
        PurchaseOrderLines=[
            {"ItemDescription": "No category", "QuantityOrdered": 2, "UnitCost": 50, **where, "Category": "",
             "GLAccount": "9999-00"},
            # Both set: the category decides, the GL account is not looked at.
            {"ItemDescription": "Both", "QuantityOrdered": 1, "UnitCost": 10, **where,
             "Category": second["Category"], "GLAccount": "9999-00"}])
    sandbox.sage300.upsert_purchase_order(
        PurchaseOrderNumber="PO000951", PurchaseOrderDate=sandbox.sage300.today, Vendor=po["Vendor"],
        PurchaseOrderLines=[{"ItemDescription": "Neither", "QuantityOrdered": 1, "UnitCost": 10, **where,
                             "Category": "", "GLAccount": ""}])
    work.sync(streams=["purchase_orders"])
    commitment = the_commitment(sandbox, "PO000950")
    held = {line["description"]: (line["cost_code"]["full_code"], line["line_item_type"]["code"], money(line["amount"]))
            for line in commitment["line_items"]}
    assert held == {"No category": (*codes[first["Category"]], money(100)),
                    "Both": (*codes[second["Category"]], money(10))}
    assert "PO000950" not in quarantine(work)
    reason = quarantine(work, "purchase_orders")["PO000951"]
    (line,) = sandbox.sage300.purchase_order("PO000951")["PurchaseOrderLines"]
    assert (f"PO000951 field PurchaseOrderLines[{line['LineNumber']}].Category: line {line['LineNumber']} has "
            "neither a category nor a GL account to map to a cost code") in reason, reason
    assert commitments_of(sandbox, "PO000951") == []


def test_replaying_a_po_deleted_in_sage_says_to_discard_it(sandbox, work) -> None:
    import_csv(work, "projects.csv", "costcodes.csv")
    work.sync()
    key = unmapped_pos(sandbox)[0]["PurchaseOrderNumber"]
    assert sandbox.sage300.delete_purchase_order(key)
    report = replay_record(work.config(), PAIR, "purchase_orders", key)
    assert report.exit_code == ExitCode.QUARANTINED
    assert quarantine(work, "purchase_orders")[key] == (
        f"Sage 300 purchase order {key} no longer exists in the source; discard it with "
        "`mlconnector quarantine discard`")
    assert commitments_of(sandbox, key) == []
