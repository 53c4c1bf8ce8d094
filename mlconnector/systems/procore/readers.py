"""Typed reads from Procore."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

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


def list_billing_periods(client: ProcoreClient, project_id: int | str) -> list[dict]:
    """The billing periods of one project (``GET /rest/v1.0/projects/{project_id}/billing_periods``,
    SPEC ``RestV10ProjectsProjectIdBillingPeriodsGet``, paged like every v1.0 list).

    Fields as Procore's OAS ``BillingPeriod`` model names them: ``id, project_id, position,
    start_date, end_date, due_date, status, created_at, updated_at``. The values ``status``
    takes are not documented (the sandbox uses ``open`` and ``closed``): a caller must treat a
    value it does not know as "cannot tell"."""
    return _all_items(client, f"/rest/v1.0/projects/{project_id}/billing_periods", {},
                      what=f"list billing periods of project {project_id}")


def find_requisitions_by_origin_id(client: ProcoreClient, project_id: int, origin_id: str) -> list[dict]:
    return [r for r in _all_items(client, "/rest/v1.0/requisitions",
                             {"project_id": project_id, "filters[origin_id]": origin_id},
                             what=f"find subcontractor invoice {origin_id}") if str(r.get("origin_id") or "") == origin_id]


def requisition_contract_items(client: ProcoreClient, project_id: int, requisition_id: int) -> list[dict]:
    return _all_items(client, f"/rest/v1.0/requisitions/{requisition_id}/contract_items", {"project_id": project_id},
                 what=f"list items of subcontractor invoice {requisition_id}")


# -- the read side of a Procore → ERP sync (procore.md §5.1, §5.3, §5.5, §5.7, §5.9, §5.11) ---------

# The open end of an updated_at range: Procore's filter wants both ends (procore.md §5.11).
FAR_FUTURE = "2999-12-31T23:59:59Z"
COMMITMENT_PATHS = {
    "PurchaseOrderContract": "/rest/v1.0/purchase_order_contracts",
    "WorkOrderContract": "/rest/v1.0/work_order_contracts",
}


def iso_z(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def updated_since_filter(since: datetime | None) -> dict[str, str]:
    """``{"filters[updated_at]": "<since>...<far future>"}``, or no filter for a first full read."""
    return {} if since is None else {"filters[updated_at]": f"{iso_z(since)}...{FAR_FUTURE}"}


def changed_since(row: dict, since: datetime | None) -> bool:
    """Whether a row's ``updated_at`` is at or after ``since``, for lists Procore cannot filter.

    A missing or unreadable ``updated_at`` counts as changed (reading a row twice is harmless,
    missing one is not); a date-only value is compared by date for the same reason.
    """
    if since is None:
        return True
    text = str(row.get("updated_at") or "").strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text) >= (since if since.tzinfo is None else since.astimezone(UTC)).date()
        moment = datetime.fromisoformat(text)
    except ValueError:
        return True
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment >= (since if since.tzinfo else since.replace(tzinfo=UTC))


def vendors_changed(client: ProcoreClient, since: datetime | None) -> Iterator[list[dict]]:
    """Pages of company vendors changed since ``since`` (all when None), active then inactive.

    The active list filters on the server; the inactive list takes no filters (SPEC
    ``RestV10CompaniesCompanyIdVendorsInactiveGet``), so it is read whole and filtered here.
    """
    company_id = client.settings.company_id
    yield from client.get_pages("/rest/v1.0/vendors", {"company_id": company_id, **updated_since_filter(since)},
                                what="list changed vendors")
    try:
        for page in client.get_pages(f"/rest/v1.0/companies/{company_id}/vendors/inactive", {},
                                     what="list inactive vendors"):
            kept = [v for v in page if isinstance(v, dict) and changed_since(v, since)]
            if kept:
                yield kept
    except ResponseError as exc:
        if exc.status not in (403, 404):  # not every account may see this list
            raise


def commitments_changed(client: ProcoreClient, project_id: int | str, since: datetime | None,
                        kind: str = "PurchaseOrderContract") -> Iterator[list[dict]]:
    """Pages of one project's purchase orders (``kind="PurchaseOrderContract"``) or subcontracts
    (``"WorkOrderContract"``) changed since ``since``, each with its ``line_items``.

    A row is the list's compact commitment (``id, number, title, status, executed, vendor{id,
    company, origin_id}, grand_total, origin_id, updated_at, ...``) plus ``kind`` and ``line_items``
    read from ``…/{id}/line_items``: ``{id, amount, description, position, cost_code_id,
    cost_code{id, code, full_code, name, origin_id}, line_item_type_id, line_item_type{id, code,
    name, base_type, ...}, origin_id, updated_at, ...}``. Whether a line edit alone moves the
    commitment's ``updated_at`` in Procore is not verified.
    """
    if kind not in COMMITMENT_PATHS:
        raise ValueError(f"kind must be one of {sorted(COMMITMENT_PATHS)}, not {kind!r}")
    path = COMMITMENT_PATHS[kind]
    for page in client.get_pages(path, {"project_id": project_id, **updated_since_filter(since)},
                                 what=f"list changed {kind}s of project {project_id}"):
        rows = []
        for commitment in page:
            if not isinstance(commitment, dict):
                continue
            lines = _all_items(client, f"{path}/{commitment['id']}/line_items", {"project_id": project_id},
                               what=f"list line items of {kind} {commitment.get('number') or commitment['id']}")
            rows.append({**commitment, "kind": kind, "line_items": lines})
        yield rows


def get_commitment(client: ProcoreClient, project_id: int | str, commitment_id: int | str,
                   kind: str | None = None) -> dict | None:
    """One commitment as :func:`commitments_changed` gives it (``kind`` and ``line_items``), or None.

    Without ``kind`` (e.g. from a requisition's ``commitment_id``) the purchase order endpoint is
    tried first, then the work order one: an id names one object of one kind.
    """
    kinds = [kind] if kind is not None else list(COMMITMENT_PATHS)
    for each in kinds:
        if each not in COMMITMENT_PATHS:
            raise ValueError(f"kind must be one of {sorted(COMMITMENT_PATHS)}, not {each!r}")
        path = COMMITMENT_PATHS[each]
        try:
            found = client.request("GET", f"{path}/{commitment_id}", params={"project_id": project_id},
                                   what=f"read {each} {commitment_id}")
        except ResponseError as exc:
            if exc.status == 404:
                continue
            raise
        lines = _all_items(client, f"{path}/{commitment_id}/line_items", {"project_id": project_id},
                           what=f"list line items of {each} {commitment_id}")
        return {**found, "kind": each, "line_items": lines}
    return None


def requisitions_changed(client: ProcoreClient, project_id: int | str, since: datetime | None) -> Iterator[list[dict]]:
    """Pages of one project's subcontractor invoices changed since ``since`` (``id, commitment_id,
    commitment_type, number, invoice_number, billing_date, period_id, status, vendor_name,
    total_claimed_amount, summary{…, total_retainage, current_payment_due}, origin_id, updated_at``)."""
    yield from client.get_pages("/rest/v1.0/requisitions", {"project_id": project_id, **updated_since_filter(since)},
                                what=f"list changed subcontractor invoices of project {project_id}")


def get_requisition(client: ProcoreClient, project_id: int | str, requisition_id: int | str) -> dict | None:
    """One subcontractor invoice as :func:`requisitions_changed` lists it, or None when it is gone."""
    try:
        return client.request("GET", f"/rest/v1.0/requisitions/{requisition_id}", params={"project_id": project_id},
                              what=f"read subcontractor invoice {requisition_id}")
    except ResponseError as exc:
        if exc.status == 404:
            return None
        raise


def requisition_items(client: ProcoreClient, project_id: int | str, requisition_id: int | str) -> list[dict]:
    """The contract items of one subcontractor invoice (``line_item_id, cost_code_id,
    description_of_work, scheduled_value, work_completed_this_period, materials_presently_stored,
    work_completed_retainage_retained_this_period, ...``)."""
    return requisition_contract_items(client, int(project_id), int(requisition_id))


def payment_applications_changed(client: ProcoreClient, project_id: int | str,
                                 since: datetime | None) -> Iterator[list[dict]]:
    """Pages of one project's owner invoices changed since ``since``. The list takes no filters
    (SPEC ``RestV10PaymentApplicationsGet``), so it is read whole and filtered here; rows carry no
    line detail (read it with :func:`payment_application`)."""
    for page in client.get_pages("/rest/v1.0/payment_applications", {"project_id": project_id},
                                 what=f"list owner invoices of project {project_id}"):
        kept = [row for row in page if isinstance(row, dict) and changed_since(row, since)]
        if kept:
            yield kept


def payment_application(client: ProcoreClient, project_id: int | str, application_id: int | str) -> dict | None:
    """One owner invoice with its ``line_items`` (``cost_code{id, code, full_code, name},
    work_completed_this_period, materials_presently_stored, ...``), or None when it is gone."""
    try:
        return client.request("GET", f"/rest/v1.0/payment_applications/{application_id}",
                              params={"project_id": project_id}, what=f"read owner invoice {application_id}")
    except ResponseError as exc:
        if exc.status == 404:
            return None
        raise


def standard_cost_code_lists(client: ProcoreClient) -> list[dict]:
    """The company's standard cost code lists (``id, name, is_erp_list, available_to_use_on_new_projects``)."""
    return _all_items(client, "/rest/v1.0/standard_cost_code_lists", {"company_id": client.settings.company_id},
                      what="list standard cost code lists")


def standard_cost_codes(client: ProcoreClient, list_id: int | str) -> list[dict]:
    """The codes of one standard list in the extended view (``id, standard_cost_code_list_id,
    parent_id, code, full_code, name, origin_id, origin_data``; the default view has only ids)."""
    return _all_items(client, "/rest/v1.0/standard_cost_codes",
                      {"company_id": client.settings.company_id, "standard_cost_code_list_id": list_id,
                       "view": "extended"}, what=f"list standard cost codes of list {list_id}")
