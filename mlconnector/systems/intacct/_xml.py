"""Building request XML: every text value passes through :func:`xml_text` first.

XML 1.0 allows only ``#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]``.
Anything else (a vertical tab pasted from Word, a NUL, a lone surrogate) makes the whole request
not well-formed, and the gateway rejects *every* function in it with a control-level
``XL03000003`` (intacct_sage100.md §6). No Intacct SDK strips them, and lxml refuses them
outright, so we drop them here, before lxml escapes ``& < >``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: object) -> str:
    """``value`` as element text: str() of it with every character XML 1.0 forbids removed."""
    return _NOT_XML_CHAR.sub("", value if isinstance(value, str) else str(value))


def format_value(value: object) -> str:
    """The gateway's text form of a Python value (generic functions, intacct_sage100.md §5)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%m/%d/%Y %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%m/%d/%Y")
    if isinstance(value, float):
        # No exponent: 1e-05 is not an amount Intacct reads.
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        return format(value, "f")
    return xml_text(value)


def sub(parent: etree._Element, tag: str, value: object = None) -> etree._Element:
    """Append ``<tag>value</tag>`` to ``parent`` (no text when ``value`` is None)."""
    child = etree.SubElement(parent, tag)
    if value is not None:
        child.text = format_value(value)
    return child


def element(tag: str, value: object = None, **children: object) -> etree._Element:
    """``<tag>`` with text ``value`` or with one child per keyword (None children are left out)."""
    node = etree.Element(tag)
    if value is not None:
        node.text = format_value(value)
    for name, child in children.items():
        if child is not None:
            sub(node, name, child)
    return node
