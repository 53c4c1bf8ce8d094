"""A local webhook receiver and a local SMTP server (standard library only), and the `notify:`
section that points a pipeline file at them.

The SMTP server speaks EHLO/HELO, STARTTLS (or TLS from the first byte), AUTH PLAIN and LOGIN,
MAIL, RCPT, DATA, RSET, NOOP and QUIT, and keeps every message it accepted.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ops.conftest import make_ca_and_server_cert

WEBHOOK_TOKEN = "XyZ0tok3n-9f8e7d6c5b4a3210SECRET"
WEBHOOK_PATH = f"/services/T0NOTIFY/B0NOTIFY/{WEBHOOK_TOKEN}"
SMTP_USER = "mlc-notices"
SMTP_PASSWORD = "smtp-Pa55word-never-shown"


# --- webhook receiver -------------------------------------------------------------------------


@dataclass
class Post:
    path: str
    status: int
    body: bytes
    content_type: str

    def json(self) -> dict:
        return json.loads(self.body)


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records every POST. ``answers`` is a queue of status codes
    for the next requests (then 200 "ok", as Slack answers)."""

    def __init__(self, port: int = 0, *, tls: ssl.SSLContext | None = None) -> None:
        self.scheme = "https" if tls is not None else "http"
        self.posts: list[Post] = []
        self.answers: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.posts.append(Post(self.path, status, body, self.headers.get("Content-Type", "")))
                text = b"ok" if status == 200 else b"error"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{WEBHOOK_PATH}"

    def accepted(self) -> list[dict]:
        """The JSON bodies answered with 2xx, in order."""
        with self.lock:
            return [p.json() for p in self.posts if 200 <= p.status < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- SMTP server ------------------------------------------------------------------------------


@dataclass
class Mail:
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    tls: bool
    user: str | None

    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]

    def text(self) -> str:
        return self.message().get_content()


class SmtpServer:
    """An SMTP server on 127.0.0.1. ``tls`` (a server SSLContext) offers STARTTLS, or with
    ``implicit_tls`` speaks TLS from the first byte (port 465 style). With ``users``, AUTH is
    offered (after STARTTLS when TLS is configured) and required before MAIL."""

    def __init__(self, *, tls: ssl.SSLContext | None = None, implicit_tls: bool = False,
                 users: dict[str, str] | None = None, mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN")) -> None:
        self.tls, self.implicit_tls = tls, implicit_tls
        self.users = users or {}
        self.mechanisms = mechanisms
        self.mails: list[Mail] = []
        self.commands: list[str] = []  # verbs only (never an AUTH argument)
        self.lock = threading.Lock()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._session(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        tls = False
        if self.implicit_tls:
            assert self.tls is not None
            conn = self.tls.wrap_socket(conn, server_side=True)
            tls = True
        reader = conn.makefile("rb")

        def send(*lines: str) -> None:
            conn.sendall("".join(line + "\r\n" for line in lines).encode())

        def read() -> str | None:
            raw = reader.readline(4096)
            return raw.decode("utf-8", "replace").rstrip("\r\n") if raw else None

        def b64(text: str) -> str:
            return base64.b64decode(text).decode("utf-8", "replace")

        user: str | None = None
        mail_from, rcpt = "", []
        send("220 127.0.0.1 mlconnector test SMTP")
        try:
            while (line := read()) is not None:
                verb, _, arg = line.partition(" ")
                verb = verb.upper()
                with self.lock:
                    self.commands.append(verb)
                if verb in ("EHLO", "HELO"):
                    caps = ["8BITMIME", "SMTPUTF8"]
                    if self.tls is not None and not tls:
                        caps.append("STARTTLS")
                    if self.users and (tls or self.tls is None):
                        caps.append("AUTH " + " ".join(self.mechanisms))
                    if verb == "HELO":
                        send("250 127.0.0.1")
                    else:
                        send("250-127.0.0.1", *(f"250-{c}" for c in caps[:-1]), f"250 {caps[-1]}")
                elif verb == "STARTTLS" and self.tls is not None and not tls:
                    send("220 2.0.0 ready to start TLS")
                    conn = self.tls.wrap_socket(conn, server_side=True)
                    reader = conn.makefile("rb")
                    tls, user, mail_from, rcpt = True, None, "", []
                elif verb == "AUTH" and self.users:
                    mechanism, _, initial = arg.partition(" ")
                    mechanism = mechanism.upper()
                    if mechanism == "PLAIN" and "PLAIN" in self.mechanisms:
                        if not initial:
                            send("334 ")
                            initial = read() or ""
                        _, name, password = b64(initial).split("\0")
                    elif mechanism == "LOGIN" and "LOGIN" in self.mechanisms:
                        if initial:
                            name = b64(initial)
                        else:
                            send("334 VXNlcm5hbWU6")
                            name = b64(read() or "")
                        send("334 UGFzc3dvcmQ6")
                        password = b64(read() or "")
                    else:
                        send("504 5.5.4 mechanism not supported")
                        continue
                    if self.users.get(name) == password:
                        user = name
                        send("235 2.7.0 Authentication successful")
                    else:
                        send("535 5.7.8 Authentication credentials invalid")
                elif verb == "MAIL":
                    if self.users and user is None:
                        send("530 5.7.0 Authentication required")
                        continue
                    mail_from, rcpt = arg.partition(":")[2].split()[0].strip("<>"), []
                    send("250 2.1.0 OK")
                elif verb == "RCPT":
                    rcpt.append(arg.partition(":")[2].strip().strip("<>"))
                    send("250 2.1.5 OK")
                elif verb == "DATA":
                    send("354 End data with <CR><LF>.<CR><LF>")
                    data = bytearray()
                    while True:
                        raw = reader.readline()
                        if raw in (b".\r\n", b""):
                            break
                        data += raw[1:] if raw.startswith(b"..") else raw
                    with self.lock:
                        self.mails.append(Mail(mail_from, rcpt, bytes(data), tls, user))
                    send("250 2.0.0 OK queued")
                elif verb in ("RSET", "NOOP"):
                    send("250 2.0.0 OK")
                elif verb == "QUIT":
                    send("221 2.0.0 Bye")
                    break
                else:
                    send("502 5.5.2 command not recognized")
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def smtp_tls(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """The throwaway CA's PEM file, and a server context with a certificate for 127.0.0.1 it signed."""
    certs = tmp_path / "smtp-certs"
    certs.mkdir()
    ca, server_pem = make_ca_and_server_cert(certs)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server_pem)
    return ca, context


@pytest.fixture
def smtp(smtp_tls) -> Iterator[SmtpServer]:
    """STARTTLS with the throwaway CA's certificate; AUTH PLAIN/LOGIN as SMTP_USER."""
    server = SmtpServer(tls=smtp_tls[1], users={SMTP_USER: SMTP_PASSWORD})
    yield server
    server.close()


def notify_yaml(*, webhook_url: str | None = None, smtp_port: int | None = None, ca: Path | None = None,
                security: str = "starttls", username: str | None = SMTP_USER, webhook_ca: Path | None = None) -> str:
    """A `notify:` section (to append to a pipeline file) for the local receiver and SMTP server."""
    text = "notify:\n"
    if webhook_url is not None:
        text += f"  webhook:\n    url: {webhook_url}\n    timeout: 5\n"
        if webhook_ca is not None:
            text += f"    ca_bundle: {json.dumps(str(webhook_ca))}\n"
    if smtp_port is not None:
        text += (f"  email:\n    host: 127.0.0.1\n    port: {smtp_port}\n    security: {security}\n"
                 f"    username: {json.dumps(username)}\n    from: mlconnector@example.com\n"
                 "    to: [ap-team@example.com, it@example.com]\n    timeout: 5\n")
        if ca is not None:
            text += f"    ca_bundle: {json.dumps(str(ca))}\n"
    return text
