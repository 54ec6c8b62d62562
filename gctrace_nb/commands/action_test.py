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
import sys
from typing import Any

from ..cli import EXIT_AUTH, EXIT_ERROR, EXIT_GAVE_UP, EXIT_INVALID, EXIT_JOB_FAILED, EXIT_OK

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
    p.add_argument("--region", help="Genesys region, e.g. eu_west_1 (default: GENESYS_REGION or us_east_1)")
    p.add_argument("--api-url", help="API base URL (instead of --region)")
    p.add_argument("--login-url", help="login base URL (with --api-url)")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="give up after S seconds overall (default: 120)")
    p.add_argument("--save", metavar="PATH", help="also save the trace (with its metadata) to PATH")
    p.add_argument("--format", choices=("json", "text"), default="text", help="output format (default: text)")
    p.set_defaults(func=run)


def _say(message: str) -> None:
    from .history import _clean

    print(f"gctrace action-test: {_clean(message)}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from ..config import Settings
    from ..errors import (
        AuthError,
        BadRequest,
        Cancelled,
        ConfigError,
        GaveUp,
        GctraceError,
        NotFound,
        TraceRequestInvalid,
    )
    from ..retry import RetryPolicy
    from .trace import parse_input

    try:
        inputs = dict(parse_input(item) for item in args.input)
    except ValueError as exc:
        _say(str(exc))
        return EXIT_INVALID
    if args.region and (args.api_url or args.login_url):
        _say("give either --region or --api-url/--login-url, not both")
        return EXIT_INVALID
    if not args.timeout > 0:
        _say("--timeout must be a positive number of seconds")
        return EXIT_INVALID
    action_id = args.action_id
    if not action_id.strip() or any(ch in action_id for ch in "/?#") or any(ord(ch) < 32 for ch in action_id):
        _say("invalid input: --action-id must be a non-empty id without '/', '?', '#' or control characters")
        return EXIT_INVALID
    try:
        settings = Settings.from_env(region=args.region, api_url=args.api_url, login_url=args.login_url)
        policy = RetryPolicy(deadline_s=args.timeout, breaker_window_s=min(300.0, args.timeout))
    except (ConfigError, ValueError) as exc:
        _say(f"invalid input: {exc}")
        return EXIT_INVALID

    import requests

    from ..client import GenesysClient
    from ..sources.history_api import run_action_test

    def progress(event: Any) -> None:
        _say(event.message)

    try:
        with GenesysClient(settings, policy=policy) as client:
            trace = run_action_test(client, action_id, inputs, draft=args.draft, on_progress=progress)
    except TraceRequestInvalid as exc:
        _say(f"invalid input: {exc}")
        return EXIT_INVALID
    except AuthError as exc:  # includes PermissionDenied
        _say(str(exc))
        return EXIT_AUTH
    except GaveUp as exc:
        _say(str(exc))
        return EXIT_GAVE_UP
    except (BadRequest, NotFound) as exc:
        _say(f"the service refused the request: {exc}")
        return EXIT_INVALID
    except Cancelled as exc:
        _say(str(exc))
        return 130
    except GctraceError as exc:
        _say(str(exc))
        return EXIT_ERROR
    except requests.RequestException as exc:  # e.g. a redirect loop: the request could not complete
        _say(f"the request could not complete: {type(exc).__name__}: {exc}")
        return EXIT_ERROR

    if args.save:
        try:
            path = trace.save(args.save)
        except OSError as exc:
            _say(f"cannot save to {args.save}: {exc.strerror or exc}")
            return EXIT_ERROR
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
              f"{m.retrieval_latency_ms:.0f} ms (client-timed; operation times are an even split)")
        print(trace.summary_text())
    return EXIT_JOB_FAILED if failed else EXIT_OK
