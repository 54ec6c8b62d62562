"""What the commands that read saved traces say when there is nothing to read.

``analyze``, ``report``, ``export`` and ``compare`` all take files, directories and
globs; an empty directory must get the same words from each of them.
"""

from __future__ import annotations

import os
from typing import Sequence

__all__ = ["nothing_to_read"]


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
