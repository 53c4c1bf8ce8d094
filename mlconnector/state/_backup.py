"""`mlconnector state backup`: a consistent copy of the state file, taken while no run holds a lock.

The copy is made with SQLite's online backup API inside one read transaction, the same one in
which the locks were checked, so it is a single consistent snapshot (WAL included). It is
written to a temporary file next to the destination, checked, and renamed into place: a
destination path never holds half a copy.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from mlconnector.errors import LockBusy, UsageError

from . import _schema
from ._lock import holder_alive, hostname
from ._rows import parse_utc
from ._state import _connect, _create_file, _restrict, _translate, _holder


@dataclass(frozen=True)
class BackupResult:
    source: Path
    destination: Path
    schema_version: int
    bytes: int
    rows: dict[str, int]
    #: locks left in the copy (of runs that are gone, or taken over with --force)
    locks: list[str]


def lock_is_held(row: sqlite3.Row, *, stale_after: float) -> bool:
    """Whether a lock row belongs to a run that is still going: a live process on this host,
    or another host's heartbeat younger than ``stale_after`` seconds."""
    if row["host"] == hostname():
        return holder_alive(row["pid"], row["proc_start"])
    return time.time() - parse_utc(row["heartbeat_at"]) <= stale_after


def _fsync_dir(directory: Path) -> None:
    if os.name == "nt":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup_state(source: str | os.PathLike[str], destination: str | os.PathLike[str], *,
                 force: bool = False, overwrite: bool = False, stale_after: float = 600.0) -> BackupResult:
    """Copy the state file ``source`` to ``destination`` (a file path, or a directory to put
    ``<name>.backup-<UTC time>`` in).

    Raises LockBusy while a run holds a pair's lock (unless ``force``), UsageError for a missing
    or invalid source or an existing destination (unless ``overwrite``), FatalError for a source
    written by a newer mlconnector. The source file is only read.
    """
    source = Path(source).expanduser()
    destination = Path(destination).expanduser()
    if not source.is_file():
        raise UsageError(f"state file {source} does not exist" if not source.exists()
                         else f"state path {source} is not a file")
    if destination.is_dir():
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        destination = destination / f"{source.name}.backup-{stamp}"
    if destination.resolve() in (source.resolve(), Path(f"{source.resolve()}-wal"),
                                 Path(f"{source.resolve()}-shm")):
        raise UsageError(f"the backup must go to another file than the state file {source}")
    if destination.exists() and not overwrite:
        raise UsageError(f"{destination} already exists", hint="Pass --overwrite to replace it.")
    if not destination.parent.is_dir():
        raise UsageError(f"directory {destination.parent} does not exist")

    tmp = destination.parent / f".{destination.name}.tmp-{os.getpid()}"
    src: sqlite3.Connection | None = None
    dst: sqlite3.Connection | None = None
    try:
        try:
            # Read-only: never writes the source (a file that is not ours stays as it is).
            src = _connect(source.resolve().as_uri() + "?mode=ro", uri=True)
            src.execute("BEGIN")  # one read snapshot for the lock check and the copy
            version = _schema.check_version(src, str(source))
            if version == 0:
                raise UsageError(f"{source} is an empty SQLite file, not an mlconnector state file")
            locks = src.execute("SELECT * FROM locks ORDER BY pair").fetchall()
            held = [r for r in locks if lock_is_held(r, stale_after=stale_after)]
            if held and not force:
                raise LockBusy(held[0]["pair"], _holder(held[0]))
            _create_file(tmp)
            _restrict(tmp)
            dst = sqlite3.connect(str(tmp), isolation_level=None)
            src.backup(dst)
            src.execute("COMMIT")
            # A self-contained single file: no WAL to carry around with the copy.
            dst.execute("PRAGMA journal_mode = DELETE").fetchone()
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":  # pragma: no cover - SQLite copied pages it could read
                raise UsageError(f"the copy of {source} failed its integrity check: {check}")
            rows = {t: dst.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in _schema.TABLES}
            dst.close()
            dst = None
        except sqlite3.Error as exc:
            raise _translate(source, exc) from exc
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, destination)
        _fsync_dir(destination.parent)
    finally:
        if dst is not None:
            dst.close()
        if src is not None:
            src.close()
        if tmp.exists():
            tmp.unlink()
    return BackupResult(
        source=source, destination=destination, schema_version=version,
        bytes=destination.stat().st_size, rows=rows,
        locks=[f"{r['pair']} (process {r['pid']} on {r['host']})" for r in locks],
    )
