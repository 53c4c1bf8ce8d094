"""Checking a mapping file against Procore: warnings that name the CSV line, never errors; skipped
with --offline; a warning (and the import still done) when the credentials do not resolve."""

from __future__ import annotations

import httpx

from mlconnector.connect import open_client
from mlconnector.mappings import import_mappings
from mlconnector.systems.procore.readers import (
    list_cost_codes,
    list_line_item_types,
    list_projects,
)

CC = "source_code,procore_project,procore_cost_code,cost_type\n"


def test_readers_page_through_every_list(env, procore, transport) -> None:
    procore.projects += [{"id": 200 + i, "project_number": f"X-{i}"} for i in range(4)]
    with open_client(env.config(), "procore", transport=transport) as client:
        assert [p["id"] for p in list_projects(client)] == [101, 102, 103, 200, 201, 202, 203]
        assert [c["full_code"] for c in list_cost_codes(client, 101)] == ["01-000", "03-100", "03-200", "05-500"]
        assert [t["code"] for t in list_line_item_types(client)] == ["M", "L", "SC"]
    pages = [(p, q.get("page")) for p, q in procore.requests if p == "/rest/v1.0/projects"]
    assert pages == [("/rest/v1.0/projects", str(n)) for n in (1, 2, 3, 4)]
    assert ("/rest/v1.0/cost_codes", {"project_id": "101", "per_page": "2", "page": "1"}) in procore.requests


def test_projects_not_in_procore_are_warned_by_line_and_still_imported(env, procore, transport) -> None:
    path = env.csv("source_code,procore_project\nC1,2024-001\n\nC2,2024-099\nC3,102\nC4,2024-099\nC5,777\n")
    result = import_mappings(env.config(), path, transport=transport)
    assert result.warnings == [
        "lines 4, 6: Procore project 2024-099 not found",
        "line 7: Procore project 777 not found",
    ]
    assert result.added == 5
    assert set(env.tables()["projects"]) == {"C1", "C2", "C3", "C4", "C5"}


def test_cost_codes_projects_and_cost_types_are_checked(env, procore, transport) -> None:
    config = env.config()
    import_mappings(config, env.csv("source_code,procore_project\nC1,2024-001\nC2,102\n", "projects.csv"),
                    transport=transport)
    procore.requests.clear()
    path = env.csv(
        CC
        + "A,2024-001,03-100,M\n"       # 2: fine (cost type by code)
        + "B,2024-001,03-999,Labor\n"   # 3: no such cost code in 2024-001 (cost type by name is fine)
        + "C,2024-099,03-100,M\n"       # 4: no such project
        + "D,,09-900,\n"                # 5: any project: exists in 2024-002
        + "E,*,88-888,\n"               # 6: any project: in none of them
        + "F,102,01-000,XX\n"           # 7: project by id; unknown cost type
        + "G,2024-002,03-100,SC\n",     # 8: 03-100 exists in 2024-001 only
        "costcodes.csv")
    result = import_mappings(config, path, transport=transport)
    assert result.warnings == [
        "line 4: Procore project 2024-099 not found",
        "line 3: cost code 03-999 not found in Procore project 2024-001",
        "line 8: cost code 03-100 not found in Procore project 2024-002",
        "line 6: cost code 88-888 not found in any of the 2 Procore projects the projects mappings point to",
        "line 7: cost type XX not found among Procore's line item types",
    ]
    assert result.added == 7
    # one list of projects, one list of cost codes per project, one list of line item types
    paths = procore.paths()
    assert paths.count("/rest/v1.0/projects") == 2  # 3 projects, 2 a page
    assert paths.count("/rest/v1.0/line_item_types") == 2
    assert sorted({q["project_id"] for p, q in procore.requests if p == "/rest/v1.0/cost_codes"}) == ["101", "102"]


def test_any_project_rows_without_projects_mappings_are_not_checked(env, procore, transport) -> None:
    result = import_mappings(env.config(), env.csv(CC + "A,,03-100,\nB,*,03-200,\n"), transport=transport)
    assert result.warnings == [
        ("lines 2, 3: cost codes for any project (*) not checked: no projects mapping points to a Procore "
         "project yet (import projects.csv first)")]
    assert result.added == 2


def test_offline_asks_procore_nothing(env, procore, transport) -> None:
    result = import_mappings(env.config(), env.csv("source_code,procore_project\nC1,2024-099\n"), offline=True,
                             transport=transport)
    assert result.warnings == [] and result.added == 1
    assert procore.requests == []


def test_missing_credentials_warn_and_the_import_goes_on(env) -> None:
    calls: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: calls.append(request) or httpx.Response(500))
    result = import_mappings(env.config(), env.csv("source_code,procore_project\nC1,2024-099\n"), transport=transport)
    assert len(result.warnings) == 1
    warning = result.warnings[0]
    assert warning.startswith("not checked against Procore: no client_id, client_secret for system procore")
    assert warning.endswith("run again with credentials or use --offline")
    assert calls == []
    assert env.tables()["projects"] == {"C1": {"procore_project": "2024-099"}}


def test_procore_refusing_a_list_is_a_warning_not_an_error(env, procore, transport) -> None:
    procore.forbidden.add("/rest/v1.0/projects")
    result = import_mappings(env.config(), env.csv("source_code,procore_project\nC1,2024-001\n"), transport=transport)
    assert len(result.warnings) == 1 and result.warnings[0].startswith("not (fully) checked against Procore:")
    assert "403" in result.warnings[0]
    assert result.added == 1


def test_a_project_whose_cost_codes_are_refused_is_named(env, procore, transport) -> None:
    procore.forbidden.add("/rest/v1.0/cost_codes")
    result = import_mappings(env.config(), env.csv(CC + "A,2024-001,03-100,M\nB,2024-001,03-200,M\n"),
                             transport=transport)
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("cost codes of Procore project 2024-001 not checked:")
    assert result.added == 2


def test_a_dry_run_checks_too(env, procore, transport) -> None:
    result = import_mappings(env.config(), env.csv("source_code,procore_project\nC1,2024-099\n"), dry_run=True,
                             transport=transport)
    assert result.warnings == ["line 2: Procore project 2024-099 not found"]
    assert env.state_files() == {}

