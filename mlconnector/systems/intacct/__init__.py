"""Sage Intacct through the XML gateway: sessions, readByQuery paging, generic create/update."""

from mlconnector.systems.intacct.client import IntacctClient, Result
from mlconnector.systems.intacct.errors import IntacctErrorDetail, IntacctResultError

__all__ = ["IntacctClient", "IntacctErrorDetail", "IntacctResultError", "Result"]
