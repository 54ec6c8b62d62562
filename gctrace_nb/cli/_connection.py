"""What the commands that talk to Genesys share: connection flags, settings, exit statuses.

``gctrace trace``, ``history`` and ``action-test`` take the same
``--region | --api-url/--login-url``, ``--client-id`` and ``--timeout`` flags,
read credentials the same way, and turn the same exceptions into the same exit
statuses and one-line messages. Keeping that here keeps them agreeing.

The client secret is never a flag (it would show in ``ps`` and shell history):
it comes from ``GENESYS_CLIENT_SECRET``, or, when a terminal is attached, it is
asked for without echo.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any, Callable, TextIO

from .._text import one_line
from ..ui.messages import EXIT_CANCELLED, describe

__all__ = ["add_connection_arguments", "connection_from_args", "exit_status", "one_line", "sayer", "EXIT_CANCELLED"]


def sayer(command: str) -> Callable[[str], None]:
    """A function printing ``gctrace COMMAND: message`` on stderr, one clean line."""

    def say(message: Any) -> None:
        print(f"gctrace {command}: {one_line(message)}", file=sys.stderr, flush=True)

    return say


def add_connection_arguments(p: argparse.ArgumentParser, *, default_timeout: float) -> None:
    p.add_argument("--region", help="Genesys region, e.g. eu_west_1 (default: GENESYS_REGION or us_east_1)")
    p.add_argument("--api-url", help="API base URL (instead of --region)")
    p.add_argument("--login-url", help="login base URL (with --api-url)")
    p.add_argument("--client-id", metavar="ID",
                   help="the OAuth client id (default: GENESYS_CLIENT_ID); its secret comes from "
                        "GENESYS_CLIENT_SECRET, or is asked for without echo on a terminal")
    p.add_argument("--timeout", type=float, default=default_timeout, metavar="S",
                   help=f"give up after S seconds overall (default: {default_timeout:g})")


def connection_from_args(
    args: argparse.Namespace,
    *,
    environ: Any = None,
    stdin: TextIO | None = None,
    ask: Callable[[str], str] | None = None,
) -> tuple[Any, Any]:
    """``(Settings, RetryPolicy)`` from the flags and the environment; nothing is sent.

    Without ``GENESYS_CLIENT_SECRET``, the secret is asked for without echo
    (``getpass``) when ``stdin`` is a terminal; otherwise it is an error naming
    both ways to give it.

    Raises :class:`~gctrace_nb.errors.ConfigError` (a ``ValueError``) naming what is wrong.
    """
    from ..api.config import Settings
    from ..api.retry import RetryPolicy
    from ..errors import ConfigError

    env = os.environ if environ is None else environ
    stdin = sys.stdin if stdin is None else stdin
    if args.region and (args.api_url or args.login_url):
        raise ConfigError("give either --region or --api-url/--login-url, not both")
    if not args.timeout > 0:
        raise ConfigError("--timeout must be a positive number of seconds")
    client_id = (getattr(args, "client_id", None) or env.get("GENESYS_CLIENT_ID") or "").strip()
    if not client_id:
        raise ConfigError("the client id is missing: pass --client-id ID or set GENESYS_CLIENT_ID")
    secret = env.get("GENESYS_CLIENT_SECRET") or None
    if not secret:
        if not _is_terminal(stdin):
            raise ConfigError("the client secret is missing: set GENESYS_CLIENT_SECRET "
                              "(or run on a terminal to be asked for it)")
        try:
            secret = (ask or getpass.getpass)(f"client secret for {client_id}: ")
        except EOFError:
            secret = ""
        if not secret:
            raise ConfigError("no client secret was entered")
    settings = Settings.from_env(env, client_id=client_id, client_secret=secret, region=args.region,
                                 api_url=args.api_url, login_url=args.login_url)
    policy = RetryPolicy(deadline_s=args.timeout, breaker_window_s=min(300.0, args.timeout))
    return settings, policy


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stdin
        return False


def exit_status(exc: BaseException) -> tuple[int, str]:
    """The exit status and one-line message for an error raised while talking to the service.

    Errors that are neither ours nor a failed request are bugs: they are raised again.
    """
    message = describe(exc)
    if not message.expected:
        raise exc
    return message.status, message.line
