"""Failure notices end to end: `python -m mlconnector sync` against the sandbox, with a local webhook
receiver and a local SMTP server (STARTTLS with a throwaway CA, AUTH) taking the notices.

Every test ends by checking that neither the webhook's token, nor the SMTP password, nor any
sandbox secret appeared in any output of the CLI or in the state file.
"""

from __future__ import annotations

import json

import pytest

from .conftest import SMTP_PASSWORD, SMTP_USER, WEBHOOK_TOKEN, WebhookReceiver, notify_yaml

pytestmark = pytest.mark.e2e

PAIR = "sage300-procore"
PASSPHRASE = "correct horse battery staple 42"


@pytest.fixture
def cli(run_cli, workdir, sandbox, sandbox_secrets, assert_no_secret):
    yield run_cli
    assert_no_secret([WEBHOOK_TOKEN, SMTP_PASSWORD, *sandbox_secrets(sandbox)], run_cli.results, workdir.path)


def configure(workdir, notify: str, monkeypatch, *, smtp_password: bool = True) -> None:
    workdir.write_config(workdir.sandbox.config_yaml(workdir.state_path, ("vendors",)) + notify)
    if smtp_password:
        monkeypatch.setenv("MLCONNECTOR_NOTIFY_SMTP_PASSWORD", SMTP_PASSWORD)


def test_a_quarantine_is_notified_once_and_a_new_record_again(cli, workdir, sandbox, webhook, smtp, smtp_tls,
                                                               monkeypatch) -> None:
    configure(workdir, notify_yaml(webhook_url=webhook.url, smtp_port=smtp.port, ca=smtp_tls[0]), monkeypatch)

    code, out, err = cli("--log-level", "debug", "sync", PAIR)
    assert code == 1, err
    assert "webhook: sent" in out and "email: sent" in out
    (body,) = webhook.accepted()
    title = body["text"].split("\n")[0]
    assert title.startswith(f"*[mlconnector] {PAIR} on ") and title.endswith(": 1 record quarantined*")
    assert "- VENDOR:SUMMIT: " in body["text"] and "audit --run 1" in body["text"]
    assert body["attachments"][0]["content"]["type"] == "AdaptiveCard"
    (mail,) = smtp.mails
    assert mail.tls and mail.user == SMTP_USER and mail.rcpt_to == ["ap-team@example.com", "it@example.com"]
    assert "- VENDOR:SUMMIT: " in mail.text() and mail.message()["Subject"] == title.strip("*")

    # The same sync again: the same quarantine, nothing sent.
    code, out, err = cli("sync", PAIR)
    assert code == 1, err
    assert "webhook:" not in out and "email:" not in out
    assert len(webhook.posts) == 1 and len(smtp.mails) == 1

    # A vendor whose name maps to nothing: quarantined too, and reported alone.
    sandbox.sage300.upsert_vendor(VendorNumber="V00005", VendorName="   ")
    code, out, err = cli("sync", PAIR)
    assert code == 1, err
    assert len(webhook.accepted()) == 2 and len(smtp.mails) == 2
    text = webhook.accepted()[1]["text"]
    assert "- VENDOR:V00005: " in text and "VendorName" in text and "VENDOR:SUMMIT" not in text
    assert "(1 more was already there and reported before)" in text
    assert "- VENDOR:V00005: " in smtp.mails[1].text()


def test_a_failure_is_notified_once_across_runs_then_recovery(cli, workdir, sandbox, webhook, smtp, smtp_tls,
                                                             monkeypatch) -> None:
    configure(workdir, notify_yaml(webhook_url=webhook.url, smtp_port=smtp.port, ca=smtp_tls[0]), monkeypatch)
    wrong = {"MLCONNECTOR_SAGE300_PASSWORD": "Wr0ng-Pa55word!x"}

    for _ in range(2):
        code, out, err = cli("sync", PAIR, env=wrong)
        assert code == 3, err
        assert "Invalid credentials" in err
    (body,) = webhook.accepted()
    assert body["text"].split("\n")[0].endswith(": failed (exit 3)*")
    assert "What happened:\nsage300: read vendors ($skip=0): Invalid credentials" in body["text"]
    assert "mlconnector credentials set sage300" in body["text"]  # the hint: what to do
    (mail,) = smtp.mails
    assert "failed (exit 3)" in mail.message()["Subject"]
    assert "Wr0ng-Pa55word!x" not in body["text"] + mail.text()

    # The password is right again: one "recovered" notice (with the quarantine it now finds).
    code, out, err = cli("sync", PAIR)
    assert code == 1, err
    assert len(webhook.accepted()) == 2 and len(smtp.mails) == 2
    text = webhook.accepted()[1]["text"]
    assert text.split("\n")[0].endswith(": recovered; 1 record quarantined*")
    assert "It had failed with:\n- exit 3: sage300: read vendors ($skip=0): Invalid credentials" in text
    code, out, err = cli("sync", PAIR)
    assert code == 1, err
    assert len(webhook.accepted()) == 2 and len(smtp.mails) == 2 and "webhook:" not in out


def test_a_receiver_that_is_down_warns_keeps_the_exit_code_and_is_tried_again(cli, workdir, monkeypatch) -> None:
    down = WebhookReceiver()
    port, url = down.port, down.url
    down.close()  # nothing listens on the port now
    configure(workdir, notify_yaml(webhook_url=url), monkeypatch, smtp_password=False)

    code, out, err = cli("--log-level", "debug", "sync", PAIR)
    assert code == 1, err  # the run's own exit code
    assert "notice not sent by webhook: connection refused" in err
    assert "webhook: failed (connection refused" in out

    up = WebhookReceiver(port)
    try:
        code, _, err = cli("sync", PAIR)
        assert code == 1, err
        (body,) = up.accepted()
        assert "- VENDOR:SUMMIT: " in body["text"]
        assert "notice not sent" not in err
    finally:
        up.close()


def test_the_smtp_password_stored_with_credentials_set_notify(cli, workdir, smtp, smtp_tls, monkeypatch) -> None:
    configure(workdir, notify_yaml(smtp_port=smtp.port, ca=smtp_tls[0]), monkeypatch, smtp_password=False)
    env = {"MLCONNECTOR_PASSPHRASE": PASSPHRASE}

    code, out, err = cli("credentials", "set", "notify", "--store", "file", env=env, input=SMTP_PASSWORD + "\n")
    assert code == 0, err
    assert "notify smtp_password: stored in file" in out
    code, out, err = cli("credentials", "show", "notify", "--json", env=env)
    assert code == 0, err
    (shown,) = json.loads(out)
    assert shown["source"] == "file" and shown["env_var"] == "MLCONNECTOR_NOTIFY_SMTP_PASSWORD"

    code, out, err = cli("sync", PAIR, env=env)
    assert code == 1, err
    (mail,) = smtp.mails
    assert mail.user == SMTP_USER and "VENDOR:SUMMIT" in mail.text()


def test_doctor_checks_the_notice_settings_and_sends_a_test_only_when_asked(cli, workdir, webhook, smtp, smtp_tls,
                                                                            monkeypatch) -> None:
    configure(workdir, notify_yaml(webhook_url=webhook.url, smtp_port=smtp.port, ca=smtp_tls[0]), monkeypatch)
    code, out, err = cli("doctor", "--json")
    assert code == 0, out + err
    rows = {(f["check"], f["subject"]): f for f in json.loads(out)}
    assert rows[("notify", "webhook")]["status"] == "ok" and rows[("notify", "email")]["status"] == "ok"
    assert rows[("credentials", "notify smtp_password")]["detail"].startswith("from env:")
    assert webhook.posts == [] and smtp.mails == []  # nothing is sent without --test-notify

    code, out, err = cli("doctor", "--test-notify", "--json")
    assert code == 0, out + err
    rows = {(f["check"], f["subject"]): f for f in json.loads(out)}
    assert rows[("notify", "webhook")]["detail"].startswith("test notice sent")
    assert rows[("notify", "email")]["detail"].startswith("test notice sent")
    assert len(webhook.accepted()) == 1 and len(smtp.mails) == 1

    # Without the SMTP password the credential row fails and names the command; the test mail fails too.
    monkeypatch.delenv("MLCONNECTOR_NOTIFY_SMTP_PASSWORD")
    code, out, err = cli("doctor", "--test-notify", "--json")
    assert code == 3
    rows = {(f["check"], f["subject"]): f for f in json.loads(out)}
    assert rows[("credentials", "notify smtp_password")]["status"] == "fail"
    assert "credentials set notify" in rows[("credentials", "notify smtp_password")]["fix"]
    assert rows[("notify", "email")]["status"] == "fail"
