"""The ``gctrace`` command line: one sub-command per module in :mod:`gctrace_nb.cli`.

Exit statuses shared by every sub-command:
0 success; 1 an unexpected error; 2 invalid input (bad file, bad arguments,
nothing sent); 3 the job failed; 4 authentication or permission; 5 gave up
(deadline, breaker, retries exhausted).
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "EXIT_OK", "EXIT_ERROR", "EXIT_INVALID", "EXIT_JOB_FAILED", "EXIT_AUTH", "EXIT_GAVE_UP"]

from ..ui.messages import (
    EXIT_AUTH,
    EXIT_ERROR,
    EXIT_GAVE_UP,
    EXIT_INVALID,
    EXIT_JOB_FAILED,
    EXIT_OK,
)

# Each module has ``register(subparsers)`` which adds its parser and sets
# ``func=run`` where ``run(args) -> int``. Imported lazily so ``gctrace analyze``
# never pays for plotly or requests.
_COMMAND_MODULES = (
    "action_test",
    "analyze",
    "compare",
    "demo",
    "export",
    "history",
    "live",
    "report",
    "simulate",
    "trace",
    "webhook",
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``gctrace`` parser; with ``only``, just that sub-command's module is imported."""
    parser = argparse.ArgumentParser(
        prog="gctrace",
        description="Trace and analyse Genesys Cloud flow executions.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in (only,) if only else _COMMAND_MODULES:
        module = importlib.import_module(f"gctrace_nb.cli.{name}")
        module.register(sub)
    return parser


def _command_module(argv: list[str]) -> str | None:
    """The module of the sub-command named first in ``argv``, if it is one (else ``None``)."""
    if argv and not argv[0].startswith("-"):
        name = argv[0].replace("-", "_")
        if name in _COMMAND_MODULES:
            return name
    return None


def main(argv: list[str] | None = None) -> int:
    """Run ``gctrace`` with ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    if argv is None:
        argv = sys.argv[1:]
    # importing every command costs ~0.1 s (simulator, requests, ...): a run of one
    # command imports only its own module; help and errors still list them all
    parser = build_parser(_command_module(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage; keep that, but return it
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("gctrace: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
