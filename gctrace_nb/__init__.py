"""gctrace_nb: trace Genesys Cloud flow executions and analyse them in Jupyter.

Light to import: plotly, graphviz and ipywidgets load only when a renderer or
widget is first used.
"""

from .analysis import Analysis, Bottleneck, analyze_steps
from .errors import (
    ApiError,
    AuthError,
    BadRequest,
    CircuitOpen,
    ConfigError,
    DeadlineExceeded,
    GaveUp,
    GctraceError,
    JobFailed,
    NotFound,
    PermissionDenied,
    RendererUnavailable,
    RetriesExhausted,
    TraceFormatError,
    TraceRequestInvalid,
    WebhookError,
)
from .model import Trace, TraceMetadata, load_trace, save_trace

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "ApiError",
    "AuthError",
    "BadRequest",
    "Bottleneck",
    "CircuitOpen",
    "ConfigError",
    "DeadlineExceeded",
    "GaveUp",
    "GctraceError",
    "JobFailed",
    "NotFound",
    "PermissionDenied",
    "RendererUnavailable",
    "RetriesExhausted",
    "Trace",
    "TraceFormatError",
    "TraceLauncher",
    "TraceMetadata",
    "TraceRequestInvalid",
    "WebhookError",
    "analyze_steps",
    "load_trace",
    "save_trace",
]


def __getattr__(name: str):  # PEP 562: the notebook form loads ipywidgets only when asked for
    if name == "TraceLauncher":
        from .widgets import TraceLauncher

        globals()[name] = TraceLauncher
        return TraceLauncher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
