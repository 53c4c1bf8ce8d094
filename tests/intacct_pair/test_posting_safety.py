"""Posting bills safely: sessions that expire mid-run, answers lost after the gateway applied a
post, uniqueid refusing a repeated post, control characters, values Intacct lacks."""

from __future__ import annotations

import time

from mlconnector.sandbox._faults import FaultPlan


def counts(report) -> dict[str, dict[str, int]]:
    return {s.name: dict(s.counts.by_action) for s in report.streams}



def test_sessions_expiring_mid_run_are_renewed(work) -> None:
    sandbox = work.sandbox
    injector = sandbox.intacct.set_fault_plan(FaultPlan(token_expiry_every=5, seed=3))
    report = work.sync()
    assert report.error is None, report.error
    assert injector.counts["expire"] >= 5
    assert sandbox.intacct.sessions_created > injector.counts["expire"] // 2
    assert len(sandbox.intacct.bills()) == sum(c.get("create", 0) for c in counts(report).values()
                                                if c is not None) - counts(report)["gl_accounts"].get("create", 0) \
        - counts(report)["vendors"].get("create", 0)


def test_lost_answers_and_retries_never_post_a_bill_twice(work, monkeypatch) -> None:
    from mlconnector.engine import sync as engine_sync

    real_open = engine_sync.open_client

    def open_client(*args, **kwargs):  # backoff waits a hundredth of what it asks
        client = real_open(*args, **kwargs)
        client._sleep = lambda seconds: time.sleep(max(0.0, seconds) / 100)
        return client

    monkeypatch.setattr(engine_sync, "open_client", open_client)
    sandbox = work.sandbox
    injector = sandbox.intacct.set_fault_plan(FaultPlan(lost_response_rate=0.5, error_rate=0.2, seed=11))
    for _ in range(6):  # a lost answer may end a run (outcome unknown); the next one reconciles
        report = work.sync()
        if report.error is None:
            break
    lost = injector.counts["lost"]
    sandbox.intacct.set_fault_plan(None)
    final = work.sync()
    assert lost >= 3, "the plan lost too few answers to prove anything"
    assert final.error is None, final.error
    bills = sandbox.intacct.bills()
    record_ids = [b["RECORDID"] for b in bills]
    assert len(record_ids) == len(set(record_ids)), "a bill was posted twice"
    expected = (sandbox.seed_summary["commitments"] - 2 + sandbox.seed_summary["requisitions_approved"]
                + sandbox.seed_summary["payment_applications"])
    assert len(bills) == expected
    with work.state() as state:
        assert state.pending("procore-intacct") == []
        links = {link.target_id for s in ("commitments", "requisitions", "payment_applications")
                 for link in state.links("procore-intacct", s)}
    assert links == {str(b["RECORDNO"]) for b in bills}


def test_a_repeated_post_is_refused_by_uniqueid_and_the_bill_is_found_by_its_key(work) -> None:
    """The bill reached Intacct but its link was lost (a state file restored from a backup made
    before the run): the repeated post carries the same controlid, the gateway refuses it, and the
    bill is looked up by its RECORDID and linked, not posted again."""
    sandbox = work.sandbox
    work.sync()
    before = {b["RECORDID"]: b["RECORDNO"] for b in sandbox.intacct.bills()}
    with work.state(readonly=False) as state:
        for link in state.links("procore-intacct", "commitments"):
            state.delete_link("procore-intacct", "commitments", link.source_key)
    refused_before = len(sandbox.intacct.functions_run)
    report = work.sync()
    assert report.error is None
    assert {b["RECORDID"]: b["RECORDNO"] for b in sandbox.intacct.bills()} == before
    assert counts(report)["commitments"].get("link") == len([r for r in before if r.startswith("PROCORE-CO-")])
    assert len(sandbox.intacct.functions_run) >= refused_before


def test_the_gateway_refuses_the_same_controlid_twice(work) -> None:
    from mlconnector.connect import open_client
    from mlconnector.systems.intacct.client import IntacctResultError
    from mlconnector.systems.intacct.writers import create

    bill = {"RECORDID": "DUP-1", "VENDORID": "V1000", "WHENCREATED": "11/01/2026", "WHENDUE": "12/01/2026",
            "APBILLITEMS": {"APBILLITEM": [{"ACCOUNTNO": "5000", "TRX_AMOUNT": "10.00"}]}}
    with open_client(work.config(), "intacct") as client:
        create(client, "APBILL", bill, controlid="mlc-DUP-1-abc")
        try:
            create(client, "APBILL", dict(bill, RECORDID="DUP-2"), controlid="mlc-DUP-1-abc")
        except IntacctResultError as exc:
            assert "control id" in exc.message
        else:
            raise AssertionError("a repeated controlid was accepted")
    assert [b["RECORDID"] for b in work.sandbox.intacct.bills()].count("DUP-2") == 0


def test_control_characters_in_a_description_are_stripped_before_posting(work) -> None:
    sandbox = work.sandbox
    commitment = next(c for c in sandbox.procore.commitments() if c["status"] == "Approved")
    line = commitment["line_items"][0]
    sandbox.procore.touch_commitment_line(line["id"], description="Pour\x0b level\x02 2 \u2013 east\x1f")
    sandbox.procore.touch_commitment(commitment["id"], title="Concrete\x00 package\x07")
    report = work.sync()
    assert report.error is None
    bill = next(b for b in sandbox.intacct.bills() if b["RECORDID"] == f"PROCORE-CO-{commitment['id']}")
    assert "Concrete package" in bill["DESCRIPTION"]
    assert bill["APBILLITEMS"][0]["ENTRYDESCRIPTION"] == "Pour level 2 \u2013 east"


def test_a_value_intacct_lacks_is_named_and_nothing_is_posted(work) -> None:
    sandbox = work.sandbox
    sandbox.intacct.touch("LOCATION", "HQ", STATUS="inactive")
    report = work.sync()
    assert report.error is None
    with work.state() as state:
        reasons = [q.reason for q in state.quarantined() if q.stream == "commitments"]
    assert any("Intacct has no active location HQ" in r for r in reasons), reasons
    assert sandbox.intacct.bills() == []


def test_bills_posted_concurrently_land_once_each_with_one_session(work) -> None:
    sandbox = work.sandbox
    text = work.config_path.read_text(encoding="utf-8")
    work.config_path.write_text(text.replace(f"user_id: {sandbox.intacct.user_id}",
                                             f"user_id: {sandbox.intacct.user_id}\n    concurrency: 3", 1),
                                encoding="utf-8")
    report = work.sync()
    assert report.error is None, report.error
    bills = sandbox.intacct.bills()
    expected = (sandbox.seed_summary["commitments"] - 2 + sandbox.seed_summary["requisitions_approved"]
                + sandbox.seed_summary["payment_applications"])
    assert sorted(b["RECORDID"] for b in bills) == sorted(set(b["RECORDID"] for b in bills))
    assert len(bills) == expected
    assert sandbox.intacct.sessions_created == 1
    assert {a for c in counts(work.sync()).values() for a in c} <= {"skip", "quarantine"}
