"""``gctrace trace``: run one debug trace against Genesys (or the simulator) and analyse it.

The client id comes from ``--client-id`` or ``GENESYS_CLIENT_ID``, its secret from
``GENESYS_CLIENT_SECRET`` (or asked for without echo on a terminal); the
hosts from ``--region`` or ``--api-url``/``--login-url`` (else ``GENESYS_REGION``,
``GENESYS_API_URL``, ``GENESYS_LOGIN_URL``). Progress goes to stderr, the result
to stdout. Exit status: 0 completed; 2 invalid input (nothing sent, or the
service refused the request); 3 the job failed; 4 authentication or
permission; 5 gave up (deadline, breaker, retries exhausted); 1 ``--save`` could not
write, or audit lines could not be written (a full disk: said once on stderr); the
result is still printed, posted and audited as far as the disk allows; 130 interrupted
(Ctrl-C: the job keeps running on the server, and its id is printed).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .._format import fmt_ms
from .app import EXIT_ERROR, EXIT_INVALID, EXIT_OK
from ._connection import EXIT_CANCELLED, add_connection_arguments, connection_from_args, exit_status, sayer

__all__ = ["register", "run", "parse_input"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "trace",
        help="run a debug trace of a flow and print its analysis",
        description=(__doc__ or "").splitlines()[0],
    )
    p.add_argument("--flow-id", required=True, help="the Architect flow id")
    p.add_argument("--action-id", required=True, dest="action_id", help="the action invocation id")
    p.add_argument("--depth", type=int, default=10, help="trace depth, 1..50 (default: 10)")
    p.add_argument("--no-capture-context", action="store_true", help="do not capture flow context")
    p.add_argument("--no-capture-data", action="store_true", help="do not capture data")
    p.add_argument("--input", action="append", default=[], metavar="KEY=VALUE",
                   help="a simulated input; VALUE is JSON when it parses, else a string (repeatable)")
    add_connection_arguments(p, default_timeout=600.0)
    p.add_argument("--save", metavar="PATH", help="also save the trace (with its metadata) to PATH")
    p.add_argument("--format", choices=("json", "text"), default="text", help="output format (default: text)")
    from . import webhook as webhook_cli

    webhook_cli.add_cli_arguments(p)  # --webhook URL (default GCTRACE_WEBHOOK_URL), --state-dir, --audit-dir
    p.set_defaults(func=run)


def parse_input(item: str) -> tuple[str, Any]:
    """Split ``KEY=VALUE``; VALUE is decoded as JSON when it parses, else kept as a string.

    >>> parse_input('n=3'), parse_input('flag=true'), parse_input('name=Ann'), parse_input('o={"a":1}')
    (('n', 3), ('flag', True), ('name', 'Ann'), ('o', {'a': 1}))
    >>> parse_input('x=NaN'), parse_input('eq=a=b'), parse_input('empty=')
    (('x', 'NaN'), ('eq', 'a=b'), ('empty', ''))
    """
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--input {item!r} must be KEY=VALUE")
    try:  # strict JSON: NaN/Infinity stay strings, as a user typing them means
        parsed: Any = json.loads(value, parse_constant=_not_json)
    except ValueError:
        parsed = value
    return key.strip(), parsed


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_say = sayer("trace")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError, GctraceError, TraceRequestInvalid
    from ..api.request import TraceRequest

    # ---- everything local first: nothing is sent while any of it is wrong
    try:
        inputs = dict(parse_input(item) for item in args.input) if args.input else None
        request = TraceRequest(
            args.flow_id, args.action_id, depth=args.depth,
            capture_context=not args.no_capture_context, capture_data=not args.no_capture_data,
            simulated_inputs=inputs,
        )
        request.validate()
        settings, policy = connection_from_args(args)
    except (TraceRequestInvalid, ConfigError, ValueError) as exc:
        if isinstance(exc, TraceRequestInvalid):  # the audit log keeps refused requests too
            from . import webhook as webhook_cli

            webhook_cli.report_failure_for_cli(exc, args)
        _say(f"invalid input: {exc}")
        return EXIT_INVALID

    from ..api.client import GenesysClient
    from . import webhook as webhook_cli

    job_ids: list[str] = []

    def progress(event: Any) -> None:
        if event.job_id and event.job_id not in job_ids:
            job_ids.append(event.job_id)
        _say(event.message)

    import requests

    try:
        with GenesysClient(settings, policy=policy) as client:
            trace = client.trace(request, on_progress=progress)
    except KeyboardInterrupt:
        # a debug job cannot be cancelled through the contract: say so, and which job it is
        if job_ids:
            _say(f"interrupted: job {job_ids[-1]} (flow {request.flow_id}) keeps running on the server; "
                 "nothing was saved or posted")
        else:
            _say(f"interrupted before the service named a job for flow {request.flow_id}; "
                 "if the submit reached it, that job keeps running on the server")
        return EXIT_CANCELLED
    except (GctraceError, requests.RequestException) as exc:  # e.g. a redirect loop
        # audit it (a failed job also posts a "failed" summary), then report it
        failed_summary = webhook_cli.report_failure_for_cli(exc, args)
        if failed_summary is not None:
            _say(f"webhook: {json.dumps(failed_summary)}")
        code, message = exit_status(exc)
        _say(message)
        return code

    from ..delivery import audit

    lost_before = audit.lost_lines()
    status = EXIT_OK
    if args.save:  # a failed save must not lose the result: it is still printed, posted and audited
        try:
            path = trace.save(args.save)
        except OSError as exc:
            _say(f"cannot save to {args.save}: {exc.strerror or exc}")
            status = EXIT_ERROR
        else:
            _say(f"saved to {path}")
    webhook = webhook_cli.report_trace_for_cli(trace, args)  # audit lines, and the summary if --webhook
    if webhook is not None and not webhook["delivered"]:
        _say(f"webhook not delivered: {webhook.get('error')}"
             + ("; kept in the outbox for `gctrace webhook flush`" if webhook.get("queued") else ""))
    m = trace.metadata
    if args.format == "json":
        out = trace.analysis.to_json()
        out.update(job_id=m.job_id, flow_id=m.flow_id, action_invocation_id=m.action_invocation_id,
                   retrieval_latency_ms=m.retrieval_latency_ms)
        if webhook is not None:
            out["webhook"] = webhook
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"flow {m.flow_id}, action invocation {m.action_invocation_id}, job {m.job_id}, "
              f"retrieved in {fmt_ms(m.retrieval_latency_ms)}")
        print(trace.summary_text())
        if webhook is not None:
            print(f"webhook: {'delivered' if webhook['delivered'] else 'not delivered'} "
                  f"(attempts {webhook['attempts']}, HTTP {webhook['status']})")
    if audit.lost_lines() > lost_before:  # the handler said so once on stderr; do not end 0 as if all was kept
        status = status or EXIT_ERROR
    return status
