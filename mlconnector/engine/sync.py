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
from mlconnector.pairs import build_streams, check_pair, pass_names
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

    def run_streams(passes: dict[str, StreamPass]) -> None:
        for stream_pass in passes.values():
            if stream_pass.stream.config_name in enabled:
                stream_pass.run(full=full)

    return _run(config, pair_name, enabled, run_streams, dry_run=dry_run, force=force, on_progress=on_progress)


def replay_record(config: Config, pair_name: str, stream: str, source_key: str) -> SyncReport:
    """Read one record again, map it again and push it now, with the same idempotency key."""
    names = pass_names(config, pair_name)
    if stream not in names:
        raise UsageError(f"pair {pair_name} has no stream {stream}; it has: {', '.join(names)}")

    def replay(passes: dict[str, StreamPass]) -> None:
        passes[stream].sync_one(source_key, force=True)

    return _run(config, pair_name, [stream], replay, dry_run=False, force=False, on_progress=None)


def _run(config: Config, pair_name: str, streams: list[str], body: Callable[[dict[str, StreamPass]], None], *,
         dry_run: bool, force: bool, on_progress) -> SyncReport:
    """Lock, open clients, record the run, let ``body`` drive the stream passes, book the outcome."""
    pair = config.pair(pair_name)
    # Options that cannot work together, and a missing secret, stop here, before the state is touched.
    check_pair(pair, config.system(pair.source).kind, config.system(pair.target).kind)
    for system in (pair.source, pair.target):
        check_credentials(config, system)
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
            report.run_id = state.start_run(pair_name, streams=streams)
        log.info("%s: %s started (streams: %s)", pair_name,
                 f"run {report.run_id}" if report.run_id else "dry run", ", ".join(streams))
        report.exit_code = ExitCode.FATAL  # until the streams are through
        passes: dict[str, StreamPass] = {}
        for stream in build_streams(pair, source, target, mappings=lambda kind: state.mappings_of(pair_name, kind)):
            stream_report = StreamReport(stream.name)
            passes[stream.name] = StreamPass(state=state, pair=pair_name, stream=stream, run_id=report.run_id,
                                             dry_run=dry_run, report=stream_report, on_progress=on_progress)
        for stream_pass in passes.values():
            stream_pass.passes = passes
        try:
            body(passes)
            if dry_run:
                report.quarantine_total = sum(p.report.counts["quarantine"] for p in passes.values())
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
            # Streams that ran, and those touched as references of others.
            report.streams = [p.report for name, p in passes.items()
                              if name in streams or p.stream.config_name in streams or p.report.counts.by_action]
            report.seconds = time.monotonic() - started
            for stream_report in report.streams:
                log.info("%s/%s: %s", pair_name, stream_report.name,
                         ", ".join(f"{a}={n}" for a, n in sorted(stream_report.counts.by_action.items())) or "nothing")
            report.requests = {pair.source: _requests(source), pair.target: _requests(target)}
            if report.run_id is not None:
                state.finish_run(report.run_id, status=report.status, exit_code=int(report.exit_code),
                                 counts=report.totals(), message=str(report.error) if report.error else None)
    return report
