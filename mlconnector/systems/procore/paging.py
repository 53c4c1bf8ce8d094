"""Procore pagination: follow ``Link: <...>; rel="next"`` until it is gone (procore.md §4)."""

from __future__ import annotations

import re

_LINK_PART = re.compile(r'<([^>]*)>\s*;\s*rel="?([A-Za-z]+)"?')


def next_link(link_header: str | None) -> str | None:
    """The URL of ``rel="next"`` in a Link header, or None on the last page."""
    if not link_header:
        return None
    for url, rel in _LINK_PART.findall(link_header):
        if rel.lower() == "next":
            return url
    return None
