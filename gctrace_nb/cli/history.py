"""``gctrace history``: trace real flow executions from Genesys Cloud's flow execution history.

Finds the flow instances of a conversation or a flow (optionally within a
time range), downloads their execution data and prints the analysis of each
instance. Credentials and hosts come from the environment exactly as for
``gctrace trace`` (``GENESYS_CLIENT_ID``/``GENESYS_CLIENT_SECRET``; ``--region``
or ``--api-url``/``--login-url``, else ``GENESYS_REGION``/``GENESYS_API_URL``/
``GENESYS_LOGIN_URL``). Needs ``architect:flowInstance:search`` and
``architect:flowInstance:view``, and execution data enabled in the org.

``--save-dir DIR`` writes one trace per instance (``DIR/<instance id>.json``,
our saved format, which ``gctrace analyze`` reads). ``--keep-raw DIR`` writes
each download untouched (``DIR/<instance id>.json``, as Genesys sent it, even
one that could not be read): check the shape a real org sends, and send it to
us. ``--format json`` prints a JSON array with one analysis object per
instance; each carries the query's ``warnings``.

The query asks once for ``pageSize`` = ``--limit`` (the SDK's call has no page
number). When the service says more instances matched than came back, a
warning says so (text: a ``warning:`` line; JSON: the ``warnings`` field and
stderr): narrow the time range with ``--since``/``--until``. Fields the
converter does not know are kept on the steps and counted per instance.

Exit status: 0 every instance fetched (or none matched); 2 invalid input
(nothing sent) or the service refused the query; 3 the job failed, or some
instance could not be downloaded or read (the others are still printed and
saved); 4 authentication or permission; 5 gave up (deadline, breaker, retries).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from .app import EXIT_ERROR, EXIT_INVALID, EXIT_JOB_FAILED, EXIT_OK
from ._connection import add_connection_arguments, connection_from_args, exit_status, one_line, sayer

__all__ = ["register", "run", "safe_file_stem"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "history",
        help="fetch real flow executions (flow execution history) and print their analysis",
        description=(__doc__ or "").splitlines()[0],
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--conversation-id", help="the conversation whose flow instances to fetch")
    which.add_argument("--flow-id", help="the Architect flow whose instances to fetch")
    p.add_argument("--since", metavar="ISO", help="only instances started at or after this ISO-8601 time")
    p.add_argument("--until", metavar="ISO", help="only instances started at or before this ISO-8601 time")
    p.add_argument("--limit", type=int, default=200, metavar="N",
                   help="at most N instances, 1..200 (the API's cap), asked in one query (pageSize=N); default: 200")
    add_connection_arguments(p, default_timeout=600.0)
    p.add_argument("--save-dir", metavar="DIR", help="save one trace per instance into DIR")
    p.add_argument("--keep-raw", metavar="DIR",
                   help="also write each download untouched into DIR (<instance id>.json), to check or report "
                        "the shape a real org sends")
    p.add_argument("--format", choices=("json", "text"), default="text", help="output format (default: text)")
    p.set_defaults(func=run)


_say = sayer("history")
_clean = one_line


def safe_file_stem(name: str, taken: set[str]) -> str:
    """:func:`gctrace_nb.api.history.safe_file_stem` (imported when used: the CLI starts fast).

    >>> safe_file_stem("../x", set())
    'x'
    """
    from ..api.history import safe_file_stem as stem

    return stem(name, taken)


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError):
        return False


def _check_dirs(args: argparse.Namespace) -> str | None:
    """What is wrong with ``--save-dir``/``--keep-raw``, or None."""
    for flag, value in (("--save-dir", args.save_dir), ("--keep-raw", args.keep_raw)):
        if value is not None and Path(value).exists() and not Path(value).is_dir():
            return f"{flag} {value} exists and is not a directory"
    if args.save_dir and args.keep_raw and _same_dir(Path(args.save_dir), Path(args.keep_raw)):
        return ("--keep-raw must name another directory than --save-dir: a raw download and the saved trace "
                "of an instance have the same file name")
    return None


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError, GctraceError, TraceRequestInvalid
    from ..api.history import MAX_INSTANCES, build_instance_query

    # ---- everything local first: nothing is sent while any of it is wrong
    if not 1 <= args.limit <= MAX_INSTANCES:
        _say(f"invalid input: --limit must be between 1 and {MAX_INSTANCES} (the API's cap), got {args.limit}")
        return EXIT_INVALID
    problem = _check_dirs(args)
    if problem:
        _say(problem)
        return EXIT_INVALID
    try:
        build_instance_query(conversation_id=args.conversation_id, flow_id=args.flow_id,
                             since=args.since, until=args.until)
        settings, policy = connection_from_args(args)
    except (TraceRequestInvalid, ConfigError, ValueError) as exc:
        _say(f"invalid input: {exc}")
        return EXIT_INVALID
    if args.keep_raw:
        try:
            Path(args.keep_raw).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _say(f"cannot create --keep-raw {args.keep_raw}: {exc.strerror or exc}")
            return EXIT_ERROR

    import requests

    from ..api.client import GenesysClient
    from ..api.history import fetch_history_traces

    def progress(event: Any) -> None:
        _say(event.message)

    errors: list = []
    try:
        with GenesysClient(settings, policy=policy) as client:
            traces = fetch_history_traces(
                client, conversation_id=args.conversation_id, flow_id=args.flow_id, since=args.since,
                until=args.until, limit=args.limit, on_progress=progress, errors=errors, keep_raw=args.keep_raw,
            )
    except (GctraceError, requests.RequestException) as exc:
        code, message = exit_status(exc)
        _say(message)
        return code

    for instance_id, reason in errors:
        _say(f"instance {instance_id or '?'} skipped: {reason}")
    if not traces and not errors:
        _say("no flow instances matched (execution data is kept 10 days, and only once enabled in the org)")
    if traces.raw_paths:
        _say(f"kept {len(traces.raw_paths)} raw download(s) in {args.keep_raw}")
    saved, save_failed = _save(traces, Path(args.save_dir) if args.save_dir else None)
    if args.format == "json":
        for warning in traces.warnings:
            _say(f"warning: {warning}")
        _print_json(traces, saved)
    else:
        _print_text(traces)
    if errors:
        return EXIT_JOB_FAILED
    return EXIT_ERROR if save_failed or traces.raw_errors else EXIT_OK


def _save(traces: list, save_dir: Path | None) -> tuple[dict[int, str], bool]:
    """Save each trace into ``save_dir``; a failed save must not lose the fetched traces (they are still printed)."""
    saved: dict[int, str] = {}
    if save_dir is None or not traces:
        return saved, False
    try:
        save_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _say(f"cannot create {save_dir}: {exc.strerror or exc}")
        return saved, True
    failed = False
    taken: set[str] = set()  # re-running overwrites an instance's earlier file: same id, same name
    for index, trace in enumerate(traces):
        stem = safe_file_stem(str(trace.metadata.extra.get("instance_id") or f"instance-{index + 1}"), taken)
        path = save_dir / f"{stem}.json"
        try:
            saved[index] = str(trace.save(path))
        except OSError as exc:
            _say(f"cannot save to {path}: {exc.strerror or exc}")
            failed = True
    if saved:
        _say(f"saved {len(saved)} trace(s) to {save_dir}")
    return saved, failed


def _print_json(traces: Any, saved: dict[int, str]) -> None:
    out = []
    for index, trace in enumerate(traces):
        item = trace.to_json()
        item["file"] = saved.get(index)
        extra = trace.metadata.extra
        for key in ("instance_id", "conversation_id", "flow_name", "flow_version", "flow_type",
                    "flow_start", "flow_end", "flow_error_reason", "unrecognised"):
            if extra.get(key) is not None:
                item[key] = extra[key]
        item["raw_file"] = traces.raw_paths.get(extra.get("instance_id"))
        item["warnings"] = list(traces.warnings)  # the query's: the same on every instance
        out.append(item)
    print(json.dumps(out, ensure_ascii=False))


def _unrecognised_line(unrecognised: Any) -> str | None:
    if not isinstance(unrecognised, dict) or not unrecognised:
        return None
    count = sum(n for n in unrecognised.values() if isinstance(n, int))
    names = ", ".join(list(unrecognised)[:5]) + (", ..." if len(unrecognised) > 5 else "")
    return (f"unrecognised fields: {count} ({names}); kept on the steps under 'unrecognised' "
            "(--keep-raw DIR keeps the download to report it)")


def _print_text(traces: Any) -> None:
    for warning in traces.warnings:
        print(_clean(f"warning: {warning}"))
    if traces.warnings:
        print()
    for trace in traces:
        extra = trace.metadata.extra
        print(_clean(
            f"instance {extra.get('instance_id')}: flow {extra.get('flow_name') or trace.metadata.flow_id} "
            f"v{extra.get('flow_version', '?')}, conversation {extra.get('conversation_id', '?')}, "
            f"started {extra.get('flow_start', '?')}"
        ))
        line = _unrecognised_line(extra.get("unrecognised"))
        if line:
            print("  " + _clean(line))
        print(trace.summary_text())
        print()
