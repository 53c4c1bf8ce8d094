"""Run one pass of a pair: lock, run record, streams in order, exit code.

This is the library entry point behind ``mlconnector sync``; the CLI only renders the report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

from mlconnector.config import Config
from mlconnector.connect import check_credentials, open_client
from mlconnector.engine.runner import StreamPass, StreamReport
from mlconnector.errors import ExitCode, FatalError, MlconnectorError, UsageError
from mlconnector.pairs import build_streams
from mlconnector.state import open_state

log = logging.getLogger("mlconnector.engine")

# A lock whose heartbeat is older than this, held on another host, is taken over.
LOCK_STALE_AFTER = 600.0

_STATUS = {ExitCode.OK: "ok", ExitCode.QUARANTINED: "quarantined", ExitCode.PAUSED: "paused"}


@dataclass
class SyncReport:
    pair: str
    dry_run: bool
    run_id: int | None = None
    streams: list[StreamReport] = field(default_factory=list)
    exit_code: ExitCode = ExitCode.OK
    error: MlconnectorError | None = None
    seconds: float = 0.0
    requests: dict[str, dict[str, int]] = field(default_factory=dict)
    quarantine_total: int = 0

    @property
    def status(self) -> str:
        return _STATUS.get(self.exit_code, "failed")

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for stream in self.streams:
            for action, n in stream.counts.by_action.items():
                totals[action] = totals.get(action, 0) + n
        return totals


def _requests(client) -> dict[str, int]:
    counts = {"reads": client.reads, "writes": client.writes}
    tokens = getattr(client, "tokens", None)
    if tokens is not None:
        counts["token"] = tokens.requests
    return counts


def sync_pair(
    config: Config,
    pair_name: str,
    *,
    streams: list[str] | None = None,
    dry_run: bool = False,
    full: bool = False,
    force: bool = False,
    on_progress: Callable[[StreamReport], None] | None = None,
) -> SyncReport:
    """One pull → map → push pass of ``pair_name``.

    Errors before the run starts (bad arguments, missing credentials, a busy lock) are raised.
    An error during the run is recorded in the report and the run's row instead, after what
    was done is checkpointed: the report's exit code says what kind it was.
    """
    pair = config.pair(pair_name)
    enabled = [s.name for s in pair.enabled_streams()]
    if streams:
        unknown = [s for s in streams if s not in pair.streams]
        if unknown:
            raise UsageError(f"pair {pair_name} has no stream {', '.join(unknown)}; it has: {', '.join(pair.streams)}")
        enabled = [s for s in enabled if s in streams]
        if not enabled:
            raise UsageError(f"stream {', '.join(streams)} of pair {pair_name} is not enabled in {config.path}")
    for system in (pair.source, pair.target):
        check_credentials(config, system)  # a missing secret stops here, before the state is touched
    report = SyncReport(pair=pair_name, dry_run=dry_run)
    started = time.monotonic()
    with ExitStack() as stack:
        # A dry run opens the state read-only and takes no lock: it writes nothing at all.
        state = stack.enter_context(open_state(config.state_path, readonly=dry_run))
        if not dry_run:
            stack.enter_context(state.acquire_lock(pair_name, stale_after=LOCK_STALE_AFTER, force=force))
        source = stack.enter_context(open_client(config, pair.source, state=state))
        target = stack.enter_context(open_client(config, pair.target, state=state))
        if not dry_run:
            report.run_id = state.start_run(pair_name, streams=enabled)
        report.exit_code = ExitCode.FATAL  # until the streams are through
        try:
            for stream in build_streams(pair, source, target):
                if stream.name in enabled:
                    stream_report = StreamReport(stream.name)
                    report.streams.append(stream_report)
                    StreamPass(state=state, pair=pair_name, stream=stream, run_id=report.run_id, dry_run=dry_run,
                               report=stream_report, on_progress=on_progress).run(full=full)
            if dry_run:
                report.quarantine_total = sum(s.counts["quarantine"] for s in report.streams)
            else:
                report.quarantine_total = len(state.quarantined(pair_name))
            report.exit_code = ExitCode.QUARANTINED if report.quarantine_total else ExitCode.OK
        except MlconnectorError as exc:
            report.error, report.exit_code = exc, exc.exit_code
            log.error("%s", exc)
        except KeyboardInterrupt:
            report.error = FatalError("interrupted; everything up to the last checkpoint is kept")
            raise
        finally:
            report.seconds = time.monotonic() - started
            report.requests = {pair.source: _requests(source), pair.target: _requests(target)}
            if report.run_id is not None:
                state.finish_run(report.run_id, status=report.status, exit_code=int(report.exit_code),
                                 counts=report.totals(), message=str(report.error) if report.error else None)
    return report
