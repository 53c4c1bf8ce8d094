"""Procore commitments, subcontractor invoices and payment applications → Intacct AP bills.

Each Procore document becomes one ``APBILL``; each of its lines one ``APBILLITEM`` coded through
the pair's mapping tables (``mappings import``):

    intacct_projects  Procore project (number or id) -> Intacct PROJECTID [, DEPARTMENTID, LOCATIONID]
    glaccounts        Procore cost code [+ cost type] [in a project] -> ACCOUNTNO [, TASKID,
                      COSTTYPEID, DEPARTMENTID, LOCATIONID]

    bill field    commitment                      subcontractor invoice           payment application
    RECORDID      PROCORE-CO-<id>                 PROCORE-SI-<id>                 PROCORE-PA-<id>
    VENDORID      the commitment's vendor (its origin_id names the Intacct     the vendor_id option
                  vendor, else its link)
    WHENCREATED   contract_date, else created_at  billing_date, else period end   billing_date, else period end
    WHENDUE       WHENCREATED + due_days (option, default 30)
    DOCNUMBER     number                          invoice_number, else number     invoice_number, else number
    DESCRIPTION   "Procore <document> <number>: <title>" (at most 1,000 characters)
    lines         line items: amount              items: work completed + stored this period (both)
    line coding   cost code full_code + cost type (line item type code;  -> glaccounts row
                  payment application lines have none)

A line whose cost code has no glaccounts row, a project with no intacct_projects row, or a vendor
not linked to Intacct is a mapping problem named in quarantine; a value the mapping gives but
Intacct lacks is named there too (checked before posting, see pairs/_intacct.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

from mlconnector.engine.stream import Mapped, Reference, SourcePage, Stream, Target
from mlconnector.errors import MappingError
from mlconnector.pairs.procore_intacct._common import changed_pages, clean_text, procore_timestamp, since_of
from mlconnector.pairs.sage300_procore._common import checked_decimal

MAX_DESCRIPTION = 1000


def intacct_date(value: date) -> str:
    return value.strftime("%m/%d/%Y")


def procore_date(value: object) -> date | None:
    text = clean_text(value)
    if len(text) >= 10:
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None
    return None


def money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


class BillStream(Stream):
    """A Procore document type read project by project, changed since the watermark."""

    #: RECORDID prefix, and what a person calls the document.
    record_prefix: str = ""
    document: str = ""

    def __init__(self, source, target: Target, *, pair: str, mappings: Callable[[str], dict],
                 vendor_prefix: str, due_days: int, action: str, lookback_minutes: int) -> None:
        super().__init__(target)
        self.source, self.pair, self.mappings = source, pair, mappings
        self.vendor_prefix, self.due_days, self.action = vendor_prefix, due_days, action
        self.lookback = timedelta(minutes=max(0, lookback_minutes))
        self._projects: dict[str, dict] | None = None

    # -- reading --

    @property
    def projects(self) -> dict[str, dict]:
        if self._projects is None:
            from mlconnector.systems.procore.readers import list_projects

            self._projects = {str(p["id"]): p for p in list_projects(self.source) if p.get("id") is not None}
        return self._projects

    def changed(self, project_id: str, since: datetime | None) -> Iterator[list[dict]]:
        """Pages of this document type in one project changed since ``since``."""
        raise NotImplementedError

    def read_one(self, project_id: str, document_id: str) -> dict | None:
        raise NotImplementedError

    def enrich(self, project_id: str, row: dict) -> dict | None:
        """The row with what mapping needs besides it; None to leave the row out."""
        return row

    def scan(self, *, watermark: str | None, cursor: dict | None) -> Iterator[SourcePage]:
        since = since_of(watermark, self.lookback)

        def pages() -> Iterator[list[dict]]:
            for project_id in sorted(self.projects, key=int):
                for page in self.changed(project_id, since):
                    rows = [r for r in (self.enrich(project_id, dict(row, project_id=int(project_id)))
                                        for row in page) if r is not None]
                    if rows:
                        yield rows

        return changed_pages(pages(), lambda row: procore_timestamp(row.get("updated_at")), watermark)

    def fetch(self, source_key: str) -> dict | None:
        project_id, _, document_id = source_key.partition("/")
        row = self.read_one(project_id, document_id)
        return None if row is None else self.enrich(project_id, dict(row, project_id=int(project_id)))

    def source_key(self, row: dict) -> str:
        return f"{row.get('project_id')}/{row.get('id')}"

    # -- mapping --

    def vendor_of(self, row: dict) -> dict:
        return row.get("vendor") or {}

    def references(self, row: dict) -> list[Reference]:
        vendor = self.vendor_of(row)
        if str(vendor.get("origin_id") or "").startswith(self.vendor_prefix) or vendor.get("id") is None:
            return []
        name = clean_text(vendor.get("name") or vendor.get("company"))
        return [Reference("vendor_changes", str(vendor["id"]), sync_first=False,
                          what=f"Procore vendor {vendor['id']}{f' ({name})' if name else ''}",
                          hint="It is linked to no Intacct vendor: create the vendor in Intacct (the next sync "
                          "links the two by name) or link them with `mlconnector mappings link`")]

    def fail(self, row: dict, message: str, *, field: str, hint: str | None = None) -> MappingError:
        return MappingError(message, pair=self.pair, stream=self.name, source_key=self.source_key(row), field=field,
                            hint=hint)

    def vendor_id(self, row: dict, refs: dict) -> str:
        vendor = self.vendor_of(row)
        origin = str(vendor.get("origin_id") or "")
        if origin.startswith(self.vendor_prefix):
            return origin[len(self.vendor_prefix):]
        for ref, target_id in refs.items():
            if ref.stream == "vendor_changes":
                return target_id
        raise self.fail(row, f"the {self.document} has no vendor", field="vendor",
                        hint="Choose the contract company in Procore.")

    def project_coding(self, row: dict) -> tuple[dict, dict]:
        """(the Procore project, its intacct_projects row)."""
        from mlconnector.mappings import intacct_project_for

        project = self.projects.get(str(row["project_id"])) or {"id": row["project_id"]}
        coding = intacct_project_for(self.mappings("intacct_projects"), clean_text(project.get("project_number")),
                                     str(project["id"]))
        if coding is None:
            label = clean_text(project.get("project_number")) or str(project["id"])
            raise self.fail(row, f"Procore project {label} ({clean_text(project.get('name'))}) has no Intacct "
                            "project mapping", field="project",
                            hint="Add it to the intacct_projects table: `mlconnector mappings import "
                            "intacct-projects.csv`.")
        return project, coding

    def line(self, row: dict, project: dict, project_coding: dict, *, amount: Decimal, description: str,
             cost_code: str, cost_type: str) -> dict:
        from mlconnector.mappings import gl_coding_for

        coding = gl_coding_for(self.mappings("glaccounts"), cost_code, cost_type,
                               clean_text(project.get("project_number")), str(project["id"]))
        if coding is None:
            raise self.fail(row, f"cost code {cost_code or '(none)'}{f' / cost type {cost_type}' if cost_type else ''} "
                            "has no GL account mapping", field="cost_code",
                            hint="Add it to the glaccounts table: `mlconnector mappings import glaccounts.csv`.")
        item = {
            "ACCOUNTNO": coding.get("gl_account"),
            "TRX_AMOUNT": money(amount),
            "ENTRYDESCRIPTION": description[:MAX_DESCRIPTION],
            "PROJECTID": project_coding.get("intacct_project"),
            "TASKID": coding.get("task"),
            "COSTTYPEID": coding.get("intacct_cost_type"),
            "DEPARTMENTID": coding.get("department") or project_coding.get("department"),
            "LOCATIONID": coding.get("location") or project_coding.get("location"),
        }
        # An empty dimension is left out: whether Intacct takes an empty element is unverified.
        return {k: v for k, v in item.items() if v}

    def bill(self, row: dict, refs: dict, *, when: date | None, number: str, title: str,
             lines: list[dict]) -> Mapped:
        if when is None:
            raise self.fail(row, f"the {self.document} has no date", field="date")
        if not lines:
            raise self.fail(row, f"the {self.document} has no line with an amount", field="lines")
        record_id = self.target.idempotency_key(self.source_key(row))
        description = f"Procore {self.document} {number}: {title}".strip().rstrip(":")
        payload = {
            "RECORDID": record_id,
            "VENDORID": self.vendor_id(row, refs),
            "WHENCREATED": intacct_date(when),
            "WHENDUE": intacct_date(when + timedelta(days=self.due_days)),
            "DOCNUMBER": number,
            "DESCRIPTION": description[:MAX_DESCRIPTION],
            "APBILLITEMS": {"APBILLITEM": lines},
        }
        if self.action:
            payload["ACTION"] = self.action
        return Mapped(payload={k: v for k, v in payload.items() if v not in ("", None)},
                      label=f"{self.document} {number}")

    def amount(self, row: dict, value: object, field: str) -> Decimal:
        try:
            return checked_decimal(value) or Decimal(0)
        except ValueError as exc:
            raise self.fail(row, f"{field} {exc}", field=field) from None


class CommitmentStream(BillStream):
    """Purchase order and work order contracts (commitments) → bills."""

    name = "commitments"
    noun = "Procore commitment"
    document = "commitment"
    KINDS = ("PurchaseOrderContract", "WorkOrderContract")

    def changed(self, project_id: str, since: datetime | None) -> Iterator[list[dict]]:
        from mlconnector.systems.procore.readers import commitments_changed

        for kind in self.KINDS:
            yield from commitments_changed(self.source, project_id, since, kind)

    def read_one(self, project_id: str, document_id: str) -> dict | None:
        from mlconnector.systems.procore.readers import get_commitment

        return get_commitment(self.source, project_id, document_id)

    def map(self, row: dict, refs: dict) -> Mapped:
        project, project_coding = self.project_coding(row)
        lines = []
        for item in row.get("line_items") or []:
            amount = self.amount(row, item.get("amount"), "line amount")
            if not amount:
                continue
            lines.append(self.line(row, project, project_coding, amount=amount,
                                   description=clean_text(item.get("description")) or clean_text(row.get("title")),
                                   cost_code=clean_text((item.get("cost_code") or {}).get("full_code")),
                                   cost_type=clean_text((item.get("line_item_type") or {}).get("code"))))
        when = procore_date(row.get("contract_date")) or procore_date(row.get("created_at"))
        return self.bill(row, refs, when=when, number=clean_text(row.get("number")) or str(row.get("id")),
                         title=clean_text(row.get("title")), lines=lines)


class _StatusFiltered(BillStream):
    """A document that becomes a bill only in some statuses (a draft invoice is not owed)."""

    def __init__(self, *args, statuses: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.statuses = {s.strip().casefold() for s in statuses.split(",") if s.strip()}

    def wanted(self, row: dict) -> bool:
        return not self.statuses or clean_text(row.get("status")).casefold() in self.statuses


class RequisitionStream(_StatusFiltered):
    """Subcontractor invoices (requisitions) → bills: this period's work and stored materials,
    per schedule-of-values line, coded by the commitment line's cost code and cost type."""

    name = "requisitions"
    noun = "Procore subcontractor invoice"
    document = "subcontractor invoice"

    def changed(self, project_id: str, since: datetime | None) -> Iterator[list[dict]]:
        from mlconnector.systems.procore.readers import requisitions_changed

        return requisitions_changed(self.source, project_id, since)

    def read_one(self, project_id: str, document_id: str) -> dict | None:
        from mlconnector.systems.procore.readers import get_requisition

        return get_requisition(self.source, project_id, document_id)

    def enrich(self, project_id: str, row: dict) -> dict | None:
        from mlconnector.systems.procore.readers import get_commitment, requisition_items

        if not self.wanted(row):
            return None
        commitment = get_commitment(self.source, project_id, row.get("commitment_id")) or {}
        return dict(row, items=requisition_items(self.source, project_id, row["id"]), commitment=commitment)

    def vendor_of(self, row: dict) -> dict:
        return (row.get("commitment") or {}).get("vendor") or {}

    def map(self, row: dict, refs: dict) -> Mapped:
        project, project_coding = self.project_coding(row)
        commitment = row.get("commitment") or {}
        by_line = {str(li.get("id")): li for li in commitment.get("line_items") or []}
        lines = []
        for item in row.get("items") or []:
            amount = (self.amount(row, item.get("work_completed_this_period"), "work_completed_this_period")
                      + self.amount(row, item.get("materials_presently_stored"), "materials_presently_stored"))
            if not amount:
                continue
            source_line = by_line.get(str(item.get("line_item_id"))) or {}
            lines.append(self.line(
                row, project, project_coding, amount=amount,
                description=clean_text(item.get("description_of_work")) or clean_text(source_line.get("description")),
                cost_code=clean_text((source_line.get("cost_code") or {}).get("full_code")
                                     or (item.get("cost_code") or {}).get("full_code")),
                cost_type=clean_text((source_line.get("line_item_type") or {}).get("code"))))
        when = procore_date(row.get("billing_date")) or procore_date(row.get("requisition_end"))
        number = clean_text(row.get("invoice_number")) or clean_text(row.get("number")) or str(row.get("id"))
        title = clean_text(commitment.get("title")) or clean_text(row.get("contract_name"))
        return self.bill(row, refs, when=when, number=number, title=title, lines=lines)


class PaymentApplicationStream(_StatusFiltered):
    """Payment applications → bills with their line detail, allocated to the project.

    A payment application (owner invoice) names no vendor: its bills go to the Intacct vendor
    the stream's ``vendor_id`` option names. Lines: work completed plus materials stored this
    period, per schedule-of-values line, coded by its cost code (no cost type on these lines).
    """

    name = "payment_applications"
    noun = "Procore payment application"
    document = "payment application"

    def __init__(self, *args, vendor_id: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.payee = vendor_id

    def references(self, row: dict) -> list[Reference]:
        return []

    def vendor_id(self, row: dict, refs: dict) -> str:
        return self.payee

    def changed(self, project_id: str, since: datetime | None) -> Iterator[list[dict]]:
        from mlconnector.systems.procore.readers import payment_applications_changed

        return payment_applications_changed(self.source, project_id, since)

    def read_one(self, project_id: str, document_id: str) -> dict | None:
        from mlconnector.systems.procore.readers import payment_application

        return payment_application(self.source, project_id, document_id)

    def enrich(self, project_id: str, row: dict) -> dict | None:
        if not self.wanted(row):
            return None
        if "line_items" in row:
            return row
        # The list has no line detail; the show does.
        from mlconnector.systems.procore.readers import payment_application

        shown = payment_application(self.source, project_id, row["id"])
        return None if shown is None else dict(shown, project_id=row["project_id"])

    def map(self, row: dict, refs: dict) -> Mapped:
        project, project_coding = self.project_coding(row)
        lines = []
        for item in row.get("line_items") or []:
            amount = (self.amount(row, item.get("work_completed_this_period"), "work_completed_this_period")
                      + self.amount(row, item.get("materials_presently_stored"), "materials_presently_stored"))
            if not amount:
                continue
            lines.append(self.line(row, project, project_coding, amount=amount,
                                   description=clean_text(item.get("description_of_work")),
                                   cost_code=clean_text((item.get("cost_code") or {}).get("full_code")),
                                   cost_type=""))
        when = procore_date(row.get("billing_date")) or procore_date(row.get("period_end"))
        number = clean_text(row.get("invoice_number")) or clean_text(row.get("number")) or str(row.get("id"))
        return self.bill(row, refs, when=when, number=number, title=clean_text((row.get("contract") or {}).get("title")),
                         lines=lines)
