"""mlconnector: sync ERP systems with Procore, one audited pass at a time."""

__version__ = "0.1.0"
