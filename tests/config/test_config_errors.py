"""Bad pipeline files: each must fail with a ConfigError at the right line and key, saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlconnector.config import load_config
from mlconnector.errors import ConfigError, ExitCode

# Line numbers matter: the table below asserts them.
BASE = """\
systems:
  sage300:
    kind: sage300
    url: https://erp.example.com/Sage300WebApi/v1.0/-/SAMLTD
    username: WEBAPI
  procore:
    kind: procore
    company_id: 1234567
pairs:
  sage300-procore:
    source: sage300
    target: procore
    streams:
      vendors: {enabled: true}
"""


def edit(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


URL = "    url: https://erp.example.com/Sage300WebApi/v1.0/-/SAMLTD\n"
USER = "    username: WEBAPI\n"
COMPANY = "    company_id: 1234567\n"
STREAMS = "      vendors: {enabled: true}\n"

# (id, file text, line, key, fragment of the message)
BAD = [
    # --- YAML itself
    ("syntax-flow", edit(USER, "    username: [WEBAPI\n"), 6, None, "YAML syntax error"),
    ("syntax-colon", edit(USER, "    username: a: b\n"), 5, None, "mapping values are not allowed"),
    ("unclosed-quote", edit(USER, "    username: 'WEBAPI\n"), 15, None, "YAML syntax error"),
    ("control-char", edit(USER, "    username: WEB\x07API\n"), 5, None, "control character #x0007"),
    ("tab-indent", edit(USER, "\tusername: WEBAPI\n"), 5, None, "tab character"),
    ("two-documents", BASE + "---\nstate: x.db\n", 15, None, "single document"),
    ("empty-file", "", 1, None, "the file is empty"),
    ("comments-only", "# nothing here\n", 1, None, "the file is empty"),
    ("top-level-list", "- systems\n- pairs\n", 1, None, "top level must be a mapping"),
    ("top-level-scalar", "hello\n", 1, None, "top level must be a mapping"),
    ("duplicate-key", edit(USER, USER + "    url: https://other.example.com/S/v1.0/-/X\n"), 6,
     "systems.sage300.url", "duplicate key 'url' (first at line 4)"),
    ("duplicate-system", BASE.replace("pairs:\n", "  procore:\n    kind: procore\n    company_id: 1\npairs:\n"),
     9, "systems.procore", "duplicate key 'procore' (first at line 6)"),
    ("merge-key", edit(USER, USER + "    <<: {timeout: 5}\n"), 6, "systems.sage300", "merge keys"),
    ("custom-tag", edit(USER, "    username: !secret WEBAPI\n"), 5, "systems.sage300.username", "tags"),
    # --- shape and keys
    ("unknown-top-key", "sytems: {}\n", 1, "sytems", "did you mean 'systems'"),
    ("missing-systems", "state: x.db\n", 1, "systems", "missing required key 'systems'"),
    ("systems-null", "systems:\n", 1, "systems", "got nothing"),
    ("systems-list", "systems:\n  - sage300\n", 2, "systems", "got a list"),
    ("systems-empty", "systems: {}\n", 1, "systems", "at least one system"),
    ("system-not-mapping", edit("  procore:\n    kind: procore\n" + COMPANY, "  procore: procore\n"), 6,
     "systems.procore", "expected a mapping"),
    ("bad-system-name", edit("  sage300:\n", "  1sage:\n"), 2, "systems.1sage", "must start with a letter"),
    ("env-name-collision", edit("  procore:\n    kind: procore\n",
                                "  sage300-x:\n    kind: procore\n    company_id: 1\n  sage300_x:\n    kind: procore\n"),
     9, "systems.sage300_x", "MLCONNECTOR_SAGE300_X_*"),
    ("unknown-system-key", edit(USER, "    usrname: WEBAPI\n"), 5, "systems.sage300.usrname",
     "did you mean 'username'"),
    ("credential-in-file", edit(USER, USER + "    password: hunter2\n"), 6, "systems.sage300.password",
     "is a credential"),
    ("missing-required", edit(USER, ""), 2, "systems.sage300.username", "missing required key 'username'"),
    ("missing-kind", edit("    kind: procore\n", ""), 6, "systems.procore.kind", "missing required key 'kind'"),
    ("unknown-kind", edit("    kind: procore\n", "    kind: procor\n"), 7, "systems.procore.kind",
     "did you mean 'procore'"),
    # --- types, including YAML 1.1 traps
    ("int-quoted", edit(COMPANY, '    company_id: "abc"\n'), 8, "systems.procore.company_id", "quoted string"),
    ("int-word", edit(COMPANY, "    company_id: abc\n"), 8, "systems.procore.company_id",
     "expected a whole number, got 'abc'"),
    ("int-octal", edit(COMPANY, "    company_id: 0123\n"), 8, "systems.procore.company_id", "leading zeros"),
    ("int-sexagesimal", edit(COMPANY, "    company_id: 1:30\n"), 8, "systems.procore.company_id", "colons"),
    ("int-float", edit(COMPANY, "    company_id: 12.5\n"), 8, "systems.procore.company_id", "whole number"),
    ("int-bool", edit(COMPANY, "    company_id: true\n"), 8, "systems.procore.company_id", "whole number"),
    ("int-null", edit(COMPANY, "    company_id:\n"), 8, "systems.procore.company_id", "empty value"),
    ("int-list", edit(COMPANY, "    company_id: [1]\n"), 8, "systems.procore.company_id", "got a list"),
    ("bool-yes", edit(USER, USER + "    uppercase_password: yes\n"), 6, "systems.sage300.uppercase_password",
     "write true or false, not 'yes'"),
    ("bool-quoted", edit(USER, USER + '    uppercase_password: "true"\n'), 6,
     "systems.sage300.uppercase_password", "remove the quotes"),
    ("bool-number", edit(USER, USER + "    uppercase_password: 1\n"), 6,
     "systems.sage300.uppercase_password", "expected true or false"),
    ("str-bool", edit(USER, "    username: no\n"), 5, "systems.sage300.username", "reads unquoted 'no' as a boolean"),
    ("str-number", edit(USER, "    username: 12345\n"), 5, "systems.sage300.username", "put it in quotes"),
    ("str-date", edit(USER, "    username: 2024-01-01\n"), 5, "systems.sage300.username", "as a date"),
    ("str-mapping", edit(USER, "    username: {a: 1}\n"), 5, "systems.sage300.username", "got a mapping"),
    ("str-empty", edit(USER, '    username: ""\n'), 5, "systems.sage300.username", "must not be empty"),
    ("default-null", edit(USER, USER + "    timeout:\n"), 6, "systems.sage300.timeout",
     "remove the key to use the default (120.0)"),
    ("float-word", edit(USER, USER + "    timeout: fast\n"), 6, "systems.sage300.timeout", "expected a number"),
    ("int-huge", edit(COMPANY, "    company_id: " + "9" * 5000 + "\n"), 8, "systems.procore.company_id",
     "number too large"),
    ("float-huge", edit(USER, USER + "    timeout: 1" + "0" * 400 + "\n"), 6, "systems.sage300.timeout",
     "number too large"),
    ("float-nan", edit(USER, USER + "    timeout: .nan\n"), 6, "systems.sage300.timeout", "expected a number"),
    # --- values
    ("int-zero", edit(COMPANY, "    company_id: 0\n"), 8, "systems.procore.company_id", "at least 1"),
    ("page-size-low", edit(USER, USER + "    page_size: 0\n"), 6, "systems.sage300.page_size",
     "between 1 and 10000"),
    ("page-size-procore", edit(COMPANY, COMPANY + "    page_size: 1001\n"), 9, "systems.procore.page_size",
     "between 1 and 1000"),
    ("timeout-negative", edit(USER, USER + "    timeout: -1\n"), 6, "systems.sage300.timeout", "greater than 0"),
    ("rate-wait-negative", edit(COMPANY, COMPANY + "    max_rate_wait: -5\n"), 9,
     "systems.procore.max_rate_wait", "at least 0"),
    ("ca-bundle-missing", edit(USER, USER + "    ca_bundle: certs/ca.pem\n"), 6, "systems.sage300.ca_bundle",
     "no such file"),
    ("url-scheme", edit(URL, "    url: ftp://erp.example.com/Sage300WebApi/v1.0/-/SAMLTD\n"), 4,
     "systems.sage300.url", "must start with https://"),
    ("url-no-host", edit(URL, "    url: https:///Sage300WebApi/v1.0/-/SAMLTD\n"), 4, "systems.sage300.url",
     "no host"),
    ("url-no-company", edit(URL, "    url: https://erp.example.com/Sage300WebApi/v1.0\n"), 4,
     "systems.sage300.url", "must end with /-/<company>"),
    ("url-past-company", edit(URL, "    url: https://erp.example.com/Sage300WebApi/v1.0/-/SAMLTD/AP/APVendors\n"),
     4, "systems.sage300.url", "remove what follows the company"),
    ("url-query", edit(URL, "    url: https://erp.example.com/Sage300WebApi/v1.0/-/SAMLTD?x=1\n"), 4,
     "systems.sage300.url", "query"),
    ("url-space", edit(URL, "    url: https://erp.example.com/Sage 300/v1.0/-/SAMLTD\n"), 4,
     "systems.sage300.url", "spaces"),
    ("url-bad-port", edit(URL, "    url: https://erp.example.com:99999/S/v1.0/-/SAMLTD\n"), 4,
     "systems.sage300.url", "port"),
    ("procore-http", edit(COMPANY, COMPANY + "    api_url: http://api.procore.com\n"), 9,
     "systems.procore.api_url", "must use https://"),
    ("procore-login-http", edit(COMPANY, COMPANY + "    login_url: http://10.0.0.5:8080\n"), 9,
     "systems.procore.login_url", "must use https://"),
    # --- pairs and streams
    ("pairs-list", edit("pairs:\n", "pairs:\n  - x\n", BASE.split("  sage300-procore:")[0]), 10, "pairs",
     "got a list"),
    ("pair-unknown-key", edit("    target: procore\n", "    target: procore\n    direction: up\n"), 13,
     "pairs.sage300-procore.direction", "unknown key 'direction'"),
    ("pair-missing-source", edit("    source: sage300\n", ""), 10, "pairs.sage300-procore.source",
     "missing required key 'source'"),
    ("pair-unknown-system", edit("    source: sage300\n", "    source: sage30\n"), 11,
     "pairs.sage300-procore.source", "did you mean 'sage300'"),
    ("pair-same-system", edit("    target: procore\n", "    target: sage300\n"), 12,
     "pairs.sage300-procore.target", "the same system"),
    ("pair-unsupported", edit("    source: sage300\n    target: procore\n",
                              "    source: procore\n    target: sage300\n"), 12, "pairs.sage300-procore",
     "procore -> sage300 pair is not supported"),
    ("stream-unknown", edit(STREAMS, "      vendor: {enabled: true}\n"), 14, "pairs.sage300-procore.streams.vendor",
     "unknown stream 'vendor'; did you mean 'vendors'"),
    ("stream-option-unknown", edit(STREAMS, "      vendors: {lookback: 3}\n"), 14,
     "pairs.sage300-procore.streams.vendors.lookback", "unknown option 'lookback'; did you mean 'lookback_days'"),
    ("stream-option-type", edit(STREAMS, "      vendors: {lookback_days: '3'}\n"), 14,
     "pairs.sage300-procore.streams.vendors.lookback_days", "quoted string"),
    ("stream-enabled-on", edit(STREAMS, "      vendors: {enabled: on}\n"), 14,
     "pairs.sage300-procore.streams.vendors.enabled", "write true or false, not 'on'"),
    ("streams-list", edit(STREAMS, "      - vendors\n"), 14, "pairs.sage300-procore.streams", "got a list"),
    # --- ${VAR}
    ("env-unset", edit(USER, "    username: ${MLC_TEST_UNSET}\n"), 5, "systems.sage300.username",
     "environment variable MLC_TEST_UNSET is not set"),
    ("env-bad-name", edit(USER, "    username: ${1X}\n"), 5, "systems.sage300.username", "bad variable name"),
    ("env-unterminated", edit(USER, "    username: ab${X\n"), 5, "systems.sage300.username", "unterminated"),
    ("state-empty", "state: ''\n" + BASE, 1, "state", "must not be empty"),
]


@pytest.mark.parametrize(("text", "line", "key", "fragment"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_file(write, text: str, line: int, key: str | None, fragment: str | None) -> None:
    path = write(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    error = info.value
    assert error.exit_code == ExitCode.USAGE
    assert error.file == str(path)
    assert (error.line, error.key) == (line, key), str(error)
    if fragment is not None:
        assert fragment in error.message, error.message
    # The rendered message leads with the location, like a compiler's.
    assert str(error).startswith(f"{path}:{line}")


def test_the_table_is_big_enough() -> None:
    assert len(BAD) >= 25


def test_bad_pair_name(write) -> None:
    path = write(edit("  sage300-procore:\n", "  'sage300 procore':\n"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.line, info.value.key) == (10, "pairs.sage300 procore")
    assert "pair name 'sage300 procore' must start with a letter" in info.value.message


def test_url_with_password_is_not_echoed(write) -> None:
    path = write(edit(URL, "    url: https://WEBAPI:hunter2secret@erp.example.com/S/v1.0/-/SAMLTD\n"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "must not contain a user name or password" in str(info.value)
    assert "hunter2secret" not in str(info.value)


def test_credential_in_file_is_not_echoed(write) -> None:
    path = write(edit(USER, USER + "    password: hunter2secret\n"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "hunter2secret" not in str(info.value)
    assert "mlconnector credentials set sage300" in str(info.value)
    assert "MLCONNECTOR_SAGE300_PASSWORD" in str(info.value)


def test_unknown_key_lists_the_valid_keys(write) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(edit(USER, USER + "    zzz: 1\n")))
    assert "did you mean" not in info.value.message
    assert "Valid keys here: kind, url, username, uppercase_password, ca_bundle, timeout, page_size" in str(info.value)


def test_unsupported_pair_names_supported_pairs(write) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(edit("    source: sage300\n    target: procore\n", "    source: procore\n    target: sage300\n")))
    assert "sage300 -> procore" in str(info.value)


def test_missing_file_by_argument(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert info.value.file == str(tmp_path / "nope.yaml")
    assert "not found (the path given with --config)" in info.value.message


def test_missing_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLCONNECTOR_CONFIG", str(tmp_path / "env.yaml"))
    with pytest.raises(ConfigError) as info:
        load_config()
    assert info.value.file == str(tmp_path / "env.yaml")
    assert "from the environment variable MLCONNECTOR_CONFIG" in info.value.message


def test_missing_default_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config()
    assert info.value.file == str(tmp_path / "mlconnector.yaml")
    assert "the default mlconnector.yaml in the current directory" in info.value.message
    assert "--config" in str(info.value) and "MLCONNECTOR_CONFIG" in str(info.value)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_not_utf8(write) -> None:
    path = write("")
    path.write_bytes(BASE.encode().replace(b"WEBAPI", b"WEB\xffAPI"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line == 5
    assert "not UTF-8" in info.value.message


def test_huge_file_is_refused(write) -> None:
    path = write(BASE + "#" * (1024 * 1024) + "\n")
    with pytest.raises(ConfigError, match="at most"):
        load_config(path)
