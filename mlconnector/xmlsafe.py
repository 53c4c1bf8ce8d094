"""The one way mlconnector parses XML (SOAP answers from Intacct and SYSPRO, XML exports).

:func:`parse` never resolves an entity, never loads a DTD, never touches the network or the file
system, and refuses outright any document that carries a document type declaration: that is where
external entities (``<!ENTITY x SYSTEM "file:///etc/passwd">``), parameter entities and
entity-expansion bombs ("billion laughs") live, and no API answer we read needs one. Every
integration parses XML through this module, never with ``lxml.etree.fromstring`` directly.
"""

from __future__ import annotations

import re

from lxml import etree

__all__ = ["MAX_XML_BYTES", "UnsafeXMLError", "XMLParseError", "parse", "schema"]

# Far above any API answer we read; a bigger body is refused before lxml sees it.
MAX_XML_BYTES = 50 * 1024 * 1024


class XMLParseError(ValueError):
    """The data is not XML we accept; the message says why (it never quotes the document).

    ``errors`` holds libxml2's log entries for a document that is not well-formed (their
    ``level_name``, ``type``, ``line``, ``column`` and ``message``), for a caller that must
    report them the way a libxml2-based server does."""

    def __init__(self, message: str, errors: list | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class UnsafeXMLError(XMLParseError):
    """The document declares a DOCTYPE (entities, DTDs): refused before anything is resolved."""


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers are not thread-safe.
    return etree.XMLParser(
        resolve_entities=False,  # an entity reference stays a reference; nothing is substituted
        no_network=True,  # never fetch a DTD or entity over the network
        load_dtd=False,  # never read an external DTD
        dtd_validation=False,
        huge_tree=False,  # libxml2's limits on depth and text size stay on
        remove_comments=True,
        remove_pis=True,
    )


def parse(data: bytes) -> etree._Element:
    """The root element of ``data``; :class:`UnsafeXMLError` for a document with a DOCTYPE,
    :class:`XMLParseError` for anything else that is not well-formed XML (or too large)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("xmlsafe.parse takes bytes (the body as received), not text")
    data = bytes(data)
    if len(data) > MAX_XML_BYTES:
        raise XMLParseError(f"the XML document is {len(data):,} bytes; at most {MAX_XML_BYTES:,} are read")
    parser = _parser()
    try:
        parser.feed(data)
        root = parser.close()
    except etree.XMLSyntaxError as exc:
        # lxml fails on an entity it will not resolve; say DOCTYPE when that is the cause.
        if _has_doctype_text(data):
            raise UnsafeXMLError("the XML document declares a DOCTYPE (a DTD or entities); "
                                 "mlconnector never reads DTDs or entities") from None
        raise XMLParseError(f"not well-formed XML: {exc.msg or exc}", list(exc.error_log)) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None or _has_doctype_text(data):
        raise UnsafeXMLError("the XML document declares a DOCTYPE (a DTD or entities); "
                             "mlconnector never reads DTDs or entities")
    return root


def schema(path) -> etree.XMLSchema:
    """An XML Schema read from a file that ships with mlconnector (the sandbox validates Intacct
    requests against the gateway's own XSD), parsed by the same rules as :func:`parse`."""
    with open(path, "rb") as fh:
        return etree.XMLSchema(parse(fh.read()))


_PROLOG_DOCTYPE = re.compile(r"\A\ufeff?\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*)*<!DOCTYPE", re.DOTALL | re.IGNORECASE)


def _has_doctype_text(data: bytes) -> bool:
    """A DOCTYPE in the prolog (before the root element), in UTF-8, UTF-16 or UTF-32."""
    head = data[:65536]
    for encoding in ("utf-8", "utf-16", "utf-32"):
        if _PROLOG_DOCTYPE.match(head.decode(encoding, errors="ignore")):
            return True
    return False
