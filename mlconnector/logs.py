"""Logging for people at a terminal and for unattended runs.

stderr gets records at ``--log-level``. ``--log-file`` adds a size-rotated file that always gets
``info`` and above (``debug`` too when asked), so a scheduled run leaves its one-line summary and
any error behind. ``--log-format json`` writes one JSON object per line to both.

Every record passes :class:`~mlconnector.redact.RedactingFilter` and its structured fields are
scrubbed too: no secret reaches a handler. Records marked ``file_only`` (the run summary, the
error the CLI already printed) are kept off stderr, where the user has just seen them in human form.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlconnector.errors import UsageError
from mlconnector.redact import RedactingFilter, scrub, scrub_obj

LEVELS = ("error", "warning", "info", "debug")
FORMATS = ("text", "json")
# A 15-minute schedule writes a few hundred bytes a run; 10 MiB x 5 keeps months of history
# without ever filling a server's disk.
MAX_BYTES = 10 * 1024 * 1024
BACKUP_COUNT = 5

_MARK = "_mlconnector"  # set on our handlers, so a second setup (tests, demo) replaces them
summary_log = logging.getLogger("mlconnector.run")


def setup(level_name: str, *, log_file: str | os.PathLike[str] | None = None, fmt: str = "text") -> None:
    """Install the stderr handler and, with ``log_file``, the rotating file handler."""
    level = getattr(logging, level_name.upper(), None) if level_name.lower() in LEVELS else None
    if not isinstance(level, int):
        raise UsageError(f"unknown log level {level_name!r}; use " + ", ".join(LEVELS))
    if fmt not in FORMATS:
        raise UsageError(f"unknown log format {fmt!r}; use text or json")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _MARK, False):
            root.removeHandler(handler)
            handler.close()

    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    console.addFilter(_not_file_only)
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        file_handler = _open_file(Path(log_file).expanduser())
        file_handler.setLevel(min(level, logging.INFO))
        handlers.append(file_handler)
    formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    for handler in handlers:
        setattr(handler, _MARK, True)
        handler.addFilter(RedactingFilter())
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(min(h.level for h in handlers))
    # httpcore's debug log prints whole headers (Authorization included): never let it through.
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))


def _not_file_only(record: logging.LogRecord) -> bool:
    return not getattr(record, "file_only", False)


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Rotates by size; every file it creates is owner read/write only (logs name records)."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, self.mode, encoding=self.encoding, errors=self.errors)


def _open_file(path: Path) -> logging.Handler:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return _PrivateRotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT,
                                           encoding="utf-8", delay=False)
    except OSError as exc:
        raise UsageError(f"cannot open log file {path}: {exc.strerror or exc}",
                         hint="Choose a path in a directory the scheduled account can write.") from None


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


class TextFormatter(logging.Formatter):
    """``2026-11-22T05:10:00.123Z INFO mlconnector.run: message`` (the message carries what matters)."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, pid, and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(scrub_obj(fields))
        if record.exc_text:
            entry["traceback"] = scrub(record.exc_text)
        return json.dumps(entry, ensure_ascii=False, default=str)


def log_error(message: str) -> None:
    """Record an error the CLI has just shown on stderr (so the log file has it too)."""
    summary_log.error(message, extra={"file_only": True})


def run_summary(*, command: str, pair: str, exit_code: int, seconds: float, run_id: int | None = None,
                counts: dict[str, int] | None = None, dry_run: bool = False, error: str | None = None) -> None:
    """The one line a scheduled run leaves in the log: pair, counts by action, duration, exit code."""
    counts = dict(counts or {})
    words = [f"pair={pair}", f"run={run_id if run_id is not None else '-'}", f"exit={exit_code}"]
    words += [f"{action}={n}" for action, n in counts.items()]
    words.append(f"seconds={seconds:.1f}")
    if dry_run:
        words.append("dry_run=true")
    message = f"{command} summary: " + " ".join(words)
    if error:
        message += f" error={json.dumps(error.splitlines()[0], ensure_ascii=False)}"
    fields = {"event": "run_summary", "command": command, "pair": pair, "run_id": run_id, "exit_code": exit_code,
              "counts": counts, "seconds": round(seconds, 3), "dry_run": dry_run, "error": error}
    level = logging.INFO if exit_code == 0 else logging.WARNING if exit_code == 1 else logging.ERROR
    summary_log.log(level, message, extra={"file_only": True, "fields": fields})
