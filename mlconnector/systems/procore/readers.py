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


def _all_items(client: ProcoreClient, path: str, params: dict, *, what: str) -> list[dict]:
    items: list[dict] = []
    for page in client.get_pages(path, params, what=what):
        items.extend(item for item in page if isinstance(item, dict))
    return items


def find_vendors_by_origin_id(client: ProcoreClient, origin_id: str) -> list[dict]:
    """The vendors carrying this ``origin_id`` (normally zero or one)."""
    found = _all_items(client, "/rest/v1.0/vendors",
                       {"company_id": client.settings.company_id, "filters[origin_id]": origin_id},
                       what=f"find vendor by origin_id {origin_id}")
    return [v for v in found if str(v.get("origin_id") or "") == origin_id]


def search_vendors(client: ProcoreClient, term: str) -> list[dict]:
    """Active vendors whose name, keywords or origin_code contain ``term`` (``filters[search]``)."""
    return _all_items(client, "/rest/v1.0/vendors",
                      {"company_id": client.settings.company_id, "filters[search]": term},
                      what=f"search vendors for {term!r}")


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


def list_projects(client: ProcoreClient) -> list[dict]:
    """The company's projects this app may see (``id``, ``project_number``, ``name``, ...)."""
    return _all_items(client, "/rest/v1.0/projects", {"company_id": client.settings.company_id},
                      what="list projects")


def list_cost_codes(client: ProcoreClient, project_id: int | str) -> list[dict]:
    """The cost codes of one project (``id``, ``code``, ``full_code``, ``name``, ...)."""
    return _all_items(client, "/rest/v1.0/cost_codes", {"project_id": project_id},
                      what=f"list cost codes of project {project_id}")


def list_line_item_types(client: ProcoreClient, project_id: int | str | None = None) -> list[dict]:
    """The company's line item types, i.e. cost types (``id``, ``code``, ``name``, ``base_type``).

    The spec marks ``project_id`` required; the types are company-wide, so any project will do.
    """
    params: dict = {"company_id": client.settings.company_id}
    if project_id is not None:
        params["project_id"] = project_id
    return _all_items(client, "/rest/v1.0/line_item_types", params, what="list line item types")


# -- project financials (procore.md §5.5, §5.7, §5.8) ----------------------------------------


def list_purchase_order_contracts(client: ProcoreClient, project_id: int) -> list[dict]:
    return _all_items(client, "/rest/v1.0/purchase_order_contracts", {"project_id": project_id},
                      what=f"list commitments of project {project_id}")


def list_direct_costs(client: ProcoreClient, project_id: int) -> list[dict]:
    return _all_items(client, f"/rest/v1.1/projects/{project_id}/direct_costs", {},
                      what=f"list direct costs of project {project_id}")


def commitment_line_items(client: ProcoreClient, project_id: int, contract_id: int) -> list[dict]:
    return _all_items(client, f"/rest/v1.0/purchase_order_contracts/{contract_id}/line_items",
                 {"project_id": project_id}, what=f"list line items of commitment {contract_id}")


def find_requisitions_by_origin_id(client: ProcoreClient, project_id: int, origin_id: str) -> list[dict]:
    return [r for r in _all_items(client, "/rest/v1.0/requisitions",
                             {"project_id": project_id, "filters[origin_id]": origin_id},
                             what=f"find subcontractor invoice {origin_id}") if str(r.get("origin_id") or "") == origin_id]


def requisition_contract_items(client: ProcoreClient, project_id: int, requisition_id: int) -> list[dict]:
    return _all_items(client, f"/rest/v1.0/requisitions/{requisition_id}/contract_items", {"project_id": project_id},
                 what=f"list items of subcontractor invoice {requisition_id}")
