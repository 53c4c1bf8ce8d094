"""Hostile field values at the mapping functions (the CLI corpus covers vendors and purchase
orders end to end; PO invoices and the helpers are checked here)."""

from __future__ import annotations

import pytest

from mlconnector.errors import MappingError
from mlconnector.pairs.sage300_procore import map_po_invoice
from mlconnector.pairs.sage300_procore._common import (
    checked_date,
    checked_decimal,
    clean_text,
)

INVOICE = {"InvoiceNumber": "IN1", "PurchaseOrderNumber": "PO1", "InvoiceDate": "2025-03-01T00:00:00Z",
           "InvoiceLines": [{"LineNumber": 10, "PurchaseOrderLineNumber": 1000, "ExtendedCost": 12.5}]}


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"InvoiceDate": "2025-02-30T00:00:00Z"}, "InvoiceDate", "'2025-02-30T00:00:00Z' is not a valid date"),
    ({"InvoiceDate": "9999-99-99"}, "InvoiceDate", "is not a valid date"),
    ({"InvoiceDate": 20250301}, "InvoiceDate", "is not a valid date"),
    ({"InvoiceNumber": " \x00 ", "InvoiceSequenceKey": 8123}, "InvoiceNumber", "InvoiceSequenceKey 8123"),
    ({"InvoiceLines": [{"LineNumber": 10, "ExtendedCost": "12,50"}]}, "InvoiceLines[10].ExtendedCost",
     "'12,50' is not a number"),
    ({"InvoiceLines": [{"LineNumber": 10, "ExtendedCost": "Infinity"}]}, "InvoiceLines[10].ExtendedCost",
     "is not a number"),
    ({"InvoiceLines": [{"LineNumber": 10, "ExtendedCost": 1e30}]}, "InvoiceLines[10].ExtendedCost", "out of range"),
    ({"InvoiceLines": ["not a line"]}, "InvoiceLines", "not a record"),
    ({"InvoiceLines": []}, "InvoiceLines", "no lines"),
], ids=["feb-30", "9999-99-99", "number-date", "blank-number", "comma-amount", "infinity", "huge", "line-not-dict",
        "no-lines"])
def test_a_bad_invoice_value_is_a_mapping_error_naming_the_field(change: dict, field: str, words: str) -> None:
    with pytest.raises(MappingError) as caught:
        map_po_invoice({**INVOICE, **change}, commitment="1/2")
    assert caught.value.field == field
    assert words in str(caught.value)
    assert len(str(caught.value)) < 400


def test_a_good_invoice_maps() -> None:
    mapped = map_po_invoice(INVOICE, commitment="1/2")
    assert mapped.payload["billing_date"] == "2025-03-01"
    assert mapped.payload["lines"][0]["amount"] == "12.50"


def test_clean_text_strips_controls_surrogates_and_bidi_overrides_but_keeps_scripts() -> None:
    assert clean_text("\x00Acme\x07\u202e Co\u2066\ud800") == "Acme Co"
    assert clean_text("شركة البناء") == "شركة البناء"
    assert clean_text("\u200fשלום\u200e") == "\u200fשלום\u200e"  # RLM/LRM marks are text, not overrides
    assert clean_text("👷🏽‍♀️ Crew") == "👷🏽‍♀️ Crew"  # the zero-width joiner of an emoji stays


def test_checked_helpers() -> None:
    assert checked_date(None) is None and checked_date("  ") is None
    assert str(checked_date("2024-02-29T00:00:00Z")) == "2024-02-29"
    with pytest.raises(ValueError, match="not a valid date"):
        checked_date("2023-02-29T00:00:00Z")
    assert checked_decimal(None) is None and checked_decimal("") is None
    assert str(checked_decimal(" -12.5 ")) == "-12.5"
    for bad in ("abc", "NaN", True, "1e400", 10**16):
        with pytest.raises(ValueError):
            checked_decimal(bad)
    with pytest.raises(ValueError) as caught:
        checked_decimal("x" * 10_000)
    assert len(str(caught.value)) < 80  # the value is cut, not repeated
