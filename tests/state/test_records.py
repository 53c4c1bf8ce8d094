from __future__ import annotations

import pytest

from mlconnector import redact
from mlconnector.state import LinkConflict, open_state


SECRET = "s3cr3t-P@ss-7781"


# --- runs ---


def test_run_lifecycle(state):
    run = state.start_run("sage300-procore", streams=["vendors", "commitments"], dry_run=True)
    r = state.get_run(run)
    assert (r.status, r.finished_at, r.streams, r.dry_run) == ("running", None, ["vendors", "commitments"], True)
    assert r.started_at.endswith("Z")
    state.finish_run(run, status="quarantined", exit_code=1, counts={"create": 3, "quarantine": 1},
                     message="1 record quarantined")
    r = state.get_run(run)
    assert (r.status, r.exit_code, r.counts, r.message) == ("quarantined", 1, {"create": 3, "quarantine": 1},
                                                            "1 record quarantined")
    assert r.finished_at.endswith("Z")
    with pytest.raises(ValueError):
        state.finish_run(run, status="done", exit_code=0, counts={})
    assert state.get_run(run + 100) is None


def test_runs_newest_first_and_by_pair(state):
    a = state.start_run("a", streams=[])
    b = state.start_run("b", streams=[])
    c = state.start_run("a", streams=[])
    assert [r.id for r in state.runs()] == [c, b, a]
    assert [r.id for r in state.runs("a")] == [c, a]
    assert [r.id for r in state.runs(limit=1)] == [c]


def test_run_of_a_dead_process_shows_interrupted(db_path, state, run_child):
    child = run_child(f"""
        from mlconnector.state import open_state
        st = open_state({str(db_path)!r})
        print(st.start_run("p", streams=["vendors"]))
        st.close()
    """)
    assert child.returncode == 0, child.stderr
    run_id = int(child.stdout)
    assert state.get_run(run_id).status == "interrupted"


def test_finish_run_message_is_scrubbed(state, db_path, raw_bytes):
    redact.register(SECRET)
    run = state.start_run("p", streams=[])
    state.finish_run(run, status="failed", exit_code=3, counts={}, message=f"login failed for {SECRET}")
    assert SECRET not in state.get_run(run).message
    assert SECRET.encode() not in raw_bytes(db_path)


# --- watermarks ---


def test_watermark_and_cursor(state, db_path):
    assert state.get_watermark("p", "vendors").value is None
    state.set_cursor("p", "vendors", {"page": 3, "after": "V0042"})
    state.set_watermark("p", "vendors", "2024-05-01T00:00:00Z")
    wm = state.get_watermark("p", "vendors")
    assert (wm.value, wm.cursor) == ("2024-05-01T00:00:00Z", {"page": 3, "after": "V0042"})
    assert wm.updated_at.endswith("Z")
    state.set_cursor("p", "vendors", None)
    assert state.get_watermark("p", "vendors").cursor is None
    assert state.get_watermark("p", "vendors").value == "2024-05-01T00:00:00Z"
    state.set_watermark("p", "invoices", "2024-01-01")
    assert [(w.stream, w.value) for w in state.watermarks("p")] == [
        ("invoices", "2024-01-01"), ("vendors", "2024-05-01T00:00:00Z")]
    assert state.reset_watermark("p", "vendors") is True
    assert state.get_watermark("p", "vendors").value is None
    st2 = open_state(db_path, readonly=True)
    try:
        assert [w.stream for w in st2.watermarks()] == ["invoices"]
    finally:
        st2.close()


# --- links ---


def test_one_target_cannot_be_linked_to_two_sources(state):
    state.upsert_link("p", "vendors", "V1", 2**62 + 7, "h1")
    with pytest.raises(LinkConflict) as exc:
        state.upsert_link("p", "vendors", "V2", str(2**62 + 7), "h2")
    assert "V1" in str(exc.value) and "V2" in str(exc.value)
    assert state.get_link("p", "vendors", "V2") is None
    # the same target in another stream or pair is fine
    state.upsert_link("p", "commitments", "V2", 2**62 + 7, "h2")
    state.upsert_link("q", "vendors", "V2", 2**62 + 7, "h2")
    link = state.link_for_target("p", "vendors", 2**62 + 7)
    assert (link.source_key, link.target_id) == ("V1", str(2**62 + 7))


def test_link_conflict_inside_a_transaction_keeps_the_rest(state):
    with state.transaction():
        state.upsert_link("p", "vendors", "V1", "100", "h1")
        with pytest.raises(LinkConflict):
            state.upsert_link("p", "vendors", "V2", "100", "h2")
        state.upsert_link("p", "vendors", "V3", "300", "h3")
    assert sorted(l.source_key for l in state.links("p", "vendors")) == ["V1", "V3"]


def test_upsert_updates_hash_keeps_created_and_manual(state):
    first = state.upsert_link("p", "vendors", "V1", "100", "h1", manual=True)
    second = state.upsert_link("p", "vendors", "V1", "100", "h2")
    assert (second.payload_hash, second.manual, second.created_at) == ("h2", True, first.created_at)
    moved = state.upsert_link("p", "vendors", "V1", "101", "h3")
    assert (moved.target_id, moved.manual) == ("101", False)
    assert state.link_for_target("p", "vendors", "100") is None


def test_links_for_many_keys_in_batches(state):
    with state.transaction():
        for i in range(1200):
            state.upsert_link("p", "vendors", f"V{i:05}", 10_000 + i, f"h{i}")
    keys = [f"V{i:05}" for i in range(1300)] + ["V00001"]  # 100 unknown, one duplicate
    found = state.links_for("p", "vendors", iter(keys))
    assert len(found) == 1200
    assert found["V01199"].target_id == "11199"
    assert "V01250" not in found
    assert state.count_links("p") == {"vendors": 1200}
    assert len(state.links("p", "vendors", limit=10)) == 10


def test_delete_link(state):
    state.upsert_link("p", "vendors", "V1", "100", "h1")
    assert state.delete_link("p", "vendors", "V1") is True
    assert state.delete_link("p", "vendors", "V1") is False
    state.upsert_link("p", "vendors", "V2", "100", "h1")  # target is free again
    assert state.count_links("p") == {"vendors": 1}


# --- audit ---


def test_audit_round_trip_is_scrubbed(state, db_path, raw_bytes):
    redact.register(SECRET)
    run = state.start_run("p", streams=["vendors"])
    state.add_audit(run, "p", "vendors", "V1", "create", target_id=55,
                    message=f"created with password {SECRET}", detail={"auth": f"Basic {SECRET}", "n": 1})
    state.add_audit_many([
        {"run_id": run, "pair": "p", "stream": "vendors", "source_key": "V2", "action": "skip"},
        {"run_id": run, "pair": "p", "stream": "vendors", "source_key": "V3", "action": "fail",
         "message": f"echo {SECRET}"},
    ])
    events = state.audit(run_id=run)
    assert [e.source_key for e in events] == ["V3", "V2", "V1"]  # newest first
    v1 = events[-1]
    assert (v1.action, v1.target_id, v1.detail["n"]) == ("create", "55", 1)
    assert SECRET not in v1.message and "****" in v1.message
    assert SECRET not in v1.detail["auth"]
    assert SECRET not in events[0].message
    assert state.audit_counts(run) == {"create": 1, "skip": 1, "fail": 1}
    assert [e.source_key for e in state.audit(source_key="V2")] == ["V2"]
    assert [e.source_key for e in state.audit(action="fail")] == ["V3"]
    assert len(state.audit(pair="p", limit=2)) == 2
    assert SECRET.encode() not in raw_bytes(db_path)
    state.close()
    assert SECRET.encode() not in raw_bytes(db_path)


def test_audit_rejects_unknown_action(state):
    with pytest.raises(ValueError):
        state.add_audit(None, "p", "vendors", "V1", "created")
    with pytest.raises(ValueError):
        state.add_audit_many([{"run_id": None, "pair": "p", "stream": "s", "source_key": "k",
                               "action": "delete"}])
    assert state.audit() == []


# --- quarantine ---


def test_quarantine_round_trip_attempts_and_scrubbing(state, db_path, raw_bytes):
    redact.register(SECRET)
    r1 = state.start_run("p", streams=["vendors"])
    qid = state.quarantine("p", "vendors", "V9", payload={"name": "Acme", "pw": SECRET},
                           reason=f"no cost code mapping (token {SECRET})", run_id=r1)
    first = state.get_quarantine(qid)
    assert first.attempts == 1 and first.last_run_id == r1
    assert first.payload == {"name": "Acme", "pw": "****"}
    assert SECRET not in first.reason
    r2 = state.start_run("p", streams=["vendors"])
    assert state.quarantine("p", "vendors", "V9", payload={"name": "Acme Ltd"}, reason="still no mapping",
                            run_id=r2) == qid
    again = state.find_quarantine("p", "vendors", "V9")
    assert (again.attempts, again.payload, again.reason, again.last_run_id) == (
        2, {"name": "Acme Ltd"}, "still no mapping", r2)
    assert again.first_seen == first.first_seen and again.last_seen >= first.last_seen
    assert [q.id for q in state.quarantined("p")] == [qid]
    assert state.quarantined("p", "commitments") == []
    assert SECRET.encode() not in raw_bytes(db_path)


def test_release_and_discard(state):
    a = state.quarantine("p", "vendors", "A", payload={}, reason="x", run_id=None)
    b = state.quarantine("p", "vendors", "B", payload={"k": 1}, reason="y", run_id=None)
    assert state.release("p", "vendors", "A") is True
    assert state.release("p", "vendors", "A") is False
    assert state.get_quarantine(a) is None
    gone = state.discard(b)
    assert (gone.id, gone.source_key, gone.payload) == (b, "B", {"k": 1})
    assert state.discard(b) is None
    assert state.quarantined() == []
    # ids are never reused
    assert state.quarantine("p", "vendors", "A", payload={}, reason="x", run_id=None) > b


# --- pending writes ---


def test_pending_writes(state, db_path):
    run = state.start_run("p", streams=["vendors"])
    one = state.add_pending("p", "vendors", "V1", idempotency_key="idem-1", operation="create", run_id=run)
    more = state.add_pending_many([
        {"pair": "p", "stream": "vendors", "source_key": "V2", "idempotency_key": "idem-2",
         "operation": "create", "run_id": run},
        {"pair": "p", "stream": "commitments", "source_key": "PO1", "idempotency_key": "idem-3",
         "operation": "update", "run_id": run},
    ])
    assert len(more) == 2
    assert [(p.source_key, p.idempotency_key) for p in state.pending("p")] == [
        ("V1", "idem-1"), ("V2", "idem-2"), ("PO1", "idem-3")]
    assert [p.source_key for p in state.pending("p", "vendors")] == ["V1", "V2"]
    # the outcome and the removal of the pending row commit together
    with state.transaction():
        state.upsert_link("p", "vendors", "V1", "900", "h")
        state.add_audit(run, "p", "vendors", "V1", "create", target_id="900")
        assert state.clear_pending([one, more[0]]) == 2
    other = open_state(db_path, readonly=True)
    try:
        assert [p.source_key for p in other.pending("p")] == ["PO1"]
        assert other.get_link("p", "vendors", "V1").target_id == "900"
    finally:
        other.close()


# --- mapping tables ---


def test_mappings(state):
    assert state.put_mappings("p", "costcodes", {"01-100": {"id": 5}, "01-200": {"id": 6}}) == 2
    state.put_mappings("p", "costcodes", {"01-300": {"id": 7}})
    assert state.get_mapping("p", "costcodes", "01-100") == {"id": 5}
    assert list(state.mappings_of("p", "costcodes")) == ["01-100", "01-200", "01-300"]
    state.put_mappings("p", "costcodes", {"01-100": {"id": 9}}, replace=True)
    assert state.mappings_of("p", "costcodes") == {"01-100": {"id": 9}}
    assert state.get_mapping("p", "costcodes", "01-200") is None
    assert state.mappings_of("p", "vendors") == {}
