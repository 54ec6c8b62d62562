"""The pieces of an execution-history download the converter works with (pure).

Flattening the nested ``execution`` lists, node ids, error texts, variables, and
the clock that gives every item its start and end. The rules they implement are
in :mod:`gctrace_nb.core.formats.history`, the converter that uses them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

from ..._time import parse_timestamp as _parse_timestamp

#: Item types that mark the flow's own start and end: time points, never steps.
FLOW_MARKERS: Final = frozenset({"startedFlow", "endedFlow"})

_BRACKET = re.compile(r"^(started|ended)([A-Z][A-Za-z0-9_]*)$")
_KNOWN_TYPE = re.compile(r"^(?:(?:action|menu)[A-Z][A-Za-z0-9_]*|turn)$")
#: Ids that are fixed in a flow version (the per-run ``executionId`` comes after the names).
_STABLE_ID_KEYS: Final = ("trackingId", "actionId", "stateId", "taskId", "commonModuleId")
_NAME_KEYS: Final = ("actionName", "menuName", "taskName", "commonModuleName", "stateName", "name",
                     "displayName")
_KEEP_KEYS: Final = (
    "actionId", "trackingId", "executionId", "stateId", "outputPathId", "outputPathName", "dateTime",
    "taskId", "commonModuleId", "commonModuleVersion", "dataActionId", "queueName", "queueId",
    "warnings", "inputData", "outputData", "toParticipant", "fromParticipant", "languageTag", "flowExitReason",
)
_ERROR_KEYS: Final = ("errors", "error", "errorInfo")
_VARIABLE_KEYS: Final = ("variables", "outputVariables")
#: Payload fields this module reads (all others are reported as unrecognised).
_RECOGNISED: Final = frozenset(_KEEP_KEYS + _NAME_KEYS + _ERROR_KEYS + _VARIABLE_KEYS + (
    "execution", "menuId", "dataActionName", "flowId", "flowName"))
_FLOW_FIELDS: Final = frozenset({
    "conversationId", "division", "flowId", "flowName", "flowVersion", "flowType", "startDateTime",
    "endDateTime", "flowErrorReason", "flowWarningReason", "execution", "errors", "error", "errorInfo",
    "warnings", "flowInstanceId", "instanceId", "id", "workitemId"})
_DOCUMENT_FIELDS: Final = frozenset({"flow", "flowInstanceId", "instanceId", "id"})
_MAX_ERROR_TEXT: Final = 2000


def parse_timestamp(value: Any) -> int | None:
    """:func:`gctrace_nb._time.parse_timestamp`, but never raising: unreadable is missing."""
    try:
        return _parse_timestamp(value)
    except Exception:  # noqa: BLE001 - a hostile time string must not stop the conversion
        return None


@dataclass
class _Item:
    ordinal: int  # 1-based document order
    type: str
    payload: dict
    parent: int  # index in the flat list of the item whose ``execution`` holds it, or -1
    children: list[int] = field(default_factory=list)
    subtree_end: int = 0  # flat index just past its nested items
    malformed: bool = False


def _item_type(item: dict) -> tuple[str, dict, bool] | None:
    """The ``(type, payload, malformed)`` of one execution item, or None to skip it."""
    if not item:
        return None
    for key, value in item.items():
        if isinstance(value, dict):
            return str(key), value, len(item) != 1
    return str(next(iter(item))), {}, True


def _flatten(execution: list) -> tuple[list[_Item], list[int], int]:
    """Pre-order flatten (iteratively: hostile nesting must not recurse)."""
    flat: list[_Item] = []
    top: list[int] = []
    skipped = 0
    # (list, position, owner index or -1); a manual stack instead of recursion.
    stack: list[tuple[list, int, int]] = [(execution, 0, -1)]
    while stack:
        items, pos, owner = stack.pop()
        if pos >= len(items):
            if owner >= 0:
                flat[owner].subtree_end = len(flat)
            continue
        stack.append((items, pos + 1, owner))
        raw = items[pos]
        parsed = _item_type(raw) if isinstance(raw, dict) else None
        if parsed is None:
            skipped += 1
            continue
        kind, payload, malformed = parsed
        index = len(flat)
        flat.append(_Item(index + 1, kind, payload, owner, malformed=malformed))
        (flat[owner].children if owner >= 0 else top).append(index)
        nested = payload.get("execution")
        if isinstance(nested, list) and nested:
            stack.append((nested, 0, index))
        else:
            flat[index].subtree_end = index + 1
    return flat, top, skipped


def _error_text(payload: dict) -> str | None:
    """The error text of a payload's ``errors``/``error``/``errorInfo``, or None when there is none."""
    texts: list[str] = []
    for key in _ERROR_KEYS:
        value = payload.get(key)
        if value in (None, "", [], {}, False):
            continue
        values = value if isinstance(value, list) else [value]
        for err in values:
            if err in (None, "", {}, []):
                continue
            texts.append(_one_error(err))
    if not texts:
        return None
    return "; ".join(texts)[:_MAX_ERROR_TEXT]


def _one_error(err: Any) -> str:
    if isinstance(err, str):
        return err
    if isinstance(err, dict):
        for key in ("message", "errorMessage", "text", "description", "reason", "errorCode", "code"):
            value = err.get(key)
            if isinstance(value, str) and value:
                code = err.get("errorCode") or err.get("code")
                if key not in ("errorCode", "code") and isinstance(code, str) and code:
                    return f"{code}: {value}"
                return value
    try:
        return json.dumps(err, sort_keys=True, default=str)[:_MAX_ERROR_TEXT]
    except (TypeError, ValueError, RecursionError):
        return str(type(err).__name__)


def _str_or_none(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _name(payload: dict) -> str | None:
    for key in _NAME_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _id_prefix(kind: str, payload: dict) -> str:
    # a stable id when the item has one; else its name (a common module's start marker
    # often carries only ``commonModuleName``), which is as stable across instances;
    # the per-run executionId only as a last resort
    for key in _STABLE_ID_KEYS + _NAME_KEYS + ("executionId",):
        value = _str_or_none(payload.get(key))
        if value:
            return f"{kind}:{value}"
    return f"{kind}:"


def _step_kind(item_type: str) -> str | None:
    """The id prefix type of an item's step: the group kind for a start marker,
    the item type for an action, None for a marker that is no step."""
    if item_type in FLOW_MARKERS:
        return None
    match = _BRACKET.match(item_type)
    if match:
        return _lower_first(match.group(2)) if match.group(1) == "started" else None
    return item_type


def _node_ids(flat: list["_Item"]) -> list[str | None]:
    """Every item's node id (None for markers), counting each prefix in document order.

    An item with no key of its own (a ``turn``) borrows the key of the item it is
    nested in, so a menu's turn is ``turn:{the menu's trackingId}#n``: stable too.
    """
    counts: dict[str, int] = {}
    ids: list[str | None] = []
    keys: list[str] = []  # each item's key part (after "type:")
    for item in flat:
        kind = _step_kind(item.type) or item.type
        prefix = _id_prefix(kind, item.payload)
        if prefix == f"{kind}:" and item.parent >= 0 and keys[item.parent]:
            prefix = f"{kind}:{keys[item.parent]}"
        keys.append(prefix[len(kind) + 1:])
        if _step_kind(item.type) is None:
            ids.append(None)
            continue
        counts[prefix] = counts.get(prefix, 0) + 1
        ids.append(f"{prefix}#{counts[prefix]}")
    return ids


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _participant_time(payload: dict, key: str) -> int | None:
    value = payload.get(key)
    return parse_timestamp(value.get("dateTime")) if isinstance(value, dict) else None


def _variables(payload: dict) -> tuple[dict, dict, list[str]]:
    """``variables`` + ``outputVariables`` (lists of ``{variableName, value}``, or mappings) as
    ``(mapping, replaced values, keys holding anything else)``."""
    merged: dict = {}
    given: dict = {}
    unreadable: list[str] = []
    for key in _VARIABLE_KEYS:
        value = payload.get(key)
        if value is None:
            continue
        if isinstance(value, dict):
            entries = [(str(k), v) for k, v in value.items()]
        elif isinstance(value, list) and all(
                isinstance(e, dict) and set(e) <= {"variableName", "value"}
                and isinstance(e.get("variableName"), str) and e["variableName"] for e in value):
            entries = [(e["variableName"], e.get("value")) for e in value]
        else:
            unreadable.append(key)
            continue
        for name, val in entries:
            if key == "outputVariables" and name in merged and merged[name] != val:
                given[name] = merged[name]
            merged[name] = val
    return merged, given, unreadable


class _Clock:
    """Known times in document order, the flow window, and clamping into it."""

    def __init__(self, flat: list[_Item], flow_start: int | None, flow_end: int | None) -> None:
        self.start, self.end = flow_start, flow_end
        known: list[int | None] = []
        self.recorded_end: list[int | None] = []  # a turn's fromParticipant.dateTime, else None
        for item in flat:
            at = parse_timestamp(item.payload.get("dateTime"))
            end = None
            if item.type == "turn":
                at = _participant_time(item.payload, "toParticipant") or at
                end = _participant_time(item.payload, "fromParticipant")
            known.append(at)
            self.recorded_end.append(end)
        self.known = known
        # next_known[i]: the first known time at flat index >= i, else the flow's end.
        nxt: list[int | None] = [None] * (len(flat) + 1)
        nxt[len(flat)] = flow_end
        for i in range(len(flat) - 1, -1, -1):
            nxt[i] = known[i] if known[i] is not None else nxt[i + 1]
        self.next_known = nxt

    def clamp(self, value: int | None) -> tuple[int | None, bool]:
        if value is None or self.start is None or self.end is None:
            return value, False
        if value < self.start:
            return self.start, True
        if value > self.end:
            return self.end, True
        return value, False


def _flow_window(flow: dict, flat: list[_Item], top: list[int]) -> tuple[int | None, int | None, dict]:
    """The flow's start and end (with fallbacks), and the root's inference flags."""
    flags: dict = {}
    start = parse_timestamp(flow.get("startDateTime"))
    end = parse_timestamp(flow.get("endDateTime"))
    marker_start = next((parse_timestamp(flat[i].payload.get("dateTime")) for i in top
                         if flat[i].type == "startedFlow"), None)
    marker_end = next((parse_timestamp(flat[i].payload.get("dateTime")) for i in reversed(top)
                       if flat[i].type == "endedFlow"), None)
    times = [t for t in (parse_timestamp(item.payload.get("dateTime")) for item in flat) if t is not None]
    if start is not None and end is not None and end < start:
        flags["invalidEndDateTime"] = flow.get("endDateTime")
        end = None
    if start is None:
        start = marker_start if marker_start is not None else (min(times) if times else None)
        if start is not None:
            flags["startInferred"] = True
    if end is None:
        candidates = [t for t in ([marker_end] if marker_end is not None else times) if t is not None]
        if start is not None:
            candidates.append(start)
        if candidates:
            end = max(candidates)
            flags["endInferred"] = True
    if start is not None and end is not None and end < start:  # inferred start after a given end
        start = end
        flags["startInferred"] = True
    return start, end, flags
