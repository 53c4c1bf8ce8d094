"""Deciding whether a run has something new to report, and to whom; remembering what was sent."""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from mlconnector.errors import ExitCode, MlconnectorError
from mlconnector.notify._message import (
    EXIT_MEANINGS,
    Notice,
    Record,
    clip,
    one_line,
    plural,
    records_paragraph,
    run_title,
)
from mlconnector.notify._send import NotSent, send_email, send_webhook
from mlconnector.redact import scrub

if TYPE_CHECKING:
    from mlconnector.config import Config
    from mlconnector.state import State

log = logging.getLogger("mlconnector.notify")


@dataclass(frozen=True)
class Channel:
    name: str  # webhook | email: what the result lines and the memory are keyed by
    send: Callable[[Notice], None]  # raises NotSent


def channels(config: Config) -> list[Channel]:
    settings = config.notify
    found: list[Channel] = []
    if settings is None:
        return found
    if settings.webhook is not None:
        webhook = settings.webhook
        found.append(Channel("webhook", lambda notice: send_webhook(webhook, notice)))
    if settings.email is not None:
        mail = settings.email
        found.append(Channel("email", lambda notice: send_email(mail, notice)))
    return found


def deliver(channel: Channel, notice: Notice) -> tuple[bool, str]:
    """Send; never raise. A failure is logged as a warning naming the channel and the reason."""
    try:
        channel.send(notice)
    except NotSent as exc:
        reason = scrub(str(exc))
    except Exception as exc:  # a bug in sending must not change the run's exit code
        log.debug("sending the notice by %s failed", channel.name, exc_info=True)
        reason = scrub(f"{type(exc).__name__}: {exc}")
    else:
        log.info("notice sent by %s: %s", channel.name, notice.title)
        return True, "sent"
    log.warning("notice not sent by %s: %s", channel.name, reason)
    return False, f"failed ({reason})"


# --- the problem of a failed run --------------------------------------------------------------

_REQUEST_ID = re.compile(r"\s*\[request id [^\]]*\]")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class Failure:
    fingerprint: str  # the same for the same problem, whatever pid, time or line number it names
    summary: str  # one line, for the "recovered" notice later


def failure_of(pair: str, exit_code: int, error: MlconnectorError | None) -> Failure:
    kind = type(error).__name__ if error is not None else "unknown"
    message = scrub(error.message) if error is not None else ""
    # Request ids differ on every call; digits are pids, times, counts and line numbers.
    normal = _DIGITS.sub("#", _REQUEST_ID.sub("", message))
    digest = hashlib.sha256("\x1f".join((pair, str(exit_code), kind, normal)).encode()).hexdigest()
    summary = f"exit {exit_code}: {one_line(message, 300)}" if message else f"exit {exit_code}"
    return Failure(digest, summary)


# --- the memory ---------------------------------------------------------------------------------


def _open_memory(config: Config) -> tuple[State | None, str | None]:
    from mlconnector.state import open_state

    try:
        return open_state(config.state_path), None
    except (MlconnectorError, sqlite3.Error, OSError) as exc:
        reason = exc.message if isinstance(exc, MlconnectorError) else str(exc)
        return None, one_line(reason, 300)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _host() -> str:
    from mlconnector.state._lock import hostname

    return hostname()


def _command(config: Config, *args: str) -> str:
    path = str(config.path)
    if any(c.isspace() for c in path) or '"' in path:
        path = '"' + path.replace('"', '\\"') + '"'
    return " ".join(("mlconnector", "--config", path, *args))


# --- the notice of a run ------------------------------------------------------------------------


def notify_run(config: Config, pair: str, *, exit_code: int, run_id: int | None,
               error: MlconnectorError | None) -> list[str]:
    try:
        return _notify_run(config, pair, exit_code=exit_code, run_id=run_id, error=error)
    except Exception as exc:  # a bug here must not change the run's exit code
        log.debug("notices failed", exc_info=True)
        reason = scrub(f"{type(exc).__name__}: {exc}")
        log.warning("notices: not sent (%s)", reason)
        return [f"notify: failed ({reason})"]


def _notify_run(config: Config, pair: str, *, exit_code: int, run_id: int | None,
                error: MlconnectorError | None) -> list[str]:
    targets = channels(config)
    if not targets:
        return []
    code = int(exit_code)
    failure = failure_of(pair, code, error) if code >= ExitCode.USAGE else None
    state, unavailable = _open_memory(config)
    try:
        quarantined, known_all = [], []
        if state is not None:
            try:
                if code != ExitCode.BUSY:  # a busy run did not touch the quarantine: the other run reports it
                    state.forget_released_notices(pair)
                    quarantined = state.quarantined(pair)
                known_all = state.notices(pair)
            except (MlconnectorError, sqlite3.Error) as exc:
                state.close()
                state, unavailable = None, one_line(getattr(exc, "message", str(exc)), 300)
        if state is None and failure is None:
            # Without the memory nothing tells a new record from a reported one: say nothing
            # rather than repeat the whole quarantine after every run.
            log.warning("notices: the state file could not be opened (%s); nothing is sent for this run",
                        unavailable)
            return []
        lines = []
        for channel in targets:
            known = [n for n in known_all if n.channel == channel.name]
            failures = {n.key: n.summary for n in known if n.kind == "failure"}
            reported = {(n.stream, n.key) for n in known if n.kind == "quarantine"}
            new_failure = failure if failure is not None and failure.fingerprint not in failures else None
            recovered = code <= ExitCode.QUARANTINED and bool(failures)
            new_records = [q for q in quarantined if (q.stream, q.source_key) not in reported]
            if new_failure is None and not recovered and not new_records:
                continue
            notice = _run_notice(config, pair, code=code, run_id=run_id, error=error, failed=new_failure is not None,
                                 recovered_from=list(failures.values()) if recovered else [],
                                 new_records=new_records, total=len(quarantined), unavailable=unavailable)
            ok, outcome = deliver(channel, notice)
            lines.append(f"{channel.name}: {outcome}")
            if ok and state is not None:
                try:
                    state.record_notice(
                        pair, channel.name, recovered=recovered, run_id=run_id,
                        failures=[(new_failure.fingerprint, new_failure.summary)] if new_failure else [],
                        records=[(q.stream, q.source_key) for q in new_records])
                except (MlconnectorError, sqlite3.Error) as exc:
                    log.warning("notice sent by %s but not remembered (%s); it may be sent again",
                                channel.name, one_line(getattr(exc, "message", str(exc)), 300))
        return lines
    finally:
        if state is not None:
            state.close()


def _run_notice(config: Config, pair: str, *, code: int, run_id: int | None, error: MlconnectorError | None,
                failed: bool, recovered_from: list[str], new_records: list, total: int,
                unavailable: str | None) -> Notice:
    from mlconnector.pairs import record_id

    host = _host()
    meaning = EXIT_MEANINGS.get(code, "an unexpected exit code")
    paragraphs = []
    if failed:
        paragraphs.append(f"`mlconnector sync {pair}` on {host} failed with exit code {code}: {meaning}.")
        what = clip(error.message) if error is not None else "no message was recorded"
        detail = f"What happened:\n{what}"
        if error is not None and error.hint:
            detail += f"\n\nWhat to do:\n{clip(error.hint)}"
        paragraphs.append(detail)
    elif recovered_from:
        paragraphs.append(f"`mlconnector sync {pair}` on {host} ran again without the failure reported "
                          f"before (exit {code}: {meaning}).")
        paragraphs.append("It had failed with:\n" + "\n".join(f"- {s}" for s in recovered_from))
    else:
        paragraphs.append(f"`mlconnector sync {pair}` on {host} put {plural(len(new_records), 'new record')} "
                          f"in quarantine (exit {code}: {meaning}).")
    when = f"Run {run_id}" if run_id is not None else "No run was started"
    paragraphs.append(f"{when}, {_now()}; configuration {config.path}.")
    if new_records:
        records = [Record(record_id(q.stream, q.source_key), q.reason) for q in new_records]
        paragraphs.append(records_paragraph(records, total - len(new_records)))
    elif total:
        paragraphs.append(f"{plural(total, 'record')} in quarantine, all reported before.")
    if unavailable is not None:
        paragraphs.append(f"The state file could not be opened ({unavailable}), so repeats of this notice "
                          "cannot be suppressed: it may come after every run until that is fixed.")
    look = []
    if run_id is not None:
        look.append(_command(config, "audit", "--run", str(run_id)))
    if new_records or total:
        look.append(_command(config, "quarantine", "list", "--pair", pair))
    look.append(_command(config, "status"))
    paragraphs.append("To look:\n" + "\n".join(look))
    if failed or new_records:
        paragraphs.append("This problem is reported once; the next notice comes when something new goes wrong "
                          "or the pair recovers.")
    title = run_title(pair, host, failed_exit=code if failed else None, new_records=len(new_records),
                      recovered=bool(recovered_from))
    return Notice(title, tuple(paragraphs))


def send_test(config: Config) -> list[str]:
    targets = channels(config)
    host = _host()
    notice = Notice(f"[mlconnector] test notice from {host}", (
        f"This is a test notice from mlconnector on {host}, sent {_now()}.",
        (f"Failure notices of the pipeline {config.path} come to this channel when a sync fails or "
         "quarantines records."),
    ))
    return [f"{channel.name}: {deliver(channel, notice)[1]}" for channel in targets]
