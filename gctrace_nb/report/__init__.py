"""Self-contained HTML reports: one jinja environment, the trace page and the batch page."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["export_report", "report_html"]

_LAZY = {"export_report": "trace", "report_html": "trace"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
