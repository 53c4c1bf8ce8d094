"""Typed writes to Procore, through the batch ``…/sync`` endpoints (procore.md §5.1).

A sync call always answers HTTP 200 with ``entities`` (what was written) and ``errors``
(each item echoed back with an ``errors`` hash). Items are keyed by ``origin_id``, which
makes a resent batch update what the first one created instead of creating it twice.
"""

from __future__ import annotations

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
    if len(updates) > SYNC_BATCH_SIZE:
        raise ValueError(f"at most {SYNC_BATCH_SIZE} vendors per sync call, got {len(updates)}")
    body = client.request(
        "PATCH",
        "/rest/v1.0/vendors/sync",
        json_body={"company_id": client.settings.company_id, "updates": updates},
        what=f"sync {len(updates)} vendors",
    )
    return parse_sync_response(body, system=client.system)


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
