"""``gctrace analyze FILE... [--format json|text]``: the spec's figures for saved traces.

One file prints one JSON object, several print an array in argument order
(``spec/analysis.md`` §5). A file that cannot be read is named on stderr in
one line and the exit status is 2, but every other file is still analysed.
A directory stands for its trace files (``*.json``, ``*.ndjson``, ``*.jsonl``,
sorted); several files, a directory or NDJSON go through the batch analysis
(:mod:`gctrace_nb.batch`, same figures), and ``--summary`` prints the per-node table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..cli import EXIT_INVALID, EXIT_OK
from ..errors import TraceFormatError
from ..model import load_trace
from ..textsafe import escape_surrogates


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse saved trace files", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", metavar="FILE", help="trace documents (any shape the spec accepts)")
    p.add_argument("--format", choices=("json", "text"), default="text", help="output format (default: text)")
    p.add_argument("--summary", action="store_true", help="print the per-node table over all traces instead")
    p.add_argument("--by", choices=("node_id", "name"), default="node_id", help="--summary key (default: node_id)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.summary or any(os.path.isdir(f) or f.lower().endswith((".ndjson", ".jsonl")) for f in args.files) or (
        args.format == "json" and len(args.files) > 1
    ):
        from ..batch import run_analyze

        return run_analyze(args)
    status = EXIT_OK
    results = []
    texts = []
    for path in args.files:
        try:
            trace = load_trace(path)
            analysis_json = trace.analysis.to_json(path)
        except TraceFormatError as exc:
            print(f"gctrace analyze: {escape_surrogates(_one_line(str(exc)))}", file=sys.stderr)
            status = EXIT_INVALID
            continue
        if args.format == "json":
            results.append(analysis_json)
        else:
            texts.append(trace.summary_text())
    if args.format == "json":
        if len(args.files) == 1:
            if results:
                print(escape_surrogates(json.dumps(results[0], ensure_ascii=False)))
        else:
            print(escape_surrogates(json.dumps(results, ensure_ascii=False)))
    elif texts:
        print(escape_surrogates("\n\n".join(texts)))
    return status


def _one_line(text: str) -> str:
    return " ".join(text.split())
