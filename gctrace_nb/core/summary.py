"""Short human summaries of a trace: plain text for terminals, an HTML card for Jupyter.

Both read :class:`~gctrace_nb.core.analysis.Analysis` only. Every string from the
trace is escaped (ids may hold ``<``, ``&``, quotes or newlines).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from .._format import fmt_ms
from .._text import printable

if TYPE_CHECKING:  # pragma: no cover
    from .model import Trace

__all__ = ["text_summary", "html_summary"]

_MAX_LISTED = 12


_fmt_ms = fmt_ms  # one rule for terminal and HTML: 15,569 ms, 1,234.5 ms


def text_summary(trace: "Trace") -> str:
    """Readable lines: totals, bottleneck, critical path with ms, failures, anomalies."""
    a = trace.analysis
    m = trace.metadata
    lines = []
    title = trace.name or m.flow_id or "trace"
    lines.append(f"Trace {title}")
    if m.flow_id or m.job_id:
        lines.append(f"  flow {m.flow_id or '-'}  job {m.job_id or '-'}  source {m.source}")
    lines.append(
        f"  steps {a.steps_total} (valid {a.valid_steps}, accuracy {a.accuracy_rate:.2%})  total {_fmt_ms(a.total_ms)}"
    )
    if m.retrieval_latency_ms is not None:
        lines.append(f"  retrieval latency {_fmt_ms(m.retrieval_latency_ms)}")
    if a.bottleneck:
        lines.append(f"  bottleneck {a.bottleneck.node_id}  {_fmt_ms(a.bottleneck.critical_ms)} on the critical path")
    else:
        lines.append("  bottleneck none (no step takes part in the critical path)")
    if a.critical_path:
        lines.append("  critical path:")
        for node_id in a.critical_path:
            lines.append(f"    {node_id:<32} {fmt_ms(a.critical_ms[node_id]):>15}")
    if a.failed_nodes:
        errors = {a.node_ids[i]: a.raw[i].get("errorMessage") for i in range(len(a.node_ids))}
        lines.append(f"  failed ({len(a.failed_nodes)}):")
        for node_id in a.failed_nodes[:_MAX_LISTED]:
            msg = errors.get(node_id)
            lines.append(f"    {node_id}" + (f": {msg}" if msg else ""))
        if len(a.failed_nodes) > _MAX_LISTED:
            lines.append(f"    ... and {len(a.failed_nodes) - _MAX_LISTED} more")
    else:
        lines.append("  failed: none")
    if a.anomalies:
        lines.append(f"  anomalies ({len(a.anomalies)}):")
        for node_id, kind in a.anomalies[:_MAX_LISTED]:
            lines.append(f"    {kind:<17} {node_id or '(no id)'}")
        if len(a.anomalies) > _MAX_LISTED:
            lines.append(f"    ... and {len(a.anomalies) - _MAX_LISTED} more")
    else:
        lines.append("  anomalies: none")
    return printable("\n".join(lines))


def html_summary(trace: "Trace") -> str:
    """A compact HTML card for notebooks (a fragment, not a page)."""
    a = trace.analysis
    m = trace.metadata
    title = escape(trace.name or m.flow_id or "trace")
    rows = [
        ("Flow", m.flow_id or "-"),
        ("Job", m.job_id or "-"),
        ("Steps", f"{a.steps_total} (valid {a.valid_steps})"),
        ("Accuracy", f"{a.accuracy_rate:.2%}"),
        ("Total", _fmt_ms(a.total_ms)),
        ("Retrieval latency", _fmt_ms(m.retrieval_latency_ms)),
        (
            "Bottleneck",
            f"{a.bottleneck.node_id} ({_fmt_ms(a.bottleneck.critical_ms)})" if a.bottleneck else "none",
        ),
        ("Failed", ", ".join(a.failed_nodes[:_MAX_LISTED]) or "none"),
        ("Anomalies", ", ".join(f"{k}:{i or '(no id)'}" for i, k in a.anomalies[:_MAX_LISTED]) or "none"),
    ]
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{escape(k)}</th><td>{escape(str(v))}</td></tr>"
        for k, v in rows
    )
    path = "".join(
        f"<li><code>{escape(n)}</code> {fmt_ms(a.critical_ms[n])}</li>" for n in a.critical_path[:_MAX_LISTED]
    )
    more = f"<li>... {len(a.critical_path) - _MAX_LISTED} more</li>" if len(a.critical_path) > _MAX_LISTED else ""
    status = "failed" if a.failed_nodes else "ok"
    return (
        f"<div class='gctrace-summary' data-status='{status}'>"
        f"<strong>Trace {title}</strong>"
        f"<table>{body}</table>"
        f"<details><summary>Critical path ({len(a.critical_path)} steps)</summary><ol>{path}{more}</ol></details>"
        "</div>"
    )
