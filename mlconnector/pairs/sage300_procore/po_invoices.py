"""Sage 300 PO invoices → Procore subcontractor invoices (requisitions) on the PO's commitment.

    InvoiceNumber          -> invoice_number; origin_id "sage300:<COMPANY>:<InvoiceNumber>"
    InvoiceDate            -> billing_date
    PurchaseOrderNumber    -> the commitment the purchase order became (it must be synced first;
                              until it is, the invoice waits in quarantine saying so)
    InvoiceLines           -> amounts billed against the commitment's lines: PurchaseOrderLineNumber
                              names the PO line (a PO with one line needs none); ExtendedCost is
                              the amount
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from mlconnector.engine.stream import Mapped, Reference
from mlconnector.errors import MappingError
from mlconnector.pairs.sage300_procore._common import (
    DatedStream,
    checked_date,
    checked_decimal,
    clean_text,
    sage_date,
)
from mlconnector.systems.sage300.client import Page
from mlconnector.systems.sage300.readers import (
    PO_INVOICES,
    document_pages,
    find_document,
)

CENT = Decimal("0.01")


def map_po_invoice(row: dict, *, commitment: str, pair: str = "sage300-procore") -> Mapped:
    """A Sage 300 ``POInvoices`` row -> a requisition on ``commitment`` ("<project>/<id>")."""
    number = clean_text(row.get("InvoiceNumber"))

    def fail(message: str, field: str) -> MappingError:
        return MappingError(message, pair=pair, stream="po_invoices", source_key=number or "?", field=field)

    if not number:
        sequence = clean_text(row.get("InvoiceSequenceKey"))
        raise fail("the invoice" + (f" (InvoiceSequenceKey {sequence})" if sequence else "")
                   + " has no InvoiceNumber", "InvoiceNumber")
    try:
        billing_date = checked_date(row.get("InvoiceDate"))
    except ValueError as exc:
        raise fail(f"InvoiceDate {exc}", "InvoiceDate") from None
    lines = row.get("InvoiceLines")
    if not isinstance(lines, list) or not lines:
        raise fail("the invoice has no lines", "InvoiceLines")
    mapped_lines = []
    for position, line in enumerate(lines, start=1):
        if not isinstance(line, dict):
            raise fail(f"line {position} is not a record ({type(line).__name__})", "InvoiceLines")
        line_number = clean_text(line.get("LineNumber")) or str(position)
        try:
            amount = checked_decimal(line.get("ExtendedCost"))
        except ValueError as exc:
            raise fail(f"line {line_number}: ExtendedCost {exc}", f"InvoiceLines[{line_number}].ExtendedCost") from None
        if amount is None:
            raise fail(f"line {line_number} has no amount", f"InvoiceLines[{line_number}].ExtendedCost")
        mapped_lines.append({
            "line": line_number,
            "po_line": clean_text(line.get("PurchaseOrderLineNumber")),
            "amount": str(amount.quantize(CENT)),
        })
    payload = {
        "commitment": commitment,
        "po": clean_text(row.get("PurchaseOrderNumber")),
        "invoice_number": number,
        "lines": mapped_lines,
    }
    if billing_date:
        payload["billing_date"] = billing_date.isoformat()
    return Mapped(payload=payload, label=f"invoice {number} on {payload['po']}")


class POInvoiceStream(DatedStream):
    name = "po_invoices"
    noun = "Sage 300 PO invoice"

    def __init__(self, *args, changed_field: str = "DateLastEdited", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.changed_field = changed_field

    def changed_on(self, row: dict) -> date | None:
        return sage_date(row.get(self.changed_field)) or sage_date(row.get("InvoiceDate"))

    def read_pages(self, since: date | None, start_skip: int) -> Iterator[Page]:
        return document_pages(self.source, PO_INVOICES, changed_field=self.changed_field, since=since,
                              start_skip=start_skip, what="read PO invoices")

    def fetch(self, source_key: str) -> dict | None:
        return find_document(self.source, PO_INVOICES, "InvoiceNumber", source_key, what=f"read PO invoice {source_key}")

    def source_key(self, row: dict) -> str:
        return clean_text(row.get("InvoiceNumber"))

    def references(self, row: dict) -> list[Reference]:
        po = clean_text(row.get("PurchaseOrderNumber"))
        # Not synced first: an invoice waits until its purchase order has gone through.
        return [Reference("purchase_orders", po, sync_first=False, what=f"purchase order {po}")] if po else []

    def map(self, row: dict, refs: dict[Reference, str]) -> Mapped:
        commitment = next(iter(refs.values()), None)
        if commitment is None:
            raise MappingError("the invoice names no PurchaseOrderNumber", pair=self.pair, stream=self.name,
                               source_key=self.source_key(row), field="PurchaseOrderNumber")
        return map_po_invoice(row, commitment=commitment, pair=self.pair)
