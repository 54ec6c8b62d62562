"""The flow-instances query body as the official SDK models it, checked and evaluated (pure).

``POST /api/v2/flows/instances/query`` takes a ``CriteriaQuery``
(``purecloudplatformclientv2`` ``models/criteria_query.py``)::

    {"query": [CriteriaGroup, ...]}            # the groups are ANDed

and a ``CriteriaGroup`` (``models/criteria_group.py``) has ``criteria``, **one**
``CriteriaItem``, and ``and``, ``or``, ``not``, each a **list of**
``CriteriaItem`` (not of groups). A ``CriteriaItem`` is ``{key, operator,
value}`` with the SDK's allowed keys and operators. :func:`check_query` refuses
anything else (a nested group, a list under ``criteria``, an unknown key), so
a client that drifts from the SDK's models gets the 400 a strict service would
give. The keys the simulator cannot evaluate are refused with a message that
says so, rather than ignored.

Within one group every part must hold: ``criteria``; every item of ``and``;
at least one item of ``or`` (when given); no item of ``not``.

>>> groups = check_query({"query": [{"and": [
...     {"key": "FlowId", "operator": "eq", "value": "f1"},
...     {"key": "ConversationId", "operator": "eq", "value": "c1"}]}]})
>>> matches(groups, {"flowId": "f1", "conversationId": "c1"}, {"flow": {"execution": []}})
True
>>> check_query({"query": [{"and": [{"criteria": {"key": "FlowId", "operator": "eq", "value": "f1"}}]}]})
Traceback (most recent call last):
...
gctrace_nb.simulator.criteria.QueryError: 'and' is a list of CriteriaItem {key, operator, value}; \
item 1 is a nested group (CriteriaGroup does not nest)
"""

from __future__ import annotations

from typing import Any, Final, Iterable

from .._time import parse_timestamp

__all__ = ["QueryError", "check_query", "matches", "SDK_KEYS", "OPERATORS"]

#: ``CriteriaItem.key``'s allowed values in the SDK (``models/criteria_item.py``).
SDK_KEYS: Final = (
    "FlowStartDateTime", "FlowEndDateTime", "ConversationId", "WorkitemId", "FlowType", "FlowId",
    "FlowErrorReason", "FlowWarningReason", "FlowAlternateExecutionId", "FlowObjectExecutionId", "FlowActionId",
    "FlowActionType", "FlowActionOutputPathId", "FlowActionOutputPathName", "FlowActionIdOutputPathId",
    "FlowActionIdOutputPathName", "FlowActionTypeOutputPathId", "FlowActionTypeOutputPathName", "BotId",
    "BotErrorReason", "BotFlowExecutionId", "BotObjectExecutionId",
)
#: ``CriteriaItem.operator``'s allowed values in the SDK.
OPERATORS: Final = ("eq", "gt", "gte", "lt", "lte", "not", "begins", "not_null")
#: The keys the simulator evaluates, and the query-result field each reads.
_ENTITY_FIELDS: Final = {
    "ConversationId": "conversationId", "FlowId": "flowId", "FlowStartDateTime": "startDateTime",
    "FlowEndDateTime": "endDateTime", "FlowErrorReason": "flowErrorReason",
    "FlowWarningReason": "flowWarningReason", "FlowType": "flowType",
}
_TIME_KEYS: Final = frozenset({"FlowStartDateTime", "FlowEndDateTime"})
_GROUP_KEYS: Final = ("criteria", "and", "or", "not")
_ITEM_KEYS: Final = frozenset({"key", "operator", "value"})


class QueryError(ValueError):
    """A query body the SDK's models do not allow (the simulator answers 400 with this text)."""


def _check_item(item: Any, where: str) -> dict:
    if not isinstance(item, dict):
        raise QueryError(f"{where} must be a CriteriaItem {{key, operator, value}}, got {type(item).__name__}")
    if any(k in item for k in _GROUP_KEYS):
        raise QueryError(f"{where} is a nested group (CriteriaGroup does not nest)")
    unknown = sorted(set(item) - _ITEM_KEYS)
    if unknown:
        raise QueryError(f"{where} has unknown field(s) {', '.join(map(repr, unknown))}: a CriteriaItem is "
                         "{key, operator, value}")
    key, op, value = item.get("key"), item.get("operator"), item.get("value")
    if not isinstance(key, str) or key.lower() not in {k.lower() for k in SDK_KEYS}:
        raise QueryError(f"Invalid criteria key {key!r} in {where}: expected one of {', '.join(SDK_KEYS)}")
    key = next(k for k in SDK_KEYS if k.lower() == key.lower())
    if key not in _ENTITY_FIELDS and key != "FlowActionId":
        raise QueryError(f"criteria key {key} is valid, but the simulator does not evaluate it "
                         f"(it evaluates {', '.join(sorted([*_ENTITY_FIELDS, 'FlowActionId']))})")
    if not isinstance(op, str) or op.lower() not in OPERATORS:
        raise QueryError(f"Invalid criteria operator {op!r} in {where}: expected one of {', '.join(OPERATORS)}")
    op = op.lower()
    if op != "not_null" and not isinstance(value, str):
        raise QueryError(f"criteria value for {key} in {where} must be a string")
    if key in _TIME_KEYS and op != "not_null" and parse_timestamp(value) is None:
        raise QueryError(f"criteria value for {key} in {where} is not an ISO-8601 date-time: {value!r}")
    return {"key": key, "operator": op, "value": value}


def _check_group(group: Any, n: int) -> dict:
    where = f"query group {n}"
    if not isinstance(group, dict):
        raise QueryError(f"{where} must be a CriteriaGroup object, got {type(group).__name__}")
    unknown = sorted(set(group) - set(_GROUP_KEYS))
    if unknown:
        raise QueryError(f"{where} has unknown field(s) {', '.join(map(repr, unknown))}: a CriteriaGroup has "
                         "criteria, and, or, not")
    out: dict = {}
    if group.get("criteria") is not None:
        if isinstance(group["criteria"], list):
            raise QueryError(f"'criteria' in {where} is one CriteriaItem, not a list (use 'and' for several)")
        out["criteria"] = _check_item(group["criteria"], f"'criteria' in {where}")
    for part in ("and", "or", "not"):
        items = group.get(part)
        if items is None:
            continue
        if not isinstance(items, list):
            raise QueryError(f"'{part}' in {where} must be a list of CriteriaItem")
        if items:
            out[part] = [_check_item(item, f"'{part}' is a list of CriteriaItem {{key, operator, value}}; "
                                           f"item {k}") for k, item in enumerate(items, 1)]
    if not out:
        raise QueryError(f"{where} has no criteria (give criteria, and, or or not)")
    return out


def check_query(body: Any) -> list[dict]:
    """Return the checked groups of a ``CriteriaQuery`` body, or raise :class:`QueryError`."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), list) or not body["query"]:
        raise QueryError('The body must be a CriteriaQuery {"query": [CriteriaGroup, ...]} with at least one '
                         "criteria group")
    unknown = sorted(set(body) - {"query"})
    if unknown:
        raise QueryError(f"unknown field(s) {', '.join(map(repr, unknown))}: a CriteriaQuery has only query")
    return [_check_group(group, n) for n, group in enumerate(body["query"], 1)]


def matches(groups: list[dict], entity: dict, doc: dict) -> bool:
    """Whether one instance (its query result and its document) satisfies every group."""
    return all(_group_holds(group, entity, doc) for group in groups)


def _group_holds(group: dict, entity: dict, doc: dict) -> bool:
    if "criteria" in group and not _holds(group["criteria"], entity, doc):
        return False
    if not all(_holds(item, entity, doc) for item in group.get("and", ())):
        return False
    if "or" in group and not any(_holds(item, entity, doc) for item in group["or"]):
        return False
    return not any(_holds(item, entity, doc) for item in group.get("not", ()))


def _holds(item: dict, entity: dict, doc: dict) -> bool:
    key, op, want = item["key"], item["operator"], item["value"]
    if key == "FlowActionId":
        have: list = [str(p["actionId"]) for p in _payloads(doc["flow"]["execution"]) if p.get("actionId")]
    else:
        have = [entity.get(_ENTITY_FIELDS[key])]
    if op == "not_null":
        return any(v is not None for v in have)
    if key in _TIME_KEYS:
        want = parse_timestamp(want)
        have = [parse_timestamp(v) for v in have]
    for v in have:
        if v is None:
            continue
        if ((op == "eq" and v == want) or (op == "not" and v != want) or (op == "gt" and v > want)
                or (op == "gte" and v >= want) or (op == "lt" and v < want) or (op == "lte" and v <= want)
                or (op == "begins" and isinstance(v, str) and v.startswith(want))):
            return True
    return False


def _payloads(items: list) -> Iterable[dict]:
    stack = [iter(items)]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        for payload in item.values() if isinstance(item, dict) else ():
            if isinstance(payload, dict):
                yield payload
                stack.append(iter(payload.get("execution") or []))
