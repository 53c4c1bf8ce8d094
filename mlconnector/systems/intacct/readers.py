"""Typed reads from Sage Intacct: vendors, AP bills, GL accounts and the dimensions a bill line
names (intacct_sage100.md §5). Query strings follow the gateway's grammar: ``FIELD op 'value'``
with spaces around the operator, values single-quoted with ``\\'`` escapes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from mlconnector.systems.intacct._xml import element
from mlconnector.systems.intacct.client import IntacctClient
from mlconnector.systems.intacct.paging import read_by_query

log = logging.getLogger("mlconnector.intacct")

VENDOR = "VENDOR"
APBILL = "APBILL"
GLACCOUNT = "GLACCOUNT"

# Only what a vendor mapping reads: smaller pages (names as readByQuery returns them, flattened).
VENDOR_FIELDS = [
    "RECORDNO", "VENDORID", "NAME", "STATUS", "WHENMODIFIED", "TAXID", "TERMNAME",
    "DISPLAYCONTACT.PRINTAS", "DISPLAYCONTACT.EMAIL1", "DISPLAYCONTACT.PHONE1",
    "DISPLAYCONTACT.MAILADDRESS.ADDRESS1", "DISPLAYCONTACT.MAILADDRESS.ADDRESS2",
    "DISPLAYCONTACT.MAILADDRESS.CITY", "DISPLAYCONTACT.MAILADDRESS.STATE",
    "DISPLAYCONTACT.MAILADDRESS.ZIP", "DISPLAYCONTACT.MAILADDRESS.COUNTRY",
]
BILL_FIELDS = [
    "RECORDNO", "RECORDID", "VENDORID", "STATE", "DOCNUMBER", "DESCRIPTION", "WHENCREATED", "WHENDUE",
    "WHENMODIFIED", "TOTALENTERED", "TOTALDUE",
]
GLACCOUNT_FIELDS = ["RECORDNO", "ACCOUNTNO", "TITLE", "ACCOUNTTYPE", "NORMALBALANCE", "STATUS", "WHENMODIFIED"]
# The id field of each object a bill line may name (validated before posting).
ID_FIELDS = {
    "GLACCOUNT": "ACCOUNTNO",
    "DEPARTMENT": "DEPARTMENTID",
    "LOCATION": "LOCATIONID",
    "PROJECT": "PROJECTID",
    "TASK": "TASKID",
    "COSTTYPE": "COSTTYPEID",
    "VENDOR": "VENDORID",
}


def intacct_datetime(dt: datetime) -> str:
    """``MM/DD/YYYY HH:MM:SS`` as the gateway compares date-times; an aware time is taken to UTC
    first (a naive one is used as it is)."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return dt.strftime("%m/%d/%Y %H:%M:%S")


def quote(value: object) -> str:
    """A query-string literal: ``'Jane\\'s Deli'`` (a backslash is escaped too, so a value ending
    in one cannot swallow the closing quote)."""
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def since_query(since: datetime | None) -> str:
    return f"WHENMODIFIED >= {quote(intacct_datetime(since))}" if since is not None else ""


def _first(client: IntacctClient, obj: str, fields: list[str], query: str, *, what: str) -> list[dict]:
    """The rows of the first page only (a look-up by key expects at most a few)."""
    for page in read_by_query(client, obj, fields, query, what=what):
        return page
    return []


def vendor_pages(client: IntacctClient, since: datetime | None, *,
                 fields: list[str] | None = None) -> Iterator[list[dict]]:
    """Pages of vendors modified at or after ``since`` (every vendor when None)."""
    yield from read_by_query(client, VENDOR, fields or VENDOR_FIELDS, since_query(since), what="read vendors")


def get_vendor(client: IntacctClient, vendor_id: str, *, fields: list[str] | None = None) -> dict | None:
    rows = _first(client, VENDOR, fields or VENDOR_FIELDS, f"VENDORID = {quote(vendor_id)}",
                  what=f"read vendor {vendor_id}")
    return rows[0] if rows else None


def ids_of(client: IntacctClient, obj: str, id_field: str, *, active_only: bool = True) -> set[str]:
    """Every ``id_field`` value of ``obj`` (active records only by default): to check the ids a
    mapping names before a bill is refused for them."""
    query = "STATUS = 'active'" if active_only else ""
    found: set[str] = set()
    for page in read_by_query(client, obj, [id_field], query, what=f"list {obj} ids"):
        found.update(str(row[id_field]) for row in page if row.get(id_field))
    return found


def find_bill(client: IntacctClient, record_id: str, *, vendor_id: str | None = None,
              fields: list[str] | None = None) -> dict | None:
    """The AP bill whose bill number (``RECORDID``) is ``record_id`` (of ``vendor_id`` when given):
    how a write whose answer was lost is found before anything is posted twice."""
    query = f"RECORDID = {quote(record_id)}"
    if vendor_id is not None:
        query += f" AND VENDORID = {quote(vendor_id)}"
    rows = _first(client, APBILL, fields or BILL_FIELDS, query, what=f"find bill {record_id}")
    if len(rows) > 1:
        log.warning("%s: %d bills carry the number %s; using RECORDNO %s", client.system, len(rows), record_id,
                    rows[0].get("RECORDNO"))
    return rows[0] if rows else None


def get_bill(client: IntacctClient, recordno: str | int) -> dict | None:
    """One AP bill with every field and its lines (``APBILLITEMS``: a list of dicts), or None."""
    result = client.call(element("read", object=APBILL, keys=str(recordno), fields="*"),
                         controlid=f"read-APBILL-{recordno}"[:256], what=f"read bill {recordno}")
    rows = result.records()
    return rows[0] if rows else None


def gl_account_pages(client: IntacctClient, since: datetime | None, *,
                     fields: list[str] | None = None) -> Iterator[list[dict]]:
    """Pages of GL accounts modified at or after ``since`` (every account when None)."""
    yield from read_by_query(client, GLACCOUNT, fields or GLACCOUNT_FIELDS, since_query(since),
                             what="read GL accounts")


def get_gl_account(client: IntacctClient, account_no: str, *, fields: list[str] | None = None) -> dict | None:
    rows = _first(client, GLACCOUNT, fields or GLACCOUNT_FIELDS, f"ACCOUNTNO = {quote(account_no)}",
                  what=f"read GL account {account_no}")
    return rows[0] if rows else None


def dimension_rows(client: IntacctClient, obj: str, fields: list[str], query: str = "") -> list[dict]:
    """Every row of a dimension (DEPARTMENT, LOCATION, PROJECT, TASK, COSTTYPE, GLACCOUNT)."""
    rows: list[dict] = []
    for page in read_by_query(client, obj, fields, query, what=f"read {obj}"):
        rows.extend(page)
    return rows


def ping(client: IntacctClient) -> int | None:
    """Sign in and read one page of vendors; how many vendors there are, when the answer says."""
    result = client.call(element("readByQuery", object=VENDOR, fields="RECORDNO", query="", pagesize=1),
                         controlid="ping", what="read vendors")
    return result.totalcount
