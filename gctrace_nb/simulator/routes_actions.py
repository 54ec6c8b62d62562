"""Data action tests: ``POST /api/v2/integrations/actions/{actionId}/test`` (and ``/draft/test``).

The answer is shaped as Genesys shapes it: the operations the test went through,
then ``finalResult`` or an ``error``. An action id containing ``fail`` (or listed in
``failing_actions``) fails at its HTTP call; one starting with ``missing`` is a 404.
"""

from __future__ import annotations

import json
import random
import time
from typing import TYPE_CHECKING
from urllib.parse import quote

from .http import Reply, Request, error_body, json_body

if TYPE_CHECKING:
    from .server import Simulator

__all__ = ["action_test"]


def action_test(sim: Simulator, req: Request) -> Reply:
    """Run the test of action ``req.params[0]`` on the JSON object of inputs in the body."""
    (action_id,) = req.params
    inputs = json_body(req.body)
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        raise Reply(400, error_body(400, "bad.request", "The body must be a JSON object of the action's inputs"))
    if action_id.startswith("missing"):
        raise Reply(404, error_body(404, "not.found", f"Action {action_id} not found"))
    with sim._lock:
        delay = sim.action_delay_s * (0.75 + sim._dice.random() / 2)
    if delay > 0:
        time.sleep(delay)
    fails = "fail" in action_id or action_id in sim.failing_actions
    return Reply(200, _action_result(action_id, inputs, fails))


def _action_result(action_id: str, inputs: dict, fails: bool) -> dict:
    """Return a data-action test response as Genesys shapes it."""
    rng = random.Random(f"{action_id}:{json.dumps(inputs, sort_keys=True, default=str)}")
    service = "payments.example.com" if "pay" in action_id else "crm.example.com"
    qs = "&".join(f"{quote(str(k))}={quote(str(v))}" for k, v in sorted(inputs.items()))
    url = f"https://{service}/api/v1/lookup" + (f"?{qs}" if qs else "")
    ops: list[dict] = [
        {"step": 1, "name": "Resolve request URL template", "success": True, "result": url},
        {"step": 2, "name": "Resolve request headers", "success": True,
         "result": {"Accept": "application/json", "Authorization": "*****"}},
        {"step": 3, "name": "Resolve request body template", "success": True, "result": json.dumps(inputs)},
    ]
    if fails:
        error = error_body(
            400, "bad.request",
            "REST call for action execute failed. Message: Request to backend service failed. Response from web "
            "service: {\"message\":\"upstream request timeout\"} [a7c0b9f2-6a2e-4f1b-9d8e-0f3c1e9b2d44]",
            errors=[{"message": "HTTP 504 from payment gateway: upstream request timeout", "code": "gateway.timeout",
                     "status": 504}])
        ops.append({"step": 4, "name": "Execute request", "success": False, "error": error})
        return {"operations": ops, "error": error, "finalResult": None, "success": False}
    raw = {"customer": {"id": f"CUST-{rng.randint(10000, 99999)}", "tier": rng.choice(["gold", "silver", "bronze"]),
                        "open_cases": rng.randint(0, 5)}}
    ops.append({"step": 4, "name": "Execute request", "success": True,
                "result": {"statusCode": 200, "body": raw, "elapsedMs": rng.randint(80, 400)}})
    translated = {"customerId": raw["customer"]["id"], "tier": raw["customer"]["tier"],
                  "openCases": raw["customer"]["open_cases"]}
    ops.append({"step": 5, "name": "Resolve translation map", "success": True, "result": translated})
    ops.append({"step": 6, "name": "Apply output contract", "success": True, "result": translated})
    return {"operations": ops, "error": None, "finalResult": translated, "success": True}
