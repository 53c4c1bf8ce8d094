"""The state file (SQLite): the only code in mlconnector that touches it.

Runs, watermarks and scan cursors, links between source and target records, the audit trail,
the quarantine, pending writes, mapping tables, the encrypted token cache and the per-pair run
lock. Open it with :func:`open_state`; see DESIGN.md §4 for how the engine uses it.
"""

from ._backup import BackupResult, backup_state, lock_is_held
from ._lock import RunLock
from ._rows import (
    AUDIT_ACTIONS,
    RUN_STATUSES,
    AuditEvent,
    Link,
    LinkConflict,
    PendingWrite,
    QuarantineRow,
    Run,
    StateReadOnly,
    Watermark,
)
from ._schema import LATEST as SCHEMA_VERSION
from ._state import State, open_state

__all__ = [
    "AUDIT_ACTIONS",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "AuditEvent",
    "BackupResult",
    "Link",
    "LinkConflict",
    "PendingWrite",
    "QuarantineRow",
    "Run",
    "RunLock",
    "State",
    "StateReadOnly",
    "Watermark",
    "backup_state",
    "lock_is_held",
    "open_state",
]
