"""What the commands that read trace files share: ``-`` is standard input, the rest are paths.

Only regular files (and ``-``) are read; a FIFO, ``/dev/zero``, a socket or a
device is refused at once with a :class:`~gctrace_nb.errors.TraceFormatError`
(exit status 2), since reading one would hang or never end
(:func:`gctrace_nb.core.documents.read_trace_file`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from ..core.model import Trace

__all__ = ["STDIN", "STDIN_LABEL", "load_cli_trace"]

#: The argument that stands for standard input.
STDIN = "-"
#: How a trace read from standard input is named in output and messages.
STDIN_LABEL = "<stdin>"


def load_cli_trace(path: str, *, storage_options: Mapping | None = None) -> "Trace":
    """Load the trace a command-line argument names (``-``: standard input, read once; a URL through fsspec)."""
    from ..errors import TraceFormatError
    from ..core.model import load_trace

    if path == STDIN:
        try:
            data = sys.stdin.buffer.read()
        except (OSError, ValueError, AttributeError) as exc:  # closed, or not a byte stream
            raise TraceFormatError(f"cannot be read ({exc})", STDIN_LABEL) from None
        if not data.strip():
            raise TraceFormatError("empty input", STDIN_LABEL)
        return load_trace(data, name=STDIN_LABEL)
    return load_trace(path, storage_options=storage_options)
