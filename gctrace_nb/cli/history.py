"""``gctrace history``: trace real flow executions from Genesys Cloud's flow execution history.

Finds the flow instances of a conversation or a flow (optionally within a
time range), downloads their execution data and prints the analysis of each
instance. Credentials and hosts come from the environment exactly as for
``gctrace trace`` (``GENESYS_CLIENT_ID``/``GENESYS_CLIENT_SECRET``; ``--region``
or ``--api-url``/``--login-url``, else ``GENESYS_REGION``/``GENESYS_API_URL``/
``GENESYS_LOGIN_URL``). Needs ``architect:flowInstance:search`` and
``architect:flowInstance:view``, and execution data enabled in the org.

``--save-dir DIR`` writes one trace per instance (``DIR/<instance id>.json``,
our saved format, which ``gctrace analyze`` reads). ``--format json`` prints a
JSON array with one analysis object per instance.

Exit status: 0 every instance fetched (or none matched); 2 invalid input
(nothing sent) or the service refused the query; 3 the job failed, or some
instance could not be downloaded or read (the others are still printed and
saved); 4 authentication or permission; 5 gave up (deadline, breaker, retries).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from .app import EXIT_ERROR, EXIT_INVALID, EXIT_JOB_FAILED, EXIT_OK
from ._connection import add_connection_arguments, connection_from_args, exit_status, one_line, sayer

__all__ = ["register", "run", "safe_file_stem"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


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
                   help="at most N instances, 1..200 (the API's cap; default: 200)")
    add_connection_arguments(p, default_timeout=600.0)
    p.add_argument("--save-dir", metavar="DIR", help="save one trace per instance into DIR")
    p.add_argument("--format", choices=("json", "text"), default="text", help="output format (default: text)")
    p.set_defaults(func=run)


_say = sayer("history")
_clean = one_line


def safe_file_stem(name: str, taken: set[str]) -> str:
    """A file name stem made of ``[A-Za-z0-9._-]`` only, unique among ``taken`` (which it joins).

    >>> taken = set()
    >>> safe_file_stem("../../etc/passwd", taken), safe_file_stem("../../etc/passwd", taken)
    ('etc_passwd', 'etc_passwd-2')
    """
    stem = _UNSAFE.sub("_", name).strip("._-")[:100] or "instance"
    candidate, n = stem, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem}-{n}"
    taken.add(candidate.lower())
    return candidate


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError, GctraceError, TraceRequestInvalid
    from ..api.history import MAX_INSTANCES, build_instance_query

    # ---- everything local first: nothing is sent while any of it is wrong
    if not 1 <= args.limit <= MAX_INSTANCES:
        _say(f"invalid input: --limit must be between 1 and {MAX_INSTANCES} (the API's cap), got {args.limit}")
        return EXIT_INVALID
    save_dir = Path(args.save_dir) if args.save_dir else None
    if save_dir is not None and save_dir.exists() and not save_dir.is_dir():
        _say(f"--save-dir {args.save_dir} exists and is not a directory")
        return EXIT_INVALID
    try:
        build_instance_query(conversation_id=args.conversation_id, flow_id=args.flow_id,
                             since=args.since, until=args.until)
        settings, policy = connection_from_args(args)
    except (TraceRequestInvalid, ConfigError, ValueError) as exc:
        _say(f"invalid input: {exc}")
        return EXIT_INVALID

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
                until=args.until, limit=args.limit, on_progress=progress, errors=errors,
            )
    except (GctraceError, requests.RequestException) as exc:
        code, message = exit_status(exc)
        _say(message)
        return code

    for instance_id, exc in errors:
        _say(f"instance {instance_id or '?'} skipped: {exc}")
    if not traces and not errors:
        _say("no flow instances matched (execution data is kept 10 days, and only once enabled in the org)")

    saved: dict[int, str] = {}
    save_failed = False  # a failed save must not lose the fetched traces: they are still printed
    if save_dir is not None and traces:
        try:
            save_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _say(f"cannot create {args.save_dir}: {exc.strerror or exc}")
            save_failed = True
        taken: set[str] = set()  # re-running overwrites an instance's earlier file: same id, same name
        for index, trace in enumerate(traces if not save_failed else ()):
            stem = safe_file_stem(str(trace.metadata.extra.get("instance_id") or f"instance-{index + 1}"), taken)
            path = save_dir / f"{stem}.json"
            try:
                saved[index] = str(trace.save(path))
            except OSError as exc:
                _say(f"cannot save to {path}: {exc.strerror or exc}")
                save_failed = True
        if saved:
            _say(f"saved {len(saved)} trace(s) to {save_dir}")

    if args.format == "json":
        out = []
        for index, trace in enumerate(traces):
            item = trace.to_json()
            item["file"] = saved.get(index)
            extra = trace.metadata.extra
            for key in ("instance_id", "conversation_id", "flow_name", "flow_version", "flow_type",
                        "flow_start", "flow_end", "flow_error_reason"):
                if extra.get(key) is not None:
                    item[key] = extra[key]
            out.append(item)
        print(json.dumps(out, ensure_ascii=False))
    else:
        for trace in traces:
            extra = trace.metadata.extra
            print(_clean(
                f"instance {extra.get('instance_id')}: flow {extra.get('flow_name') or trace.metadata.flow_id} "
                f"v{extra.get('flow_version', '?')}, conversation {extra.get('conversation_id', '?')}, "
                f"started {extra.get('flow_start', '?')}"
            ))
            print(trace.summary_text())
            print()
    return EXIT_JOB_FAILED if errors else (EXIT_ERROR if save_failed else EXIT_OK)
