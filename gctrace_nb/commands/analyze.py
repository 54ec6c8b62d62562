"""``gctrace analyze FILE... [--format json|text]``: the spec's figures for saved traces.

One file prints one JSON object, several print an array in argument order
(``spec/analysis.md`` §5). A file that cannot be read is named on stderr in
one line and the exit status is 2, but every other file is still analysed.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..cli import EXIT_INVALID, EXIT_OK
from ..errors import TraceFormatError
from ..model import load_trace


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse saved trace files", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", metavar="FILE", help="trace documents (any shape the spec accepts)")
    p.add_argument("--format", choices=("json", "text"), default="text", help="output format (default: text)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    status = EXIT_OK
    results = []
    texts = []
    for path in args.files:
        try:
            trace = load_trace(path)
            analysis_json = trace.analysis.to_json(path)
        except TraceFormatError as exc:
            print(f"gctrace analyze: {_one_line(str(exc))}", file=sys.stderr)
            status = EXIT_INVALID
            continue
        if args.format == "json":
            results.append(analysis_json)
        else:
            texts.append(trace.summary_text())
    if args.format == "json":
        if len(args.files) == 1:
            if results:
                print(json.dumps(results[0], ensure_ascii=False))
        else:
            print(json.dumps(results, ensure_ascii=False))
    elif texts:
        print("\n\n".join(texts))
    return status


def _one_line(text: str) -> str:
    return " ".join(text.split())
