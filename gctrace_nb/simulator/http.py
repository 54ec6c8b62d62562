"""The simulator's HTTP plumbing: one request in, one :class:`Reply` out, recorded with its secrets redacted.

:class:`Handler` reads a request into a :class:`Request` (its body through
:mod:`~gctrace_nb.simulator._body`: capped, refused with 400/411/413), hands it to the route
function the :class:`~gctrace_nb.simulator.Simulator` binds (see
:mod:`~gctrace_nb.simulator.routes`), records it and sends the reply with an
``ININ-Correlation-Id``. A route answers by returning a :class:`Reply`; a check
deep inside it answers at once by raising one. Errors use Genesys' ``ErrorBody``
(:func:`error_body`).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Callable, Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

from . import _body
from .state import RecordedRequest

if TYPE_CHECKING:
    from email.message import Message

    from .server import Simulator

__all__ = ["REDACTED", "Reply", "Request", "Handler", "error_body", "json_body", "redact_headers", "redact_body"]

log = logging.getLogger("gctrace_nb.simulator")

REDACTED = "REDACTED"
_SIGNATURE = re.compile(r"(X-Amz-Signature=)[^&\s]*", re.I)
_SECRET_FORM = re.compile(r"((?:client_secret|password|client_assertion|access_token)=)[^&]*", re.I)


def error_body(status: int, code: str, message: str, *, details: list | None = None,
               errors: list | None = None, params: dict | None = None) -> dict:
    """Return a Genesys ``ErrorBody``."""
    return {
        "message": message,
        "code": code,
        "status": status,
        "messageWithParams": message,
        "messageParams": params or {},
        "contextId": str(uuid.uuid4()),
        "details": details or [],
        "errors": errors or [],
    }


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict:
    """Return ``headers`` as a dict, credentials replaced by ``REDACTED`` (the scheme kept)."""
    out = {}
    for key, value in headers:
        if key.lower() in ("authorization", "proxy-authorization", "cookie", "x-amz-security-token"):
            scheme = value.split(" ", 1)[0] if " " in value else ""
            value = f"{scheme} {REDACTED}".strip()
        out[key] = value
    return out


def redact_body(body: bytes) -> str:
    """Return the first 4 KiB of ``body`` as text, secret form fields and JSON members redacted."""
    text = body[:4096].decode("utf-8", "replace")
    text = _SECRET_FORM.sub(lambda m: m.group(1) + REDACTED, text)
    return re.sub(r'("(?:client_secret|access_token|password)"\s*:\s*)"[^"]*"', r'\1"' + REDACTED + '"', text)


def _redact_query(query: dict) -> dict:
    return {k: (REDACTED if k.lower() == "x-amz-signature" else v) for k, v in query.items()}


class Reply(Exception):
    """An answer: returned by a route, or raised anywhere inside one to answer at once."""

    def __init__(self, status: int, body: Any = None, headers: dict | None = None,
                 content_type: str = "application/json") -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.content_type = content_type


@dataclass(frozen=True)
class Request:
    """One request as the routes see it."""

    method: str
    path: str
    query: dict
    headers: Message
    body: bytes
    #: the path's parameters, percent-decoded, as the route's pattern captured them
    params: tuple[str, ...] = ()

    @property
    def api_segments(self) -> list[str]:
        """The percent-decoded path segments after ``/api/v2/``."""
        return [unquote(s) for s in self.path.split("/")[3:]]


def json_body(body: bytes) -> Any:
    """Return the JSON value of ``body`` (``None`` when empty), or raise a 400 :class:`Reply`."""
    try:
        return _body.parse_json_body(body)
    except _body.BodyRefused as exc:  # not JSON, or nested too deeply: 400, not a 500
        raise Reply(exc.status, error_body(exc.status, exc.code, exc.message)) from None


class Handler(BaseHTTPRequestHandler):
    """The request handler; :meth:`Simulator.start` subclasses it with ``sim`` and ``route`` bound."""

    sim: Simulator
    route: Callable[[Simulator, Request], Reply]
    protocol_version = "HTTP/1.1"
    server_version = "gctrace-simulator"
    timeout = 60  # idle keep-alive connections close after this
    # headers and body go out in two writes: without this, Nagle plus delayed ACK
    # add ~40 ms to every keep-alive request
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
        # the request line of a pre-signed download carries its signature
        args = tuple(_SIGNATURE.sub(r"\1" + REDACTED, a) if isinstance(a, str) else a for a in args)
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        sim = self.sim
        received = sim.clock()
        correlation_id = str(uuid.uuid4())
        refused: Reply | None = None
        try:
            body = _body.read_body(self.rfile, self.headers)
        except _body.BodyRefused as exc:  # no body read: the connection cannot carry another request
            self.close_connection = True
            body, refused = b"", Reply(exc.status, error_body(exc.status, exc.code, exc.message),
                                       {"Connection": "close"})
        parts = urlsplit(self.path)
        path = parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            if refused is not None:
                raise refused
            reply = self.route(sim, Request(method, path, query, self.headers, body))
            if not isinstance(reply, Reply):
                reply = Reply(500, error_body(500, "internal.server.error", "route did not answer"))
        except Reply as r:
            reply = r
        except Exception as exc:  # a simulator bug: answer like the platform would, and log it
            log.exception("simulator error on %s %s", method, path)
            reply = Reply(500, error_body(500, "internal.server.error", f"Simulator error: {type(exc).__name__}"))
        sim._record(RecordedRequest(
            method=method, path=path, query=_redact_query(query), headers=redact_headers(self.headers.items()),
            status=reply.status, time=received, body=redact_body(body), correlation_id=correlation_id,
        ))
        self._send(reply, correlation_id)

    def _send(self, reply: Reply, correlation_id: str) -> None:
        body = reply.body
        if body is None:
            data = b""
        elif isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = json.dumps(body).encode("utf-8")
        try:
            self.send_response(reply.status)
            self.send_header("ININ-Correlation-Id", correlation_id)
            if data or reply.status not in (202, 204, 303):
                self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            if data:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its timeout)
            self.close_connection = True
