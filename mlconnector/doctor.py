"""`mlconnector doctor`: everything that would stop a scheduled run, found now, each with its fix.

It never changes anything: the configuration is only read, credentials are resolved but never
shown, each system gets the same cheap authenticated read as `ping`, and the state file is opened
read-only. Run it as the account the schedule runs as: that account's keyring and environment
are the ones that matter.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mlconnector.errors import (
    AuthError,
    MlconnectorError,
    PermissionDenied,
    UnreachableError,
)

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Finding:
    check: str  # config, keyring, credentials, ping, state, lock, last run, quarantine, notify
    subject: str  # the file, system, field or pair it is about
    status: Status
    detail: str
    fix: str = ""


def diagnose(config_path: str | os.PathLike[str] | None, *, test_notify: bool = False) -> list[Finding]:
    """Every finding, config first. A configuration that does not load stops the other checks."""
    from mlconnector.config import load_config

    try:
        config = load_config(config_path)
    except MlconnectorError as exc:
        where = getattr(exc, "file", None) or str(config_path or "the configuration")
        return [Finding("config", where, "fail", exc.message,
                        exc.hint or "Edit the file where it says; config.example.yaml documents every key.")]
    findings = [Finding("config", str(config.path), "ok",
                        f"{len(config.systems)} systems, {len(config.pairs)} pairs")]
    findings += [Finding("config", str(config.path), "warn", w, "Edit the configuration.") for w in config.warnings]
    findings += list(_keyring())
    resolved: dict[str, bool] = {}
    for name in config.systems:
        found = list(_credentials(config, name))
        resolved[name] = all(f.status == "ok" for f in found)
        findings += found
    # Systems are pinged at once: an unreachable one spends its whole retry budget (about 20 s).
    with ThreadPoolExecutor(max_workers=max(1, len(config.systems))) as pool:
        pings = {name: pool.submit(_ping, config, name) for name in config.systems if resolved[name]}
    for name in config.systems:
        findings.append(pings[name].result() if name in pings else
                        Finding("ping", name, "fail", "not tried: a credential is missing",
                                "Set the missing credentials above, then run doctor again."))
    findings += list(_state(config))
    findings += list(_notify(config, send_test=test_notify))
    return findings


def exit_code(findings: list[Finding]) -> int:
    """0 when nothing failed (warnings allowed); 2 when the configuration is the problem; else 3."""
    from mlconnector.errors import ExitCode

    failed = [f for f in findings if f.status == "fail"]
    if not failed:
        return int(ExitCode.OK)
    return int(ExitCode.USAGE if any(f.check == "config" for f in failed) else ExitCode.FATAL)


# --- the checks --------------------------------------------------------------------------------


def _keyring() -> Iterator[Finding]:
    from mlconnector import secrets

    status = {b.name: b for b in secrets.backend_status()}
    keyring, file = status["keyring"], status["file"]
    if keyring.available:
        yield Finding("keyring", "OS keyring", "ok", keyring.detail)
    else:
        yield Finding("keyring", "OS keyring", "warn", f"unavailable: {keyring.detail}",
                      "Fine when credentials come from the environment or the encrypted file. Under cron or "
                      "a service on Linux there is no D-Bus session: use "
                      f"`credentials set <system> --store file` with {secrets.PASSPHRASE_FILE_ENV}.")
    if file.available:
        yield Finding("credentials file", "encrypted file", "ok", file.detail)
    elif not keyring.available:
        yield Finding("credentials file", "encrypted file", "warn", f"unavailable: {file.detail}",
                      f"Without an OS keyring: set {secrets.PASSPHRASE_FILE_ENV} to a file (chmod 600) holding "
                      "the passphrase, or give every secret as an environment variable.")


def _credentials(config, name: str) -> Iterator[Finding]:
    from mlconnector import secrets

    for source in secrets.describe(name, config.credential_fields(name)):
        subject = f"{name} {source.field}"
        if source.source is None:
            yield Finding("credentials", subject, "fail", source.detail,
                          f"Run `mlconnector credentials set {name}` as the account the schedule runs as, or set "
                          f"{secrets.env_var_name(name, source.field)}.")
        else:
            yield Finding("credentials", subject, "ok", f"from {source.source}: {source.detail}")


def _ping(config, name: str) -> Finding:
    from mlconnector.connect import ping

    try:
        result = ping(config, name)
    except AuthError as exc:
        return Finding("ping", name, "fail", str(exc.message),
                       exc.hint or f"Check the user and secret: `mlconnector credentials set {name}`.")
    except PermissionDenied as exc:
        return Finding("ping", name, "fail", exc.message, exc.hint or "Grant the API user the right named.")
    except UnreachableError as exc:
        return Finding("ping", name, "fail", exc.message,
                       exc.hint or "Check the URL, DNS, firewall and proxy from this machine; for a private CA "
                       "set ca_bundle.")
    except MlconnectorError as exc:
        return Finding("ping", name, "fail", exc.message, exc.hint or "")
    return Finding("ping", name, "ok", f"{result.seconds * 1000:.0f} ms, {result.reached}")


def _state(config) -> Iterator[Finding]:
    from mlconnector.engine.sync import LOCK_STALE_AFTER
    from mlconnector.state import SCHEMA_VERSION, open_state

    path = Path(config.state_path)
    subject = str(path)
    if not path.exists():
        parent = path.parent
        if parent.is_dir() and os.access(parent, os.W_OK):
            yield Finding("state", subject, "ok", "not created yet; the first sync creates it")
        else:
            yield Finding("state", subject, "fail", f"the directory {parent} does not exist or is not writable",
                          "Create it, or point `state:` at a writable place.")
        return
    if os.name == "posix" and path.stat().st_mode & 0o077:
        yield Finding("state", subject, "warn", f"readable by other users (mode {path.stat().st_mode & 0o777:o})",
                      f"chmod 600 {path}")
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        yield Finding("state", subject, "fail", "not writable by this account (the file or its directory)",
                      "Run as the account that owns it, or fix its ownership.")
    try:
        state = open_state(path, readonly=True)
    except MlconnectorError as exc:
        yield Finding("state", subject, "fail", exc.message,
                      exc.hint or "Restore the latest copy made by `mlconnector state backup`.")
        return
    with state:
        problems = state.integrity_problems()
        if problems:
            yield Finding("state", subject, "fail", "integrity check failed: " + "; ".join(problems[:3]),
                          "Restore the latest copy made by `mlconnector state backup`.")
        version = state.schema_version
        note = "" if version == SCHEMA_VERSION else f" (the next run migrates it to {SCHEMA_VERSION})"
        yield Finding("state", subject, "ok", f"schema {version}{note}")
        for pair in config.pairs:
            yield from _pair_state(state, pair, LOCK_STALE_AFTER)


def _pair_state(state, pair: str, stale_after: float) -> Iterator[Finding]:
    lock = state.lock_status(pair, stale_after=stale_after)
    if lock is None:
        yield Finding("lock", pair, "ok", "free")
    else:
        holder, meaning = lock
        who = f"process {holder.pid} on {holder.host} since {holder.started_at}"
        if meaning == "running":
            yield Finding("lock", pair, "ok", f"a sync is running: {who} (heartbeat {holder.heartbeat_at})")
        elif meaning == "gone":
            yield Finding("lock", pair, "warn", f"left by {who}, which has ended",
                          "Nothing to do: the next sync takes it over.")
        else:
            yield Finding("lock", pair, "warn", f"stale: {who}, last heartbeat {holder.heartbeat_at}",
                          "If that host no longer runs mlconnector, the next sync takes it over "
                          "(`sync --force` does at once).")
    runs = state.runs(pair, limit=1)
    if runs and runs[0].status in ("failed", "interrupted", "paused"):
        run = runs[0]
        yield Finding("last run", pair, "warn", f"run {run.id} {run.status} at {run.finished_at or run.started_at}: "
                      f"{(run.message or '').splitlines()[0] if run.message else 'no message'}",
                      f"`mlconnector audit --run {run.id}` shows what it did.")
    waiting = len(state.quarantined(pair))
    if waiting:
        yield Finding("quarantine", pair, "warn", f"{waiting} records waiting",
                      "`mlconnector quarantine list` says why; fix, then `mlconnector replay <id>` or sync again.")


def _notify(config, *, send_test: bool) -> Iterator[Finding]:
    settings = config.notify
    if settings is None:
        yield Finding("notify", "notify:", "ok", "not configured: failures are only in the log and the exit code")
        return
    if settings.credential_fields:
        yield from _credentials(config, "notify")
    if not send_test:
        for channel in settings.channels():
            yield Finding("notify", channel, "ok", "configured (`doctor --test-notify` sends a test notice)")
        return
    from mlconnector.notify import send_test as send

    for line in send(config):
        channel, _, outcome = line.partition(": ")
        if outcome == "sent":
            yield Finding("notify", channel, "ok", "test notice sent: check that it arrived")
        else:
            yield Finding("notify", channel, "fail", f"test notice {outcome}",
                          "Check the notify: settings (URL, host, port, security) and, for e-mail, "
                          "`mlconnector credentials set notify`.")
