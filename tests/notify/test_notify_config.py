"""The `notify:` section: what loads, what is refused (with file, line and key), and the webhook URL
treated as the secret it is."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlconnector import redact
from mlconnector.config import load_config
from mlconnector.errors import ConfigError, UsageError
from mlconnector.notify.settings import EMAIL_KEYS, WEBHOOK_SCHEMA, EmailSettings, WebhookSettings

REPO = Path(__file__).resolve().parents[2]
TOKEN = "T0AAAA/B0BBBB/zz9SecretWebhookToken77"

# Line numbers matter: the table below asserts them.
BASE = f"""\
systems:
  erp:
    kind: sage300
    url: https://erp.example.com/Sage300WebApi/v1.0/-/SAMLTD
    username: WEBAPI
notify:
  webhook:
    url: https://hooks.slack.com/services/{TOKEN}
  email:
    host: smtp.example.com
    from: mlconnector@example.com
    to: ap-team@example.com
"""
URL = f"    url: https://hooks.slack.com/services/{TOKEN}\n"
TO = "    to: ap-team@example.com\n"
HOST = "    host: smtp.example.com\n"


def edit(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.fixture
def write(tmp_path: Path):
    def write(text: str) -> Path:
        path = tmp_path / "mlconnector.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_defaults_and_a_single_address(write) -> None:
    config = load_config(write(BASE))
    assert config.notify.webhook == WebhookSettings(url=f"https://hooks.slack.com/services/{TOKEN}", timeout=10.0,
                                                    ca_bundle=None, format="both")
    assert config.notify.email == EmailSettings(host="smtp.example.com", port=587, security="starttls",
                                                username=None, sender="mlconnector@example.com",
                                                to=("ap-team@example.com",), timeout=10.0, ca_bundle=None)
    assert config.notify.channels() == ("webhook", "email")
    assert config.warnings == []


def test_every_key(write, tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    text = edit(TO, "    to: [ap@example.com, it@example.com, ap@example.com]\n    username: relay-user\n"
                    "    security: ssl\n    timeout: 30\n    ca_bundle: ca.pem\n")
    text = edit(URL, URL + "    timeout: 3.5\n    ca_bundle: ca.pem\n", text)
    config = load_config(write(text))
    mail, hook = config.notify.email, config.notify.webhook
    assert mail.to == ("ap@example.com", "it@example.com")  # a repeat is sent once
    assert (mail.security, mail.port, mail.username, mail.timeout) == ("ssl", 465, "relay-user", 30.0)
    assert mail.ca_bundle == tmp_path / "ca.pem" and hook.ca_bundle == tmp_path / "ca.pem"
    assert hook.timeout == 3.5
    assert config.credential_fields("notify") == ("smtp_password",)


@pytest.mark.parametrize("security, port", [("starttls", 587), ("ssl", 465)])
def test_the_port_follows_security_unless_given(write, security: str, port: int) -> None:
    config = load_config(write(edit(HOST, HOST + f"    security: {security}\n")))
    assert config.notify.email.port == port
    config = load_config(write(edit(HOST, HOST + f"    security: {security}\n    port: 2525\n")))
    assert config.notify.email.port == 2525


def test_plain_smtp_and_http_are_allowed_to_this_machine(write) -> None:
    text = edit(HOST, "    host: 127.0.0.1\n    security: none\n")
    text = edit(URL, "    url: http://localhost:8080/hook/abc\n", text)
    config = load_config(write(text))
    assert (config.notify.email.security, config.notify.email.port) == ("none", 25)
    assert config.notify.webhook.url == "http://localhost:8080/hook/abc"


def test_a_teams_workflow_url_with_its_signature_in_the_query_is_accepted_and_scrubbed(write) -> None:
    url = ("https://prod-12.westus.logic.azure.com:443/workflows/0a1b2c3d4e5f/triggers/manual/paths/invoke"
           "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Qm9ndXNTaWduYXR1cmUxMjM0NTY3")
    config = load_config(write(edit(URL, f"    url: {url}\n")))
    assert config.notify.webhook.url == url
    assert redact.scrub(f"POST {url} failed") == "POST **** failed"
    assert "Qm9ndXNTaWduYXR1cmUxMjM0NTY3" not in redact.scrub("sig=Qm9ndXNTaWduYXR1cmUxMjM0NTY3&sv=1.0 " + url[8:])


def test_the_webhook_url_is_a_secret_once_loaded(write, monkeypatch) -> None:
    monkeypatch.setenv("MLCONNECTOR_WEBHOOK_URL", f"https://hooks.slack.com/services/{TOKEN}")
    config = load_config(write(edit(URL, "    url: ${MLCONNECTOR_WEBHOOK_URL}\n")))
    assert TOKEN not in redact.scrub(f"sending to https://hooks.slack.com/services/{TOKEN}")
    assert TOKEN not in redact.scrub(f"path /services/{TOKEN}")
    assert TOKEN not in repr(config.notify) and TOKEN not in repr(config)


def test_a_config_without_notify_has_none(write) -> None:
    config = load_config(write(BASE.split("notify:")[0]))
    assert config.notify is None
    with pytest.raises(UsageError, match="unknown system 'notify'"):
        config.credential_fields("notify")


def test_notices_without_a_login_have_no_secret_to_store(write) -> None:
    config = load_config(write(BASE))
    with pytest.raises(UsageError, match="notify.email.username is not set"):
        config.credential_fields("notify")
    assert config.credential_fields("erp") == ("password",)


# (id, file text, line, key, fragment of the message)
BAD = [
    ("unknown-section", edit("  email:\n", "  slack:\n    x: 1\n  email:\n"), 9, "notify.slack",
     "unknown key 'slack'"),
    ("unknown-webhook-key", edit(URL, URL + "    token: abc\n"), 9, "notify.webhook.token", "unknown key 'token'"),
    ("unknown-email-key", edit(TO, TO + "    cc: x@example.com\n"), 13, "notify.email.cc", "unknown key 'cc'"),
    ("misspelt-email-key", edit(TO, TO + "    usernme: x\n"), 13, "notify.email.usernme", "did you mean 'username'"),
    ("empty-notify", BASE.split("notify:")[0] + "notify: {}\n", 6, "notify", "define webhook, email or both"),
    ("null-notify", BASE.split("notify:")[0] + "notify:\n", 6, "notify", "got nothing"),
    ("notify-list", BASE.split("notify:")[0] + "notify: [webhook]\n", 6, "notify", "got a list"),
    ("null-webhook", edit(URL, "    url:\n"), 8, "notify.webhook.url", "got an empty value"),
    ("webhook-no-url", edit(URL, "    timeout: 5\n"), 7, "notify.webhook.url", "missing required key 'url'"),
    ("url-ftp", edit(URL, "    url: ftp://hooks.example.com/x\n"), 8, "notify.webhook.url", "must start with https://"),
    ("url-not-a-url", edit(URL, "    url: hooks.slack.com/services/x\n"), 8, "notify.webhook.url",
     "must start with https://"),
    ("url-spaces", edit(URL, "    url: https://hooks.slack.com/a b\n"), 8, "notify.webhook.url", "spaces"),
    ("url-no-host", edit(URL, "    url: https:///services/x\n"), 8, "notify.webhook.url", "has no host name"),
    ("url-http-remote", edit(URL, f"    url: http://hooks.slack.com/services/{TOKEN}\n"), 8, "notify.webhook.url",
     "must use https://"),
    ("url-credentials", edit(URL, "    url: https://me:pw@hooks.slack.com/x\n"), 8, "notify.webhook.url",
     "user name or password"),
    ("url-fragment", edit(URL, "    url: https://hooks.slack.com/x#frag\n"), 8, "notify.webhook.url", "fragment"),
    ("webhook-timeout", edit(URL, URL + "    timeout: 0\n"), 9, "notify.webhook.timeout", "greater than 0"),
    ("webhook-ca-missing", edit(URL, URL + "    ca_bundle: nowhere.pem\n"), 9, "notify.webhook.ca_bundle",
     "no such file"),
    ("missing-to", edit(TO, ""), 9, "notify.email.to", "missing required key 'to'"),
    ("empty-to", edit(TO, "    to: []\n"), 12, "notify.email.to", "the list is empty"),
    ("null-to", edit(TO, "    to:\n"), 12, "notify.email.to", "got an empty value"),
    ("bad-to", edit(TO, "    to: ap-team\n"), 12, "notify.email.to", "must be one e-mail address"),
    ("bad-to-in-list", edit(TO, "    to:\n      - ap@example.com\n      - 'Ann <ann@example.com>'\n"), 14,
     "notify.email.to[1]", "no display name"),
    ("two-in-one", edit(TO, "    to: a@example.com, b@example.com\n"), 12, "notify.email.to",
     "must be one e-mail address"),
    ("to-mapping", edit(TO, "    to: {a: b}\n"), 12, "notify.email.to", "expected a string, got a mapping"),
    ("missing-from", edit("    from: mlconnector@example.com\n", ""), 9, "notify.email.from",
     "missing required key 'from'"),
    ("missing-host", edit(HOST, ""), 9, "notify.email.host", "missing required key 'host'"),
    ("bad-host", edit(HOST, "    host: smtp example com\n"), 10, "notify.email.host", "host name or IP address"),
    ("bad-webhook-format", edit(URL, URL + "    format: discord\n"), 9, "notify.webhook.format",
     "must be one of both, slack, teams"),
    ("bad-security", edit(HOST, HOST + "    security: tls\n"), 11, "notify.email.security",
     "must be one of starttls, ssl, none"),
    ("plain-to-remote", edit(HOST, HOST + "    security: none\n"), 11, "notify.email.security",
     "allowed only to a loopback host"),
    ("bad-port", edit(HOST, HOST + "    port: 0\n"), 11, "notify.email.port", "between 1 and 65535"),
    ("quoted-port", edit(HOST, HOST + "    port: '587'\n"), 11, "notify.email.port", "remove the quotes"),
    ("password-in-file", edit(HOST, HOST + "    password: hunter22\n"), 11, "notify.email.password",
     "is a credential and is never read from this file"),
    ("system-named-notify", edit("  erp:\n", "  notify:\n"), 2, "systems.notify",
     "may not be named 'notify' when `notify:` is configured"),
    ("system-sharing-the-variables", edit("  erp:\n", "  Notify:\n"), 2, "systems.Notify",
     "may not be named 'Notify'"),
]


@pytest.mark.parametrize("text, line, key, fragment", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_notify_sections(write, text: str, line: int, key: str, fragment: str) -> None:
    path = write(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    err = exc.value
    assert fragment in str(err), str(err)
    assert (err.file, err.line, err.key) == (str(path), line, key), str(err)
    assert TOKEN not in str(err)  # never the webhook's token, whatever is wrong


def test_an_unset_variable_for_the_url_is_named_and_a_bad_value_from_it_is_not_shown(write, monkeypatch) -> None:
    path = write(edit(URL, "    url: ${MLCONNECTOR_WEBHOOK_URL}\n"))
    with pytest.raises(ConfigError, match="environment variable MLCONNECTOR_WEBHOOK_URL is not set"):
        load_config(path)
    monkeypatch.setenv("MLCONNECTOR_WEBHOOK_URL", f"http://hooks.slack.com/services/{TOKEN}")
    with pytest.raises(ConfigError, match="must use https://") as exc:
        load_config(path)
    assert TOKEN not in str(exc.value) and "hooks.slack.com" not in str(exc.value)


def test_example_file_documents_every_notify_key() -> None:
    doc = yaml.safe_load((REPO / "config.example.yaml").read_text(encoding="utf-8"))
    assert set(doc["notify"]) == {"webhook", "email"}
    assert set(doc["notify"]["webhook"]) == set(WEBHOOK_SCHEMA)
    assert set(doc["notify"]["email"]) == set(EMAIL_KEYS)
    config = load_config(REPO / "config.example.yaml")
    assert config.notify.webhook is not None and config.notify.email is not None
    assert config.warnings == []
