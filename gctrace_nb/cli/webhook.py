"""``gctrace webhook send FILE --url URL`` and ``gctrace webhook flush``: webhook summaries from the shell.

``send`` posts the summary of a saved trace (retries, then the outbox);
``flush`` re-sends what the outbox holds. Both print one JSON object. The
signing secret comes only from ``GCTRACE_WEBHOOK_SECRET`` (never a flag: a
command line is visible to every user of the machine).

Exit status: 0 delivered (``flush``: the outbox is empty); 1 a payload is
neither delivered nor kept -- the receiver rejected it (4xx), or ``send`` could
not write it to the outbox (a read-only or full state directory) or was told
``--no-outbox``: its JSON then says ``"queued": false`` and holds the summary
under ``"summary"``, to send again -- or audit lines could not be written;
2 invalid input (bad file or URL, nothing sent); 5 gave up for now (the
payload waits in the outbox).

Other commands (``gctrace trace``) reuse :func:`add_cli_arguments` and
:func:`deliver_for_cli` for their ``--webhook URL`` option.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .._text import one_line
from ..ui.messages import delivery_error_line
from .app import EXIT_ERROR, EXIT_GAVE_UP, EXIT_INVALID, EXIT_OK

if TYPE_CHECKING:  # pragma: no cover
    from ..core.model import Trace

__all__ = ["register", "run", "add_cli_arguments", "deliver_for_cli", "audit_for_cli",
           "report_trace_for_cli", "report_failure_for_cli"]


def _add_delivery_options(p: argparse.ArgumentParser, *, prefix: str = "") -> None:
    p.add_argument(f"--{prefix}timeout", type=float, default=10.0, metavar="S",
                   help="seconds per webhook attempt (default: 10)")
    p.add_argument(f"--{prefix}max-attempts", type=int, default=5, metavar="N",
                   help="webhook attempts per payload, the first included (default: 5)")
    p.add_argument("--allow-http", action="store_const", const=True, default=None,
                   help="accept a plain http:// URL to another host (an internal receiver); "
                        "default: $GCTRACE_WEBHOOK_ALLOW_HTTP, else https only (http only to this machine)")


def _add_dirs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", default=None, metavar="DIR",
                   help="where the outbox lives (default: $GCTRACE_STATE_DIR or ~/.local/state/gctrace_nb)")
    p.add_argument("--audit-dir", default=None, metavar="DIR",
                   help="where audit logs go (default: $GCTRACE_AUDIT_DIR or <state dir>/audit)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("webhook", help="send trace summaries to a webhook, or flush the outbox",
                       description=(__doc__ or "").splitlines()[0])
    actions = p.add_subparsers(dest="webhook_command", metavar="ACTION")
    actions.required = True

    send = actions.add_parser("send", help="post the summary of a saved trace")
    send.add_argument("file", metavar="FILE",
                      help="a trace document (saved trace, steps list or job response); - reads standard input")
    send.add_argument("--url", default=os.environ.get("GCTRACE_WEBHOOK_URL"),
                      help="receiver URL (default: $GCTRACE_WEBHOOK_URL)")
    send.add_argument("--status", choices=("completed", "failed"), default=None,
                      help="the job's status in the summary (default: completed)")
    send.add_argument("--no-outbox", action="store_true", help="do not keep an undelivered summary")
    _add_delivery_options(send)
    _add_dirs(send)
    send.set_defaults(func=run)

    flush = actions.add_parser("flush", help="re-send the summaries waiting in the outbox, in order")
    _add_delivery_options(flush)
    _add_dirs(flush)
    flush.set_defaults(func=run)


def _print(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def _audit_dir(args: argparse.Namespace) -> Path:
    """``--audit-dir``, else ``$GCTRACE_AUDIT_DIR``, else ``<--state-dir or the default>/audit``."""
    from ..delivery import audit

    directory = getattr(args, "audit_dir", None)
    state_dir = getattr(args, "state_dir", None)
    if directory is None and state_dir is not None and not os.environ.get("GCTRACE_AUDIT_DIR"):
        directory = os.path.join(state_dir, "audit")
    return Path(directory) if directory is not None else audit.default_audit_dir()


@contextlib.contextmanager
def audit_for_cli(args: argparse.Namespace) -> Iterator[None]:
    """Write the audit lines logged inside the block to the command's audit directory.

    The handler is removed afterwards, so ``gctrace_nb.cli.main()`` called in a
    notebook or a test leaves the process's logging as it found it. A handler
    already writing to the same directory is reused, not doubled.
    """
    from ..delivery import audit

    directory = _audit_dir(args)
    logger = logging.getLogger(audit.AUDIT_LOGGER)
    if any(isinstance(h, audit.DailyAuditHandler) and h.directory.resolve() == directory.resolve()
           for h in logger.handlers):
        yield
        return
    try:
        handler = audit.DailyAuditHandler(directory)
    except OSError as exc:  # an unwritable audit dir must not stop the command
        print(f"gctrace: audit log disabled: {exc}", file=sys.stderr)
        yield
        return
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()


def run(args: argparse.Namespace) -> int:
    if args.max_attempts < 1 or args.timeout <= 0:
        print("gctrace webhook: --max-attempts must be >= 1 and --timeout > 0", file=sys.stderr)
        return EXIT_INVALID
    from ..delivery import audit

    lost_before = audit.lost_lines()
    with audit_for_cli(args):
        status = _send(args) if args.webhook_command == "send" else _flush(args)
    if audit.lost_lines() > lost_before:  # said once on stderr by the audit handler
        status = status or EXIT_ERROR
    return status


def _send(args: argparse.Namespace) -> int:
    from ..delivery.webhook import Outbox, WebhookSender, build_summary
    from ..errors import TraceFormatError, WebhookError
    from ._files import load_cli_trace

    if not args.url:
        print("gctrace webhook send: no URL (give --url or set GCTRACE_WEBHOOK_URL)", file=sys.stderr)
        return EXIT_INVALID
    try:
        trace = load_cli_trace(args.file)
    except TraceFormatError as exc:
        print(f"gctrace webhook send: {one_line(exc)}", file=sys.stderr)
        return EXIT_INVALID
    payload = build_summary(trace, status=args.status)
    try:
        sender = WebhookSender(args.url, outbox=None if args.no_outbox else Outbox(args.state_dir),
                               timeout=args.timeout, max_attempts=args.max_attempts, allow_http=args.allow_http)
    except WebhookError as exc:
        print(f"gctrace webhook send: {exc}", file=sys.stderr)
        return EXIT_INVALID
    with sender:
        result = sender.send(payload)
    out = _clean(result.to_json())
    if result.delivered:
        _print(out)
        return EXIT_OK
    if result.queued:
        _print(out)
        print(f"gctrace webhook send: not delivered: {delivery_error_line(result.error)}; "
              "kept in the outbox for `gctrace webhook flush`", file=sys.stderr)
        return EXIT_GAVE_UP
    # nothing keeps this summary: print it, so it can be sent again
    out["summary"] = payload
    _print(out)
    print(f"gctrace webhook send: not delivered: {delivery_error_line(result.error)}; not in the outbox"
          + ("" if result.rejected or args.no_outbox else " (it could not be written there)")
          + "; the summary is printed under \"summary\"", file=sys.stderr)
    return EXIT_ERROR


def _flush(args: argparse.Namespace) -> int:
    from ..errors import WebhookError
    from ..delivery.webhook import Outbox, flush_outbox

    try:
        result = flush_outbox(Outbox(args.state_dir), wait=False, timeout=args.timeout, allow_http=args.allow_http,
                              max_attempts=args.max_attempts)
    except WebhookError as exc:  # another flush holds the lock
        print(f"gctrace webhook flush: {exc}", file=sys.stderr)
        return EXIT_GAVE_UP
    except OSError as exc:
        print(f"gctrace webhook flush: cannot use the outbox: {exc}", file=sys.stderr)
        return EXIT_ERROR
    _print(result.to_json())
    if result.failed is not None:
        return EXIT_GAVE_UP
    return EXIT_ERROR if result.rejected else EXIT_OK


# ------------------------------------------------------ reuse by other commands
def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--webhook URL`` (default ``$GCTRACE_WEBHOOK_URL``) and its delivery options to ``parser``."""
    g = parser.add_argument_group("webhook")
    g.add_argument("--webhook", default=os.environ.get("GCTRACE_WEBHOOK_URL") or None, metavar="URL",
                   help="post a summary here when the trace is done (default: $GCTRACE_WEBHOOK_URL); "
                        "signed with $GCTRACE_WEBHOOK_SECRET when set; kept in the outbox if undelivered")
    g.add_argument("--webhook-timeout", type=float, default=10.0, metavar="S",
                   help="seconds per webhook attempt (default: 10)")
    g.add_argument("--webhook-max-attempts", type=int, default=5, metavar="N",
                   help="webhook attempts before the summary goes to the outbox (default: 5)")
    g.add_argument("--webhook-allow-http", action="store_const", const=True, default=None,
                   help="accept a plain http:// URL to another host (an internal receiver); "
                        "default: $GCTRACE_WEBHOOK_ALLOW_HTTP, else https only (http only to this machine)")
    g.add_argument("--state-dir", default=None, metavar="DIR",
                   help="where the webhook outbox lives (default: $GCTRACE_STATE_DIR or ~/.local/state/gctrace_nb)")
    g.add_argument("--audit-dir", default=None, metavar="DIR",
                   help="where audit logs go (default: $GCTRACE_AUDIT_DIR or <state dir>/audit)")


def deliver_for_cli(trace: "Trace", args: argparse.Namespace, *, status: str | None = None) -> dict | None:
    """Post ``trace``'s summary to ``args.webhook``; return the CLI's ``"webhook"`` object.

    Returns ``None`` when no URL was given. Never raises for a delivery
    problem: a bad URL comes back as ``{"delivered": false, ..., "error": ...}``
    so the trace's own output and exit status are unaffected.
    """
    url = getattr(args, "webhook", None)
    if not url:
        return None
    from ..errors import WebhookError
    from ..delivery.webhook import Outbox, post_summary

    try:
        result = post_summary(
            trace, url, status=status, outbox=Outbox(getattr(args, "state_dir", None)),
            timeout=getattr(args, "webhook_timeout", 10.0), max_attempts=getattr(args, "webhook_max_attempts", 5),
            allow_http=getattr(args, "webhook_allow_http", None),
        )
    except (WebhookError, ValueError) as exc:  # a bad URL or option: report it, the trace still stands
        return {"delivered": False, "attempts": 0, "status": None, "error": str(exc)}
    return _clean(result.to_json())


def report_trace_for_cli(trace: "Trace", args: argparse.Namespace) -> dict | None:
    """Post the summary (when ``--webhook`` is given) and write the trace's audit lines.

    Returns the ``"webhook"`` object for the command's output, or ``None``.
    """
    from ..delivery import audit

    with audit_for_cli(args):
        result = deliver_for_cli(trace, args)
        audit.audit_trace(trace, webhook=result)
    return result


def report_failure_for_cli(exc: BaseException, args: argparse.Namespace) -> dict | None:
    """Audit a failed trace command; for a failed job, also post a ``"failed"`` summary.

    Returns the ``"webhook"`` object when a summary was posted, else ``None``.
    """
    from ..delivery import audit
    from ..errors import JobFailed
    from ..core.model import Trace, TraceMetadata

    flow_id, action_id = getattr(args, "flow_id", None), getattr(args, "action_id", None)
    ids = {"flow_id": flow_id, "action_invocation_id": action_id}
    with audit_for_cli(args):
        audit.audit_error(exc, **{k: v for k, v in ids.items() if isinstance(v, str)})
        if not isinstance(exc, JobFailed) or not getattr(args, "webhook", None):
            return None
        empty = Trace([], TraceMetadata(source="debug", job_id=exc.job_id, flow_id=flow_id,
                                        action_invocation_id=action_id))
        return deliver_for_cli(empty, args, status="failed")


# ------------------------------------------------------ what a person reads
def _clean(result: dict) -> dict:
    """The CLI's view of a delivery result: ``error`` as one clean line."""
    if result.get("error"):
        result = {**result, "error": delivery_error_line(result["error"])}
    return result
