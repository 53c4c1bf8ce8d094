"""Procore company standard cost codes as a target: one named list, written with the sync action.

Codes carry ``origin_id`` (prefix + the source's code), so a rerun updates instead of adding, and
a code someone typed into the list by hand with the same code is linked, not duplicated.
"""

from __future__ import annotations

from mlconnector.engine.stream import Mapped, Match, Target, Write, WriteResult
from mlconnector.errors import ConfigError

SYNC_BATCH = 1000  # the most items a Procore sync action takes (procore.md §5.1)


class StandardCostCodeTarget(Target):
    batch_size = SYNC_BATCH

    def __init__(self, client, *, list_name: str, origin_prefix: str) -> None:
        self.client, self.list_name, self.origin_prefix = client, list_name, origin_prefix
        self._list_id: int | None = None
        self._codes: dict[str, dict] | None = None  # origin_id or "code:<code>" -> code

    @property
    def list_id(self) -> int:
        if self._list_id is None:
            from mlconnector.systems.procore.readers import standard_cost_code_lists

            lists = standard_cost_code_lists(self.client)
            found = [x for x in lists if str(x.get("name", "")).strip().casefold() == self.list_name.casefold()]
            if not found:
                names = ", ".join(repr(str(x.get("name"))) for x in lists) or "none"
                raise ConfigError(f"Procore has no standard cost code list named {self.list_name!r} (lists: {names})",
                                  key="cost_code_list",
                                  hint="Create the list in Procore (Company Admin > Cost Codes) or name an "
                                  "existing one in the gl_accounts stream's cost_code_list option.")
            self._list_id = int(found[0]["id"])
        return self._list_id

    @property
    def codes(self) -> dict[str, dict]:
        if self._codes is None:
            from mlconnector.systems.procore.readers import standard_cost_codes

            self._codes = {}
            for code in standard_cost_codes(self.client, self.list_id):
                self._remember(code)
        return self._codes

    def _remember(self, code: dict) -> None:
        assert self._codes is not None
        if code.get("origin_id"):
            self._codes[str(code["origin_id"])] = code
        self._codes.setdefault(f"code:{code.get('full_code') or code.get('code')}", code)

    def idempotency_key(self, source_key: str) -> str:
        return self.origin_prefix + source_key

    def match(self, source_key: str, mapped: Mapped, *, claimed: set[str]) -> Match:
        owned = self.codes.get(self.idempotency_key(source_key))
        if owned is not None:
            return Match(str(owned["id"]), how="origin_id")
        typed = self.codes.get(f"code:{mapped.payload['code']}")
        if typed is not None and not typed.get("origin_id") and str(typed["id"]) not in claimed:
            return Match(str(typed["id"]), how="code")
        return Match()

    def write(self, writes: list[Write]) -> dict[str, WriteResult]:
        from mlconnector.systems.procore.writers import sync_standard_cost_codes

        items = []
        for w in writes:
            item = dict(w.payload, origin_id=w.idempotency_key)
            if w.target_id:
                item["id"] = int(w.target_id)
            items.append(item)
        outcome = sync_standard_cost_codes(self.client, self.list_id, items)
        results: dict[str, WriteResult] = {}
        for w in writes:
            code, rejected = outcome.outcome_of(w.idempotency_key, w.target_id)
            if code is not None:
                results[w.source_key] = WriteResult(target_id=str(code["id"]))
                if self._codes is not None:
                    self._remember(dict(code, origin_id=code.get("origin_id") or w.idempotency_key))
            else:
                results[w.source_key] = WriteResult(error=f"Procore rejected it: {rejected or 'not in the answer'}")
        return results

    def find(self, idempotency_key: str) -> str | None:
        code = self.codes.get(idempotency_key)
        return str(code["id"]) if code else None
