"""Typed reads from Procore."""

from __future__ import annotations

from collections.abc import Iterator

from mlconnector.errors import ResponseError
from mlconnector.systems.procore.client import ProcoreClient


def iter_vendors(client: ProcoreClient, *, include_inactive: bool = True) -> Iterator[list[dict]]:
    """Yield pages of the company's vendors, active ones and then inactive ones.

    Procore lists inactive vendors on their own endpoint (procore.md §5.1); a match that
    ignored them would create a duplicate of every deactivated vendor.
    """
    company_id = client.settings.company_id
    yield from client.get_pages("/rest/v1.0/vendors", {"company_id": company_id}, what="list vendors")
    if include_inactive:
        try:
            yield from client.get_pages(
                f"/rest/v1.0/companies/{company_id}/vendors/inactive", {}, what="list inactive vendors"
            )
        except ResponseError as exc:
            # Not every account may see this list; active vendors still match.
            if exc.status not in (403, 404):
                raise


def find_vendors_by_origin_id(client: ProcoreClient, origin_id: str) -> list[dict]:
    """The vendors carrying this ``origin_id`` (normally zero or one)."""
    found: list[dict] = []
    for page in client.get_pages(
        "/rest/v1.0/vendors",
        {"company_id": client.settings.company_id, "filters[origin_id]": origin_id},
        what=f"find vendor by origin_id {origin_id}",
    ):
        found.extend(v for v in page if str(v.get("origin_id") or "") == origin_id)
    return found


def search_vendors(client: ProcoreClient, term: str) -> list[dict]:
    """Active vendors whose name, keywords or origin_code contain ``term`` (``filters[search]``)."""
    found: list[dict] = []
    for page in client.get_pages(
        "/rest/v1.0/vendors",
        {"company_id": client.settings.company_id, "filters[search]": term},
        what=f"search vendors for {term!r}",
    ):
        found.extend(v for v in page if isinstance(v, dict))
    return found


def get_vendor(client: ProcoreClient, vendor_id: int | str) -> dict | None:
    try:
        return client.request(
            "GET",
            f"/rest/v1.0/vendors/{vendor_id}",
            params={"company_id": client.settings.company_id},
            what=f"read vendor {vendor_id}",
        )
    except ResponseError as exc:
        if exc.status == 404:
            return None
        raise


def company(client: ProcoreClient) -> dict:
    """The configured company as the API sees it (used by ``ping``)."""
    for page in client.get_pages("/rest/v1.0/companies", {}, what="list companies"):
        for item in page:
            if str(item.get("id")) == str(client.settings.company_id):
                return item
    raise ResponseError(
        f"company {client.settings.company_id} is not among the companies this app is installed for",
        system=client.system,
        hint="Check company_id in the configuration and the app's installation in Procore App Management.",
    )
