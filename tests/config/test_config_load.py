"""Good pipeline files: defaults, paths, warnings, ${VAR} interpolation and the example file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from mlconnector.config import KINDS, Config, StreamConfig, load_config
from mlconnector.errors import ConfigError, ExitCode, UsageError
from mlconnector.pairs import STREAM_OPTIONS
from mlconnector.systems.procore.settings import ProcoreSettings
from mlconnector.systems.sage300.settings import Sage300Settings

REPO = Path(__file__).resolve().parents[2]

MINIMAL = """\
systems:
  erp:
    kind: sage300
    url: https://erp.example.com/Sage300WebApi/v1.0/-/SAMLTD/
    username: WEBAPI
"""

FULL = """\
state: data/state.db
systems:
  erp:
    kind: sage300
    url: http://127.0.0.1:8300/Sage300WebApi/v1.0/-/SAM%20INC
    username: WEBAPI
    uppercase_password: true
    ca_bundle: ca.pem
    timeout: 60
    page_size: 500
  pc:
    kind: procore
    api_url: http://localhost:9000/
    login_url: https://login-sandbox.procore.com
    company_id: 42
    timeout: 12.5
    page_size: 1000
    max_rate_wait: 0
pairs:
  main:
    source: erp
    target: pc
    streams:
      vendors:
        lookback_days: 3
"""


def test_minimal_file_gets_every_default(write) -> None:
    path = write(MINIMAL)
    config = load_config(path)
    assert config.path == path
    assert config.state_path == path.parent / "mlconnector.db"
    assert config.pairs == {}
    assert config.warnings == []
    assert config.system("erp") == Sage300Settings(
        name="erp", kind="sage300", url="https://erp.example.com/Sage300WebApi/v1.0/-/SAMLTD",
        username="WEBAPI", uppercase_password=False, ca_bundle=None, timeout=120.0, page_size=100,
    )
    assert config.system("erp").company == "SAMLTD"
    assert config.credential_fields("erp") == ("password",)


def test_full_file(write, tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    config = load_config(write(FULL))
    erp, pc = config.system("erp"), config.system("pc")
    assert config.state_path == tmp_path / "data" / "state.db"
    assert erp.ca_bundle == tmp_path / "ca.pem"
    assert (erp.uppercase_password, erp.timeout, erp.page_size) == (True, 60.0, 500)
    assert isinstance(erp.timeout, float)
    assert erp.company == "SAM INC"
    assert pc == ProcoreSettings(
        name="pc", kind="procore", api_url="http://localhost:9000", login_url="https://login-sandbox.procore.com",
        company_id=42, ca_bundle=None, timeout=12.5, page_size=1000, max_rate_wait=0.0,
    )
    main = config.pair("main")
    assert (main.name, main.source, main.target) == ("main", "erp", "pc")
    assert main.streams["vendors"] == StreamConfig("vendors", True, {"lookback_days": 3})
    # Streams the pair supports but the file does not list are there, off, with their defaults.
    assert main.streams["purchase_orders"].enabled is False
    assert main.streams["purchase_orders"].options["target"] == "commitments"
    assert config.credential_fields("pc") == ("client_id", "client_secret")
    # Loopback http is the sandbox: no warning.
    assert config.warnings == []


def test_plain_http_to_a_remote_sage300_warns(write) -> None:
    path = write(MINIMAL.replace("https://erp.example.com", "http://erp.example.com"))
    config = load_config(path)
    assert config.system("erp").url.startswith("http://erp.example.com/")
    [warning] = config.warnings
    assert warning.startswith(f"{path}:4 [systems.erp.url]: plain http://")
    assert "clear text" in warning


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "[::1]", "localhost"])
def test_procore_http_allowed_to_loopback(write, host: str) -> None:
    text = MINIMAL + f"  pc:\n    kind: procore\n    company_id: 1\n    api_url: http://{host}:8080\n"
    assert load_config(write(text)).system("pc").api_url == f"http://{host}:8080"


def test_stream_listed_without_options_is_enabled_with_defaults(write) -> None:
    text = MINIMAL + "  pc: {kind: procore, company_id: 1}\npairs:\n  p:\n    source: erp\n    target: pc\n" \
        "    streams:\n      vendors:\n"
    assert load_config(write(text)).pair("p").streams["vendors"] == StreamConfig("vendors", True, {"lookback_days": 1})


def test_disabled_and_unlisted_streams(write) -> None:
    base = MINIMAL + "  pc: {kind: procore, company_id: 1}\npairs:\n  p:\n    source: erp\n    target: pc\n"
    off = load_config(write(base + "    streams: {vendors: {enabled: false, lookback_days: 2}}\n"))
    assert off.pair("p").streams["vendors"] == StreamConfig("vendors", False, {"lookback_days": 2})
    assert off.pair("p").enabled_streams() == []
    unlisted = load_config(write(base))
    assert unlisted.pair("p").streams["vendors"] == StreamConfig("vendors", False, {"lookback_days": 1})
    [warning] = unlisted.warnings
    assert "[pairs.p]: no stream is enabled" in warning


def test_anchors_and_aliases_work(write) -> None:
    text = """\
systems:
  a: &sage {kind: sage300, url: "https://h.example.com/S/v1.0/-/A", username: U}
  b: *sage
"""
    config = load_config(write(text))
    assert config.system("b").url == config.system("a").url


def test_lookup_helpers_name_what_exists(write) -> None:
    config = load_config(write(MINIMAL))
    with pytest.raises(UsageError, match=r"unknown system 'erq' \(did you mean 'erp'\?\); systems in .*: erp"):
        config.system("erq")
    with pytest.raises(UsageError, match=r"unknown pair 'x': .* defines no pairs"):
        config.pair("x")
    with pytest.raises(UsageError) as info:
        config.pair("x")
    assert info.value.exit_code == ExitCode.USAGE


def test_resolution_order(write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = write(MINIMAL, "explicit.yaml")
    from_env = write(MINIMAL.replace("erp:", "envsys:"), "env.yaml")
    default = write(MINIMAL.replace("erp:", "cwdsys:"))
    monkeypatch.chdir(tmp_path)
    assert list(load_config().systems) == ["cwdsys"]
    assert load_config().path == default
    monkeypatch.setenv("MLCONNECTOR_CONFIG", str(from_env))
    assert list(load_config().systems) == ["envsys"]
    assert list(load_config(explicit).systems) == ["erp"]
    assert list(load_config(str(explicit)).systems) == ["erp"]


def test_relative_paths_start_at_the_config_file(write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(MINIMAL + "state: sub/x.db\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_config(path).state_path == tmp_path / "sub" / "x.db"


def test_loading_writes_nothing(write, tmp_path: Path) -> None:
    path = write(FULL.replace("    ca_bundle: ca.pem\n", ""))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    load_config(path)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


# --- ${VAR} interpolation -----------------------------------------------------------------------


def test_interpolation_several_variables_and_escape(write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_HOST", "erp.example.com")
    monkeypatch.setenv("ERP_PORT", "8443")
    monkeypatch.setenv("ERP_CO", "SAMINC")
    monkeypatch.setenv("PC_COMPANY", "987")
    monkeypatch.setenv("UPPER", "true")
    text = """\
systems:
  erp:
    kind: sage300
    url: https://${ERP_HOST}:${ERP_PORT}/Sage300WebApi/v1.0/-/${ERP_CO}
    username: "web$${ERP_HOST}api$$x"
    uppercase_password: ${UPPER}
  pc:
    kind: procore
    company_id: ${PC_COMPANY}
"""
    config = load_config(write(text))
    assert config.system("erp").url == "https://erp.example.com:8443/Sage300WebApi/v1.0/-/SAMINC"
    assert config.system("erp").company == "SAMINC"
    assert config.system("erp").username == "web${ERP_HOST}api$$x"
    assert config.system("erp").uppercase_password is True
    assert config.system("pc").company_id == 987


def test_interpolated_values_are_never_echoed(write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRETISH", "ftp://topsecret-host/x")
    text = MINIMAL.replace("https://erp.example.com/Sage300WebApi/v1.0/-/SAMLTD/", "${SECRETISH}")
    with pytest.raises(ConfigError) as info:
        load_config(write(text))
    assert (info.value.line, info.value.key) == (4, "systems.erp.url")
    assert "must start with https://" in str(info.value)
    assert "${SECRETISH} (not shown)" in str(info.value)
    assert "topsecret" not in str(info.value)


def test_interpolated_number_that_is_not_a_number(write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PC_COMPANY", "abc-topsecret")
    with pytest.raises(ConfigError) as info:
        load_config(write(MINIMAL + "  pc:\n    kind: procore\n    company_id: ${PC_COMPANY}\n"))
    assert (info.value.line, info.value.key) == (8, "systems.pc.company_id")
    assert "expected a whole number" in str(info.value)
    assert "topsecret" not in str(info.value)


def test_interpolated_unknown_kind_is_not_echoed(write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIND", "topsecret")
    with pytest.raises(ConfigError) as info:
        load_config(write(MINIMAL.replace("kind: sage300", "kind: ${KIND}")))
    assert "unknown kind" in str(info.value) and "topsecret" not in str(info.value)


def test_unset_variable_names_variable_and_key(write) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(MINIMAL.replace("WEBAPI", "${MLC_SURELY_UNSET_VAR}")))
    assert (info.value.line, info.value.key) == (5, "systems.erp.username")
    assert "MLC_SURELY_UNSET_VAR is not set" in info.value.message


# --- the example file and the schemas ------------------------------------------------------------


def test_example_file_loads() -> None:
    config = load_config(REPO / "config.example.yaml")
    assert set(config.systems) == {"sage300", "procore", "intacct"}
    assert config.pair("sage300-procore").enabled_streams()
    assert config.pair("procore-intacct").enabled_streams()
    assert config.warnings == []


def test_example_file_documents_every_key() -> None:
    doc = yaml.safe_load((REPO / "config.example.yaml").read_text())
    assert set(doc) == {"state", "systems", "pairs", "notify"}
    from mlconnector.notify.settings import EMAIL_KEYS, WEBHOOK_SCHEMA

    assert set(doc["notify"]["webhook"]) == set(WEBHOOK_SCHEMA)
    assert set(doc["notify"]["email"]) == set(EMAIL_KEYS)
    kinds_shown = set()
    for system in doc["systems"].values():
        kinds_shown.add(system["kind"])
        assert set(system) == {"kind", *KINDS[system["kind"]].schema}, system["kind"]
    assert kinds_shown == set(KINDS)
    for pair in doc["pairs"].values():
        assert set(pair) == {"source", "target", "streams"}
        kinds = (doc["systems"][pair["source"]]["kind"], doc["systems"][pair["target"]]["kind"])
        for name, options in STREAM_OPTIONS[kinds].items():
            assert set(pair["streams"][name]) == {"enabled", *options}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_schema_matches_settings_dataclass(kind: str) -> None:
    spec = KINDS[kind]
    fields = {f.name: f for f in dataclasses.fields(spec.settings)}
    assert set(fields) - {"name", "kind"} == set(spec.schema)
    for name, field in spec.schema.items():
        default = fields[name].default
        if field.required:
            assert default is dataclasses.MISSING, name
        else:
            assert default == field.default, name


def test_config_is_immutable(write) -> None:
    config = load_config(write(MINIMAL))
    assert isinstance(config, Config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.system("erp").url = "x"  # type: ignore[misc]
