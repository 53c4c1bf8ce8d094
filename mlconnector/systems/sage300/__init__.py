"""Sage 300 Web API (IIS-hosted OData): AP vendors; PO documents come with the next issue."""

from mlconnector.systems.sage300.client import Sage300Client

__all__ = ["Sage300Client"]
