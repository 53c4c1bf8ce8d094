"""The per-pair run lock: process liveness, the heartbeat thread, release.

The lock row lives in the ``locks`` table; taking it is decided in one ``BEGIN IMMEDIATE`` by
:meth:`mlconnector.state.State.acquire_lock`. This module holds what runs outside that decision.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
from typing import Callable

from mlconnector.errors import FatalError, LockHolder

from ._rows import utcnow

log = logging.getLogger(__name__)

# `--force` takes over another host's lock once its heartbeat is at least this old.
FORCE_MIN_AGE = 60.0


def hostname() -> str:
    return socket.gethostname() or "unknown-host"


# --- process liveness --------------------------------------------------------------------------

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import ctypes
    from ctypes import wintypes

    _k32 = ctypes.WinDLL("kernel32", use_last_error=True)
    _k32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    _k32.OpenProcess.restype = wintypes.HANDLE
    _k32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
    _k32.GetExitCodeProcess.restype = wintypes.BOOL
    _k32.GetProcessTimes.argtypes = (wintypes.HANDLE,) + (ctypes.POINTER(wintypes.FILETIME),) * 4
    _k32.GetProcessTimes.restype = wintypes.BOOL
    _k32.CloseHandle.argtypes = (wintypes.HANDLE,)
    _k32.CloseHandle.restype = wintypes.BOOL
    _QUERY_LIMITED = 0x1000
    _STILL_ACTIVE = 259
    _ACCESS_DENIED = 5

    def pid_alive(pid: int) -> bool:
        # Never os.kill(pid, 0) on Windows: it terminates the process.
        if pid <= 0:
            return False
        handle = _k32.OpenProcess(_QUERY_LIMITED, False, pid)
        if not handle:
            return ctypes.get_last_error() == _ACCESS_DENIED
        try:
            code = wintypes.DWORD()
            if not _k32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return code.value == _STILL_ACTIVE
        finally:
            _k32.CloseHandle(handle)

    def process_start(pid: int) -> str | None:
        handle = _k32.OpenProcess(_QUERY_LIMITED, False, pid)
        if not handle:
            return None
        try:
            times = [wintypes.FILETIME() for _ in range(4)]
            if not _k32.GetProcessTimes(handle, *(ctypes.byref(t) for t in times)):
                return None
            created = times[0]
            return str((created.dwHighDateTime << 32) | created.dwLowDateTime)
        finally:
            _k32.CloseHandle(handle)

else:

    def _proc_stat(pid: int) -> list[str] | None:
        """Fields of /proc/<pid>/stat after the command name (Linux), or None."""
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                raw = fh.read().decode("ascii", "replace")
        except OSError:
            return None
        return raw[raw.rfind(")") + 2 :].split()

    def pid_alive(pid: int) -> bool:
        if pid <= 0:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        except OSError:
            return False
        fields = _proc_stat(pid)
        return not (fields and fields[0] in ("Z", "X"))  # a zombie is dead for our purpose

    def process_start(pid: int) -> str | None:
        fields = _proc_stat(pid)
        # starttime is field 22 of stat; fields[0] here is field 3 (state).
        return fields[19] if fields and len(fields) > 19 else None


def holder_alive(pid: int, proc_start: str | None) -> bool:
    """Whether the process that wrote a lock row on this host still runs.

    A pid that is alive but was started at another time is a reused pid (after a reboot, or in
    a fresh container where every run is pid 1): the holder is gone.
    """
    if not pid_alive(pid):
        return False
    if proc_start is None:
        return True
    now = process_start(pid)
    return now is None or now == proc_start


# --- the lock handle ---------------------------------------------------------------------------


class RunLock:
    """A held run lock. Use as a context manager; the heartbeat runs until :meth:`release`."""

    def __init__(
        self,
        pair: str,
        token: str,
        holder: LockHolder,
        connect: Callable[[], sqlite3.Connection],
        heartbeat_every: float,
        took_over: LockHolder | None = None,
    ) -> None:
        self.pair = pair
        self.token = token
        self.holder = holder
        #: the previous holder whose dead or stale lock this one replaced, if any
        self.took_over = took_over
        self._connect = connect
        self._every = heartbeat_every
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._released = False
        self._guard = threading.Lock()
        self._thread = threading.Thread(
            target=self._beat, name=f"mlconnector-lock-{pair}", daemon=True
        )
        self._thread.start()

    @property
    def lost(self) -> bool:
        """True once another process took the lock over (this run must stop writing)."""
        return self._lost.is_set()

    @property
    def released(self) -> bool:
        return self._released

    def check(self) -> None:
        """Raise FatalError if the lock was taken over by another process."""
        if self.lost:
            raise FatalError(
                f"the lock of pair {self.pair} was taken over by another process",
                hint="Another run considered this one stale. Stop this run; the other goes on.",
            )

    def _beat(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(self._every):
                try:
                    if conn is None:
                        conn = self._connect()
                    cur = conn.execute(
                        "UPDATE locks SET heartbeat_at = ? WHERE pair = ? AND token = ?",
                        (utcnow(), self.pair, self.token),
                    )
                    if cur.rowcount == 0:
                        log.warning("lock of pair %s was taken over by another process", self.pair)
                        self._lost.set()
                        return
                except sqlite3.Error as exc:  # busy for longer than busy_timeout: try next tick
                    log.debug("heartbeat for pair %s failed: %s", self.pair, exc)
        finally:
            if conn is not None:
                conn.close()

    def release(self) -> None:
        """Stop the heartbeat and delete the lock row if it is still ours. Idempotent."""
        with self._guard:
            if self._released:
                return
            self._released = True
            self._stop.set()
            self._thread.join()
            conn = self._connect()
            try:
                conn.execute("DELETE FROM locks WHERE pair = ? AND token = ?", (self.pair, self.token))
            finally:
                conn.close()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<RunLock pair={self.pair!r} pid={self.holder.pid} host={self.holder.host!r}>"
