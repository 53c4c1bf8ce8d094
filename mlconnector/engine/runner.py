"""One pass of one stream: reconcile, retry quarantine, pull → map → decide → push → checkpoint.

The rules are DESIGN.md §4. In short:

* Decide with the link table: unchanged payload hash → skip, with no request; linked →
  update; not linked → the target's match (external key, then natural key); one match →
  link; none → create; several → quarantine as ambiguous. Never create blind.
* Writes are recorded as pending (committed) before they are sent, and cleared in the same
  transaction that records their outcome. A pending write left by a crash is reconciled by
  looking the idempotency key up in the target before anything else happens.
* Records are buffered across source pages until a full target batch is ready; then the whole
  batches are pushed (the rest waits for the next page) and everything they touched is
  checkpointed in one transaction: links, audit rows, quarantine rows, cleared pending writes
  and the stream's resume cursor, set to the last page all of whose records are recorded. The
  watermark moves only when a scan completes, so it never passes a record that was neither
  pushed nor quarantined.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from mlconnector.engine.stream import Counts, Mapped, Reference, SourcePage, Stream, Write, WriteResult
from mlconnector.errors import MlconnectorError, RecordError
from mlconnector.redact import scrub

log = logging.getLogger("mlconnector.engine")


def _record_id(stream: str, key: str) -> str:
    from mlconnector.pairs import record_id

    return record_id(stream, key)

# Flush the buffer at this many decided records even when few of them need a write, so skips
# and quarantines are checkpointed regularly on a long idle scan.
MAX_BUFFERED_RECORDS = 2000
# A dry run lists at most this many planned actions (the counts are always complete).
MAX_PLANNED = 5000


@dataclass
class Decision:
    source_key: str
    action: str  # create | update | link | skip | quarantine
    row: dict | None = None
    mapped: Mapped | None = None
    target_id: str | None = None
    message: str = ""
    write: Write | None = None
    result: WriteResult | None = None
    pending_id: int | None = None


@dataclass(frozen=True)
class PlannedAction:
    stream: str
    source_key: str
    action: str
    target: str
    message: str


@dataclass
class StreamReport:
    name: str
    counts: Counts = field(default_factory=Counts)
    planned: list[PlannedAction] = field(default_factory=list)


class LinkView:
    """The links of one stream, or those of another stream read backwards.

    A record synced both ways has one link: a Procore vendor id <-> Intacct vendor id row, kept
    under the stream that created it. The reverse pass sees that row with source and target
    swapped, and both directions compare against its one last-synced hash: a change written by
    one direction reads back identical in the other and is skipped, never echoed.
    """

    def __init__(self, state, pair: str, stream: str, reverse_of: str | None = None) -> None:
        self.state, self.pair = state, pair
        self.stream = reverse_of or stream
        self.reverse = reverse_of is not None

    def _flip(self, link):
        if link is None or not self.reverse:
            return link
        return replace(link, source_key=link.target_id, target_id=link.source_key)

    def get(self, key: str):
        if self.reverse:
            return self._flip(self.state.link_for_target(self.pair, self.stream, key))
        return self.state.get_link(self.pair, self.stream, key)

    def for_keys(self, keys: list[str]) -> dict:
        if not self.reverse:
            return self.state.links_for(self.pair, self.stream, keys)
        found = {key: self.get(key) for key in keys}
        return {key: link for key, link in found.items() if link is not None}

    def for_target(self, target_id: str):
        if self.reverse:
            return self._flip(self.state.get_link(self.pair, self.stream, target_id))
        return self.state.link_for_target(self.pair, self.stream, target_id)

    def upsert(self, key: str, target_id: str, payload_hash: str | None) -> None:
        if self.reverse:
            self.state.upsert_link(self.pair, self.stream, target_id, key, payload_hash)
        else:
            self.state.upsert_link(self.pair, self.stream, key, target_id, payload_hash)

    def delete(self, key: str) -> None:
        link = self.get(key)
        if link is not None:
            self.state.delete_link(self.pair, self.stream, link.target_id if self.reverse else key)

    def target_ids(self) -> set[str]:
        return self.state.linked_ids(self.pair, self.stream, side="source" if self.reverse else "target")


class StreamPass:
    def __init__(
        self,
        *,
        state,
        pair: str,
        stream: Stream,
        run_id: int | None,
        dry_run: bool,
        report: StreamReport,
        on_progress: Callable[[StreamReport], None] | None = None,
    ) -> None:
        self.state = state
        self.pair = pair
        self.stream = stream
        self.target = stream.target
        self.run_id = run_id
        self.dry_run = dry_run
        self.report = report
        self.on_progress = on_progress or (lambda report: None)
        self.links = LinkView(state, pair, stream.name, stream.reverse_of)
        self._seen: set[str] = set()
        self._claimed: set[str] | None = None
        # Dry run: what was planned for each record (action, target id, message), so a record
        # that refers to it can be planned as the real run would write it.
        self._planned: dict[str, tuple[str, str | None, str]] = {}
        # The passes of the pair's other streams, for references that are synced first.
        self.passes: dict[str, StreamPass] = {}

    # -- the pass ---------------------------------------------------------------------

    def run(self, *, full: bool = False) -> None:
        self.reconcile_pending()
        self.retry_quarantine()
        mark = self.state.get_watermark(self.pair, self.stream.name)
        watermark = None if full else mark.value
        cursor = None if full else mark.cursor
        buffered: list[Decision] = []
        # (len(buffered) once the page was decided, page): which pages a flush covers entirely.
        ends: list[tuple[int, SourcePage]] = []
        for page in self.stream.scan(watermark=watermark, cursor=cursor):
            buffered.extend(self.decide(page.rows))
            ends.append((len(buffered), page))
            if page.done or len(buffered) >= MAX_BUFFERED_RECORDS:
                cut = len(buffered)
            else:
                cut = self._full_batches_end(buffered)
                if not cut:
                    continue
            # Push only whole batches mid-scan; the rest waits for the next page. The cursor
            # moves to the last page whose every record is now recorded, never further.
            covered = [p for end, p in ends if end <= cut]
            self.push_and_checkpoint(buffered[:cut], covered[-1] if covered else None)
            buffered = buffered[cut:]
            ends = [(end - cut, p) for end, p in ends if end > cut]

    def _full_batches_end(self, decisions: list[Decision]) -> int:
        """The length of the longest prefix of ``decisions`` holding whole target batches (0: none)."""
        size = self.target.batch_size
        wanted = sum(1 for d in decisions if d.write is not None) // size * size
        if not wanted:
            return 0
        seen = 0
        for i, d in enumerate(decisions):
            if d.write is not None:
                seen += 1
                if seen == wanted:
                    return i + 1
        return len(decisions)

    def reconcile_pending(self) -> None:
        """Settle writes a crashed run sent without recording their outcome (DESIGN.md §4.7)."""
        if self.dry_run:
            return
        pending = self.state.pending(self.pair, self.stream.name)
        if not pending:
            return
        log.info("%s/%s: reconciling %d writes left pending by an interrupted run",
                 self.pair, self.stream.name, len(pending))
        found = self.target.find_many(list(dict.fromkeys(w.idempotency_key for w in pending)))
        for write in pending:
            target_id = found.get(write.idempotency_key)
            with self.state.transaction():
                if target_id:
                    self._link(write.source_key, target_id, payload_hash=None)
                    self._audit(write.source_key, "link", target_id,
                                "found in the target after an interrupted run; will be brought up to date")
                    self.report.counts.add("link")
                self.state.clear_pending([write.id])

    def retry_quarantine(self) -> None:
        """Read every quarantined record again and put it through the pass."""
        rows: list[dict] = []
        gone: list[Decision] = []
        for held in self.state.quarantined(self.pair, self.stream.name):
            row = self.stream.fetch(held.source_key)
            if row is None:
                gone.append(self._gone(held.source_key, held.payload))
                self._seen.add(held.source_key)
            else:
                rows.append(row)
        decisions = gone + self.decide(rows)
        if decisions:
            self.push_and_checkpoint(decisions, page=None)

    def sync_one(self, source_key: str, *, force: bool = False) -> Decision:
        """Read one record again and push it now (replay, or a reference synced first).

        ``force`` writes it even when its payload is unchanged, with the same idempotency key.
        """
        if source_key in self._seen and not force:
            return Decision(source_key, "skip", message="already handled in this run")
        row = self.stream.fetch(source_key)
        if row is None:
            self._seen.add(source_key)
            decisions = [self._gone(source_key, {})]
        else:
            self._seen.discard(self.stream.source_key(row))
            decisions = self.decide([row], force=force)
        self.push_and_checkpoint(decisions, page=None)
        return decisions[0] if decisions else Decision(source_key, "skip", message="already handled in this run")

    def _gone(self, source_key: str, payload: dict) -> Decision:
        return Decision(source_key, "quarantine", row=payload,
                        message=f"{self.stream.noun} {source_key} no longer exists in the source; "
                        "discard it with `mlconnector quarantine discard`")

    # -- deciding ---------------------------------------------------------------------

    def decide(self, rows: list[dict], *, force: bool = False) -> list[Decision]:
        keyed: list[tuple[str, dict]] = []
        for row in rows:
            key = self.stream.source_key(row)
            if key in self._seen:
                continue  # rows shift between pages while a scan runs; handle each once
            self._seen.add(key)
            keyed.append((key, row))
        links = self.links.for_keys([k for k, _ in keyed])
        self.target.expect_matches(sum(1 for k, _ in keyed if k not in links))
        decisions = []
        for key, row in keyed:
            try:
                refs, created_first = self._resolve(row)
                mapped = self.stream.map(row, refs)
                # A dry run writes nothing, so ask the target what would stop the write.
                problem = self.target.check(key, mapped) if self.dry_run else None
            except RecordError as exc:
                decisions.append(Decision(key, "quarantine", row=row, message=str(exc)))
                continue
            link = links.get(key)
            if problem:
                decisions.append(Decision(key, "quarantine", row=row, mapped=mapped,
                                          target_id=link.target_id if link else None,
                                          message=f"{self.stream.noun} {key}: {problem}"))
            elif created_first:
                # Dry run: what it refers to does not exist yet, so neither can a match for it.
                note = f"once {', '.join(created_first)} is created earlier in this run"
                decisions.append(Decision(key, "update" if link else "create", row=row, mapped=mapped,
                                          target_id=link.target_id if link else None, message=note))
            else:
                decisions.append(self._decide_one(key, row, mapped, link, force=force))
        return decisions

    def _resolve(self, row: dict) -> tuple[dict[Reference, str], list[str]]:
        """The target id of each record this row refers to, syncing one first where allowed.

        A dry run syncs nothing first: it plans the reference instead, and when the reference
        would be created, gives a placeholder id and names it in the second value."""
        refs: dict[Reference, str] = {}
        created_first: list[str] = []
        for ref in self.stream.references(row):
            other = self.passes.get(ref.stream)
            links = other.links if other is not None else LinkView(self.state, self.pair, ref.stream)
            link = links.get(ref.source_key)
            if link is None and ref.sync_first and other is not None and not self.dry_run:
                other.sync_one(ref.source_key)
                link = links.get(ref.source_key)
            if link is not None:
                refs[ref] = link.target_id
                continue
            planned = other.planned(ref.source_key, sync_first=ref.sync_first) if self.dry_run and other else None
            if planned is not None and planned[0] in ("create", "link"):
                refs[ref] = planned[1] or f"(new {ref.what})"
                if planned[0] == "create":
                    created_first.append(ref.what)
                continue
            held = self.state.find_quarantine(self.pair, ref.stream, ref.source_key)
            why = f": {held.reason}" if held else (f": {planned[2]}" if planned and planned[2] else "")
            raise RecordError(f"{self.stream.noun} {self.stream.source_key(row)} waits for {ref.what}, "
                              f"which is not in the target yet{why}" + (f". {ref.hint}" if ref.hint else ""))
        return refs, created_first

    def planned(self, source_key: str, *, sync_first: bool) -> tuple[str, str | None, str] | None:
        """Dry run: (action, target id, message) planned for a record, planning it now when it
        would be synced first and was not yet; None when this run does not handle it."""
        if source_key not in self._planned and sync_first and source_key not in self._seen:
            self.sync_one(source_key)
        return self._planned.get(source_key)

    def _decide_one(self, key: str, row: dict, mapped: Mapped, link, *, force: bool = False) -> Decision:
        idem = self.target.idempotency_key(key)
        note = "; ".join(mapped.warnings)
        if link is not None:
            if link.payload_hash == mapped.payload_hash and not force:
                return Decision(key, "skip", row=row, mapped=mapped, target_id=link.target_id, message="unchanged")
            if self.stream.two_way and link.payload_hash and not force:
                settled = self._two_way(key, row, mapped, link)
                if settled is not None:
                    return settled
            return Decision(key, "update", row=row, mapped=mapped, target_id=link.target_id, message=note,
                            write=Write(key, idem, link.target_id, mapped.payload))
        match = self.target.match(key, mapped, claimed=self.claimed)
        if match.ambiguous:
            names = ", ".join(self.target.describe(c) for c in match.candidates)
            return Decision(
                key, "quarantine", row=row, mapped=mapped,
                message=f"{self.stream.noun} {key} ({mapped.label}) matches {len(match.candidates)} target records "
                f"by name: {names}. Link the right one with "
                f"`mlconnector mappings link {self.stream.name.rstrip('s')} {key} <target-id>`",
            )
        if match.target_id:
            self.claimed.add(match.target_id)
            message = f"matched by {match.how}" + (f"; {note}" if note else "")
            return Decision(key, "link", row=row, mapped=mapped, target_id=match.target_id, message=message,
                            write=Write(key, idem, match.target_id, mapped.payload))
        return Decision(key, "create", row=row, mapped=mapped, message=note,
                        write=Write(key, idem, None, mapped.payload))

    def _two_way(self, key: str, row: dict, mapped: Mapped, link) -> Decision | None:
        """A record changed here since the last sync: did the target change too?

        Unchanged there → None (update it). Changed to the same content → link, nothing to
        write. Changed to something else → conflict: quarantined, neither side overwritten,
        until a person makes them agree or replays the side that wins.
        """
        theirs = self.target.current(link.target_id)
        if theirs is None or theirs.payload_hash == link.payload_hash:
            return None
        if theirs.payload_hash == mapped.payload_hash:
            return Decision(key, "link", row=row, mapped=mapped, target_id=link.target_id,
                            message="already the same on both sides")
        fields = sorted(k for k in set(mapped.payload) | set(theirs.payload)
                        if mapped.payload.get(k) != theirs.payload.get(k))
        shown = "; ".join(f"{f}: {mapped.payload.get(f)!r} here, {theirs.payload.get(f)!r} there" for f in fields[:5])
        return Decision(
            key, "quarantine", row=row, mapped=mapped, target_id=link.target_id,
            message=f"{self.stream.noun} {key} ({mapped.label}) changed on both sides since the last sync "
            f"({shown}). Make the two agree, or push this side over the other with "
            f"`mlconnector replay {_record_id(self.stream.name, key)}`",
        )

    @property
    def claimed(self) -> set[str]:
        """Target ids linked to some source record: a name match never takes them."""
        if self._claimed is None:
            self._claimed = self.links.target_ids()
        return self._claimed

    # -- pushing and checkpointing ----------------------------------------------------

    def push_and_checkpoint(self, decisions: list[Decision], page: SourcePage | None) -> None:
        writes = [d for d in decisions if d.write is not None]
        if self.dry_run:
            self._plan(decisions)
            return
        for start in range(0, len(writes), self.target.batch_size):
            self._push(writes[start:start + self.target.batch_size])
        with self.state.transaction():
            for decision in decisions:
                self._record(decision)
            if page is not None:
                if page.done:
                    self.state.set_watermark(self.pair, self.stream.name, page.watermark)
                    self.state.set_cursor(self.pair, self.stream.name, None)
                else:
                    self.state.set_cursor(self.pair, self.stream.name, page.cursor)
        self.on_progress(self.report)

    def _push(self, batch: list[Decision]) -> None:
        pending_ids = self.state.add_pending_many([
            dict(pair=self.pair, stream=self.stream.name, source_key=d.source_key,
                 idempotency_key=d.write.idempotency_key, operation=d.action, run_id=self.run_id)
            for d in batch
        ])
        try:
            results = self.target.write([d.write for d in batch])
        except MlconnectorError as exc:
            # The outcome is unknown: the pending rows stay for the next run to reconcile.
            with self.state.transaction():
                for d in batch:
                    self._audit(d.source_key, "fail", d.target_id, f"write not confirmed: {exc.message}")
            raise
        for decision, pending_id in zip(batch, pending_ids, strict=True):
            decision.result = results.get(decision.source_key) or WriteResult(error="no outcome reported")
            decision.pending_id = pending_id

    def _record(self, d: Decision) -> None:
        """Book one decision's outcome: link, audit, quarantine in or out, pending write cleared."""
        failed = d.result is not None and d.result.error is not None
        if d.action == "quarantine" or failed:
            reason = f"{self.stream.noun} {d.source_key}: {d.result.error}" if failed else d.message
            self.state.quarantine(self.pair, self.stream.name, d.source_key, payload=d.row or {}, reason=reason,
                                  run_id=self.run_id)
            self._audit(d.source_key, "quarantine", d.target_id, reason)
            self.report.counts.add("quarantine")
            if failed and d.result.target_id:
                # Written, but not completely: link it so the next try updates, not creates.
                self._link(d.source_key, d.result.target_id, payload_hash=None)
        else:
            target_id = d.result.target_id if d.result else d.target_id
            if d.action != "skip":
                self._link(d.source_key, target_id, payload_hash=d.mapped.payload_hash)
            self._release(d.source_key)
            self._audit(d.source_key, d.action, target_id, d.message)
            self.report.counts.add(d.action)
        if d.pending_id is not None:
            self.state.clear_pending([d.pending_id])

    def _link(self, source_key: str, target_id: str, *, payload_hash: str | None) -> None:
        """Link, first dropping a link that ties this target record to another source record.

        That only happens when the target says otherwise (the record carries our key for
        ``source_key``); the target's word wins.
        """
        other = self.links.for_target(target_id)
        if other is not None and other.source_key != source_key:
            self.links.delete(other.source_key)
            self._audit(other.source_key, "unlink", target_id,
                        f"target {target_id} carries the key of {source_key}; link moved")
        self.links.upsert(source_key, target_id, payload_hash)

    def _release(self, source_key: str) -> None:
        self.state.release(self.pair, self.stream.name, source_key)

    def _audit(self, source_key: str, action: str, target_id: str | None, message: str) -> None:
        if self.run_id is None:
            return
        self.state.add_audit(self.run_id, self.pair, self.stream.name, source_key, action,
                             target_id=target_id, message=scrub(message) if message else None)

    def _plan(self, decisions: Iterable[Decision]) -> None:
        for d in decisions:
            self._planned[d.source_key] = (d.action, d.target_id, d.message)
            self.report.counts.add(d.action)
            if len(self.report.planned) < MAX_PLANNED:
                target = self.target.describe(d.target_id) if d.target_id else ("new" if d.action == "create" else "")
                self.report.planned.append(PlannedAction(self.stream.name, d.source_key, d.action, target, d.message))
        self.on_progress(self.report)
