"""Generic ``create`` / ``update`` of UPPERCASE objects (intacct_sage100.md §5).

A record is a dict: a nested dict becomes nested elements (``DISPLAYCONTACT`` → ``MAILADDRESS``),
a list repeats its key (``{"APBILLITEMS": {"APBILLITEM": [line, line]}}``), None leaves the field
out. Writes go with ``uniqueid=true`` and the caller's deterministic ``controlid``: a resent write
that already ran is refused by the gateway instead of posted twice.
"""

from __future__ import annotations

from lxml import etree

from mlconnector.errors import ResponseError
from mlconnector.systems.intacct._xml import format_value
from mlconnector.systems.intacct.client import IntacctClient, Result


def _add(parent: etree._Element, name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _add(parent, name, item)
        return
    child = etree.SubElement(parent, name)
    if isinstance(value, dict):
        for key, inner in value.items():
            _add(child, key, inner)
    else:
        child.text = format_value(value)


def fields_xml(obj: str, fields: dict) -> etree._Element:
    """``<OBJ>`` holding ``fields`` (every text through ``xml_text``: no control characters)."""
    node = etree.Element(obj)
    for name, value in fields.items():
        _add(node, name, value)
    return node


def recordno_of(result: Result) -> str | None:
    """``RECORDNO`` from ``<data listtype="objects"><obj><RECORDNO>``, else a legacy ``<key>``."""
    for record in result.records():
        if record.get("RECORDNO"):
            return str(record["RECORDNO"])
    return result.key.strip() if result.key and result.key.strip() else None


def create(client: IntacctClient, obj: str, fields: dict, *, controlid: str) -> str:
    """Create one ``obj``; its new RECORDNO."""
    function = etree.Element("create")
    function.append(fields_xml(obj, fields))
    what = f"create {obj}"
    recordno = recordno_of(client.call(function, controlid=controlid, write=True, what=what))
    if recordno is None:
        raise ResponseError(f"{what}: the answer names no RECORDNO for the new record", system=client.system)
    return recordno


def update(client: IntacctClient, obj: str, fields: dict, *, controlid: str) -> str:
    """Update one ``obj`` (keyed by ``RECORDNO``, or its id field such as VENDORID); its RECORDNO."""
    function = etree.Element("update")
    function.append(fields_xml(obj, fields))
    what = f"update {obj}"
    recordno = recordno_of(client.call(function, controlid=controlid, write=True, what=what))
    if recordno is None and fields.get("RECORDNO") is not None:
        recordno = str(fields["RECORDNO"])
    if recordno is None:
        raise ResponseError(f"{what}: the answer names no RECORDNO for the record", system=client.system)
    return recordno
