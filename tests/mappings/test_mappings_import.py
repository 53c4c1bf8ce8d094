"""Importing, merging, replacing, dry runs, the export round trip and the lookups the PO mapper uses."""

from __future__ import annotations

import io

import pytest

from mlconnector.errors import UsageError
from mlconnector.mappings import (
    cost_code_for,
    costcode_key,
    export_mappings,
    import_mappings,
    mapping_rows,
    project_for,
    resolve_pair,
)
from mlconnector.state import open_state

from .conftest import PAIR, SEEDED

PROJECTS = (
    "Source_Code;Procore_Project;Note\r\n"
    "C100;2024-001;Riverside\r\n"
    "C100/P2;2024-002;\"Harbor; phase 2\"\r\n"
    "\r\n"
    "C200;101;by id\r\n"
)
COSTCODES = (
    "\ufeffsource_code,procore_project,procore_cost_code,cost_type,note\n"
    "1000-100,2024-001,03-100,M,\"concrete, \"\"ready mix\"\"\"\n"
    "1000-100,,03-100,L,\n"
    "2000-200,*,09-900,,\n"
    "3000,2024-002,\"05-500\",SC,\"two\nlines\"\n"
)


def export(state, kind: str) -> str:
    out = io.StringIO(newline="")
    export_mappings(state, PAIR, kind, out)
    return out.getvalue()


def test_import_list_export_reimport_is_a_no_op(env) -> None:
    config = env.config()
    first = import_mappings(config, env.csv(PROJECTS, "projects.csv"), offline=True)
    assert (first.kind, first.added, first.rows_read, first.blank_lines) == ("projects", 3, 3, 1)
    second = import_mappings(config, env.csv(COSTCODES.encode("utf-8"), "costcodes.csv"), offline=True)
    assert (second.kind, second.added, second.encoding) == ("costcodes", 4, "utf-8-sig")

    tables = env.tables()
    assert tables["projects"] == {
        "C100": {"procore_project": "2024-001", "note": "Riverside"},
        "C100/P2": {"procore_project": "2024-002", "note": "Harbor; phase 2"},
        "C200": {"procore_project": "101", "note": "by id"},
    }
    assert tables["costcodes"] == {
        "1000-100|2024-001": {"procore_project": "2024-001", "procore_cost_code": "03-100", "cost_type": "M",
                              "note": 'concrete, "ready mix"'},
        "1000-100|*": {"procore_project": "*", "procore_cost_code": "03-100", "cost_type": "L"},
        "2000-200|*": {"procore_project": "*", "procore_cost_code": "09-900", "cost_type": ""},
        "3000|2024-002": {"procore_project": "2024-002", "procore_cost_code": "05-500", "cost_type": "SC",
                          "note": "two\nlines"},
    }
    with open_state(env.state_path, readonly=True) as state:
        assert [r["source_code"] for r in mapping_rows(state, PAIR, "costcodes")] == [
            "1000-100", "1000-100", "2000-200", "3000"]
        exported = {kind: export(state, kind) for kind in ("projects", "costcodes")}
    assert exported["projects"].splitlines()[0] == "source_code,procore_project,note"
    assert exported["costcodes"] == (
        "source_code,procore_project,procore_cost_code,cost_type,note\n"
        "1000-100,*,03-100,L,\n"
        '1000-100,2024-001,03-100,M,"concrete, ""ready mix"""\n'
        "2000-200,*,09-900,,\n"
        '3000,2024-002,05-500,SC,"two\nlines"\n'
    )

    for kind, text in exported.items():
        again = import_mappings(config, env.csv(text, f"{kind}-export.csv"), offline=True, replace=True)
        assert (again.added, again.changed, again.removed) == (0, 0, 0)
        assert again.unchanged == len(tables[kind])
    assert env.tables() == tables
    with open_state(env.state_path, readonly=True) as state:
        assert {kind: export(state, kind) for kind in exported} == exported


def test_merge_adds_and_overwrites_and_keeps_other_rows(env) -> None:
    env.seed()
    config = env.config()
    import_mappings(config, env.csv("source_code,procore_project\nC1,2024-001\nC2,2024-002\n"), offline=True)
    result = import_mappings(config, env.csv("source_code,procore_project\nC1,2024-001\nC2,2024-009\nC3,1\n"),
                             offline=True)
    assert (result.added, result.changed, result.unchanged, result.removed) == (1, 1, 1, 0)
    assert env.tables()["projects"] == {**SEEDED["projects"], "C1": {"procore_project": "2024-001"},
                                        "C2": {"procore_project": "2024-009"}, "C3": {"procore_project": "1"}}
    assert env.tables()["costcodes"] == SEEDED["costcodes"]


def test_replace_removes_the_kinds_rows_that_are_not_in_the_file(env) -> None:
    env.seed()
    result = import_mappings(env.config(), env.csv("source_code,procore_project\nC1,2024-001\n"), offline=True,
                             replace=True)
    assert (result.added, result.removed) == (1, 1)
    assert env.tables() == {"projects": {"C1": {"procore_project": "2024-001"}}, "costcodes": SEEDED["costcodes"]}


def test_dry_run_reports_and_writes_nothing(env) -> None:
    path = env.csv("source_code,procore_project\nC1,2024-001\n")
    result = import_mappings(env.config(), path, offline=True, dry_run=True)
    assert (result.added, result.rows_read) == (1, 1)
    assert env.state_files() == {}, "a dry run created the state file"

    env.seed()
    before_tables, before_files = env.tables(), env.state_files()
    path = env.csv("source_code,procore_project\nOLD,2023-008\nC1,2024-001\n")
    result = import_mappings(env.config(), path, offline=True, dry_run=True, replace=True)
    assert (result.added, result.changed, result.unchanged, result.removed) == (1, 1, 0, 0)
    result = import_mappings(env.config(), env.csv("source_code,procore_project\nC1,2024-001\n"), offline=True,
                             dry_run=True, replace=True)
    assert (result.added, result.removed) == (1, 1)
    assert env.tables() == before_tables
    assert env.state_files() == before_files


def test_the_pair_must_be_named_when_there_are_several(env) -> None:
    text = env.config_path.read_text(encoding="utf-8")
    text += "  other-pair:\n    source: sage300\n    target: procore\n    streams:\n      vendors: {enabled: true}\n"
    env.config_path.write_text(text, encoding="utf-8")
    config = env.config()
    path = env.csv("source_code,procore_project\nC1,2024-001\n")
    with pytest.raises(UsageError, match="sage300-procore, other-pair"):
        import_mappings(config, path, offline=True)
    assert env.state_files() == {}
    with pytest.raises(UsageError, match="unknown pair 'nope'"):
        import_mappings(config, path, pair="nope", offline=True)
    result = import_mappings(config, path, pair="other-pair", offline=True)
    assert result.pair == "other-pair"
    assert resolve_pair(config, "other-pair") == "other-pair"
    with open_state(env.state_path, readonly=True) as state:
        assert state.mappings_of("other-pair", "projects") == {"C1": {"procore_project": "2024-001"}}
        assert state.mappings_of(PAIR, "projects") == {}


def test_project_for_tries_contract_and_project_then_contract() -> None:
    projects = {"C100": {"procore_project": "2024-001"}, "C100/P2": {"procore_project": "2024-002"}}
    assert project_for(projects, "C100", "P2") == "2024-002"
    assert project_for(projects, "C100", "P9") == "2024-001"
    assert project_for(projects, "C100", None) == "2024-001"
    assert project_for(projects, "C100   ", " P2 ") == "2024-002"  # Sage 300 pads codes with spaces
    assert project_for(projects, "C999", "P2") is None
    assert project_for(projects, "", None) is None


def test_cost_code_for_tries_the_project_then_any_project() -> None:
    costcodes = {
        costcode_key("1000-100", "2024-001"): {"procore_project": "2024-001", "procore_cost_code": "03-100",
                                                "cost_type": "M"},
        costcode_key("1000-100", None): {"procore_project": "*", "procore_cost_code": "03-999", "cost_type": ""},
    }
    assert set(costcodes) == {"1000-100|2024-001", "1000-100|*"}
    assert cost_code_for(costcodes, "1000-100", "2024-001")["procore_cost_code"] == "03-100"
    assert cost_code_for(costcodes, "1000-100", "2024-002")["procore_cost_code"] == "03-999"
    assert cost_code_for(costcodes, "1000-100 ", "")["procore_cost_code"] == "03-999"
    assert cost_code_for(costcodes, "2000", "2024-001") is None
