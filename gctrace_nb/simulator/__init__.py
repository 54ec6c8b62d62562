"""An embedded Genesys Cloud simulator and seeded trace data, for tests, demos and notebooks.

* :class:`Simulator`: a real HTTP server on ``127.0.0.1`` speaking OAuth, the
  debug-trace contract, flow execution history, data-action tests and a webhook sink.
* :class:`Faults`: what it gets wrong on purpose (429s, 5xx bursts, outages, ...).
* :func:`generate_trace` / :func:`generate_dirty_trace`: seeded debug traces.
* :func:`generate_execution_document`: seeded flow execution-history documents.

Only the standard library is used here, so importing this package is cheap.
"""

from .faults import Faults
from .generator import generate_dirty_trace, generate_trace
from .history_docs import generate_execution_document
from .server import DebugJob, HistoryJob, RecordedRequest, Simulator, WebhookDelivery

__all__ = [
    "DebugJob",
    "Faults",
    "HistoryJob",
    "RecordedRequest",
    "Simulator",
    "WebhookDelivery",
    "generate_dirty_trace",
    "generate_execution_document",
    "generate_trace",
]
