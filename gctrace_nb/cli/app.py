"""The ``gctrace`` command line: one sub-command per module in :mod:`gctrace_nb.cli`.

Exit statuses shared by every sub-command:
0 success; 1 an unexpected error; 2 invalid input (bad file, bad arguments,
nothing sent); 3 the job failed; 4 authentication or permission; 5 gave up
(deadline, breaker, retries exhausted).
"""

from __future__ import annotations

import argparse
import importlib
import re
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


_LEADING_USAGE = re.compile(r"^``gctrace [^`]*``(?:\s*(?:,|and|or)\s*``gctrace [^`]*``)*\s*:\s*")
_ROLE = re.compile(r":[a-z]+:`~?([^`]*)`")
_LITERAL = re.compile(r"``([^`]*)``")


def plain_help(text: str | None) -> str:
    r"""Help text for a terminal: reST markup (````x````, ``:func:`x```) becomes plain text.

    A module docstring's first line, ``\`\`gctrace demo\`\`: the whole path ...``,
    repeats the usage line argparse prints anyway: that prefix is dropped.

    >>> plain_help("``gctrace demo``: the whole path, offline.")
    'The whole path, offline.'
    >>> plain_help("uses :func:`~gctrace_nb.load_trace` on ``*.json`` files")
    'uses load_trace on *.json files'
    """
    if not text:
        return text or ""
    stripped = _LEADING_USAGE.sub("", text.strip(), count=1)
    if stripped != text.strip():  # a sentence now starts here
        stripped = stripped[:1].upper() + stripped[1:]
    stripped = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], stripped)
    return _LITERAL.sub(r"\1", stripped)


def _plain_parser(parser: argparse.ArgumentParser) -> None:
    """Strip markup from a parser's description and every argument's help, sub-commands included."""
    parser.description = plain_help(parser.description) if parser.description else parser.description
    for action in parser._actions:
        if isinstance(action.help, str) and action.help is not argparse.SUPPRESS:
            action.help = plain_help(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if isinstance(choice.help, str):
                    choice.help = plain_help(choice.help)
            for child in set(action.choices.values()):
                _plain_parser(child)


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
    _plain_parser(parser)  # descriptions come from module docstrings, written in reST
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
