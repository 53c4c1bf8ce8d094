"""Sage Intacct as a target, shared by every pair that posts into it: AP bills.

A bill's key is its ``RECORDID``, which mlconnector writes and owns ("PROCORE-CO-4711"): the
engine's idempotency key, and what a bill is looked up by after an unclear failure. Every post
carries ``uniqueid`` true and a function ``controlid`` derived from that key and the content, so
the gateway refuses a repeated post of the same bill (intacct_sage100.md §4); whatever a create
failure says, the bill is looked up by its key before the failure is believed.

Before a bill is posted, its vendor, GL accounts and every dimension are checked against
Intacct's lists (read once per run, only the lists a bill uses): a value Intacct lacks sends the
record to quarantine naming the value, instead of a half-understood gateway error.
"""

from __future__ import annotations

import secrets

from mlconnector.engine.stream import Mapped, Match, Target, Write, WriteResult, payload_hash
from mlconnector.http import in_parallel

# Line field -> (Intacct object, its id field, what a person calls it).
DIMENSIONS = {
    "ACCOUNTNO": ("GLACCOUNT", "ACCOUNTNO", "GL account"),
    "PROJECTID": ("PROJECT", "PROJECTID", "project"),
    "DEPARTMENTID": ("DEPARTMENT", "DEPARTMENTID", "department"),
    "LOCATIONID": ("LOCATION", "LOCATIONID", "location"),
    "TASKID": ("TASK", "TASKID", "task"),
    "COSTTYPEID": ("COSTTYPE", "COSTTYPEID", "cost type"),
}


def bill_lines(payload: dict) -> list[dict]:
    return list((payload.get("APBILLITEMS") or {}).get("APBILLITEM") or [])


class IntacctDirectory:
    """The ids Intacct has for vendors, GL accounts and dimensions, each list read once a run."""

    def __init__(self, client) -> None:
        self.client = client
        self._ids: dict[str, set[str]] = {}

    def has(self, obj: str, id_field: str, value: str) -> bool:
        if obj not in self._ids:
            from mlconnector.systems.intacct.readers import ids_of

            self._ids[obj] = ids_of(self.client, obj, id_field)
        return value in self._ids[obj]

    def missing(self, payload: dict) -> list[str]:
        """What the bill names that Intacct does not have, as a person would say it."""
        problems: list[str] = []
        vendor = payload.get("VENDORID")
        if vendor and not self.has("VENDOR", "VENDORID", vendor):
            problems.append(f"vendor {vendor}")
        for line in bill_lines(payload):
            for field, (obj, id_field, what) in DIMENSIONS.items():
                value = line.get(field)
                if value and not self.has(obj, id_field, value) and f"{what} {value}" not in problems:
                    problems.append(f"{what} {value}")
        return problems


class IntacctBillTarget(Target):
    """Intacct AP bills (``APBILL`` with ``APBILLITEMS``), created and updated one at a time."""

    def __init__(self, client, *, record_prefix: str, directory: IntacctDirectory | None = None) -> None:
        self.client = client
        self.record_prefix = record_prefix
        self.directory = directory or IntacctDirectory(client)

    def idempotency_key(self, source_key: str) -> str:
        """The bill's RECORDID: the prefix and the source record's own id ("PROCORE-CO-4711" for
        commitment 4711, whose source key is "<project id>/4711")."""
        return self.record_prefix + source_key.rsplit("/", 1)[-1]

    def match(self, source_key: str, mapped: Mapped, *, claimed: set[str]) -> Match:
        found = self.find(mapped.payload["RECORDID"])
        return Match(found, how="RECORDID") if found and found not in claimed else Match()

    def check(self, source_key: str, mapped: Mapped) -> str | None:
        missing = self.directory.missing(mapped.payload)
        return _missing_text(missing) if missing else None

    @property
    def batch_size(self) -> int:
        # Intacct has no batch create for bills: a few are posted at once when allowed.
        concurrency = self.client.settings.concurrency
        return 1 if concurrency <= 1 else 4 * concurrency

    def write(self, writes: list[Write]) -> dict[str, WriteResult]:
        results: dict[str, WriteResult] = {}
        ready = []
        for w in writes:  # the lists are read here, once, before any thread posts
            missing = self.directory.missing(w.payload)
            if missing:
                results[w.source_key] = WriteResult(error=_missing_text(missing))
            else:
                ready.append(w)
        in_parallel(self.client.settings.concurrency, ready, lambda w: results.update({w.source_key: self._post(w)}))
        return results

    def _post(self, w: Write) -> WriteResult:
        from mlconnector.systems.intacct.client import IntacctResultError
        from mlconnector.systems.intacct.writers import create, update

        record_id = w.payload["RECORDID"]
        controlid = controlid_for(w.target_id, record_id, w.payload)
        try:
            if w.target_id:
                update(self.client, "APBILL", {"RECORDNO": w.target_id, **w.payload}, controlid=controlid)
                return WriteResult(target_id=w.target_id)
            return WriteResult(target_id=create(self.client, "APBILL", w.payload, controlid=controlid))
        except IntacctResultError as exc:
            return self._refused(w, record_id, exc)

    def _refused(self, w: Write, record_id: str, exc) -> WriteResult:
        """A refused post may be the echo of an earlier one that went through (a lost answer, a
        replayed record): a create is looked up by the bill's key; an update refused for its
        controlid ran before with this very content."""
        if w.target_id is None:
            found = self.find(record_id)
            if found:
                return WriteResult(target_id=found)
        elif repeated_controlid(exc.message):
            return WriteResult(target_id=w.target_id)
        return WriteResult(error=f"Intacct refused bill {record_id}: {exc.message}")

    def find(self, idempotency_key: str) -> str | None:
        from mlconnector.systems.intacct.readers import find_bill

        bill = find_bill(self.client, idempotency_key)
        return str(bill["RECORDNO"]) if bill else None

    def describe(self, target_id: str) -> str:
        return f"bill RECORDNO {target_id}"


def controlid_for(target_id: str | None, key: str, payload: dict) -> str:
    """The function controlid of a post, which the gateway runs at most once (``uniqueid``).

    A create's is its key and content: the same bill is never created twice, even by another
    run. An update's is also unique to this write (a bill edited A -> B -> A -> B must be
    updated every time); within the write, every resend of it carries the same controlid, so a
    refusal for that controlid means this very update already went through.
    """
    if target_id is None:
        return f"mlc-create-{key}-{payload_hash(payload)[:16]}"
    return f"mlc-update-{key}-{payload_hash(payload)[:12]}-{secrets.token_hex(4)}"


def repeated_controlid(message: str) -> bool:
    # The gateway's wording for a repeated controlid is not documented (intacct_sage100.md §4):
    # any refusal that names the control id counts.
    text = message.casefold()
    return "control id" in text or "controlid" in text


def _missing_text(missing: list[str]) -> str:
    return (f"Intacct has no active {', no active '.join(missing)}; create (or activate) "
            f"{'it' if len(missing) == 1 else 'them'} in Intacct or correct the mapping, then the next sync "
            "posts the bill")
