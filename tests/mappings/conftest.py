"""Fixtures for the mapping-table tests: a configuration that needs no server, a state file
seeded with mappings, and a fake Procore (httpx.MockTransport) serving projects, cost codes and
line item types."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

PAIR = "sage300-procore"

CONFIG = """\
state: state.db
systems:
  sage300:
    kind: sage300
    url: http://127.0.0.1:9/Sage300WebApi/v1.0/-/SAMLTD
    username: ADMIN
  procore:
    kind: procore
    api_url: http://127.0.0.1:9
    login_url: http://127.0.0.1:9
    company_id: 4242
    page_size: 2
pairs:
  sage300-procore:
    source: sage300
    target: procore
    streams:
      vendors: {enabled: true}
"""

# What the state holds before each import: an import that fails must leave exactly this.
SEEDED = {
    "projects": {"OLD": {"procore_project": "2023-007"}},
    "costcodes": {"OLD-1|*": {"procore_project": "*", "procore_cost_code": "01-000", "cost_type": ""}},
}


@dataclass
class Env:
    dir: Path

    @property
    def config_path(self) -> Path:
        return self.dir / "mlconnector.yaml"

    @property
    def state_path(self) -> Path:
        return self.dir / "state.db"

    def config(self):
        from mlconnector.config import load_config

        return load_config(self.config_path)

    def csv(self, content: bytes | str, name: str = "map.csv") -> Path:
        path = self.dir / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    def seed(self) -> None:
        from mlconnector.state import open_state

        with open_state(self.state_path) as state, state.transaction():
            for kind, rows in SEEDED.items():
                state.put_mappings(PAIR, kind, rows)

    def tables(self) -> dict[str, dict]:
        from mlconnector.state import open_state

        with open_state(self.state_path, readonly=True) as state:
            return {kind: state.mappings_of(PAIR, kind) for kind in ("projects", "costcodes")}

    def state_files(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in self.dir.iterdir() if p.name.startswith("state.db")}


@pytest.fixture
def env(tmp_path: Path) -> Env:
    work = tmp_path / "work"
    work.mkdir()
    (work / "mlconnector.yaml").write_text(CONFIG, encoding="utf-8")
    return Env(work)


@dataclass
class FakeProcore:
    """Projects 2024-001 (id 101) and 2024-002 (id 102), their cost codes, and line item types.
    Lists are paged by ``per_page``/``page`` with a ``Total`` header, like Procore."""

    projects: list[dict] = field(default_factory=lambda: [
        {"id": 101, "project_number": "2024-001", "name": "Riverside Clinic"},
        {"id": 102, "project_number": "2024-002", "name": "Harbor Lofts"},
        {"id": 103, "project_number": None, "name": "Yard (no number)"},
    ])
    cost_codes: dict[int, list[str]] = field(default_factory=lambda: {
        101: ["01-000", "03-100", "03-200", "05-500"],
        102: ["09-900", "01-000"],
        103: [],
    })
    line_item_types: list[dict] = field(default_factory=lambda: [
        {"id": 1, "code": "M", "name": "Materials", "base_type": "materials"},
        {"id": 2, "code": "L", "name": "Labor", "base_type": "other"},
        {"id": 3, "code": "SC", "name": "Subcontract", "base_type": "commitment"},
    ])
    forbidden: set[str] = field(default_factory=set)  # paths answered with 403
    requests: list[tuple[str, dict]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        query = dict(urllib.parse.parse_qsl(request.url.query.decode()))
        self.requests.append((path, query))
        if path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "fake-token-xyz", "expires_in": 5400})
        assert request.headers["Authorization"] == "Bearer fake-token-xyz"
        if path in self.forbidden:
            return httpx.Response(403, json={"errors": "You do not have access to this resource"})
        if path == "/rest/v1.0/projects":
            assert query["company_id"] == "4242"
            return self._page(query, self.projects)
        if path == "/rest/v1.0/cost_codes":
            pid = int(query["project_id"])
            items = [{"id": pid * 1000 + i, "code": c.split("-")[-1], "full_code": c, "name": f"Code {c}"}
                     for i, c in enumerate(self.cost_codes.get(pid, []))]
            return self._page(query, items)
        if path == "/rest/v1.0/line_item_types":
            assert query["company_id"] == "4242"
            return self._page(query, self.line_item_types)
        return httpx.Response(404, json={"errors": f"no route {path}"})

    @staticmethod
    def _page(query: dict, items: list[dict]) -> httpx.Response:
        per_page, page = int(query.get("per_page", 100)), int(query.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        return httpx.Response(200, content=json.dumps(chunk).encode(), headers={
            "Content-Type": "application/json", "Total": str(len(items)), "Per-Page": str(per_page)})

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests if p != "/oauth/token"]


@pytest.fixture
def procore(monkeypatch: pytest.MonkeyPatch) -> FakeProcore:
    """A fake Procore; its credentials are in the environment."""
    monkeypatch.setenv("MLCONNECTOR_PROCORE_CLIENT_ID", "fake-client-id")
    monkeypatch.setenv("MLCONNECTOR_PROCORE_CLIENT_SECRET", "fake-client-secret")
    return FakeProcore()


@pytest.fixture
def transport(procore: FakeProcore) -> httpx.MockTransport:
    return httpx.MockTransport(procore)
