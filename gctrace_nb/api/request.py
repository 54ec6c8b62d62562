"""The debug-trace request: a small builder and the local validation (genesys-api.md §A).

Nothing is sent for a request that fails :meth:`TraceRequest.validate`; the
error names each offending field and its limit.

>>> req = TraceRequest("flow-1", "inv-9").with_depth(5).with_input("ani", "+3312345")
>>> req.to_body()["traceDepth"], req.to_body()["simulatedInputs"]
(5, {'ani': '+3312345'})
>>> TraceRequest("flow-1", "inv-9", depth=51).validate()
Traceback (most recent call last):
...
gctrace_nb.errors.TraceRequestInvalid: traceDepth: must be between 1 and 50, got 51
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Final, Mapping

from ..errors import TraceRequestInvalid

__all__ = ["TraceRequest", "MIN_DEPTH", "MAX_DEPTH", "DEFAULT_DEPTH"]

MIN_DEPTH: Final = 1
MAX_DEPTH: Final = 50
DEFAULT_DEPTH: Final = 10


@dataclass(frozen=True)
class TraceRequest:
    """What to trace: a flow, an action invocation, and how much to capture.

    Frozen: every ``with_*`` method returns a new request. ``simulated_inputs``
    is an optional JSON object (a mapping) passed to the flow as inputs.
    """

    flow_id: str
    action_invocation_id: str
    depth: int = DEFAULT_DEPTH
    capture_context: bool = True
    capture_data: bool = True
    simulated_inputs: Mapping[str, Any] | None = field(default=None)

    # ------------------------------------------------------------- builder
    def with_depth(self, depth: int) -> "TraceRequest":
        """Return a copy tracing ``depth`` levels (1..50)."""
        return replace(self, depth=depth)

    def with_capture(self, *, context: bool | None = None, data: bool | None = None) -> "TraceRequest":
        """Return a copy with the capture directives changed (``None`` keeps one)."""
        return replace(
            self,
            capture_context=self.capture_context if context is None else context,
            capture_data=self.capture_data if data is None else data,
        )

    def with_input(self, key: str, value: Any) -> "TraceRequest":
        """Return a copy with one simulated input added (or replaced)."""
        inputs = dict(self.simulated_inputs or {})
        inputs[key] = value
        return replace(self, simulated_inputs=inputs)

    def with_inputs(self, inputs: Mapping[str, Any] | None) -> "TraceRequest":
        """Return a copy whose simulated inputs are exactly ``inputs``."""
        return replace(self, simulated_inputs=None if inputs is None else dict(inputs))

    # ---------------------------------------------------------- validation
    def violations(self) -> list[tuple[str, str]]:
        """Return every ``(field, message)`` problem; empty when the request is valid."""
        problems: list[tuple[str, str]] = []
        for name, value in (("flowId", self.flow_id), ("actionInvocationId", self.action_invocation_id)):
            if not isinstance(value, str):
                problems.append((name, f"must be a non-empty string, got {type(value).__name__}"))
            elif not value.strip():
                problems.append((name, "must be a non-empty id"))
            elif any(ch in value for ch in "/?#") or any(ord(ch) < 32 for ch in value):
                problems.append((name, "must not contain '/', '?', '#' or control characters"))
        depth = self.depth
        if isinstance(depth, bool) or not isinstance(depth, int):
            problems.append(("traceDepth", f"must be an integer between {MIN_DEPTH} and {MAX_DEPTH}, got {depth!r}"))
        elif not MIN_DEPTH <= depth <= MAX_DEPTH:
            problems.append(("traceDepth", f"must be between {MIN_DEPTH} and {MAX_DEPTH}, got {depth}"))
        if not (self.capture_context is True or self.capture_data is True):
            problems.append(
                ("contextDirectives", "at least one capture directive (captureContext or captureData) must be on")
            )
        inputs = self.simulated_inputs
        if inputs is not None:
            if not isinstance(inputs, Mapping):
                problems.append(("simulatedInputs", f"must be a JSON object, got {type(inputs).__name__}"))
            else:
                bad_keys = [k for k in inputs if not isinstance(k, str)]
                if bad_keys:
                    problems.append(("simulatedInputs", f"keys must be strings, got {bad_keys[0]!r}"))
                else:
                    try:
                        json.dumps(dict(inputs), allow_nan=False, default=_refuse)
                    except (TypeError, ValueError) as exc:
                        problems.append(("simulatedInputs", f"must be JSON-serialisable: {exc}"))
                    except RecursionError:
                        problems.append(("simulatedInputs", "must be JSON-serialisable: nested too deeply"))
        return problems

    def validate(self) -> "TraceRequest":
        """Return ``self`` when valid, else raise :class:`TraceRequestInvalid` listing every problem."""
        problems = self.violations()
        if problems:
            raise TraceRequestInvalid(problems)
        return self

    # ----------------------------------------------------------------- wire
    def to_body(self) -> dict:
        """Return the design's JSON body for ``POST /api/v2/flows/{flowId}/debug``."""
        body: dict[str, Any] = {
            "flowId": self.flow_id,
            "actionInvocationId": self.action_invocation_id,
            "traceDepth": self.depth,
            "contextDirectives": {
                "captureContext": bool(self.capture_context),
                "captureData": bool(self.capture_data),
            },
            "enableAsync": True,
        }
        if self.simulated_inputs is not None:
            body["simulatedInputs"] = json.loads(json.dumps(dict(self.simulated_inputs), allow_nan=False))
        return body


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
