"""Integration pairs: which streams a (source kind, target kind) pair has, and their mappers.

The registry below is what the configuration loader validates `pairs.<name>.streams` against:
for each supported (source kind, target kind), the stream names and the options each stream
takes besides `enabled` (option name -> Python type, default).
"""

from __future__ import annotations

from typing import Any

# (source kind, target kind) -> stream name -> option name -> (type, default)
STREAM_OPTIONS: dict[tuple[str, str], dict[str, dict[str, tuple[type, Any]]]] = {
    ("sage300", "procore"): {
        "vendors": {
            # Sage 300 dates carry no time: re-read this many days before the watermark.
            "lookback_days": (int, 1),
        },
        "purchase_orders": {
            "target": (str, "commitments"),       # commitments | direct_costs
            "lookback_days": (int, 1),
            # The PO header field holding its last-edited date (not documented publicly).
            "changed_field": (str, "DateLastEdited"),
            "open_status": (str, ""),             # "" = Approved (commitments) / approved (direct costs)
            "completed_status": (str, ""),        # "" = Closed (commitments) / approved (direct costs)
            "cost_type": (str, ""),               # line item type code when the costcodes mapping gives none
        },
        "po_invoices": {
            "lookback_days": (int, 1),
            "changed_field": (str, "DateLastEdited"),
        },
    },
    ("procore", "intacct"): {
        # Both systems keep change times to the second; re-read this many minutes before the
        # watermark (clock skew, commits landing late). Re-read records are skipped as unchanged.
        "gl_accounts": {
            "cost_code_list": (str, "Intacct GL accounts"),  # the Procore standard cost code list
            "lookback_minutes": (int, 10),
        },
        "vendors": {"lookback_minutes": (int, 10)},
        "commitments": {
            "action": (str, "Draft"),           # Draft | Submit | "" (Intacct's default)
            "due_days": (int, 30),              # WHENDUE = bill date + due_days
            "lookback_minutes": (int, 10),
        },
        "requisitions": {
            "action": (str, ""),
            "due_days": (int, 30),
            "statuses": (str, "approved,approved_as_noted"),  # Procore statuses that become bills
            "lookback_minutes": (int, 10),
        },
        "payment_applications": {
            "action": (str, ""),
            "due_days": (int, 30),
            "statuses": (str, "approved"),
            "vendor_id": (str, ""),             # the Intacct vendor the bills go to (required)
            "lookback_minutes": (int, 10),
        },
    },
}


# Passes a YAML stream runs besides its own, per pair kinds: pass name -> the YAML stream.
# (`vendors` of procore-intacct syncs both ways: Intacct -> Procore, then Procore changes back.)
EXTRA_PASSES: dict[tuple[str, str], dict[str, str]] = {("procore", "intacct"): {"vendor_changes": "vendors"}}


def pass_names(config, pair_name: str) -> list[str]:
    """Every stream pass of a pair: its YAML streams and the extra passes they run."""
    pair = config.pair(pair_name)
    kinds = (config.system(pair.source).kind, config.system(pair.target).kind)
    extra = [name for name, owner in EXTRA_PASSES.get(kinds, {}).items() if owner in pair.streams]
    return [*pair.streams, *extra]


def stream_options(source_kind: str, target_kind: str) -> dict[str, dict[str, tuple[type, Any]]] | None:
    """The streams a pair of these kinds supports, or None when the pair is not supported."""
    return STREAM_OPTIONS.get((source_kind, target_kind))


def check_pair(pair, source_kind: str, target_kind: str) -> None:
    """Raise UsageError when ``pair``'s stream options cannot work together; opens and writes nothing."""
    if (source_kind, target_kind) == ("sage300", "procore"):
        from mlconnector.pairs import sage300_procore

        sage300_procore.check_streams(pair.name, pair.streams)
    elif (source_kind, target_kind) == ("procore", "intacct"):
        from mlconnector.pairs import procore_intacct

        procore_intacct.check_streams(pair.name, pair.streams)


def build_streams(pair, source_client, target_client, *, mappings) -> list:
    """Every stream of ``pair`` (a PairConfig), wired to the two clients, in dependency order.

    ``mappings(kind)`` returns the pair's mapping table of that kind (projects, costcodes).
    """
    source_kind, target_kind = source_client.settings.kind, target_client.settings.kind
    if (source_kind, target_kind) == ("sage300", "procore"):
        from mlconnector.pairs import sage300_procore

        return sage300_procore.build_streams(pair.name, pair.streams, source_client, target_client,
                                             mappings=mappings)
    if (source_kind, target_kind) == ("procore", "intacct"):
        from mlconnector.pairs import procore_intacct

        return procore_intacct.build_streams(pair.name, pair.streams, source_client, target_client,
                                             mappings=mappings)
    raise NotImplementedError(f"pair {source_kind} -> {target_kind} is not built yet")


# A record id as people see and type it: "PO:PO000123", "VENDOR:1200", "INV:IN00042",
# "COMMITMENT:12/4711" (Procore project/commitment), "PCVENDOR:5566" (a Procore vendor id).
RECORD_PREFIXES = {"vendors": "VENDOR", "purchase_orders": "PO", "po_invoices": "INV",
                   "vendor_changes": "PCVENDOR", "gl_accounts": "GLACCOUNT", "commitments": "COMMITMENT",
                   "requisitions": "SUBINV", "payment_applications": "PAYAPP"}


def record_id(stream: str, source_key: str) -> str:
    return f"{RECORD_PREFIXES.get(stream, stream.upper())}:{source_key}"


def parse_record_id(text: str) -> tuple[str, str] | None:
    """(stream, source key) of "PO:PO000123"; None when the text has no known prefix."""
    prefix, sep, key = text.partition(":")
    if not sep or not key:
        return None
    for stream, known in RECORD_PREFIXES.items():
        if prefix.strip().upper() == known:
            return stream, key.strip()
    return None
