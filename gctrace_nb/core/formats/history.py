"""Convert a Genesys flow execution-history download into trace steps.

The downloaded document (``genesys-api.md`` §B; our reading of the example on
Genesys's help page "Historical flow execution data overview" and of the SDK)::

    {"flow": {"conversationId", "division": {"id"}, "flowId", "flowName", "flowVersion",
              "flowType", "startDateTime", "endDateTime", "flowErrorReason", "flowWarningReason",
              "execution": [{"startedFlow": {...}}, {"actionDecision": {...}}, ...]}}

Each execution item is a single-key object ``{type: payload}``. Payloads carry
``dateTime`` (a start time only), ids, names, ``errors``/``error``/``errorInfo``,
``variables``/``outputVariables`` (lists of ``{variableName, value}``) and
sometimes a nested ``execution`` list of child items (``[]`` on plain actions).

The rules, in full:

* **Root.** One step for the flow, from ``startDateTime`` to ``endDateTime``
  (falling back to the ``startedFlow``/``endedFlow`` marker times, then to the
  earliest/latest item time, flagged ``startInferred``/``endInferred``). Its
  id is ``flow:{flowId}#0``. It keeps ``startedFlow``'s ``languageTag`` and
  ``variables`` and ``endedFlow``'s ``flowExitReason``.
* **Items.** Every item is a step except markers: ``startedFlow``/``endedFlow``
  (anywhere) and bracket markers. Unknown types are ordinary steps.
* **Brackets.** ``startedX``/``endedX`` pairs (``X`` not ``Flow``: ``Task``,
  ``CommonModule``, ``BotState``, ...) in the same ``execution`` list make one
  *group* step, from the start marker's time to the end marker's time; the
  items between them (and any nested in the start marker) are its children.
  Brackets nest. An end marker closes the innermost open bracket of its kind;
  brackets opened above it and not yet closed are closed there too. A bracket
  never closed is closed where its list ends (its owner's end, or the flow's
  end) and flagged ``"unclosed": true``. An end marker with no open bracket of
  its kind is ignored and counted on the root (``strayEndMarkers``). A start
  marker that holds its items in a nested ``execution`` list is a group of
  those items: it ends with them, or at its end marker if that comes next.
* **Parents.** Items in an item's nested ``execution`` are its children; items
  inside a bracket are the group's children; the rest hang from the root.
* **Times.** Items are numbered in document order (pre-order: an item, then
  its nested items). An item starts at its ``dateTime``; it ends where the next
  item *not nested in it* starts (markers count as time points); the last ends
  at the flow's end. So every item end is ``"endInferred": true``. A ``turn``
  is the exception: it starts at ``toParticipant.dateTime`` (the prompt to the
  participant) and ends at ``fromParticipant.dateTime`` (the participant's
  answer), both recorded; only a turn with no answer ends where the next item
  starts. An item with no usable time starts at the next known time
  (``"startInferred": true``). Times outside the flow's window are moved into
  it (``"clamped": true``) so the trace's ``total_ms`` is exactly the flow's
  end minus its start; an end that would come before its start (items out of
  order) is set to the start (``"outOfOrder": true``).
* **Status.** An item (or either marker of a bracket) with a non-empty
  ``errors``, ``error`` or ``errorInfo`` is ``"failed"`` with the error text in
  ``errorMessage``; otherwise ``"success"``. The root fails on the flow's own
  errors, on a ``flowErrorReason`` other than ``"NONE"`` (any case) or empty,
  or on errors on its ``startedFlow``/``endedFlow``.
* **Ids.** ``nodeId`` is ``f"{type}:{key}#{n}"`` where ``type`` is the item
  type (``task``/``commonModule``/``botState``/... for a group), ``key`` the
  first present of ``trackingId``, ``actionId``, ``stateId``, ``taskId``,
  ``commonModuleId``, the item's name, then the per-run ``executionId`` (else
  the key of the item it is nested in, as for a ``turn``, else empty), and
  ``n`` counts the items with that same ``{type}:{key}`` in document order,
  from 1 (an action run twice in a loop is ``#1`` then ``#2``).
  The root is ``flow:{flowId}#0``. Splitting at the last ``#`` gives back the
  prefix and the count, so ids are unique; the same document always gives the
  same ids; and since ``trackingId``/``actionId``/``stateId`` are fixed in a
  flow version, the same action or bot state has the same id in every instance
  of that version (batch analysis groups by it).
* **Kept.** ``name`` (``actionName``, ``menuName``, ``taskName``, ...),
  ``type``, ``kind`` (``flow``/``action``/``group``), the ids,
  ``outputPathId``, ``dateTime`` as given, ``warnings``, ``inputData``/
  ``outputData``, a turn's ``toParticipant``/``fromParticipant``, and
  ``variables``: ``variables`` and ``outputVariables`` as one mapping of
  variable name to value (an output value wins; the value it replaced is kept
  in ``variablesGiven``).
* **Unrecognised.** A field this module does not know is kept on the step under
  ``unrecognised`` (``{"<type>.<field>": value}``, ``flow.<field>`` for the flow)
  and counted in ``metadata["unrecognised"]`` (also ``execution.<type>`` for an
  item type that is no marker, ``action*``, ``menu*`` or ``turn``): a first run
  against a real org shows what we did not expect.

Non-dict items and empty objects are skipped (counted on the root as
``skippedItems``). Nothing here raises except :class:`TraceFormatError`, for a
document that has no ``flow`` object at all.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ...errors import TraceFormatError
from ..._time import to_iso
from ._history_items import (FLOW_MARKERS, _BRACKET, _DOCUMENT_FIELDS, _FLOW_FIELDS, _KEEP_KEYS, _KNOWN_TYPE,
                             _MAX_ERROR_TEXT, _RECOGNISED, _Clock, _error_text, _flatten, _flow_window, _Item,
                             _lower_first, _name, _node_ids, _str_or_none, _variables)
from ._history_items import parse_timestamp  # re-exported: the never-raising parser the API layer uses

__all__ = ["execution_document_to_steps", "is_execution_document", "is_no_reason", "FLOW_MARKERS"]


def is_execution_document(obj: Any) -> bool:
    """Return True if ``obj`` looks like a downloaded execution-history document."""
    return isinstance(obj, dict) and isinstance(obj.get("flow"), dict) and isinstance(
        obj["flow"].get("execution"), list
    )


def is_no_reason(value: Any) -> bool:
    """True for a ``flowErrorReason``/``flowWarningReason`` that means "none".

    >>> [is_no_reason(v) for v in ("NONE", "none", " ", None, "DATA_ACTION_FAILURE")]
    [True, True, True, True, False]
    """
    return value is None or (isinstance(value, str) and value.strip().lower() in ("", "none"))


def _metadata(doc: dict, flow: dict, unrecognised: Counter) -> dict:
    meta: dict = {"source": "history"}
    flow_id = _str_or_none(flow.get("flowId"))
    if flow_id:
        meta["flow_id"] = flow_id
    for src, dst in (("flowName", "flow_name"), ("flowVersion", "flow_version"), ("flowType", "flow_type"),
                     ("conversationId", "conversation_id")):
        value = _str_or_none(flow.get(src))
        if value:
            meta[dst] = value
    division = flow.get("division")
    if isinstance(division, dict) and _str_or_none(division.get("id")):
        meta["division_id"] = _str_or_none(division.get("id"))
    for holder, key in ((flow, "flowInstanceId"), (flow, "instanceId"), (doc, "flowInstanceId"),
                        (doc, "instanceId"), (flow, "id"), (doc, "id")):
        value = _str_or_none(holder.get(key))
        if value:
            meta["instance_id"] = value
            break
    for src, dst in (("startDateTime", "flow_start"), ("endDateTime", "flow_end")):
        value = _str_or_none(flow.get(src))
        if value:
            meta[dst] = value
    for src, dst in (("flowErrorReason", "flow_error_reason"), ("flowWarningReason", "flow_warning_reason")):
        value = _str_or_none(flow.get(src))
        if value and not is_no_reason(value):
            meta[dst] = value
    if unrecognised:
        meta["unrecognised"] = dict(sorted(unrecognised.items()))
    return meta


def execution_document_to_steps(doc: dict) -> tuple[list[dict], dict]:
    """Convert a downloaded execution-history document into ``(steps, metadata)``.

    The steps follow ``spec/analysis.md`` §1, root first, then in document order.
    ``metadata`` suits :meth:`TraceMetadata.from_json` (``source="history"``,
    ``flow_id``; the rest, e.g. ``flow_name``, ``instance_id``, ``division_id``,
    ``unrecognised``, goes into ``extra``). The rules are in the module docstring.

    Raises:
        TraceFormatError: ``doc`` is not an object with a ``flow`` object.

    Example:
        >>> doc = {"flow": {"flowId": "f1", "flowName": "Main", "flowErrorReason": "NONE",
        ...     "startDateTime": "2024-05-01T10:00:00Z", "endDateTime": "2024-05-01T10:00:03Z",
        ...     "execution": [{"startedFlow": {"dateTime": "2024-05-01T10:00:00Z"}},
        ...                   {"actionDecision": {"actionId": "a1", "actionName": "Check",
        ...                                       "dateTime": "2024-05-01T10:00:01Z", "execution": []}},
        ...                   {"endedFlow": {"dateTime": "2024-05-01T10:00:03Z"}}]}}
        >>> steps, meta = execution_document_to_steps(doc)
        >>> [(s["nodeId"], s.get("parentId"), s["startTime"][11:19], s["endTime"][11:19]) for s in steps]
        [('flow:f1#0', None, '10:00:00', '10:00:03'), ('actionDecision:a1#1', 'flow:f1#0', '10:00:01', '10:00:03')]
        >>> meta["flow_id"], meta["source"], steps[0]["status"]
        ('f1', 'history', 'success')
    """
    if not isinstance(doc, dict):
        raise TraceFormatError(f"an execution-history document is an object, got {type(doc).__name__}")
    flow = doc.get("flow")
    if not isinstance(flow, dict):
        raise TraceFormatError('an execution-history document needs a "flow" object')
    return _Converter(doc, flow).run()


class _Converter:
    """One document's conversion: the flat items, their clock, and the steps being built."""

    def __init__(self, doc: dict, flow: dict) -> None:
        self.doc = doc
        self.flow = flow
        execution = flow.get("execution")
        self.flat, self.top, self.skipped = _flatten(execution if isinstance(execution, list) else [])
        self.flow_start, self.flow_end, self.root_flags = _flow_window(flow, self.flat, self.top)
        self.clock = _Clock(self.flat, self.flow_start, self.flow_end)
        self.node_ids = _node_ids(self.flat)
        self.unrecognised: Counter = Counter()
        # One slot per flat item: a step dict, or None for a marker that is no step.
        self.slots: list[dict | None] = [None] * len(self.flat)
        self.stray = 0
        self.root: dict = {}
        self.work: list[tuple[list[int], str, int | None]] = []

    def run(self) -> tuple[list[dict], dict]:
        self.root = self._root()
        for key in self.doc:
            if key not in _DOCUMENT_FIELDS:
                self._unrecognised(self.root, "document", key, self.doc[key])
        # Scopes to process: (flat indices of one execution list, owner step id, end of the scope).
        self.work = [(self.top, self.root["nodeId"], self.flow_end)]
        while self.work:
            self._scope(*self.work.pop())
        if self.skipped:
            self.root["skippedItems"] = self.skipped
        if self.stray:
            self.root["strayEndMarkers"] = self.stray
        steps = [self.root] + [s for s in self.slots if s is not None]
        return steps, _metadata(self.doc, self.flow, self.unrecognised)

    # ------------------------------------------------------------ the root
    def _root(self) -> dict:
        flow = self.flow
        flow_id = _str_or_none(flow.get("flowId")) or ""
        start, end = self.flow_start, self.flow_end
        root: dict = {
            "nodeId": f"flow:{flow_id}#0",
            "parentId": None,
            "startTime": to_iso(start) if start is not None else None,
            "endTime": to_iso(end) if end is not None else None,
            "status": "success",
            "name": _str_or_none(flow.get("flowName")) or "flow",
            "type": "flow",
            "kind": "flow",
        }
        if flow_id:
            root["flowId"] = flow_id
        for key in ("flowVersion", "flowType", "conversationId"):
            value = _str_or_none(flow.get(key))
            if value:
                root[key] = value
        for key in ("flowErrorReason", "flowWarningReason"):
            value = _str_or_none(flow.get(key))
            if value and not is_no_reason(value):
                root[key] = value
        if isinstance(flow.get("division"), dict):
            root["division"] = flow["division"]
        if flow.get("warnings") not in (None, [], ""):
            root["warnings"] = flow["warnings"]
        root.update(self.root_flags)
        for key in flow:
            if key not in _FLOW_FIELDS:
                self._unrecognised(root, "flow", key, flow[key])
        errors = [t for t in (_error_text(flow),) if t]
        reason = _str_or_none(flow.get("flowErrorReason"))
        if reason and not is_no_reason(reason):
            errors.append(reason)
        for i in self.top:
            if self.flat[i].type in FLOW_MARKERS:
                self._marker_into(root, i, first_only=("languageTag", "variables", "flowExitReason"))
                errors += [t for t in (_error_text(self.flat[i].payload),) if t]
        if errors:
            root["status"] = "failed"
            root["errorMessage"] = "; ".join(errors)[:_MAX_ERROR_TEXT]
        return root

    def _marker_into(self, step: dict, i: int, *, first_only: tuple[str, ...] = ()) -> None:
        """Keep a marker's own fields on the step it belongs to (markers are no steps)."""
        item = self.flat[i]
        payload = item.payload
        for key in first_only:
            if key == "variables":
                merged, _, _ = _variables(payload)
                if merged and "variables" not in step:
                    step["variables"] = merged
            elif key in payload and payload[key] is not None and key not in step:
                step[key] = payload[key]
        self._scan_fields(step, item)

    # ------------------------------------------------------- fields and steps
    def _unrecognised(self, step: dict, where: str, key: Any, value: Any) -> None:
        name = f"{where}.{key}"
        self.unrecognised[name] += 1
        step.setdefault("unrecognised", {})[name] = value

    def _scan_fields(self, step: dict, item: _Item) -> None:
        """Count and keep the fields of ``item`` that this module does not read."""
        if item.type not in FLOW_MARKERS and not _BRACKET.match(item.type) and not _KNOWN_TYPE.match(item.type):
            self.unrecognised[f"execution.{item.type}"] += 1
        for key, value in item.payload.items():
            if key not in _RECOGNISED:
                self._unrecognised(step, item.type, key, value)
        _, _, unreadable = _variables(item.payload)
        for key in unreadable:
            self._unrecognised(step, item.type, key, item.payload[key])

    def _set_time(self, step: dict, key: str, value: int | None) -> int | None:
        value, clamped = self.clock.clamp(value)
        step[key] = to_iso(value) if value is not None else None
        if clamped:
            step["clamped"] = True
        return value

    def _item_end(self, i: int) -> int | None:
        return self.clock.next_known[self.flat[i].subtree_end]

    def _base_step(self, i: int, kind: str, step_kind: str, parent_id: str) -> dict:
        item = self.flat[i]
        payload = item.payload
        step: dict = {"nodeId": self.node_ids[i], "parentId": parent_id}
        start = self._set_time(step, "startTime", self.clock.next_known[i])
        step["_start"] = start
        if self.clock.known[i] is None:
            step["startInferred"] = True
        step["status"] = "success"
        name = _name(payload)
        step["name"] = name if name is not None else kind
        step["type"] = item.type
        step["kind"] = step_kind
        for key in _KEEP_KEYS:
            if key in payload and payload[key] is not None:
                step[key] = payload[key]
        merged, given, _ = _variables(payload)
        if merged:
            step["variables"] = merged
        if given:
            step["variablesGiven"] = given
        if item.malformed:
            step["malformed"] = True
        self._scan_fields(step, item)
        error = _error_text(payload)
        if error:
            step["status"] = "failed"
            step["errorMessage"] = error
        return step

    def _finish(self, step: dict, end: int | None, *, inferred: bool) -> None:
        end = self._set_time(step, "endTime", end)
        start = step.pop("_start", None)
        if start is not None and end is not None and end < start:
            step["endTime"] = step["startTime"]
            step["outOfOrder"] = True
        if inferred:
            step["endInferred"] = True

    def _action(self, i: int, parent_id: str, scope_end: int | None) -> dict:
        step = self._base_step(i, self.flat[i].type, "action", parent_id)
        recorded = self.clock.recorded_end[i]
        if recorded is None:
            self._finish(step, self._item_end(i), inferred=True)
        else:  # a turn: the participant's answer is a recorded time, within its owner
            if scope_end is not None and recorded > scope_end:
                recorded = scope_end
                step["clamped"] = True
            self._finish(step, recorded, inferred=False)
        self.slots[i] = step
        return step

    # ----------------------------------------------------------- one list
    def _scope(self, indices: list[int], owner_id: str, scope_end: int | None) -> None:
        flat, clock = self.flat, self.clock
        # (bracket kind, group step, flat index of a start marker holding its items nested, else -1)
        open_groups: list[tuple[str, dict, int]] = []

        def current_parent() -> str:
            return open_groups[-1][1]["nodeId"] if open_groups else owner_id

        for i in indices:
            item = flat[i]
            match = _BRACKET.match(item.type)
            kind = _lower_first(match.group(2)) if match else ""
            if open_groups and open_groups[-1][2] >= 0 and not (
                    match and match.group(1) == "ended" and open_groups[-1][0] == kind):
                # A start marker that held its items nested ends with them, unless its
                # end marker comes right after.
                _, nested_group, start_index = open_groups.pop()
                self._finish(nested_group, self._item_end(start_index), inferred=True)
            nested_owner: str
            if item.type in FLOW_MARKERS:
                nested_owner = current_parent()
                if owner_id != self.root["nodeId"] or indices is not self.top:
                    self._scan_fields(self.root, item)  # top-level markers were read with the root
            elif match and match.group(1) == "started":
                group = self._base_step(i, kind, "group", current_parent())
                self.slots[i] = group
                open_groups.append((kind, group, i if item.children else -1))
                nested_owner = group["nodeId"]
            elif match:
                self._close(i, kind, open_groups)
                nested_owner = current_parent()
            else:
                nested_owner = self._action(i, current_parent(), scope_end)["nodeId"]
            if item.children:
                self.work.append((item.children, nested_owner, self._item_end(i)))
        for _, group, start_index in reversed(open_groups):
            if start_index >= 0:
                self._finish(group, self._item_end(start_index), inferred=True)
            else:
                group["unclosed"] = True
                self._finish(group, scope_end, inferred=True)

    def _close(self, i: int, kind: str, open_groups: list[tuple[str, dict, int]]) -> None:
        """An end marker: close the innermost open bracket of its kind (and any opened above it)."""
        item = self.flat[i]
        depth = next((d for d in range(len(open_groups) - 1, -1, -1) if open_groups[d][0] == kind), None)
        if depth is None:
            self.stray += 1
            self._scan_fields(self.root, item)
            return
        here = self.clock.next_known[i]
        while len(open_groups) > depth + 1:
            _, inner, _ = open_groups.pop()
            inner["unclosed"] = True
            self._finish(inner, here, inferred=True)
        _, group, _ = open_groups.pop()
        error = _error_text(item.payload)
        if error:
            group["status"] = "failed"
            previous = group.get("errorMessage")
            group["errorMessage"] = f"{previous}; {error}" if previous else error
        if "dateTime" in item.payload:
            group["endDateTime"] = item.payload["dateTime"]
        self._scan_fields(group, item)
        self._finish(group, here, inferred=self.clock.known[i] is None)
