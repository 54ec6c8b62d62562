"""Short human summaries of a trace: the headline, plain text for terminals, an HTML card for Jupyter.

Every view leads with the same answer to "what is slow?", built once by
:func:`headline`: the bottleneck by name with its id beside it, its critical
milliseconds and its share of the end-to-end time, then the failures and the
anomalies in one line each. Steps are named by :func:`step_label` everywhere
(:mod:`gctrace_nb.core.names`: the report, the DAG, the timeline, the batch page).

All of it reads :class:`~gctrace_nb.core.analysis.Analysis` only. Every string from
the trace is escaped (ids may hold ``<``, ``&``, quotes or newlines).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Final

from .._format import fmt_ms  # the one millisecond format: 15,569 ms, 1,234.5 ms
from .._text import printable
from .names import step_label, step_name

if TYPE_CHECKING:  # pragma: no cover
    from .analysis import Analysis
    from .model import Trace

__all__ = [
    "Headline",
    "headline",
    "headline_html",
    "step_label",
    "step_names",
    "fmt_share",
    "steps_count_text",
    "text_summary",
    "html_summary",
]

_MAX_LISTED: Final = 12
_LINE_LISTED: Final = 3  # failures named in the headline's one line
_ERROR_CHARS: Final = 80
#: The headline's colours: the bottleneck's own (the DAG fills its node with it), failures, anomalies.
BOTTLENECK_COLOR: Final = "#c2410c"
FAILED_COLOR: Final = "#b42318"
ANOMALY_COLOR: Final = "#8a6100"
_FONT: Final = "-apple-system,\"Segoe UI\",Helvetica,Arial,sans-serif"


def fmt_share(share: float | None) -> str:
    """Format a share (0..1) as a percentage a reader takes in at once.

    >>> fmt_share(0.4), fmt_share(0.2798), fmt_share(0.042), fmt_share(0.0026), fmt_share(0.0001), fmt_share(0)
    ('40%', '28%', '4.2%', '0.3%', '<0.1%', '0%')
    """
    if share is None:
        return "n/a"
    pct = share * 100
    if pct == 0:
        return "0%"
    if pct < 0.05:
        return "<0.1%"
    if pct < 9.95:
        return f"{pct:.1f}".rstrip("0").rstrip(".") + "%"
    return f"{pct:.0f}%"


def step_names(a: "Analysis") -> tuple[str | None, ...]:
    """Return each kept step's name (``name``, ``actionName``, ...), ``None`` where it has none."""
    return tuple(step_name(step) for step in a.raw)


def _one_line(text: str | None) -> str:
    first = " ".join((text or "").split())
    return first if len(first) <= _ERROR_CHARS else first[: _ERROR_CHARS - 1] + "…"


@dataclass(frozen=True)
class Headline:
    """The answer every picture leads with. Build it with :func:`headline`.

    ``share`` is the bottleneck's critical time over the trace's end-to-end
    time (0..1); the ``*_line`` strings are one line each, ready to print.
    """

    bottleneck_id: str | None
    bottleneck_name: str | None
    critical_ms: float | None
    total_ms: float
    share: float | None
    failed: tuple[tuple[str, str | None, str | None], ...]  # (node id, name, error message)
    anomaly_kinds: tuple[tuple[str, int], ...]  # (kind, count), most frequent first

    @property
    def bottleneck_line(self) -> str:
        """``Balance service (balance-http) · 8,500 ms · 40% of 21,400 ms``."""
        if self.bottleneck_id is None:
            return f"No bottleneck: no step takes part in the critical path (total {fmt_ms(self.total_ms)})"
        label = step_label(self.bottleneck_name, self.bottleneck_id)
        return f"{label} · {fmt_ms(self.critical_ms)} · {fmt_share(self.share)} of {fmt_ms(self.total_ms)}"

    @property
    def failures_line(self) -> str:
        """``2 failed: Authorize (pay-auth-1): card declined; ...``; many failures are counted by step name."""
        if not self.failed:
            return "No failed steps"
        if len(self.failed) <= _LINE_LISTED:
            named = []
            for node_id, name, error in self.failed:
                text = step_label(name, node_id)
                named.append(f"{text}: {_one_line(error)}" if error else text)
            return f"{len(self.failed)} failed: " + "; ".join(named)
        by_name = Counter(name or node_id for node_id, name, _ in self.failed)
        top = ", ".join(f"{name} ×{n}" for name, n in sorted(by_name.items(), key=lambda kv: (-kv[1], kv[0]))[:_LINE_LISTED])
        more = f", … {len(by_name) - _LINE_LISTED} more" if len(by_name) > _LINE_LISTED else ""
        errors = Counter(_one_line(e) for _, _, e in self.failed if e)
        common = f"; most common error: {errors.most_common(1)[0][0]}" if errors else ""
        return f"{len(self.failed)} failed: {top}{more}{common}"

    @property
    def anomalies_line(self) -> str:
        total = sum(n for _, n in self.anomaly_kinds)
        if not total:
            return "No anomalies"
        kinds = ", ".join(f"{n} {kind}" for kind, n in self.anomaly_kinds)
        return f"{total} {'anomaly' if total == 1 else 'anomalies'}: {kinds}"

    def lines(self) -> list[str]:
        """The three lines: bottleneck, failures, anomalies."""
        return [f"Bottleneck: {self.bottleneck_line}", self.failures_line, self.anomalies_line]


def headline(a: "Analysis") -> Headline:
    """Return the headline of an analysis (see :class:`Headline`).

    >>> from gctrace_nb.core.analysis import analyze_steps
    >>> a = analyze_steps([
    ...     {"nodeId": "root", "startTime": 0, "endTime": 21400},
    ...     {"nodeId": "menu", "parentId": "root", "startTime": 0, "endTime": 6000},
    ...     {"nodeId": "balance-http", "name": "Balance service", "parentId": "root", "startTime": 6000, "endTime": 14500},
    ...     {"nodeId": "route", "parentId": "root", "startTime": 14500, "endTime": 21400, "status": "failed"},
    ... ])
    >>> for line in headline(a).lines(): print(line)
    Bottleneck: Balance service (balance-http) · 8,500 ms · 40% of 21,400 ms
    1 failed: route
    No anomalies
    """
    names = step_names(a)
    bn = a.bottleneck
    if bn is not None:
        name = names[a.index_of[bn.node_id]]
        share = bn.critical_ms / a.total_ms if a.total_ms > 0 else None
    else:
        name, share = None, None
    errors = {a.node_ids[i]: a.raw[i].get("errorMessage") for i in range(len(a.node_ids))}
    failed = tuple(
        (node_id, names[a.index_of[node_id]], e if isinstance(e, str) else (None if e is None else str(e)))
        for node_id in a.failed_nodes
        for e in (errors.get(node_id),)
    )
    kinds = Counter(kind for _, kind in a.anomalies)
    return Headline(
        bottleneck_id=bn.node_id if bn else None,
        bottleneck_name=name,
        critical_ms=bn.critical_ms if bn else None,
        total_ms=a.total_ms,
        share=share,
        failed=failed,
        anomaly_kinds=tuple(sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def headline_html(a: "Analysis", *, anchor: str | None = None) -> str:
    """Return the headline as an HTML fragment with inline styles (it looks the same in a report or a notebook).

    ``anchor``: the element id prefix of a report section; the failures line then
    links to its failed-steps table and the anomalies line to its anomalies table.
    """
    h = headline(a)
    if h.bottleneck_id is not None:
        name = h.bottleneck_name or h.bottleneck_id
        ident = (
            f" <code style='font-size:0.8em;color:#57606a'>{escape(h.bottleneck_id)}</code>"
            if h.bottleneck_name and h.bottleneck_name != h.bottleneck_id else ""
        )
        lead = (
            f"<span style='color:#57606a;font-size:0.8em;text-transform:uppercase;letter-spacing:0.04em'>Bottleneck</span> "
            f"<b class='gct-bottleneck-name' style='color:{BOTTLENECK_COLOR}'>{escape(name)}</b>{ident}"
            f" · <b>{escape(fmt_ms(h.critical_ms))}</b>"
            f" · <b>{escape(fmt_share(h.share))}</b> of {escape(fmt_ms(h.total_ms))}"
        )
    else:
        lead = escape(h.bottleneck_line)
    one_line = "white-space:nowrap;overflow:hidden;text-overflow:ellipsis"
    fail_style = (f"color:{FAILED_COLOR};font-weight:600" if h.failed else "color:#1a7f37") + f";{one_line}"
    anom_style = (f"color:{ANOMALY_COLOR}" if h.anomaly_kinds else "color:#57606a") + f";{one_line}"
    fail_text = escape(h.failures_line)
    anom_text = escape(h.anomalies_line)
    if anchor and h.failed:
        fail_text = f"<a href='#{escape(anchor)}-failed' style='color:inherit'>{fail_text}</a>"
    if anchor and h.anomaly_kinds:
        anom_text = f"<a href='#{escape(anchor)}-anomalies' style='color:inherit'>{anom_text}</a>"
    return (
        f"<div class='gct-headline' style='border-left:6px solid {BOTTLENECK_COLOR};background:#fff7ed;"
        f"padding:8px 14px;margin:6px 0 12px;line-height:1.6;font-family:{_FONT}'>"
        f"<div class='gct-headline-bottleneck' style='font-size:1.3em'>{lead}</div>"
        f"<div class='gct-headline-failures' style='{fail_style}' title='{escape(h.failures_line)}'>{'✗' if h.failed else '✓'} {fail_text}</div>"
        f"<div class='gct-headline-anomalies' style='{anom_style}' title='{escape(h.anomalies_line)}'>{'⚠' if h.anomaly_kinds else '·'} {anom_text}</div>"
        "</div>"
    )


def text_summary(trace: "Trace") -> str:
    """Readable lines: the headline, totals, critical path with ms, failures, anomalies."""
    a = trace.analysis
    m = trace.metadata
    names = step_names(a)
    h = headline(a)
    lines = []
    title = trace.name or m.flow_id or "trace"
    lines.append(f"Trace {title}")
    if h.bottleneck_id is not None:
        lines.append(f"  bottleneck {h.bottleneck_line}")
    else:
        lines.append("  bottleneck none (no step takes part in the critical path)")
    lines.append(f"  {h.failures_line}")
    lines.append(f"  {h.anomalies_line}")
    if m.flow_id or m.job_id:
        lines.append(f"  flow {m.flow_id or '-'}  job {m.job_id or '-'}  source {m.source}")
    lines.append(
        f"  steps {a.steps_total} (valid {a.valid_steps}, accuracy {a.accuracy_rate:.2%})  total {fmt_ms(a.total_ms)}"
    )
    if m.retrieval_latency_ms is not None:
        lines.append(f"  retrieval latency {fmt_ms(m.retrieval_latency_ms)}")
    if a.critical_path:
        lines.append("  critical path:")
        for node_id in a.critical_path:
            label = step_label(names[a.index_of[node_id]], node_id)
            lines.append(f"    {label:<48} {fmt_ms(a.critical_ms[node_id]):>14}")
    if a.failed_nodes:
        lines.append(f"  failed ({len(a.failed_nodes)}):")
        for node_id, name, msg in h.failed[:_MAX_LISTED]:
            lines.append(f"    {step_label(name, node_id)}" + (f": {msg}" if msg else ""))
        if len(a.failed_nodes) > _MAX_LISTED:
            lines.append(f"    ... and {len(a.failed_nodes) - _MAX_LISTED} more")
    if a.anomalies:
        lines.append(f"  anomalies ({len(a.anomalies)}):")
        for node_id, kind in a.anomalies[:_MAX_LISTED]:
            lines.append(f"    {kind:<17} {node_id or '(no id)'}")
        if len(a.anomalies) > _MAX_LISTED:
            lines.append(f"    ... and {len(a.anomalies) - _MAX_LISTED} more")
    return printable("\n".join(lines))


def html_summary(trace: "Trace") -> str:
    """A compact HTML card for notebooks (a fragment, not a page): the headline, then the figures."""
    a = trace.analysis
    m = trace.metadata
    names = step_names(a)
    title = escape(trace.name or m.flow_id or "trace")
    rows = [
        ("Flow", m.flow_id or "-"),
        ("Job", m.job_id or "-"),
        ("Steps", steps_count_text(a)),
        ("Accuracy", f"{a.accuracy_rate:.2%}"),
        ("Total", fmt_ms(a.total_ms)),
        ("Retrieval latency", fmt_ms(m.retrieval_latency_ms)),
    ]
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{escape(k)}</th><td>{escape(str(v))}</td></tr>"
        for k, v in rows
    )
    path = "".join(
        f"<tr><td>{escape(step_label(names[a.index_of[n]], n))}</td>"
        f"<td style='text-align:right'>{escape(fmt_ms(a.critical_ms[n]))}</td>"
        f"<td style='text-align:right'>{escape(fmt_share(a.critical_ms[n] / a.total_ms if a.total_ms else None))}</td></tr>"
        for n in a.critical_path[:_MAX_LISTED]
    )
    more = (
        f"<tr><td colspan='3'>… {len(a.critical_path) - _MAX_LISTED} more</td></tr>"
        if len(a.critical_path) > _MAX_LISTED else ""
    )
    status = "failed" if a.failed_nodes else "ok"
    return (
        f"<div class='gctrace-summary' data-status='{status}' style='font-family:{_FONT}'>"
        f"<strong>Trace {title}</strong>"
        f"{headline_html(a)}"
        f"<table>{body}</table>"
        f"<details><summary>Critical path ({len(a.critical_path)} steps)</summary>"
        f"<table><tr><th>Step</th><th>Critical</th><th>Share</th></tr>{path}{more}</table></details>"
        "</div>"
    )


def steps_count_text(a: "Analysis") -> str:
    """How many steps, kept and valid, in the same words wherever they are counted.

    >>> from gctrace_nb.core.analysis import analyze_steps
    >>> steps_count_text(analyze_steps([{"nodeId": "a", "startTime": 0, "endTime": 1}, {"nodeId": "a"}, {}]))
    '3 in the trace: 1 kept (2 dropped: 1 with a duplicate id, 1 without an id), 1 valid'
    >>> steps_count_text(analyze_steps([{"nodeId": "a", "startTime": 0, "endTime": 1}]))
    '1 (1 valid)'
    """
    kept = len(a.node_ids)
    if kept == a.steps_total:
        return f"{a.steps_total} ({a.valid_steps} valid)"
    dropped = Counter(kind for _, _, kind in a.dropped)
    words = {"missing_id": "without an id", "duplicate": "with a duplicate id"}
    why = ", ".join(f"{n} {words.get(kind, kind)}" for kind, n in sorted(dropped.items()))
    return f"{a.steps_total} in the trace: {kept} kept ({a.steps_total - kept} dropped: {why}), {a.valid_steps} valid"
