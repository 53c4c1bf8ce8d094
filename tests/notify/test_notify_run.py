"""notify_run and send_test against the local webhook receiver and SMTP server: when a notice goes
out (a new problem only), what it says, the two wire forms, and sending that fails."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from mlconnector.config import load_config
from mlconnector.errors import AuthError, LockBusy, LockHolder, UnreachableError, UsageError
from mlconnector.notify import _send, notify_run, send_test
from mlconnector.state import open_state

from .conftest import SMTP_PASSWORD, SMTP_USER, WEBHOOK_TOKEN, SmtpServer, WebhookReceiver, notify_yaml

PAIR = "sage300-procore"
BASE = """\
state: state.db
systems:
  erp:
    kind: sage300
    url: https://erp.example.com/Sage300WebApi/v1.0/-/SAMLTD
    username: WEBAPI
"""


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch) -> None:
    monkeypatch.setattr(_send, "RETRY_BASE", 0.01)


@pytest.fixture
def make_config(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MLCONNECTOR_NOTIFY_SMTP_PASSWORD", SMTP_PASSWORD)

    def make(notify: str):
        path = tmp_path / "mlconnector.yaml"
        path.write_text(BASE + notify, encoding="utf-8")
        return load_config(path)

    return make


@pytest.fixture
def both(make_config, webhook, smtp, smtp_tls):
    return make_config(notify_yaml(webhook_url=webhook.url, smtp_port=smtp.port, ca=smtp_tls[0]))


def quarantine(config, *keys: str, stream: str = "vendors") -> None:
    with open_state(config.state_path) as state:
        for key in keys:
            state.quarantine(PAIR, stream, key, payload={"key": key}, reason=f"{key}: two Procore vendors match",
                             run_id=None)


def release(config, *keys: str) -> None:
    with open_state(config.state_path) as state:
        for key in keys:
            state.release(PAIR, "vendors", key)


def busy(pid: int, at: str) -> LockBusy:
    return LockBusy(PAIR, LockHolder(pid=pid, host="box-7", started_at=at, heartbeat_at=at))


def texts(webhook: WebhookReceiver) -> list[str]:
    return [body["text"] for body in webhook.accepted()]


# -- when ------------------------------------------------------------------------------------------


def test_nothing_configured_nothing_sent(make_config) -> None:
    config = make_config("")
    assert notify_run(config, PAIR, exit_code=3, run_id=1, error=AuthError("no", system="erp")) == []
    assert send_test(config) == []


def test_each_quarantined_record_is_reported_once(both, webhook, smtp) -> None:
    quarantine(both, "SUMMIT")
    assert notify_run(both, PAIR, exit_code=1, run_id=1, error=None) == ["webhook: sent", "email: sent"]
    (first,) = texts(webhook)
    assert "1 record quarantined" in first and "VENDOR:SUMMIT: SUMMIT: two Procore vendors match" in first
    assert "audit --run 1" in first and f"quarantine list --pair {PAIR}" in first
    (mail,) = smtp.mails
    assert "VENDOR:SUMMIT" in mail.text()

    # The same quarantine again: nothing.
    assert notify_run(both, PAIR, exit_code=1, run_id=2, error=None) == []
    # One more record: a notice naming it alone, counting the one reported before.
    quarantine(both, "ONEIL")
    assert notify_run(both, PAIR, exit_code=1, run_id=3, error=None) == ["webhook: sent", "email: sent"]
    second = texts(webhook)[1]
    assert "VENDOR:ONEIL" in second and "VENDOR:SUMMIT" not in second
    assert "1 new record in quarantine (1 more was already there and reported before)" in second
    # A record that leaves quarantine is forgotten: when it comes back, it is new again.
    release(both, "SUMMIT")
    assert notify_run(both, PAIR, exit_code=1, run_id=4, error=None) == []
    quarantine(both, "SUMMIT")
    assert notify_run(both, PAIR, exit_code=1, run_id=5, error=None) == ["webhook: sent", "email: sent"]
    assert "VENDOR:SUMMIT" in texts(webhook)[2]
    assert len(webhook.posts) == 3 and len(smtp.mails) == 3


def test_a_failure_is_reported_once_whatever_pid_or_time_it_names_then_recovery_once(both, webhook, smtp) -> None:
    assert notify_run(both, PAIR, exit_code=4, run_id=None, error=busy(4242, "2025-01-01T10:00:00Z")) == \
        ["webhook: sent", "email: sent"]
    (text,) = texts(webhook)
    assert text.startswith(f"*[mlconnector] {PAIR} on ") and ": failed (exit 4)*" in text
    assert "process 4242 on box-7" in text and "No run was started" in text
    # The same problem: another pid, another time. Nothing.
    assert notify_run(both, PAIR, exit_code=4, run_id=None, error=busy(977, "2025-01-01T10:15:00Z")) == []
    # Another problem is new.
    unreachable = UnreachableError("GET /vendors failed after 6 attempts: ConnectError", system="erp",
                                   hint="Check the URL in the configuration.")
    assert notify_run(both, PAIR, exit_code=3, run_id=7, error=unreachable) == ["webhook: sent", "email: sent"]
    text = texts(webhook)[1]
    assert "failed (exit 3)" in text and "What happened:\nerp: GET /vendors failed" in text
    assert "What to do:\nCheck the URL in the configuration." in text
    assert notify_run(both, PAIR, exit_code=3, run_id=8, error=unreachable) == []
    # A clean run: one "recovered" notice naming what had failed; then quiet.
    assert notify_run(both, PAIR, exit_code=0, run_id=9, error=None) == ["webhook: sent", "email: sent"]
    text = texts(webhook)[2]
    assert ": recovered*" in text and "It had failed with:" in text
    assert "exit 4: pair sage300-procore is being synced by process 4242" in text
    assert "exit 3: erp: GET /vendors failed after 6 attempts" in text
    assert "recovered" in smtp.mails[-1].message()["Subject"]
    assert notify_run(both, PAIR, exit_code=0, run_id=10, error=None) == []
    # After recovery the first problem is new again.
    assert notify_run(both, PAIR, exit_code=4, run_id=None, error=busy(5, "2025-01-02T00:00:00Z")) == \
        ["webhook: sent", "email: sent"]


def test_recovery_and_new_records_make_one_notice(both, webhook) -> None:
    notify_run(both, PAIR, exit_code=3, run_id=1, error=AuthError("Invalid credentials", system="erp", status=401))
    quarantine(both, "SUMMIT")
    assert notify_run(both, PAIR, exit_code=1, run_id=2, error=None) == ["webhook: sent", "email: sent"]
    body = webhook.accepted()[1]
    assert body["text"].split("\n")[0].endswith(": recovered; 1 record quarantined*")
    assert "VENDOR:SUMMIT" in body["text"]


def test_a_busy_run_does_not_report_the_other_runs_quarantine(both, webhook) -> None:
    quarantine(both, "SUMMIT")
    notify_run(both, PAIR, exit_code=4, run_id=None, error=busy(1, "2025-01-01T00:00:00Z"))
    assert "SUMMIT" not in texts(webhook)[0]
    # The run that quarantined it reports it.
    assert notify_run(both, PAIR, exit_code=1, run_id=3, error=None) == ["webhook: sent", "email: sent"]
    assert "VENDOR:SUMMIT" in texts(webhook)[1]


def test_at_most_twenty_records_are_listed(both, webhook) -> None:
    quarantine(both, *(f"V{n:05d}" for n in range(25)))
    notify_run(both, PAIR, exit_code=1, run_id=1, error=None)
    (text,) = texts(webhook)
    assert "25 records quarantined" in text.split("\n")[0]
    assert text.count("\n- VENDOR:V") == 20 and "VENDOR:V00019" in text and "VENDOR:V00020" not in text
    assert "\nand 5 more" in text


def test_an_unreadable_state_file_still_sends_the_failure_saying_repeats_cannot_be_suppressed(
        both, webhook, smtp, caplog) -> None:
    both.state_path.write_bytes(b"this is not a SQLite database" * 100)
    error = UsageError(f"{both.state_path} is not a valid mlconnector state file")
    for _ in range(2):
        assert notify_run(both, PAIR, exit_code=2, run_id=None, error=error) == ["webhook: sent", "email: sent"]
    assert all("repeats of this notice cannot be suppressed" in t for t in texts(webhook))
    assert len(smtp.mails) == 2
    # A run without a failure has nothing it could tell apart from what was reported: silence.
    with caplog.at_level(logging.WARNING, logger="mlconnector.notify"):
        assert notify_run(both, PAIR, exit_code=1, run_id=None, error=None) == []
    assert "state file could not be opened" in caplog.text


# -- sending that fails ------------------------------------------------------------------------------


def test_a_channel_that_failed_is_tried_again_next_run_the_other_is_not(both, webhook, smtp, caplog) -> None:
    quarantine(both, "SUMMIT")
    webhook.answers = [500, 502, 503]  # every attempt of this run
    with caplog.at_level(logging.WARNING, logger="mlconnector.notify"):
        lines = notify_run(both, PAIR, exit_code=1, run_id=1, error=None)
    assert lines == ["webhook: failed (HTTP 503 (after 3 attempts))", "email: sent"]
    assert "notice not sent by webhook: HTTP 503 (after 3 attempts)" in caplog.text
    assert len(webhook.posts) == 3 and webhook.accepted() == []
    assert notify_run(both, PAIR, exit_code=1, run_id=2, error=None) == ["webhook: sent"]
    assert "VENDOR:SUMMIT" in texts(webhook)[0] and len(smtp.mails) == 1
    with open_state(both.state_path) as state:
        assert {(n.channel, n.kind, n.key) for n in state.notices(PAIR)} == {
            ("webhook", "quarantine", "SUMMIT"), ("email", "quarantine", "SUMMIT")}


def test_the_webhook_is_retried_on_5xx_and_429_and_not_on_4xx(make_config, webhook) -> None:
    config = make_config(notify_yaml(webhook_url=webhook.url))
    webhook.answers = [503, 429]
    assert send_test(config) == ["webhook: sent"]
    assert [p.status for p in webhook.posts] == [503, 429, 200]
    webhook.answers = [404]
    assert send_test(config) == ["webhook: failed (HTTP 404: error)"]
    assert len(webhook.posts) == 4


def test_a_webhook_that_cannot_be_reached_fails_with_the_reason_and_no_url(make_config, caplog) -> None:
    receiver = WebhookReceiver()
    url = receiver.url
    receiver.close()  # nothing listens there now
    config = make_config(notify_yaml(webhook_url=url))
    with caplog.at_level(logging.DEBUG):
        assert send_test(config) == ["webhook: failed (connection refused (after 3 attempts))"]
    assert "notice not sent by webhook: connection refused" in caplog.text
    assert WEBHOOK_TOKEN not in caplog.text


def test_the_webhook_over_https_is_verified_with_the_configured_ca(make_config, smtp_tls) -> None:
    ca, server_context = smtp_tls  # a certificate for 127.0.0.1 from a throwaway CA
    receiver = WebhookReceiver(tls=server_context)
    try:
        assert receiver.url.startswith("https://127.0.0.1:")
        config = make_config(notify_yaml(webhook_url=receiver.url))
        (line,) = send_test(config)
        assert "TLS certificate was not accepted" in line and "notify.webhook.ca_bundle" in line
        assert receiver.posts == []  # not retried either: retrying cannot make a certificate trusted
        config = make_config(notify_yaml(webhook_url=receiver.url, webhook_ca=ca))
        assert send_test(config) == ["webhook: sent"]
        assert "test notice" in receiver.accepted()[0]["text"]
    finally:
        receiver.close()


def test_the_smtp_server_refuses_the_password(make_config, smtp, smtp_tls, monkeypatch) -> None:
    config = make_config(notify_yaml(smtp_port=smtp.port, ca=smtp_tls[0]))
    monkeypatch.setenv("MLCONNECTOR_NOTIFY_SMTP_PASSWORD", "not-the-password")
    (line,) = send_test(config)
    assert line.startswith("email: failed (the SMTP server refused the login (535)")
    monkeypatch.delenv("MLCONNECTOR_NOTIFY_SMTP_PASSWORD")
    assert send_test(config) == [("email: failed (no SMTP password: run `mlconnector credentials set notify` or "
                                  "set MLCONNECTOR_NOTIFY_SMTP_PASSWORD)")]
    assert smtp.mails == [] and "MAIL" not in smtp.commands


def test_a_certificate_from_an_unknown_ca_is_refused(make_config, smtp) -> None:
    config = make_config(notify_yaml(smtp_port=smtp.port))  # no ca_bundle: the system store
    (line,) = send_test(config)
    assert "TLS certificate was not accepted" in line and "notify.email.ca_bundle" in line
    assert smtp.mails == [] and "AUTH" not in smtp.commands


def test_starttls_is_required_when_configured(make_config) -> None:
    server = SmtpServer(users={SMTP_USER: SMTP_PASSWORD})  # no TLS at all
    try:
        config = make_config(notify_yaml(smtp_port=server.port))
        assert send_test(config) == [("email: failed (the SMTP server does not offer STARTTLS; use security: ssl "
                                      "(port 465), or security: none for a relay on this machine)")]
        assert server.mails == [] and "AUTH" not in server.commands
    finally:
        server.close()


# -- what goes over the wire --------------------------------------------------------------------------


def test_the_webhook_body_is_slack_text_with_a_teams_adaptive_card(both, webhook) -> None:
    with open_state(both.state_path) as state:
        state.quarantine(PAIR, "vendors", "A&B <CO>", payload={}, reason="name <A&B> is taken", run_id=None)
    notify_run(both, PAIR, exit_code=1, run_id=1, error=None)
    (post,) = webhook.posts
    assert post.path.endswith(WEBHOOK_TOKEN) and post.content_type == "application/json"
    body = post.json()
    # Slack: the text, with &, < and > escaped as Slack requires.
    assert body["text"].startswith(f"*[mlconnector] {PAIR} on ")
    assert "VENDOR:A&amp;B &lt;CO&gt;: name &lt;A&amp;B&gt; is taken" in body["text"]
    # Teams Workflows: a message with one Adaptive Card attachment; plain text inside the card.
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None and attachment["fallback"].startswith("[mlconnector] ")
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert all(block["type"] == "TextBlock" and block["wrap"] is True for block in card["body"])
    assert card["body"][0]["text"].startswith(f"[mlconnector] {PAIR} on ") and card["body"][0]["weight"] == "Bolder"
    assert any("VENDOR:A&B <CO>: name <A&B> is taken" in block["text"] for block in card["body"])
    assert len(post.body) < 28_000  # Teams' message size limit


@pytest.mark.parametrize("fmt, keys", [("slack", {"text"}), ("teams", {"type", "attachments"})])
def test_the_webhook_body_can_carry_one_service_part_only(fmt, keys) -> None:
    from mlconnector.notify._message import Notice, webhook_body

    notice = Notice("[mlconnector] title", ("a paragraph",))
    assert set(webhook_body(notice, fmt)) == keys
    assert set(webhook_body(notice)) == {"text", "type", "attachments"}


def test_the_mail_is_plain_utf8_with_message_id_and_date_over_starttls_with_login(both, smtp) -> None:
    quarantine(both, "CAFÉ-01")
    notify_run(both, PAIR, exit_code=1, run_id=1, error=None)
    (mail,) = smtp.mails
    assert mail.tls and mail.user == SMTP_USER
    assert mail.mail_from == "mlconnector@example.com"
    assert mail.rcpt_to == ["ap-team@example.com", "it@example.com"]
    msg = mail.message()
    assert msg["Subject"].startswith(f"[mlconnector] {PAIR} on ") and msg["Subject"].endswith(": 1 record quarantined")
    assert msg["From"] == "mlconnector@example.com" and msg["To"] == "ap-team@example.com, it@example.com"
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@example.com>")
    assert msg["Date"] and msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
    assert "VENDOR:CAFÉ-01" in msg.get_content()


@pytest.mark.parametrize("mechanisms", [("LOGIN",), ("PLAIN",)])
def test_auth_login_and_plain(make_config, smtp_tls, mechanisms) -> None:
    server = SmtpServer(tls=smtp_tls[1], users={SMTP_USER: SMTP_PASSWORD}, mechanisms=mechanisms)
    try:
        config = make_config(notify_yaml(smtp_port=server.port, ca=smtp_tls[0]))
        assert send_test(config) == ["email: sent"]
        (mail,) = server.mails
        assert mail.user == SMTP_USER and mail.tls and "test notice" in mail.message()["Subject"]
    finally:
        server.close()


def test_implicit_tls_on_the_ssl_port(make_config, smtp_tls) -> None:
    server = SmtpServer(tls=smtp_tls[1], implicit_tls=True, users={SMTP_USER: SMTP_PASSWORD})
    try:
        config = make_config(notify_yaml(smtp_port=server.port, ca=smtp_tls[0], security="ssl"))
        assert send_test(config) == ["email: sent"]
        assert server.mails[0].tls and "STARTTLS" not in server.commands
    finally:
        server.close()


def test_a_local_relay_without_tls_or_login(make_config) -> None:
    server = SmtpServer()
    try:
        config = make_config(notify_yaml(smtp_port=server.port, security="none", username=None))
        assert send_test(config) == ["email: sent"]
        (mail,) = server.mails
        assert not mail.tls and mail.user is None and "AUTH" not in server.commands
        assert "test notice" in mail.message()["Subject"]
    finally:
        server.close()


def test_no_secret_in_the_state_file_or_the_log(both, webhook, smtp, caplog) -> None:
    quarantine(both, "SUMMIT")
    with caplog.at_level(logging.DEBUG):
        notify_run(both, PAIR, exit_code=3, run_id=1, error=AuthError("Invalid credentials", system="erp"))
    assert webhook.accepted() and smtp.mails
    state_bytes = b"".join(p.read_bytes() for p in both.state_path.parent.iterdir() if p.name.startswith("state.db"))
    # What mlconnector logs (the CLI also scrubs every handler and keeps httpx's URL lines out).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("mlconnector"))
    assert "POST **** -> 200" in logged
    for secret in (WEBHOOK_TOKEN, SMTP_PASSWORD):
        assert secret not in logged
        assert secret.encode() not in state_bytes
        assert secret not in json.dumps(webhook.accepted()) and secret.encode() not in smtp.mails[0].data


def test_a_bug_in_the_notices_never_escapes(both, webhook, smtp, monkeypatch) -> None:
    from mlconnector.notify import _run

    quarantine(both, "SUMMIT")

    def broken(settings, notice):
        raise RuntimeError("sender bug")

    monkeypatch.setattr(_run, "send_webhook", broken)
    assert notify_run(both, PAIR, exit_code=1, run_id=1, error=None) == \
        ["webhook: failed (RuntimeError: sender bug)", "email: sent"]

    def no_notice(*args, **kwargs):
        raise KeyError("notice bug")

    monkeypatch.setattr(_run, "_run_notice", no_notice)
    assert notify_run(both, PAIR, exit_code=3, run_id=2, error=None) == ["notify: failed (KeyError: 'notice bug')"]
