"""gctrace_nb: trace Genesys Cloud flow executions and analyse them in Jupyter.

Light to import: plotly, graphviz and ipywidgets load only when a renderer or
widget is first used.
"""

import logging as _logging

from ._lazy import lazy_exports as _lazy_exports

from .core.analysis import Analysis, Bottleneck, analyze_steps
from .errors import (
    ApiError,
    AuthError,
    BadRequest,
    Cancelled,
    CircuitOpen,
    ClusterUnavailable,
    ConfigError,
    DeadlineExceeded,
    GaveUp,
    GctraceError,
    JobFailed,
    NotFound,
    PermissionDenied,
    RendererUnavailable,
    RetriesExhausted,
    StorageError,
    TraceFormatError,
    TraceRequestInvalid,
    WebhookError,
)
from .core.model import Trace, TraceMetadata, load_trace, save_trace

__version__ = "0.1.0"

# A library logs; the application decides where it goes. Without this, Python's
# last-resort handler would print our warnings on stderr next to the CLI's own.
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

# Names that live in modules with heavy imports (requests, plotly, graphviz,
# ipywidgets, numpy): resolved on first use so ``import gctrace_nb`` stays light.
_LAZY = {
    "Settings": "api.config",
    "GenesysClient": "api.client",
    "TraceRequest": "api.request",
    "Simulator": "simulator",
    "Faults": "simulator",
    "generate_trace": "simulator",
    "dag": "render",
    "dag_svg": "render",
    "gantt": "render",
    "export_report": "report",
    "report_html": "report",
    "build_summary": "delivery.webhook",
    "post_summary": "delivery.webhook",
    "WebhookSender": "delivery.webhook",
    "flush_outbox": "delivery.webhook",
    "configure_audit_log": "delivery.audit",
    "load_traces": "batch",
    "TraceSet": "batch",
    "compare": "batch",
    "compare_chart": "batch.comparison",
    "fetch_history_traces": "api.history",
    "run_action_test": "api.history",
    "TraceLauncher": "ui.launcher",
    "watch": "api.live",
    "LiveView": "ui.live",
}


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)

__all__ = [
    "Analysis",
    "ApiError",
    "AuthError",
    "BadRequest",
    "Bottleneck",
    "Cancelled",
    "CircuitOpen",
    "ClusterUnavailable",
    "ConfigError",
    "DeadlineExceeded",
    "Faults",
    "GaveUp",
    "GctraceError",
    "GenesysClient",
    "JobFailed",
    "LiveView",
    "NotFound",
    "PermissionDenied",
    "RendererUnavailable",
    "RetriesExhausted",
    "Settings",
    "Simulator",
    "StorageError",
    "Trace",
    "TraceFormatError",
    "TraceLauncher",
    "TraceMetadata",
    "TraceRequest",
    "TraceRequestInvalid",
    "TraceSet",
    "WebhookError",
    "WebhookSender",
    "analyze_steps",
    "build_summary",
    "compare",
    "compare_chart",
    "configure_audit_log",
    "dag",
    "dag_svg",
    "export_report",
    "fetch_history_traces",
    "flush_outbox",
    "gantt",
    "generate_trace",
    "load_trace",
    "load_traces",
    "post_summary",
    "report_html",
    "run_action_test",
    "save_trace",
    "watch",
]
