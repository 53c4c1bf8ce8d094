"""Sage 300 vendors -> Procore vendors through the library entry point, against the sandbox over HTTP.

Each test asserts what a person could see: vendors in the sandbox's Procore, rows in the state
file, the report's exit code and the requests the simulators logged.
"""

from __future__ import annotations

from urllib.parse import quote

import math
import os
import re
import socket
from collections import Counter
from datetime import date, timedelta

import pytest

from mlconnector.errors import ExitCode, LockBusy
from mlconnector.pairs.sage300_procore import map_vendor
from mlconnector.sandbox import procore as procore_sim
from mlconnector.sandbox._server import Fault, json_response
from mlconnector.sandbox.seed import normalise_name as seed_normalise
from mlconnector.sandbox.seed import origin_id_for

PAIR = "sage300-procore"
STREAM = "vendors"
SYNC_PATH = "/rest/v1.0/vendors/sync"
SAGE_VENDORS = "/Sage300WebApi/v1.0/-/SAMLTD/AP/APVendors"


# -- helpers ------------------------------------------------------------------------------------


def origin(sandbox, number: str) -> str:
    return origin_id_for(number, sandbox.sage300.company)


def writes(sandbox) -> int:
    """Data-changing requests Procore received (token requests are not data)."""
    with sandbox.procore.lock:
        return sum(1 for r in sandbox.procore.requests if r.is_write)


def origin_counts(sandbox) -> Counter:
    return Counter(v["origin_id"] for v in sandbox.procore.vendors() if v["origin_id"])


def assert_no_duplicates(sandbox) -> None:
    counts = origin_counts(sandbox)
    assert [o for o, n in counts.items() if n > 1] == []


def sage_numbers(sandbox) -> list[str]:
    return [v["VendorNumber"].strip() for v in sandbox.sage300.vendors()]


def run_audit(workdir, run_id: int) -> list:
    with workdir.state(readonly=True) as state:
        return state.audit(run_id=run_id, limit=100_000)


def actions(events) -> Counter:
    return Counter(e.action for e in events)


def summit_twins(sandbox) -> list[dict]:
    name = seed_normalise("Summit Rebar & Steel, Inc.")
    twins = [v for v in sandbox.procore.vendors() if seed_normalise(v["name"]) == name and not v["origin_id"]]
    assert len(twins) == 2
    return twins


def first_sync(workdir):
    report = workdir.sync()
    assert report.exit_code == ExitCode.QUARANTINED, report.error
    return report


class ExpireTokensFirst(Fault):
    """Before the simulator answers, every access token expires (as if an hour went by)."""

    def __init__(self, procore, path_prefix: str, **kw) -> None:
        super().__init__(path_prefix, **kw)
        self.procore = procore

    def before(self, request):
        self.procore.expire_all_tokens()
        return None


class LostAnswer(Fault):
    """The simulator does the work, but the answer is lost: the client sees a 502."""

    def after(self, request, response):
        return json_response(502, {"error": "Bad Gateway"})


class FailAtSkip(Fault):
    """A Sage page read from ``$skip=N`` on is refused (a permission taken away mid-run)."""

    def __init__(self, path_prefix: str, skip: int, status: int = 403) -> None:
        super().__init__(path_prefix, count=1)
        self.skip, self.status = skip, status

    def matches(self, request) -> bool:
        return super().matches(request) and int(request.param("$skip") or 0) >= self.skip

    def before(self, request):
        body = {"error": {"code": "Forbidden", "message": {"lang": "en-US", "value": "Access denied"}}}
        return json_response(self.status, body)


# -- the first sync -----------------------------------------------------------------------------


def test_first_sync_puts_every_vendor_in_procore_once_linking_existing_ones(sandbox, workdir) -> None:
    before = {v["id"]: v for v in sandbox.procore.vendors()}
    sage = sandbox.sage300.vendors()
    sage_by_name: dict[str, list[str]] = {}
    for row in sage:
        sage_by_name.setdefault(seed_normalise(row["VendorName"]), []).append(row["VendorNumber"].strip())

    report = first_sync(workdir)

    after = {v["id"]: v for v in sandbox.procore.vendors()}
    counts = origin_counts(sandbox)
    # Every Sage vendor, active and inactive, exactly once, with the mapped fields and our keys.
    for row in sage:
        number = row["VendorNumber"].strip()
        if number == "SUMMIT":
            assert counts[origin(sandbox, number)] == 0
            continue
        assert counts[origin(sandbox, number)] == 1, number
        vendor = sandbox.procore.vendor_by_origin_id(origin(sandbox, number))
        payload = map_vendor(row).payload
        for field, value in payload.items():
            assert vendor[field] == value, (number, field)
        assert vendor["origin_code"] == number
        assert vendor["is_active"] is (row["Status"] != "Inactive")
    assert sum(1 for r in sage if r["Status"] == "Inactive") == sandbox.seed_summary["sage300_inactive"] > 0
    inactive_in_procore = [v for v in after.values() if v["origin_id"] and not v["is_active"]]
    assert len(inactive_in_procore) == sandbox.seed_summary["sage300_inactive"]

    # The vendors Procore already had: name variants linked in place, origin_id back-filled.
    totals = report.totals()
    assert len(after) == len(before) + totals["create"]
    name_variants = twins = only_procore = 0
    for vendor_id, old in before.items():
        new = after[vendor_id]
        if old["origin_id"]:  # KEYSURV, linked by origin_id in an earlier life
            assert new["origin_id"] == old["origin_id"] == origin(sandbox, "KEYSURV")
            assert new["name"] == "Keystone Survey Group"  # brought up to date from Sage
            continue
        numbers = sage_by_name.get(seed_normalise(old["name"]), [])
        if not numbers:
            only_procore += 1
            assert new == old, "a vendor only Procore knows must not be touched"
        elif numbers == ["SUMMIT"]:
            twins += 1
            assert new["origin_id"] is None
        else:
            name_variants += 1
            assert len(numbers) == 1
            assert new["origin_id"] == origin(sandbox, numbers[0])
            assert new["origin_code"] == numbers[0]
    assert name_variants == sandbox.seed_summary["procore_name_variants"] == 40
    assert twins == 2
    assert only_procore == sandbox.seed_summary["procore_only"]
    assert totals["link"] == name_variants + 1
    assert totals["create"] + totals["link"] == len(sage) - 1
    assert totals["quarantine"] == 1

    # SUMMIT: ambiguous, quarantined with both candidates and the command that settles it.
    with workdir.state(readonly=True) as state:
        held = state.quarantined(PAIR)
        links = {link.source_key: link for link in state.links(PAIR, STREAM)}
    assert [q.source_key for q in held] == ["SUMMIT"]
    for twin in summit_twins(sandbox):
        assert str(twin["id"]) in held[0].reason
    assert "mlconnector mappings link vendor SUMMIT" in held[0].reason
    assert len(links) == len(sage) - 1 and "SUMMIT" not in links
    keysurv = sandbox.procore.vendor_by_origin_id(origin(sandbox, "KEYSURV"))
    assert links["KEYSURV"].target_id == str(keysurv["id"])

    # The audit: exactly one event per Sage vendor for this run, saying how each was decided.
    events = run_audit(workdir, report.run_id)
    assert sorted(e.source_key for e in events) == sorted(sage_numbers(sandbox))
    by_key = {e.source_key: e for e in events}
    assert by_key["KEYSURV"].action == "link" and "origin_id" in by_key["KEYSURV"].message
    assert by_key["ACMESUP"].action == "link" and "name" in by_key["ACMESUP"].message
    assert by_key["SUMMIT"].action == "quarantine"
    assert by_key["ATLANTIS"].action == "create" and "Country 'Atlantis'" in by_key["ATLANTIS"].message
    assert by_key["BADSTATE"].action == "create" and "StateProvince 'XX'" in by_key["BADSTATE"].message
    atlantis = sandbox.procore.vendor_by_origin_id(origin(sandbox, "ATLANTIS"))
    assert atlantis["country_code"] is None and atlantis["state_code"] is None
    badstate = sandbox.procore.vendor_by_origin_id(origin(sandbox, "BADSTATE"))
    assert badstate["country_code"] == "US" and badstate["state_code"] is None

    # Writes go in batches of at most 500 through vendors/sync, and nothing else writes.
    sync_calls = sandbox.procore.count("PATCH", SYNC_PATH)
    assert sync_calls == math.ceil((totals["create"] + totals["link"]) / 500) == 1
    assert writes(sandbox) == sync_calls
    with workdir.state(readonly=True) as state:
        run = state.get_run(report.run_id)
        assert state.pending(PAIR) == []
        assert state.get_watermark(PAIR, STREAM).value is not None
    assert run.status == "quarantined" and run.exit_code == 1


def test_a_rerun_with_nothing_changed_writes_nothing(sandbox, workdir) -> None:
    first_sync(workdir)
    sandbox.procore.clear_requests()
    report = workdir.sync()
    assert writes(sandbox) == 0
    assert report.exit_code == ExitCode.QUARANTINED  # only because SUMMIT is still ambiguous
    assert report.totals().get("create", 0) == report.totals().get("update", 0) == 0
    assert report.quarantine_total == 1
    events = run_audit(workdir, report.run_id)
    assert {e.action for e in events} <= {"skip", "quarantine"}
    assert [e.source_key for e in events if e.action == "quarantine"] == ["SUMMIT"]
    assert len(events) == len({e.source_key for e in events})  # one event per record


def test_a_manual_link_settles_the_ambiguous_vendor(sandbox, workdir) -> None:
    first_sync(workdir)
    chosen, other = summit_twins(sandbox)
    with workdir.state() as state:
        state.upsert_link(PAIR, STREAM, "SUMMIT", chosen["id"], None, manual=True)
    sandbox.procore.clear_requests()

    report = workdir.sync()

    assert report.exit_code == ExitCode.OK, report.error
    assert sandbox.procore.count("PATCH", SYNC_PATH) == 1 and writes(sandbox) == 1
    linked = sandbox.procore.vendor(chosen["id"])
    assert linked["origin_id"] == origin(sandbox, "SUMMIT")
    assert linked["name"] == "Summit Rebar & Steel, Inc."
    assert sandbox.procore.vendor(other["id"]) == other  # the other twin is left alone
    with workdir.state(readonly=True) as state:
        assert state.quarantined(PAIR) == []
        link = state.get_link(PAIR, STREAM, "SUMMIT")
        assert link.manual and link.target_id == str(chosen["id"]) and link.payload_hash
    events = [e for e in run_audit(workdir, report.run_id) if e.source_key == "SUMMIT"]
    assert [e.action for e in events] == ["update"]
    # And the run after that is quiet and clean.
    sandbox.procore.clear_requests()
    assert workdir.sync().exit_code == ExitCode.OK
    assert writes(sandbox) == 0


def test_a_manual_link_beats_a_name_match(sandbox, workdir) -> None:
    """ACMESUP matches "ACME CONCRETE SUPPLY INC" by name, but a person linked it elsewhere."""
    by_name = {v["name"]: v for v in sandbox.procore.vendors()}
    name_match, chosen = by_name["ACME CONCRETE SUPPLY INC"], by_name["Pecan Street Millwork"]
    with workdir.state() as state:
        state.upsert_link(PAIR, STREAM, "ACMESUP", chosen["id"], None, manual=True)

    report = first_sync(workdir)

    assert sandbox.procore.vendor(chosen["id"])["origin_id"] == origin(sandbox, "ACMESUP")
    assert sandbox.procore.vendor(chosen["id"])["name"] == "Acme Concrete Supply, Inc."
    assert sandbox.procore.vendor(name_match["id"]) == name_match
    assert origin_counts(sandbox)[origin(sandbox, "ACMESUP")] == 1
    events = [e for e in run_audit(workdir, report.run_id) if e.source_key == "ACMESUP"]
    assert [(e.action, e.target_id) for e in events] == [("update", str(chosen["id"]))]
    with workdir.state(readonly=True) as state:
        assert state.get_link(PAIR, STREAM, "ACMESUP").manual


@pytest.mark.parametrize(("batch", "sage_page"), [(50, 30), (25, 20), (40, 100)])
def test_writes_go_in_full_batches(sandbox, workdir, monkeypatch, batch: int, sage_page: int) -> None:
    """Batches fill across Sage pages: N writes take ceil(N / batch size) calls, whatever the
    page size (the real sizes are 500 and 100; smaller ones show the same on a small sandbox)."""
    from mlconnector.pairs._procore import ProcoreVendorTarget

    monkeypatch.setattr(ProcoreVendorTarget, "batch_size", batch)
    workdir.edit_config("    uppercase_password:", f"    page_size: {sage_page}\n    uppercase_password:")
    report = first_sync(workdir)
    written = report.totals()["create"] + report.totals()["link"]
    assert written == len(sandbox.sage300.vendors()) - 1
    assert sandbox.procore.count("PATCH", SYNC_PATH) == math.ceil(written / batch)
    assert writes(sandbox) == math.ceil(written / batch)
    assert_no_duplicates(sandbox)
    with workdir.state(readonly=True) as state:
        mark = state.get_watermark(PAIR, STREAM)
        assert mark.cursor is None and mark.value
        assert len(state.links(PAIR, STREAM)) == written
    # and the next run has nothing to do
    sandbox.procore.clear_requests()
    assert workdir.sync().exit_code == ExitCode.QUARANTINED
    assert writes(sandbox) == 0


# -- changes in Sage ------------------------------------------------------------------------------


def test_a_changed_vendor_is_one_update_and_nothing_else(sandbox, workdir) -> None:
    first_sync(workdir)
    sandbox.sage300.upsert_vendor(VendorNumber="V00010", VendorName="Renamed Paving & Grading LLC",
                                  PhoneNumber="(512) 555-0199")
    sandbox.procore.clear_requests()

    report = workdir.sync()

    assert sandbox.procore.count("PATCH", SYNC_PATH) == 1 and writes(sandbox) == 1
    vendor = sandbox.procore.vendor_by_origin_id(origin(sandbox, "V00010"))
    assert vendor["name"] == "Renamed Paving & Grading LLC"
    assert vendor["business_phone"] == "(512) 555-0199"
    assert_no_duplicates(sandbox)
    events = run_audit(workdir, report.run_id)
    assert [(e.source_key, e.action) for e in events if e.action not in ("skip", "quarantine")] == \
        [("V00010", "update")]
    assert report.totals()["update"] == 1


def test_the_watermark_day_is_read_again(sandbox, workdir) -> None:
    """Sage dates carry no time: a vendor changed later on the watermark's day must be seen,
    even with no look-back; one dated before the watermark is only seen by --full."""
    workdir.edit_config("vendors: {enabled: true}", "vendors: {enabled: true, lookback_days: 0}")
    first_sync(workdir)
    with workdir.state(readonly=True) as state:
        mark = date.fromisoformat(state.get_watermark(PAIR, STREAM).value)
    sandbox.sage300.upsert_vendor(VendorNumber="V00020", VendorName="Same Day Change Co.",
                                  DateLastMaintained=mark)
    sandbox.sage300.upsert_vendor(VendorNumber="V00021", VendorName="Backdated Change Co.",
                                  DateLastMaintained=mark - timedelta(days=1))

    report = workdir.sync()
    assert sandbox.procore.vendor_by_origin_id(origin(sandbox, "V00020"))["name"] == "Same Day Change Co."
    assert sandbox.procore.vendor_by_origin_id(origin(sandbox, "V00021"))["name"] != "Backdated Change Co."
    assert report.totals()["update"] == 1

    report = workdir.sync(full=True)
    assert sandbox.procore.vendor_by_origin_id(origin(sandbox, "V00021"))["name"] == "Backdated Change Co."
    assert report.totals()["update"] == 1
    assert_no_duplicates(sandbox)


def test_full_rereads_everything_and_writes_nothing_when_nothing_changed(sandbox, workdir) -> None:
    first_sync(workdir)
    sandbox.procore.clear_requests()
    sandbox.sage300.clear_requests()
    report = workdir.sync(full=True)
    assert writes(sandbox) == 0
    events = run_audit(workdir, report.run_id)
    assert sorted(e.source_key for e in events) == sorted(sage_numbers(sandbox))
    assert actions(events) == Counter(skip=len(events) - 1, quarantine=1)
    skips = [int(r.query.split("%24skip=")[1].split("&")[0]) for r in sandbox.sage300.requests
             if r.path == SAGE_VENDORS and "%24skip=" in r.query]
    assert 0 in skips and 100 in skips  # both Sage pages were read again


# -- dry run ------------------------------------------------------------------------------------


def test_dry_run_before_the_first_sync_writes_nothing_and_plans_everything(sandbox, workdir) -> None:
    report = workdir.sync(dry_run=True)
    assert not workdir.state_path.exists()
    assert sorted(p.name for p in workdir.path.iterdir()) == ["mlconnector.yaml"]
    assert writes(sandbox) == 0
    assert report.run_id is None and report.dry_run
    counts = report.streams[0].counts
    assert counts["link"] == 41 and counts["quarantine"] == 1
    assert counts["create"] == len(sandbox.sage300.vendors()) - 42
    planned = {p.source_key: p for p in report.streams[0].planned}
    assert planned["ACMESUP"].action == "link" and "ACME CONCRETE SUPPLY INC" in planned["ACMESUP"].target
    assert planned["ATLANTIS"].action == "create" and "Atlantis" in planned["ATLANTIS"].message
    assert planned["SUMMIT"].action == "quarantine" and "mappings link vendor SUMMIT" in planned["SUMMIT"].message
    assert report.exit_code == ExitCode.QUARANTINED


def test_dry_run_after_a_sync_leaves_the_state_file_untouched(sandbox, workdir) -> None:
    first_sync(workdir)
    sandbox.sage300.upsert_vendor(VendorNumber="V00010", VendorName="Renamed Paving & Grading LLC")

    def snapshot():
        state, wal = workdir.state_path, workdir.path / "state.db-wal"
        # SQLite may leave an empty -wal/-shm beside a WAL database it opened read-only; the
        # database and any WAL content must be exactly as they were.
        return state.read_bytes(), state.stat().st_mtime_ns, wal.read_bytes() if wal.exists() else b""

    before = snapshot()
    sandbox.procore.clear_requests()
    report = workdir.sync(dry_run=True)
    assert snapshot() == before
    assert writes(sandbox) == 0
    planned = {p.source_key: p.action for p in report.streams[0].planned}
    assert planned["V00010"] == "update" and planned["SUMMIT"] == "quarantine"
    assert sandbox.procore.vendor_by_origin_id(origin(sandbox, "V00010"))["name"] != "Renamed Paving & Grading LLC"
    # The real run then does what the dry run planned.
    assert workdir.sync().totals()["update"] == 1


# -- per-item errors ------------------------------------------------------------------------------


def test_a_vendor_procore_rejects_is_quarantined_and_the_batch_is_kept(sandbox, workdir, monkeypatch) -> None:
    # The simulator does not check e-mail addresses; real Procore does. Teach it to.
    checks = procore_sim._validate

    def validate(changes, merged, *, creating):
        problems = checks(changes, merged, creating=creating)
        email = changes.get("email_address")
        if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            problems["email_address"] = ["is invalid"]
        return problems

    monkeypatch.setattr(procore_sim, "_validate", validate)
    old_date = "2019-01-15"
    sandbox.sage300.upsert_vendor(VendorNumber="O'NEIL", Email="ap@@oneil", DateLastMaintained=old_date)

    report = first_sync(workdir)

    assert sandbox.procore.count("PATCH", SYNC_PATH) == 1
    assert sandbox.procore.vendor_by_origin_id(origin(sandbox, "O'NEIL")) is None
    assert len(origin_counts(sandbox)) == len(sandbox.sage300.vendors()) - 2  # all but O'NEIL and SUMMIT
    with workdir.state(readonly=True) as state:
        held = {q.source_key: q for q in state.quarantined(PAIR)}
        assert state.get_link(PAIR, STREAM, "O'NEIL") is None
    assert set(held) == {"O'NEIL", "SUMMIT"}
    assert "email_address: is invalid" in held["O'NEIL"].reason
    assert report.quarantine_total == 2

    # Fixed in Sage, dated long ago so only the quarantine retry (not the scan) can find it.
    sandbox.sage300.upsert_vendor(VendorNumber="O'NEIL", Email="ap@oneilelectric.com", DateLastMaintained=old_date)
    report = workdir.sync()
    vendor = sandbox.procore.vendor_by_origin_id(origin(sandbox, "O'NEIL"))
    assert vendor is not None and vendor["email_address"] == "ap@oneilelectric.com"
    with workdir.state(readonly=True) as state:
        assert [q.source_key for q in state.quarantined(PAIR)] == ["SUMMIT"]
        assert state.get_link(PAIR, STREAM, "O'NEIL").target_id == str(vendor["id"])
    assert [e.action for e in run_audit(workdir, report.run_id) if e.source_key == "O'NEIL"] == ["create"]
    assert_no_duplicates(sandbox)


def test_a_mapping_error_is_quarantined_and_the_rest_goes_through(sandbox, workdir) -> None:
    sandbox.sage300.upsert_vendor(VendorNumber="V00005", VendorName="   ")
    report = first_sync(workdir)
    with workdir.state(readonly=True) as state:
        held = {q.source_key: q for q in state.quarantined(PAIR)}
    assert set(held) == {"V00005", "SUMMIT"}
    assert "VendorName" in held["V00005"].reason
    assert sandbox.procore.vendor_by_origin_id(origin(sandbox, "V00005")) is None
    assert report.totals()["create"] + report.totals()["link"] == len(sandbox.sage300.vendors()) - 2


# -- crashes and the network ----------------------------------------------------------------------


def test_a_write_left_pending_by_a_crash_is_reconciled_not_duplicated(sandbox, workdir) -> None:
    """A crash after sending: V00004 reached Procore (carrying our origin_id) but was never linked;
    V00007's write never arrived. Both were recorded as pending."""
    arrived = next(r for r in sandbox.sage300.vendors() if r["VendorNumber"] == "V00004")
    sandbox.procore.add_vendor(**map_vendor(arrived).payload, origin_id=origin(sandbox, "V00004"))
    with workdir.state() as state:
        for number in ("V00004", "V00007"):
            state.add_pending(PAIR, STREAM, number, idempotency_key=origin(sandbox, number),
                              operation="create", run_id=None)

    report = first_sync(workdir)

    counts = origin_counts(sandbox)
    assert counts[origin(sandbox, "V00004")] == 1 and counts[origin(sandbox, "V00007")] == 1
    assert_no_duplicates(sandbox)
    with workdir.state(readonly=True) as state:
        assert state.pending(PAIR) == []
        link = state.get_link(PAIR, STREAM, "V00004")
    assert link.target_id == str(sandbox.procore.vendor_by_origin_id(origin(sandbox, "V00004"))["id"])
    events = run_audit(workdir, report.run_id)
    v4 = [e for e in reversed(events) if e.source_key == "V00004"]  # oldest first
    assert [e.action for e in v4] == ["link", "update"]  # found, then brought up to date
    assert "interrupted run" in v4[0].message
    assert [e.action for e in events if e.source_key == "V00007"] == ["create"]
    pending_keys = [quote(origin(sandbox, n), safe="") for n in ("V00004", "V00007")]
    lookups = [r for r in sandbox.procore.requests if any(k in r.query for k in pending_keys)]
    assert len(lookups) == 2  # one look-up by origin_id per pending write


def test_a_run_stopped_mid_scan_resumes_from_its_checkpoint(sandbox, workdir, monkeypatch) -> None:
    """Pages are checkpointed as they are pushed: after a fatal error on page 3 the next run
    continues from the checkpoint and creates nothing twice."""
    from mlconnector.pairs._procore import ProcoreVendorTarget

    monkeypatch.setattr(ProcoreVendorTarget, "batch_size", 25)
    workdir.edit_config("    uppercase_password:", "    page_size: 20\n    uppercase_password:")
    sandbox.sage300.add_fault(FailAtSkip(SAGE_VENDORS, skip=40))

    report = workdir.sync()
    assert report.exit_code == ExitCode.FATAL and "Access denied" in str(report.error)
    with workdir.state(readonly=True) as state:
        mark = state.get_watermark(PAIR, STREAM)
        linked = {link.source_key for link in state.links(PAIR, STREAM)}
        held = {q.source_key for q in state.quarantined(PAIR)}
        run = state.get_run(report.run_id)
    # One whole batch (25 writes) went out; the cursor stands after page 1 (20 records), the
    # last page all of whose records are recorded. Nothing before the cursor is left out.
    assert len(linked) == 25
    assert mark.cursor and mark.cursor["skip"] == 20 and mark.value is None
    assert set(sage_numbers(sandbox)[:20]) <= linked | held
    assert run.status == "failed" and run.exit_code == 3
    assert sandbox.procore.count("PATCH", SYNC_PATH) == 1
    sandbox.sage300.clear_requests()

    report = workdir.sync()
    assert report.exit_code == ExitCode.QUARANTINED, report.error
    skips = sorted(int(r.query.split("%24skip=")[1].split("&")[0]) for r in sandbox.sage300.requests
                   if r.path == SAGE_VENDORS and "%24skip=" in r.query)
    assert skips[0] == 20  # resumed, not restarted
    assert len(origin_counts(sandbox)) == len(sandbox.sage300.vendors()) - 1
    assert_no_duplicates(sandbox)
    with workdir.state(readonly=True) as state:
        mark = state.get_watermark(PAIR, STREAM)
    assert mark.cursor is None and mark.value


def test_an_expired_token_mid_run_is_renewed_and_the_write_retried(sandbox, workdir) -> None:
    sandbox.procore.add_fault(ExpireTokensFirst(sandbox.procore, SYNC_PATH))
    report = first_sync(workdir)
    statuses = [r.status for r in sandbox.procore.requests if r.path == SYNC_PATH]
    assert statuses == [401, 200]
    assert sandbox.procore.token_requests == 2
    assert len(origin_counts(sandbox)) == len(sandbox.sage300.vendors()) - 1
    assert_no_duplicates(sandbox)
    assert report.totals()["quarantine"] == 1


def test_a_cached_token_that_expired_between_runs_is_renewed(sandbox, workdir) -> None:
    first_sync(workdir)
    assert sandbox.procore.token_requests == 1
    sandbox.procore.expire_all_tokens()
    sandbox.sage300.upsert_vendor(VendorNumber="V00010", VendorName="Renamed Paving & Grading LLC")
    sandbox.procore.clear_requests()
    report = workdir.sync()
    assert report.exit_code == ExitCode.QUARANTINED, report.error
    assert sandbox.procore.token_requests == 2
    assert sandbox.procore.requests[0].status == 401  # the cached token was tried, then renewed
    assert sandbox.procore.vendor_by_origin_id(origin(sandbox, "V00010"))["name"] == "Renamed Paving & Grading LLC"


def test_pacing_keeps_under_the_spike_limit(sandbox, workdir) -> None:
    workdir.edit_config(f"company_id: {sandbox.procore.company_id}",
                        f"company_id: {sandbox.procore.company_id}\n    page_size: 20")
    sandbox.procore.set_rate_limits(spike=5, spike_window=2)
    report = first_sync(workdir)
    rest = [r for r in sandbox.procore.requests if r.path.startswith("/rest/")]
    assert len(rest) > 5  # more than one window's worth: without pacing a 429 would come
    assert sandbox.procore.rate_limited == 0
    assert all(r.status != 429 for r in rest)
    assert len(origin_counts(sandbox)) == len(sandbox.sage300.vendors()) - 1
    assert report.totals()["quarantine"] == 1
    # Paging: every page of the directory was read, or name variants on later pages would
    # have been created again instead of linked.
    assert sandbox.procore.count("GET", "/rest/v1.0/vendors") >= 4
    assert report.totals()["link"] == 41


def test_a_429_with_retry_after_is_waited_out(sandbox, workdir) -> None:
    assert sandbox.procore.send_retry_after
    sandbox.procore.inject_fault(SYNC_PATH, 429, headers={"Retry-After": "1"},
                                 body={"errors": procore_sim.RATE_LIMIT_MESSAGE})
    first_sync(workdir)
    calls = [r for r in sandbox.procore.requests if r.path == SYNC_PATH]
    assert [r.status for r in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 1.0  # waited as asked
    assert len(origin_counts(sandbox)) == len(sandbox.sage300.vendors()) - 1
    assert_no_duplicates(sandbox)


def test_a_5xx_on_the_batch_is_retried_without_duplicates(sandbox, workdir) -> None:
    sandbox.procore.inject_fault(SYNC_PATH, 503)
    first_sync(workdir)
    assert [r.status for r in sandbox.procore.requests if r.path == SYNC_PATH] == [503, 200]
    assert len(origin_counts(sandbox)) == len(sandbox.sage300.vendors()) - 1
    assert_no_duplicates(sandbox)


def test_a_lost_answer_to_the_batch_is_resent_without_duplicates(sandbox, workdir) -> None:
    """The batch was applied but the answer lost (502): the resent batch must update, not create."""
    vendors_before = len(sandbox.procore.vendors())
    sandbox.procore.add_fault(LostAnswer(SYNC_PATH))
    report = first_sync(workdir)
    assert [r.status for r in sandbox.procore.requests if r.path == SYNC_PATH] == [502, 200]
    assert_no_duplicates(sandbox)
    assert len(sandbox.procore.vendors()) == vendors_before + report.totals()["create"]
    assert len(origin_counts(sandbox)) == len(sandbox.sage300.vendors()) - 1


def test_an_overlapping_run_is_refused_naming_the_holder(sandbox, workdir) -> None:
    with workdir.state() as state, state.acquire_lock(PAIR):
        holder = state.lock_holder(PAIR)
        with pytest.raises(LockBusy) as caught:
            workdir.sync()
    error = caught.value
    assert error.exit_code == ExitCode.BUSY == 4
    assert str(os.getpid()) in str(error) and holder.host in str(error)
    assert holder.host == socket.gethostname()
    assert sandbox.procore.requests == [] and sandbox.sage300.requests == []
    with workdir.state(readonly=True) as state:
        assert state.runs(PAIR) == []


def test_a_paused_run_exits_5_and_the_next_reconciles_its_batch_cheaply(sandbox, workdir) -> None:
    """The rate budget runs out just before the batch is sent: exit 5 (paused). The batch's writes
    were recorded as pending; the next run settles them from one directory listing, not one
    look-up per vendor, and creates nothing twice."""
    workdir.edit_config(f"company_id: {sandbox.procore.company_id}",
                        f"company_id: {sandbox.procore.company_id}\n    max_rate_wait: 1")
    # Leave exactly the budget for the reads the run makes before its first write (the pacer
    # keeps in reserve one request per request that may be in flight: the concurrency).
    from mlconnector.systems.procore.settings import ProcoreSettings

    workdir.sync(dry_run=True)
    reads_before_writing = sandbox.procore.count("GET")
    sandbox.procore.set_rate_limits(hourly=reads_before_writing + ProcoreSettings.concurrency, spike=1000)
    report = workdir.sync()
    assert report.exit_code == ExitCode.PAUSED == 5
    assert "rate budget is spent" in str(report.error)
    assert sandbox.procore.rate_limited == 0 and writes(sandbox) == 0
    with workdir.state(readonly=True) as state:
        assert state.get_run(report.run_id).status == "paused"
        assert len(state.pending(PAIR)) == len(sandbox.sage300.vendors()) - 1

    sandbox.procore.set_rate_limits(hourly=3600, spike=25)
    sandbox.procore.clear_requests()
    report = workdir.sync()
    assert report.exit_code == ExitCode.QUARANTINED, report.error
    lookups = [r for r in sandbox.procore.requests if "origin_id" in r.query]
    assert lookups == []
    assert sandbox.procore.count("GET") <= 4  # the directory, listed once (active + inactive pages)
    with workdir.state(readonly=True) as state:
        assert state.pending(PAIR) == []
    assert len(origin_counts(sandbox)) == len(sandbox.sage300.vendors()) - 1
    assert_no_duplicates(sandbox)


def test_an_idle_rerun_settles_a_quarantined_ambiguity_without_listing_the_directory(sandbox, workdir) -> None:
    """SUMMIT stays ambiguous until a person links it. Retrying it every run must not cost a
    listing of the whole Procore directory: two targeted look-ups prove the ambiguity."""
    workdir.sync()
    sandbox.procore.clear_requests()
    report = workdir.sync()
    assert report.exit_code == ExitCode.QUARANTINED
    full_listings = [r for r in sandbox.procore.requests
                     if r.path.endswith("/vendors/inactive") or (r.path == "/rest/v1.0/vendors" and "filters" not in r.query)]
    assert full_listings == []
    assert sandbox.procore.count("GET") == 2  # by origin_id, then a name search
    with workdir.state(readonly=True) as state:
        (held,) = state.quarantined(PAIR)
    assert held.source_key == "SUMMIT" and held.attempts == 2 and "matches 2 target records" in held.reason


def test_a_single_search_hit_is_not_trusted_without_the_full_listing(sandbox, workdir) -> None:
    """A name search is a substring search that may miss accent variants and inactive vendors,
    so one hit never decides a link or a create on its own: the directory is listed first."""
    existing = sandbox.procore.add_vendor(name="Zephyr Glazing Co", is_active=False)
    sandbox.sage300.upsert_vendor(VendorNumber="ZEPHYR", VendorName="Zéphyr Glazing Co.", Status="Active")
    report = workdir.sync()
    assert report.exit_code == ExitCode.QUARANTINED  # SUMMIT only
    with workdir.state(readonly=True) as state:
        link = state.get_link(PAIR, STREAM, "ZEPHYR")
    assert link is not None and link.target_id == str(existing["id"])
    assert sandbox.procore.vendor(existing["id"])["origin_id"] == origin(sandbox, "ZEPHYR")
    assert_no_duplicates(sandbox)
