"""`mlconnector selfcheck`: every row passes from the source tree, the JSON has a fixed shape, and
a missing piece (package metadata, keyring entry points, a data file, a check that crashes) fails
with exit 3 and names what is missing. The binary itself is checked in CI (.ci/run builds it and
runs `selfcheck` and the demo from it)."""

from __future__ import annotations

import importlib.metadata
import json
import re
import sys
import tomllib
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest
from typer.testing import CliRunner

from mlconnector import selfcheck
from mlconnector.config import KINDS
from mlconnector.errors import ExitCode
from mlconnector.selfcheck import RUNTIME_DISTRIBUTIONS, run_selfcheck

ROOT = Path(__file__).resolve().parents[1]
AREAS = ["versions", "systems", "keyring", "state", "data", "soap/tls"]


def invoke(*args: str):
    from mlconnector.cli import app

    return CliRunner().invoke(app, ["selfcheck", *args])


def rows(output: str) -> list[dict]:
    return json.loads(output)["checks"]


def row(checks: list[dict], area: str, check: str) -> dict:
    found = [c for c in checks if c["area"] == area and c["check"] == check]
    assert len(found) == 1, f"no single row {area}/{check} in {[(c['area'], c['check']) for c in checks]}"
    return found[0]


def test_every_check_passes_from_the_source_tree(run_cli) -> None:
    # As a user runs it: a child process, output piped, no configuration file anywhere.
    result = run_cli("selfcheck")
    assert result.code == 0, result.output
    for area in AREAS:
        assert area in result.stdout
    for kind in KINDS:
        assert re.search(rf"systems\s+│ {kind}\s+│ ok", result.stdout), result.stdout
    assert re.search(r"all \d+ checks passed", result.stdout)
    assert "FAILED" not in result.output and "Traceback" not in result.output


def test_json_lists_every_check_with_a_fixed_shape(tmp_path: Path) -> None:
    result = invoke("--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] is True
    checks = data["checks"]
    assert [a for a in AREAS if any(c["area"] == a for c in checks)] == AREAS
    for check in checks:
        assert set(check) == {"area", "check", "result", "ok", "detail"}
        assert check["ok"] is True and check["result"] in ("ok", "warning") and check["detail"]
    # What each area must have looked at.
    from mlconnector import __version__

    assert row(checks, "versions", "mlconnector")["detail"] == __version__
    for name in RUNTIME_DISTRIBUTIONS:
        assert re.match(r"\d", row(checks, "versions", name)["detail"]), name
    assert row(checks, "versions", "build")["detail"].startswith("source: ")
    for kind in KINDS:
        assert "client, settings" in row(checks, "systems", kind)["detail"]
    for pair in ("sage300_procore", "procore_intacct"):
        assert row(checks, "systems", f"pair {pair}")["ok"]
    assert "SecretService" in row(checks, "keyring", "entry points")["detail"]
    assert "read back" in row(checks, "keyring", "encrypted file")["detail"]
    from mlconnector.state import SCHEMA_VERSION

    assert f"schema version {SCHEMA_VERSION}" in row(checks, "state", "migrations")["detail"]
    assert re.match(r"\d+ files, [\d,]+ bytes", row(checks, "data", "sandbox data")["detail"])
    assert "api.v3.0.xsd compiled" in row(checks, "data", "Intacct XSD")["detail"]
    assert "built a SOAP envelope" in row(checks, "soap/tls", "zeep")["detail"]
    assert "CA certificates" in row(checks, "soap/tls", "CA file")["detail"]


def test_the_tests_null_keyring_is_a_warning_not_a_failure() -> None:
    # conftest disables the keyring (keyring.backends.null): like a headless server, the chain goes on.
    result = invoke("--json")
    assert result.exit_code == 0, result.output
    chosen = row(rows(result.output), "keyring", "chosen")
    assert chosen["result"] == "warning" and chosen["ok"] is True
    assert "encrypted file" in chosen["detail"] and "MLCONNECTOR_PASSPHRASE" in chosen["detail"]


def test_keyrings_fail_backend_is_a_warning_naming_the_fallback() -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())  # what keyring picks with no D-Bus session
    result = invoke()
    assert result.exit_code == 0, result.output
    assert re.search(r"chosen\s+│ warning\s+│ no OS keyring: keyring found no OS keyring", result.output)
    assert "(1 with a warning)" in result.output


def test_missing_package_metadata_fails_and_names_the_package(monkeypatch) -> None:
    real = importlib.metadata.version

    def version(name: str) -> str:
        if name == "lxml":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    result = invoke()
    assert result.exit_code == ExitCode.FATAL, result.output
    assert re.search(r"lxml\s+│ FAILED\s+│ package metadata missing", result.output), result.output
    assert "1 of " in result.output and "checks failed: versions/lxml" in result.output

    data = json.loads(invoke("--json").output)
    assert data["ok"] is False
    assert [(c["area"], c["check"]) for c in data["checks"] if not c["ok"]] == [("versions", "lxml")]


def test_no_keyring_entry_points_fails(monkeypatch) -> None:
    # A build that left out keyring's metadata: keyring would silently fall back to nothing.
    real = importlib.metadata.entry_points

    def entry_points(**params):
        return [] if params.get("group") == "keyring.backends" else real(**params)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    result = invoke("--json")
    assert result.exit_code == ExitCode.FATAL, result.output
    failed = row(rows(result.output), "keyring", "entry points")
    assert failed["result"] == "FAILED" and "no backend entry points" in failed["detail"]


def test_a_missing_data_file_fails_and_is_named(monkeypatch, tmp_path: Path) -> None:
    import mlconnector.sandbox

    partial = tmp_path / "data"
    (partial / "intacct").mkdir(parents=True)
    for name in selfcheck.REQUIRED_DATA:
        if name != "costcodes-extra.csv":
            (partial / name).write_bytes((mlconnector.sandbox.DATA_DIR / name).read_bytes())
    monkeypatch.setattr(mlconnector.sandbox, "DATA_DIR", partial)
    result = invoke("--json")
    assert result.exit_code == ExitCode.FATAL, result.output
    failed = row(rows(result.output), "data", "sandbox data")
    assert not failed["ok"] and failed["detail"].endswith("missing: costcodes-extra.csv")


def test_a_check_that_crashes_is_a_failed_row_not_a_traceback(monkeypatch) -> None:
    from mlconnector import xmlsafe

    def broken(path):
        raise OSError("libxml2 went away")

    monkeypatch.setattr(xmlsafe, "schema", broken)
    result = invoke()
    assert result.exit_code == ExitCode.FATAL, result.output
    assert re.search(r"Intacct XSD\s+│ FAILED\s+│ OSError: libxml2 went away", result.output), result.output
    assert "Traceback" not in result.output


def test_a_module_that_cannot_be_imported_is_named(monkeypatch) -> None:
    # What a binary built without one of the lazily imported modules would show.
    real = importlib.import_module

    def import_module(name: str, package: str | None = None):
        if name == "mlconnector.systems.intacct.writers":
            raise ModuleNotFoundError("No module named 'mlconnector.systems.intacct.writers'")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", import_module)
    result = invoke("--json")
    assert result.exit_code == ExitCode.FATAL, result.output
    failed = row(rows(result.output), "systems", "intacct")
    assert failed["detail"] == ("importing mlconnector.systems.intacct.writers: ModuleNotFoundError: "
                                "No module named 'mlconnector.systems.intacct.writers'")


def test_frozen_build_is_reported(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "_MEI123"), raising=False)
    checks = run_selfcheck(tmp_path / "work")
    build = next(c for c in checks if c.name == "build")
    assert build.detail.startswith("single-file binary ") and "_MEI123" in build.detail


def test_leaves_nothing_behind(tmp_path: Path) -> None:
    work = tmp_path / "work"
    checks = run_selfcheck(work)
    assert selfcheck.passed(checks)
    assert list(work.iterdir()) == []


def test_runtime_distributions_are_pyprojects_dependencies() -> None:
    # The binary's build copies the metadata of these; a new dependency must be checked too.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    assert declared == set(RUNTIME_DISTRIBUTIONS) - {"certifi"}
    spec = (ROOT / ".ci" / "pyinstaller" / "mlconnector.spec").read_text(encoding="utf-8")
    for name in RUNTIME_DISTRIBUTIONS:
        assert f'"{name}"' in spec, f"the PyInstaller spec does not copy the metadata of {name}"


@pytest.mark.keyring_backend
def test_picks_the_secret_service_when_one_runs() -> None:
    # Under .ci/keyring-session.sh; the binary's own run of this is in .ci/pyinstaller/smoke-test.
    from keyring.backends import SecretService

    if not isinstance(keyring.get_keyring(), SecretService.Keyring):
        pytest.skip("no Secret Service in this session: run under .ci/keyring-session.sh")
    chosen = next(c for c in run_selfcheck() if c.area == "keyring" and c.name == "chosen")
    assert chosen.result == "ok" and chosen.detail == "keyring.backends.SecretService.Keyring"
