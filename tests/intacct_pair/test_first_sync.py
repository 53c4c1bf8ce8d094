"""procore-intacct end to end against the sandbox, checking what lands in Intacct and Procore."""

from __future__ import annotations

from decimal import Decimal

from mlconnector.errors import ExitCode


def counts(report) -> dict[str, dict[str, int]]:
    return {s.name: dict(s.counts.by_action) for s in report.streams}


def bills_by_record_id(sandbox) -> dict[str, dict]:
    return {b["RECORDID"]: b for b in sandbox.intacct.bills()}


def test_first_sync_posts_coded_bills_and_a_rerun_writes_nothing(work) -> None:
    sandbox = work.sandbox
    report = work.sync()
    assert report.error is None, report.error
    assert report.exit_code == ExitCode.QUARANTINED  # the unmapped cost code and the Procore-only vendor
    bills = bills_by_record_id(sandbox)
    commitments = {c["id"]: c for c in sandbox.procore.commitments()}
    unmapped = [c for c in commitments.values() if any(li["cost_code"]["full_code"] == "09-900" for li in c["line_items"])]
    posted = [c for c in commitments.values() if f"PROCORE-CO-{c['id']}" in bills]
    assert len(posted) == len(commitments) - 2 and not any(c in posted for c in unmapped)
    for commitment in posted:
        bill = bills[f"PROCORE-CO-{commitment['id']}"]
        vendor = sandbox.procore.vendor(commitment["vendor"]["id"])
        assert bill["VENDORID"] == vendor["origin_id"].rsplit(":", 1)[1]
        assert bill["DOCNUMBER"] == commitment["number"] and bill["STATE"] == "Draft"
        lines = bill["APBILLITEMS"]
        assert sum(Decimal(li["TRX_AMOUNT"]) for li in lines) == Decimal(commitment["grand_total"])
        for line, item in zip(lines, commitment["line_items"], strict=True):
            expected_account = "5000" if item["line_item_type"]["code"] == "SUB" else "5100"
            assert (line["ACCOUNTNO"], line["TASKID"], line["COSTTYPEID"]) == (
                expected_account, item["cost_code"]["full_code"], item["line_item_type"]["code"])
            assert (line["DEPARTMENTID"], line["LOCATIONID"]) == ("CONST", "HQ")
            assert line["PROJECTID"].startswith("P-")
    # Approved subcontractor invoices and payment applications became bills; drafts did not.
    assert sum(r.startswith("PROCORE-SI-") for r in bills) == sandbox.seed_summary["requisitions_approved"]
    assert sum(r.startswith("PROCORE-PA-") for r in bills) == sandbox.seed_summary["payment_applications"]
    assert all(b["VENDORID"] == "OWNER-BILLING" for r, b in bills.items() if r.startswith("PROCORE-PA-"))
    # GL accounts became standard cost codes; every Intacct vendor is in Procore, linked.
    codes = {c["code"]: c for lst in sandbox.procore.standard_cost_code_lists()
             for c in sandbox.procore.standard_cost_codes(lst["id"])}
    assert set(codes) == {"5000", "5100", "5200", "5300", "2000"}
    for vendor in sandbox.intacct.vendors():
        assert sandbox.procore.vendor_by_origin_id(f"intacct:{sandbox.intacct.company_id}:{vendor['VENDORID']}")

    writes_before = sandbox.intacct.request_log_writes() if hasattr(sandbox.intacct, "request_log_writes") else None
    second = work.sync()
    assert second.error is None
    for stream, by_action in counts(second).items():
        assert set(by_action) <= {"skip", "quarantine"}, (stream, by_action)
    assert len(sandbox.intacct.bills()) == len(bills)
    del writes_before


def test_quarantine_names_what_is_missing_and_a_mapping_import_releases_it(work) -> None:
    work.sync()
    with work.state() as state:
        reasons = [q.reason for q in state.quarantined() if q.stream == "commitments"]
    assert len(reasons) == 2
    assert any("cost code 09-900 / cost type" in r and "has no GL account mapping" in r for r in reasons), reasons
    assert any("Procore Only Drywall LLC" in r and "linked to no Intacct vendor" in r for r in reasons), reasons
    work.import_mappings("glaccounts-extra.csv")
    report = work.sync()
    assert counts(report)["commitments"].get("create") == 1
    with work.state() as state:
        left = state.quarantined()
    assert len(left) == 1 and "Procore Only Drywall" in left[0].reason


def test_a_mapping_import_warns_about_values_intacct_lacks(work, tmp_path) -> None:
    from mlconnector.mappings import import_mappings

    path = tmp_path / "glaccounts.csv"
    path.write_text("procore_cost_code,cost_type,gl_account,task\n03-300,SUB,9999,03-300\n05-100,SUB,5000,99-999\n",
                    encoding="utf-8")
    result = import_mappings(work.config(), path, pair="procore-intacct")
    assert any("Intacct has no active GL account 9999 (gl_account)" in w for w in result.warnings), result.warnings
    assert any("Intacct has no active task 99-999 (task)" in w for w in result.warnings), result.warnings
    offline = import_mappings(work.config(), path, pair="procore-intacct", offline=True)
    assert not any("Intacct has no" in w for w in offline.warnings)
