"""Reading mapping CSV files: every good variant is read correctly, every bad one is rejected with
the LINE number (1 = the header) and why, and a rejected file changes nothing in the state."""

from __future__ import annotations

import pytest

from mlconnector.errors import ConfigError, ExitCode
from mlconnector.mappings import MAX_CSV_BYTES, import_mappings, read_mappings_csv

from .conftest import PAIR, SEEDED

CC = "source_code,procore_project,procore_cost_code,cost_type"


def cc(project: str, code: str, cost_type: str = "", note: str | None = None) -> dict:
    value = {"procore_project": project, "procore_cost_code": code, "cost_type": cost_type}
    if note:
        value["note"] = note
    return value


def pj(project: str, note: str | None = None) -> dict:
    return {"procore_project": project, **({"note": note} if note else {})}


# content, kind, stored rows, rows_read, blank_lines, encoding
GOOD = [
    pytest.param(b"source_code,procore_project\nC100,2024-001\nC100/P2,2024-002\n", "projects",
                 {"C100": pj("2024-001"), "C100/P2": pj("2024-002")}, 2, 0, "utf-8", id="projects-plain"),
    pytest.param(b"\xef\xbb\xbf" + f"{CC}\nA,2024-001,03-100,M\n".encode(), "costcodes",
                 {"A|2024-001": cc("2024-001", "03-100", "M")}, 1, 0, "utf-8-sig", id="bom"),
    pytest.param(b"source_code;procore_project;procore_cost_code;cost_type\nA;2024-001;03-100;M\nB;;03-200;\n",
                 "costcodes", {"A|2024-001": cc("2024-001", "03-100", "M"), "B|*": cc("*", "03-200")}, 2, 0,
                 "utf-8", id="semicolon"),
    pytest.param(b"source_code,procore_project\n\nC1,2024-001\n   \n,\n\nC2,2024-002\n\n", "projects",
                 {"C1": pj("2024-001"), "C2": pj("2024-002")}, 2, 5, "utf-8", id="blank-lines"),
    pytest.param(b'source_code,procore_project,note\nC1,2024-001,"Smith, Jones and Co"\n', "projects",
                 {"C1": pj("2024-001", "Smith, Jones and Co")}, 1, 0, "utf-8", id="quoted-comma"),
    pytest.param(b'source_code;procore_project;note\nC1;2024-001;"a; b"\n', "projects",
                 {"C1": pj("2024-001", "a; b")}, 1, 0, "utf-8", id="quoted-semicolon"),
    pytest.param(b'source_code,procore_project,note\n"C1","2024-001","the ""big"" one"\n', "projects",
                 {"C1": pj("2024-001", 'the "big" one')}, 1, 0, "utf-8", id="doubled-quotes"),
    pytest.param(f"{CC}\r\nA,2024-001,03-100,M\r\n\r\nB,2024-002,09-900,L\r\n".encode(), "costcodes",
                 {"A|2024-001": cc("2024-001", "03-100", "M"), "B|2024-002": cc("2024-002", "09-900", "L")},
                 2, 1, "utf-8", id="crlf"),
    pytest.param("source_code,procore_project,note\nC1,2024-001,Café élan\n".encode("cp1252"), "projects",
                 {"C1": pj("2024-001", "Café élan")}, 1, 0, "cp1252", id="cp1252"),
    pytest.param("source_code,procore_project,note\nC1,2024-001,Café\n".encode(), "projects",
                 {"C1": pj("2024-001", "Café")}, 1, 0, "utf-8", id="utf8-accent"),
    pytest.param(f"{CC}\nA,2024-001,03-100,M\nA,2024-001,03-100,M\n".encode(), "costcodes",
                 {"A|2024-001": cc("2024-001", "03-100", "M")}, 2, 0, "utf-8", id="duplicate-identical"),
    pytest.param(b" Source_Code , PROCORE_PROJECT \n  C1  ,  2024-001 \t\n", "projects",
                 {"C1": pj("2024-001")}, 1, 0, "utf-8", id="extra-spaces"),
    pytest.param(b'source_code,procore_project,note\nC1,2024-001,"line one\nline two"\nC2,2024-002,\n', "projects",
                 {"C1": pj("2024-001", "line one\nline two"), "C2": pj("2024-002")}, 2, 0, "utf-8",
                 id="newline-in-quotes"),
    pytest.param(b"sep=;\nsource_code;procore_project\nC1;2024-001\n", "projects", {"C1": pj("2024-001")}, 1, 0,
                 "utf-8", id="excel-sep-line"),
    pytest.param(b"cost_type,procore_cost_code,procore_project,source_code\nM,03-100,*,A\n,03-200,,B\n", "costcodes",
                 {"A|*": cc("*", "03-100", "M"), "B|*": cc("*", "03-200")}, 2, 0, "utf-8", id="reordered-and-star"),
    pytest.param(b"source_code,procore_project\nC1,2024-001", "projects", {"C1": pj("2024-001")}, 1, 0, "utf-8",
                 id="no-final-newline"),
    pytest.param(b"source_code,procore_project\rC1,2024-001\rC2,2024-002\r", "projects",
                 {"C1": pj("2024-001"), "C2": pj("2024-002")}, 2, 0, "utf-8", id="cr-only"),
    pytest.param(b"\n\nsource_code,procore_project\nC1,2024-001\n", "projects", {"C1": pj("2024-001")}, 1, 2,
                 "utf-8", id="blank-lines-before-header"),
    pytest.param(f"{CC}\nA,2024-001,03-100,M\nA,2024-002,03-100,M\nA,,01-000,\n".encode(), "costcodes",
                 {"A|2024-001": cc("2024-001", "03-100", "M"), "A|2024-002": cc("2024-002", "03-100", "M"),
                  "A|*": cc("*", "01-000")}, 3, 0, "utf-8", id="same-code-per-project"),
]


@pytest.mark.parametrize(("content", "kind", "rows", "rows_read", "blank", "encoding"), GOOD)
def test_good_files_are_read_correctly(env, content, kind, rows, rows_read, blank, encoding) -> None:
    env.seed()
    path = env.csv(content)
    result = import_mappings(env.config(), path, offline=True)
    assert (result.kind, result.pair, result.encoding) == (kind, PAIR, encoding)
    assert (result.rows_read, result.blank_lines) == (rows_read, blank)
    assert (result.added, result.changed, result.unchanged, result.removed) == (len(rows), 0, 0, 0)
    assert result.warnings == []
    tables = env.tables()
    assert tables[kind] == {**SEEDED[kind], **rows}
    other = "projects" if kind == "costcodes" else "costcodes"
    assert tables[other] == SEEDED[other]


# content, line, column (key), words in the message
BAD = [
    pytest.param(b"source_code,procore_projet\nC1,2024-001\n", 1, "procore_projet",
                 ["unknown column 'procore_projet'", "did you mean 'procore_project'"], id="unknown-column"),
    pytest.param(b"source_code,procore_project,procore_cost_code\nA,2024-001,03-100\n", 1, "cost_type",
                 ["missing column cost_type"], id="missing-column"),
    pytest.param(b"procore_project\n2024-001\n", 1, "source_code", ["missing column source_code"],
                 id="missing-source-code"),
    pytest.param(b"source_code,procore_project,source_code\nA,1,A\n", 1, "source_code", ["appears twice"],
                 id="duplicate-column"),
    pytest.param(b"source_code,procore_project,\nA,1,\n", 1, None, ["column 3 of the header has no name"],
                 id="empty-header-cell"),
    pytest.param(b"source_code,procore_project\nC1,2024-001\n ,2024-002\n", 3, "source_code",
                 ["source_code is empty"], id="empty-key"),
    pytest.param(b"source_code,procore_project\nC1,\n", 2, "procore_project", ["procore_project is empty"],
                 id="empty-target-projects"),
    pytest.param(f"{CC}\nA,2024-001,03-100,M\n\nB,2024-001,,M\n".encode(), 4, "procore_cost_code",
                 ["procore_cost_code is empty"], id="empty-target-costcodes"),
    pytest.param(b"source_code,procore_project\nC1,2024-001\nC2,2024-002\n\nC1,2024-009\n", 5, "source_code",
                 ["line 2", "line 5", "2024-001", "2024-009"], id="duplicate-key-different-target"),
    pytest.param(f"{CC}\nA,,03-100,M\nA,*,03-100,L\n".encode(), 3, "source_code",
                 ["mapped twice", "line 2"], id="duplicate-star-different-type"),
    pytest.param(b"source_code,procore_project\nC1,2024-001\nC2\n", 3, None, ["1 cell where the header has 2"],
                 id="ragged-fewer"),
    pytest.param(b"source_code,procore_project\nC1,2024-001\nC2,Smith, Jones\n", 3, None,
                 ["3 cells where the header has 2", "double quotes"], id="ragged-more"),
    pytest.param(b"source_code;procore_project,procore_cost_code\nA;1,2\n", 1, None, ["mixes ',' and ';'"],
                 id="mixed-delimiters-header"),
    pytest.param(b"source_code;procore_project\nC1;2024-001\nC2,2024-002\n", 3, None,
                 ["uses ','", "header uses ';'"], id="mixed-delimiters-row"),
    pytest.param(b"source_code,procore_project\n", 1, None, ["header but no rows"], id="header-only"),
    pytest.param(b"source_code,procore_project\r\n\r\n  \r\n", 1, None, ["header but no rows"],
                 id="header-and-blank-lines"),
    pytest.param(b"", None, None, ["the file is empty"], id="empty-file"),
    pytest.param(b"\n \n\r\n", None, None, ["the file is empty"], id="whitespace-only"),
    pytest.param(b'source_code,procore_project,note\nC1,2024-001,ok\nC2,2024-002,"never closed\nC3,x,y\n', 3, None,
                 ["never closed", "starts on line 3"], id="unclosed-quote"),
    pytest.param(b'source_code,procore_project\n"C1"x,2024-001\n', 2, None, ["after the closing quote"],
                 id="text-after-quote"),
    pytest.param(b'source_code,procore_project,note\nC1,1,"two\nlines"\n\nC2,2,"three\n\nlines"\nC3\n', 8, None,
                 ["1 cell"], id="line-numbers-after-multiline-cells"),
    pytest.param(b"\n\nsource_code,procore_project\nC1,2024-001\n,x\n", 5, "source_code", ["source_code is empty"],
                 id="line-numbers-with-leading-blank-lines"),
    pytest.param(b"source_code,procore_project\nC1,2024-001\nC2,20\x8124\n", 3, None, ["byte 0x81"],
                 id="not-utf8-nor-cp1252"),
    pytest.param(b"\xef\xbb\xbfsource_code,procore_project\nC1,caf\xe9\n", 2, None, ["byte order mark", "0xe9"],
                 id="bom-but-not-utf8"),
    pytest.param("source_code,procore_project\nC1,2024-001\n".encode("utf-16"), 1, None, ["UTF-16"], id="utf16"),
    pytest.param(b"PK\x03\x04\x14\x00\x06\x00", None, None, ["Excel workbook"], id="xlsx"),
    pytest.param(b"source_code\tprocore_project\nC1\t2024-001\n", 1, None, ["tab-delimited"], id="tab-delimited"),
    pytest.param(f"{CC}\nA|B,2024-001,03-100,M\n".encode(), 2, "source_code", ["'|'"], id="pipe-in-costcode-key"),
]


def _assert_rejected(env, path, line, key, words, before_tables, before_files) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        import_mappings(env.config(), path, offline=True)
    err = caught.value
    message = str(err)
    assert err.exit_code == ExitCode.USAGE
    assert err.file == str(path)
    assert err.line == line, message
    assert err.key == key, message
    assert message.startswith(f"{path}:{line}" if line else str(path)), message
    for word in words:
        assert word in message, message
    assert env.tables() == before_tables
    assert env.state_files() == before_files
    return err


@pytest.mark.parametrize(("content", "line", "key", "words"), BAD)
def test_bad_files_are_rejected_with_the_line_and_nothing_is_written(env, content, line, key, words) -> None:
    env.seed()
    before_tables, before_files = env.tables(), env.state_files()
    path = env.csv(content)
    _assert_rejected(env, path, line, key, words, before_tables, before_files)


def test_a_rejected_file_creates_no_state_file(env) -> None:
    path = env.csv(b"source_code,procore_project\nC1,\n")
    with pytest.raises(ConfigError):
        import_mappings(env.config(), path, offline=True)
    assert env.state_files() == {}


def test_a_directory_is_rejected(env) -> None:
    env.seed()
    before_tables, before_files = env.tables(), env.state_files()
    folder = env.dir / "costcodes.csv"
    folder.mkdir()
    err = _assert_rejected(env, folder, None, None, ["is a directory"], before_tables, before_files)
    assert err.line is None


def test_a_missing_file_is_rejected(env) -> None:
    env.seed()
    before_tables, before_files = env.tables(), env.state_files()
    _assert_rejected(env, env.dir / "nope.csv", None, None, ["file not found"], before_tables, before_files)


def test_an_unreadable_file_is_rejected(env) -> None:
    import os

    if os.name == "nt" or os.geteuid() == 0:
        pytest.skip("needs a POSIX user that file permissions apply to")
    env.seed()
    before_tables, before_files = env.tables(), env.state_files()
    path = env.csv(b"source_code,procore_project\nC1,2024-001\n")
    path.chmod(0)
    try:
        _assert_rejected(env, path, None, None, ["no permission"], before_tables, before_files)
    finally:
        path.chmod(0o600)


def test_a_file_over_50_mb_is_rejected_without_reading_it(env) -> None:
    env.seed()
    before_tables, before_files = env.tables(), env.state_files()
    path = env.dir / "huge.csv"
    with open(path, "wb") as fh:
        fh.write(b"source_code,procore_project\n")
        fh.truncate(MAX_CSV_BYTES + 1)  # sparse: no 50 MB written
    _assert_rejected(env, path, None, None, ["50 MB"], before_tables, before_files)


def test_one_bad_row_after_many_good_ones_writes_none_of_them(env) -> None:
    env.seed()
    before_tables, before_files = env.tables(), env.state_files()
    lines = [CC] + [f"S{i},2024-001,03-{i:03d},M" for i in range(500)] + ["S9,2024-001,,M"]
    path = env.csv("\n".join(lines) + "\n")
    _assert_rejected(env, path, 502, "procore_cost_code", ["procore_cost_code is empty"], before_tables,
                     before_files)


def test_read_mappings_csv_reports_where_each_key_came_from(env) -> None:
    path = env.csv(f"{CC}\n\nA,2024-001,03-100,M\nA,2024-001,03-100,M\n\"B\",,\"01-000\",\n".encode())
    parsed = read_mappings_csv(path)
    assert parsed.kind == "costcodes" and parsed.delimiter == ","
    assert parsed.lines == {"A|2024-001": 3, "B|*": 5}
    assert (parsed.rows_read, parsed.blank_lines) == (3, 1)
