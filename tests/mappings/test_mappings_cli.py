"""`mlconnector mappings import|export|list` as a user runs them (a child process)."""

from __future__ import annotations

import json

import pytest

from .conftest import SEEDED

pytestmark = pytest.mark.e2e

COSTCODES = (
    "source_code;procore_project;procore_cost_code;cost_type;note\r\n"
    "1000-100;2024-001;03-100;M;\"a; b\"\r\n"
    "\r\n"
    "2000;;09-900;;\r\n"
)


def test_import_prints_a_table_and_export_writes_it_back(env, run_cli) -> None:
    path = env.csv(COSTCODES, "costcodes.csv")
    code, out, err = run_cli("mappings", "import", str(path), "--offline", cwd=env.dir)
    assert code == 0, err
    for word in ("kind", "rows", "added", "changed", "unchanged", "removed", "costcodes"):
        assert word in out
    assert "read 2 rows (UTF-8, 1 blank line skipped)" in out
    assert err == ""

    code, out, err = run_cli("mappings", "list", "--kind", "costcodes", "--json", cwd=env.dir)
    assert code == 0, err
    assert json.loads(out) == [
        {"source_code": "1000-100", "procore_project": "2024-001", "procore_cost_code": "03-100", "cost_type": "M",
         "note": "a; b"},
        {"source_code": "2000", "procore_project": "*", "procore_cost_code": "09-900", "cost_type": "", "note": ""},
    ]
    code, out, err = run_cli("mappings", "list", "--kind", "costcodes", cwd=env.dir)
    assert code == 0 and "2 costcodes mappings" in out and "09-900" in out

    code, stdout, err = run_cli("mappings", "export", "costcodes", cwd=env.dir)
    assert code == 0, err
    assert stdout == ("source_code,procore_project,procore_cost_code,cost_type,note\n"
                      '1000-100,2024-001,03-100,M,a; b\n2000,*,09-900,,\n')
    code, out, err = run_cli("mappings", "export", "costcodes", "--output", "out.csv", cwd=env.dir)
    assert code == 0, err
    assert (env.dir / "out.csv").read_text(encoding="utf-8") == stdout

    code, out, err = run_cli("mappings", "import", "out.csv", "--offline", "--replace", cwd=env.dir)
    assert code == 0, err
    row = next(line for line in out.splitlines() if "costcodes" in line)
    assert [cell for cell in row.replace("│", " ").split()] == ["costcodes", "2", "0", "0", "2", "0"]

    # links stay the default of `list`, with their JSON shape
    code, out, err = run_cli("mappings", "list", "--json", cwd=env.dir)
    assert code == 0 and json.loads(out) == []


def test_a_bad_file_exits_2_naming_file_and_line_and_writes_nothing(env, run_cli) -> None:
    env.seed()
    before_tables, before_files = env.tables(), env.state_files()
    path = env.csv("source_code,procore_project\nC1,2024-001\n\nC2,\n", "projects.csv")
    code, out, err = run_cli("mappings", "import", str(path), "--offline", cwd=env.dir)
    assert code == 2
    assert f"{path}:4 [procore_project]: procore_project is empty" in err
    assert out == ""
    assert env.tables() == before_tables and env.state_files() == before_files


def test_dry_run_writes_nothing_and_missing_credentials_only_warn(env, run_cli) -> None:
    path = env.csv("source_code,procore_project\nC1,2024-001\n", "projects.csv")
    code, out, err = run_cli("mappings", "import", str(path), "--dry-run", cwd=env.dir)
    assert code == 0, err
    assert "dry run: nothing written" in out
    assert "not checked against Procore" in err and "--offline" in err
    assert env.state_files() == {}

    code, out, err = run_cli("mappings", "import", str(path), cwd=env.dir)
    assert code == 0, err
    assert "not checked against Procore" in err
    assert env.tables()["projects"] == {"C1": {"procore_project": "2024-001"}}


def test_bad_kinds_are_usage_errors(env, run_cli) -> None:
    env.seed()
    code, out, err = run_cli("mappings", "export", "vendors", cwd=env.dir)
    assert code == 2 and "projects, costcodes" in err
    code, out, err = run_cli("mappings", "list", "--kind", "projects", "--manual", cwd=env.dir)
    assert code == 2 and "--kind links only" in err
    code, out, err = run_cli("mappings", "list", "--kind", "projects", "--json", cwd=env.dir)
    assert code == 0 and json.loads(out) == [{"source_code": "OLD", "procore_project": "2023-007", "note": ""}]
    assert SEEDED["projects"]["OLD"]["procore_project"] == "2023-007"


def _sandbox_serves_projects() -> bool:
    from mlconnector.sandbox.procore import ProcoreSimulator

    return all(hasattr(ProcoreSimulator, name) for name in (
        "add_project", "add_cost_code", "add_line_item_type",
        "_list_projects", "_list_cost_codes", "_list_line_item_types"))


@pytest.mark.skipif(not _sandbox_serves_projects(), reason="the Procore sandbox does not serve projects yet")
def test_import_checks_against_the_procore_sandbox(workdir, sandbox, run_cli) -> None:
    procore = sandbox.procore
    riverside = procore.add_project("Riverside Clinic", "2024-001")
    harbor = procore.add_project("Harbor Lofts", "2024-002")
    procore.add_cost_code(riverside["id"], "03-100", "Concrete")
    procore.add_cost_code(harbor["id"], "09-900", "Painting")
    procore.add_line_item_type("M", "Materials", "materials")

    (workdir.path / "projects.csv").write_text(
        f"source_code,procore_project\nC1,2024-001\nC2,{harbor['id']}\nC3,2024-099\n", encoding="utf-8")
    code, _, err = run_cli("mappings", "import", "projects.csv")
    assert code == 0, err
    assert "line 4: Procore project 2024-099 not found" in err
    assert "not checked" not in err

    (workdir.path / "costcodes.csv").write_text(
        "source_code,procore_project,procore_cost_code,cost_type\n"
        "A,2024-001,03-100,M\n"
        "B,2024-001,09-900,M\n"
        "C,,09-900,Materials\n"
        "D,,77-777,Q\n", encoding="utf-8")
    code, _, err = run_cli("mappings", "import", "costcodes.csv")
    assert code == 0, err
    assert "line 3: cost code 09-900 not found in Procore project 2024-001" in err
    assert "line 5: cost code 77-777 not found in any of the 2 Procore projects" in err
    assert "line 5: cost type Q not found" in err
    assert "line 2" not in err and "line 4" not in err
    with workdir.state(readonly=True) as state:
        assert len(state.mappings_of("sage300-procore", "costcodes")) == 4
        assert len(state.mappings_of("sage300-procore", "projects")) == 3
