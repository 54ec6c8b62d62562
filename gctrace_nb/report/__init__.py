"""Self-contained HTML reports: one jinja environment, the trace page and the batch page."""

from __future__ import annotations

from .._lazy import lazy_exports as _lazy_exports

__all__ = ["export_report", "report_html"]

_LAZY = {"export_report": "trace", "report_html": "trace"}


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)
