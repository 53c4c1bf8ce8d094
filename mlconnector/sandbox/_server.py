"""The base every simulator builds on: a real HTTP server on 127.0.0.1 in a daemon thread.

It reads a request into a :class:`Request`, lets an injected :class:`Fault` answer instead of
the simulator when one matches, otherwise routes to the simulator's handler, logs the exchange
and writes the :class:`Response`. Standard library only.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Request:
    method: str
    path: str  # percent-decoded, without the query string
    query_string: str  # as sent
    query: dict[str, list[str]]  # every value of every parameter, in order
    headers: Message
    body: bytes

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not JSON."""
        return json.loads(self.body.decode("utf-8")) if self.body.strip() else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None,
                  content_type: str = "application/json; charset=utf-8") -> Response:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return Response(status, body, {"Content-Type": content_type, **(headers or {})})


# A fault hook may return this instead of a Response: close the connection without an answer.
NO_RESPONSE = Response(status=0)
# Or this: reset the connection (TCP RST, as a crashed server or a middlebox does) without an answer.
RESET = Response(status=0)


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str
    status: int  # 0 when no answer was sent
    is_write: bool
    at: float  # time.time() when the answer was decided


class Fault:
    """A misbehaviour for the next ``count`` requests whose path starts with ``path_prefix``.

    ``before`` runs instead of the simulator: return a Response to send it, NO_RESPONSE to hang
    up, or None to let the simulator answer. ``after`` sees the simulator's answer and returns
    what to send. Latency, timeouts, resets and lost responses are further subclasses.
    """

    def __init__(self, path_prefix: str = "/", *, count: int = 1, method: str | None = None) -> None:
        self.path_prefix = path_prefix
        self.remaining = count
        self.method = method.upper() if method else None

    def matches(self, request: Request) -> bool:
        return request.path.startswith(self.path_prefix) and self.method in (None, request.method)

    def before(self, request: Request) -> Response | None:
        return None

    def after(self, request: Request, response: Response) -> Response:
        return response


class StatusFault(Fault):
    """Answer with a fixed status, headers and body (500s, 503 with Retry-After, ...)."""

    def __init__(self, path_prefix: str, status: int, *, count: int = 1, method: str | None = None,
                 headers: dict[str, str] | None = None, body: Any = None) -> None:
        super().__init__(path_prefix, count=count, method=method)
        self.status = status
        self.headers = headers or {}
        self.body = body

    def before(self, request: Request) -> Response:
        if isinstance(self.body, (bytes, str)):
            raw = self.body.encode("utf-8") if isinstance(self.body, str) else self.body
            return Response(self.status, raw, {"Content-Type": "text/plain; charset=utf-8", **self.headers})
        payload = self.body if self.body is not None else {"error": f"injected fault {self.status}"}
        return json_response(self.status, payload, self.headers)


Handler = Callable[..., Response]


class SimulatorServer:
    """A ThreadingHTTPServer on 127.0.0.1 with routing, a request log and fault injection.

    Subclasses register routes with :meth:`route` and may override :meth:`dispatch` (to add
    checks that apply to every request), :meth:`not_found`, :meth:`method_not_allowed` and
    :meth:`default_headers`. ``self.lock`` guards all mutable state, the subclass's included.
    """

    def __init__(self, *, port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.port = port
        #: serve HTTPS with this server-side context (set before start); None serves plain HTTP
        self.ssl_context = ssl_context
        self.lock = threading.RLock()
        self.requests: list[RequestRecord] = []
        self.unhandled_errors: list[BaseException] = []  # bugs in a handler; tests assert it stays empty
        self._faults: list[Fault] = []
        self.fault_plan: Any = None  # a _faults.FaultInjector, set by set_fault_plan
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> SimulatorServer:
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer(("127.0.0.1", self.port), _RequestHandler, self, self.ssl_context)
        self.port = self._httpd.server_address[1]  # the real port when 0 was asked; a restart reuses it
        # A short poll interval makes stop() quick; serve_forever checks for shutdown between polls.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name=type(self).__name__,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        if self.fault_plan is not None:
            self.fault_plan.release()  # hung requests go now
        self._httpd.shutdown()
        self._httpd.close_open_connections()  # keep-alive clients must see the server go away
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    # -- routing ---------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Send ``method`` requests whose whole path matches ``pattern`` to ``handler(request, **groups)``."""
        self._routes.append((method.upper(), re.compile(pattern), handler))

    def dispatch(self, request: Request) -> Response:
        """Answer one request: find its route; 404 or 405 when there is none."""
        allowed = []
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if method == request.method:
                return handler(request, **match.groupdict())
            allowed.append(method)
        if allowed:
            return self.method_not_allowed(request, allowed)
        return self.not_found(request)

    def not_found(self, request: Request) -> Response:
        return json_response(404, {"error": "Not Found"})

    def method_not_allowed(self, request: Request, allowed: list[str]) -> Response:
        return json_response(405, {"error": "Method Not Allowed"}, {"Allow": ", ".join(allowed)})

    def default_headers(self) -> dict[str, str]:
        """Headers added to every answer, injected faults included."""
        return {}

    def expire_credentials(self, request: Request) -> bool:
        """Expire every token or session this request could carry (fault ``expire=N``); False
        when the system has none that expire (Sage 300 sends HTTP Basic on every request)."""
        return False

    def is_write(self, request: Request) -> bool:
        """Whether the request log counts this request as a write of data."""
        return request.method in WRITE_METHODS

    # -- faults and the request log ----------------------------------------------------------

    def inject_fault(self, path_prefix: str, status: int, *, count: int = 1, headers: dict[str, str] | None = None,
                     body: Any = None, method: str | None = None) -> StatusFault:
        """Make the next ``count`` requests under ``path_prefix`` answer ``status`` (JSON body unless str/bytes)."""
        return self.add_fault(StatusFault(path_prefix, status, count=count, method=method, headers=headers, body=body))

    def add_fault(self, fault: Fault) -> Any:
        with self.lock:
            self._faults.append(fault)
        return fault

    def set_fault_plan(self, plan: Any) -> Any:
        """Apply a :class:`~mlconnector.sandbox._faults.FaultPlan` to every later request (None: stop).

        Faults added with :meth:`add_fault` come first; the plan draws for the requests they leave.
        Returns the injector, whose ``counts`` say which faults happened."""
        with self.lock:
            if self.fault_plan is not None:
                self.fault_plan.release()
            self.fault_plan = plan.install(self) if plan is not None else None
            return self.fault_plan

    @property
    def fault_counts(self) -> dict[str, int]:
        """How many faults of each kind the fault plan caused (empty without a plan)."""
        return dict(self.fault_plan.counts) if self.fault_plan is not None else {}

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        """How many logged requests have this method and path prefix (None matches any)."""
        with self.lock:
            return sum(1 for r in self.requests
                       if (method is None or r.method == method.upper())
                       and (path_prefix is None or r.path.startswith(path_prefix)))

    def clear_requests(self) -> None:
        with self.lock:
            self.requests.clear()

    def _take_fault(self, request: Request) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.matches(request):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- one exchange ----------------------------------------------------------------------

    def _answer(self, request: Request) -> Response:
        fault = self._take_fault(request)
        if fault is None and self.fault_plan is not None:
            fault = self.fault_plan.fault_for(request)
        response = fault.before(request) if fault else None
        if response is None:
            try:
                response = self.dispatch(request)
            except Exception as exc:  # a simulator bug must not kill the connection silently
                traceback.print_exc()
                with self.lock:
                    self.unhandled_errors.append(exc)
                response = json_response(500, {"error": f"simulator bug: {exc!r}"})
            if fault:
                response = fault.after(request, response)
        if response is not NO_RESPONSE and response is not RESET:
            response.headers = {**self.default_headers(), **response.headers}
        with self.lock:  # logged before it is sent, so a client that got it can count it
            self.requests.append(RequestRecord(request.method, request.path, request.query_string,
                                               response.status, self.is_write(request), time.time()))
        return response


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # never wait for idle keep-alive connections on stop

    def __init__(self, address: tuple[str, int], handler: type, simulator: SimulatorServer,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.simulator = simulator
        self.ssl_context = ssl_context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.ssl_context is not None:
            # The handshake happens on the first read, in the request's thread: a client that
            # rejects our certificate cannot stall the accepting loop.
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client or stop() hanging up is not news
            super().handle_error(request, client_address)

    def close_open_connections(self) -> None:
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real servers do
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the simulators keep their own request log; stderr noise helps nobody

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=unquote(parts.path),
            query_string=parts.query,
            query=_parse_query(parts.query),
            headers=self.headers,
            body=self._read_body(),
        )
        response = self.server.simulator._answer(request)
        if response is RESET:
            self.close_connection = True
            # Linger 0: close() sends RST instead of FIN; the client sees "connection reset".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        if response is NO_RESPONSE:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""


def _parse_query(query_string: str) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        query.setdefault(name, []).append(value)
    return query
