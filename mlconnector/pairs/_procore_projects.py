"""Procore's project reference data, read once per run: projects, cost codes, cost types.

Mapping tables name Procore things the way people do — a project by its number, a cost code
by its full code ("03-100"), a cost type by its code ("M") — and this resolves them to the
ids the API takes. A name that does not resolve becomes a message that says which mapping to add.
"""

from __future__ import annotations

from mlconnector.systems.procore import ProcoreClient
from mlconnector.systems.procore.readers import list_cost_codes, list_line_item_types, list_projects


class ProjectDirectory:
    def __init__(self, client: ProcoreClient) -> None:
        self.client = client
        self._projects: dict[str, dict] | None = None
        self._cost_codes: dict[int, dict[str, int]] = {}
        self._cost_types: dict[str, int] | None = None

    def project_ids(self) -> list[int]:
        self.project("")
        return sorted({int(p["id"]) for p in self._projects.values()})

    def project(self, ref: str) -> dict | None:
        """The project whose number (or id) is ``ref``."""
        if self._projects is None:
            projects: dict[str, dict] = {}
            for project in list_projects(self.client):
                projects[str(project["id"])] = project
                number = str(project.get("project_number") or "").strip()
                if number:
                    projects.setdefault(number.casefold(), project)
            self._projects = projects
        return self._projects.get(ref.strip().casefold()) or self._projects.get(ref.strip())

    def cost_code_id(self, project_id: int, full_code: str) -> int | None:
        if project_id not in self._cost_codes:
            self._cost_codes[project_id] = {
                str(c.get("full_code") or c.get("code") or "").strip().casefold(): int(c["id"])
                for c in list_cost_codes(self.client, project_id)
            }
        return self._cost_codes[project_id].get(full_code.strip().casefold())

    def cost_type_id(self, project_id: int, ref: str) -> int | None:
        """A line item type ("cost type") by code or name."""
        if self._cost_types is None:
            types: dict[str, int] = {}
            for item in list_line_item_types(self.client, project_id):
                for key in (item.get("code"), item.get("name")):
                    if key:
                        types.setdefault(str(key).strip().casefold(), int(item["id"]))
            self._cost_types = types
        return self._cost_types.get(ref.strip().casefold())
