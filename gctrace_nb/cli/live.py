"""``gctrace live``: print each execution of a flow, analysed, as it ends (Genesys notifications).

Subscribes to ``v2.flows.instances.flow.{flowId}`` for every ``--flow-id``,
and for each execution event fetches the full execution document from its
signed ``executionHistoryUri`` (no credentials sent), or falls back to the
event's own items when that link fails (``"detail": "event_items"``: start
times only, ends inferred). Prints one line of text, or one JSON object per
line with ``--format json`` (the analysis of ``gctrace analyze`` plus
``execution_id``, ``conversation_id``, ``flow_id`` and ``detail``), as each
execution arrives. Reconnects by itself (heartbeat silence, dropped socket,
``socket_closing``, expired channel). Credentials and hosts as for
``gctrace history``.

Exit status: 0 ``--count`` executions arrived (or, without ``--count``, the
``--timeout`` ended the watch); 1 some ``--save-dir`` file could not be
written; 2 invalid input (nothing sent); 4 authentication, permission or a
rejected subscription; 5 ``--timeout`` passed before ``--count`` executions,
or the service stayed unreachable; 130 interrupted (Ctrl-C; the
subscriptions are deleted first).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .._format import fmt_ms
from .app import EXIT_ERROR, EXIT_GAVE_UP, EXIT_INVALID, EXIT_OK
from ._connection import EXIT_CANCELLED, connection_from_args, exit_status, one_line, sayer

__all__ = ["register", "run", "format_line"]

_say = sayer("live")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "live",
        help="print each execution of a flow, analysed, as it ends (notifications)",
        description=(__doc__ or "").splitlines()[0],
    )
    p.add_argument("--flow-id", action="append", required=True, metavar="F",
                   help="the Architect flow to watch (repeat for several)")
    p.add_argument("--count", type=int, default=None, metavar="N", help="stop after N executions")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="stop after S seconds (default: run until --count or Ctrl-C)")
    p.add_argument("--region", help="Genesys region, e.g. eu_west_1 (default: GENESYS_REGION or us_east_1)")
    p.add_argument("--api-url", help="API base URL (instead of --region)")
    p.add_argument("--login-url", help="login base URL (with --api-url)")
    p.add_argument("--heartbeat-interval", type=float, default=30.0, metavar="S",
                   help="the service's heartbeat interval; silence for 1.5x this reconnects (default: 30)")
    p.add_argument("--save-dir", metavar="DIR", help="save each execution's trace into DIR/<execution id>.json")
    p.add_argument("--format", choices=("json", "text"), default="text", help="output format (default: text)")
    from . import webhook as webhook_cli

    webhook_cli.add_cli_arguments(p)  # --webhook URL (a summary per execution, with the outbox), --state-dir
    p.set_defaults(func=run)


def format_line(row: dict) -> str:
    """The text line of one execution (from :func:`~gctrace_nb.api.notifications.execution_summary`).

    >>> format_line({"ended_at": "2026-01-15T09:00:41.812Z", "flow_id": "f", "execution_id": "e",
    ...     "conversation_id": "c", "total_ms": 41812.0, "bottleneck_name": "CRM lookup",
    ...     "bottleneck": {"node_id": "n", "critical_ms": 5001.0}, "failed_names": [], "detail": "full"})
    '09:00:41 flow f execution e conversation c: total 41,812 ms, bottleneck CRM lookup (5,001 ms), 0 failed'
    """
    ended = str(row.get("ended_at") or "")
    clock = ended[11:19] if len(ended) >= 19 else "--:--:--"
    bottleneck = row.get("bottleneck")
    text = (f"{clock} flow {row.get('flow_id')} execution {row.get('execution_id')} conversation "
            f"{row.get('conversation_id')}: total {fmt_ms(row.get('total_ms'))}, ")
    if bottleneck:
        text += f"bottleneck {row.get('bottleneck_name')} ({fmt_ms(bottleneck['critical_ms'])}), "
    else:
        text += "no bottleneck, "
    failed = row.get("failed_names") or []
    text += f"{len(failed)} failed" + (f" ({', '.join(failed)})" if failed else "")
    if row.get("detail") == "event_items":
        text += "; from the event's items (ends inferred): " + str(row.get("history_error") or "no document")
    return one_line(text)


def _check(args: argparse.Namespace) -> str | None:
    if args.count is not None and args.count < 1:
        return f"--count must be at least 1, got {args.count}"
    if args.timeout is not None and not args.timeout > 0:
        return "--timeout must be a positive number of seconds"
    if not args.heartbeat_interval > 0:
        return "--heartbeat-interval must be a positive number of seconds"
    if args.save_dir and Path(args.save_dir).exists() and not Path(args.save_dir).is_dir():
        return f"--save-dir {args.save_dir} exists and is not a directory"
    from ..api.notifications import flow_topic

    for flow_id in args.flow_id:
        try:
            flow_topic(flow_id)
        except ValueError as exc:
            return f"--flow-id: {exc}"
    return None


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError, GctraceError

    # ---- everything local first: nothing is sent while any of it is wrong
    problem = _check(args)
    if problem is None:
        try:  # --timeout here is the watch's; each request keeps the usual 600 s budget
            settings, policy = connection_from_args(argparse.Namespace(
                region=args.region, api_url=args.api_url, login_url=args.login_url, timeout=600.0))
        except (ConfigError, ValueError) as exc:
            problem = str(exc)
    if problem is not None:
        _say(f"invalid input: {problem}")
        return EXIT_INVALID

    import requests

    from ..api.live import watch
    from ..api.client import GenesysClient

    save_failed = False
    taken: set[str] = set()
    try:
        with GenesysClient(settings, policy=policy) as client:
            watcher = watch(args.flow_id, client=client, count=args.count, timeout=args.timeout,
                            heartbeat_interval_s=args.heartbeat_interval, on_status=_status_printer())
            for trace in watcher:
                save_failed |= not _emit(trace, args, taken)
    except KeyboardInterrupt:
        _say("interrupted; the subscriptions were deleted")
        return EXIT_CANCELLED
    except (GctraceError, requests.RequestException) as exc:
        code, message = exit_status(exc)
        _say(message)
        return code
    if args.count is not None and watcher.received < args.count:
        _say(f"only {watcher.received} of {args.count} execution(s) arrived within {args.timeout:g} s")
        return EXIT_GAVE_UP
    return EXIT_ERROR if save_failed else EXIT_OK


def _status_printer() -> Any:
    """Report changes of connection state on stderr (not every heartbeat)."""
    last: list[tuple[str, str]] = []

    def report(status: Any) -> None:
        key = (status.state, status.detail)
        if last and last[-1] == key:
            return
        last[:] = [key]
        if status.state in ("connected", "reconnecting", "stopped"):
            _say(status.state + (f": {status.detail}" if status.detail else ""))

    return report


def _emit(trace: Any, args: argparse.Namespace, taken: set[str]) -> bool:
    """Save, post and print one execution; return False when its save failed."""
    from ..api.notifications import execution_summary
    from . import webhook as webhook_cli
    from .history import safe_file_stem

    row = execution_summary(trace)
    ok = True
    if args.save_dir:
        path = Path(args.save_dir) / f"{safe_file_stem(str(row['execution_id'] or 'execution'), taken)}.json"
        try:
            row["file"] = str(trace.save(path))
        except OSError as exc:
            _say(f"cannot save to {path}: {exc.strerror or exc}")
            ok = False
    webhook = webhook_cli.report_trace_for_cli(trace, args)  # audit lines, and the summary if --webhook
    if webhook is not None:
        row["webhook"] = webhook
        if not webhook["delivered"]:
            _say(f"webhook not delivered: {webhook.get('error')}"
                 + ("; kept in the outbox for `gctrace webhook flush`" if webhook.get("queued") else ""))
    if args.format == "json":
        out = {k: v for k, v in row.items() if k not in ("bottleneck_name", "failed_names", "ended_at")}
        print(json.dumps(out, ensure_ascii=False), flush=True)
    else:
        print(format_line(row), flush=True)
    sys.stdout.flush()
    return ok
