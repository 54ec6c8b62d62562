"""``gctrace demo``: the whole path end to end against the bundled simulator, offline.

Starts the simulator on 127.0.0.1, runs a debug trace with the client
(progress on stderr), prints the summary, then watches the flow live and
places one simulated call (``gctrace live`` in miniature), and writes into ``--out``:
``trace.json`` (the saved trace), ``report.html`` (the report),
``webhook.json`` (the summary exactly as the simulator's webhook sink received
it), ``live-trace.json`` (the live execution) and ``audit/audit-YYYY-MM-DD.jsonl`` (the audit lines). It ends by saying
where everything is. Nothing leaves the machine and no credentials are needed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from .app import EXIT_ERROR, EXIT_OK

__all__ = ["register", "run", "DEMO_FLOW_ID", "DEMO_INVOCATION_ID", "DEMO_INPUTS"]

DEMO_FLOW_ID = "inbound-call-demo"
DEMO_INVOCATION_ID = "demo-invocation-1"
DEMO_INPUTS = {"ani": "+33123456789", "language": "en-US", "accountNumber": "4521-0098"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run a trace against the bundled simulator and write a report (offline)",
        description=(__doc__ or "").splitlines()[0],
    )
    p.add_argument("--out", default="demo-output", metavar="DIR",
                   help="where to write report.html, trace.json, webhook.json and audit/ (default: demo-output)")
    p.add_argument("--seed", type=int, default=7, help="the simulator's seed (default: 7)")
    p.add_argument("--depth", type=int, default=10, help="trace depth, 1..50 (default: 10)")
    p.set_defaults(func=run)


def _say(message: str) -> None:
    print(f"gctrace demo: {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from ..delivery import audit
    from ..api.client import GenesysClient
    from ..api.config import Settings
    from ..errors import GctraceError
    from ..simulator import Simulator
    from ..delivery.webhook import Outbox, post_summary

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        handler = audit.configure_audit_log(out / "audit")
    except OSError as exc:
        _say(f"cannot write to {out}: {exc.strerror or exc}")
        return EXIT_ERROR
    try:
        with Simulator(seed=args.seed) as sim:
            _say(f"simulator listening on {sim.api_url}")
            client_id, secret = sim.credentials
            settings = Settings(client_id=client_id, client_secret=secret, api_url=sim.api_url,
                                login_url=sim.login_url)
            with GenesysClient(settings) as client:
                trace = client.trace(
                    flow_id=DEMO_FLOW_ID, action_invocation_id=DEMO_INVOCATION_ID, depth=args.depth,
                    simulated_inputs=dict(DEMO_INPUTS), on_progress=lambda e: _say(e.message),
                )
            print(trace.summary_text())

            trace_path = trace.save(out / "trace.json")
            report_path = _write_report(trace, out / "report.html")

            result = post_summary(trace, sim.webhook_url, outbox=Outbox(out / "state"))
            deliveries = sim.webhook_deliveries
            webhook_path = out / "webhook.json"
            if deliveries:
                webhook_path.write_text(json.dumps(deliveries[-1].json(), indent=2) + "\n", encoding="utf-8")
            audit.audit_trace(trace, http_status=200, webhook=result.to_json())
            live_line, live_path = _live_once(sim, settings, out / "live-trace.json")
    except GctraceError as exc:
        _say(str(exc))
        audit.audit_event("demo_failed", level=logging.ERROR, error=str(exc), kind=type(exc).__name__)
        return EXIT_ERROR
    finally:
        logging.getLogger(audit.AUDIT_LOGGER).removeHandler(handler)
        handler.close()

    from .webhook import delivery_error_line

    status = "delivered" if result.delivered else f"NOT delivered ({delivery_error_line(result.error) or result.status})"
    audit_files = sorted((out / "audit").glob("*.jsonl"))
    print()
    print(f"webhook: {status} to the simulator's sink in {result.attempts} attempt(s)")
    print(f"live: {live_line}")
    print("wrote:")
    rows: list[tuple[str, Any]] = [
        ("report", report_path),
        ("trace", trace_path),
        ("webhook", webhook_path if deliveries else None),
        ("live", live_path),
        ("audit log", audit_files[-1] if audit_files else None),
    ]
    for label, path in rows:
        if path is not None:
            print(f"  {label:<10} {path}")
    print(f"open {report_path} in a browser; load the trace with gctrace_nb.load_trace({str(trace_path)!r})")
    return EXIT_OK if result.delivered else EXIT_ERROR


def _live_once(sim: Any, settings: Any, path: Path) -> tuple[str, Path]:
    """Watch the demo flow, place one simulated call once connected, and return its line and saved trace."""
    from ..api.live import watch
    from ..api.notifications import execution_summary
    from ..api.client import GenesysClient
    from ..errors import DeadlineExceeded
    from .live import format_line

    placed: list = []

    def place_when_connected(status: Any) -> None:
        if status.state == "connected" and not placed:
            placed.append(sim.place_call(DEMO_FLOW_ID))

    with GenesysClient(settings) as client:
        for trace in watch(DEMO_FLOW_ID, client=client, count=1, timeout=30, on_status=place_when_connected):
            return format_line(execution_summary(trace)), trace.save(path)
    raise DeadlineExceeded("the demo's live call did not arrive within 30 s")


def _write_report(trace: Any, path: Path) -> Path:
    from ..report.trace import export_report

    written = export_report(trace, path)
    return Path(written) if isinstance(written, (str, Path)) else path
