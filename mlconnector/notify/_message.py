"""What a notice says, and its two wire forms: the webhook's JSON body and the e-mail."""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from mlconnector.redact import scrub

MAX_LISTED = 20  # quarantined records listed one by one; the rest are counted
REASON_CHARS = 300
MESSAGE_CHARS = 1500  # keeps the webhook body far below Teams' ~28 KB message limit

EXIT_MEANINGS = {
    0: "every record went through or was unchanged",
    1: "some records are in quarantine, the rest went through",
    2: "a usage or configuration error; nothing was written",
    3: "a fatal error stopped the run; what was done before it is kept",
    4: "another run holds this pair's lock",
    5: "paused: the rate budget is spent; the next run continues where this one stopped",
}


@dataclass(frozen=True)
class Notice:
    title: str  # one line: the subject of the mail, the heading of the chat message
    paragraphs: tuple[str, ...]  # plain text; lines within a paragraph are separated by "\n"

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


@dataclass(frozen=True)
class Record:
    """A quarantined record as a notice lists it."""

    record_id: str  # what `mlconnector replay` takes, e.g. VENDOR:SUMMIT
    reason: str


def one_line(text: str, limit: int) -> str:
    text = " ".join(scrub(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip(text: str, limit: int = MESSAGE_CHARS) -> str:
    text = scrub(text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def run_title(pair: str, host: str, *, failed_exit: int | None, new_records: int, recovered: bool) -> str:
    parts = []
    if failed_exit is not None:
        parts.append(f"failed (exit {failed_exit})")
    elif recovered:
        parts.append("recovered")
    if new_records:
        parts.append(f"{plural(new_records, 'record')} quarantined")
    return f"[mlconnector] {pair} on {host}: " + "; ".join(parts)


def records_paragraph(new: Sequence[Record], already: int) -> str:
    head = f"{plural(len(new), 'new record')} in quarantine"
    if already:
        head += f" ({already} more {'was' if already == 1 else 'were'} already there and reported before)"
    lines = [head + ":"]
    lines += [f"- {r.record_id}: {one_line(r.reason, REASON_CHARS)}" for r in new[:MAX_LISTED]]
    if len(new) > MAX_LISTED:
        lines.append(f"and {len(new) - MAX_LISTED} more")
    return "\n".join(lines)


# --- the webhook body -------------------------------------------------------------------------


def _slack_escape(text: str) -> str:
    # Slack reads &, < and > as control characters in message text (links, mentions).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_body(notice: Notice, fmt: str = "both") -> dict[str, Any]:
    """One JSON body for Slack and Microsoft Teams incoming webhooks (``fmt`` "both"), or only
    Slack's ``text`` ("slack") or only Teams' card envelope ("teams").

    - Slack incoming webhooks post the top-level ``text`` (docs.slack.dev, "Incoming webhooks":
      ``{"text": "Hello, World!"}``) and ignore top-level keys they do not know (a body with an
      extra ``meta`` object is accepted once ``text`` is there: hastic-zzz/hastic-server#708).
      Slack's legacy attachments are checked (``invalid_attachments``: soxtoby/SlackNet#241) and
      name ``fallback`` (a plain-text summary) as the field an attachment must have, so the Teams
      card below carries one; Slack has no ``contentType``/``content`` attachment fields.
    - Teams Workflows ("Post to a channel when a webhook request is received") reads
      ``attachments[*].content`` as an Adaptive Card and fails when ``attachments`` is missing
      ("'attachments' is of type 'Null'"); the envelope is ``{"type": "message", "attachments":
      [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null,
      "content": {...}}]}`` (learn.microsoft.com, Teams "Create and send messages";
      prometheus/alertmanager#3920). Workflows support Adaptive Cards only, not MessageCards.
    - The retiring Office 365 connector ("Incoming Webhook", *.webhook.office.com) accepts a
      body with ``text``.
    Not verified against the live services here (no network in the tests): a local receiver
    checks the shape.
    """
    blocks: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": notice.title, "weight": "Bolder", "size": "Medium", "wrap": True},
    ]
    blocks += [{"type": "TextBlock", "text": p, "wrap": True} for p in notice.paragraphs]
    card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": blocks,
        "msteams": {"width": "Full"},
    }
    slack = {"text": _slack_escape(f"*{notice.title}*\n\n{notice.text}")}
    teams = {
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": card,
            "fallback": _slack_escape(notice.title),
        }],
    }
    return {"slack": slack, "teams": teams}.get(fmt) or {**slack, **teams}


# --- the e-mail -------------------------------------------------------------------------------


def email_message(notice: Notice, *, sender: str, to: Sequence[str]) -> EmailMessage:
    """A text/plain UTF-8 message with Message-ID and Date, marked as sent by a machine."""
    msg = EmailMessage()
    msg["Subject"] = notice.title
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = email.utils.formatdate(usegmt=True)
    # The sender's domain, not socket.getfqdn(): a DNS lookup can hang on a box without DNS.
    msg["Message-ID"] = email.utils.make_msgid("mlconnector", domain=sender.rpartition("@")[2])
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to this
    msg.set_content(notice.text + "\n", subtype="plain", charset="utf-8")
    return msg
