"""OAuth: ``POST /oauth/token`` (client credentials) issues tokens; :func:`authenticate` checks them.

Token errors are OAuth-shaped (``error``, ``description``), not Genesys ``ErrorBody``;
a missing, unknown or expired bearer token on the API is a 401 ``ErrorBody``.
"""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from . import gateway
from .http import Reply, Request, error_body

if TYPE_CHECKING:
    from .server import Simulator

__all__ = ["token", "authenticate"]


def token(sim: Simulator, req: Request) -> Reply:
    """``/oauth/token``: HTTP Basic client id and secret, form body ``grant_type=client_credentials``."""
    if sim.faults.token_faults:
        gateway.server_errors(sim)
        gateway.rate_limit(sim)
    if req.method != "POST":
        raise Reply(405, {"error": "invalid_request", "description": "Use POST"})
    header = req.headers.get("Authorization") or ""
    scheme, _, encoded = header.partition(" ")
    client_id = secret = None
    if scheme.lower() == "basic":
        try:
            client_id, _, secret = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            client_id = secret = None
    if client_id is None or secret is None:
        raise Reply(401, {"error": "invalid_client", "description": "Client authentication is required "
                          "(HTTP Basic with the client id and secret)",
                          "error_description": "Client authentication is required"},
                    {"WWW-Authenticate": 'Basic realm="oauth"'})
    if not (secrets.compare_digest(client_id, sim._client_id) and secrets.compare_digest(secret, sim._client_secret)):
        desc = f"client not found: {client_id}" if client_id != sim._client_id else "invalid client secret"
        raise Reply(401, {"error": "invalid_client", "description": desc, "error_description": desc})
    ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    form = dict(parse_qsl(req.body.decode("utf-8", "replace"))) if ctype == "application/x-www-form-urlencoded" else {}
    grant = form.get("grant_type")
    if not grant:
        raise Reply(400, {"error": "invalid_request", "description": "Missing grant type (a form body "
                          "grant_type=client_credentials is required)"})
    if grant != "client_credentials":
        raise Reply(400, {"error": "unsupported_grant_type", "description": f"Unsupported grant type: {grant}"})
    issued = sim.issue_token()
    return Reply(200, {"access_token": issued, "token_type": "bearer", "expires_in": int(sim.token_lifetime_s)},
                 {"Cache-Control": "no-store", "Pragma": "no-cache"})


def authenticate(sim: Simulator, req: Request) -> None:
    """Raise a 401 unless ``req`` carries a bearer token the simulator issued and that has not expired."""
    header = req.headers.get("Authorization") or ""
    scheme, _, bearer = header.partition(" ")
    if scheme.lower() != "bearer" or not bearer.strip():
        raise Reply(401, error_body(401, "authentication.required",
                                    "No authentication bearer token specified in authorization header."))
    with sim._lock:
        expires_at = sim._tokens.get(bearer.strip())
    if expires_at is None:
        raise Reply(401, error_body(401, "bad.credentials", "Invalid login credentials."))
    if sim.clock() >= expires_at:
        raise Reply(401, error_body(401, "bad.credentials", "Expired login credentials."))
