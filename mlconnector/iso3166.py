"""ISO-3166 country and subdivision codes, for Procore's ``country_code`` and ``state_code``.

Procore takes only ISO-3166 alpha-2 codes (procore.md §5.1), while Sage stores whatever a
person typed ("USA", "Canada", "CA"). We turn the common spellings into alpha-2 codes and
leave out, with a warning, what we cannot resolve. Country names come from the tz database's
``iso3166.tab`` (public domain).
"""

from __future__ import annotations

import re
import unicodedata

_COUNTRIES = """\
AD	Andorra
AE	United Arab Emirates
AF	Afghanistan
AG	Antigua & Barbuda
AI	Anguilla
AL	Albania
AM	Armenia
AO	Angola
AQ	Antarctica
AR	Argentina
AS	Samoa (American)
AT	Austria
AU	Australia
AW	Aruba
AX	Åland Islands
AZ	Azerbaijan
BA	Bosnia & Herzegovina
BB	Barbados
BD	Bangladesh
BE	Belgium
BF	Burkina Faso
BG	Bulgaria
BH	Bahrain
BI	Burundi
BJ	Benin
BL	St Barthelemy
BM	Bermuda
BN	Brunei
BO	Bolivia
BQ	Caribbean NL
BR	Brazil
BS	Bahamas
BT	Bhutan
BV	Bouvet Island
BW	Botswana
BY	Belarus
BZ	Belize
CA	Canada
CC	Cocos (Keeling) Islands
CD	Congo (Dem. Rep.)
CF	Central African Rep.
CG	Congo (Rep.)
CH	Switzerland
CI	Côte d'Ivoire
CK	Cook Islands
CL	Chile
CM	Cameroon
CN	China
CO	Colombia
CR	Costa Rica
CU	Cuba
CV	Cape Verde
CW	Curaçao
CX	Christmas Island
CY	Cyprus
CZ	Czech Republic
DE	Germany
DJ	Djibouti
DK	Denmark
DM	Dominica
DO	Dominican Republic
DZ	Algeria
EC	Ecuador
EE	Estonia
EG	Egypt
EH	Western Sahara
ER	Eritrea
ES	Spain
ET	Ethiopia
FI	Finland
FJ	Fiji
FK	Falkland Islands
FM	Micronesia
FO	Faroe Islands
FR	France
GA	Gabon
GB	Britain (UK)
GD	Grenada
GE	Georgia
GF	French Guiana
GG	Guernsey
GH	Ghana
GI	Gibraltar
GL	Greenland
GM	Gambia
GN	Guinea
GP	Guadeloupe
GQ	Equatorial Guinea
GR	Greece
GS	South Georgia & the South Sandwich Islands
GT	Guatemala
GU	Guam
GW	Guinea-Bissau
GY	Guyana
HK	Hong Kong
HM	Heard Island & McDonald Islands
HN	Honduras
HR	Croatia
HT	Haiti
HU	Hungary
ID	Indonesia
IE	Ireland
IL	Israel
IM	Isle of Man
IN	India
IO	British Indian Ocean Territory
IQ	Iraq
IR	Iran
IS	Iceland
IT	Italy
JE	Jersey
JM	Jamaica
JO	Jordan
JP	Japan
KE	Kenya
KG	Kyrgyzstan
KH	Cambodia
KI	Kiribati
KM	Comoros
KN	St Kitts & Nevis
KP	Korea (North)
KR	Korea (South)
KW	Kuwait
KY	Cayman Islands
KZ	Kazakhstan
LA	Laos
LB	Lebanon
LC	St Lucia
LI	Liechtenstein
LK	Sri Lanka
LR	Liberia
LS	Lesotho
LT	Lithuania
LU	Luxembourg
LV	Latvia
LY	Libya
MA	Morocco
MC	Monaco
MD	Moldova
ME	Montenegro
MF	St Martin (French)
MG	Madagascar
MH	Marshall Islands
MK	North Macedonia
ML	Mali
MM	Myanmar (Burma)
MN	Mongolia
MO	Macau
MP	Northern Mariana Islands
MQ	Martinique
MR	Mauritania
MS	Montserrat
MT	Malta
MU	Mauritius
MV	Maldives
MW	Malawi
MX	Mexico
MY	Malaysia
MZ	Mozambique
NA	Namibia
NC	New Caledonia
NE	Niger
NF	Norfolk Island
NG	Nigeria
NI	Nicaragua
NL	Netherlands
NO	Norway
NP	Nepal
NR	Nauru
NU	Niue
NZ	New Zealand
OM	Oman
PA	Panama
PE	Peru
PF	French Polynesia
PG	Papua New Guinea
PH	Philippines
PK	Pakistan
PL	Poland
PM	St Pierre & Miquelon
PN	Pitcairn
PR	Puerto Rico
PS	Palestine
PT	Portugal
PW	Palau
PY	Paraguay
QA	Qatar
RE	Réunion
RO	Romania
RS	Serbia
RU	Russia
RW	Rwanda
SA	Saudi Arabia
SB	Solomon Islands
SC	Seychelles
SD	Sudan
SE	Sweden
SG	Singapore
SH	St Helena
SI	Slovenia
SJ	Svalbard & Jan Mayen
SK	Slovakia
SL	Sierra Leone
SM	San Marino
SN	Senegal
SO	Somalia
SR	Suriname
SS	South Sudan
ST	Sao Tome & Principe
SV	El Salvador
SX	St Maarten (Dutch)
SY	Syria
SZ	Eswatini (Swaziland)
TC	Turks & Caicos Is
TD	Chad
TF	French S. Terr.
TG	Togo
TH	Thailand
TJ	Tajikistan
TK	Tokelau
TL	East Timor
TM	Turkmenistan
TN	Tunisia
TO	Tonga
TR	Turkey
TT	Trinidad & Tobago
TV	Tuvalu
TW	Taiwan
TZ	Tanzania
UA	Ukraine
UG	Uganda
UM	US minor outlying islands
US	United States
UY	Uruguay
UZ	Uzbekistan
VA	Vatican City
VC	St Vincent
VE	Venezuela
VG	Virgin Islands (UK)
VI	Virgin Islands (US)
VN	Vietnam
VU	Vanuatu
WF	Wallis & Futuna
WS	Samoa (western)
YE	Yemen
YT	Mayotte
ZA	South Africa
ZM	Zambia
ZW	Zimbabwe
"""

# Alpha-3 codes and everyday names people type into an ERP, beyond the official short names.
_ALIASES = {
    "USA": "US", "U S A": "US", "U S": "US", "UNITED STATES OF AMERICA": "US", "AMERICA": "US",
    "CAN": "CA", "MEX": "MX", "GBR": "GB", "UK": "GB", "U K": "GB", "ENGLAND": "GB",
    "SCOTLAND": "GB", "WALES": "GB", "GREAT BRITAIN": "GB", "IRL": "IE", "AUS": "AU", "NZL": "NZ",
    "DEU": "DE", "GERMANY": "DE", "DEUTSCHLAND": "DE", "FRA": "FR", "ESP": "ES", "ESPANA": "ES",
    "ITA": "IT", "NLD": "NL", "HOLLAND": "NL", "BEL": "BE", "CHE": "CH", "AUT": "AT", "SWE": "SE",
    "NOR": "NO", "DNK": "DK", "FIN": "FI", "POL": "PL", "PRT": "PT", "CHN": "CN", "JPN": "JP",
    "KOR": "KR", "SOUTH KOREA": "KR", "IND": "IN", "BRA": "BR", "ARG": "AR", "CHL": "CL",
    "COL": "CO", "PER": "PE", "ZAF": "ZA", "ARE": "AE", "UAE": "AE", "SAU": "SA", "SGP": "SG",
    "HKG": "HK", "TWN": "TW", "PHL": "PH", "MYS": "MY", "IDN": "ID", "THA": "TH", "VNM": "VN",
    "ISR": "IL", "TUR": "TR", "EGY": "EG", "NGA": "NG", "KEN": "KE", "PRI": "PR", "PUERTO RICO": "PR",
    "GUM": "GU", "VIR": "VI", "MEXICO": "MX", "QUEBEC": "CA", "RUSSIA": "RU", "VIETNAM": "VN",
}

US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR UM VI".split()
)
CA_PROVINCES = frozenset("AB BC MB NB NL NS NT NU ON PE QC SK YT".split())
_SUBDIVISIONS = {"US": US_STATES, "CA": CA_PROVINCES}


def _key(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[^A-Z0-9]+", " ", text.upper()).strip()


_BY_NAME: dict[str, str] = {}
ALPHA2: frozenset[str] = frozenset(line.split("\t")[0] for line in _COUNTRIES.splitlines())
for _line in _COUNTRIES.splitlines():
    _code, _name = _line.split("\t")
    _BY_NAME[_key(_name)] = _code
    # "Korea (South)" and "Congo (Dem. Rep.)" also without the part in brackets.
    _BY_NAME.setdefault(_key(re.sub(r"\(.*?\)", "", _name)), _code)
_BY_NAME.update(_ALIASES)


def country_code(text: str | None) -> str | None:
    """The alpha-2 code for a country as typed in an ERP, or None when it is not a country."""
    if not text:
        return None
    key = _key(text)
    if len(key) == 2 and key in ALPHA2:
        return key
    return _BY_NAME.get(key)


def subdivision_code(country: str, text: str | None) -> str | None:
    """A valid state/province code for ``country``, or None.

    For the US and Canada the code must be a real state or province. Elsewhere we accept a
    short code as typed, because we hold no list to check it against.
    """
    if not text:
        return None
    code = _key(text).replace(" ", "")
    known = _SUBDIVISIONS.get(country)
    if known is not None:
        return code if code in known else None
    return code if 1 <= len(code) <= 3 else None
