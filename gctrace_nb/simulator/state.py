"""What the simulator holds: its records and jobs, and the seeded execution history it serves.

The :class:`~gctrace_nb.simulator.Simulator` keeps these in plain attributes
(``jobs``, ``history_jobs``, ``requests``, ``webhook_deliveries``, ...) under its
lock; the route modules read and change them.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .history_docs import generate_execution_document

__all__ = ["RecordedRequest", "WebhookDelivery", "DebugJob", "HistoryJob", "HistoryData", "build_history"]

#: The flows of the seeded execution history: (name, flow type).
HISTORY_FLOWS = (
    ("Inbound Main", "INBOUNDCALL"),
    ("Billing IVR", "INBOUNDCALL"),
    ("After Hours", "INBOUNDCALL"),
)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the simulator received (``Authorization`` and secrets redacted)."""

    method: str
    path: str
    query: dict
    headers: dict
    status: int
    time: float
    body: str = ""
    correlation_id: str = ""

    @property
    def had_authorization(self) -> bool:
        """Whether the request carried an ``Authorization`` header."""
        return any(k.lower() == "authorization" for k in self.headers)


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST the webhook sink received, and the status it answered."""

    path: str
    headers: dict
    body: bytes
    time: float
    status: int

    def json(self) -> Any:
        """Return the body decoded as JSON."""
        return json.loads(self.body.decode("utf-8"))


@dataclass
class DebugJob:
    """A debug-trace job: what was submitted and the exact steps it serves."""

    job_id: str
    flow_id: str
    action_invocation_id: str
    request: dict
    submitted_at: float
    seed: int
    steps: list
    status: str = "in_progress"
    message: str | None = None
    polls: int = 0


@dataclass
class HistoryJob:
    """An execution-history download job."""

    job_id: str
    ids: list
    submitted_at: float
    state: str = "Registered"
    entities: list = field(default_factory=list)
    polls: int = 0


@dataclass
class HistoryData:
    """The org's flow execution history: its flows, the query index and the documents."""

    flows: dict[str, str]  # flow id -> name
    instances: list[dict]  # FlowExecutionDataQueryResult entries, oldest first
    documents: dict[str, dict]  # instance id -> execution document


def build_history(seed: int, count: int, anchor: datetime | None) -> HistoryData:
    """Return ``count`` seeded flow executions spread over the 9 days before ``anchor`` (default: now)."""
    rng = random.Random(seed ^ 0xF10F)
    anchor_ms = int(((anchor or datetime.now(timezone.utc)).timestamp()) * 1000)
    flows = [(str(uuid.UUID(int=rng.getrandbits(128), version=4)), name, kind) for name, kind in HISTORY_FLOWS]
    instances: list[dict] = []
    documents: dict[str, dict] = {}
    conversation = None
    for _ in range(count):
        if conversation is None or rng.random() < 0.7:
            conversation = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        flow_id, flow_name, flow_type = flows[0] if rng.random() < 0.6 else rng.choice(flows)
        start_ms = anchor_ms - rng.randint(60_000, 9 * 86_400_000)
        instance_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        doc = generate_execution_document(rng.getrandbits(32), conversation, flow_id, flow_name=flow_name,
                                          start=start_ms, fail_payment=rng.random() < 0.5)
        f = doc["flow"]
        # FlowExecutionDataQueryResult in the SDK; flowType in lower case, reasons "NONE"
        instances.append({
            "id": instance_id,
            "name": f"{flow_name} {f['startDateTime']}",
            "startDateTime": f["startDateTime"],
            "endDateTime": f["endDateTime"],
            "flowId": flow_id,
            "flowVersion": f["flowVersion"],
            "conversationId": conversation,
            "flowType": flow_type.lower(),
            "flowErrorReason": f["flowErrorReason"],
            "flowWarningReason": f["flowWarningReason"],
            "flowName": flow_name,
            "selfUri": f"/api/v2/flows/instances/{instance_id}",
        })
        documents[instance_id] = doc
    instances.sort(key=lambda e: (e["startDateTime"], e["id"]))
    return HistoryData({fid: name for fid, name, _ in flows}, instances, documents)
