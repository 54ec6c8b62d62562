"""What stands in front of the API: the faults a gateway answers with (5xx, 429) and the permission check.

Each check raises the :class:`~gctrace_nb.simulator.http.Reply` the platform would
send, or returns when the request may go on.
"""

from __future__ import annotations

import email.utils
import math
import uuid
from typing import TYPE_CHECKING

from .http import Reply, error_body

if TYPE_CHECKING:
    from .server import Simulator

__all__ = ["server_errors", "rate_limit", "check_permission"]


def server_errors(sim: Simulator) -> None:
    """Raise the 502/503/504 an outage or a 5xx burst calls for."""
    with sim._lock:
        faults = sim._faults
        if faults.outage:
            status = 503
        elif sim._burst_left > 0:
            sim._burst_left -= 1
            status = (502, 503, 504)[sim._burst_turn % 3]
            sim._burst_turn += 1
        else:
            return
    if status == 502:
        raise Reply(502, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
                         "</h1></center></body></html>", content_type="text/html")
    if status == 503:
        raise Reply(503, error_body(503, "service.unavailable",
                                    "The service is currently unavailable. Please try again later."))
    raise Reply(504, error_body(504, "gateway.timeout", "The request timed out at the gateway."))


def rate_limit(sim: Simulator) -> None:
    """Raise a 429 when the rate-limit dice say so (``Retry-After`` as the faults style it)."""
    with sim._lock:
        faults = sim._faults
        hit = faults.rate_429 > 0 and sim._dice.random() < faults.rate_429
    if not hit:
        return
    wait = int(math.ceil(faults.retry_after_s))
    headers = {}
    if faults.retry_after_style == "seconds":
        headers["Retry-After"] = str(wait)
    elif faults.retry_after_style == "http-date":
        # an HTTP date has whole seconds: round up so the client never waits too little
        headers["Retry-After"] = email.utils.formatdate(math.ceil(sim.wall_clock()) + wait, usegmt=True)
    body = {"message": f"Rate limit exceeded the maximum. Retry the request in [{wait}] seconds",
            "code": "too.many.requests.retry.after", "status": 429, "contextId": str(uuid.uuid4()),
            "details": [], "errors": []}
    raise Reply(429, body, headers)


def check_permission(sim: Simulator, path: str) -> None:
    """Raise a 403 naming the permission ``path`` needs when the ``forbidden`` fault is on."""
    if sim.faults.forbidden and not path.startswith("/api/v2/downloads/"):  # needs no permission
        raise Reply(403, error_body(
            403, "missing.permissions",
            f"Unable to perform the requested action. You are missing the following permission(s): "
            f"[{_permission_for(path)}]",
            params={"permissions": _permission_for(path)}))


def _permission_for(path: str) -> str:
    if "/flows/instances/query" in path:
        return "architect:flowInstance:search"
    if "/flows/instances" in path:
        return "architect:flowInstance:view"
    if "/integrations/actions/" in path:
        return "integrations:action:execute"
    return "architect:flow:debug"
