"""Vendors both ways: changes flow in each direction once, never echo, and a vendor changed on
both sides since the last sync is quarantined instead of overwritten."""

from __future__ import annotations


def counts(report) -> dict[str, dict[str, int]]:
    return {s.name: dict(s.counts.by_action) for s in report.streams}


def linked_pair(sandbox, vendor_id: str) -> tuple[dict, dict]:
    intacct = sandbox.intacct.record("VENDOR", vendor_id)
    procore = sandbox.procore.vendor_by_origin_id(f"intacct:{sandbox.intacct.company_id}:{vendor_id}")
    return intacct, procore


def test_intacct_change_reaches_procore_and_does_not_bounce_back(work) -> None:
    sandbox = work.sandbox
    work.write_config(("vendors",))
    work.sync()
    sandbox.intacct.touch("VENDOR", "V1003", NAME="Delta Electric Company LLC")
    report = work.sync()
    assert counts(report)["vendors"].get("update") == 1
    assert counts(report)["vendor_changes"].get("update", 0) == 0  # our own write, read back: no echo
    intacct, procore = linked_pair(sandbox, "V1003")
    assert procore["name"] == "Delta Electric Company LLC"
    modified = intacct["WHENMODIFIED"]
    third = work.sync()
    assert {a for c in counts(third).values() for a in c} <= {"skip"}
    assert sandbox.intacct.record("VENDOR", "V1003")["WHENMODIFIED"] == modified


def test_procore_change_reaches_intacct_and_does_not_bounce_back(work) -> None:
    sandbox = work.sandbox
    work.write_config(("vendors",))
    work.sync()
    _, procore = linked_pair(sandbox, "V1005")
    sandbox.procore.touch_vendor(procore["id"], email_address="billing@foothill.example", city="Boulder")
    report = work.sync()
    assert counts(report)["vendor_changes"].get("update") == 1
    assert counts(report)["vendors"].get("update", 0) == 0
    intacct, _ = linked_pair(sandbox, "V1005")
    assert intacct["DISPLAYCONTACT"]["EMAIL1"] == "billing@foothill.example"
    assert intacct["DISPLAYCONTACT"]["MAILADDRESS"]["CITY"] == "Boulder"
    # Only what changed was written: the street line Intacct holds is as it was.
    assert intacct["DISPLAYCONTACT"]["MAILADDRESS"]["ADDRESS1"] == "105 Main St"
    updated = sandbox.procore.vendor(procore["id"])["updated_at"]
    third = work.sync()
    assert {a for c in counts(third).values() for a in c} <= {"skip"}
    assert sandbox.procore.vendor(procore["id"])["updated_at"] == updated


def test_a_vendor_changed_on_both_sides_is_quarantined_not_overwritten(work) -> None:
    sandbox = work.sandbox
    work.write_config(("vendors",))
    work.sync()
    _, procore = linked_pair(sandbox, "V1007")
    sandbox.intacct.touch("VENDOR", "V1007", NAME="Ironwood Framing Inc")
    sandbox.procore.touch_vendor(procore["id"], name="Ironwood Framing Co")
    report = work.sync()
    assert counts(report)["vendors"].get("quarantine") == 1
    intacct, procore = linked_pair(sandbox, "V1007")
    assert (intacct["NAME"], procore["name"]) == ("Ironwood Framing Inc", "Ironwood Framing Co")
    with work.state() as state:
        held = [q for q in state.quarantined() if q.source_key == "V1007"]
    assert held and "changed on both sides" in held[0].reason and "name" in held[0].reason
    # A person makes them agree: the conflict clears, nothing is written.
    sandbox.procore.touch_vendor(procore["id"], name="Ironwood Framing Inc")
    settled = work.sync()
    assert counts(settled)["vendors"].get("quarantine", 0) == 0
    with work.state() as state:
        assert not [q for q in state.quarantined() if q.source_key == "V1007"]


def test_replay_pushes_the_side_that_wins_a_conflict(work) -> None:
    from mlconnector.engine.sync import replay_record

    sandbox = work.sandbox
    work.write_config(("vendors",))
    work.sync()
    _, procore = linked_pair(sandbox, "V1008")
    sandbox.intacct.touch("VENDOR", "V1008", NAME="Juniper Roofing Ltd")
    sandbox.procore.touch_vendor(procore["id"], name="Juniper Roofing Limited")
    work.sync()
    report = replay_record(work.config(), "procore-intacct", "vendors", "V1008")
    assert report.error is None
    assert sandbox.procore.vendor(procore["id"])["name"] == "Juniper Roofing Ltd"
    after = work.sync()
    assert counts(after).get("vendors", {}).get("quarantine", 0) == 0
