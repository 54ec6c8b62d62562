"""The notebook's live view: executions of a flow appear, analysed, as they end.

:class:`LiveView` runs :func:`gctrace_nb.api.notifications.watch` in a
background thread (the kernel stays free for other cells) and shows:

* the connection state: connected / reconnecting (and why) / stopped, the
  age of the last heartbeat, reconnects; refreshed every second;
* a table that grows as executions arrive: time, conversation id, total,
  bottleneck by name, failures, and whether the full document or only the
  event's items were available; selecting a row opens that execution's
  summary, DAG and timeline below;
* a running per-node summary over what has arrived: executions, p50 and p95
  duration, failure rate (:meth:`LiveView.node_summary` returns it as a
  polars frame).

Outputs are written with ``Output.append_display_data`` and cleared with
``out.outputs = ()``, so it works (and is tested) without a kernel.

Example:
    >>> view = LiveView(flow_id="5e4f...", client=client)   # doctest: +SKIP
    >>> view                                                # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from html import escape
from typing import TYPE_CHECKING, Any, Final

import ipywidgets as w

from ..api.live import WatchStatus, watch
from ..api.notifications import execution_summary
from .launcher import _Bundle, _dag_bundle, _gantt_bundle, _summary_bundle, describe_error

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

    from ..core.model import Trace

__all__ = ["LiveView", "DETAIL_TABS"]

log = logging.getLogger(__name__)

#: The tabs showing the selected execution.
DETAIL_TABS: Final = ("Summary", "DAG", "Timeline")
_FAILED: Final = frozenset({"failed", "failure", "error"})
_COLUMNS: Final = f"{'time':<9} {'conversation':<14} {'total ms':>10}  {'bottleneck':<28} failures"


def _short(text: Any, width: int) -> str:
    text = " ".join(str(text if text is not None else "-").split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _label(row: dict) -> str:
    ended = str(row.get("ended_at") or "")
    clock = ended[11:19] if len(ended) >= 19 else row["received_at"][11:19]
    failures = ", ".join(row["failed_names"]) if row["failed_names"] else "-"
    mark = " (event items)" if row.get("detail") == "event_items" else ""
    return (f"{clock:<9} {_short(row.get('conversation_id'), 14):<14} {row['total_ms']:>10,.0f}  "
            f"{_short(row.get('bottleneck_name') or '-', 28):<28} {_short(failures, 40)}{mark}")


class LiveView:
    """Watch ``flow_id`` (one id or several) and show each execution as it ends.

    Args:
        flow_id: the flow (or flows) to watch.
        client: a :class:`~gctrace_nb.client.GenesysClient` (default: from the environment).
        count, timeout: stop after this many executions / seconds (default: never).
        start: start watching at once (default); else call :meth:`start`.
        **watch_options: passed to :func:`~gctrace_nb.api.notifications.watch`
            (e.g. ``heartbeat_interval_s``).

    The view's state is in :attr:`traces`, :attr:`rows`, :attr:`error` and
    :attr:`status`; :meth:`wait_for` blocks until executions arrived,
    :meth:`select` opens one, :meth:`stop` ends the watch (deleting its subscriptions).
    """

    def __init__(self, flow_id: str | list[str], *, client: Any = None, count: int | None = None,
                 timeout: float | None = None, start: bool = True, **watch_options: Any) -> None:
        self.flow_ids = [flow_id] if isinstance(flow_id, str) else list(flow_id)
        self.client = client
        self.count, self.timeout = count, timeout
        self.watch_options = watch_options
        self.traces: list["Trace"] = []
        self.rows: list[dict] = []
        self.error: BaseException | None = None
        self._watch: Any = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None

        self.status_html = w.HTML("<b>idle</b>")
        self.header = w.HTML(f"<pre style='margin:0'>{escape(_COLUMNS)}</pre>")
        self.table = w.Select(options=[], rows=10, layout=w.Layout(width="100%"))
        self.table.add_class("gctrace-live-table")  # monospace rows, so the columns line up
        self.table.observe(self._on_select, names="value")
        self.nodes = w.Output()
        self.outputs = {title: w.Output() for title in DETAIL_TABS}
        self.detail = w.Tab(children=[self.outputs[t] for t in DETAIL_TABS])
        for i, title in enumerate(DETAIL_TABS):
            self.detail.set_title(i, title)
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="warning")
        self.stop_button.on_click(lambda _b: self.stop())
        self.widget = w.VBox([
            w.HBox([self.status_html, self.stop_button]),
            w.HTML(f"<b>Executions of {escape(', '.join(self.flow_ids))}</b> (select one to open it)"),
            w.HTML("<style>.gctrace-live-table select{font-family:monospace}</style>"),
            self.header, self.table,
            w.HTML("<b>Per node, over the executions so far</b>"), self.nodes,
            self.detail,
        ])
        if start:
            self.start()

    # ------------------------------------------------------------ display
    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        return self.widget._repr_mimebundle_(include=include, exclude=exclude)

    def __repr__(self) -> str:
        return (f"<LiveView {', '.join(self.flow_ids)}: {len(self.rows)} execution(s), {self.status.line()}; "
                "see .rows, .node_summary(), .select(i)>")

    @property
    def status(self) -> WatchStatus:
        """The watch's connection state now."""
        return self._watch.status if self._watch is not None else WatchStatus("idle")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start watching in a background thread (does nothing while running)."""
        if self.running:
            return
        self._cancel = threading.Event()
        self.error = None
        try:
            self._watch = watch(self.flow_ids, client=self.client, count=self.count, timeout=self.timeout,
                                cancel=self._cancel, **self.watch_options)
        except Exception as exc:  # noqa: BLE001 - bad arguments or settings: shown, not raised
            self._show_error(exc)
            return
        self._watch.on_status = lambda _s: self._refresh_status()
        self.stop_button.disabled = False
        self._thread = threading.Thread(target=self._run, name="gctrace-live", daemon=True)
        self._thread.start()
        self._ticker = threading.Thread(target=self._tick, name="gctrace-live-status", daemon=True)
        self._ticker.start()

    def _run(self) -> None:
        try:
            for trace in self._watch:
                self._add(trace)
        except BaseException as exc:  # noqa: BLE001 - every error ends in the view, not a traceback
            self._show_error(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self.stop_button.disabled = True
            self._refresh_status()
            with self._arrived:
                self._arrived.notify_all()

    def _tick(self) -> None:
        while not self._cancel.wait(1.0) and self.running:
            self._refresh_status()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching; the subscriptions are deleted before the thread ends."""
        self._cancel.set()
        if self._watch is not None:
            self._watch.close()
        if self._thread is not None:
            self._thread.join(timeout)
        self._refresh_status()

    close = stop

    def wait_for(self, n: int, timeout: float | None = None) -> bool:
        """Block until ``n`` executions arrived (True) or the watch stopped / ``timeout`` passed (False)."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._arrived:
            while len(self.rows) < n:
                if not self.running:
                    return False
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._arrived.wait(0.2 if left is None else min(0.2, left))
        return True

    # ------------------------------------------------------------ arrivals
    def _add(self, trace: "Trace") -> None:
        row = execution_summary(trace)
        row["received_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._arrived:
            self.traces.append(trace)
            self.rows.append(row)
            index = len(self.rows) - 1
            self._arrived.notify_all()
        self.table.options = list(self.table.options) + [(_label(row), index)]
        self._show_nodes()

    def _refresh_status(self) -> None:
        if self.error is not None:  # the error stays on show until the next start
            return
        status = self.status
        colour = {"connected": "#2e7d32", "reconnecting": "#ef6c00", "stopped": "#555"}.get(status.state, "#1976d2")
        text = escape(status.line())
        if status.stopped_reason:
            text += escape(f" · ended: {status.stopped_reason}")
        self.status_html.value = f"<span style='color:{colour}'>●</span> {text}"

    def _show_error(self, exc: BaseException) -> None:
        self.error = exc
        title, lines = describe_error(exc)
        body = "".join(f"<br><small>{escape(line)}</small>" for line in lines)
        self.status_html.value = (f"<div style='color:#8a1c1c;background:#fdecea;border-left:4px solid #c62828;"
                                  f"padding:4px 8px'><b>{escape(title)}</b>{body}</div>")

    # ------------------------------------------------------------ node summary
    def node_summary(self) -> "pl.DataFrame":
        """Per node over the executions so far: executions, p50/p95 ms, failure rate (worst p95 first)."""
        import polars as pl

        node, name, duration, failed = [], [], [], []
        with self._lock:
            traces = list(self.traces)
        for trace in traces:
            a = trace.analysis
            for i, node_id in enumerate(a.node_ids):
                if not a.valid[i] or i == a.top:  # the flow itself is the total, already in the table
                    continue
                raw = a.raw[i]
                node.append(node_id)
                name.append(raw.get("name") if isinstance(raw.get("name"), str) else node_id)
                end, start = a.end_us[i], a.start_us[i]
                duration.append((end - start) / 1000.0 if end is not None and start is not None else 0.0)
                failed.append(str(raw.get("status", "")).strip().lower() in _FAILED)
        frame = pl.DataFrame({"node_id": node, "name": name, "duration_ms": duration, "failed": failed},
                             schema={"node_id": pl.String, "name": pl.String, "duration_ms": pl.Float64,
                                     "failed": pl.Boolean})
        return (frame.group_by("node_id")
                .agg(pl.col("name").first(), pl.len().alias("executions"),
                     pl.col("duration_ms").quantile(0.5, "linear").round(1).alias("p50_ms"),
                     pl.col("duration_ms").quantile(0.95, "linear").round(1).alias("p95_ms"),
                     pl.col("failed").mean().round(3).alias("failure_rate"))
                .sort(["p95_ms", "node_id"], descending=[True, False]))

    def _show_nodes(self) -> None:
        try:
            frame = self.node_summary()
            import polars as pl

            with pl.Config(tbl_rows=30, fmt_str_lengths=40):
                bundle = {"text/html": frame.head(30)._repr_html_(), "text/plain": repr(frame.head(30))}
        except Exception as exc:  # noqa: BLE001 - a summary failing must not stop the watch
            log.warning("live view: the node summary failed: %s", exc)
            return
        self.nodes.outputs = ()
        self.nodes.append_display_data(_Bundle(bundle))

    # ------------------------------------------------------------ detail
    def select(self, index: int) -> "Trace":
        """Open execution ``index`` (0 = the first that arrived) below the table; return its trace."""
        if not 0 <= index < len(self.rows):
            raise IndexError(f"no execution {index}: {len(self.rows)} arrived")
        if self.table.value != index:
            self.table.value = index  # the observer shows it
        else:
            self._show(index)
        return self.traces[index]

    def _on_select(self, change: Any) -> None:
        if change.get("new") is not None:
            self._show(change["new"])

    def _show(self, index: int) -> None:
        trace = self.traces[index]
        for title, render in zip(DETAIL_TABS, (_summary_bundle, _dag_bundle, _gantt_bundle)):
            out = self.outputs[title]
            out.outputs = ()
            try:
                bundle = render(trace)
            except Exception as exc:  # noqa: BLE001 - one tab failing must not hide the others
                head, lines = describe_error(exc)
                bundle = {"text/html": f"<b>{escape(head)}</b>" + "".join(f"<br>{escape(x)}" for x in lines),
                          "text/plain": head}
            out.append_display_data(_Bundle(bundle))
        row = self.rows[index]
        if row.get("detail") == "event_items":
            self.outputs["Summary"].append_display_data(_Bundle({
                "text/html": "<small>Built from the event's own items: the history link failed "
                             f"({escape(str(row.get('history_error')))}); every end time is inferred.</small>",
                "text/plain": "built from the event's items (ends inferred)"}))
