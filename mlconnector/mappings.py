"""Mapping tables imported from CSV: Sage 300 job/contract → Procore project, source cost code →
Procore cost code and cost type.

Two kinds, recognised by the header (column names case-insensitive, surrounding spaces trimmed):

    projects   source_code, procore_project [, note]
    costcodes  source_code, procore_project, procore_cost_code, cost_type [, note]

Stored per pair in the state file (``State.put_mappings(pair, kind, rows)``):

    projects   key ``source_code`` (a contract, or ``contract/project``)
               value ``{"procore_project": "<number or id>"[, "note": "..."]}``
    costcodes  key ``f"{source_code}|{procore_project}"`` (an empty project means any: ``*``)
               value ``{"procore_project": "..." | "*", "procore_cost_code": "03-100",
               "cost_type": "M" | ""[, "note": "..."]}``

An import is all or nothing: every row is read and validated before one transaction writes
them; any bad row is a :class:`ConfigError` naming the file, the LINE (1 = the header, as a
person counts lines in a text editor or Excel) and the column, and nothing is written.
Existence in Procore is checked when credentials are available and only ever warns.

Export writes a cell starting with ``= + - @`` (or a tab or CR) after a single quote, so a
spreadsheet shows it as text instead of running it as a formula; import takes off one leading
quote that stands before such a character, so an export imports back to the same values.

:func:`project_for` and :func:`cost_code_for` are the pure lookups the PO mapper uses.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import itertools
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from mlconnector.errors import (
    ConfigError,
    CredentialError,
    FatalError,
    RateBudgetExhausted,
    UsageError,
)

__all__ = [
    "ANY_PROJECT",
    "COLUMNS",
    "KINDS",
    "MAX_CSV_BYTES",
    "ImportResult",
    "MappingFile",
    "cost_code_for",
    "costcode_key",
    "export_mappings",
    "import_mappings",
    "mapping_rows",
    "neutralise_cell",
    "project_for",
    "read_mappings_csv",
    "resolve_pair",
    "unneutralise_cell",
]

KINDS = ("projects", "costcodes")
ANY_PROJECT = "*"
MAX_CSV_BYTES = 50 * 1024 * 1024

# The columns of each kind, in the order export writes them; `note` is optional on import.
COLUMNS: dict[str, tuple[str, ...]] = {
    "projects": ("source_code", "procore_project", "note"),
    "costcodes": ("source_code", "procore_project", "procore_cost_code", "cost_type", "note"),
}
REQUIRED: dict[str, tuple[str, ...]] = {kind: tuple(c for c in cols if c != "note") for kind, cols in COLUMNS.items()}
KNOWN_COLUMNS = ("source_code", "procore_project", "procore_cost_code", "cost_type", "note")
# The column that must not be empty besides source_code.
TARGET_COLUMN = {"projects": "procore_project", "costcodes": "procore_cost_code"}

ENCODINGS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "cp1252": "Windows-1252 (not UTF-8)"}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A cell starting with one of these is a formula to Excel and LibreOffice (CSV injection, CWE-1236):
# export writes it after a single quote, and import takes that quote off again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_SEP_LINE = re.compile(r"sep=(.)\s*\Z", re.IGNORECASE)  # Excel's delimiter hint line


# --- lookups (pure; used by the PO mapper) -----------------------------------------------------


def costcode_key(source_code: str, procore_project: str | None) -> str:
    """The state key of a costcodes row; an empty project means any project (``*``)."""
    project = (procore_project or "").strip() or ANY_PROJECT
    return f"{source_code.strip()}|{project}"


def project_for(projects: Mapping[str, dict], contract: str, project: str | None) -> str | None:
    """The Procore project (number or id, as written in projects.csv) for a Sage 300 contract
    and project: the row ``contract/project`` if there is one, else the row ``contract``."""
    contract = (contract or "").strip()
    project = (project or "").strip()
    if not contract:
        return None
    keys = ([f"{contract}/{project}"] if project else []) + [contract]
    for key in keys:
        row = projects.get(key)
        if row and row.get("procore_project"):
            return str(row["procore_project"])
    return None


def cost_code_for(costcodes: Mapping[str, dict], source_code: str, procore_project: str) -> dict | None:
    """The costcodes row (``{"procore_project", "procore_cost_code", "cost_type"[, "note"]}``)
    for a source cost code in a Procore project: the row for that project, else the row for any
    project (``*``). ``procore_project`` must be written as in costcodes.csv (number or id)."""
    source_code = (source_code or "").strip()
    if not source_code:
        return None
    project = str(procore_project or "").strip()
    for key in ([costcode_key(source_code, project)] if project else []) + [costcode_key(source_code, None)]:
        row = costcodes.get(key)
        if row is not None:
            return row
    return None


# --- reading a CSV file ------------------------------------------------------------------------


@dataclass(frozen=True)
class MappingFile:
    """A CSV file read and validated, not yet written anywhere."""

    path: str
    kind: str  # projects | costcodes
    rows: dict[str, dict]  # state key -> stored value
    lines: dict[str, int]  # state key -> the line it was first read from
    rows_read: int  # data rows read (duplicates included, blank lines not)
    blank_lines: int
    encoding: str  # utf-8 | utf-8-sig | cp1252
    delimiter: str  # , or ;


def _error(path: str, message: str, *, line: int | None = None, key: str | None = None,
           hint: str | None = None) -> ConfigError:
    return ConfigError(message, file=path, line=line, key=key, hint=hint)


def _read_bytes(path: Path) -> bytes:
    shown = str(path)
    try:
        if path.is_dir():
            raise _error(shown, "is a directory, not a CSV file")
        size = path.stat().st_size
        if size > MAX_CSV_BYTES:
            raise _error(shown, f"the file is {size:,} bytes; a mapping file is at most {MAX_CSV_BYTES:,} (50 MB)",
                         hint="Is this the right file? Split a huge table into several imports.")
        with open(path, "rb") as fh:
            data = fh.read(MAX_CSV_BYTES + 1)
    except FileNotFoundError:
        raise _error(shown, "file not found") from None
    except PermissionError:
        raise _error(shown, "no permission to read the file") from None
    except IsADirectoryError:
        raise _error(shown, "is a directory, not a CSV file") from None
    except OSError as exc:
        raise _error(shown, f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > MAX_CSV_BYTES:  # it grew while we looked
        raise _error(shown, f"the file is larger than {MAX_CSV_BYTES:,} bytes (50 MB)")
    return data


def _line_of(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1


def _decode(path: str, data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 (BOM stripped), else Windows-1252 (Excel on Windows)."""
    save_as = "Save it from Excel as 'CSV UTF-8 (Comma delimited)'."
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _error(path, "the file is UTF-16 text (Excel's 'Unicode Text'), not a CSV file", line=1, hint=save_as)
    if data.startswith(b"PK\x03\x04"):
        raise _error(path, "the file is an Excel workbook (.xlsx) or another zip file, not a CSV file",
                     hint=save_as)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise _error(path, "the file contains NUL bytes: it is not a text file", line=_line_of(data, nul),
                     hint=save_as)
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            start = exc.start + len(codecs.BOM_UTF8)
            raise _error(path, f"starts with a UTF-8 byte order mark but byte 0x{data[start]:02x} is not UTF-8",
                         line=_line_of(data, start), hint=save_as) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise _error(path, f"neither UTF-8 nor Windows-1252 text (byte 0x{data[exc.start]:02x})",
                     line=_line_of(data, exc.start), hint=save_as) from None


def _delimiters_outside_quotes(line: str) -> dict[str, int]:
    counts = {",": 0, ";": 0}
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    return counts


def _csv_problem(exc: csv.Error, delimiter: str, start: int) -> str:
    text = str(exc)
    if "unexpected end of data" in text or "EOF" in text:
        return f"a quoted cell that starts on line {start} is never closed (a '\"' is missing)"
    if "expected after" in text:
        return (f"text after the closing quote of a cell; a quote inside a cell must be doubled (\"\"), "
                f"and a cell in quotes must end at the next '{delimiter}'")
    if "field larger than field limit" in text:
        return "a cell is longer than 131,072 characters"
    return f"not valid CSV: {text}"


def _closest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name.lower().replace(" ", "_").replace("-", "_"), list(choices), n=1,
                                      cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _header(path: str, cells: list[str], line: int) -> tuple[str, list[str]]:
    """(kind, normalised column names)."""
    names = [c.strip().lower() for c in cells]
    for i, name in enumerate(names, 1):
        if not name:
            raise _error(path, f"column {i} of the header has no name; the header is: {','.join(cells)}",
                         line=line, hint="Delete the empty column (or the delimiter at the end of the line).")
    for i, name in enumerate(names):
        if name not in KNOWN_COLUMNS:
            raise _error(path, f"unknown column '{cells[i].strip()}'{_closest(name, KNOWN_COLUMNS)}; "
                         f"a projects file has {', '.join(COLUMNS['projects'])}, a costcodes file "
                         f"{', '.join(COLUMNS['costcodes'])} (note is optional)", line=line, key=cells[i].strip())
        if name in names[:i]:
            raise _error(path, f"column '{name}' appears twice (columns {names.index(name) + 1} and {i + 1})",
                         line=line, key=name)
    kind = "costcodes" if {"procore_cost_code", "cost_type"} & set(names) else "projects"
    missing = [c for c in REQUIRED[kind] if c not in names]
    if missing:
        raise _error(path, f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                     f"a {kind} file needs {', '.join(REQUIRED[kind])} (note is optional)",
                     line=line, key=missing[0])
    return kind, names


def _physical_lines(text: str) -> Iterator[str]:
    # newline="" keeps "\r\n", "\n" and "\r" as they are, and splits lines on exactly these.
    return iter(io.StringIO(text, newline=""))


def read_mappings_csv(path: str | os.PathLike[str]) -> MappingFile:
    """Read and validate a projects or costcodes CSV file; ConfigError (file, line, column) on
    the first problem. Reads nothing but the file and writes nothing."""
    p = Path(path).expanduser()
    shown = str(path)
    data = _read_bytes(p)
    text, encoding = _decode(shown, data)
    lines = _physical_lines(text)

    # Blank lines before the header, and Excel's "sep=;" hint line.
    consumed = blank = 0
    header_line: str | None = None
    delimiter: str | None = None
    for raw in lines:
        consumed += 1
        if not raw.strip():
            blank += 1
            continue
        hint_match = _SEP_LINE.match(raw.strip()) if delimiter is None else None
        if hint_match and consumed - blank == 1:
            delimiter = hint_match.group(1)
            if delimiter not in ",;":
                raise _error(shown, f"delimiter '{delimiter}' is not supported; use ',' or ';'", line=consumed)
            continue
        header_line = raw
        break
    if header_line is None:
        raise _error(shown, "the file is empty; its first line must be a header such as "
                     f"{','.join(REQUIRED['projects'])} or {','.join(REQUIRED['costcodes'])}")
    header_no = consumed
    if delimiter is None:
        counts = _delimiters_outside_quotes(header_line)
        if counts[","] and counts[";"]:
            raise _error(shown, "the header mixes ',' and ';' as delimiters; a file must use one of them",
                         line=header_no)
        if not counts[","] and not counts[";"] and "\t" in header_line:
            raise _error(shown, "the file is tab-delimited; use ',' or ';'", line=header_no,
                         hint="Save it from Excel as 'CSV UTF-8 (Comma delimited)'.")
        delimiter = ";" if counts[";"] else ","
    other = ";" if delimiter == "," else ","

    reader = csv.reader(itertools.chain([header_line], lines), delimiter=delimiter, quotechar='"',
                        doublequote=True, skipinitialspace=True, strict=True)
    offset = header_no - 1  # lines before the header; reader.line_num counts from the header

    def next_row() -> tuple[int, list[str]] | None:
        start = reader.line_num + offset + 1
        try:
            row = next(reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            raise _error(shown, _csv_problem(exc, delimiter, start), line=start) from None
        return start, row

    first = next_row()
    assert first is not None  # the header line is there
    kind, names = _header(shown, first[1], header_no)
    target = TARGET_COLUMN[kind]

    rows: dict[str, dict] = {}
    where: dict[str, int] = {}
    rows_read = 0
    while (item := next_row()) is not None:
        line, raw_cells = item
        cells = [unneutralise_cell(c.strip()) for c in raw_cells]
        if not any(cells):
            blank += 1
            continue
        rows_read += 1
        if len(cells) != len(names):
            message = f"{len(cells)} cell{'s' if len(cells) != 1 else ''} where the header has {len(names)}"
            if len(cells) < len(names) and any(other in c for c in cells):
                message += (f"; this line uses '{other}' but the header uses '{delimiter}' "
                            "(a file must use one delimiter)")
            elif len(cells) > len(names):
                message += f" (a cell containing '{delimiter}' must be in double quotes)"
            raise _error(shown, message, line=line)
        values = dict(zip(names, cells))
        for column in names:
            if column != "note" and _CONTROL.search(values[column]):
                raise _error(shown, f"{column} contains a line break or another control character",
                             line=line, key=column)
        source = values["source_code"]
        if not source:
            raise _error(shown, "source_code is empty", line=line, key="source_code")
        if not values[target]:
            raise _error(shown, f"{target} is empty (source_code {source})", line=line, key=target)
        if kind == "projects":
            key, value = source, {"procore_project": values["procore_project"]}
        else:
            if "|" in source:
                raise _error(shown, f"source_code {source!r} contains '|', which mlconnector reserves",
                             line=line, key="source_code")
            project = values["procore_project"] or ANY_PROJECT
            key = costcode_key(source, project)
            value = {"procore_project": project, "procore_cost_code": values["procore_cost_code"],
                     "cost_type": values["cost_type"]}
        if values.get("note"):
            value["note"] = values["note"]
        if key in rows:
            if _target(rows[key]) != _target(value):
                what = source if kind == "projects" else f"{source} in project {value['procore_project']}"
                raise _error(shown, f"{what} is mapped twice: to {_show(rows[key])} on line {where[key]} and to "
                             f"{_show(value)} on line {line}", line=line, key="source_code",
                             hint="Keep one of the two lines.")
            continue  # the same mapping twice: fine, counted once
        rows[key], where[key] = value, line
    if not rows:
        raise _error(shown, "the file has a header but no rows", line=header_no)
    return MappingFile(shown, kind, rows, where, rows_read, blank, encoding, delimiter)


def _target(value: Mapping[str, Any]) -> dict:
    return {k: v for k, v in value.items() if k != "note"}


def _show(value: Mapping[str, Any]) -> str:
    if "procore_cost_code" in value:
        cost_type = f" / cost type {value['cost_type']}" if value.get("cost_type") else ""
        return f"cost code {value['procore_cost_code']}{cost_type}"
    return f"Procore project {value['procore_project']}"


# --- importing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    kind: str
    pair: str
    path: str
    rows_read: int
    added: int
    changed: int
    unchanged: int
    removed: int
    blank_lines: int
    encoding: str  # utf-8 | utf-8-sig | cp1252
    warnings: list[str] = field(default_factory=list)


def resolve_pair(config, pair: str | None) -> str:
    """``pair`` checked against the configuration; None → the only pair (UsageError otherwise)."""
    if pair:
        config.pair(pair)
        return pair
    if len(config.pairs) == 1:
        return next(iter(config.pairs))
    raise UsageError(f"say which pair with --pair (pairs in {config.path}: {', '.join(config.pairs) or 'none'})")


def import_mappings(config, path: str | os.PathLike[str], *, pair: str | None = None, dry_run: bool = False,
                    offline: bool = False, replace: bool = False, transport=None) -> ImportResult:
    """Read, validate and store a projects or costcodes CSV file for ``pair``.

    All rows are validated before one transaction writes them; a bad row raises ConfigError and
    nothing is written. Merge by default (keys in the file are added or overwritten);
    ``replace=True`` also removes the kind's rows that are not in the file. ``dry_run`` reports
    what would change and writes nothing. Unless ``offline``, Procore is asked whether the
    projects, cost codes and cost types exist (warnings only; skipped with a warning when the
    credentials do not resolve). ``transport`` is for tests (an httpx transport).
    """
    from mlconnector.state import open_state

    pair = resolve_pair(config, pair)
    parsed = read_mappings_csv(path)  # before the state is opened: a bad file creates nothing
    with open_state(config.state_path, readonly=dry_run) as state:
        warnings: list[str] = []
        if not offline:
            projects = parsed.rows if parsed.kind == "projects" else state.mappings_of(pair, "projects")
            _check_procore(config, pair, parsed, projects, warnings, transport=transport)
        if dry_run:
            diff = _diff(state.mappings_of(pair, parsed.kind), parsed.rows, replace)
        else:
            with state.transaction():
                diff = _diff(state.mappings_of(pair, parsed.kind), parsed.rows, replace)
                if diff["removed"]:
                    state.put_mappings(pair, parsed.kind, parsed.rows, replace=True)
                elif diff["added"] or diff["changed"]:
                    state.put_mappings(pair, parsed.kind,
                                       {k: parsed.rows[k] for k in (*diff["added"], *diff["changed"])})
    return ImportResult(parsed.kind, pair, parsed.path, parsed.rows_read, len(diff["added"]), len(diff["changed"]),
                        len(diff["unchanged"]), len(diff["removed"]), parsed.blank_lines, parsed.encoding, warnings)


def _diff(current: Mapping[str, dict], new: Mapping[str, dict], replace: bool) -> dict[str, list[str]]:
    return {
        "added": [k for k in new if k not in current],
        "changed": [k for k in new if k in current and current[k] != new[k]],
        "unchanged": [k for k in new if k in current and current[k] == new[k]],
        "removed": [k for k in current if k not in new] if replace else [],
    }


# --- checking against Procore (warnings only) --------------------------------------------------


def _lines(lines: list[int]) -> str:
    lines = sorted(set(lines))
    if len(lines) == 1:
        return f"line {lines[0]}"
    shown = ", ".join(str(n) for n in lines[:10])
    return f"lines {shown}" + (f" and {len(lines) - 10} more" if len(lines) > 10 else "")


def _procore_system(config, pair: str) -> str | None:
    p = config.pair(pair)
    for name in (p.target, p.source):
        if config.system(name).kind == "procore":
            return name
    return None


def _check_procore(config, pair: str, parsed: MappingFile, projects: Mapping[str, dict], warnings: list[str], *,
                   transport=None) -> None:
    from mlconnector.connect import check_credentials, open_client

    system = _procore_system(config, pair)
    if system is None:
        warnings.append(f"not checked against Procore: pair {pair} has no Procore system")
        return
    retry = "run again with credentials or use --offline"
    try:
        check_credentials(config, system)
        client = open_client(config, system, transport=transport)
    except CredentialError as exc:
        warnings.append(f"not checked against Procore: {exc.message.splitlines()[0]}; {retry}")
        return
    try:
        with client:
            _Checker(client, parsed, projects, warnings).run()
    except (FatalError, RateBudgetExhausted) as exc:
        warnings.append(f"not (fully) checked against Procore: {exc.message.splitlines()[0]}; "
                        "run again when Procore answers, or use --offline")


class _Checker:
    def __init__(self, client, parsed: MappingFile, projects: Mapping[str, dict], warnings: list[str]) -> None:
        self.client, self.parsed, self.projects, self.warnings = client, parsed, projects, warnings
        self._codes: dict[str, set[str] | None] = {}

    def run(self) -> None:
        from mlconnector.systems.procore.readers import list_projects

        by_number: dict[str, dict] = {}
        by_id: dict[str, dict] = {}
        for item in list_projects(self.client):
            if not isinstance(item, dict):
                continue
            number = str(item.get("project_number") or "").strip()
            if number:
                by_number.setdefault(number, item)
            if item.get("id") is not None:
                by_id[str(item["id"])] = item
        self.find = lambda ref: by_number.get(ref) or by_id.get(ref)
        # line_item_types wants a project_id in the spec although the types are company-wide.
        referenced = [self.find(v["procore_project"]) for v in self.parsed.rows.values()]
        any_project = next((p for p in referenced if p is not None), None) or next(iter(by_id.values()), None)
        self.any_project_id = any_project["id"] if any_project else None
        if self.parsed.kind == "projects":
            self._check_projects()
        else:
            self._check_costcodes()

    def _missing(self, found: dict[str, list[int]], message: str) -> None:
        for item, lines in found.items():
            self.warnings.append(f"{_lines(lines)}: {message.format(item)}")

    def _check_projects(self) -> None:
        missing: dict[str, list[int]] = {}
        for key, value in self.parsed.rows.items():
            ref = value["procore_project"]
            if self.find(ref) is None:
                missing.setdefault(ref, []).append(self.parsed.lines[key])
        self._missing(missing, "Procore project {} not found")

    def _cost_codes(self, project: dict) -> set[str] | None:
        """The full codes of a project's cost codes; None when they cannot be read (warned)."""
        from mlconnector.errors import PermissionDenied, ResponseError
        from mlconnector.systems.procore.readers import list_cost_codes

        pid = str(project["id"])
        if pid not in self._codes:
            try:
                items = list_cost_codes(self.client, pid)
                self._codes[pid] = {str(c.get("full_code") or c.get("code") or "").strip()
                                    for c in items if isinstance(c, dict)}
            except (PermissionDenied, ResponseError) as exc:
                name = project.get("project_number") or pid
                self.warnings.append(f"cost codes of Procore project {name} not checked: "
                                     f"{exc.message.splitlines()[0]}")
                self._codes[pid] = None
        return self._codes[pid]

    def _check_costcodes(self) -> None:
        rows, lines = self.parsed.rows, self.parsed.lines
        missing_projects: dict[str, list[int]] = {}
        missing_codes: dict[tuple[str, str], list[int]] = {}
        any_rows: list[str] = []
        for key, value in rows.items():
            ref, code = value["procore_project"], value["procore_cost_code"]
            if ref == ANY_PROJECT:
                any_rows.append(key)
                continue
            project = self.find(ref)
            if project is None:
                missing_projects.setdefault(ref, []).append(lines[key])
                continue
            codes = self._cost_codes(project)
            if codes is not None and code not in codes:
                missing_codes.setdefault((code, ref), []).append(lines[key])
        self._missing(missing_projects, "Procore project {} not found")
        for (code, ref), at in missing_codes.items():
            self.warnings.append(f"{_lines(at)}: cost code {code} not found in Procore project {ref}")
        if any_rows:
            self._check_any_project(any_rows)
        self._check_cost_types()

    def _check_any_project(self, keys: list[str]) -> None:
        rows, lines = self.parsed.rows, self.parsed.lines
        targets: dict[str, dict] = {}
        for value in self.projects.values():
            project = self.find(str(value.get("procore_project") or ""))
            if project is not None:
                targets[str(project["id"])] = project
        if not targets:
            self.warnings.append(f"{_lines([lines[k] for k in keys])}: cost codes for any project (*) not checked: "
                                 "no projects mapping points to a Procore project yet (import projects.csv first)")
            return
        known: set[str] = set()
        for project in targets.values():
            known |= self._cost_codes(project) or set()
        missing: dict[str, list[int]] = {}
        for key in keys:
            code = rows[key]["procore_cost_code"]
            if code not in known:
                missing.setdefault(code, []).append(lines[key])
        n = len(targets)
        self._missing(missing, "cost code {} not found in any of the " + str(n) + " Procore project"
                      + ("s" if n != 1 else "") + " the projects mappings point to")

    def _check_cost_types(self) -> None:
        from mlconnector.systems.procore.readers import list_line_item_types

        used: dict[str, list[int]] = {}
        for key, value in self.parsed.rows.items():
            if value.get("cost_type"):
                used.setdefault(value["cost_type"], []).append(self.parsed.lines[key])
        if not used:
            return
        known: set[str] = set()
        for item in list_line_item_types(self.client, self.any_project_id):
            if isinstance(item, dict):
                known |= {str(item[f]).strip() for f in ("code", "name") if item.get(f) not in (None, "")}
        missing = {t: at for t, at in used.items() if t not in known}
        self._missing(missing, "cost type {} not found among Procore's line item types")


# --- exporting --------------------------------------------------------------------------------


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise UsageError(f"unknown mapping kind {kind!r}{_closest(kind, KINDS)}; kinds: {', '.join(KINDS)}")
    return kind


def mapping_rows(state, pair: str, kind: str) -> list[dict[str, str]]:
    """The stored rows of ``kind`` as CSV rows (the columns of :data:`COLUMNS`), sorted by key."""
    _check_kind(kind)
    out = []
    for key, value in sorted(state.mappings_of(pair, kind).items()):
        value = value or {}
        if kind == "costcodes":
            project = str(value.get("procore_project") or ANY_PROJECT)
            suffix = f"|{project}"
            source = key[: -len(suffix)] if key.endswith(suffix) else key.rsplit("|", 1)[0]
        else:
            source = key
        row = {"source_code": source}
        for column in COLUMNS[kind][1:]:
            row[column] = str(value.get(column) or "")
        out.append(row)
    return out


def export_mappings(state, pair: str, kind: str, out: TextIO) -> int:
    """Write the rows of ``kind`` as CSV (header first, ``,``, sorted by key) to ``out``, which
    the caller opened as UTF-8 (with ``newline=""`` for a file). A cell that a spreadsheet would
    run as a formula is written after a ``'`` (:func:`neutralise_cell`); import takes it off, so
    importing the export again changes nothing. Returns the number of rows written."""
    rows = mapping_rows(state, pair, kind)
    out.write(",".join(COLUMNS[kind]) + "\n")
    out.writelines(",".join(_csv_cell(neutralise_cell(row[c])) for c in COLUMNS[kind]) + "\n" for row in rows)
    return len(rows)


def _csv_cell(value: str) -> str:
    """One CSV cell, quoted when it holds a delimiter, a quote or a line break. (csv.writer with
    ``lineterminator="\\n"`` leaves a lone CR unquoted, which a reader takes for a line end.)"""
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def neutralise_cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula: ``'`` before a leading ``= + - @``, tab or CR.

    A value that already starts with quotes before such a character gets one more, so that
    :func:`unneutralise_cell` gives it back as it was."""
    return "'" + value if value.lstrip("'").startswith(FORMULA_STARTS) else value


def unneutralise_cell(value: str) -> str:
    """What :func:`neutralise_cell` wrote, back: one leading ``'`` off when the quotes are followed
    by a formula character (``'=1+1`` -> ``=1+1``; ``'plain`` stays ``'plain``)."""
    return value[1:] if value.startswith("'") and value.lstrip("'").startswith(FORMULA_STARTS) else value

