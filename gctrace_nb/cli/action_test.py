"""``gctrace action-test``: run a data action test in Genesys Cloud and print it as a trace.

``POST /api/v2/integrations/actions/{actionId}/test`` with the ``--input``
values as the action's inputs. The call is timed on the client; its operations
have no timings of their own and split the call's time evenly (marked
inferred). Credentials and hosts come from the environment exactly as for
``gctrace trace``. Needs ``integrations:action:execute``.

Exit status: 0 the test succeeded; 2 invalid input (nothing sent), or the
service refused the request (unknown action); 3 the action test ran and
failed; 4 authentication or permission; 5 gave up.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .._format import fmt_ms
from .app import EXIT_ERROR, EXIT_INVALID, EXIT_JOB_FAILED, EXIT_OK
from ._connection import add_connection_arguments, connection_from_args, exit_status, sayer

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "action-test",
        help="run a data action test and print it as a trace",
        description=(__doc__ or "").splitlines()[0],
    )
    p.add_argument("--action-id", required=True, help="the data action id")
    p.add_argument("--input", action="append", default=[], metavar="KEY=VALUE",
                   help="an action input; VALUE is JSON when it parses, else a string (repeatable)")
    p.add_argument("--draft", action="store_true", help="test the action's draft (/draft/test)")
    add_connection_arguments(p, default_timeout=120.0)
    p.add_argument("--save", metavar="PATH", help="also save the trace (with its metadata) to PATH")
    p.add_argument("--format", choices=("json", "text"), default="text", help="output format (default: text)")
    p.set_defaults(func=run)


_say = sayer("action-test")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError, GctraceError
    from .trace import parse_input

    try:
        inputs = dict(parse_input(item) for item in args.input)
    except ValueError as exc:
        _say(str(exc))
        return EXIT_INVALID
    action_id = args.action_id
    if not action_id.strip() or any(ch in action_id for ch in "/?#") or any(ord(ch) < 32 for ch in action_id):
        _say("invalid input: --action-id must be a non-empty id without '/', '?', '#' or control characters")
        return EXIT_INVALID
    try:
        settings, policy = connection_from_args(args)
    except (ConfigError, ValueError) as exc:
        _say(f"invalid input: {exc}")
        return EXIT_INVALID

    import requests

    from ..api.client import GenesysClient
    from ..api.history import run_action_test

    def progress(event: Any) -> None:
        _say(event.message)

    try:
        with GenesysClient(settings, policy=policy) as client:
            trace = run_action_test(client, action_id, inputs, draft=args.draft, on_progress=progress)
    except (GctraceError, requests.RequestException) as exc:
        code, message = exit_status(exc)
        _say(message)
        return code

    save_failed = False
    if args.save:  # a failed save must not lose the result: it is still printed
        try:
            path = trace.save(args.save)
        except OSError as exc:
            _say(f"cannot save to {args.save}: {exc.strerror or exc}")
            save_failed = True
        else:
            _say(f"saved to {path}")
    root = trace.raw_steps[0]
    failed = root.get("status") == "failed"
    if args.format == "json":
        out = trace.to_json()
        out["action_id"] = action_id
        out["success"] = not failed
        if failed:
            out["error_message"] = root.get("errorMessage")
        print(json.dumps(out, ensure_ascii=False))
    else:
        m = trace.metadata
        print(f"data action {action_id}: {'FAILED' if failed else 'succeeded'} in "
              f"{fmt_ms(m.retrieval_latency_ms)} (client-timed; operation times are an even split)")
        print(trace.summary_text())
    return EXIT_JOB_FAILED if failed else (EXIT_ERROR if save_failed else EXIT_OK)
