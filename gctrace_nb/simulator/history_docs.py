"""Seeded Genesys Cloud flow execution-history documents (pure, stdlib only).

The simulator serves these from its pre-signed download URLs
(``genesys-api.md`` §B, "Flow execution history"). The shape, as the real
service delivers it::

    {"flow": {
        "conversationId": "0b8c...", "flowId": "5e4f...", "flowName": "Inbound Main",
        "flowVersion": "12.0", "flowType": "INBOUNDCALL",
        "startDateTime": "2026-01-15T09:00:00.000Z", "endDateTime": "2026-01-15T09:00:41.812Z",
        "execution": [ <item>, <item>, ... ]}}

Each item is an object with exactly one key, the event type, whose payload has a
``dateTime`` (the item's **start only**; an item ends where the next item in
document order starts, the last one at the flow's ``endDateTime``). Items appear
in strictly increasing ``dateTime`` order, nested items included. The sequence is:

1. ``startedFlow`` ``{dateTime, flowId, flowName}``: the flow begins (a marker, not an action).
2. ``actionPlayAudio`` welcome prompt; ``actionDecision`` business hours
   (``outputPathId``/``outputPathName``); ``actionSetParticipantData``.
3. ``menuMenu``: a menu whose payload has a nested ``execution`` list (play the
   menu prompt, collect the digit); its children start after the menu's
   ``dateTime`` and before the next top-level item.
4. ``startedTask`` ``{dateTime, taskName, taskId, trackingId}`` ... ``endedTask``
   ``{dateTime, taskName, taskId}``: a task bracket. Between the two markers:
   ``actionCallData`` to the CRM with ``inputData``/``outputData`` and ``dataActionId``,
   a second ``actionCallData`` (payment gateway) that fails: it carries
   ``"errors": [{"errorCode": "DATA_ACTION_FAILURE", "message": "HTTP 504 ..."}]``
   and leaves by ``outputPathId`` ``"failure"``, then its retry succeeding,
   then an ``actionDecision``.
5. ``startedCommonModule`` ``{dateTime, commonModuleName, commonModuleId, commonModuleVersion}``
   ... ``endedCommonModule``: a common-module bracket holding an
   ``actionUpdateData`` and an ``actionCallData`` (knowledge service).
6. ``actionSetParticipantData``, ``actionTransferToAcd`` ``{queueName, queueId}``.
7. ``endedFlow`` ``{dateTime, exitReason}``: the flow ends (a marker).

Action payloads carry ``actionId`` (e.g. ``"31"``), ``actionName``,
``trackingId`` (an integer, unique in the flow version), ``executionId`` (a
UUID, unique per item) and ``outputPathId``. Some carry ``variables``
(``{"Flow.Language": "en-us"}``) or ``warnings``.

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


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate_execution_document(
    seed: int,
    conversation_id: str | None = None,
    flow_id: str | None = None,
    *,
    flow_name: str = "Inbound Main",
    flow_version: str | None = None,
    start: Any = None,
    fail_payment: bool | None = None,
) -> dict:
    """Return a realistic flow execution-history document (see the module docstring).

    Args:
        seed: the same arguments give the same document.
        conversation_id: defaults to a seeded UUID.
        flow_id: defaults to a seeded UUID.
        flow_name: the flow's name.
        flow_version: defaults to a seeded ``"N.0"``.
        start: the flow's start (datetime, ISO string or epoch ms); default seeded.
        fail_payment: whether the payment data action fails (and is retried);
            by default it does, so the document always has an item with ``errors``.
    """
    rng = random.Random(seed)
    conversation_id = conversation_id or _uuid(rng)
    flow_id = flow_id or _uuid(rng)
    flow_version = flow_version or f"{rng.randint(2, 30)}.0"
    t = _start_ms(start, rng)
    flow_start = t
    tracking = iter(range(1, 10_000))
    action_no = iter(range(11, 10_000, 3))

    def advance(lo: int, hi: int) -> int:
        nonlocal t
        t += rng.randint(lo, hi)
        return t

    def action(kind: str, name: str, lo: int, hi: int, **payload: Any) -> dict:
        body = {
            "dateTime": format_ms(t),
            "actionId": str(next(action_no)),
            "actionName": name,
            "trackingId": next(tracking),
            "executionId": _uuid(rng),
            "outputPathId": payload.pop("outputPathId", "default"),
        }
        body.update(payload)
        advance(lo, hi)
        return {kind: body}

    items: list[dict] = [{"startedFlow": {"dateTime": format_ms(t), "flowId": flow_id, "flowName": flow_name}}]
    advance(5, 40)
    items.append(action("actionPlayAudio", "Welcome prompt", 1800, 3500,
                        prompt="Prompt.Welcome", variables={"Flow.Language": "en-us"}))
    items.append(action("actionDecision", "Business hours?", 5, 40, outputPathId="true", outputPathName="Yes",
                        expression="Flow.IsOpen"))
    items.append(action("actionSetParticipantData", "Tag call", 3, 20,
                        attributes={"entryPoint": "main-number"}))

    # a menu with nested child items
    menu_payload = {
        "dateTime": format_ms(t), "actionId": str(next(action_no)), "actionName": "Main menu",
        "trackingId": next(tracking), "executionId": _uuid(rng), "outputPathId": "choice-2",
        "menuChoice": "2",
    }
    advance(2, 10)
    nested = [action("actionPlayAudio", "Main menu prompt", 3000, 6000, prompt="Prompt.MainMenu")]
    nested.append(action("actionCollectInput", "Collect choice", 900, 4000, digits="2", outputPathId="success"))
    menu_payload["execution"] = nested
    items.append({"menuMenu": menu_payload})
    advance(5, 30)

    # a task bracket with data actions (one failing, then retried)
    task_id = _uuid(rng)
    items.append({"startedTask": {"dateTime": format_ms(t), "taskName": "Identify caller", "taskId": task_id,
                                  "trackingId": next(tracking)}})
    advance(2, 15)
    account = f"ACC-{rng.randint(100000, 999999)}"
    items.append(action("actionCallData", "CRM lookup", 120, 600,
                        dataActionId="custom_-_crm-lookup", dataActionName="CRM lookup",
                        inputData={"phoneNumber": f"+1317555{rng.randint(1000, 9999)}"},
                        outputData={"accountId": account, "customerTier": rng.choice(["gold", "silver"]),
                                    "openCases": rng.randint(0, 4)},
                        outputPathId="success"))
    if fail_payment is None or fail_payment:
        items.append(action("actionCallData", "Payment status", 2000, 5000,
                            dataActionId="custom_-_payment-status", dataActionName="Payment status",
                            inputData={"accountId": account}, outputData={},
                            outputPathId="failure",
                            errors=[{"errorCode": "DATA_ACTION_FAILURE",
                                     "message": "HTTP 504 from payment gateway: upstream request timeout"}]))
        advance(200, 800)  # back-off before the retry
    items.append(action("actionCallData", "Payment status (retry)" if fail_payment is None or fail_payment
                        else "Payment status", 180, 900,
                        dataActionId="custom_-_payment-status", dataActionName="Payment status",
                        inputData={"accountId": account},
                        outputData={"balanceDue": round(rng.uniform(0, 400), 2), "pastDue": rng.random() < 0.3},
                        outputPathId="success"))
    items.append(action("actionDecision", "Past due?", 2, 12, outputPathId="false", outputPathName="No"))
    items.append({"endedTask": {"dateTime": format_ms(t), "taskName": "Identify caller", "taskId": task_id}})
    advance(3, 25)

    # a common-module bracket
    module_id = _uuid(rng)
    items.append({"startedCommonModule": {"dateTime": format_ms(t), "commonModuleName": "Knowledge lookup",
                                          "commonModuleId": module_id, "commonModuleVersion": "3.0",
                                          "trackingId": next(tracking)}})
    advance(2, 10)
    items.append(action("actionUpdateData", "Build query", 1, 8,
                        variables={"Task.Query": "billing dispute"}))
    items.append(action("actionCallData", "Knowledge search", 90, 400,
                        dataActionId="custom_-_knowledge-search", dataActionName="Knowledge search",
                        inputData={"query": "billing dispute"},
                        outputData={"articleId": f"KB{rng.randint(1000, 9999)}", "score": round(rng.random(), 3)},
                        outputPathId="success",
                        warnings=[{"warningCode": "SLOW_RESPONSE", "message": "Response took longer than 250 ms"}]))
    items.append({"endedCommonModule": {"dateTime": format_ms(t), "commonModuleName": "Knowledge lookup",
                                        "commonModuleId": module_id}})
    advance(3, 20)
    items.append(action("actionSetParticipantData", "Set routing data", 3, 20,
                        attributes={"intent": "billing", "accountId": account}))
    items.append(action("actionTransferToAcd", "Transfer to Billing", 40, 200,
                        queueName="Billing", queueId=_uuid(rng), outputPathId="success"))
    items.append({"endedFlow": {"dateTime": format_ms(t), "exitReason": "TRANSFER_TO_ACD"}})
    advance(1, 30)

    return {"flow": {
        "conversationId": conversation_id,
        "flowId": flow_id,
        "flowName": flow_name,
        "flowVersion": flow_version,
        "flowType": "INBOUNDCALL",
        "startDateTime": format_ms(flow_start),
        "endDateTime": format_ms(t),
        "execution": items,
    }}
