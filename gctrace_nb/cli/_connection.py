"""What the commands that talk to Genesys share: connection flags, settings, exit statuses.

``gctrace trace``, ``history`` and ``action-test`` take the same
``--region | --api-url/--login-url`` and ``--timeout`` flags, read credentials
from the environment the same way, and turn the same exceptions into the same
exit statuses and one-line messages. Keeping that here keeps them agreeing.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

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
    p.add_argument("--timeout", type=float, default=default_timeout, metavar="S",
                   help=f"give up after S seconds overall (default: {default_timeout:g})")


def connection_from_args(args: argparse.Namespace) -> tuple[Any, Any]:
    """``(Settings, RetryPolicy)`` from the flags and the environment; nothing is sent.

    Raises :class:`~gctrace_nb.errors.ConfigError` (a ``ValueError``) naming what is wrong.
    """
    from ..api.config import Settings
    from ..api.retry import RetryPolicy
    from ..errors import ConfigError

    if args.region and (args.api_url or args.login_url):
        raise ConfigError("give either --region or --api-url/--login-url, not both")
    if not args.timeout > 0:
        raise ConfigError("--timeout must be a positive number of seconds")
    settings = Settings.from_env(region=args.region, api_url=args.api_url, login_url=args.login_url)
    policy = RetryPolicy(deadline_s=args.timeout, breaker_window_s=min(300.0, args.timeout))
    return settings, policy


def exit_status(exc: BaseException) -> tuple[int, str]:
    """The exit status and one-line message for an error raised while talking to the service.

    Errors that are neither ours nor a failed request are bugs: they are raised again.
    """
    message = describe(exc)
    if not message.expected:
        raise exc
    return message.status, message.line
