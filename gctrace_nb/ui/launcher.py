"""The notebook launcher: a form that runs a debug trace and shows what came back.

:class:`TraceLauncher` is the only place gctrace_nb imports :mod:`ipywidgets`.
It gathers a connection (the bundled simulator, a region with client
credentials, or the ``GENESYS_*`` environment), a :class:`~gctrace_nb.api.request.TraceRequest`
(flow id, action invocation id, depth 1-50, capture directives, simulated
inputs as JSON checked while typed) and a webhook URL; *Launch* runs the trace
in a background thread (the kernel stays responsive, *Cancel* sets a
:class:`threading.Event` the client honours), the client's progress events
show attempts, job status, waits and ``Retry-After``; the result fills the
tabs Summary, Steps, DAG, Gantt and Raw JSON; *Save trace*, *Export report*
and *Post webhook* act on it.

Every failure -- a field that does not validate, an HTTP error, a failed job,
a cancelled wait, even an unexpected exception -- is written into the form's
message area as one escaped paragraph, never as a traceback.

Outputs are written with ``Output.append_display_data`` and cleared with
``out.outputs = ()`` so every handler also works without a kernel (in tests,
``button.click()`` runs it synchronously).

Secrets. The client secret typed into the Password field is moved into a
:class:`~gctrace_nb.api.config.Secret` held by the launcher on *Launch* and the
field is emptied, so a notebook saved with its widget state does not carry
it; it never reaches a message, an output, ``repr`` or a saved file.

Example:
    >>> from gctrace_nb import TraceLauncher          # doctest: +SKIP
    >>> launcher = TraceLauncher()                     # doctest: +SKIP
    >>> launcher                                       # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Final, Mapping

import ipywidgets as w

from .._format import fmt_ms
from ..api.config import DEFAULT_REGION, REGIONS, Secret, Settings
from ..api.request import DEFAULT_DEPTH, MAX_DEPTH, MIN_DEPTH, TraceRequest
from ..delivery import audit
from ..errors import (
    Cancelled,
    ConfigError,
    TraceRequestInvalid,
)
from .messages import delivery_error_line, describe

if TYPE_CHECKING:  # pragma: no cover
    from ..api.retry import PollEvent
    from ..core.model import Trace

__all__ = ["TraceLauncher", "CONNECTIONS", "TAB_TITLES"]

log = logging.getLogger(__name__)

#: (label, value) of the connection choices.
CONNECTIONS: Final = (("Simulator", "simulator"), ("Region", "region"), ("Environment", "environment"))
#: The result tabs, in order.
TAB_TITLES: Final = ("Summary", "Steps", "DAG", "Gantt", "Raw JSON")

_STEPS_SHOWN: Final = 200
_RAW_CHARS: Final = 200_000
_STYLE_ERROR: Final = "color:#8a1c1c;background:#fdecea;border-left:4px solid #c62828;padding:4px 8px"
_STYLE_OK: Final = "color:#1e4620;background:#edf7ed;border-left:4px solid #2e7d32;padding:4px 8px"
_STYLE_INFO: Final = "color:#0b3d62;background:#e8f1fb;border-left:4px solid #1976d2;padding:4px 8px"
_SAFE_NAME: Final = re.compile(r"[^A-Za-z0-9._-]+")

ClientFactory = Callable[[Settings], Any]


class _Bundle:
    """A ready MIME bundle, displayed as is (``append_display_data`` formats it)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return self._data


def _default_client_factory(settings: Settings) -> Any:
    from ..api.client import GenesysClient

    return GenesysClient(settings)


def _credentials(sim: Any) -> tuple[str, Any]:
    """Return ``(client_id, client_secret)`` from a simulator's ``credentials``."""
    creds = sim.credentials
    if isinstance(creds, Mapping):
        return str(creds["client_id"]), creds["client_secret"]
    if isinstance(creds, (tuple, list)):
        return str(creds[0]), creds[1]
    return str(creds.client_id), creds.client_secret


def _reserve_free_path(folder: Path, stem: str, suffix: str) -> Path:
    """Create ``folder/stem{suffix}`` (else ``stem-2``, ``stem-3``...) exclusively and return it."""
    for n in range(1, 10_000):
        path = folder / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(f"no free name for {stem}{suffix} in {folder}")


def _drop_placeholder(path: Path | None) -> None:
    """Remove a reserved name that stayed empty because the write failed."""
    try:
        if path is not None and path.stat().st_size == 0:
            path.unlink()
    except OSError:
        pass


def _safe_name(text: str | None, fallback: str) -> str:
    name = _SAFE_NAME.sub("_", text or "").strip("._")
    return name[:80] or fallback


def parse_inputs(text: str) -> tuple[dict | None, str | None]:
    """Return ``(inputs, None)`` for a JSON object (``None`` for blank text), else ``(None, problem)``.

    >>> parse_inputs('{"ani": "+33"}')
    ({'ani': '+33'}, None)
    >>> parse_inputs("  ")
    (None, None)
    >>> parse_inputs('{"a": ')[1]
    'not valid JSON: line 1, column 7: Expecting value'
    >>> parse_inputs("[1]")[1]
    'must be a JSON object ({...}), got an array'
    """
    if not text or not text.strip():
        return None, None
    try:
        value = json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
    except ValueError as exc:  # NaN/Infinity: Python reads them, JSON (and the request) does not
        return None, f"not valid JSON: {exc}"
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
        return None, f"must be a JSON object ({{...}}), got {kind}"
    return value, None


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def describe_error(exc: BaseException) -> tuple[str, list[str]]:
    """Return a title and detail lines for an error, as the form shows them (no traceback).

    The wording is :func:`gctrace_nb.ui.messages.describe`'s, shared with the CLI.

    >>> describe_error(TraceRequestInvalid([("traceDepth", "must be between 1 and 50, got 60")]))
    ('The request is not valid; nothing was sent.', ['traceDepth: must be between 1 and 50, got 60'])
    """
    message = describe(exc)
    return message.title, message.lines


class TraceLauncher:
    """A form that launches a debug trace and shows its results, for Jupyter.

    Args:
        client_factory: ``Settings -> client`` (default: :class:`~gctrace_nb.api.client.GenesysClient`).
            The client needs ``trace(request, on_progress=..., cancel=...)``
            and may have ``close()``.
        simulator: a running :class:`~gctrace_nb.simulator.Simulator` to use for the
            *Simulator* connection. Without one, the first launch on that
            connection starts a simulator, which :meth:`close` stops.
        environ: the mapping the *Environment* connection reads (default ``os.environ``).
        out_dir: where *Save trace* and *Export report* write.
        webhook_options: extra keyword arguments for :func:`gctrace_nb.delivery.webhook.post_summary`
            (``outbox``, ``secret``, ``max_attempts``, ``sleep``...).
        background: run launches and webhook posts in a thread (the default);
            ``False`` runs them inside the click (handy in scripts).
        connection, flow_id, action_invocation_id, webhook_url: initial values.

    The widgets are attributes (``flow_id``, ``depth``, ``launch_button``...),
    so code can fill the form and click it; :meth:`wait` joins the worker.
    """

    def __init__(
        self,
        *,
        client_factory: ClientFactory | None = None,
        simulator: Any = None,
        environ: Mapping[str, str] | None = None,
        out_dir: str | Path = "gctrace-output",
        webhook_options: Mapping[str, Any] | None = None,
        background: bool = True,
        connection: str | None = None,
        flow_id: str = "",
        action_invocation_id: str = "",
        webhook_url: str = "",
    ) -> None:
        self._client_factory = client_factory or _default_client_factory
        self._simulator = simulator
        self._own_simulator = False
        self._environ = environ if environ is not None else os.environ
        self._webhook_options = dict(webhook_options or {})
        self._background = background
        self._secret: Secret | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self.trace: Trace | None = None
        self.error: BaseException | None = None
        self.events: list[PollEvent] = []
        self.delivery: Any = None
        self.saved_path: Path | None = None
        self.report_path: Path | None = None

        if connection is None:
            connection = "environment" if (simulator is None and self._environ.get("GENESYS_CLIENT_ID")) else "simulator"
        if connection not in {v for _, v in CONNECTIONS}:
            raise ValueError(f"connection must be one of {', '.join(v for _, v in CONNECTIONS)}, got {connection!r}")

        # ------------------------------------------------------------ connection
        self.connection = w.ToggleButtons(options=list(CONNECTIONS), value=connection, description="Connect to")
        self.region = w.Dropdown(options=sorted(REGIONS), value=DEFAULT_REGION, description="Region")
        self.client_id = w.Text(description="Client id", placeholder="OAuth client id")
        self.client_secret = w.Password(description="Secret", placeholder="OAuth client secret")
        self.connection_note = w.HTML()
        self._region_box = w.VBox([self.region, self.client_id, self.client_secret])
        # --------------------------------------------------------------- request
        self.flow_id = w.Text(value=flow_id, description="Flow id", placeholder="flow id")
        self.action_invocation_id = w.Text(
            value=action_invocation_id, description="Invocation", placeholder="action invocation id"
        )
        self.depth = w.IntSlider(value=DEFAULT_DEPTH, min=MIN_DEPTH, max=MAX_DEPTH, description="Depth")
        self.capture_context = w.Checkbox(value=True, description="Capture context")
        self.capture_data = w.Checkbox(value=True, description="Capture data")
        self.inputs = w.Textarea(
            description="Inputs", placeholder='simulated inputs, a JSON object: {"ani": "+33123456789"}',
            layout=w.Layout(width="60%", height="5em"),
        )
        self.inputs_status = w.HTML()
        self.webhook_url = w.Text(value=webhook_url, description="Webhook", placeholder="https://... (optional)")
        # --------------------------------------------------------------- actions
        self.launch_button = w.Button(description="Launch", button_style="primary", icon="play")
        self.cancel_button = w.Button(description="Cancel", button_style="warning", icon="stop", disabled=True)
        self.progress = w.HTML()
        self.message = w.HTML()
        # --------------------------------------------------------------- results
        self.outputs = {title: w.Output() for title in TAB_TITLES}
        self.tabs = w.Tab(children=[self.outputs[t] for t in TAB_TITLES])
        self.tabs.titles = TAB_TITLES
        self.out_dir = w.Text(value=str(out_dir), description="Save to")
        self.save_button = w.Button(description="Save trace", icon="save", disabled=True)
        self.report_button = w.Button(description="Export report", icon="file", disabled=True)
        self.webhook_button = w.Button(description="Post webhook", icon="paper-plane", disabled=True)

        self.widget = w.VBox([
            w.HTML("<b>gctrace</b>: launch a flow debug trace"),
            self.connection, self._region_box, self.connection_note,
            self.flow_id, self.action_invocation_id, self.depth,
            w.HBox([self.capture_context, self.capture_data]),
            self.inputs, self.inputs_status, self.webhook_url,
            w.HBox([self.launch_button, self.cancel_button]),
            self.progress, self.message, self.tabs,
            w.HBox([self.out_dir, self.save_button, self.report_button, self.webhook_button]),
        ])

        self.connection.observe(self._connection_changed, names="value")
        self.inputs.observe(self._inputs_changed, names="value")
        self.launch_button.on_click(lambda _b: self.launch())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.save_button.on_click(lambda _b: self.save())
        self.report_button.on_click(lambda _b: self.export_report())
        self.webhook_button.on_click(lambda _b: self.post_webhook())
        self._connection_changed()

    # ---------------------------------------------------------------- display
    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        return self.widget._repr_mimebundle_(include=include, exclude=exclude)

    def __repr__(self) -> str:
        return (
            f"<TraceLauncher connection={self.connection.value} flow_id={self.flow_id.value!r} "
            f"state={self.state}; display it in a notebook, or fill it and call .launch()>"
        )

    @property
    def state(self) -> str:
        """``"running"``, ``"done"`` (a trace is shown), ``"error"`` or ``"idle"``."""
        if self.running:
            return "running"
        if self.error is not None:
            return "error"
        return "done" if self.trace is not None else "idle"

    @property
    def running(self) -> bool:
        """True while a launch (or a webhook post) is in progress."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def simulator(self) -> Any:
        """The simulator in use (``None`` until the *Simulator* connection is first used)."""
        return self._simulator

    # ---------------------------------------------------------------- helpers
    def _say(self, style: str, title: str, lines: list[str] | tuple[str, ...] = ()) -> None:
        body = f"<b>{escape(title)}</b>"
        if lines:
            body += "<ul style='margin:2px 0'>" + "".join(f"<li>{escape(str(x))}</li>" for x in lines) + "</ul>"
        self.message.value = f"<div style='{style}'>{body}</div>"

    def _say_error(self, exc: BaseException) -> None:
        title, lines = describe_error(exc)
        style = _STYLE_INFO if isinstance(exc, Cancelled) else _STYLE_ERROR
        self._say(style, title, lines)

    def _connection_changed(self, _change: Any = None) -> None:
        mode = self.connection.value
        self._region_box.layout.display = "" if mode == "region" else "none"
        if mode == "simulator":
            where = f" at {self._simulator.api_url}" if self._simulator is not None else " (started on first launch)"
            note = f"The bundled simulator{where}; no credentials needed."
        elif mode == "environment":
            present = [k for k in ("GENESYS_CLIENT_ID", "GENESYS_REGION", "GENESYS_API_URL") if self._environ.get(k)]
            secret = "set" if self._environ.get("GENESYS_CLIENT_SECRET") else "not set"
            note = f"From the environment: {', '.join(present) or 'no GENESYS_* variables'}; secret {secret}."
        else:
            note = "Region and OAuth client credentials (client credentials grant)."
        self.connection_note.value = f"<small>{escape(note)}</small>"

    def _inputs_changed(self, _change: Any = None) -> None:
        value, problem = parse_inputs(self.inputs.value)
        if problem:
            self.inputs_status.value = f"<small style='color:#c62828'>✗ simulated inputs {escape(problem)}</small>"
        elif value is None:
            self.inputs_status.value = ""
        else:
            self.inputs_status.value = f"<small style='color:#2e7d32'>✓ JSON object with {len(value)} key(s)</small>"

    def _ensure_simulator(self) -> Any:
        if self._simulator is None:
            from ..simulator import Simulator

            sim = Simulator()
            sim.__enter__()
            self._simulator, self._own_simulator = sim, True
            self._connection_changed()
        return self._simulator

    # ------------------------------------------------------------ form → values
    def build_request(self) -> TraceRequest:
        """Return the :class:`TraceRequest` the form describes.

        Raises:
            TraceRequestInvalid: listing every problem (inputs JSON included).
        """
        inputs, problem = parse_inputs(self.inputs.value)
        request = TraceRequest(
            self.flow_id.value.strip(), self.action_invocation_id.value.strip(), depth=int(self.depth.value),
            capture_context=bool(self.capture_context.value), capture_data=bool(self.capture_data.value),
            simulated_inputs=inputs,
        )
        problems = request.violations()
        if problem:
            problems.append(("simulatedInputs", problem))
        if problems:
            raise TraceRequestInvalid(problems)
        return request

    def build_settings(self) -> Settings:
        """Return the :class:`Settings` of the chosen connection.

        The *Region* connection moves the Password field's value into a
        :class:`Secret` kept by the launcher and empties the field.

        Raises:
            ConfigError: missing credentials, unknown region, bad URL.
        """
        mode = self.connection.value
        if mode == "simulator":
            sim = self._ensure_simulator()
            client_id, secret = _credentials(sim)
            return Settings(client_id=client_id, client_secret=secret, api_url=sim.api_url, login_url=sim.login_url)
        if mode == "environment":
            return Settings.from_env(self._environ)
        typed = self.client_secret.value
        if typed:
            self._secret = Secret(typed)
            self.client_secret.value = ""
            self.client_secret.placeholder = "(kept for this session; type to replace)"
        return Settings(client_id=self.client_id.value.strip(), client_secret=self._secret or Secret(""),
                        region=self.region.value)

    # ---------------------------------------------------------------- actions
    def _start(self, target: Callable[[], None]) -> None:
        if self._background:
            self._thread = threading.Thread(target=target, name="gctrace-launcher", daemon=True)
            self._thread.start()
        else:
            target()

    def launch(self) -> bool:
        """Validate the form and start the trace; return False when it did not start."""
        with self._lock:
            if self.running:
                self._say(_STYLE_INFO, "A trace is already running; cancel it first.")
                return False
            try:
                request = self.build_request()
                settings = self.build_settings()
            except (TraceRequestInvalid, ConfigError) as exc:
                self.error = exc
                self._say_error(exc)
                return False
            except Exception as exc:  # noqa: BLE001 - e.g. the simulator could not start
                self.error = exc
                self._say_error(exc)
                return False
            self._cancel = threading.Event()
            self.trace, self.error, self.events, self.delivery = None, None, [], None
            for out in self.outputs.values():
                out.outputs = ()
            self.launch_button.disabled = True
            self.cancel_button.disabled = False
            for button in (self.save_button, self.report_button, self.webhook_button):
                button.disabled = True
            self.progress.value = "<small>Submitting…</small>"
            self._say(_STYLE_INFO, f"Tracing flow {request.flow_id}…")
            self._start(lambda: self._run(settings, request))
            return True

    def _run(self, settings: Settings, request: TraceRequest) -> None:
        try:
            client = self._client_factory(settings)
            try:
                trace = client.trace(request, on_progress=self._on_progress, cancel=self._cancel)
            finally:
                close = getattr(client, "close", None)
                if callable(close):
                    close()
            self.trace = trace
            self._show_results(trace)
            from ..core.summary import headline

            a = trace.analysis
            failed = f", {len(a.failed_nodes)} failed step(s)" if a.failed_nodes else ""
            self._say(_STYLE_OK, f"Trace complete: {a.steps_total} steps, {fmt_ms(a.total_ms)}{failed}.",
                      [f"job {trace.metadata.job_id}",
                       ("bottleneck " if a.bottleneck else "") + headline(a).bottleneck_line])
            try:
                audit.audit_trace(trace, http_status=200)
            except Exception:  # noqa: BLE001 - the audit log never breaks the form
                log.warning("could not write the audit line", exc_info=True)
        except BaseException as exc:  # noqa: BLE001 - every error ends in the form, not a traceback
            self.error = exc
            self._say_error(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._idle_buttons()

    def _idle_buttons(self) -> None:
        self.launch_button.disabled = False
        self.cancel_button.disabled = True
        for button in (self.save_button, self.report_button, self.webhook_button):
            button.disabled = self.trace is None

    def _on_progress(self, event: "PollEvent") -> None:
        self.events.append(event)
        polls = max((e.attempt for e in self.events if e.status not in ("retrying", "submitted")), default=0)
        retries = sum(1 for e in self.events if e.status == "retrying")
        rows = [
            ("job", event.job_id or "-"),
            ("status", event.status),
            ("poll attempts", str(polls)),
            ("retried requests", str(retries)),
            ("last HTTP", "connection error" if event.http_status is None else str(event.http_status)),
            ("waiting", f"{event.wait_s:.1f} s" if event.wait_s else "-"),
            ("Retry-After", f"{event.retry_after_s:g} s" if event.retry_after_s is not None else "-"),
            ("elapsed", f"{event.elapsed_s:.1f} s"),
        ]
        cells = "".join(f"<td style='padding:0 8px'><small>{escape(k)}</small><br><b>{escape(v)}</b></td>"
                        for k, v in rows)
        self.progress.value = (f"<table><tr>{cells}</tr></table><small>{escape(event.message)}</small>")

    def cancel(self) -> None:
        """Ask the running trace to stop; the client stops at its next wait or request."""
        if self.running:
            # Say it before setting the event: the worker's "Cancelled" must be the last word.
            self._say(_STYLE_INFO, "Cancelling…")
            self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running launch or post to end; return True when nothing is running."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    join = wait

    def close(self) -> None:
        """Cancel a running trace, stop a simulator this launcher started, and close the widgets."""
        self._cancel.set()
        self.wait(10)
        if self._own_simulator and self._simulator is not None:
            self._simulator.__exit__(None, None, None)
            self._simulator, self._own_simulator = None, False
        for widget in self._all_widgets():
            widget.close()

    def _all_widgets(self) -> list[w.Widget]:
        found: list[w.Widget] = []
        stack: list[w.Widget] = [self.widget]
        while stack:
            widget = stack.pop()
            found.append(widget)
            stack.extend(getattr(widget, "children", ()))
        return found

    # ---------------------------------------------------------------- results
    def _show_results(self, trace: "Trace") -> None:
        for title, render in (("Summary", _summary_bundle), ("Steps", _steps_bundle), ("DAG", _dag_bundle),
                              ("Gantt", _gantt_bundle), ("Raw JSON", _raw_bundle)):
            out = self.outputs[title]
            out.outputs = ()
            try:
                bundle = render(trace)
            except Exception as exc:  # noqa: BLE001 - one tab failing must not hide the others
                title_text, lines = describe_error(exc)
                items = "".join(f"<li>{escape(x)}</li>" for x in lines)
                bundle = {"text/html": f"<div style='{_STYLE_ERROR}'><b>{escape(title_text)}</b><ul>{items}</ul></div>",
                          "text/plain": " ".join([title_text, *lines])}
            out.append_display_data(_Bundle(bundle))
        self.tabs.selected_index = 0

    def _require_trace(self) -> "Trace | None":
        if self.trace is None:
            self._say(_STYLE_INFO, "Launch a trace first.")
        return self.trace

    def _target(self, kind: str, suffix: str) -> Path:
        """A path under *Save to* that no file holds yet, reserved (created empty) for the caller.

        Named ``{kind}-{job id}{suffix}``; when that exists (an earlier save, a job id
        seen before) ``-2``, ``-3``... is added: a saved trace is never overwritten.
        """
        trace = self.trace
        assert trace is not None
        meta = trace.metadata
        stem = _safe_name(meta.job_id or meta.flow_id or trace.name, "trace")
        folder = Path(self.out_dir.value.strip() or ".").expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        return _reserve_free_path(folder, f"{kind}-{stem}", suffix)

    def save(self) -> Path | None:
        """Save the trace as JSON under the *Save to* folder, under a new name; return the path."""
        trace = self._require_trace()
        if trace is None:
            return None
        target: Path | None = None
        try:
            target = self._target("trace", ".json")
            path = trace.save(target)
        except Exception as exc:  # noqa: BLE001
            _drop_placeholder(target)
            self._say_error(exc)
            return None
        self.saved_path = path
        self._say(_STYLE_OK, "Trace saved.", [str(path)])
        return path

    def export_report(self) -> Path | None:
        """Write the HTML report under the *Save to* folder; return the path."""
        trace = self._require_trace()
        if trace is None:
            return None
        try:
            from ..report.trace import export_report
        except ImportError:
            self._say(_STYLE_ERROR, "Report export is not available in this installation.")
            return None
        target = None
        try:
            target = self._target("report", ".html")
            result = export_report(trace, target)
        except Exception as exc:  # noqa: BLE001
            _drop_placeholder(target)
            self._say_error(exc)
            return None
        path = Path(result) if isinstance(result, (str, Path)) else target
        self.report_path = path
        self._say(_STYLE_OK, "Report written.", [str(path)])
        return path

    def post_webhook(self) -> bool:
        """Post the trace's summary to the webhook URL (the simulator's sink when blank)."""
        trace = self._require_trace()
        if trace is None:
            return False
        url = self.webhook_url.value.strip()
        if not url and self.connection.value == "simulator" and self._simulator is not None:
            url = self._simulator.webhook_url
        if not url:
            self._say(_STYLE_ERROR, "Enter a webhook URL first.")
            return False
        if self.running:
            self._say(_STYLE_INFO, "Busy; wait for the running task to end.")
            return False
        self._say(_STYLE_INFO, "Posting the summary…")
        self.webhook_button.disabled = True

        def post() -> None:
            from ..delivery.webhook import post_summary

            try:
                result = post_summary(trace, url, **self._webhook_options)
            except Exception as exc:  # noqa: BLE001
                self._say_error(exc)
            else:
                self.delivery = result
                lines = [f"attempts: {result.attempts}", f"HTTP status: {result.status}",
                         f"idempotency key: {result.idempotency_key}"]
                if result.delivered:
                    self._say(_STYLE_OK, "Webhook delivered.", lines)
                else:
                    why = "rejected" if result.rejected else ("queued in the outbox" if result.queued else "not delivered")
                    detail = delivery_error_line(result.error)
                    self._say(_STYLE_ERROR, f"Webhook {why}.", lines + ([detail] if detail else []))
            finally:
                self.webhook_button.disabled = self.trace is None

        self._start(post)
        return True


# -------------------------------------------------------------------- bundles
def _summary_bundle(trace: "Trace") -> dict[str, Any]:
    meta = trace.metadata
    rows = [("job", meta.job_id), ("flow", meta.flow_id), ("action invocation", meta.action_invocation_id),
            ("submitted", meta.submitted_at), ("completed", meta.completed_at),
            ("retrieval latency", fmt_ms(meta.retrieval_latency_ms) if meta.retrieval_latency_ms is not None else None),
            ("correlation ids", ", ".join(meta.correlation_ids) or None)]
    table = "".join(f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(str(v))}</td></tr>"
                    for k, v in rows if v)
    return {"text/html": trace._repr_html_() + f"<table>{table}</table>", "text/plain": trace.summary_text()}


def _steps_bundle(trace: "Trace") -> dict[str, Any]:
    from ..report.tables import steps_html

    html = steps_html(trace, max_rows=_STEPS_SHOWN)
    note = "<small>The whole frame is <code>launcher.trace.steps</code>.</small>"
    return {"text/html": html + note, "text/plain": trace.summary_text()}


def _dag_bundle(trace: "Trace") -> dict[str, Any]:
    from ..render.graph import dag_svg

    svg = dag_svg(trace)
    return {"image/svg+xml": svg, "text/plain": f"DAG of {trace.analysis.steps_total} steps"}


def _gantt_bundle(trace: "Trace") -> dict[str, Any]:
    from ..render.timeline import gantt

    fig = gantt(trace)
    return {
        "application/vnd.plotly.v1+json": json.loads(fig.to_json()),
        "text/html": fig.to_html(full_html=False, include_plotlyjs="cdn"),
        "text/plain": f"Gantt of {trace.analysis.steps_total} steps",
    }


def _raw_bundle(trace: "Trace") -> dict[str, Any]:
    text = json.dumps(trace.to_document(), ensure_ascii=False, indent=1, default=str)
    cut = len(text) > _RAW_CHARS
    shown = text[:_RAW_CHARS]
    note = f"<small>first {_RAW_CHARS:,} of {len(text):,} characters; save the trace for all of it</small>" if cut else ""
    return {"text/html": f"{note}<pre style='max-height:30em;overflow:auto'>{escape(shown)}</pre>",
            "text/plain": shown}
