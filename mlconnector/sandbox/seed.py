"""Deterministic seed data: the vendor master of a Texas general contractor, in Sage 300 and Procore.

Sage 300 holds about 300 subcontractors and suppliers with the mess real ERPs have: odd keys
(``ACME-01``, a space, an apostrophe), accented names, two spellings of one company entered by
two clerks, free-text countries (``USA``, ``US``, ``United States``, ``CAN``, ``Atlantis``), a
state code that does not exist, padded fixed-length fields. Procore already holds some of the
same companies, typed by hand years ago: about 40 spelled differently only in case,
punctuation, whitespace or accents, two that are one company twice (an ambiguous match), one
already linked by ``origin_id`` under a new trading name, and about 20 that only Procore knows.

The same ``seed`` gives the same data (dates are relative to ``sage300.today`` and to the
Procore simulator's clock).
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mlconnector.sandbox.procore import ProcoreSimulator
from mlconnector.sandbox.sage300 import Sage300Simulator

PROCORE_NAME_VARIANTS = 40
PROCORE_ONLY = 20
INACTIVE_SHARE = 0.08


def normalise_name(name: str) -> str:
    """casefold, accents stripped (NFKD without combining marks), non-alphanumeric runs → one space."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[\W_]+", " ", bare).strip()


def origin_id_for(vendor_number: str, company: str = "SAMLTD") -> str:
    """The Procore ``origin_id`` mlconnector gives a Sage 300 vendor: ``sage300:<COMPANY>:<number>``."""
    return f"sage300:{company.upper()}:{vendor_number.strip()}"


# -- places ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    city: str
    state: str
    postal_prefix: str
    area_code: str
    nation: str  # US | CA | MX | other


US_PLACES = [Place(city, state, prefix, area, "US") for city, state, prefix, area in [
    ("Austin", "TX", "787", "512"), ("Round Rock", "TX", "786", "512"), ("San Marcos", "TX", "786", "512"),
    ("San Antonio", "TX", "782", "210"), ("Dallas", "TX", "752", "214"), ("Fort Worth", "TX", "761", "817"),
    ("Houston", "TX", "770", "713"), ("Waco", "TX", "767", "254"), ("Killeen", "TX", "765", "254"),
    ("Phoenix", "AZ", "850", "602"), ("Tucson", "AZ", "857", "520"), ("Denver", "CO", "802", "303"),
    ("Albuquerque", "NM", "871", "505"), ("Oklahoma City", "OK", "731", "405"), ("Tulsa", "OK", "741", "918"),
    ("Shreveport", "LA", "711", "318"), ("Baton Rouge", "LA", "708", "225"), ("Little Rock", "AR", "722", "501"),
    ("Kansas City", "MO", "641", "816"), ("Nashville", "TN", "372", "615"), ("Atlanta", "GA", "303", "404"),
    ("Charlotte", "NC", "282", "704"), ("Tampa", "FL", "336", "813"), ("Orlando", "FL", "328", "407"),
    ("Chicago", "IL", "606", "312"), ("Columbus", "OH", "432", "614"), ("Pittsburgh", "PA", "152", "412"),
    ("Salt Lake City", "UT", "841", "801"), ("Las Vegas", "NV", "891", "702"), ("Sacramento", "CA", "958", "916"),
    ("San Diego", "CA", "921", "619"), ("Seattle", "WA", "981", "206"), ("Portland", "OR", "972", "503"),
]]
HOME_STATE_SHARE = 0.55  # most subcontractors are local to the contractor's Texas jobs
CA_PLACES = [Place(city, prov, prefix, area, "CA") for city, prov, prefix, area in [
    ("Toronto", "ON", "M5V", "416"), ("Mississauga", "ON", "L5T", "905"), ("Ottawa", "ON", "K1P", "613"),
    ("Montréal", "QC", "H3B", "514"), ("Laval", "QC", "H7T", "450"), ("Québec", "QC", "G1K", "418"),
    ("Vancouver", "BC", "V6B", "604"), ("Surrey", "BC", "V3S", "604"), ("Calgary", "AB", "T2P", "403"),
]]
MX_PLACES = [Place(city, state, prefix, area, "MX") for city, state, prefix, area in [
    ("Monterrey", "NL", "640", "81"), ("Tijuana", "BC", "220", "664"), ("Guadalajara", "JAL", "441", "33"),
    ("Ciudad Juárez", "CHH", "323", "656"),
]]
COUNTRY_TEXT = {  # as clerks type it into Sage's free-text Country field
    "US": ["USA"] * 6 + ["US"] * 2 + ["United States"] * 2,
    "CA": ["Canada", "Canada", "CA", "CAN"],
    "MX": ["Mexico", "Mexico", "MX"],
}
ISO_COUNTRY = {"USA": "US", "US": "US", "United States": "US", "Canada": "CA", "CA": "CA", "CAN": "CA",
               "Mexico": "MX", "MX": "MX", "Germany": "DE"}
CURRENCY = {"US": "USD", "CA": "CAD", "MX": "MXN"}

# -- names ----------------------------------------------------------------------------------------

SURNAMES = """Anderson Baker Bennett Brooks Caldwell Carter Castillo Chen Collins Dalton Delgado Dixon Donovan
Ellis Fischer Fleming Garza Gibson Grant Hale Harper Hayes Holt Hughes Jensen Keller Kowalski Larsen Lawson
Lopez Madsen Maxwell McCarthy Mendoza Mercer Morales Nguyen Novak Olsen Ortiz Patel Pearson Quinn Ramirez
Reyes Rhodes Russo Sandoval Schmidt Shaw Sullivan Thornton Torres Vance Walsh Weber Whitfield Yates Brennan
Callahan Doyle Hendricks Kramer Lindqvist Moreau Petrov Sato Tran Vargas Okafor Haddad Becker Ruiz""".split()
PLACE_WORDS = ["Summit", "Ridgeline", "Lakeside", "Granite", "Cascade", "Sierra", "Liberty", "Blue Ridge",
               "Prairie", "Coastal", "Evergreen", "Ironwood", "Red Rock", "Northstar", "Lone Star", "Hill Country",
               "Gulf Coast", "Bluebonnet", "Capitol", "Frontier", "Pioneer", "Heritage", "Silver Creek", "Brazos",
               "Pecos", "Trinity", "Alamo", "Mesa", "Canyon", "Apex", "Precision", "Premier", "Allied", "Metro",
               "Central Texas", "Southwest", "Atlas", "Eagle", "Falcon", "Bedrock", "Cornerstone", "Benchmark",
               "Landmark", "Titan", "Balcones", "Pedernales", "Llano", "Guadalupe"]
TRADES: dict[str, list[str]] = {  # Sage GroupCode -> how such firms name themselves
    "CONC": ["Concrete", "Ready-Mix", "Concrete Pumping", "Concrete Construction", "Flatwork"],
    "REBAR": ["Rebar", "Reinforcing Steel", "Rebar & Mesh"],
    "STEEL": ["Steel Erectors", "Structural Steel", "Iron Works", "Metal Fabrication"],
    "ELEC": ["Electric", "Electrical Contractors", "Electrical Services", "Power & Lighting"],
    "PLUMB": ["Plumbing", "Plumbing & Heating", "Plumbing Contractors"],
    "HVAC": ["Mechanical", "Heating & Air", "HVAC Services", "Air Conditioning"],
    "DRYWL": ["Drywall", "Drywall & Acoustics", "Interiors", "Wallboard Supply"],
    "ROOF": ["Roofing", "Roofing & Sheet Metal", "Roof Systems"],
    "EQUIP": ["Equipment Rental", "Rentals", "Crane Service", "Aerial Lifts"],
    "SURV": ["Surveying", "Land Surveying", "Geomatics"],
    "EXCAV": ["Excavating", "Earthworks", "Grading & Paving", "Site Work"],
    "MASON": ["Masonry", "Brick & Stone", "Block & Brick"],
    "GLASS": ["Glass & Glazing", "Storefronts", "Glass"],
    "PAINT": ["Painting", "Coatings", "Painting & Wallcovering"],
    "FIRE": ["Fire Protection", "Fire Sprinkler", "Fire & Safety"],
    "LUMBER": ["Lumber", "Building Supply", "Lumber & Millwork"],
    "INSUL": ["Insulation", "Spray Foam"],
    "FLOOR": ["Flooring", "Tile & Stone", "Floor Coverings"],
    "WATER": ["Waterproofing", "Caulking & Waterproofing"],
    "DEMO": ["Demolition", "Wrecking"],
    "TRUCK": ["Trucking", "Hauling", "Aggregates"],
    "ENGR": ["Engineering", "Testing & Inspection", "Geotechnical"],
    "FENCE": ["Fence", "Fencing"],
    "LAND": ["Landscaping", "Landscape & Irrigation"],
    "SAFETY": ["Traffic Control", "Safety Supply", "Barricades"],
}
US_SUFFIXES = ["Inc.", ", Inc.", "LLC", ", LLC", "Co.", "Corp.", "Company", "& Sons", "Group", "", ""]
QC_TRADES = {"ELEC": "Électricité", "PLUMB": "Plomberie", "ROOF": "Toitures", "CONC": "Béton",
             "EXCAV": "Excavation", "DRYWL": "Gypse", "STEEL": "Acier", "PAINT": "Peinture"}
QC_SURNAMES = ["Gagnon", "Côté", "Bélanger", "Lévesque", "Tremblay", "Bouchard", "Pelletier", "Gauthier", "Roy"]
MX_TRADES = {"CONC": "Concretos", "STEEL": "Aceros", "ELEC": "Instalaciones Eléctricas",
             "EQUIP": "Maquinaria", "EXCAV": "Terracerías", "LUMBER": "Maderas"}
MX_SURNAMES = ["Hernández", "Martínez", "González", "Rodríguez", "Pérez", "Sánchez", "Ramírez", "Flores"]
FIRST_NAMES = """James Maria Robert Linda Michael Patricia David Jennifer Carlos Sofia Daniel Karen Luis Angela
Kevin Nicole Jose Rebecca Brian Laura Tom Ana Steve Michelle Ryan Diane Marc Chantal Wei Priya""".split()
STREETS = ["Industrial", "Commerce", "Mill", "Oak", "Cedar", "Railroad", "Market", "Enterprise", "Airport",
           "Ranch Road", "Quarry", "Foundry", "Depot", "Warehouse", "Freight", "Kiln", "Tower", "Century"]
STREET_TYPES = ["Blvd", "Pkwy", "Dr", "St", "Ave", "Rd", "Way", "Ln", "Ct", "Loop"]

# Companies only Procore knows: consultants and services nobody bills through Sage AP.
PROCORE_ONLY_NAMES = [
    "Hill Country Permit Expediters", "Red Oak Architects", "Capital City Structural Engineers",
    "Brightline Safety Consulting", "ProClean Final Cleaning", "Westlake Owner's Representatives",
    "Travis County Inspection Services", "Vertex BIM Coordination", "Longhorn Scaffold Rentals",
    "Granite State Commissioning", "Pecan Street Millwork", "Blue Sky Signage", "Armadillo Waste & Recycling",
    "Cypress Creek Elevator Co.", "Texas Stair & Rail", "Sunbelt Window Cleaning", "Mesquite Door & Hardware",
    "Barton Springs Audio Visual", "Northfield Security Systems", "Coyote Temporary Power",
    "Caliche Road Base Supply", "Riverbend Document Control",
]
PROCORE_ONLY_INACTIVE = {"Westlake Owner's Representatives", "Blue Sky Signage"}

# Hand-written Sage vendors for the cases tests and the demo talk about.
SPECIAL_VENDORS: list[dict[str, Any]] = [
    # One company entered twice by two clerks: a near-duplicate inside Sage.
    {"VendorNumber": "ACME-01", "VendorName": "Acme Concrete, LLC", "GroupCode": "CONC", "place": "Austin"},
    {"VendorNumber": "ACMECONC", "VendorName": "ACME CONCRETE LLC", "GroupCode": "CONC", "place": "Austin",
     "Country": "US"},
    {"VendorNumber": "ACMESUP", "VendorName": "Acme Concrete Supply, Inc.", "GroupCode": "CONC",
     "place": "Round Rock", "procore_name": "ACME CONCRETE SUPPLY INC"},
    {"VendorNumber": "GRN VLY", "VendorName": "Green Valley Aggregates", "GroupCode": "TRUCK", "place": "San Marcos"},
    {"VendorNumber": "O'NEIL", "VendorName": "O'Neil Electric Co.", "GroupCode": "ELEC", "place": "Dallas"},
    {"VendorNumber": "BETONQC", "VendorName": "Béton Québec Ltée", "GroupCode": "CONC", "place": "Laval",
     "Country": "Canada", "procore_name": "BETON QUEBEC LTEE"},
    {"VendorNumber": "GARCIAMX", "VendorName": "Construcción García S.A. de C.V.", "GroupCode": "EXCAV",
     "place": "Monterrey", "Country": "Mexico", "procore_name": "Construccion Garcia S.A. de C.V."},
    {"VendorNumber": "MULLERDE", "VendorName": "Müller Gerüstbau GmbH", "GroupCode": "EQUIP", "place": None,
     "City": "München", "StateProvince": "BY", "ZipPostalCode": "80331", "Country": "Germany",
     "PhoneNumber": "+49 89 5550 1234", "CurrencyCode": "EUR", "procore_name": "Muller Gerustbau GmbH"},
    {"VendorNumber": "ATLANTIS", "VendorName": "Poseidon Marine Construction", "GroupCode": "EXCAV",
     "place": "Houston", "Country": "Atlantis"},
    {"VendorNumber": "BADSTATE", "VendorName": "Frontier Directional Drilling", "GroupCode": "EXCAV",
     "place": "Waco", "StateProvince": "XX"},
    {"VendorNumber": "LONGNAME1", "VendorName": "Tri-County Commercial & Industrial Electric Services, LLC",
     "GroupCode": "ELEC", "place": "Killeen"},
    {"VendorNumber": "LONGNAME2", "VendorName": "Southwest Regional Heavy Highway & Bridge Construction, Inc.",
     "GroupCode": "EXCAV", "place": "San Antonio"},
    # Procore holds this company twice: matching it by name is ambiguous.
    {"VendorNumber": "SUMMIT", "VendorName": "Summit Rebar & Steel, Inc.", "GroupCode": "REBAR", "place": "Austin",
     "procore_twins": ["Summit Rebar & Steel Inc.", "SUMMIT REBAR & STEEL, INC."]},
    # Already synced once: Procore has it by origin_id, under the name it trades as now.
    {"VendorNumber": "KEYSURV", "VendorName": "Keystone Survey Group", "GroupCode": "SURV", "place": "Austin",
     "procore_linked_name": "Keystone Surveying & Mapping, LLC"},
]
_SPECIAL_KEYS = {"place", "procore_name", "procore_twins", "procore_linked_name"}


def seed(sage300: Sage300Simulator, procore: ProcoreSimulator, *, vendors: int = 300, seed: int = 7) -> dict[str, int]:
    """Fill both simulators (vendors, then the financial data of ``seed_financials``); return how
    many records of each kind were made."""
    rng = random.Random(seed)
    today = sage300.today
    taken: set[str] = set()  # normalised names in use, so generated names never collide by accident
    sage_records = []
    for special in SPECIAL_VENDORS:
        place = _place_named(special["place"]) if special["place"] else None
        fields = {k: v for k, v in special.items() if k not in _SPECIAL_KEYS}
        sage_records.append(_sage_vendor(rng, today, fields, place))
        taken.add(normalise_name(special["VendorName"]))
    generated = []
    for number in range(1, max(0, vendors - len(SPECIAL_VENDORS)) + 1):
        place = _random_place(rng)
        group = rng.choice(sorted(TRADES))
        name = _company_name(rng, place, group, taken)
        record = _sage_vendor(rng, today, {"VendorNumber": f"V{number:05d}", "VendorName": name,
                                           "GroupCode": group}, place)
        generated.append(record)
    for record in rng.sample(generated, round(len(generated) * INACTIVE_SHARE)):
        record["Status"] = "Inactive"
        record["InactiveDate"] = record["DateLastMaintained"]
    for record in sage_records + generated:
        sage300.upsert_vendor(**record)

    now = procore.clock()
    counts = {"procore_name_variants": 0, "procore_ambiguous": 0, "procore_linked_by_origin_id": 0,
              "procore_only": 0, "procore_inactive": 0}
    by_number = {r["VendorNumber"]: r for r in sage_records + generated}
    for special in SPECIAL_VENDORS:
        record = by_number[special["VendorNumber"]]
        if "procore_name" in special:
            procore.add_vendor(**_procore_copy(rng, now, record, special["procore_name"]))
            counts["procore_name_variants"] += 1
        for twin in special.get("procore_twins", []):
            procore.add_vendor(**_procore_copy(rng, now, record, twin))
            counts["procore_ambiguous"] += 1
        if "procore_linked_name" in special:
            procore.add_vendor(**_procore_copy(rng, now, record, special["procore_linked_name"]),
                               origin_id=origin_id_for(record["VendorNumber"], sage300.company),
                               origin_code=record["VendorNumber"].strip())
            counts["procore_linked_by_origin_id"] += 1
    active = [r for r in generated if r["Status"] == "Active"]
    wanted = max(0, PROCORE_NAME_VARIANTS - counts["procore_name_variants"])
    for record in rng.sample(active, min(wanted, len(active))):
        procore.add_vendor(**_procore_copy(rng, now, record, _spelling_variant(rng, record["VendorName"].strip())))
        counts["procore_name_variants"] += 1
    for name in [n for n in PROCORE_ONLY_NAMES if normalise_name(n) not in taken][:PROCORE_ONLY]:
        inactive = name in PROCORE_ONLY_INACTIVE
        procore.add_vendor(**_procore_only(rng, now, name), is_active=not inactive)
        counts["procore_only"] += 1
        counts["procore_inactive"] += inactive

    all_sage = sage_records + generated
    return {
        "sage300_vendors": len(all_sage),
        "sage300_inactive": sum(r["Status"] == "Inactive" for r in all_sage),
        "sage300_canadian": sum(ISO_COUNTRY.get(r["Country"]) == "CA" for r in all_sage),
        "sage300_mexican": sum(ISO_COUNTRY.get(r["Country"]) == "MX" for r in all_sage),
        "sage300_odd_keys": sum(not re.fullmatch(r"V\d{5}", r["VendorNumber"]) for r in all_sage),
        "sage300_near_duplicate_pairs": 1,
        "procore_vendors": sum(counts[k] for k in counts if k != "procore_inactive"),
        **counts,
        **seed_financials(sage300, procore, seed=seed),
    }


# -- Sage side ------------------------------------------------------------------------------------


def _place_named(city: str) -> Place:
    return next(p for p in US_PLACES + CA_PLACES + MX_PLACES if p.city == city)


def _random_place(rng: random.Random) -> Place:
    roll = rng.random()
    if roll < 0.03:
        return rng.choice(MX_PLACES)
    if roll < 0.12:
        return rng.choice(CA_PLACES)
    if roll < 0.12 + HOME_STATE_SHARE:
        return rng.choice([p for p in US_PLACES if p.state == "TX"])
    return rng.choice(US_PLACES)


def _company_name(rng: random.Random, place: Place, group: str, taken: set[str]) -> str:
    """A trade-appropriate company name, at most 60 characters, unique after normalisation."""
    for attempt in range(50):
        if place.state == "QC" and group in QC_TRADES:
            name = f"{QC_TRADES[group]} {rng.choice(QC_SURNAMES)} {rng.choice(['Inc.', 'Ltée', 'Ltd.'])}"
        elif place.nation == "MX" and group in MX_TRADES:
            name = f"{MX_TRADES[group]} {rng.choice(MX_SURNAMES)} {rng.choice(['S.A. de C.V.', 'S. de R.L. de C.V.'])}"
        else:
            owner = rng.choice(SURNAMES) if rng.random() < 0.5 else rng.choice(PLACE_WORDS)
            if rng.random() < 0.08:
                owner = f"{rng.choice(SURNAMES)} & {rng.choice(SURNAMES)}"
            suffix = rng.choice(["Ltd.", "Inc.", "Ltd."]) if place.nation == "CA" else rng.choice(US_SUFFIXES)
            name = f"{owner} {rng.choice(TRADES[group])}"
            name += suffix if suffix.startswith(",") else f" {suffix}" if suffix else ""
        if attempt >= 40:  # the name space is getting full (very large seeds): number the branch
            name = f"{name} No. {attempt}"
        if len(name) <= 60 and normalise_name(name) not in taken:
            taken.add(normalise_name(name))
            return name
    raise RuntimeError("could not find a unique vendor name")


def _sage_vendor(rng: random.Random, today: date, fields: dict[str, Any], place: Place | None) -> dict[str, Any]:
    """A full APVendors record: ``fields`` win over everything made up here."""
    name = fields["VendorName"]
    nation = place.nation if place else "other"
    domain = _domain(name, nation)
    first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
    start = today - timedelta(days=rng.randint(400, 6000))
    # Spread over ~2 years, with a cluster of recent edits so incremental syncs have work.
    age = rng.randint(0, 6) if rng.random() < 0.06 else rng.randint(0, 730)
    maintained = max(start, today - timedelta(days=age))
    record: dict[str, Any] = {
        "VendorNumber": fields["VendorNumber"],
        "ShortName": re.sub(r"[^A-Z0-9 ]", "", _strip_accents(name).upper())[:10].ljust(10),  # fixed width
        "GroupCode": fields["GroupCode"].ljust(6),  # fixed width, padded like the Sage view
        "Status": "Active",
        "InactiveDate": None,
        "DateLastMaintained": f"{maintained:%Y-%m-%d}",
        "OnHold": "OnHold" if rng.random() < 0.03 else "NotOnHold",
        "StartDate": f"{start:%Y-%m-%d}",
        "VendorName": name.ljust(60) if rng.random() < 0.1 else name,
        **_address(rng, place),
        "ContactName": f"{first} {last}" if rng.random() < 0.8 else "",
        "PhoneNumber": _phone(rng, place) if place else "",
        "FaxNumber": _phone(rng, place) if place and rng.random() < 0.35 else "",
        "Email": f"{rng.choice(['ap', 'accounting', 'billing', 'office', 'invoices', 'ar'])}@{domain}"
        if rng.random() < 0.85 else "",
        "ContactsEmail": f"{first[0].lower()}{last.lower()}@{domain}" if rng.random() < 0.6 else "",
        "WebSite": f"www.{domain}" if rng.random() < 0.5 else "",
        "CurrencyCode": CURRENCY.get(nation, "USD"),
        "Terms": rng.choice(["NET30"] * 5 + ["NET45", "NET15", "2%10", "NET60", "DUE"]),
        "TaxGroup": {"US": "TEXAS" if place and place.state == "TX" else "USFED", "CA": "CANADA",
                     "MX": "MEXICO"}.get(nation, "EXPORT"),
        "TaxRegistrationCode1": _tax_id(rng, nation) if rng.random() < 0.6 else "",
        "LegalName": name if rng.random() < 0.25 else "",
        "BusinessRegistrationNumber": "",
    }
    record.update({k: v for k, v in fields.items() if k not in ("VendorName", "GroupCode")})
    return record


def _address(rng: random.Random, place: Place | None) -> dict[str, str]:
    if place is None:
        return {"AddressLine1": "Industriestraße 12", "AddressLine2": "", "AddressLine3": "", "AddressLine4": "",
                "City": "", "StateProvince": "", "ZipPostalCode": "", "Country": ""}
    number = rng.randint(100, 19999)
    if place.state == "QC":
        line1 = f"{number} {rng.choice(['rue Saint-Denis', 'boulevard Saint-Laurent', 'rue Sherbrooke Ouest', 'chemin Sainte-Foy'])}"
    elif place.nation == "MX":
        line1 = f"Av. {rng.choice(['Constitución', 'Revolución', 'Industrial', 'Juárez'])} {number % 3000}"
    else:
        line1 = f"{number} {rng.choice(STREETS)} {rng.choice(STREET_TYPES)}"
    line2 = ""
    if rng.random() < 0.25:
        line2 = rng.choice([f"Suite {rng.randint(100, 950)}", f"Unit {rng.randint(1, 40)}",
                            f"Bldg {rng.choice('ABCDE')}", f"PO Box {rng.randint(100, 9999)}"])
    if place.nation == "CA":
        postal = f"{place.postal_prefix} {rng.randint(1, 9)}{rng.choice('ABCEGHJKLMNPRSTVXY')}{rng.randint(1, 9)}"
    elif place.nation == "MX":
        postal = f"{place.postal_prefix}{rng.randint(0, 99):02d}"
    else:
        postal = f"{place.postal_prefix}{rng.randint(0, 99):02d}"
        if rng.random() < 0.15:
            postal += f"-{rng.randint(1000, 9999)}"
    return {
        "AddressLine1": line1.ljust(60) if rng.random() < 0.1 else line1,
        "AddressLine2": line2, "AddressLine3": "", "AddressLine4": "",
        "City": place.city, "StateProvince": place.state, "ZipPostalCode": postal,
        "Country": rng.choice(COUNTRY_TEXT[place.nation]),
    }


def _phone(rng: random.Random, place: Place) -> str:
    line = f"01{rng.randint(0, 99):02d}"  # 555-0100..0199 are reserved for fiction
    if place.nation == "MX":
        return f"+52 {place.area_code} 5555 {line}"
    return rng.choice([f"({place.area_code}) 555-{line}", f"{place.area_code}-555-{line}",
                       f"{place.area_code}.555.{line}", f"{place.area_code}555{line}"])


def _tax_id(rng: random.Random, nation: str) -> str:
    if nation == "CA":
        return f"{rng.randint(100000000, 999999999)}RT0001"
    if nation == "MX":
        return f"{''.join(rng.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZ') for _ in range(3))}{rng.randint(700101, 991231)}A{rng.randint(10, 99)}"
    return f"{rng.randint(10, 99)}-{rng.randint(1000000, 9999999)}"


def _domain(name: str, nation: str) -> str:
    words = [w for w in normalise_name(name).split() if w not in {"inc", "llc", "co", "corp", "ltd", "ltee", "the"}]
    stem = "".join(words[:2]) or "vendor"
    return stem + {"CA": ".ca", "MX": ".com.mx"}.get(nation, ".com")


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


# -- Procore side ---------------------------------------------------------------------------------


_SPELLING_CHANGES = [
    str.upper,
    str.lower,
    str.title,
    lambda s: re.sub(r"[.,]", "", s).upper(),
    lambda s: s.replace(",", ""),
    lambda s: s.replace(".", ""),
    lambda s: s.replace(" ", "  ", 1),
    lambda s: s.replace("-", " "),
    lambda s: s.replace(" & ", " - "),
    lambda s: s + "." if not s.endswith(".") else s[:-1],
    _strip_accents,
]


def _spelling_variant(rng: random.Random, name: str) -> str:
    """The same name as someone else typed it: only case, punctuation, whitespace or accents differ."""
    for _ in range(100):
        variant = name
        for change in rng.sample(_SPELLING_CHANGES, rng.randint(1, 2)):
            variant = change(variant)
        if variant != name and normalise_name(variant) == normalise_name(name):
            return variant
    raise RuntimeError(f"no spelling variant for {name!r}")


def _procore_copy(rng: random.Random, now: float, sage: dict[str, Any], name: str) -> dict[str, Any]:
    """A Procore directory entry typed by hand from the same company's letterhead (no origin_id)."""
    country = ISO_COUNTRY.get(sage["Country"])
    created = now - rng.randint(200, 1500) * 86400 - rng.randint(0, 86399)
    return {
        "name": name,
        "address": sage["AddressLine1"].strip() or None,
        "city": sage["City"].strip() or None,
        "state_code": sage["StateProvince"].strip() if country in ("US", "CA") else None,
        "country_code": country,
        "zip": sage["ZipPostalCode"].strip() or None,
        "business_phone": sage["PhoneNumber"] or None,
        "email_address": sage["Email"] or None,
        "created_at": _iso(created),
        "updated_at": _iso(created + rng.randint(0, 150) * 86400),
    }


def _procore_only(rng: random.Random, now: float, name: str) -> dict[str, Any]:
    place = rng.choice([p for p in US_PLACES if p.state == "TX"])
    created = now - rng.randint(30, 1500) * 86400 - rng.randint(0, 86399)
    return {
        "name": name,
        "address": f"{rng.randint(100, 9999)} {rng.choice(STREETS)} {rng.choice(STREET_TYPES)}",
        "city": place.city, "state_code": place.state, "country_code": "US",
        "zip": f"{place.postal_prefix}{rng.randint(0, 99):02d}",
        "business_phone": f"({place.area_code}) 555-01{rng.randint(0, 99):02d}",
        "email_address": f"office@{_domain(name, 'US')}",
        "created_at": _iso(created),
        "updated_at": _iso(created + rng.randint(0, 60) * 86400),
    }


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- purchase orders, PO invoices and Procore's financial tools ------------------------------------
#
# Procore holds four projects, each with the same CSI cost codes, the company's five cost types and
# an open billing period, except the last project (a requisition there fails with Procore's 422).
# Sage 300 holds about 40 POs of active vendors (about half of them already in Procore by name) and
# about 15 PO invoices. A PO line's ``Contract`` is the Sage contract code: the Procore project number,
# except 24017 for 2024-017 (data/projects.csv maps it). Its ``Category`` is a Procore full cost code,
# except three categories with no counterpart: 01-510 and 03-310 (mapped in data/costcodes.csv) and
# 99-900 (mapped only in data/costcodes-extra.csv, so its POs wait for that mapping).

PROJECTS = [  # (Procore project number, name, Sage contract code, has an open billing period)
    ("2024-017", "Riverside Medical Office", "24017", True),
    ("2024-021", "Harbor Point Apartments", "2024-021", True),
    ("2025-003", "Eastgate Elementary", "2025-003", True),
    ("2025-009", "Mill Street Parking", "2025-009", False),
]
COST_CODES = [
    ("01-100", "General Requirements"), ("01-500", "Temporary Facilities and Equipment"),
    ("03-100", "Concrete Forming"), ("03-200", "Reinforcing"), ("03-300", "Cast-in-Place Concrete"),
    ("04-200", "Unit Masonry"), ("05-100", "Structural Steel"), ("06-100", "Rough Carpentry"),
    ("07-200", "Thermal Insulation"), ("08-100", "Doors and Frames"), ("09-200", "Gypsum Board"),
    ("09-900", "Painting"), ("22-100", "Plumbing"), ("23-100", "HVAC"), ("26-100", "Electrical"),
    ("31-200", "Earthwork"),
]
LINE_ITEM_TYPES = [("L", "Labor", "labor"), ("M", "Materials", "materials"), ("S", "Subcontract", "commitment"),
                   ("E", "Equipment", "equipment"), ("O", "Other", "other")]
# Sage category -> (Procore full cost code, cost type). data/costcodes*.csv hold the same rows.
CATEGORY_MAP = {
    "01-100": ("01-100", "O"), "01-500": ("01-500", "E"), "01-510": ("01-500", "E"), "03-100": ("03-100", "M"),
    "03-200": ("03-200", "M"), "03-300": ("03-300", "M"), "03-310": ("03-300", "S"), "04-200": ("04-200", "M"),
    "05-100": ("05-100", "S"), "06-100": ("06-100", "M"), "07-200": ("07-200", "M"), "08-100": ("08-100", "M"),
    "09-200": ("09-200", "M"), "09-900": ("09-900", "S"), "22-100": ("22-100", "S"), "23-100": ("23-100", "S"),
    "26-100": ("26-100", "S"), "31-200": ("31-200", "E"),
}
EXTRA_CATEGORY_MAP = {"99-900": ("01-100", "O")}  # only in costcodes-extra.csv
UNMAPPED_CATEGORY = "99-900"
PURCHASE_ORDERS = 40
PO_INVOICES = 15
# Sage resource and GL expense account of a line, by cost type.
RESOURCES = {"M": ("MATL", "5100-00"), "S": ("SUB", "5200-00"), "E": ("EQUIP", "5300-00"), "O": ("MISC", "5900-00")}
# What a vendor of each trade (Sage GroupCode) sells, by category.
TRADE_CATEGORIES = {
    "CONC": ["03-300", "03-300", "03-100", "03-310"], "REBAR": ["03-200"], "STEEL": ["05-100"], "ELEC": ["26-100"],
    "PLUMB": ["22-100"], "HVAC": ["23-100"], "DRYWL": ["09-200", "07-200"], "ROOF": ["07-200"],
    "EQUIP": ["01-510", "01-510", "01-500"], "SURV": ["01-100"], "EXCAV": ["31-200"], "MASON": ["04-200"],
    "GLASS": ["08-100"], "PAINT": ["09-900"], "FIRE": ["22-100"], "LUMBER": ["06-100", "03-100"],
    "INSUL": ["07-200"], "WATER": ["07-200"], "DEMO": ["31-200"], "TRUCK": ["31-200"], "ENGR": ["01-100"],
    "FENCE": ["01-100"], "LAND": ["31-200"], "SAFETY": ["01-100", "01-500"],
}
# Category -> items: (ItemNumber, ItemDescription, UnitOfMeasure, unit cost range, quantity range).
ITEMS: dict[str, list[tuple[str, str, str, tuple[float, float], tuple[int, int]]]] = {
    "01-100": [("", "Project signage and barricades", "LS", (850, 2400), (1, 1)),
               ("", "Construction fence rental", "MO", (450, 900), (1, 6))],
    "01-500": [("TEMP-PWR", "Temporary power service", "MO", (600, 1200), (1, 8)),
               ("", "Job trailer rental", "MO", (550, 950), (3, 12))],
    "01-510": [("EQ-SKID", "Skid steer rental", "DAY", (285, 340), (3, 20)),
               ("EQ-LIFT", "Scissor lift 26 ft rental", "WK", (325, 410), (2, 12))],
    "03-100": [("FORM-PLY", "Form plywood 3/4 in. HDO", "EA", (68, 92), (40, 220)),
               ("FORM-TIE", "Snap ties 12 in.", "BOX", (95, 140), (5, 40))],
    "03-200": [("REBAR-#5", "Rebar #5 Gr 60, fabricated", "TON", (1180, 1450), (4, 45)),
               ("REBAR-#4", "Rebar #4 Gr 60, fabricated", "TON", (1150, 1400), (2, 30))],
    "03-300": [("CONC-4000", "Ready-mix concrete 4000 psi", "CY", (148, 175), (40, 600)),
               ("CONC-5000", "Ready-mix concrete 5000 psi", "CY", (162, 190), (30, 400))],
    "03-310": [("PUMP-36M", "Concrete pump, 36 m boom", "HR", (210, 265), (8, 60))],
    "04-200": [("CMU-8", "CMU 8x8x16 standard", "EA", (2.15, 2.85), (800, 9000)),
               ("MORT-S", "Type S mortar", "BAG", (11.5, 14.25), (60, 600))],
    "05-100": [("", "Structural steel, furnish and erect", "TON", (3400, 4200), (20, 180))],
    "06-100": [("LUM-2X4", "2x4x8 SPF stud", "EA", (3.85, 5.2), (200, 3000)),
               ("LUM-PLY", "Plywood sheathing 1/2 in. CDX", "EA", (28, 39), (100, 900))],
    "07-200": [("INS-R19", "Batt insulation R-19", "SF", (0.62, 0.88), (2000, 30000))],
    "08-100": [("HM-3070", "Hollow metal frame 3070", "EA", (185, 260), (10, 120))],
    "09-200": [("GWB-58X", "Gypsum board 5/8 in. Type X 4x12", "EA", (17.5, 23), (200, 4000))],
    "09-900": [("", "Interior painting, labor and material", "LS", (18000, 96000), (1, 1))],
    "22-100": [("", "Plumbing rough-in per proposal", "LS", (45000, 240000), (1, 1)),
               ("PVC-4", "PVC DWV pipe 4 in.", "LF", (6.1, 8.4), (200, 2000))],
    "23-100": [("", "HVAC ductwork and equipment per proposal", "LS", (80000, 380000), (1, 1)),
               ("RTU-10", "Rooftop unit 10 ton", "EA", (14500, 19800), (1, 6))],
    "26-100": [("", "Electrical rough-in and trim per proposal", "LS", (60000, 320000), (1, 1)),
               ("WIRE-12", "THHN #12 copper wire, 500 ft", "RL", (98, 135), (10, 200))],
    "31-200": [("", "Mass excavation and haul-off", "CY", (12.5, 21), (800, 9000)),
               ("FILL-SEL", "Select fill, delivered", "CY", (24, 34), (200, 3000))],
    "99-900": [("", "Miscellaneous job expenses", "LS", (350, 2500), (1, 1))],
}
# Hand-picked vendors that always get a PO: linked by origin_id, a Procore name variant, odd keys.
PO_VENDORS_ALWAYS = ["KEYSURV", "ACMESUP", "O'NEIL", "GRN VLY"]


def seed_financials(sage300: Sage300Simulator, procore: ProcoreSimulator, *, seed: int = 7) -> dict[str, int]:
    """Projects, cost codes, cost types and billing periods in Procore; purchase orders and PO
    invoices in Sage 300 (after the vendors: it picks their vendors). Return the counts."""
    rng = random.Random(f"financials:{seed}")  # its own stream: the vendor data stays as it was
    today = sage300.today
    now = procore.clock()
    projects = _seed_procore_projects(rng, procore, today, now)
    orders = _seed_purchase_orders(rng, sage300, procore, today)
    invoices = _seed_po_invoices(rng, sage300, orders, today)
    no_period = {contract for _, _, contract, has_open_period in PROJECTS if not has_open_period}
    mapped_contracts = {contract for number, _, contract, _ in PROJECTS if contract != number}
    categories = [{line["Category"] for line in po["PurchaseOrderLines"]} for po in orders]
    return {
        "procore_projects": len(projects),
        "procore_cost_codes": sum(len(procore.cost_codes(p["id"])) for p in projects),
        "procore_line_item_types": len(LINE_ITEM_TYPES),
        "procore_open_billing_periods": sum(p["status"] == "open" for project in projects
                                            for p in procore.billing_periods(project["id"])),
        "procore_projects_without_open_period": len(no_period),
        "sage300_purchase_orders": len(orders),
        "sage300_po_lines": sum(len(po["PurchaseOrderLines"]) for po in orders),
        "sage300_po_completed": sum(po["Completed"] == "Yes" for po in orders),
        "sage300_po_vendor_in_procore": sum(po["_vendor_in_procore"] for po in orders),
        "sage300_po_contract_mapped": sum(po["PurchaseOrderLines"][0]["Contract"] in mapped_contracts
                                          for po in orders),
        "sage300_po_category_mapped": sum(bool(c & {"01-510", "03-310"}) for c in categories),
        "sage300_po_category_unmapped": sum(UNMAPPED_CATEGORY in c for c in categories),
        "sage300_po_invoices": len(invoices),
        "sage300_po_invoices_no_open_period": sum(i["InvoiceLines"][0]["Contract"] in no_period for i in invoices),
    }


def _seed_procore_projects(rng: random.Random, procore: ProcoreSimulator, today: date,
                           now: float) -> list[dict[str, Any]]:
    for code, name, base_type in LINE_ITEM_TYPES:
        procore.add_line_item_type(code, name, base_type)
    projects = []
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    for number, name, _, has_open_period in PROJECTS:
        created = now - rng.randint(200, 700) * 86400
        project = procore.add_project(name, number, created_at=_iso(created), updated_at=_iso(created + 86400 * 30))
        for full_code, code_name in COST_CODES:
            procore.add_cost_code(project["id"], full_code, code_name)
        procore.add_billing_period(project["id"], last_month, this_month - timedelta(days=1), open=False)
        if has_open_period:
            next_month = (this_month + timedelta(days=32)).replace(day=1)
            procore.add_billing_period(project["id"], this_month, next_month - timedelta(days=1))
        projects.append(project)
    return projects


def _seed_purchase_orders(rng: random.Random, sage300: Sage300Simulator, procore: ProcoreSimulator,
                          today: date) -> list[dict[str, Any]]:
    """About half the POs go to vendors Procore already has (by name or origin_id), half to others."""
    procore_names = {normalise_name(v["name"]) for v in procore.vendors()}
    linked = {v["origin_id"] for v in procore.vendors() if v["origin_id"]}
    twice = {n for n in procore_names if sum(normalise_name(v["name"]) == n for v in procore.vendors()) > 1}
    special = {v["VendorNumber"] for v in SPECIAL_VENDORS} - set(PO_VENDORS_ALWAYS)
    candidates = [v for v in sage300.vendors()
                  if v["Status"] == "Active" and v["CurrencyCode"] == "USD" and v["GroupCode"].strip() in
                  TRADE_CATEGORIES and v["VendorNumber"] not in special
                  and normalise_name(v["VendorName"]) not in twice]

    def in_procore(vendor: dict[str, Any]) -> bool:
        return (normalise_name(vendor["VendorName"]) in procore_names
                or origin_id_for(vendor["VendorNumber"], sage300.company) in linked)

    always = [v for v in candidates if v["VendorNumber"] in PO_VENDORS_ALWAYS]
    rest = [v for v in candidates if v["VendorNumber"] not in PO_VENDORS_ALWAYS]
    known, unknown = [v for v in rest if in_procore(v)], [v for v in rest if not in_procore(v)]
    pool = always + _many_trades(rng, known, 11) + _many_trades(rng, unknown, 9)
    projects = [PROJECTS[n % len(PROJECTS)] for n in range(PURCHASE_ORDERS)]
    rng.shuffle(projects)
    unmapped = {projects.index(p) for p in PROJECTS[1:3] if p in projects}  # one 99-900 PO in each of two jobs
    orders = []
    for n, project in enumerate(projects):
        vendor = pool[n] if n < len(always) else rng.choice(pool)
        ordered = today - timedelta(days=rng.randint(3, 240))
        offer = [(category, item) for category in sorted(set(TRADE_CATEGORIES[vendor["GroupCode"].strip()]))
                 for item in ITEMS[category]]
        rng.shuffle(offer)
        wanted = rng.choice([1, 1, 2, 2, 3, 4]) - (n in unmapped)
        picked = [offer[k % len(offer)] for k in range(max(1, wanted))]  # repeated items: one line per area
        if n in unmapped:
            picked.append((UNMAPPED_CATEGORY, ITEMS[UNMAPPED_CATEGORY][0]))
        lines = [_po_line(rng, project, category, item, ordered, today) for category, item in picked]
        for k, line in enumerate(lines):
            if picked.count(picked[k]) > 1:
                line["ItemDescription"] += f", area {picked[:k + 1].count(picked[k])}"
        recent = rng.random() < 0.25  # a cluster of recent edits, so incremental syncs have work
        edited = today - timedelta(days=rng.randint(0, 6)) if recent else min(
            today, ordered + timedelta(days=rng.randint(0, 30)))
        main = lines[0]["Category"]
        record = sage300.upsert_purchase_order(
            PurchaseOrderNumber=f"PO{101 + n:06d}", PurchaseOrderDate=ordered, DateLastEdited=edited,
            Vendor=vendor["VendorNumber"], VendorName=vendor["VendorName"],
            Description=f"{ITEMS[main][0][1].split(',')[0]} - {project[1]}",
            Reference=f"Q-{rng.randint(10000, 99999)}" if rng.random() < 0.7 else "",
            Comment="Deliver to jobsite gate 2" if rng.random() < 0.2 else "", PurchaseOrderLines=lines)
        orders.append({**record, "_vendor_in_procore": in_procore(vendor)})
    old = [po for po in orders if po["PurchaseOrderDate"] < f"{today - timedelta(days=120):%Y-%m-%d}"]
    for po in rng.sample(old, min(2, len(old))):  # two finished POs: everything received, closed
        lines = [{**line, "QuantityReceived": line["QuantityOrdered"], "Completed": "Yes"}
                 for line in po["PurchaseOrderLines"]]
        done = date.fromisoformat(po["DateLastEdited"][:10])
        po.update(sage300.upsert_purchase_order(
            PurchaseOrderNumber=po["PurchaseOrderNumber"], Completed="Yes", DateCompleted=done,
            DateLastEdited=done, PurchaseOrderLines=lines))
    return orders


def _many_trades(rng: random.Random, vendors: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """``count`` random vendors, as many trades as possible: one of each trade before a second one."""
    shuffled = rng.sample(vendors, len(vendors))
    seen: dict[str, int] = {}  # trade -> vendors of it so far (a count, not a rescan: 50,000 vendors)
    nth_of_trade = []
    for v in shuffled:
        nth_of_trade.append(seen.get(v["GroupCode"], 0))
        seen[v["GroupCode"]] = nth_of_trade[-1] + 1
    return [v for _, _, v in sorted(zip(nth_of_trade, range(len(shuffled)), shuffled, strict=True),
                                    key=lambda ranked: ranked[:2])][:count]


def _po_line(rng: random.Random, project: tuple[str, str, str, bool], category: str,
             item: tuple[str, str, str, tuple[float, float], tuple[int, int]], ordered: date,
             today: date) -> dict[str, Any]:
    item_number, description, uom, (low_cost, high_cost), (low_qty, high_qty) = item
    quantity = rng.randint(low_qty, high_qty)
    unit_cost = round(rng.uniform(low_cost, high_cost), 2)
    received = 0
    if (today - ordered).days > 21:  # older POs have had deliveries
        received = rng.choice([0, quantity // 2, quantity, quantity])
    cost_type = (CATEGORY_MAP | EXTRA_CATEGORY_MAP)[category][1]
    resource, gl_account = RESOURCES[cost_type]
    return {
        "ItemNumber": item_number, "ItemDescription": description, "UnitOfMeasure": uom,
        "QuantityOrdered": quantity, "QuantityReceived": received, "UnitCost": unit_cost,
        "Contract": project[2], "Project": "SITE" if category[:2] in ("01", "31") else "BLDG",
        "Category": category, "Resource": resource, "GLAccount": gl_account,
    }


def _seed_po_invoices(rng: random.Random, sage300: Sage300Simulator, orders: list[dict[str, Any]],
                      today: date) -> list[dict[str, Any]]:
    """Invoices for what was received; one PO is invoiced twice (two progress invoices) and one
    invoice is on a PO of the project without an open billing period."""
    received = [po for po in orders if any(line["QuantityReceived"] for line in po["PurchaseOrderLines"])]
    no_period = next(contract for _, _, contract, has_open_period in PROJECTS if not has_open_period)
    first = next((po for po in received if po["PurchaseOrderLines"][0]["Contract"] == no_period), None)
    others = [po for po in received if po["PurchaseOrderLines"][0]["Contract"] != no_period]
    chosen = ([first] if first else []) + rng.sample(others, min(PO_INVOICES - 2, len(others)))
    twice = next((po for po in chosen[1:] if all(line["QuantityReceived"] != 1 for line in po["PurchaseOrderLines"])),
                 None)
    invoices = []
    for po in chosen:
        start = date.fromisoformat(po["PurchaseOrderDate"][:10])
        for part in (1, 2) if po is twice else (0,):  # 1 and 2: the first and the second half
            lines = []
            for line in po["PurchaseOrderLines"]:
                half = line["QuantityReceived"] // 2
                quantity = {0: line["QuantityReceived"], 1: half, 2: line["QuantityReceived"] - half}[part]
                if quantity:
                    lines.append({
                        "PurchaseOrderLineNumber": line["LineNumber"], "ItemNumber": line["ItemNumber"],
                        "ItemDescription": line["ItemDescription"], "UnitOfMeasure": line["UnitOfMeasure"],
                        "QuantityReceived": quantity, "UnitCost": line["UnitCost"], "Contract": line["Contract"],
                        "Project": line["Project"], "Category": line["Category"]})
            invoiced = min(today, start + timedelta(days=rng.randint(14, 45)))
            start = invoiced + timedelta(days=1)
            number = rng.choice(["INV-{:05d}", "{:06d}", "{:05d}-A", "TX{:05d}"]).format(rng.randint(1000, 99999))
            while sage300.po_invoice(number) is not None:
                number += "-1"
            invoices.append(sage300.upsert_po_invoice(
                InvoiceNumber=number, InvoiceDate=invoiced, DateLastEdited=min(today, invoiced + timedelta(
                    days=rng.randint(0, 3))), Vendor=po["Vendor"], PurchaseOrderNumber=po["PurchaseOrderNumber"],
                Description=f"Invoice {number}", Reference=po["PurchaseOrderNumber"], InvoiceLines=lines))
    return invoices
