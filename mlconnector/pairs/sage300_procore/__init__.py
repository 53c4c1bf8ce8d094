"""Sage 300 → Procore: vendors, purchase orders (as commitments or direct costs), PO invoices."""

from __future__ import annotations

from collections.abc import Callable

from mlconnector.engine.stream import Stream
from mlconnector.errors import UsageError
from mlconnector.pairs._procore import ProcoreVendorTarget
from mlconnector.pairs._procore_documents import CommitmentTarget, DirectCostTarget
from mlconnector.pairs._procore_projects import ProjectDirectory
from mlconnector.pairs._procore_requisitions import RequisitionTarget
from mlconnector.pairs.sage300_procore._common import clean_text, sage_date
from mlconnector.pairs.sage300_procore.po_invoices import POInvoiceStream, map_po_invoice
from mlconnector.pairs.sage300_procore.purchase_orders import PurchaseOrderStream, map_purchase_order
from mlconnector.pairs.sage300_procore.vendors import VendorStream, map_vendor
from mlconnector.systems.procore import ProcoreClient
from mlconnector.systems.sage300 import Sage300Client

# Procore statuses a purchase order takes, by target (procore.md §5.5, §5.8).
DEFAULT_STATUSES = {
    "commitments": {"open": "Approved", "completed": "Closed"},
    "direct_costs": {"open": "approved", "completed": "approved"},
}

__all__ = ["POInvoiceStream", "PurchaseOrderStream", "VendorStream", "build_streams", "check_streams", "clean_text",
           "map_po_invoice", "map_purchase_order", "map_vendor", "sage_date"]


def check_streams(pair: str, stream_configs: dict) -> None:
    """Raise UsageError for stream options that cannot work together (before anything is opened)."""
    orders = stream_configs.get("purchase_orders")
    if orders is None:
        return
    kind = orders.options["target"]
    if kind not in DEFAULT_STATUSES:
        raise UsageError(f"pairs.{pair}.streams.purchase_orders.target must be commitments or direct_costs, "
                         f"not {kind!r}")
    invoices = stream_configs.get("po_invoices")
    if invoices is not None and invoices.enabled and kind != "commitments" and orders.enabled:
        raise UsageError(f"pair {pair}: po_invoices become subcontractor invoices on commitments, but "
                         "purchase_orders go to direct costs; turn one of them off")


def build_streams(pair: str, stream_configs: dict, source: Sage300Client, target: ProcoreClient, *,
                  mappings: Callable[[str], dict]) -> list[Stream]:
    """Every stream of a sage300-procore pair, enabled or not, in dependency order.

    The engine runs the enabled ones; the others serve as references (a purchase order's
    vendor is synced first even when the vendors stream is not run)."""
    check_streams(pair, stream_configs)
    prefix = f"sage300:{source.settings.company.upper()}:"
    directory = ProjectDirectory(target)
    streams: list[Stream] = []
    vendors = stream_configs.get("vendors")
    if vendors is not None:
        streams.append(VendorStream(source, ProcoreVendorTarget(target, origin_prefix=prefix), pair=pair,
                                    lookback_days=vendors.options["lookback_days"]))
    orders = stream_configs.get("purchase_orders")
    if orders is not None:
        options = orders.options
        kind = options["target"]
        open_status = options["open_status"] or DEFAULT_STATUSES[kind]["open"]
        completed_status = options["completed_status"] or DEFAULT_STATUSES[kind]["completed"]
        target_class = CommitmentTarget if kind == "commitments" else DirectCostTarget
        closing = completed_status if completed_status != open_status else None
        streams.append(PurchaseOrderStream(
            source, target_class(target, directory, origin_prefix=prefix, closing_status=closing),
            pair=pair, lookback_days=options["lookback_days"], mappings=mappings,
            changed_field=options["changed_field"], open_status=open_status, completed_status=completed_status,
            default_cost_type=options["cost_type"]))
    invoices = stream_configs.get("po_invoices")
    if invoices is not None:
        streams.append(POInvoiceStream(
            source, RequisitionTarget(target, origin_prefix=prefix, line_origin_prefix=prefix, directory=directory),
            pair=pair, lookback_days=invoices.options["lookback_days"],
            changed_field=invoices.options["changed_field"]))
    return streams
