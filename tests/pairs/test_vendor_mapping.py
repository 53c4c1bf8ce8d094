"""Sage 300 APVendors row -> Procore vendor sync item, field by field; vendor name normalisation."""

from __future__ import annotations

import pytest

from mlconnector.errors import MappingError, RecordError
from mlconnector.pairs._procore import normalise_name
from mlconnector.pairs.sage300_procore.vendors import MAX_NAME, map_vendor


def row(**fields) -> dict:
    """A complete APVendors row as Sage serves it (fixed-width fields padded), overridable."""
    base = {
        "VendorNumber": "V00042",
        "ShortName": "ACMECONC  ",
        "Status": "Active",
        "InactiveDate": None,
        "DateLastMaintained": "2025-06-03T00:00:00Z",
        "VendorName": "Acme Concrete, LLC",
        "AddressLine1": "1200 Industrial Blvd",
        "AddressLine2": "Suite 300",
        "AddressLine3": "",
        "AddressLine4": "",
        "City": "Austin",
        "StateProvince": "TX",
        "ZipPostalCode": "78701",
        "Country": "USA",
        "PhoneNumber": "(512) 555-0142",
        "FaxNumber": "(512) 555-0143",
        "Email": "ap@acmeconcrete.com",
        "WebSite": "www.acmeconcrete.com",
    }
    base.update(fields)
    return base


def test_every_field_of_a_complete_row() -> None:
    mapped = map_vendor(row())
    assert mapped.payload == {
        "origin_code": "V00042",
        "name": "Acme Concrete, LLC",
        "abbreviated_name": "ACMECONC",
        "address": "1200 Industrial Blvd, Suite 300",
        "city": "Austin",
        "state_code": "TX",
        "country_code": "US",
        "zip": "78701",
        "business_phone": "(512) 555-0142",
        "fax_number": "(512) 555-0143",
        "email_address": "ap@acmeconcrete.com",
        "website": "www.acmeconcrete.com",
        "is_active": True,
    }
    assert mapped.warnings == ()
    assert mapped.label == "Acme Concrete, LLC"
    # origin_id is the target's business (namespaced by company), never the mapper's.
    assert "origin_id" not in mapped.payload


def test_address_lines_are_trimmed_and_joined_skipping_empty_ones() -> None:
    mapped = map_vendor(row(AddressLine1="  PO Box 77   ", AddressLine2="", AddressLine3="   ",
                            AddressLine4=" Bldg C "))
    assert mapped.payload["address"] == "PO Box 77, Bldg C"
    # Empty text is left out, not sent as "" (a target may reject "" where it validates).
    assert "address" not in map_vendor(row(AddressLine1="", AddressLine2="", AddressLine3=None,
                                            AddressLine4="")).payload


def test_empty_fields_are_left_out_but_false_is_kept() -> None:
    payload = map_vendor(row(FaxNumber="   ", Email="", WebSite=None, Status="Inactive")).payload
    assert not {"fax_number", "email_address", "website"} & set(payload)
    assert payload["is_active"] is False


def test_padded_fixed_width_fields_are_trimmed() -> None:
    mapped = map_vendor(row(VendorNumber=" V00042 ", VendorName="Acme Concrete, LLC" + " " * 42,
                            City="Austin    ", ZipPostalCode=" 78701 ", Email=" ap@acme.com "))
    assert mapped.payload["origin_code"] == "V00042"
    assert mapped.payload["name"] == "Acme Concrete, LLC"
    assert mapped.payload["city"] == "Austin"
    assert mapped.payload["zip"] == "78701"
    assert mapped.payload["email_address"] == "ap@acme.com"


@pytest.mark.parametrize(("typed", "code"), [
    ("USA", "US"), ("US", "US"), ("United States", "US"), ("united states of america", "US"),
    ("Canada", "CA"), ("CAN", "CA"), ("CA", "CA"), ("México", "MX"), ("Mexico", "MX"), ("MX", "MX"),
    ("Germany", "DE"),
])
def test_country_as_typed_becomes_an_iso_alpha2_code(typed: str, code: str) -> None:
    mapped = map_vendor(row(Country=typed, StateProvince=""))
    assert mapped.payload["country_code"] == code
    assert mapped.warnings == ()


@pytest.mark.parametrize(("country", "state", "code"), [
    ("USA", "tx", "TX"), ("Canada", "QC", "QC"), ("CAN", "ON", "ON"), ("México", "NL", "NL"),
    ("Mexico", "JAL", "JAL"),
])
def test_state_is_kept_when_valid_for_the_country(country: str, state: str, code: str) -> None:
    mapped = map_vendor(row(Country=country, StateProvince=state))
    assert mapped.payload["state_code"] == code
    assert mapped.warnings == ()


@pytest.mark.parametrize("typed", ["Atlantis", "Narnia", "Z"])
def test_an_unknown_country_is_left_out_with_a_warning(typed: str) -> None:
    mapped = map_vendor(row(Country=typed, StateProvince="TX"))
    assert "country_code" not in mapped.payload
    assert "state_code" not in mapped.payload  # a state means nothing without its country
    assert len(mapped.warnings) == 1
    assert repr(typed) in mapped.warnings[0] and "left out" in mapped.warnings[0]


def test_an_invalid_us_state_is_left_out_with_a_warning() -> None:
    mapped = map_vendor(row(Country="USA", StateProvince="XX"))
    assert mapped.payload["country_code"] == "US"
    assert "state_code" not in mapped.payload
    assert mapped.warnings == ("StateProvince 'XX' is not a state code of US: left out",)


def test_a_canadian_province_is_not_accepted_for_the_us() -> None:
    mapped = map_vendor(row(Country="United States", StateProvince="QC"))
    assert "state_code" not in mapped.payload
    assert "QC" in mapped.warnings[0]


def test_no_country_and_no_state_means_neither_and_no_warning() -> None:
    mapped = map_vendor(row(Country="", StateProvince=""))
    assert "country_code" not in mapped.payload and "state_code" not in mapped.payload
    assert mapped.warnings == ()


@pytest.mark.parametrize(("status", "active"), [
    ("Active", True), ("Inactive", False), ("INACTIVE ", False), ("", True),
])
def test_status_maps_to_is_active(status: str, active: bool) -> None:
    assert map_vendor(row(Status=status)).payload["is_active"] is active


def test_control_characters_and_nul_are_stripped() -> None:
    mapped = map_vendor(row(VendorName="\x00Acme\x07 Concrete\x1b, LLC\x00", City="Aus\ttin",
                            AddressLine1="12 Main St\r\n", PhoneNumber="512\x00555\x000142"))
    assert mapped.payload["name"] == "Acme Concrete, LLC"
    assert mapped.payload["city"] == "Austin"
    assert mapped.payload["address"].startswith("12 Main St")
    assert "\r" not in mapped.payload["address"] and "\n" not in mapped.payload["address"]
    assert mapped.payload["business_phone"] == "5125550142"
    for value in mapped.payload.values():
        if isinstance(value, str):
            assert not any(ord(c) < 32 or ord(c) == 127 for c in value), value


def test_emoji_accents_and_right_to_left_text_are_kept() -> None:
    names = ["🏗️ Crane & Rigging 🚧", "Béton Québec Ltée", "שלום בנייה בע\"מ", "شركة البناء الحديث",
             "Müller Gerüstbau GmbH", "株式会社 建設"]
    for name in names:
        assert map_vendor(row(VendorName=name)).payload["name"] == name


@pytest.mark.parametrize("name", ["", "    ", "\x00\x00", None, "\t\r\n"])
def test_an_empty_name_is_a_mapping_error_naming_vendorname(name) -> None:
    with pytest.raises(MappingError) as caught:
        map_vendor(row(VendorName=name))
    error = caught.value
    assert isinstance(error, RecordError)  # quarantined, the run goes on
    assert error.field == "VendorName"
    assert error.source_key == "V00042"
    assert "VendorName" in str(error) and "sage300-procore/vendors V00042" in str(error)
    assert error.hint  # says what a person should do


def test_a_name_longer_than_procore_takes_is_a_mapping_error() -> None:
    assert map_vendor(row(VendorName="N" * MAX_NAME)).payload["name"] == "N" * MAX_NAME
    with pytest.raises(MappingError) as caught:
        map_vendor(row(VendorName="N" * (MAX_NAME + 1)))
    assert caught.value.field == "VendorName"
    assert "256" in str(caught.value) and "255" in str(caught.value)


def test_padding_does_not_count_toward_the_name_limit() -> None:
    assert map_vendor(row(VendorName="N" * MAX_NAME + "   ")).payload["name"] == "N" * MAX_NAME


def test_a_row_without_vendor_number_is_a_mapping_error() -> None:
    with pytest.raises(MappingError) as caught:
        map_vendor(row(VendorNumber="   "))
    assert caught.value.field == "VendorNumber"


def test_the_payload_hash_changes_with_the_data_and_only_with_it() -> None:
    a, b = map_vendor(row()), map_vendor(row(DateLastMaintained="2030-01-01T00:00:00Z", InactiveDate=None))
    assert a.payload_hash == b.payload_hash  # bookkeeping fields are not vendor data
    assert map_vendor(row(PhoneNumber="(512) 555-0199")).payload_hash != a.payload_hash


# -- normalise_name ------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [
    ("Acme Concrete, LLC", "ACME CONCRETE LLC"),
    ("Acme Concrete, LLC", "acme  concrete llc."),
    ("Béton Québec Ltée", "BETON QUEBEC LTEE"),
    ("Construcción García S.A. de C.V.", "Construccion Garcia S.A. de C.V."),
    ("Müller Gerüstbau GmbH", "Muller Gerustbau GmbH"),
    ("O'Neil Electric Co.", "O Neil Electric Co"),
    ("Tri-County Electric", "Tri County Electric"),
    ("  Summit Rebar & Steel, Inc.  ", "SUMMIT REBAR & STEEL INC"),
])
def test_normalise_name_ignores_case_accents_punctuation_and_spacing(a: str, b: str) -> None:
    assert normalise_name(a) == normalise_name(b)


@pytest.mark.parametrize(("a", "b"), [
    ("Acme Concrete LLC", "Acme Concrete Inc"),
    ("Acme Concrete", "Acme Concrete Supply"),
    ("Summit Rebar", "Summit Rebar & Steel"),
])
def test_normalise_name_keeps_words_that_may_mean_another_company(a: str, b: str) -> None:
    assert normalise_name(a) != normalise_name(b)


def test_normalise_name_of_nothing() -> None:
    assert normalise_name(None) == ""
    assert normalise_name(" ,.- ") == ""
