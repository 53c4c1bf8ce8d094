"""Sage 300 purchase orders → Procore commitments (or direct costs), line by line.

Field mapping (sage300_syspro.md §4.1 → procore.md §5.5, §5.8):

    PurchaseOrderNumber   -> number, origin_code; origin_id "sage300:<COMPANY>:<number>" (set by the target)
    Description           -> title (else "PO <number>"); Comment -> description
    Vendor                -> vendor_id of the linked Procore vendor (synced first when it is not yet)
    PurchaseOrderDate     -> contract_date
    Completed = Yes       -> the stream's completed status (default Closed), else its open status
    lines                 -> line items; origin_id "<PO origin_id>:<LineNumber>"
      Contract[/Project]  -> Procore project: projects mapping, else the contract code as the project number
      Category            -> cost code: costcodes mapping for (category, project), else the category as
                             the full code; GLAccount stands in for lines without a category
      ItemDescription, QuantityOrdered, UnitCost, UnitOfMeasure, ExtendedCost -> description,
                             quantity, unit_cost, uom, amount

A Procore commitment belongs to one project, so every line must map to the same one. The
mapping is pure: Procore ids are resolved by the target, which quarantines what does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal

from mlconnector.engine.stream import Mapped, Reference
from mlconnector.errors import MappingError
from mlconnector.mappings import cost_code_for, project_for
from mlconnector.pairs.sage300_procore._common import (
    MAX_AMOUNT,
    DatedStream,
    checked_date,
    checked_decimal,
    clean_text,
    sage_date,
    yes,
)
from mlconnector.systems.sage300.client import Page
from mlconnector.systems.sage300.readers import (
    PURCHASE_ORDERS,
    document_pages,
    find_document,
)

CENT = Decimal("0.01")


def map_purchase_order(
    row: dict,
    *,
    vendor_id: str,
    projects: dict[str, dict],
    costcodes: dict[str, dict],
    open_status: str,
    completed_status: str,
    default_cost_type: str = "",
    pair: str = "sage300-procore",
) -> Mapped:
    """A Sage 300 ``POPurchaseOrders`` row (lines embedded) -> a commitment with line items."""
    number = clean_text(row.get("PurchaseOrderNumber"))

    def fail(message: str, field: str, hint: str | None = None) -> MappingError:
        return MappingError(message, pair=pair, stream="purchase_orders", source_key=number or "?", field=field,
                            hint=hint)

    if not number:
        sequence = clean_text(row.get("PurchaseOrderSequenceKey"))
        raise fail("the purchase order" + (f" (PurchaseOrderSequenceKey {sequence})" if sequence else "")
                   + " has no PurchaseOrderNumber", "PurchaseOrderNumber")
    try:
        contract_date = checked_date(row.get("PurchaseOrderDate"))
    except ValueError as exc:
        raise fail(f"PurchaseOrderDate {exc}", "PurchaseOrderDate",
                   hint="Correct the purchase order date in Sage 300; the next sync picks it up.") from None
    lines = row.get("PurchaseOrderLines")
    if not isinstance(lines, list) or not lines:
        raise fail("the purchase order has no lines", "PurchaseOrderLines")
    mapped_lines = []
    project_refs: dict[str, str] = {}
    for line in lines:
        if not isinstance(line, dict):
            raise fail(f"a line is not a record ({type(line).__name__})", "PurchaseOrderLines")
        mapped_lines.append(_map_line(line, number, projects, costcodes, default_cost_type, project_refs, fail))
    if len(set(project_refs.values())) > 1:
        where = ", ".join(f"contract {c} -> project {p}" for c, p in sorted(project_refs.items()))
        raise fail(f"its lines belong to more than one Procore project ({where}); a commitment belongs to one",
                   "Contract", hint="Split the purchase order in Sage 300, one per contract.")
    (contract, project), = list(project_refs.items())[:1]
    header = {
        "number": number,
        "origin_code": number,
        "title": clean_text(row.get("Description")) or f"PO {number}",
        "description": clean_text(row.get("Comment")),
        "status": completed_status if yes(row.get("Completed")) else open_status,
        "vendor_id": int(vendor_id) if vendor_id.isdigit() else vendor_id,
    }
    if contract_date:
        header["contract_date"] = contract_date.isoformat()
    header = {k: v for k, v in header.items() if v != ""}
    payload = {"project": project, "contract": contract, "header": header, "lines": mapped_lines}
    return Mapped(payload=payload, label=f"{number} {header['title']}")


def _map_line(line: dict, number: str, projects: dict, costcodes: dict, default_cost_type: str,
              project_refs: dict[str, str], fail: Callable[..., MappingError]) -> dict:
    line_number = clean_text(line.get("LineNumber"))
    if not line_number:
        raise fail("a line has no LineNumber", "PurchaseOrderLines.LineNumber")
    where = f"line {line_number}"
    contract = clean_text(line.get("Contract"))
    if not contract:
        raise fail(f"{where} has no job-cost contract; a Procore commitment belongs to a project",
                   f"PurchaseOrderLines[{line_number}].Contract",
                   hint="Give the line a contract in Sage 300, or leave such purchase orders out of the sync.")
    sage_project = clean_text(line.get("Project"))
    project = project_for(projects, contract, sage_project or None) or contract
    project_refs.setdefault(contract if not sage_project else f"{contract}/{sage_project}", project)
    source_code = clean_text(line.get("Category")) or clean_text(line.get("GLAccount"))
    if not source_code:
        raise fail(f"{where} has neither a category nor a GL account to map to a cost code",
                   f"PurchaseOrderLines[{line_number}].Category")
    mapping = cost_code_for(costcodes, source_code, project)
    numbers = {}
    for name in ("QuantityOrdered", "UnitCost", "ExtendedCost"):
        try:
            numbers[name] = checked_decimal(line.get(name))
        except ValueError as exc:
            raise fail(f"{where}: {name} {exc}", f"PurchaseOrderLines[{line_number}].{name}") from None
    quantity, unit_cost, amount = numbers["QuantityOrdered"], numbers["UnitCost"], numbers["ExtendedCost"]
    if amount is None and quantity is not None and unit_cost is not None:
        amount = quantity * unit_cost
        if abs(amount) >= MAX_AMOUNT:
            raise fail(f"{where}: QuantityOrdered × UnitCost is out of range",
                       f"PurchaseOrderLines[{line_number}].ExtendedCost")
    if amount is None:
        raise fail(f"{where} has no amount (ExtendedCost, or QuantityOrdered × UnitCost)",
                   f"PurchaseOrderLines[{line_number}].ExtendedCost")
    if amount < 0:
        raise fail(f"{where} has a negative amount {amount}; a commitment line cannot be negative",
                   f"PurchaseOrderLines[{line_number}].ExtendedCost")
    mapped = {
        "line": line_number,
        "contract": contract,
        "category": source_code,
        "cost_code": (mapping or {}).get("procore_cost_code") or source_code,
        "cost_type": (mapping or {}).get("cost_type") or default_cost_type,
        "mapped": mapping is not None,
        "description": clean_text(line.get("ItemDescription")) or clean_text(line.get("ItemNumber")) or
        f"{number} line {line_number}",
        "amount": str(amount.quantize(CENT)),
    }
    if quantity is not None:
        mapped["quantity"] = str(quantity.normalize())
    if unit_cost is not None:
        mapped["unit_cost"] = str(unit_cost.normalize())
    uom = clean_text(line.get("UnitOfMeasure"))
    if uom:
        mapped["uom"] = uom
    return mapped


class PurchaseOrderStream(DatedStream):
    name = "purchase_orders"
    noun = "Sage 300 purchase order"

    def __init__(self, *args, mappings: Callable[[str], dict], changed_field: str = "DateLastEdited",
                 open_status: str, completed_status: str, default_cost_type: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._mappings = mappings
        self._tables: dict[str, dict] | None = None
        self.changed_field = changed_field
        self.open_status, self.completed_status = open_status, completed_status
        self.default_cost_type = default_cost_type

    def changed_on(self, row: dict) -> date | None:
        return sage_date(row.get(self.changed_field)) or sage_date(row.get("PurchaseOrderDate"))

    def read_pages(self, since: date | None, start_skip: int) -> Iterator[Page]:
        return document_pages(self.source, PURCHASE_ORDERS, changed_field=self.changed_field, since=since,
                              start_skip=start_skip, what="read purchase orders")

    def fetch(self, source_key: str) -> dict | None:
        return find_document(self.source, PURCHASE_ORDERS, "PurchaseOrderNumber", source_key,
                             what=f"read purchase order {source_key}")

    def source_key(self, row: dict) -> str:
        return clean_text(row.get("PurchaseOrderNumber"))

    def references(self, row: dict) -> list[Reference]:
        vendor = clean_text(row.get("Vendor"))
        return [Reference("vendors", vendor, sync_first=True, what=f"Sage 300 vendor {vendor}")] if vendor else []

    def map(self, row: dict, refs: dict[Reference, str]) -> Mapped:
        if self._tables is None:
            self._tables = {kind: self._mappings(kind) for kind in ("projects", "costcodes")}
        vendor_id = next(iter(refs.values()), None)
        if vendor_id is None:
            raise MappingError("the purchase order has no Vendor", pair=self.pair, stream=self.name,
                               source_key=self.source_key(row), field="Vendor")
        return map_purchase_order(row, vendor_id=vendor_id, projects=self._tables["projects"],
                                  costcodes=self._tables["costcodes"], open_status=self.open_status,
                                  completed_status=self.completed_status,
                                  default_cost_type=self.default_cost_type, pair=self.pair)
