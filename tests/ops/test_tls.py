"""TLS (DESIGN.md §6): a sandbox served over HTTPS with a certificate from its own throwaway CA is
rejected without `ca_bundle` (exit 3, saying it is the certificate) and accepted with it; and
nothing in the code or the configuration schema can turn verification off."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlconnector.sandbox import Sandbox

from .conftest import PAIR

pytestmark = pytest.mark.e2e

PACKAGE = Path(__file__).resolve().parents[2] / "mlconnector"


@pytest.fixture
def https_sandbox(server_tls):
    with Sandbox(vendors=20, ssl_context=server_tls) as sb:
        yield sb
    assert sb.procore.unhandled_errors == [] and sb.sage300.unhandled_errors == []


def _with_ca(config: str, ca: Path) -> str:
    for kind in ("sage300", "procore"):
        config = config.replace(f"    kind: {kind}\n", f"    kind: {kind}\n    ca_bundle: {ca}\n", 1)
    return config


def test_https_sandbox_is_refused_without_its_ca_and_accepted_with_it(https_sandbox, tls_files, run_cli,
                                                                       tmp_path, monkeypatch) -> None:
    from .conftest import make_ca_and_server_cert

    ca, _ = tls_files
    sb = https_sandbox
    assert sb.procore.url.startswith("https://") and sb.sage300.base_url.startswith("https://")
    for name, value in sb.credentials_env().items():
        monkeypatch.setenv(name, value)
    plain = sb.config_yaml(tmp_path / "state.db", ("vendors",))
    (tmp_path / "mlconnector.yaml").write_text(plain, encoding="utf-8")
    # Another throwaway CA, which did not sign the server's certificate.
    (tmp_path / "other-ca").mkdir()
    wrong_ca, _ = make_ca_and_server_cert(tmp_path / "other-ca")
    wrong = tmp_path / "wrong-ca.yaml"
    wrong.write_text(_with_ca(plain, wrong_ca), encoding="utf-8")

    # Without ca_bundle the system trust store does not know our CA; with the wrong CA neither.
    # A certificate failure is not retried (retrying cannot make it trusted): the run stops at
    # the first handshake, with no "retry n of 5" warning, and says to set ca_bundle.
    cases = [("sage300", ()), ("procore", ()), ("procore", ("-c", str(wrong)))]
    procs = [run_cli.start(*config, "ping", system) for system, config in cases]
    for (system, _), result in zip(cases, [run_cli.finish(p, timeout=120) for p in procs]):
        assert result.code == 3, result
        assert re.search(r"certificate verify failed", result.stderr, re.I), result.stderr
        assert f"error: {system}: " in result.stderr
        assert "TLS certificate was not accepted" in result.stderr and "`ca_bundle:`" in result.stderr, result.stderr
        assert not re.search(r"retry \d+ of \d+", result.stderr), result.stderr
    assert sb.procore.count() == 0 and sb.sage300.count() == 0  # no request got through the handshake

    (tmp_path / "mlconnector.yaml").write_text(_with_ca(plain, ca), encoding="utf-8")
    for system in ("sage300", "procore"):
        code, out, err = run_cli("ping", system)
        assert code == 0, err
        assert "https://127.0.0.1:" in out
    code, out, err = run_cli("sync", PAIR)
    assert code in (0, 1), err
    assert "create=" in out and sb.procore.count("PATCH") >= 1


UNVERIFIED = re.compile(r"verify\s*=\s*False|CERT_NONE|check_hostname\s*=\s*False|_create_unverified_context"
                        r"|PYTHONHTTPSVERIFY|verify_ssl|insecure", re.I)


def test_no_code_path_turns_verification_off() -> None:
    hits = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parts[-2] == "sandbox":  # the simulators are servers; they verify nobody
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if UNVERIFIED.search(line):
                hits.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert hits == []
    http = (PACKAGE / "http.py").read_text(encoding="utf-8")
    assert "verify: ssl.SSLContext | bool = True" in http  # the one place a client's TLS is set up


@pytest.mark.parametrize("key", ["verify: false", "verify_ssl: false", "insecure: true", "tls_verify: false"])
def test_a_key_to_disable_verification_is_a_usage_error(key, sandbox, workdir, run_cli) -> None:
    workdir.edit_config("    kind: procore\n", f"    kind: procore\n    {key}\n")
    code, out, err = run_cli("ping", "procore")
    assert code == 2, err
    name = key.split(":")[0]
    assert f"[systems.procore.{name}]: unknown key '{name}'" in err
    assert sandbox.procore.count() == 0
