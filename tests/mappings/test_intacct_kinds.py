"""The mapping kinds of a Procore → Sage Intacct pair (intacct_projects, glaccounts): read with the
same all-or-nothing rules and line/column messages as the Sage 300 kinds, refused for a pair that
does not use them, listed and exported, and the lookups the pair's mapper uses.

The configuration is built by hand (a Config whose systems only carry their kind): a YAML file
with a procore-intacct pair loads only once kind ``intacct`` and the pair's streams are
registered; the test at the end reads one from YAML and is skipped until then."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from mlconnector import mappings
from mlconnector.config import Config, PairConfig
from mlconnector.errors import ConfigError, ExitCode, UsageError
from mlconnector.mappings import (
    export_mappings,
    gl_coding_for,
    glaccount_key,
    import_mappings,
    intacct_project_for,
    kinds_of_pair,
    mapping_rows,
    read_mappings_csv,
)
from mlconnector.state import open_state

PAIR = "procore-intacct"
SAGE_PAIR = "sage300-procore"

# What the state holds before each import: an import that fails must leave exactly this.
SEEDED = {
    "intacct_projects": {"OLD": {"intacct_project": "P-OLD", "department": "", "location": ""}},
    "glaccounts": {"99-999|*|*": {"procore_cost_code": "99-999", "cost_type": "*", "procore_project": "*",
                                  "gl_account": "9999", "task": "", "intacct_cost_type": "", "department": "",
                                  "location": ""}},
}


def ip(project: str, department: str = "", location: str = "", note: str | None = None) -> dict:
    return {"intacct_project": project, "department": department, "location": location,
            **({"note": note} if note else {})}


def gl(code: str, account: str, cost_type: str = "*", project: str = "*", task: str = "", intacct_cost_type: str = "",
       department: str = "", location: str = "", note: str | None = None) -> dict:
    return {"procore_cost_code": code, "cost_type": cost_type, "procore_project": project, "gl_account": account,
            "task": task, "intacct_cost_type": intacct_cost_type, "department": department, "location": location,
            **({"note": note} if note else {})}


class Env:
    def __init__(self, dir: Path) -> None:
        self.dir = dir
        self.state_path = dir / "state.db"
        systems = {name: SimpleNamespace(kind=name) for name in ("sage300", "procore", "intacct")}
        self.config = Config(path=dir / "mlconnector.yaml", state_path=self.state_path, systems=systems, pairs={
            PAIR: PairConfig(PAIR, "procore", "intacct", {}),
            SAGE_PAIR: PairConfig(SAGE_PAIR, "sage300", "procore", {}),
        })

    def csv(self, content: bytes | str, name: str = "map.csv") -> Path:
        path = self.dir / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    def seed(self) -> None:
        with open_state(self.state_path) as state, state.transaction():
            for kind, rows in SEEDED.items():
                state.put_mappings(PAIR, kind, rows)

    def tables(self, pair: str = PAIR) -> dict[str, dict]:
        with open_state(self.state_path, readonly=True) as state:
            return {kind: state.mappings_of(pair, kind) for kind in mappings.KINDS}

    def state_files(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in self.dir.iterdir() if p.name.startswith("state.db")}


@pytest.fixture
def env(tmp_path: Path) -> Env:
    work = tmp_path / "work"
    work.mkdir()
    return Env(work)


# --- reading ------------------------------------------------------------------------------------

GL = "procore_cost_code,gl_account"
GL_ALL = "procore_cost_code,cost_type,procore_project,gl_account,task,intacct_cost_type,department,location,note"

GOOD = [
    pytest.param("procore_project,intacct_project\n2024-001,P-100\n101,P-200\n", "intacct_projects",
                 {"2024-001": ip("P-100"), "101": ip("P-200")}, id="intacct-projects-minimal"),
    pytest.param(" Intacct_Project ; Location ; PROCORE_PROJECT ; Department ; Note \r\n"
                 "P-100;L1;2024-001;D10;\"Riverside; phase 1\"\r\n\r\n", "intacct_projects",
                 {"2024-001": ip("P-100", "D10", "L1", "Riverside; phase 1")}, id="intacct-projects-all-reordered"),
    pytest.param("procore_project,intacct_project,department\n2024-001,P-100,D10\n2024-001,P-100,D10\n",
                 "intacct_projects", {"2024-001": ip("P-100", "D10")}, id="intacct-projects-duplicate-identical"),
    pytest.param(f"{GL}\n03-100,5000\n", "glaccounts", {"03-100|*|*": gl("03-100", "5000")}, id="glaccounts-minimal"),
    pytest.param(f"{GL_ALL}\n03-100,M,2024-001,5010,T1,CT-M,D10,L1,concrete\n03-100,,,5000,,,,,\n"
                 "03-100,*,101,5020,,,,,\n03-100,L,*,5030,,,,,\n", "glaccounts",
                 {"03-100|M|2024-001": gl("03-100", "5010", "M", "2024-001", "T1", "CT-M", "D10", "L1", "concrete"),
                  "03-100|*|*": gl("03-100", "5000"), "03-100|*|101": gl("03-100", "5020", project="101"),
                  "03-100|L|*": gl("03-100", "5030", "L")}, id="glaccounts-all-and-any"),
    pytest.param("\ufeffgl_account;procore_cost_code;cost_type\n'=5000;03-100;M\n", "glaccounts",
                 {"03-100|M|*": gl("03-100", "=5000", "M")}, id="glaccounts-bom-semicolon-quoted-formula"),
    pytest.param("procore_cost_code,gl_account,department\n03-100,5000,Bâtiment\n".encode("cp1252"), "glaccounts",
                 {"03-100|*|*": gl("03-100", "5000", department="Bâtiment")}, id="glaccounts-cp1252"),
]


@pytest.mark.parametrize(("content", "kind", "rows"), GOOD)
def test_good_files_are_read_and_stored_in_the_documented_shape(env, content, kind, rows) -> None:
    env.seed()
    result = import_mappings(env.config, env.csv(content), pair=PAIR, offline=True)
    assert (result.kind, result.pair, result.added, result.warnings) == (kind, PAIR, len(rows), [])
    tables = env.tables()
    assert tables[kind] == {**SEEDED[kind], **rows}
    other = "glaccounts" if kind == "intacct_projects" else "intacct_projects"
    assert tables[other] == SEEDED[other]


def test_without_a_pair_the_header_alone_decides_the_kind(env) -> None:
    assert read_mappings_csv(env.csv("procore_project,intacct_project\n1,P\n")).kind == "intacct_projects"
    assert read_mappings_csv(env.csv(f"{GL}\n03-100,5000\n")).kind == "glaccounts"
    assert read_mappings_csv(env.csv("source_code,procore_project\nC1,1\n")).kind == "projects"
    parsed = read_mappings_csv(env.csv(f"{GL_ALL}\n\n03-100,M,1,5000,,,,,\n03-100,M,1,5000,,,,,\n"))
    assert parsed.lines == {"03-100|M|1": 3} and (parsed.rows_read, parsed.blank_lines) == (2, 1)


# content, line, column (key), words in the message
BAD = [
    pytest.param("procore_project,department\n2024-001,D10\n", 1, "intacct_project",
                 ["missing column intacct_project", "an intacct_projects file needs procore_project, intacct_project",
                  "department, location and note are optional"], id="missing-intacct-project-column"),
    pytest.param("procore_cost_code,cost_type,procore_project\n03-100,M,1\n", 1, "gl_account",
                 ["missing column gl_account", "a glaccounts file needs procore_cost_code, gl_account"],
                 id="missing-gl-account-column"),
    pytest.param("procore_project\n2024-001\n", 1, "intacct_project", ["missing column intacct_project"],
                 id="procore-project-alone-is-intacct-projects-for-this-pair"),
    pytest.param("procore_project,intacct_projet\n1,P\n", 1, "intacct_projet",
                 ["unknown column 'intacct_projet'", "did you mean 'intacct_project'",
                  "an intacct_projects file has procore_project, intacct_project [, department, location, note]",
                  "a glaccounts file has procore_cost_code, gl_account [, cost_type"], id="unknown-column"),
    pytest.param("source_code,procore_cost_code,gl_account\nA,03-100,5000\n", 1, "source_code",
                 ["column source_code does not belong in a glaccounts file", "one kind of mapping"],
                 id="columns-of-two-kinds"),
    pytest.param("procore_project,intacct_project,task,gl_account\n1,P,T,5000\n", 1, "intacct_project",
                 ["column intacct_project does not belong in a glaccounts file"], id="intacct-columns-mixed"),
    pytest.param("procore_project,intacct_project\n2024-001,P-100\n,P-200\n", 3, "procore_project",
                 ["procore_project is empty"], id="empty-procore-project"),
    pytest.param("procore_project,intacct_project\n2024-001,\n", 2, "intacct_project",
                 ["intacct_project is empty (procore_project 2024-001)"], id="empty-intacct-project"),
    pytest.param("procore_project,intacct_project\n*,P-100\n", 2, "procore_project",
                 ["procore_project '*' is not a project"], id="star-project-in-intacct-projects"),
    pytest.param("procore_project,intacct_project,department\n2024-001,P-100,D10\n\n2024-001,P-100,D20\n", 4,
                 "procore_project", ["Procore project 2024-001 is mapped twice",
                                     "Intacct project P-100 / department D10 on line 2",
                                     "Intacct project P-100 / department D20 on line 4"], id="intacct-project-twice"),
    pytest.param(f"{GL}\n03-100,5000\n,5010\n", 3, "procore_cost_code", ["procore_cost_code is empty"],
                 id="empty-cost-code"),
    pytest.param(f"{GL}\n03-100,\n", 2, "gl_account", ["gl_account is empty (procore_cost_code 03-100)"],
                 id="empty-gl-account"),
    pytest.param(f"{GL}\n*,5000\n", 2, "procore_cost_code", ["procore_cost_code '*' is not a cost code"],
                 id="star-cost-code"),
    pytest.param("procore_cost_code,cost_type,gl_account\n03-100,M|L,5000\n", 2, "cost_type",
                 ["cost_type 'M|L' contains '|'"], id="pipe-in-cost-type"),
    pytest.param("procore_cost_code,procore_project,gl_account\n03|100,1,5000\n", 2, "procore_cost_code",
                 ["'|'"], id="pipe-in-cost-code"),
    pytest.param("procore_cost_code,procore_project,gl_account\n03-100,1|2,5000\n", 2, "procore_project",
                 ["'|'"], id="pipe-in-project"),
    pytest.param("procore_cost_code,cost_type,procore_project,gl_account,task\n03-100,M,,5000,T1\n"
                 "03-100,M,*,5000,T2\n", 3, "procore_cost_code",
                 ["cost code 03-100 (cost type M, any project) is mapped twice", "GL account 5000 / task T1 on line 2",
                  "GL account 5000 / task T2 on line 3"], id="glaccount-twice-star-and-empty"),
    pytest.param('procore_cost_code,gl_account,location\n03-100,"50\n00",L1\n', 2, "gl_account",
                 ["gl_account contains a line break"], id="line-break-in-gl-account"),
    pytest.param(f"{GL}\n03-100,5000\n03-200\n", 3, None, ["1 cell where the header has 2"], id="ragged"),
    pytest.param(f"{GL}\n", 1, None, ["header but no rows"], id="header-only"),
    pytest.param("", None, None, ["the file is empty", "procore_project,intacct_project or procore_cost_code,gl_account"],
                 id="empty-file"),
]


def _assert_rejected(env, path, line, key, words) -> ConfigError:
    before_tables, before_files = env.tables(), env.state_files()
    with pytest.raises(ConfigError) as caught:
        import_mappings(env.config, path, pair=PAIR, offline=True)
    err = caught.value
    message = str(err)
    assert err.exit_code == ExitCode.USAGE
    assert (err.file, err.line, err.key) == (str(path), line, key), message
    assert message.startswith(f"{path}:{line}" if line else str(path)), message
    for word in words:
        assert word in message, message
    assert env.tables() == before_tables
    assert env.state_files() == before_files
    return err


@pytest.mark.parametrize(("content", "line", "key", "words"), BAD)
def test_bad_files_are_rejected_with_line_and_column_and_nothing_is_written(env, content, line, key,
                                                                           words) -> None:
    env.seed()
    _assert_rejected(env, env.csv(content), line, key, words)


def test_one_bad_row_after_many_good_ones_writes_none_of_them(env) -> None:
    env.seed()
    lines = [GL] + [f"03-{i:03d},5{i:03d}" for i in range(500)] + ["04-000,"]
    _assert_rejected(env, env.csv("\n".join(lines) + "\n"), 502, "gl_account", ["gl_account is empty"])


# --- a kind the pair does not use ---------------------------------------------------------------

def test_kinds_of_pair() -> None:
    env = Env(Path("."))
    assert kinds_of_pair(env.config, PAIR) == ("intacct_projects", "glaccounts")
    assert kinds_of_pair(env.config, SAGE_PAIR) == ("projects", "costcodes")


@pytest.mark.parametrize(("pair", "content", "words"), [
    pytest.param(SAGE_PAIR, f"{GL}\n03-100,5000\n",
                 ["is a glaccounts file, but pair sage300-procore does not use glaccounts mappings",
                  "pair sage300-procore takes projects and costcodes"], id="glaccounts-into-sage-pair"),
    pytest.param(SAGE_PAIR, "procore_project,intacct_project\n1,\n",
                 ["does not use intacct_projects mappings"], id="intacct-projects-into-sage-pair-before-rows"),
    pytest.param(PAIR, "source_code,procore_project\nC1,2024-001\n",
                 ["is a projects file, but pair procore-intacct does not use projects mappings",
                  "pair procore-intacct takes intacct_projects and glaccounts"], id="projects-into-intacct-pair"),
    pytest.param(PAIR, "source_code,procore_project,procore_cost_code,cost_type\nA,1,03-100,M\n",
                 ["does not use costcodes mappings"], id="costcodes-into-intacct-pair"),
])
def test_a_kind_the_pair_does_not_use_is_refused_and_nothing_is_written(env, pair, content, words) -> None:
    path = env.csv(content)
    with pytest.raises(UsageError) as caught:
        import_mappings(env.config, path, pair=pair)
    assert not isinstance(caught.value, ConfigError)
    assert caught.value.exit_code == ExitCode.USAGE
    for word in words:
        assert word in str(caught.value), str(caught.value)
    assert env.state_files() == {}


def test_the_pairs_kinds_win_when_a_header_fits_several(env) -> None:
    # procore_cost_code, cost_type, procore_project fit costcodes (no source_code) and glaccounts (no gl_account)
    path = env.csv("procore_cost_code,cost_type,procore_project\n03-100,M,1\n")
    with pytest.raises(ConfigError, match="missing column gl_account"):
        import_mappings(env.config, path, pair=PAIR, offline=True)
    with pytest.raises(ConfigError, match="missing column source_code; a costcodes file"):
        import_mappings(env.config, path, pair=SAGE_PAIR, offline=True)
    sage_only = env.csv("procore_project\n1\n")
    with pytest.raises(ConfigError, match="missing column source_code; a projects file"):
        import_mappings(env.config, sage_only, pair=SAGE_PAIR, offline=True)


# --- the existence check hook -------------------------------------------------------------------

def test_the_intacct_check_hook_gets_the_rows_unless_offline(env, monkeypatch) -> None:
    calls = []

    def check(config, pair, kind, rows):
        calls.append((config, pair, kind, rows))
        return ["line 2: GL account 5000 not found in Intacct"]

    monkeypatch.setattr(mappings, "check_intacct_values", check)
    path = env.csv(f"{GL}\n03-100,5000\n")
    result = import_mappings(env.config, path, pair=PAIR)
    assert result.warnings == ["line 2: GL account 5000 not found in Intacct"]
    assert calls == [(env.config, PAIR, "glaccounts", {"03-100|*|*": gl("03-100", "5000")})]
    import_mappings(env.config, path, pair=PAIR, offline=True)
    assert len(calls) == 1


def test_intacct_kinds_are_not_checked_in_procore(env, monkeypatch) -> None:
    def no_procore(*args, **kwargs):
        raise AssertionError("Procore asked about an Intacct mapping")

    monkeypatch.setattr(mappings, "_check_procore", no_procore)
    result = import_mappings(env.config, env.csv("procore_project,intacct_project\n1,P\n"), pair=PAIR)
    # Without Intacct credentials the check says it could not run, and nothing asks Procore.
    assert [w for w in result.warnings if "Procore" in w] == []
    assert any(w.startswith("not checked against Intacct") for w in result.warnings)


# --- export, list -------------------------------------------------------------------------------

INTACCT_PROJECTS = ("procore_project;intacct_project;department;location;note\r\n"
                    "2024-001;P-100;D10;;\"Riverside; phase 1\"\r\n"
                    "101;@P-200;;L1;\r\n")
GLACCOUNTS = (f"{GL_ALL}\n"
              "03-100,M,2024-001,5010,T1,CT-M,D10,L1,\"concrete, \"\"ready mix\"\"\"\n"
              "03-100,,,5000,,,,,\n"
              "05-500,L,101,-5030,,,,,\"two\nlines\"\n")


def export(env, kind: str) -> str:
    out = io.StringIO(newline="")
    with open_state(env.state_path, readonly=True) as state:
        export_mappings(state, PAIR, kind, out)
    return out.getvalue()


def test_export_and_reimport_is_a_no_op(env) -> None:
    assert import_mappings(env.config, env.csv(INTACCT_PROJECTS), pair=PAIR, offline=True).added == 2
    assert import_mappings(env.config, env.csv(GLACCOUNTS), pair=PAIR, offline=True).added == 3
    with open_state(env.state_path, readonly=True) as state:
        assert mapping_rows(state, PAIR, "intacct_projects") == [
            {"procore_project": "101", "intacct_project": "@P-200", "department": "", "location": "L1", "note": ""},
            {"procore_project": "2024-001", "intacct_project": "P-100", "department": "D10", "location": "",
             "note": "Riverside; phase 1"},
        ]
        assert mapping_rows(state, PAIR, "glaccounts")[0] == {
            "procore_cost_code": "03-100", "cost_type": "*", "procore_project": "*", "gl_account": "5000",
            "task": "", "intacct_cost_type": "", "department": "", "location": "", "note": ""}
    assert export(env, "intacct_projects") == (
        "procore_project,intacct_project,department,location,note\n"
        "101,'@P-200,,L1,\n"
        "2024-001,P-100,D10,,Riverside; phase 1\n")
    assert export(env, "glaccounts") == (
        f"{GL_ALL}\n"
        "03-100,*,*,5000,,,,,\n"
        '03-100,M,2024-001,5010,T1,CT-M,D10,L1,"concrete, ""ready mix"""\n'
        "05-500,L,101,'-5030,,,,,\"two\nlines\"\n")
    before = env.tables()
    for kind in ("intacct_projects", "glaccounts"):
        again = import_mappings(env.config, env.csv(export(env, kind), f"{kind}.csv"), pair=PAIR, offline=True,
                                replace=True)
        assert (again.added, again.changed, again.removed, again.unchanged) == (0, 0, 0, again.rows_read)
    assert env.tables() == before


@pytest.fixture
def cli(env, monkeypatch):
    """``cli(*args) -> (exit code, output)``: the real command tree, in this process, with the
    hand-built configuration."""
    from mlconnector.cli import _common, app

    monkeypatch.setattr(_common, "load", lambda ctx: env.config)

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args))
        return result.exit_code, result.output

    return run


def test_cli_imports_lists_and_exports_the_intacct_kinds(env, cli) -> None:
    code, out = cli("mappings", "import", str(env.csv(GLACCOUNTS, "glaccounts.csv")), "--pair", PAIR, "--offline")
    assert code == 0, out
    assert "glaccounts" in out and "read 3 rows" in out
    code, out = cli("mappings", "list", "--kind", "glaccounts", "--pair", PAIR, "--json")
    assert code == 0, out
    assert [row["gl_account"] for row in json.loads(out)] == ["5000", "5010", "-5030"]
    code, out = cli("mappings", "list", "--kind", "intacct_projects", "--pair", PAIR)
    assert code == 0 and "0 intacct_projects mappings" in out, out
    target = env.dir / "out.csv"
    code, out = cli("mappings", "export", "glaccounts", "--pair", PAIR, "--output", str(target))
    assert code == 0, out
    assert target.read_text(encoding="utf-8") == export(env, "glaccounts")


@pytest.mark.parametrize(("args", "words"), [
    pytest.param(("mappings", "list", "--kind", "glaccounts", "--pair", SAGE_PAIR),
                 ["pair sage300-procore does not use glaccounts mappings", "takes projects and costcodes"],
                 id="list-glaccounts-of-sage-pair"),
    pytest.param(("mappings", "export", "projects", "--pair", PAIR),
                 ["pair procore-intacct does not use projects mappings", "takes intacct_projects and glaccounts"],
                 id="export-projects-of-intacct-pair"),
    pytest.param(("mappings", "export", "glaccount", "--pair", PAIR), ["unknown mapping kind 'glaccount'"],
                 id="unknown-kind"),
])
def test_cli_refuses_a_kind_the_pair_does_not_use(env, cli, args, words) -> None:
    code, out = cli(*args)
    assert code == ExitCode.USAGE, out
    for word in words:
        assert word in out, out


def test_the_cli_lists_every_kind() -> None:
    from mlconnector.cli.mappings import LIST_KINDS

    assert LIST_KINDS == ("links", *mappings.KINDS)


# --- lookups ------------------------------------------------------------------------------------

def test_intacct_project_for_matches_the_number_then_the_id() -> None:
    rows = {"2024-001": ip("P-100", "D10"), "102": ip("P-200")}
    assert intacct_project_for(rows, "2024-001", 101) == ip("P-100", "D10")
    assert intacct_project_for(rows, "2024-002", 102) == ip("P-200")
    assert intacct_project_for(rows, None, "102") == ip("P-200")
    assert intacct_project_for(rows, " 2024-001 ", None) == ip("P-100", "D10")
    assert intacct_project_for(rows, "2024-009", 109) is None
    assert intacct_project_for(rows, None, None) is None
    assert intacct_project_for({"*": ip("P-ANY")}, "*", None) is None


def test_gl_coding_for_takes_the_most_specific_row() -> None:
    rows = {glaccount_key("03-100", ct, p): gl("03-100", account, ct or "*", p or "*")
            for ct, p, account in [("M", "2024-001", "A-project-type"), ("", "101", "B-project"),
                                   ("M", "", "C-type"), ("", "", "D-any")]}

    def account(cost_type, number, pid, code="03-100"):
        row = gl_coding_for(rows, code, cost_type, number, pid)
        return row and row["gl_account"]

    assert account("M", "2024-001", 101) == "A-project-type"  # project (by number) and cost type
    assert account("L", "2024-001", 101) == "B-project"  # project (by id), any cost type
    assert account("M", "2024-009", 109) == "C-type"  # any project, cost type
    assert account("L", "2024-009", 109) == "D-any"
    assert account("", "2024-001", 101) == "B-project"  # no cost type: the rows for any cost type only
    assert account(None, None, None) == "D-any"
    assert account("M", "2024-001", 101, code="09-900") is None
    assert account("M", "2024-001", 101, code="") is None


def test_gl_coding_for_prefers_cost_type_over_project_id_match() -> None:
    rows = {glaccount_key("03-100", "M", "101"): gl("03-100", "by-id-and-type", "M", "101"),
            glaccount_key("03-100", "", "2024-001"): gl("03-100", "by-number", project="2024-001")}
    assert gl_coding_for(rows, "03-100", "M", "2024-001", 101)["gl_account"] == "by-id-and-type"


# --- from a YAML configuration (once kind intacct and its pair are registered) ---------------------

def _intacct_pair_supported() -> bool:
    from mlconnector.config import KINDS
    from mlconnector.pairs import stream_options

    return "intacct" in KINDS and stream_options("procore", "intacct") is not None


@pytest.mark.skipif(not _intacct_pair_supported(), reason="kind intacct or the procore -> intacct pair is not "
                    "registered yet")
def test_a_yaml_procore_intacct_pair_takes_the_intacct_kinds(tmp_path) -> None:
    from mlconnector.config import load_config

    path = tmp_path / "mlconnector.yaml"
    path.write_text(
        "state: state.db\n"
        "systems:\n"
        "  procore:\n    kind: procore\n    api_url: http://127.0.0.1:9\n    login_url: http://127.0.0.1:9\n"
        "    company_id: 4242\n"
        "  intacct:\n    kind: intacct\n    sender_id: S\n    company_id: C\n    user_id: U\n"
        "pairs:\n  procore-intacct:\n    source: procore\n    target: intacct\n",
        encoding="utf-8")
    config = load_config(path)
    assert kinds_of_pair(config, "procore-intacct") == ("intacct_projects", "glaccounts")
    csv_path = tmp_path / "glaccounts.csv"
    csv_path.write_text(f"{GL}\n03-100,5000\n", encoding="utf-8")
    assert import_mappings(config, csv_path, offline=True).kind == "glaccounts"
    projects = tmp_path / "projects.csv"
    projects.write_text("source_code,procore_project\nC1,1\n", encoding="utf-8")
    with pytest.raises(UsageError, match="takes intacct_projects and glaccounts"):
        import_mappings(config, projects, offline=True)
