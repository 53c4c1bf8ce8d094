"""Procore subcontractor invoices (requisitions) as a target (procore.md §5.7).

There is no sync endpoint: before creating one we look its ``origin_id`` up in the project, so
a retry or a replay updates the invoice it created instead of creating a second one. Procore
creates one contract item per commitment line; each source invoice line bills the item of the
commitment line it names (by the line's ``origin_id``). Procore's own rules — an open billing
period, only the latest open invoice may change — come back as record-level errors.

Procore takes a new invoice only into an open billing period of its project (procore.md §5.7,
§9). So before a create, the project's billing periods are read (once per project per run) and,
when none is open, the invoice stays in quarantine saying so, without a write: a held invoice is
retried at the start of every sync, and a refused POST on each of them would be a write on every
run of a sync with nothing to do. Procore's 422 on the create is still handled (the period may
close between the read and the write).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from mlconnector.engine.stream import Mapped, Match, Target, Write, WriteResult
from mlconnector.errors import RemoteError, ResponseError
from mlconnector.pairs._procore_documents import split_target_id
from mlconnector.pairs._procore_projects import ProjectDirectory
from mlconnector.systems.procore import ProcoreClient, readers, writers

# The answers that mean "this invoice cannot go in as it is", not "the run cannot go on".
RECORD_LEVEL_STATUSES = (400, 404, 409, 422)
# A refused read of a project's billing periods (no permission on the tool, no such list for this
# account): cannot tell, so the create is tried and Procore's own answer decides, as before.
UNREADABLE_STATUSES = (403, 404)


def any_open_period(periods: list[dict]) -> bool | None:
    """Whether one of a project's billing periods is open: True, False, or None when it cannot be told.

    The list endpoint and its ``status`` field are in Procore's OAS (``BillingPeriod``), but the
    values ``status`` takes are not documented (UNVERIFIED; the sandbox uses ``open``/``closed``).
    So only an empty list, or one whose periods all say ``closed``, counts as "none open"; any
    other value lets the create go to Procore, whose 422 then says what is wrong.
    """
    statuses = {str(p.get("status") or "").strip().casefold() for p in periods}
    if "open" in statuses:
        return True
    return False if statuses <= {"closed"} else None


class RequisitionTarget(Target):
    batch_size = 1
    stream = "po_invoices"  # the stream whose records this target writes (for `replay` hints)

    def __init__(self, client: ProcoreClient, *, origin_prefix: str, line_origin_prefix: str,
                 directory: ProjectDirectory) -> None:
        self.client = client
        self.origin_prefix = origin_prefix
        # Commitment lines are "<PO origin_id>:<line>"; the PO origin_id is this prefix + PO number.
        self.line_origin_prefix = line_origin_prefix
        self.directory = directory  # project numbers and names for messages, shared with the PO stream
        # Project id -> an open billing period (True), none (False), cannot tell (None). The
        # instance lives for one run, so each project's periods are read once per run.
        self._open_period: dict[int, bool | None] = {}

    def idempotency_key(self, source_key: str) -> str:
        return self.origin_prefix + source_key

    def match(self, source_key: str, mapped: Mapped, *, claimed: set[str]) -> Match:
        project_id, _ = split_target_id(mapped.payload["commitment"])
        found = readers.find_requisitions_by_origin_id(self.client, project_id, self.idempotency_key(source_key))
        return Match(f"{project_id}/{found[0]['id']}", how="origin_id") if found else Match()

    def find(self, idempotency_key: str) -> str | None:
        for project in readers.list_projects(self.client):
            found = readers.find_requisitions_by_origin_id(self.client, int(project["id"]), idempotency_key)
            if found:
                return f"{project['id']}/{found[0]['id']}"
        return None

    def write(self, writes: list[Write]) -> dict[str, WriteResult]:
        results = {}
        for w in writes:
            try:
                results[w.source_key] = self._write_one(w)
            except ResponseError as exc:
                if exc.status not in RECORD_LEVEL_STATUSES:
                    raise
                results[w.source_key] = WriteResult(target_id=w.target_id, error=f"Procore refused it: {exc.reason}")
        return results

    def _write_one(self, w: Write) -> WriteResult:
        payload = w.payload
        project_id, commitment_id = split_target_id(payload["commitment"])
        requisition = {"invoice_number": payload["invoice_number"], "origin_id": w.idempotency_key}
        if payload.get("billing_date"):
            requisition["billing_date"] = payload["billing_date"]
        # Always by origin_id, even when linked: what Procore holds decides create or update.
        found = readers.find_requisitions_by_origin_id(self.client, project_id, w.idempotency_key)
        current = found[0] if found else None
        if current is None:
            if self.open_period(project_id) is False:
                # Nothing is sent: the record stays in quarantine and the next sync reads again.
                return WriteResult(target_id=w.target_id, error=self.no_open_period(project_id, w.source_key))
            try:
                current = writers.create_requisition(self.client, project_id, commitment_id, requisition)
            except ResponseError as exc:
                # An earlier attempt whose answer was lost may have created it; the client's retry
                # is then refused (origin_id taken). Carry on with that one instead of a second.
                if exc.status not in RECORD_LEVEL_STATUSES:
                    raise
                found = readers.find_requisitions_by_origin_id(self.client, project_id, w.idempotency_key)
                if not found:
                    if exc.status == 422 and "billing period" in exc.reason.casefold():
                        # The period closed since it was read, or its status could not be told:
                        # the project's other invoices of this run wait without being sent.
                        self._open_period[project_id] = False
                    raise
                current = found[0]
        elif any(str(current.get(k) or "") != str(v) for k, v in requisition.items()):
            # Only when something differs: Procore lets only the latest open invoice change.
            writers.update_requisition(self.client, project_id, commitment_id, int(current["id"]), requisition)
        requisition_id = int(current["id"])
        target_id = f"{project_id}/{requisition_id}"
        error = self._bill_lines(project_id, commitment_id, requisition_id, payload)
        return WriteResult(target_id=target_id, error=error)

    def _bill_lines(self, project_id: int, commitment_id: int, requisition_id: int, payload: dict) -> str | None:
        """Put each invoice line's amount on the contract item of the commitment line it bills.

        Only items whose amount differs are written; an item of the PO no line bills any more is
        set back to zero."""
        po_prefix = f"{self.line_origin_prefix}{payload['po']}:"
        commitment_lines = {
            str(line.get("origin_id"))[len(po_prefix):]: int(line["id"])
            for line in readers.commitment_line_items(self.client, project_id, commitment_id)
            if str(line.get("origin_id") or "").startswith(po_prefix)
        }
        items = {int(item["line_item_id"]): item
                 for item in readers.requisition_contract_items(self.client, project_id, requisition_id)
                 if item.get("line_item_id") is not None}
        billed: dict[int, Decimal] = {}
        problems = []
        for line in payload["lines"]:
            po_line = line["po_line"] or (next(iter(commitment_lines)) if len(commitment_lines) == 1 else "")
            line_item_id = commitment_lines.get(po_line)
            if line_item_id is None or line_item_id not in items:
                problems.append(f"invoice line {line['line']} bills PO line {po_line or '?'}, which the "
                                "commitment in Procore does not have")
                continue
            billed[line_item_id] = billed.get(line_item_id, Decimal(0)) + Decimal(line["amount"])
        for line_item_id in dict.fromkeys(commitment_lines.values()):
            item = items.get(line_item_id)
            if item is None:
                continue
            amount = billed.get(line_item_id, Decimal(0))
            if _amount(item.get("work_completed_this_period")) != amount:
                writers.update_requisition_item(self.client, project_id, requisition_id, int(item["id"]), str(amount))
        return "; ".join(problems) or None

    def describe(self, target_id: str) -> str:
        return f"subcontractor invoice {target_id}"

    def check(self, source_key: str, mapped: Mapped) -> str | None:
        """Dry run: an invoice not in Procore yet, on a project without an open billing period."""
        try:
            project_id, _ = split_target_id(mapped.payload["commitment"])
        except (KeyError, ValueError):
            return None  # its commitment is created earlier in the same run: nothing to read yet
        if self.open_period(project_id) is not False:
            return None
        if readers.find_requisitions_by_origin_id(self.client, project_id, self.idempotency_key(source_key)):
            return None  # already in Procore: an update needs no open period
        return self.no_open_period(project_id, source_key)

    def open_period(self, project_id: int) -> bool | None:
        """Whether the project has an open billing period (None: cannot tell), read once per run."""
        if project_id not in self._open_period:
            try:
                periods = readers.list_billing_periods(self.client, project_id)
            except RemoteError as exc:
                if exc.status not in UNREADABLE_STATUSES:
                    raise
                periods = None
            self._open_period[project_id] = None if periods is None else any_open_period(periods)
        return self._open_period[project_id]

    def no_open_period(self, project_id: int, source_key: str) -> str:
        from mlconnector.pairs import record_id  # the package imports this module

        project = self.directory.project(str(project_id)) or {}
        number = str(project.get("project_number") or "").strip() or str(project_id)
        name = str(project.get("name") or "").strip()
        return (f"Procore project {number}{f' ({name})' if name else ''} has no open billing period, which "
                "a new subcontractor invoice needs: open one in Procore (Commitments > Billing Periods), "
                "then the next sync or "
                f"`mlconnector replay {record_id(self.stream, source_key)}` sends it")


def _amount(value) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return None
