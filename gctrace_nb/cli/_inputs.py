"""What the commands that read saved traces share: their input options and their messages.

``analyze``, ``report``, ``export`` and ``compare`` all take files, directories, globs
and URLs; an empty directory must get the same words from each of them
(:func:`nothing_to_read`). ``--storage-options`` (fsspec options for URLs) and
``--scheduler`` (a Dask cluster) are added by :func:`add_input_options`;
:func:`load_set` turns them into a loaded set, or a message on stderr and an exit
status: options that are not JSON or object storage that cannot be listed exit 2
(invalid input), a Dask scheduler that cannot be reached exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Sequence

from .._text import one_line
from .app import EXIT_ERROR, EXIT_INVALID

__all__ = ["nothing_to_read", "add_input_options", "storage_options", "load_set", "named"]


def nothing_to_read(inputs: str | Sequence[str], files_found: int) -> str:
    """The one-line message when no trace came out of ``inputs`` (``files_found`` files were tried).

    >>> nothing_to_read(["empty/"], 0)
    'no trace files in empty/ (a directory is read for *.json, *.ndjson and *.jsonl files)'
    >>> nothing_to_read("bad.json", 1)
    'no readable trace in bad.json'
    """
    named = " ".join(os.fspath(i) for i in ([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs))
    if not files_found:
        return f"no trace files in {named} (a directory is read for *.json, *.ndjson and *.jsonl files)"
    return f"no readable trace in {named}"


def add_input_options(p: argparse.ArgumentParser, *, scheduler: bool) -> None:
    """``--storage-options`` (and with ``scheduler``, ``--scheduler``)."""
    p.add_argument("--storage-options", metavar="JSON",
                   help="fsspec options for URLs (s3://, gs://, az://, https://): a JSON object, or @FILE holding "
                        "one, e.g. '{\"endpoint_url\": \"http://minio:9000\"}'; credentials also come from each "
                        "filesystem's environment variables (AWS_*, AZURE_STORAGE_*, GOOGLE_APPLICATION_CREDENTIALS)")
    if scheduler:
        p.add_argument("--scheduler", metavar="ADDRESS", default=os.environ.get("DASK_SCHEDULER_ADDRESS") or None,
                       help="run on this Dask cluster (tcp://host:8786; default: $DASK_SCHEDULER_ADDRESS); "
                            "inputs must be URLs or paths every worker can read")


def _say(prog: str, text: str) -> None:
    print(f"gctrace {prog}: {one_line(text)}", file=sys.stderr)


def storage_options(args: argparse.Namespace, prog: str) -> dict | None:
    """The parsed ``--storage-options``, or ``None`` after saying why they are not valid."""
    from .._storage import parse_storage_options

    try:
        return parse_storage_options(getattr(args, "storage_options", None))
    except ValueError as exc:
        _say(prog, str(exc))
        return None


def load_set(args: argparse.Namespace, inputs: Any, prog: str, *, frames: bool = True,
             progress: bool | None = None) -> tuple[Any, int, int]:
    """``(set, files found, 0)``, or ``(None, 0, status)`` after a message: the inputs
    expanded and loaded with the shared options (here, or on ``--scheduler``'s cluster)."""
    from ..batch.discover import expand_paths
    from ..batch.dispatch import load_traces
    from ..errors import ClusterUnavailable, StorageError

    options = storage_options(args, prog)
    if options is None:
        return None, 0, EXIT_INVALID
    try:
        files = expand_paths(inputs, options)
        ts = load_traces(files, progress=sys.stderr.isatty() if progress is None else progress, frames=frames,
                         storage_options=options, scheduler=getattr(args, "scheduler", None))
    except StorageError as exc:
        _say(prog, str(exc))
        return None, 0, EXIT_INVALID
    except ClusterUnavailable as exc:
        _say(prog, str(exc))
        return None, 0, EXIT_ERROR
    return ts, len(files), 0


def named(inputs: str | Sequence[str]) -> list[str]:
    """``inputs`` as they may be shown: URLs without user info or signatures."""
    from .._storage import redact_url

    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    return [redact_url(os.fspath(i)) for i in items]
