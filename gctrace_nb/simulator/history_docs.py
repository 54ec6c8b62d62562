"""Seeded Genesys Cloud flow execution-history documents (pure, stdlib only).

The simulator serves these from its pre-signed download URLs
(``genesys-api.md`` §B, "Flow execution history"). They are our best reading
of the example document on Genesys's help page "Historical flow execution data
overview" and of the official SDK's models, not a copy of what the real
service delivers: nobody has checked them against a live org yet (run
``gctrace history --keep-raw DIR`` against one and compare). The shape::

    {"flow": {
        "conversationId": "0b8c...", "division": {"id": "7d1e..."}, "flowId": "5e4f...",
        "flowName": "Inbound Main", "flowVersion": "12.0", "flowType": "INBOUNDCALL",
        "startDateTime": "2026-01-15T09:00:00.000Z", "endDateTime": "2026-01-15T09:00:41.812Z",
        "flowErrorReason": "NONE", "flowWarningReason": "NONE",
        "execution": [ <item>, <item>, ... ]}}

Each item is an object with exactly one key, the event type, whose payload has a
``dateTime`` (the item's **start only**; an item ends where the next item in
document order starts, the last one at the flow's ``endDateTime``). A ``turn``
has no ``dateTime`` of its own: it runs from ``toParticipant.dateTime`` (the
prompt) to ``fromParticipant.dateTime`` (the caller's answer). Times strictly
increase in document order, nested items included. The sequence is:

1. ``startedFlow`` ``{dateTime, languageTag, variables}``: the flow begins (a marker).
2. ``actionPlayAudio`` welcome prompt; ``actionDecision`` business hours
   (``outputPathId`` ``"__YES__"``); ``actionSetParticipantData``.
3. ``menuMenu`` ``{menuName, ...}``: a menu whose nested ``execution`` holds one
   ``turn`` (the menu prompt to the caller, the caller's digit back).
4. ``startedTask`` ``{dateTime, taskName, taskId, trackingId}`` ... ``endedTask``:
   a task bracket holding ``actionCallData`` to the CRM (its input in
   ``variables``, its result in ``outputVariables`` and ``outputData.successOutputs``),
   a second ``actionCallData`` (payment gateway) that fails (``"errors":
   [{"errorCode": "DATA_ACTION_FAILURE", "message": "HTTP 504 ..."}]``, leaving by
   its failure output path), its retry succeeding, then an ``actionDecision``
   leaving by ``"__NO__"``.
5. ``startedCommonModule`` ``{dateTime, commonModuleName, commonModuleId, commonModuleVersion}``
   ... ``endedCommonModule``: an ``actionUpdateData`` and an ``actionCallData``
   (knowledge service, with ``warnings``).
6. ``actionSetParticipantData``, ``actionTransferToAcd`` ``{queueName, queueId}``.
7. ``endedFlow`` ``{dateTime, flowExitReason}``: the flow ends (a marker).

Action payloads carry ``actionId`` (a UUID, the same for an action in every
instance of a flow version), ``actionName``, ``trackingId`` (an integer, unique
in the flow version), ``executionId`` (a UUID, unique per item), ``outputPathId``
(``"__DEFAULT__"``, ``"__YES__"``, ``"__NO__"`` or a path's UUID) and ``execution``
(``[]`` on plain actions). ``variables``/``outputVariables`` are lists of
``{variableName, value}``. ``flowErrorReason``/``flowWarningReason`` are
``"NONE"``: a data action that fails and takes its failure path is not a flow error.

The flow's ``endDateTime`` minus its ``startDateTime`` is the trace's total;
no item starts before the flow starts or after it ends.

Example:
    >>> doc = generate_execution_document(7, conversation_id="c-1", flow_id="f-1")
    >>> doc["flow"]["conversationId"], list(doc["flow"]["execution"][0])
    ('c-1', ['startedFlow'])
    >>> generate_execution_document(7, conversation_id="c-1", flow_id="f-1") == doc
    True
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from .generator import _start_ms, format_ms

__all__ = ["generate_execution_document"]

_NAMESPACE = uuid.UUID("6f1c1c8e-1b0f-4a55-9c43-3a1f0e1d2b7a")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _fixed_id(flow_id: str, flow_version: str, what: str) -> str:
    """An id fixed for a flow version (an action's id, an output path's id)."""
    return str(uuid.uuid5(_NAMESPACE, f"{flow_id}/{flow_version}/{what}"))


def _vars(**values: Any) -> list[dict]:
    return [{"variableName": name.replace("__", "."), "value": value} for name, value in values.items()]


def generate_execution_document(
    seed: int,
    conversation_id: str | None = None,
    flow_id: str | None = None,
    *,
    flow_name: str = "Inbound Main",
    flow_version: str | None = None,
    start: Any = None,
    fail_payment: bool | None = None,
    division_id: str | None = None,
) -> dict:
    """Return a flow execution-history document (see the module docstring).

    Args:
        seed: the same arguments give the same document.
        conversation_id: defaults to a seeded UUID.
        flow_id: defaults to a seeded UUID.
        flow_name: the flow's name.
        flow_version: defaults to a seeded ``"N.0"``.
        start: the flow's start (datetime, ISO string or epoch ms); default seeded.
        fail_payment: whether the payment data action fails (and is retried);
            by default it does, so the document always has an item with ``errors``.
        division_id: the flow's division; defaults to a seeded UUID.
    """
    rng = random.Random(seed)
    conversation_id = conversation_id or _uuid(rng)
    flow_id = flow_id or _uuid(rng)
    flow_version = flow_version or f"{rng.randint(2, 30)}.0"
    division_id = division_id or _uuid(rng)
    t = _start_ms(start, rng)
    flow_start = t
    tracking = iter(range(1, 10_000))

    def advance(lo: int, hi: int) -> int:
        nonlocal t
        t += rng.randint(lo, hi)
        return t

    def path(tracking_id: int, name: str) -> str:
        return _fixed_id(flow_id, flow_version, f"path/{tracking_id}/{name}")

    def action(kind: str, name: str, lo: int, hi: int, *, output_path: str = "__DEFAULT__", **payload: Any) -> dict:
        tracking_id = next(tracking)
        body: dict = {
            "actionId": _fixed_id(flow_id, flow_version, f"action/{tracking_id}"),
            "actionName": name,
            "dateTime": format_ms(t),
            "execution": payload.pop("execution", []),
            "executionId": _uuid(rng),
            "outputPathId": output_path if output_path.startswith("__") else path(tracking_id, output_path),
            "trackingId": tracking_id,
        }
        body.update(payload)
        advance(lo, hi)
        return {kind: body}

    items: list[dict] = [{"startedFlow": {"dateTime": format_ms(t), "languageTag": "en-us",
                                          "variables": _vars(Flow__EntryPoint="main-number")}}]
    advance(5, 40)
    items.append(action("actionPlayAudio", "Welcome prompt", 1800, 3500))
    items.append(action("actionDecision", "Business hours?", 5, 40, output_path="__YES__"))
    items.append(action("actionSetParticipantData", "Tag call", 3, 20))

    # a menu: the prompt to the caller, then the caller's choice, as one turn
    menu = action("menuMenu", "", 0, 0, output_path="choice-2")
    payload = menu["menuMenu"]
    del payload["actionName"]
    payload["menuName"] = "Main menu"
    advance(2, 10)
    asked = t
    answered = advance(3000, 9000)
    payload["execution"] = [{"turn": {"toParticipant": {"dateTime": format_ms(asked)},
                                      "fromParticipant": {"dateTime": format_ms(answered)}}}]
    advance(5, 30)
    items.append(menu)

    # a task bracket with data actions (one failing, then retried)
    task_id = _fixed_id(flow_id, flow_version, "task/identify")
    items.append({"startedTask": {"dateTime": format_ms(t), "taskName": "Identify caller", "taskId": task_id,
                                  "trackingId": next(tracking)}})
    advance(2, 15)
    account = f"ACC-{rng.randint(100000, 999999)}"
    tier = rng.choice(["gold", "silver"])
    items.append(action("actionCallData", "CRM lookup", 120, 600,
                        dataActionId="custom_-_crm-lookup",
                        variables=_vars(Task__Phone=f"+1317555{rng.randint(1000, 9999)}"),
                        outputVariables=_vars(Task__AccountId=account, Task__Tier=tier),
                        outputData={"successOutputs": [{"outputName": "accountId", "value": account},
                                                       {"outputName": "customerTier", "value": tier}]}))
    failing = fail_payment is None or fail_payment
    if failing:
        items.append(action("actionCallData", "Payment status", 2000, 5000,
                            output_path="failure", dataActionId="custom_-_payment-status",
                            variables=_vars(Task__AccountId=account), outputVariables=[],
                            errors=[{"errorCode": "DATA_ACTION_FAILURE",
                                     "message": "HTTP 504 from payment gateway: upstream request timeout"}]))
        advance(200, 800)  # back-off before the retry
    balance = round(rng.uniform(0, 400), 2)
    items.append(action("actionCallData", "Payment status (retry)" if failing else "Payment status", 180, 900,
                        dataActionId="custom_-_payment-status", variables=_vars(Task__AccountId=account),
                        outputVariables=_vars(Task__BalanceDue=balance, Task__PastDue=rng.random() < 0.3)))
    items.append(action("actionDecision", "Past due?", 2, 12, output_path="__NO__"))
    items.append({"endedTask": {"dateTime": format_ms(t), "taskName": "Identify caller", "taskId": task_id}})
    advance(3, 25)

    # a common-module bracket
    module_id = _fixed_id(flow_id, flow_version, "module/knowledge")
    items.append({"startedCommonModule": {"dateTime": format_ms(t), "commonModuleName": "Knowledge lookup",
                                          "commonModuleId": module_id, "commonModuleVersion": "3.0",
                                          "trackingId": next(tracking)}})
    advance(2, 10)
    items.append(action("actionUpdateData", "Build query", 1, 8,
                        outputVariables=_vars(Task__Query="billing dispute")))
    items.append(action("actionCallData", "Knowledge search", 90, 400,
                        dataActionId="custom_-_knowledge-search", variables=_vars(Task__Query="billing dispute"),
                        outputVariables=_vars(Task__ArticleId=f"KB{rng.randint(1000, 9999)}"),
                        warnings=[{"warningCode": "SLOW_RESPONSE", "message": "Response took longer than 250 ms"}]))
    items.append({"endedCommonModule": {"dateTime": format_ms(t), "commonModuleName": "Knowledge lookup",
                                        "commonModuleId": module_id}})
    advance(3, 20)
    items.append(action("actionSetParticipantData", "Set routing data", 3, 20))
    items.append(action("actionTransferToAcd", "Transfer to Billing", 40, 200,
                        queueName="Billing", queueId=_fixed_id(flow_id, flow_version, "queue/billing")))
    items.append({"endedFlow": {"dateTime": format_ms(t), "flowExitReason": "TRANSFER_TO_ACD"}})
    advance(1, 30)

    return {"flow": {
        "conversationId": conversation_id,
        "division": {"id": division_id},
        "endDateTime": format_ms(t),
        "execution": items,
        "flowErrorReason": "NONE",
        "flowId": flow_id,
        "flowName": flow_name,
        "flowType": "INBOUNDCALL",
        "flowVersion": flow_version,
        "flowWarningReason": "NONE",
        "startDateTime": format_ms(flow_start),
    }}
