"""Typed writes to Procore, through the batch ``…/sync`` endpoints where they exist (procore.md §5).

A sync call always answers HTTP 200 with ``entities`` (what was written) and ``errors``
(each item echoed back with an ``errors`` hash). Items are keyed by ``origin_id``, which
makes a resent batch update what the first one created instead of creating it twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from mlconnector.errors import ResponseError
from mlconnector.systems.procore.client import ProcoreClient
from mlconnector.systems.procore.errors import describe_errors

# Procore accepts up to 1,000 items per sync call; larger batches time out (procore.md §5.1).
SYNC_BATCH_SIZE = 500


@dataclass
class SyncOutcome:
    """What happened to each item of one sync call, by the item's ``origin_id``.

    Items the answer names only by ``id`` (an entity or error echo without ``origin_id``) are
    kept by id too, so an update can still be told apart from a silent drop.
    """

    written: dict[str, dict] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    written_by_id: dict[str, dict] = field(default_factory=dict)
    rejected_by_id: dict[str, str] = field(default_factory=dict)

    def outcome_of(self, origin_id: str, target_id: str | None) -> tuple[dict | None, str | None]:
        """(written entity, rejection message) for one item; both None when not mentioned."""
        if origin_id in self.written:
            return self.written[origin_id], None
        if origin_id in self.rejected:
            return None, self.rejected[origin_id]
        if target_id is not None:
            return self.written_by_id.get(target_id), self.rejected_by_id.get(target_id)
        return None, None


def sync_vendors(client: ProcoreClient, updates: list[dict]) -> SyncOutcome:
    """Create or update up to :data:`SYNC_BATCH_SIZE` vendors in one call.

    Resending after a lost answer is safe: an item whose ``origin_id`` exists is updated.
    """
    return _sync(client, "/rest/v1.0/vendors/sync", {"company_id": client.settings.company_id, "updates": updates},
                 what=f"sync {len(updates)} vendors")


def _sync(client: ProcoreClient, path: str, body: dict, *, params: dict | None = None, what: str) -> SyncOutcome:
    if len(body["updates"]) > SYNC_BATCH_SIZE:
        raise ValueError(f"at most {SYNC_BATCH_SIZE} items per sync call, got {len(body['updates'])}")
    answer = client.request("PATCH", path, params=params, json_body=body, what=what)
    return parse_sync_response(answer, system=client.system)


def sync_purchase_order_contracts(client: ProcoreClient, project_id: int, updates: list[dict]) -> SyncOutcome:
    """Create or update purchase order contracts (commitments) of one project (§5.5)."""
    return _sync(client, "/rest/v1.0/purchase_order_contracts/sync",
                 {"project_id": project_id, "updates": updates},
                 what=f"sync {len(updates)} commitments of project {project_id}")


def sync_commitment_line_items(client: ProcoreClient, project_id: int, contract_id: int,
                               updates: list[dict]) -> SyncOutcome:
    """Create or update a commitment's line items, matched by their ``origin_id``."""
    return _sync(client, f"/rest/v1.0/purchase_order_contracts/{contract_id}/line_items/sync",
                 {"updates": updates}, params={"project_id": project_id},
                 what=f"sync {len(updates)} line items of commitment {contract_id}")


def delete_commitment_line_item(client: ProcoreClient, project_id: int, contract_id: int, line_item_id: int) -> None:
    client.request("DELETE", f"/rest/v1.0/purchase_order_contracts/{contract_id}/line_items/{line_item_id}",
                   params={"project_id": project_id},
                   what=f"delete line item {line_item_id} of commitment {contract_id}")


def sync_direct_costs(client: ProcoreClient, project_id: int, updates: list[dict]) -> SyncOutcome:
    """Create or update direct costs of one project (§5.8)."""
    return _sync(client, f"/rest/v1.0/projects/{project_id}/direct_costs/sync", {"updates": updates},
                 what=f"sync {len(updates)} direct costs of project {project_id}")


def sync_direct_cost_line_items(client: ProcoreClient, project_id: int, updates: list[dict]) -> SyncOutcome:
    return _sync(client, f"/rest/v1.0/projects/{project_id}/direct_costs/line_items/sync", {"updates": updates},
                 what=f"sync {len(updates)} direct cost line items of project {project_id}")


def create_requisition(client: ProcoreClient, project_id: int, commitment_id: int, requisition: dict) -> dict:
    """Create a subcontractor invoice (requisition) on a commitment (§5.7). There is no sync
    endpoint: the caller looks the ``origin_id`` up first, so a retry cannot create a second one."""
    return client.request("POST", "/rest/v1.0/requisitions",
                          json_body={"project_id": project_id, "commitment_id": commitment_id,
                                     "requisition": requisition},
                          what=f"create subcontractor invoice {requisition.get('invoice_number')}")


def update_requisition(client: ProcoreClient, project_id: int, commitment_id: int, requisition_id: int,
                       requisition: dict) -> dict:
    """Update a subcontractor invoice; Procore allows it only on the latest, open one."""
    return client.request("PATCH", f"/rest/v1.0/requisitions/{requisition_id}",
                          json_body={"project_id": project_id, "commitment_id": commitment_id,
                                     "requisition": requisition},
                          what=f"update subcontractor invoice {requisition_id}")


def update_requisition_item(client: ProcoreClient, project_id: int, requisition_id: int, item_id: int,
                            work_completed_this_period: str) -> dict:
    return client.request("PATCH", f"/rest/v1.0/requisitions/{requisition_id}/contract_items/{item_id}",
                          params={"project_id": project_id},
                          json_body={"requisition_contract_item": {"work_completed_this_period":
                                                                   work_completed_this_period}},
                          what=f"bill item {item_id} of subcontractor invoice {requisition_id}")


def parse_sync_response(body: object, *, system: str) -> SyncOutcome:
    if not isinstance(body, dict) or not isinstance(body.get("entities", []), list):
        raise ResponseError("the sync answer has no entities/errors lists", system=system)
    outcome = SyncOutcome()
    for entity in body.get("entities") or []:
        if not isinstance(entity, dict):
            continue
        if entity.get("origin_id"):
            outcome.written[str(entity["origin_id"])] = entity
        if entity.get("id") is not None:
            outcome.written_by_id[str(entity["id"])] = entity
    for item in body.get("errors") or []:
        if not isinstance(item, dict):
            continue
        message = describe_errors(item.get("errors")) or "rejected"
        if item.get("origin_id"):
            outcome.rejected[str(item["origin_id"])] = message
        if item.get("id") is not None:
            outcome.rejected_by_id[str(item["id"])] = message
    return outcome



@dataclass
class StandardCodeSync(SyncOutcome):
    """The outcome of :func:`sync_standard_cost_codes` over all its calls: a :class:`SyncOutcome`
    (``outcome_of(origin_id, id)``) that also keeps the raw lists and unpacks as
    ``entities, errors = ...``."""

    entities: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)

    def __iter__(self) -> Iterator[list[dict]]:
        return iter((self.entities, self.errors))


def sync_standard_cost_codes(client: ProcoreClient, list_id: int, updates: list[dict]) -> StandardCodeSync:
    """Create or update codes of a standard cost code list, matched by ``id`` or ``origin_id``
    (procore.md §5.3), in calls of :data:`SYNC_BATCH_SIZE` items.

    ``entities`` are in the extended view (``id, standard_cost_code_list_id, parent_id, code,
    full_code, name, origin_id, origin_data``; the default view would show ids only); ``errors``
    are the items sent back each with an ``errors`` hash (``describe_errors`` makes it readable).
    """
    outcome = StandardCodeSync()
    for start in range(0, len(updates), SYNC_BATCH_SIZE):
        batch = updates[start:start + SYNC_BATCH_SIZE]
        answer = client.request(
            "PATCH", "/rest/v1.0/standard_cost_codes/sync", params={"view": "extended"},
            json_body={"company_id": client.settings.company_id, "standard_cost_code_list_id": list_id,
                       "updates": batch},
            what=f"sync {len(batch)} standard cost codes of list {list_id}")
        parsed = parse_sync_response(answer, system=client.system)
        if not isinstance(answer.get("errors", []), list):
            raise ResponseError("the standard cost code sync answer has no errors list", system=client.system)
        outcome.written.update(parsed.written)
        outcome.rejected.update(parsed.rejected)
        outcome.written_by_id.update(parsed.written_by_id)
        outcome.rejected_by_id.update(parsed.rejected_by_id)
        outcome.entities.extend(e for e in answer.get("entities") or [] if isinstance(e, dict))
        outcome.errors.extend(e for e in answer.get("errors") or [] if isinstance(e, dict))
    return outcome
