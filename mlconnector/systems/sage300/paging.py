"""Sage 300 paging with ``$top``/``$skip`` (sage300_syspro.md §1.3).

The server caps a page at its configured ``PageSize`` (100 by default, admin-changeable),
and its ``@odata.nextLink`` keeps only ``$skip`` — it drops ``$filter`` and ``$select``. So we
page ourselves, re-sending every option each time, and use the nextLink only as the signal
that more rows exist and as the source of the next ``$skip``.
"""

from __future__ import annotations

import urllib.parse


def skip_from_next_link(next_link: str | None) -> int | None:
    """The ``$skip`` value carried by an ``@odata.nextLink``, if any."""
    if not next_link:
        return None
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(next_link).query)
    for key in ("$skip", "%24skip", "skip"):
        values = query.get(key)
        if values and values[0].isdigit():
            return int(values[0])
    return None


def total_count(body: dict) -> int | None:
    """``@odata.count`` (v4, integer) or ``odata.count`` (older JSON light, a string)."""
    for key in ("@odata.count", "odata.count"):
        value = body.get(key)
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            return int(value)
    return None


def next_skip(*, skip: int, received: int, requested: int, next_link: str | None, total: int | None) -> int | None:
    """Where the next page starts, or None when this was the last page.

    A page shorter than asked is not proof of the end (the server caps pages); the count and
    the nextLink are. Without either, a short page ends the scan.
    """
    if received == 0:
        return None
    after = skip + received
    linked = skip_from_next_link(next_link)
    if linked is not None and linked > skip:
        return linked
    if total is not None:
        return after if after < total else None
    if next_link is None and received < requested:
        return None
    return after
