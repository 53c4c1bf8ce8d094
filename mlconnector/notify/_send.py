"""Delivering a notice: POST to the webhook, or hand the mail to the SMTP server.

Each sender raises :class:`NotSent` with a short reason a person can act on; the reason never
holds the webhook URL or a password (it is scrubbed as well, to be sure).
"""

from __future__ import annotations

import logging
import random
import smtplib
import socket
import ssl
import time
from collections.abc import Callable

import httpx

from mlconnector import secrets
from mlconnector.errors import CredentialError
from mlconnector.http import body_excerpt, build_client, certificate_rejected, retry_after_seconds
from mlconnector.notify._message import Notice, email_message, webhook_body
from mlconnector.notify.settings import CREDENTIAL_SYSTEM, EmailSettings, WebhookSettings
from mlconnector.redact import scrub

log = logging.getLogger("mlconnector.notify")

WEBHOOK_ATTEMPTS = 3  # the first try and 2 retries
RETRY_BASE = 0.5  # seconds before the first retry; doubled for the next
MAX_ASKED_WAIT = 10.0  # a Retry-After longer than this is not waited for: the run is over


class NotSent(Exception):
    """The notice did not go out; the message says why (no URL, no password)."""


def _describe(exc: BaseException, setting: str) -> str:
    """A short reason: 'connection refused', 'timed out', 'TLS certificate not accepted ...'."""
    if certificate_rejected(exc):
        return f"the server's TLS certificate was not accepted; if it is from your own CA, set {setting}.ca_bundle"
    if isinstance(exc, (httpx.TimeoutException, socket.timeout, TimeoutError)):
        return "timed out"
    text = str(exc)
    if isinstance(exc, ConnectionRefusedError) or "refused" in text.lower():
        return "connection refused"
    if isinstance(exc, socket.gaierror) or "Name or service not known" in text or "getaddrinfo" in text:
        return "host name not found"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- webhook ----------------------------------------------------------------------------------


class _Retry(Exception):
    def __init__(self, reason: str, wait: float = 0.0) -> None:
        super().__init__(reason)
        self.wait = wait


def send_webhook(settings: WebhookSettings, notice: Notice, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
    """POST the notice; retry connection errors, 5xx and 429 twice with a short backoff."""
    body = webhook_body(notice, settings.format)
    with build_client(timeout=settings.timeout, ca_bundle=settings.ca_bundle) as client:
        for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
            try:
                _post(client, settings.url, body)
                return
            except _Retry as exc:
                reason, asked = str(exc), exc.wait
            if attempt == WEBHOOK_ATTEMPTS:
                raise NotSent(f"{reason} (after {WEBHOOK_ATTEMPTS} attempts)")
            if asked > MAX_ASKED_WAIT:
                raise NotSent(f"{reason}; the server asks to retry after {asked:.0f} s")
            wait = max(asked, RETRY_BASE * 2 ** (attempt - 1) + random.uniform(0, 0.25))
            log.info("webhook: attempt %d of %d failed (%s); retrying in %.1f s", attempt, WEBHOOK_ATTEMPTS,
                     scrub(reason), wait)
            sleep(wait)


def _post(client: httpx.Client, url: str, body: dict) -> None:
    try:
        response = client.post(url, json=body)
    except httpx.TransportError as exc:
        reason = _describe(exc, "notify.webhook")
        if certificate_rejected(exc):  # retrying cannot make a certificate trusted
            raise NotSent(reason) from None
        raise _Retry(reason) from None
    status = response.status_code
    if status == 429 or status >= 500:
        raise _Retry(f"HTTP {status}", retry_after_seconds(response) or 0.0)
    if 300 <= status < 400:
        raise NotSent(f"HTTP {status}: the webhook URL redirects (not followed); use the URL it points to")
    if status >= 400:
        # Slack answers e.g. 404 no_service / 410 channel_is_archived / 400 invalid_payload.
        raise NotSent(f"HTTP {status}: {body_excerpt(response, 200)}")


# --- e-mail -----------------------------------------------------------------------------------


def _context(settings: EmailSettings) -> ssl.SSLContext:
    # Verifying always (hostname too); ca_bundle adds the CA of a server with a private certificate.
    return ssl.create_default_context(cafile=str(settings.ca_bundle) if settings.ca_bundle else None)


def _local_name() -> str:
    # What EHLO says; smtplib's default is socket.getfqdn(), a DNS lookup that can hang.
    name = socket.gethostname()
    return name if name and name.isascii() and " " not in name else "localhost"


def send_email(settings: EmailSettings, notice: Notice) -> None:
    """Hand the notice to the SMTP server (STARTTLS or SSL, verified; login when username is set)."""
    password = None
    if settings.username:
        try:
            password = secrets.resolve(CREDENTIAL_SYSTEM, "smtp_password")
        except CredentialError:
            raise NotSent("no SMTP password: run `mlconnector credentials set notify` or set "
                          f"{secrets.env_var_name(CREDENTIAL_SYSTEM, 'smtp_password')}") from None
    message = email_message(notice, sender=settings.sender, to=settings.to)
    try:
        if settings.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, local_hostname=_local_name(),
                                                  timeout=settings.timeout, context=_context(settings))
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, local_hostname=_local_name(),
                                timeout=settings.timeout)
        with smtp:
            smtp.ehlo()
            if settings.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise NotSent("the SMTP server does not offer STARTTLS; use security: ssl (port 465), or "
                                  "security: none for a relay on this machine")
                smtp.starttls(context=_context(settings))
                smtp.ehlo()
            if settings.username:
                if not smtp.has_extn("auth"):
                    raise NotSent("the SMTP server offers no login (AUTH); remove notify.email.username")
                smtp.login(settings.username, password or "")
            smtp.send_message(message)
    except NotSent:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise NotSent(f"the SMTP server refused the login ({exc.smtp_code}); check notify.email.username and "
                      "the password (`mlconnector credentials set notify`)") from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(f"{addr} ({code})" for addr, (code, _) in exc.recipients.items())
        raise NotSent(f"the SMTP server refused the recipients {refused}") from None
    except smtplib.SMTPSenderRefused as exc:
        raise NotSent(f"the SMTP server refused the sender {exc.sender} ({exc.smtp_code})") from None
    except smtplib.SMTPResponseException as exc:
        raise NotSent(f"the SMTP server said {exc.smtp_code} {_text(exc.smtp_error)}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise NotSent(_describe(exc, "notify.email")) from None


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())[:200]
