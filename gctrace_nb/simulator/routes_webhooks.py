"""The webhook sink: ``POST /webhook/...`` records each delivery and answers as the faults say."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .http import Reply, Request, error_body, redact_headers
from .state import WebhookDelivery

if TYPE_CHECKING:
    from .server import Simulator

__all__ = ["sink"]


def sink(sim: Simulator, req: Request) -> Reply:
    """Record the delivery; answer 503 for the first ``webhook_fail_first``, then ``webhook_status``."""
    if req.method != "POST":
        raise Reply(405, error_body(405, "method.not.allowed", "The webhook sink takes POST"))
    with sim._lock:
        faults = sim._faults
        if sim._webhook_fail_left > 0:
            sim._webhook_fail_left -= 1
            status = 503
        else:
            status = int(faults.webhook_status)
        sim._webhooks.append(WebhookDelivery(path=req.path, headers=redact_headers(req.headers.items()),
                                             body=req.body, time=sim.clock(), status=status))
    if faults.webhook_delay_s > 0:
        time.sleep(faults.webhook_delay_s)
    return Reply(status, "ok" if status < 400 else "Service Unavailable" if status == 503 else "error",
                 content_type="text/plain")
