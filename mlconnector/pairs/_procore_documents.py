"""Procore project documents with line items as targets: commitments and direct costs.

A document lives in one project, so its target id is ``"<project_id>/<document_id>"``. The
header goes through the document type's ``…/sync`` endpoint (one call per project and batch),
then its lines through the line-item sync, matched by the line's ``origin_id``
(``<document origin_id>:<line number>``). On an update only lines that differ from what
Procore holds are sent, and lines that left the source document are deleted where the API
allows. A completed document gets its closing status after its lines, because Procore refuses
line changes on a closed commitment.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from mlconnector.engine.stream import Mapped, Match, Target, Write, WriteResult
from mlconnector.errors import RemoteError
from mlconnector.http import in_parallel
from mlconnector.pairs._procore_projects import ProjectDirectory
from mlconnector.systems.procore import ProcoreClient
from mlconnector.systems.procore import readers, writers
from mlconnector.systems.procore.writers import SYNC_BATCH_SIZE, SyncOutcome

LINE_FIELDS = ("amount", "description", "quantity", "unit_cost", "uom", "cost_code_id", "line_item_type_id")


def split_target_id(target_id: str) -> tuple[int, int]:
    project_id, _, document_id = target_id.partition("/")
    return int(project_id), int(document_id)


@dataclass
class _DocumentIndex:
    by_origin: dict[str, int] = field(default_factory=dict)
    unowned_by_number: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class _Prepared:
    write: Write
    project_id: int
    header: dict
    lines: list[dict]
    closing: bool
    document_id: int | None = None
    errors: list[str] = field(default_factory=list)


class ProjectDocumentTarget(Target):
    batch_size = SYNC_BATCH_SIZE
    #: What a person calls one ("commitment").
    noun = "document"

    def __init__(self, client: ProcoreClient, directory: ProjectDirectory, *, origin_prefix: str,
                 closing_status: str) -> None:
        self.client = client
        self.directory = directory
        self.origin_prefix = origin_prefix
        self.closing_status = closing_status
        self._indexes: dict[int, _DocumentIndex] = {}

    # -- what each document type says ---------------------------------------------------

    @abstractmethod
    def list_documents(self, project_id: int) -> list[dict]: ...

    @abstractmethod
    def header_item(self, header: dict) -> dict:
        """The mapped header as this document type's sync item."""

    @abstractmethod
    def sync_headers(self, project_id: int, items: list[dict]) -> SyncOutcome: ...

    @abstractmethod
    def sync_lines(self, project_id: int, document_id: int, items: list[dict]) -> SyncOutcome: ...

    def existing_lines(self, project_id: int, document_id: int) -> list[dict] | None:
        """The document's lines in Procore, or None when they cannot be read (then all are sent)."""
        return None

    def delete_line(self, project_id: int, document_id: int, line_id: int) -> None:
        """Remove a line that left the source document (no-op where the API has no way)."""

    # -- Target ----------------------------------------------------------------------------

    def idempotency_key(self, source_key: str) -> str:
        return self.origin_prefix + source_key

    def index(self, project_id: int) -> _DocumentIndex:
        if project_id not in self._indexes:
            index = _DocumentIndex()
            for document in self.list_documents(project_id):
                if document.get("origin_id"):
                    index.by_origin[str(document["origin_id"])] = int(document["id"])
                elif document.get("number") is not None:
                    index.unowned_by_number.setdefault(str(document["number"]).strip(), []).append(int(document["id"]))
            self._indexes[project_id] = index
        return self._indexes[project_id]

    def match(self, source_key: str, mapped: Mapped, *, claimed: set[str]) -> Match:
        project = self.directory.project(mapped.payload["project"])
        if project is None:
            return Match()  # the write says which mapping is missing
        project_id = int(project["id"])
        index = self.index(project_id)
        owned = index.by_origin.get(self.idempotency_key(source_key))
        if owned is not None:
            return Match(f"{project_id}/{owned}", how="origin_id")
        number = str(mapped.payload["header"].get("number") or "").strip()
        candidates = tuple(f"{project_id}/{d}" for d in index.unowned_by_number.get(number, [])
                           if f"{project_id}/{d}" not in claimed)
        if len(candidates) == 1:
            return Match(candidates[0], how="number")
        return Match(candidates=candidates) if candidates else Match()

    def check(self, source_key: str, mapped: Mapped) -> str | None:
        prepared = self._prepare(Write(source_key, self.idempotency_key(source_key), None, mapped.payload))
        return prepared if isinstance(prepared, str) else None

    def find(self, idempotency_key: str) -> str | None:
        for project_id in dict.fromkeys([*self._indexes, *self.directory.project_ids()]):
            document_id = self.index(project_id).by_origin.get(idempotency_key)
            if document_id is not None:
                return f"{project_id}/{document_id}"
        return None

    def write(self, writes: list[Write]) -> dict[str, WriteResult]:
        results: dict[str, WriteResult] = {}
        by_project: dict[int, list[_Prepared]] = {}
        for w in writes:
            prepared = self._prepare(w)
            if isinstance(prepared, str):
                results[w.source_key] = WriteResult(error=prepared)
            else:
                by_project.setdefault(prepared.project_id, []).append(prepared)
        for project_id, documents in by_project.items():
            self._write_project(project_id, documents)
            for doc in documents:
                target_id = f"{project_id}/{doc.document_id}" if doc.document_id is not None else None
                error = "; ".join(doc.errors) or None
                results[doc.write.source_key] = WriteResult(target_id=target_id, error=error)
        return results

    # -- the steps -------------------------------------------------------------------------

    def _prepare(self, w: Write) -> _Prepared | str:
        """Resolve project, cost codes and cost types; a string says what is missing."""
        payload = w.payload
        project = self.directory.project(payload["project"])
        if project is None:
            return (f"no Procore project with number or id {payload['project']} for Sage 300 contract "
                    f"{payload['contract']}: map the contract with `mlconnector mappings import projects.csv`")
        project_id = int(project["id"])
        problems, lines = [], []
        for line in payload["lines"]:
            item = {k: line[k] for k in ("amount", "description", "quantity", "unit_cost", "uom") if k in line}
            item["origin_id"] = f"{w.idempotency_key}:{line['line']}"
            cost_code_id = self.directory.cost_code_id(project_id, line["cost_code"])
            if cost_code_id is None:
                if line["mapped"]:
                    problems.append(f"cost code {line['cost_code']} (mapped from Sage 300 category {line['category']})"
                                    f" does not exist in Procore project {payload['project']}: fix the costcodes "
                                    "mapping or add the cost code in Procore")
                else:
                    problems.append(f"no cost code mapping for Sage 300 category {line['category']} on contract "
                                    f"{line['contract']}: add it with `mlconnector mappings import costcodes.csv`")
                continue
            item["cost_code_id"] = cost_code_id
            if line.get("cost_type"):
                type_id = self.directory.cost_type_id(project_id, line["cost_type"])
                if type_id is None:
                    problems.append(f"cost type {line['cost_type']!r} (line {line['line']}) is not a Procore line "
                                    "item type: fix the costcodes mapping")
                    continue
                item["line_item_type_id"] = type_id
            lines.append(item)
        if problems:
            return "; ".join(dict.fromkeys(problems))
        header = self.header_item(payload["header"])
        closing = header.get("status") == self.closing_status
        document_id = split_target_id(w.target_id)[1] if w.target_id else None
        return _Prepared(w, project_id, header, lines, closing, document_id)

    def _write_project(self, project_id: int, documents: list[_Prepared]) -> None:
        for start in range(0, len(documents), SYNC_BATCH_SIZE):
            batch = documents[start:start + SYNC_BATCH_SIZE]
            items = []
            for doc in batch:
                item = dict(doc.header, origin_id=doc.write.idempotency_key)
                if doc.closing:
                    item.pop("status")  # closed after its lines are in
                if doc.document_id is not None:
                    item["id"] = doc.document_id
                items.append(item)
            outcome = self.sync_headers(project_id, items)
            written: list[_Prepared] = []
            for doc in batch:
                document, rejected = outcome.outcome_of(doc.write.idempotency_key,
                                                        str(doc.document_id) if doc.document_id else None)
                if document is None:
                    doc.errors.append(f"Procore rejected the {self.noun}: {rejected or 'no outcome reported'}")
                    continue
                doc.document_id = int(document["id"])
                self.index(project_id).by_origin[doc.write.idempotency_key] = doc.document_id
                written.append(doc)
            # Line items have no batch endpoint across documents: one call per document, a few
            # in flight at once (the client's pacing and token are shared safely).
            in_parallel(self.client.settings.concurrency, written,
                        lambda doc: self._write_lines(project_id, doc, is_new=doc.write.target_id is None))
            closing = [doc for doc in batch if doc.closing and doc.document_id is not None and not doc.errors]
            if closing:
                outcome = self.sync_headers(project_id, [
                    {"id": doc.document_id, "origin_id": doc.write.idempotency_key, "status": doc.header["status"]}
                    for doc in closing])
                for doc in closing:
                    _, rejected = outcome.outcome_of(doc.write.idempotency_key, str(doc.document_id))
                    if rejected:
                        doc.errors.append(f"Procore refused status {doc.header['status']}: {rejected}")

    def _write_lines(self, project_id: int, doc: _Prepared, *, is_new: bool) -> None:
        wanted = {line["origin_id"]: line for line in doc.lines}
        existing = None if is_new else self.existing_lines(project_id, doc.document_id)
        send = list(wanted.values())
        if existing is not None:
            held = {str(e.get("origin_id")): e for e in existing if e.get("origin_id")}
            send = [line for oid, line in wanted.items() if oid not in held or _differs(line, held[oid])]
            ours = doc.write.idempotency_key + ":"
            for oid, line in held.items():
                if oid.startswith(ours) and oid not in wanted:
                    try:
                        self.delete_line(project_id, doc.document_id, int(line["id"]))
                    except RemoteError as exc:
                        if exc.status == 404:
                            continue  # gone already: a retried delete whose first answer was lost
                        doc.errors.append(f"could not remove line {oid.rsplit(':', 1)[-1]}: {exc.reason}")
        for start in range(0, len(send), SYNC_BATCH_SIZE):
            chunk = send[start:start + SYNC_BATCH_SIZE]
            outcome = self.sync_lines(project_id, doc.document_id, chunk)
            for line in chunk:
                written, rejected = outcome.outcome_of(line["origin_id"], None)
                if written is None:
                    doc.errors.append(f"Procore rejected line {line['origin_id'].rsplit(':', 1)[-1]}: "
                                      f"{rejected or 'no outcome reported'}")

    def describe(self, target_id: str) -> str:
        return f"{self.noun} {target_id}"


def _number(value) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None and value != "" else None
    except InvalidOperation:
        return None


def _differs(wanted: dict, held: dict) -> bool:
    """Whether Procore's line differs from the one we would send."""
    for key in LINE_FIELDS:
        if key not in wanted:
            continue
        have = held.get(key)
        if have is None and key.endswith("_id"):
            nested = held.get(key[:-3])
            have = nested.get("id") if isinstance(nested, dict) else None
        if key in ("amount", "quantity", "unit_cost", "cost_code_id", "line_item_type_id"):
            if _number(wanted[key]) != _number(have):
                return True
        elif str(wanted[key] or "") != str(have or ""):
            return True
    return False


class CommitmentTarget(ProjectDocumentTarget):
    """Purchase order contracts (procore.md §5.5)."""

    noun = "commitment"

    def list_documents(self, project_id: int) -> list[dict]:
        return readers.list_purchase_order_contracts(self.client, project_id)

    def header_item(self, header: dict) -> dict:
        return dict(header)

    def sync_headers(self, project_id: int, items: list[dict]) -> SyncOutcome:
        return writers.sync_purchase_order_contracts(self.client, project_id, items)

    def sync_lines(self, project_id: int, document_id: int, items: list[dict]) -> SyncOutcome:
        return writers.sync_commitment_line_items(self.client, project_id, document_id, items)

    def existing_lines(self, project_id: int, document_id: int) -> list[dict] | None:
        return readers.commitment_line_items(self.client, project_id, document_id)

    def delete_line(self, project_id: int, document_id: int, line_id: int) -> None:
        writers.delete_commitment_line_item(self.client, project_id, document_id, line_id)


class DirectCostTarget(ProjectDocumentTarget):
    """Direct costs of type invoice (procore.md §5.8). Lines that leave the source document
    are not removed: Procore's direct-cost line sync has no delete."""

    noun = "direct cost"

    def list_documents(self, project_id: int) -> list[dict]:
        return [dict(d, number=d.get("invoice_number")) for d in readers.list_direct_costs(self.client, project_id)]

    def header_item(self, header: dict) -> dict:
        item = {
            "direct_cost_type": "invoice",
            "invoice_number": header["number"],
            "description": header.get("title", ""),
            "status": header["status"],
            "vendor_id": header["vendor_id"],
        }
        if header.get("contract_date"):
            item["direct_cost_date"] = header["contract_date"]
        return item

    def sync_headers(self, project_id: int, items: list[dict]) -> SyncOutcome:
        return writers.sync_direct_costs(self.client, project_id, items)

    def sync_lines(self, project_id: int, document_id: int, items: list[dict]) -> SyncOutcome:
        return writers.sync_direct_cost_line_items(self.client, project_id,
                                                   [dict(item, direct_cost_id=document_id) for item in items])
