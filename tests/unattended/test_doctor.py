"""`mlconnector doctor`: one table of what is wrong and how to fix it; it changes nothing."""

from __future__ import annotations

import json
import os
import socket

import pytest

PAIR = "sage300-procore"


def rows(cli, *args, env=None) -> tuple[int, list[dict]]:
    result = cli(*args, "doctor", "--json", env=env)
    return result.code, json.loads(result.stdout)


def find(findings: list[dict], check: str, subject: str | None = None) -> list[dict]:
    return [f for f in findings if f["check"] == check and (subject is None or f["subject"] == subject)]


def test_healthy_setup_passes_and_pings_every_system(cli, workdir) -> None:
    code, findings = rows(cli)
    assert code == 0, findings
    assert find(findings, "config")[0]["status"] == "ok"
    for system in ("sage300", "procore"):
        (ping,) = find(findings, "ping", system)
        assert ping["status"] == "ok" and " ms, company " in ping["detail"]
    creds = find(findings, "credentials")
    assert {f["subject"] for f in creds} == {"sage300 password", "procore client_id", "procore client_secret"}
    assert all(f["status"] == "ok" and f["detail"].startswith("from env:") for f in creds)
    assert find(findings, "state")[0]["detail"] == "not created yet; the first sync creates it"
    assert not workdir.state_path.exists()  # doctor creates nothing
    assert find(findings, "keyring")[0]["status"] == "warn"  # the tests run with keyring's null backend


def test_table_on_a_terminal_and_exit_code(cli, workdir) -> None:
    result = cli.on_terminal("doctor")
    assert result.code == 0
    assert "mlconnector doctor" in result.stdout and "check" in result.stdout and "fix" in result.stdout
    assert "0 failed" in result.stdout


def test_missing_credential_names_the_command_and_variable(cli, workdir) -> None:
    code, findings = rows(cli, env={"MLCONNECTOR_SAGE300_PASSWORD": None})
    assert code == 3
    (missing,) = find(findings, "credentials", "sage300 password")
    assert missing["status"] == "fail" and "not set" in missing["detail"]
    assert "mlconnector credentials set sage300" in missing["fix"] and "MLCONNECTOR_SAGE300_PASSWORD" in missing["fix"]
    assert find(findings, "ping", "sage300")[0]["detail"] == "not tried: a credential is missing"
    assert find(findings, "ping", "procore")[0]["status"] == "ok"


def test_wrong_password_and_unreachable_host_fail_the_ping_with_a_fix(cli, workdir) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]  # nothing listens here once closed
    text = workdir.config_path.read_text(encoding="utf-8")
    procore_url = workdir.sandbox.procore.url
    workdir.write_config(text.replace(procore_url, f"http://127.0.0.1:{free_port}"))
    code, findings = rows(cli, env={"MLCONNECTOR_SAGE300_PASSWORD": "not-the-password-1"})
    assert code == 3
    (sage,) = find(findings, "ping", "sage300")
    assert sage["status"] == "fail" and "401" in sage["detail"] and sage["fix"]
    (procore,) = find(findings, "ping", "procore")
    assert procore["status"] == "fail" and procore["fix"]


def test_broken_config_stops_at_the_config_row_with_exit_2(cli, workdir) -> None:
    workdir.edit_config("kind: sage300", "kind: sage3000")
    code, findings = rows(cli)
    assert code == 2
    (row,) = findings
    assert row["check"] == "config" and row["status"] == "fail"
    assert "mlconnector.yaml:" in row["detail"] and "unknown kind" in row["detail"] and row["fix"]


def test_state_lock_and_quarantine_after_a_sync(cli, workdir) -> None:
    assert cli("sync", PAIR).code == 1  # the sandbox's ambiguous vendor waits in quarantine
    with workdir.state() as state:  # a lock left by a process that has ended
        state._conn.execute("INSERT INTO locks (pair, pid, host, proc_start, started_at, heartbeat_at, token) "
                            "VALUES (?, ?, ?, NULL, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 't')",
                            (PAIR, 999_999, state._host))
        state._conn.commit()
    code, findings = rows(cli)
    assert code == 0  # warnings only
    (schema,) = [f for f in find(findings, "state") if f["detail"].startswith("schema ")]
    assert schema["status"] == "ok"
    (lock,) = find(findings, "lock", PAIR)
    assert lock["status"] == "warn" and "process 999999" in lock["detail"] and "has ended" in lock["detail"]
    assert "next sync takes it over" in lock["fix"]
    (waiting,) = find(findings, "quarantine", PAIR)
    assert waiting["detail"] == "1 records waiting" and "quarantine list" in waiting["fix"]


def test_a_running_sync_is_reported_not_blamed(cli, workdir) -> None:
    with workdir.state() as state, state.acquire_lock(PAIR):
        code, findings = rows(cli)
    (lock,) = find(findings, "lock", PAIR)
    assert lock["status"] == "ok" and lock["detail"].startswith(f"a sync is running: process {os.getpid()}")


def test_corrupt_state_file_fails_with_the_restore_hint(cli, workdir) -> None:
    workdir.state_path.write_bytes(b"this is not a database" * 100)
    code, findings = rows(cli)
    assert code == 3
    (row,) = [f for f in find(findings, "state") if f["status"] == "fail"]
    assert "is not a valid mlconnector state file" in row["detail"], row
    assert "restore this one from a backup" in row["fix"]
    assert workdir.state_path.read_bytes() == b"this is not a database" * 100  # never overwritten


def test_loose_state_permissions_are_a_warning(cli, workdir) -> None:
    assert cli("sync", PAIR).code == 1
    workdir.state_path.chmod(0o644)
    code, findings = rows(cli)
    assert code == 0
    loose = [f for f in find(findings, "state") if f["status"] == "warn"]
    assert loose and "mode 644" in loose[0]["detail"] and loose[0]["fix"] == f"chmod 600 {workdir.state_path}"
