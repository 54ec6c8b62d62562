"""Which code answers which request: the simulator's doors, and the route table of its API.

:func:`route` is the function :class:`~gctrace_nb.simulator.http.Handler` calls.
There are four doors:

* ``/oauth/token`` (:mod:`.routes_auth`), the webhook sink ``/webhook/...``
  (:mod:`.routes_webhooks`) and the pre-signed ``GET /downloads/presigned/...``
  (:mod:`.routes_history`), each answering for itself;
* ``/api/v2/...``, behind the gateway (5xx faults, bearer token, 429 dice, the
  ``forbidden`` fault, in that order, for every path under it, known or not), then
  :data:`API_ROUTES`: the first pattern that matches the rest of the path decides;
  a matching pattern with another method is a 405 naming the one it takes.

Patterns match the path after ``/api/v2/`` segment by segment (each segment
percent-decoded, then quoted again, so ``%2F`` stays inside its segment); what
they capture reaches the handler percent-decoded, as ``request.params``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Callable
from urllib.parse import quote, unquote

from . import gateway, routes_actions, routes_auth, routes_debug, routes_history, routes_webhooks
from .http import Reply, Request, error_body, json_body

if TYPE_CHECKING:
    from .server import Simulator

__all__ = ["Route", "API_ROUTES", "route"]

ANY = "*"


@dataclasses.dataclass(frozen=True)
class Route:
    """``method`` (or :data:`ANY`) and a pattern for the path after ``/api/v2/``, and who answers."""

    method: str
    pattern: re.Pattern[str]
    handler: Callable[[Simulator, Request], Reply]


def _notifications(sim: Simulator, req: Request) -> Reply:
    return Reply(*sim.notifications.handle(req.method, req.api_segments[1:], json_body(req.body)))


_SEGMENT = r"([^/]*)"

API_ROUTES: tuple[Route, ...] = tuple(Route(method, re.compile(pattern), handler) for method, pattern, handler in (
    (ANY, r"notifications(?:/.*)?", _notifications),
    ("POST", r"flows/instances/query(?:/.*)?", routes_history.query),
    ("POST", r"flows/instances/jobs", routes_history.submit),
    ("GET", rf"flows/instances/jobs/{_SEGMENT}", routes_history.poll),
    ("GET", rf"flows/instances/(?!settings$){_SEGMENT}", routes_history.one),
    ("POST", rf"flows/{_SEGMENT}/debug", routes_debug.submit),
    ("GET", rf"jobs/{_SEGMENT}", routes_debug.poll),
    ("GET", rf"downloads/{_SEGMENT}", routes_history.api_download),
    ("POST", rf"integrations/actions/{_SEGMENT}/(?:draft/)?test", routes_actions.action_test),
))


def route(sim: Simulator, req: Request) -> Reply:
    """Answer ``req``: through its door, or a 404 naming the path."""
    if req.path == "/oauth/token":
        return routes_auth.token(sim, req)
    if req.path.startswith("/webhook/"):
        return routes_webhooks.sink(sim, req)
    if req.path.startswith("/downloads/presigned/") and req.method == "GET":
        return routes_history.presigned_download(sim, req)
    if req.path.startswith("/api/v2/"):
        gateway.server_errors(sim)
        routes_auth.authenticate(sim, req)
        gateway.rate_limit(sim)
        gateway.check_permission(sim, req.path)
        return _api(sim, req)
    raise Reply(404, error_body(404, "not.found", f"No resource at {req.path}"))


def _api(sim: Simulator, req: Request) -> Reply:
    path = "/".join(quote(segment, safe="") for segment in req.api_segments)
    for candidate in API_ROUTES:
        match = candidate.pattern.fullmatch(path)
        if match is None:
            continue
        if candidate.method not in (ANY, req.method):
            raise Reply(405, error_body(405, "method.not.allowed", f"Method {req.method} is not allowed here"),
                        {"Allow": candidate.method})
        return candidate.handler(sim, dataclasses.replace(req, params=tuple(unquote(g) for g in match.groups())))
    raise Reply(404, error_body(404, "not.found", f"The requested resource {req.path} was not found."))
