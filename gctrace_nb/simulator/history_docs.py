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


class _Doc:
    """The document being written: the clock, tracking ids and the ids fixed per flow version."""

    def __init__(self, rng: random.Random, flow_id: str, flow_version: str, start_ms: int) -> None:
        self.rng, self.flow_id, self.flow_version = rng, flow_id, flow_version
        self.t = start_ms
        self.tracking = iter(range(1, 10_000))

    def advance(self, lo: int, hi: int) -> int:
        self.t += self.rng.randint(lo, hi)
        return self.t

    def now(self) -> str:
        return format_ms(self.t)

    def fixed(self, what: str) -> str:
        return _fixed_id(self.flow_id, self.flow_version, what)

    def action(self, kind: str, name: str, lo: int, hi: int, *, output_path: str = "__DEFAULT__",
               **payload: Any) -> dict:
        tracking_id = next(self.tracking)
        body: dict = {
            "actionId": self.fixed(f"action/{tracking_id}"),
            "actionName": name,
            "dateTime": self.now(),
            "execution": payload.pop("execution", []),
            "executionId": _uuid(self.rng),
            "outputPathId": output_path if output_path.startswith("__") else self.fixed(
                f"path/{tracking_id}/{output_path}"),
            "trackingId": tracking_id,
        }
        body.update(payload)
        self.advance(lo, hi)
        return {kind: body}


def _menu(d: _Doc) -> dict:
    """A menu: the prompt to the caller, then the caller's choice, as one turn."""
    menu = d.action("menuMenu", "", 0, 0, output_path="choice-2")
    payload = menu["menuMenu"]
    del payload["actionName"]
    payload["menuName"] = "Main menu"
    asked = d.advance(2, 10)
    answered = d.advance(3000, 9000)
    payload["execution"] = [{"turn": {"toParticipant": {"dateTime": format_ms(asked)},
                                      "fromParticipant": {"dateTime": format_ms(answered)}}}]
    d.advance(5, 30)
    return menu


def _task(d: _Doc, failing: bool) -> list[dict]:
    """A task bracket with data actions (the payment one failing, then retried, when ``failing``)."""
    rng = d.rng
    task_id = d.fixed("task/identify")
    items = [{"startedTask": {"dateTime": d.now(), "taskName": "Identify caller", "taskId": task_id,
                              "trackingId": next(d.tracking)}}]
    d.advance(2, 15)
    account = f"ACC-{rng.randint(100000, 999999)}"
    tier = rng.choice(["gold", "silver"])
    items.append(d.action("actionCallData", "CRM lookup", 120, 600,
                          dataActionId="custom_-_crm-lookup",
                          variables=_vars(Task__Phone=f"+1317555{rng.randint(1000, 9999)}"),
                          outputVariables=_vars(Task__AccountId=account, Task__Tier=tier),
                          outputData={"successOutputs": [{"outputName": "accountId", "value": account},
                                                         {"outputName": "customerTier", "value": tier}]}))
    if failing:
        items.append(d.action("actionCallData", "Payment status", 2000, 5000,
                              output_path="failure", dataActionId="custom_-_payment-status",
                              variables=_vars(Task__AccountId=account), outputVariables=[],
                              errors=[{"errorCode": "DATA_ACTION_FAILURE",
                                       "message": "HTTP 504 from payment gateway: upstream request timeout"}]))
        d.advance(200, 800)  # back-off before the retry
    balance = round(rng.uniform(0, 400), 2)
    items.append(d.action("actionCallData", "Payment status (retry)" if failing else "Payment status", 180, 900,
                          dataActionId="custom_-_payment-status", variables=_vars(Task__AccountId=account),
                          outputVariables=_vars(Task__BalanceDue=balance, Task__PastDue=rng.random() < 0.3)))
    items.append(d.action("actionDecision", "Past due?", 2, 12, output_path="__NO__"))
    items.append({"endedTask": {"dateTime": d.now(), "taskName": "Identify caller", "taskId": task_id}})
    d.advance(3, 25)
    return items


def _common_module(d: _Doc) -> list[dict]:
    module_id = d.fixed("module/knowledge")
    items = [{"startedCommonModule": {"dateTime": d.now(), "commonModuleName": "Knowledge lookup",
                                      "commonModuleId": module_id, "commonModuleVersion": "3.0",
                                      "trackingId": next(d.tracking)}}]
    d.advance(2, 10)
    items.append(d.action("actionUpdateData", "Build query", 1, 8,
                          outputVariables=_vars(Task__Query="billing dispute")))
    items.append(d.action("actionCallData", "Knowledge search", 90, 400,
                          dataActionId="custom_-_knowledge-search", variables=_vars(Task__Query="billing dispute"),
                          outputVariables=_vars(Task__ArticleId=f"KB{d.rng.randint(1000, 9999)}"),
                          warnings=[{"warningCode": "SLOW_RESPONSE",
                                     "message": "Response took longer than 250 ms"}]))
    items.append({"endedCommonModule": {"dateTime": d.now(), "commonModuleName": "Knowledge lookup",
                                        "commonModuleId": module_id}})
    d.advance(3, 20)
    return items


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
    d = _Doc(rng, flow_id, flow_version, _start_ms(start, rng))
    flow_start = d.t
    items: list[dict] = [{"startedFlow": {"dateTime": d.now(), "languageTag": "en-us",
                                          "variables": _vars(Flow__EntryPoint="main-number")}}]
    d.advance(5, 40)
    items.append(d.action("actionPlayAudio", "Welcome prompt", 1800, 3500))
    items.append(d.action("actionDecision", "Business hours?", 5, 40, output_path="__YES__"))
    items.append(d.action("actionSetParticipantData", "Tag call", 3, 20))
    items.append(_menu(d))
    items += _task(d, fail_payment is None or fail_payment)
    items += _common_module(d)
    items.append(d.action("actionSetParticipantData", "Set routing data", 3, 20))
    items.append(d.action("actionTransferToAcd", "Transfer to Billing", 40, 200,
                          queueName="Billing", queueId=d.fixed("queue/billing")))
    items.append({"endedFlow": {"dateTime": d.now(), "flowExitReason": "TRANSFER_TO_ACD"}})
    d.advance(1, 30)
    return {"flow": {
        "conversationId": conversation_id,
        "division": {"id": division_id},
        "endDateTime": d.now(),
        "execution": items,
        "flowErrorReason": "NONE",
        "flowId": flow_id,
        "flowName": flow_name,
        "flowType": "INBOUNDCALL",
        "flowVersion": flow_version,
        "flowWarningReason": "NONE",
        "startDateTime": format_ms(flow_start),
    }}
