"""Mapping tables imported from CSV. For a Sage 300 → Procore pair: Sage 300 job/contract →
Procore project, source cost code → Procore cost code and cost type. For a Procore → Sage
Intacct pair: Procore project → Intacct project (and dimensions), Procore cost code → GL account
(and dimensions).

Four kinds, recognised by the header (column names case-insensitive, surrounding spaces trimmed):

    projects          source_code, procore_project [, note]
    costcodes         source_code, procore_project, procore_cost_code, cost_type [, note]
    intacct_projects  procore_project, intacct_project [, department, location, note]
    glaccounts        procore_cost_code, gl_account [, cost_type, procore_project, task,
                      intacct_cost_type, department, location, note]

A pair takes the kinds of its two systems (:data:`PAIR_KINDS`: sage300 → procore takes projects
and costcodes, procore → intacct takes intacct_projects and glaccounts); :func:`import_mappings`
and `mappings list|export` (through :func:`check_pair_kind`) refuse another kind with a
:class:`UsageError` naming the pair and the kinds it takes.

Stored per pair in the state file (``State.put_mappings(pair, kind, rows)``):

    projects   key ``source_code`` (a contract, or ``contract/project``)
               value ``{"procore_project": "<number or id>"[, "note": "..."]}``
    costcodes  key ``f"{source_code}|{procore_project}"`` (an empty project means any: ``*``)
               value ``{"procore_project": "..." | "*", "procore_cost_code": "03-100",
               "cost_type": "M" | ""[, "note": "..."]}``
    intacct_projects
               key ``procore_project`` (the Procore project number or id, as written)
               value ``{"intacct_project": "P-100", "department": "" | "D10",
               "location": "" | "L1"[, "note": "..."]}``
    glaccounts key ``f"{procore_cost_code}|{cost_type}|{procore_project}"`` (an empty cost type
               or project means any: ``*``)
               value ``{"procore_cost_code": "03-100", "cost_type": "M" | "*",
               "procore_project": "..." | "*", "gl_account": "5000", "task": "",
               "intacct_cost_type": "", "department": "", "location": ""[, "note": "..."]}``
               (task, intacct_cost_type, department or location left out or empty: ``""``)

An import is all or nothing: every row is read and validated before one transaction writes
them; any bad row is a :class:`ConfigError` naming the file, the LINE (1 = the header, as a
person counts lines in a text editor or Excel) and the column, and nothing is written.
Existence in Procore is checked for projects and costcodes when credentials are available and
only ever warns; for intacct_projects and glaccounts the check is :func:`check_intacct_values`
(a hook that checks nothing yet).

Export writes a cell starting with ``= + - @`` (or a tab or CR) after a single quote, so a
spreadsheet shows it as text instead of running it as a formula; import takes off one leading
quote that stands before such a character, so an export imports back to the same values.

:func:`project_for` and :func:`cost_code_for` are the pure lookups the PO mapper uses;
:func:`intacct_project_for` and :func:`gl_coding_for` those of the Procore → Intacct pair.
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
    "PAIR_KINDS",
    "ImportResult",
    "MappingFile",
    "check_intacct_values",
    "check_pair_kind",
    "cost_code_for",
    "costcode_key",
    "export_mappings",
    "gl_coding_for",
    "glaccount_key",
    "import_mappings",
    "intacct_project_for",
    "kinds_of_pair",
    "mapping_rows",
    "neutralise_cell",
    "project_for",
    "read_mappings_csv",
    "resolve_pair",
    "unneutralise_cell",
]

KINDS = ("projects", "costcodes", "intacct_projects", "glaccounts")
ANY_PROJECT = "*"
ANY = "*"  # an empty cost type or project in a glaccounts row: any
MAX_CSV_BYTES = 50 * 1024 * 1024

# The kinds a pair takes, by the kinds of its (source, target) systems.
PAIR_KINDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("sage300", "procore"): ("projects", "costcodes"),
    ("procore", "intacct"): ("intacct_projects", "glaccounts"),
}

# The columns of each kind, in the order export writes them.
COLUMNS: dict[str, tuple[str, ...]] = {
    "projects": ("source_code", "procore_project", "note"),
    "costcodes": ("source_code", "procore_project", "procore_cost_code", "cost_type", "note"),
    "intacct_projects": ("procore_project", "intacct_project", "department", "location", "note"),
    "glaccounts": ("procore_cost_code", "cost_type", "procore_project", "gl_account", "task", "intacct_cost_type",
                   "department", "location", "note"),
}
# The columns a file of the kind must have (a cell of procore_project or cost_type may be empty).
REQUIRED: dict[str, tuple[str, ...]] = {
    "projects": ("source_code", "procore_project"),
    "costcodes": ("source_code", "procore_project", "procore_cost_code", "cost_type"),
    "intacct_projects": ("procore_project", "intacct_project"),
    "glaccounts": ("procore_cost_code", "gl_account"),
}
KNOWN_COLUMNS = tuple(dict.fromkeys(c for cols in COLUMNS.values() for c in cols))
# The cell that is (the first part of) a row's key, and the one it maps to: neither may be empty.
KEY_COLUMN = {"projects": "source_code", "costcodes": "source_code", "intacct_projects": "procore_project",
              "glaccounts": "procore_cost_code"}
TARGET_COLUMN = {"projects": "procore_project", "costcodes": "procore_cost_code",
                 "intacct_projects": "intacct_project", "glaccounts": "gl_account"}
# The kinds whose values are checked in Procore on import; the others go to check_intacct_values.
PROCORE_CHECKED = ("projects", "costcodes")

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


def glaccount_key(procore_cost_code: str, cost_type: str | None, procore_project: str | None) -> str:
    """The state key of a glaccounts row; an empty cost type or project means any (``*``)."""
    cost_type = (cost_type or "").strip() or ANY
    project = (procore_project or "").strip() or ANY
    return f"{procore_cost_code.strip()}|{cost_type}|{project}"


def _project_refs(project_number: str | None, project_id: str | int | None) -> list[str]:
    """How a row may name a Procore project: its number, then its id (a row holds either)."""
    refs = [str(ref).strip() for ref in (project_number, project_id) if ref is not None]
    return list(dict.fromkeys(ref for ref in refs if ref and ref != ANY))


def intacct_project_for(rows: Mapping[str, dict], project_number: str | None,
                        project_id: str | int | None) -> dict | None:
    """The intacct_projects row (``{"intacct_project", "department", "location"[, "note"]}``)
    of a Procore project, found by its number or its id (as intacct_projects.csv names it)."""
    for ref in _project_refs(project_number, project_id):
        row = rows.get(ref)
        if row and row.get("intacct_project"):
            return row
    return None


def gl_coding_for(rows: Mapping[str, dict], cost_code: str, cost_type: str | None, project_number: str | None,
                  project_id: str | int | None) -> dict | None:
    """The glaccounts row (``{"gl_account", "task", "intacct_cost_type", "department",
    "location", ...}``) for a Procore cost code and cost type in a project, the most specific
    first: the row for that project and cost type, for that project (any cost type), for that
    cost type (any project), for neither. The project is matched by number or id; the cost type
    as written in glaccounts.csv."""
    cost_code = str(cost_code or "").strip()
    if not cost_code:
        return None
    cost_type = str(cost_type or "").strip()
    types = [cost_type, ANY] if cost_type and cost_type != ANY else [ANY]
    projects = _project_refs(project_number, project_id)
    order = [(t, p) for t in types for p in projects] + [(t, ANY) for t in types]
    for t, p in order:
        row = rows.get(glaccount_key(cost_code, t, p))
        if row is not None:
            return row
    return None


# --- reading a CSV file ------------------------------------------------------------------------


@dataclass(frozen=True)
class MappingFile:
    """A CSV file read and validated, not yet written anywhere."""

    path: str
    kind: str  # one of KINDS
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


def _a(kind: str) -> str:
    """``a glaccounts``, ``an intacct_projects``."""
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _describe(kind: str) -> str:
    """``a glaccounts file has procore_cost_code, gl_account [, cost_type, ..., note]``."""
    optional = [c for c in COLUMNS[kind] if c not in REQUIRED[kind]]
    return f"{_a(kind)} file has {', '.join(REQUIRED[kind])}" + (f" [, {', '.join(optional)}]" if optional else "")


def _kind_of(path: str, names: list[str], line: int, kinds: tuple[str, ...]) -> str:
    """The kind whose columns hold every name: the pair's kinds first, then the one missing the
    fewest required columns (a column such as procore_project belongs to several kinds)."""
    order = list(kinds) + [k for k in KINDS if k not in kinds]
    fitting = [k for k in order if set(names) <= set(COLUMNS[k])]
    if fitting:
        return min(fitting, key=lambda k: (k not in kinds, sum(c not in names for c in REQUIRED[k]), order.index(k)))
    # Columns of several kinds in one header: name the ones that do not fit the likeliest kind.
    best = max(order, key=lambda k: (sum(n in COLUMNS[k] for n in names), -order.index(k)))
    stray = [n for n in names if n not in COLUMNS[best]]
    these = f"column{'s' if len(stray) > 1 else ''} {', '.join(stray)} {'do' if len(stray) > 1 else 'does'}"
    raise _error(path, f"{these} not belong in {_a(best)} file ({_describe(best)}); one file holds one kind "
                 "of mapping", line=line, key=stray[0], hint="Split the table into one file per kind.")


def _header(path: str, cells: list[str], line: int, kinds: tuple[str, ...] = KINDS,
            pair: str | None = None) -> tuple[str, list[str]]:
    """(kind, normalised column names). ``kinds`` (the pair's) are preferred when the columns
    fit several kinds and named in messages; with ``pair``, another kind is a UsageError."""
    names = [c.strip().lower() for c in cells]
    for i, name in enumerate(names, 1):
        if not name:
            raise _error(path, f"column {i} of the header has no name; the header is: {','.join(cells)}",
                         line=line, hint="Delete the empty column (or the delimiter at the end of the line).")
    for i, name in enumerate(names):
        if name not in KNOWN_COLUMNS:
            raise _error(path, f"unknown column '{cells[i].strip()}'{_closest(name, KNOWN_COLUMNS)}; "
                         + "; ".join(_describe(k) for k in (kinds or KINDS)), line=line, key=cells[i].strip())
        if name in names[:i]:
            raise _error(path, f"column '{name}' appears twice (columns {names.index(name) + 1} and {i + 1})",
                         line=line, key=name)
    kind = _kind_of(path, names, line, kinds)
    if pair is not None and kind not in kinds:
        raise _wrong_kind(pair, kinds, kind, path)
    missing = [c for c in REQUIRED[kind] if c not in names]
    if missing:
        optional = [c for c in COLUMNS[kind] if c not in REQUIRED[kind]]
        also = f"{', '.join(optional[:-1])} and {optional[-1]} are optional" if len(optional) > 1 \
            else f"{optional[0]} is optional"
        raise _error(path, f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                     f"{_a(kind)} file needs {', '.join(REQUIRED[kind])} ({also})",
                     line=line, key=missing[0])
    return kind, names


def _wrong_kind(pair: str, kinds: tuple[str, ...], kind: str, path: str | None = None) -> UsageError:
    takes = f"takes {' and '.join(kinds)}" if kinds else "takes no mapping tables"
    what = f"{path} is {_a(kind)} file, but pair {pair}" if path else f"pair {pair}"
    return UsageError(f"{what} does not use {kind} mappings; pair {pair} {takes}",
                      hint="Check the header of the file (it decides the kind), or name the pair with --pair."
                      if path else None)


def kinds_of_pair(config, pair: str) -> tuple[str, ...]:
    """The mapping kinds ``pair`` uses, by the kinds of its source and target systems."""
    p = config.pair(pair)
    return PAIR_KINDS.get((config.system(p.source).kind, config.system(p.target).kind), ())


def check_pair_kind(config, pair: str, kind: str) -> str:
    """``kind`` if ``pair`` uses it; UsageError naming the pair and the kinds it takes otherwise."""
    _check_kind(kind)
    kinds = kinds_of_pair(config, pair)
    if kind not in kinds:
        raise _wrong_kind(pair, kinds, kind)
    return kind


def _physical_lines(text: str) -> Iterator[str]:
    # newline="" keeps "\r\n", "\n" and "\r" as they are, and splits lines on exactly these.
    return iter(io.StringIO(text, newline=""))


def read_mappings_csv(path: str | os.PathLike[str], *, kinds: tuple[str, ...] = KINDS,
                      pair: str | None = None) -> MappingFile:
    """Read and validate a mapping CSV file of any kind; ConfigError (file, line, column) on the
    first problem. Reads nothing but the file and writes nothing. ``kinds`` are the pair's: they
    win when a header fits several kinds; with ``pair`` a file of another kind is a UsageError."""
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
                     + " or ".join(",".join(REQUIRED[k]) for k in (kinds or KINDS)))
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
    kind, names = _header(shown, first[1], header_no, kinds, pair)
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
        key_column = KEY_COLUMN[kind]
        source = values[key_column]
        if not source:
            raise _error(shown, f"{key_column} is empty", line=line, key=key_column)
        if not values[target]:
            raise _error(shown, f"{target} is empty ({key_column} {source})", line=line, key=target)
        key, value = _row(shown, kind, values, line)
        if values.get("note"):
            value["note"] = values["note"]
        if key in rows:
            if _target(rows[key]) != _target(value):
                raise _error(shown, f"{_what(kind, key, value)} is mapped twice: to {_show(rows[key])} on line "
                             f"{where[key]} and to {_show(value)} on line {line}", line=line, key=key_column,
                             hint="Keep one of the two lines.")
            continue  # the same mapping twice: fine, counted once
        rows[key], where[key] = value, line
    if not rows:
        raise _error(shown, "the file has a header but no rows", line=header_no)
    return MappingFile(shown, kind, rows, where, rows_read, blank, encoding, delimiter)


def _row(path: str, kind: str, values: dict[str, str], line: int) -> tuple[str, dict]:
    """(state key, stored value) of one row whose key and target cells are not empty."""
    def reserved(column: str) -> None:
        if "|" in values.get(column, ""):
            raise _error(path, f"{column} {values[column]!r} contains '|', which mlconnector reserves",
                         line=line, key=column)

    def optional(*columns: str) -> dict[str, str]:
        return {c: values.get(c, "") for c in columns}

    if kind == "projects":
        return values["source_code"], {"procore_project": values["procore_project"]}
    if kind == "costcodes":
        reserved("source_code")
        project = values["procore_project"] or ANY_PROJECT
        return costcode_key(values["source_code"], project), {
            "procore_project": project, "procore_cost_code": values["procore_cost_code"],
            "cost_type": values["cost_type"]}
    if kind == "intacct_projects":
        if values["procore_project"] == ANY_PROJECT:
            raise _error(path, "procore_project '*' is not a project; write one Procore project (number or id) "
                         "per line", line=line, key="procore_project")
        return values["procore_project"], {"intacct_project": values["intacct_project"],
                                           **optional("department", "location")}
    # glaccounts
    for column in ("procore_cost_code", "cost_type", "procore_project"):
        reserved(column)
    if values["procore_cost_code"] == ANY:
        raise _error(path, "procore_cost_code '*' is not a cost code; write one Procore cost code per line",
                     line=line, key="procore_cost_code")
    cost_type = values.get("cost_type") or ANY
    project = values.get("procore_project") or ANY
    return glaccount_key(values["procore_cost_code"], cost_type, project), {
        "procore_cost_code": values["procore_cost_code"], "cost_type": cost_type, "procore_project": project,
        "gl_account": values["gl_account"], **optional("task", "intacct_cost_type", "department", "location")}


def _target(value: Mapping[str, Any]) -> dict:
    return {k: v for k, v in value.items() if k != "note"}


def _what(kind: str, key: str, value: Mapping[str, Any]) -> str:
    """What a duplicate row maps, for the message: ``cost code 03-100 (cost type M, any project)``."""
    if kind == "projects":
        return key
    if kind == "costcodes":
        return f"{key.rsplit('|', 1)[0]} in project {value['procore_project']}"
    if kind == "intacct_projects":
        return f"Procore project {key}"
    cost_type = f"cost type {value['cost_type']}" if value["cost_type"] != ANY else "any cost type"
    project = f"project {value['procore_project']}" if value["procore_project"] != ANY else "any project"
    return f"cost code {value['procore_cost_code']} ({cost_type}, {project})"


def _show(value: Mapping[str, Any]) -> str:
    if "gl_account" in value:
        dims = ("task", "intacct_cost_type", "department", "location")
        return " / ".join([f"GL account {value['gl_account']}"]
                          + [f"{d.replace('intacct_', '').replace('_', ' ')} {value[d]}" for d in dims if value.get(d)])
    if "intacct_project" in value:
        return " / ".join([f"Intacct project {value['intacct_project']}"]
                          + [f"{d} {value[d]}" for d in ("department", "location") if value.get(d)])
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
    """Read, validate and store a mapping CSV file for ``pair``.

    A file of a kind the pair does not use is a UsageError naming the pair and its kinds. All
    rows are validated before one transaction writes them; a bad row raises ConfigError and
    nothing is written. Merge by default (keys in the file are added or overwritten);
    ``replace=True`` also removes the kind's rows that are not in the file. ``dry_run`` reports
    what would change and writes nothing. Unless ``offline``, Procore is asked whether the
    projects, cost codes and cost types of a projects or costcodes file exist (warnings only;
    skipped with a warning when the credentials do not resolve), and the values of an
    intacct_projects or glaccounts file go to :func:`check_intacct_values`. ``transport`` is for
    tests (an httpx transport).
    """
    from mlconnector.state import open_state

    pair = resolve_pair(config, pair)
    # before the state is opened: a bad file creates nothing
    parsed = read_mappings_csv(path, kinds=kinds_of_pair(config, pair), pair=pair)
    with open_state(config.state_path, readonly=dry_run) as state:
        warnings: list[str] = []
        if not offline and parsed.kind in PROCORE_CHECKED:
            projects = parsed.rows if parsed.kind == "projects" else state.mappings_of(pair, "projects")
            _check_procore(config, pair, parsed, projects, warnings, transport=transport)
        elif not offline:
            warnings.extend(check_intacct_values(config, pair, parsed.kind, parsed.rows))
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


# --- checking against Intacct (warnings only) --------------------------------------------------


# The columns of each Intacct kind whose values name an Intacct record, and the bill line field
# that carries them (mlconnector.pairs._intacct.DIMENSIONS says which list holds each).
_INTACCT_COLUMNS = {
    "intacct_projects": {"intacct_project": "PROJECTID", "department": "DEPARTMENTID", "location": "LOCATIONID"},
    "glaccounts": {"gl_account": "ACCOUNTNO", "task": "TASKID", "intacct_cost_type": "COSTTYPEID",
                   "department": "DEPARTMENTID", "location": "LOCATIONID"},
}


def check_intacct_values(config, pair: str, kind: str, rows: Mapping[str, dict]) -> list[str]:
    """Warnings about the values of an intacct_projects or glaccounts import (``rows``: state key
    -> stored value) that Intacct does not know: projects, GL accounts, tasks, cost types,
    departments, locations. Called on import unless --offline; when the credentials do not
    resolve or Intacct does not answer, it says so in a warning instead."""
    from mlconnector.connect import check_credentials, open_client
    from mlconnector.pairs._intacct import DIMENSIONS, IntacctDirectory

    system = config.pair(pair).target
    retry = "run again with credentials or use --offline"
    try:
        check_credentials(config, system)
        client = open_client(config, system)
    except CredentialError as exc:
        return [f"not checked against Intacct: {exc.message.splitlines()[0]}; {retry}"]
    warnings: list[str] = []
    try:
        with client:
            directory = IntacctDirectory(client)
            for column, field in _INTACCT_COLUMNS[kind].items():
                obj, id_field, what = DIMENSIONS[field]
                values = sorted({row.get(column) for row in rows.values() if row.get(column)})
                missing = [v for v in values if not directory.has(obj, id_field, v)]
                if missing:
                    warnings.append(f"Intacct has no active {what} {', '.join(missing[:10])}"
                                    f"{' …' if len(missing) > 10 else ''} ({column}); bills using it wait in "
                                    "quarantine until it exists")
    except (FatalError, RateBudgetExhausted) as exc:
        warnings.append(f"not (fully) checked against Intacct: {exc.message.splitlines()[0]}; "
                        "run again when Intacct answers, or use --offline")
    return warnings


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
            row = {"source_code": key[: -len(suffix)] if key.endswith(suffix) else key.rsplit("|", 1)[0]}
        elif kind == "glaccounts":  # every column is in the value; the key only for a value without it
            code, cost_type, project = key.rsplit("|", 2) if key.count("|") >= 2 else (key, ANY, ANY)
            row = {"procore_cost_code": str(value.get("procore_cost_code") or code),
                   "cost_type": str(value.get("cost_type") or cost_type),
                   "procore_project": str(value.get("procore_project") or project)}
        else:
            row = {KEY_COLUMN[kind]: key}
        for column in COLUMNS[kind]:
            if column not in row:
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

