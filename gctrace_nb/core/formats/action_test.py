"""Convert a data action test response into trace steps.

``POST /api/v2/integrations/actions/{actionId}/test`` answers
``{"operations": [{"step", "name", "success", "result", "error"}], "error",
"finalResult", "success"}`` (``genesys-api.md`` §B) with **no timing fields**.

The rules:

* **Root.** One step for the call, ``action:{actionId}#0``, timed on the client
  (``started_us`` to ``ended_us``: when the request was sent and the answer
  read). Failed when the response says ``"success": false`` or carries an
  ``error``; the error text goes to ``errorMessage``.
* **Operations.** One step per operation, ``operation:{step}#{ordinal}``
  (``ordinal`` 1-based in response order), children of the root. The call's
  window is split into equal consecutive parts, one per operation, in order;
  these times are a guess and every operation is marked ``"startInferred":
  true, "endInferred": true, "timing": "even-split"``. An operation fails when
  its ``success`` is false or it carries an ``error``.
* Operations that are not objects are kept as ``"malformed": true`` steps so
  the count stays right.
"""

from __future__ import annotations

import json
from typing import Any, Final

from ...errors import TraceFormatError
from ..._time import to_iso

__all__ = ["action_test_to_steps", "action_test_metadata"]

_MAX_TEXT: Final = 2000


def _error_text(value: Any) -> str | None:
    if value in (None, "", [], {}, False):
        return None
    if isinstance(value, str):
        return value[:_MAX_TEXT]
    if isinstance(value, dict):
        for key in ("message", "errorMessage", "text", "description", "code", "errorCode"):
            text = value.get(key)
            if isinstance(text, str) and text:
                return text[:_MAX_TEXT]
    if isinstance(value, list):
        texts = [t for t in (_error_text(v) for v in value) if t]
        return "; ".join(texts)[:_MAX_TEXT] if texts else None
    try:
        return json.dumps(value, sort_keys=True, default=str)[:_MAX_TEXT]
    except (TypeError, ValueError, RecursionError):
        return type(value).__name__


def _key(value: Any) -> str:
    if isinstance(value, bool):
        return ""
    if isinstance(value, (str, int, float)):
        return str(value)
    return ""


def action_test_to_steps(response: dict, *, action_id: str, started_us: int, ended_us: int) -> list[dict]:
    """Turn a data action test response into steps: the call, then one per operation.

    Args:
        response: the decoded JSON body of the test call.
        action_id: the data action's id (names the root step).
        started_us: epoch microseconds when the request was sent.
        ended_us: epoch microseconds when the response was read (at or after ``started_us``).

    Raises:
        TraceFormatError: ``response`` is not a JSON object.

    Example:
        >>> resp = {"success": False, "operations": [
        ...     {"step": 1, "name": "Resolve request", "success": True},
        ...     {"step": 2, "name": "Execute", "success": False, "error": "HTTP 504"}]}
        >>> steps = action_test_to_steps(resp, action_id="custom_-_1", started_us=0, ended_us=1_000_000)
        >>> [(s["nodeId"], s["startTime"][17:23], s["endTime"][17:23], s["status"]) for s in steps]
        [('action:custom_-_1#0', '00.000', '01.000', 'failed'), ('operation:1#1', '00.000', '00.500', 'success'), ('operation:2#2', '00.500', '01.000', 'failed')]
    """
    if not isinstance(response, dict):
        raise TraceFormatError(f"a data action test response is an object, got {type(response).__name__}")
    if ended_us < started_us:
        ended_us = started_us
    operations = response.get("operations")
    if not isinstance(operations, list):
        operations = []
    root_id = f"action:{action_id}#0"
    root: dict = {
        "nodeId": root_id,
        "parentId": None,
        "startTime": to_iso(started_us),
        "endTime": to_iso(ended_us),
        "status": "success",
        "name": f"data action {action_id}",
        "type": "actionTest",
        "kind": "call",
        "actionId": action_id,
        "timing": "client",
    }
    errors = []
    top_error = _error_text(response.get("error"))
    if top_error:
        errors.append(top_error)
    failed = response.get("success") is False or bool(top_error)
    steps = [root]
    n = len(operations)
    span = ended_us - started_us
    for k, op in enumerate(operations):
        start = started_us + span * k // n
        end = started_us + span * (k + 1) // n
        step: dict = {
            "parentId": root_id,
            "startTime": to_iso(start),
            "endTime": to_iso(end),
            "status": "success",
            "type": "operation",
            "kind": "operation",
            "startInferred": True,
            "endInferred": True,
            "timing": "even-split",
        }
        if not isinstance(op, dict):
            step.update(nodeId=f"operation:#{k + 1}", name=f"operation {k + 1}", malformed=True)
            steps.append(step)
            continue
        step["nodeId"] = f"operation:{_key(op.get('step'))}#{k + 1}"
        name = op.get("name")
        step["name"] = name if isinstance(name, str) and name else f"operation {k + 1}"
        for key in ("step", "success", "result"):
            if key in op:
                step[key] = op[key]
        error = _error_text(op.get("error"))
        if op.get("success") is False or error:
            step["status"] = "failed"
            step["errorMessage"] = error or "operation failed"
            if not top_error and error:
                errors.append(error)
            failed = True
        steps.append(step)
    if "finalResult" in response:
        root["finalResult"] = response["finalResult"]
    if failed:
        root["status"] = "failed"
        root["errorMessage"] = "; ".join(errors) if errors else "data action test failed"
    return steps


def action_test_metadata(action_id: str, *, submitted_at: str | None = None, completed_at: str | None = None,
                         inputs: dict | None = None, correlation_id: str | None = None) -> dict:
    """Metadata for :meth:`TraceMetadata.from_json` describing one test call."""
    meta: dict = {"source": "action_test", "action_id": action_id}
    if submitted_at:
        meta["submitted_at"] = submitted_at
    if completed_at:
        meta["completed_at"] = completed_at
    if inputs is not None:
        meta["request"] = {"actionId": action_id, "inputs": inputs}
    if correlation_id:
        meta["correlation_ids"] = [correlation_id]
    return meta
