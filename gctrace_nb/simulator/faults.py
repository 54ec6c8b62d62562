"""Fault switches of the simulator: a frozen value, replaced whole while it runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["Faults", "RETRY_AFTER_STYLES", "LOCATION_STYLES", "RESULT_STYLES", "DOWNLOAD_STYLES"]

RETRY_AFTER_STYLES: Final = ("seconds", "http-date", "none")
LOCATION_STYLES: Final = ("absolute", "relative", "bare", "body")
RESULT_STYLES: Final = ("object", "list")
DOWNLOAD_STYLES: Final = ("presigned", "api")


@dataclass(frozen=True)
class Faults:
    """What the simulator gets wrong on purpose. Everything defaults to off.

    API faults apply to ``/api/v2/...`` requests (and to ``/oauth/token`` only when
    ``token_faults`` is true), in this order: ``outage``, ``burst_5xx``, the bearer
    token check, ``rate_429``, ``forbidden``.

    Attributes:
        rate_429: probability (seeded) that an API request is answered 429.
        retry_after_s: the wait a 429 asks for, in whole seconds.
        retry_after_style: ``"seconds"`` (``Retry-After: 2``), ``"http-date"``
            (an IMF-fixdate that far ahead) or ``"none"`` (no header).
        burst_5xx: the next N API requests fail with 502, 503, 504 in turn (the 502
            is an HTML gateway page, the others Genesys error bodies). Setting it
            (again) restarts the count.
        outage: every API request gets 503 until cleared.
        fail_job: jobs (debug and execution-history) end failed (``status`` ``failed`` /
            ``jobState`` ``Failed``).
        fail_job_message: a failed debug job's ``message`` (an execution-history job,
            like the SDK's ``GetFlowExecutionDataJobResult``, carries no message).
        location_style: how a 202 names the job: ``"absolute"`` (``Location:
            {api}/api/v2/jobs/{id}``), ``"relative"`` (``/api/v2/jobs/{id}``), ``"bare"``
            (``Location: {id}``) or ``"body"`` (no Location, ``{"id": ...}`` in the body).
        result_style: completed job ``result`` as ``{"steps": [...]}`` (``"object"``) or
            a bare list (``"list"``).
        forbidden: API requests get 403 ``missing.permissions``.
        token_faults: apply the API faults to ``/oauth/token`` too.
        history_entity_404: the last known instance of an execution-history job comes
            back ``failed: true, statusCode: 404``.
        download_style: execution-history ``downloadUri`` as a pre-signed URL
            (``"presigned"``) or the relative ``/api/v2/downloads/{id}`` form (``"api"``).
        webhook_status: the status the webhook sink answers.
        webhook_fail_first: the next N sink posts get 503 (setting it restarts the count).
        webhook_delay_s: the sink waits this long before answering (to provoke timeouts).
        job_retry_after_s: when above 0, a debug job still ``in_progress`` answers with
            ``Retry-After`` of that many whole seconds (the client waits that long).
    """

    rate_429: float = 0.0
    retry_after_s: int = 1
    retry_after_style: str = "seconds"
    burst_5xx: int = 0
    outage: bool = False
    fail_job: bool = False
    fail_job_message: str = "Flow execution aborted: data action 'payment-status' timed out after 10000 ms"
    location_style: str = "absolute"
    result_style: str = "object"
    forbidden: bool = False
    token_faults: bool = False
    history_entity_404: bool = False
    download_style: str = "presigned"
    webhook_status: int = 200
    webhook_fail_first: int = 0
    webhook_delay_s: float = 0.0
    job_retry_after_s: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate_429 <= 1.0:
            raise ValueError(f"rate_429 must be between 0 and 1, got {self.rate_429}")
        if (self.retry_after_s < 0 or self.burst_5xx < 0 or self.webhook_fail_first < 0 or self.webhook_delay_s < 0
                or self.job_retry_after_s < 0):
            raise ValueError("retry_after_s, burst_5xx, webhook_fail_first, webhook_delay_s and job_retry_after_s "
                             "must be >= 0")
        for name, allowed in (
            ("retry_after_style", RETRY_AFTER_STYLES),
            ("location_style", LOCATION_STYLES),
            ("result_style", RESULT_STYLES),
            ("download_style", DOWNLOAD_STYLES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if not 100 <= int(self.webhook_status) <= 599:
            raise ValueError(f"webhook_status must be an HTTP status, got {self.webhook_status}")
