"""Procore → Sage Intacct: commitments, subcontractor invoices and payment applications as AP
bills; vendors both ways; Intacct GL accounts to a Procore standard cost code list.

Streams run in this order: ``gl_accounts``, ``vendors`` (Intacct → Procore, then its second pass
``vendor_changes``, Procore → Intacct), ``commitments``, ``requisitions``,
``payment_applications``. Procore changes are found by polling ``filters[updated_at]``; a stream
takes rows from any reader of pages, so a webhook receiver can later feed the same passes.
"""

from __future__ import annotations

from collections.abc import Callable

from mlconnector.engine.stream import Stream
from mlconnector.errors import UsageError
from mlconnector.pairs._intacct import IntacctBillTarget, IntacctDirectory
from mlconnector.pairs._procore_cost_codes import StandardCostCodeTarget
from mlconnector.pairs.procore_intacct.bills import CommitmentStream, PaymentApplicationStream, RequisitionStream
from mlconnector.pairs.procore_intacct.gl_accounts import GLAccountStream
from mlconnector.pairs.procore_intacct.vendors import (
    IntacctVendorStream,
    IntacctVendorTarget,
    ProcoreTwoWayVendorTarget,
    ProcoreVendorChangeStream,
)

ACTIONS = ("", "Draft", "Submit")
BILL_STREAMS = {
    "commitments": (CommitmentStream, "PROCORE-CO-"),
    "requisitions": (RequisitionStream, "PROCORE-SI-"),
    "payment_applications": (PaymentApplicationStream, "PROCORE-PA-"),
}


def check_streams(pair: str, stream_configs: dict) -> None:
    """Raise UsageError for stream options that cannot work (before anything is opened)."""
    for name in BILL_STREAMS:
        stream = stream_configs.get(name)
        if stream is None:
            continue
        if stream.options["action"] not in ACTIONS:
            raise UsageError(f"pairs.{pair}.streams.{name}.action must be Draft or Submit (or empty for Intacct's "
                             f"default), not {stream.options['action']!r}")
        if stream.options["due_days"] < 0:
            raise UsageError(f"pairs.{pair}.streams.{name}.due_days must not be negative")
    payments = stream_configs.get("payment_applications")
    if payments is not None and payments.enabled and not payments.options["vendor_id"].strip():
        raise UsageError(f"pairs.{pair}.streams.payment_applications.vendor_id is empty: a payment application "
                         "names no vendor, so say which Intacct vendor (VENDORID) its bills go to")


def build_streams(pair: str, stream_configs: dict, source, target, *, mappings: Callable[[str], dict]) -> list[Stream]:
    """Every stream of a procore-intacct pair, enabled or not, in dependency order."""
    check_streams(pair, stream_configs)
    company = target.settings.company_id.upper()
    vendor_prefix = f"intacct:{company}:"
    streams: list[Stream] = []
    gl = stream_configs.get("gl_accounts")
    if gl is not None:
        streams.append(GLAccountStream(
            target, StandardCostCodeTarget(source, list_name=gl.options["cost_code_list"],
                                           origin_prefix=f"intacct:{company}:GLACCOUNT:"),
            pair=pair, lookback_minutes=gl.options["lookback_minutes"]))
    vendors = stream_configs.get("vendors")
    if vendors is not None:
        lookback = vendors.options["lookback_minutes"]
        streams.append(IntacctVendorStream(target, ProcoreTwoWayVendorTarget(source, origin_prefix=vendor_prefix),
                                           pair=pair, lookback_minutes=lookback))
        streams.append(ProcoreVendorChangeStream(source, IntacctVendorTarget(target), pair=pair,
                                                 origin_prefix=vendor_prefix, lookback_minutes=lookback))
    directory = IntacctDirectory(target)
    for name, (stream_class, record_prefix) in BILL_STREAMS.items():
        config = stream_configs.get(name)
        if config is None:
            continue
        options = dict(config.options)
        streams.append(stream_class(
            source, IntacctBillTarget(target, record_prefix=record_prefix, directory=directory), pair=pair,
            mappings=mappings, vendor_prefix=vendor_prefix, **options))
    return streams
