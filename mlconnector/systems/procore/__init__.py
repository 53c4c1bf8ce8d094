"""Procore: OAuth client credentials, company vendors (more streams come with later pairs)."""

from mlconnector.systems.procore.client import ProcoreClient

__all__ = ["ProcoreClient"]
