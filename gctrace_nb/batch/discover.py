"""Which files a batch reads: paths, directories, globs (sorted, trace suffixes only)."""

from __future__ import annotations

import glob as _glob
import os
from typing import TYPE_CHECKING, Iterable, Union



if TYPE_CHECKING:  # pragma: no cover
    pass


#: File suffixes taken from a directory (NDJSON holds one trace document per line).
TRACE_SUFFIXES = (".json", ".ndjson", ".jsonl")
NDJSON_SUFFIXES = (".ndjson", ".jsonl")

PathInput = Union[str, os.PathLike, Iterable[Union[str, os.PathLike]]]


def expand_paths(inputs: PathInput) -> list[str]:
    """Expand paths, directories (their trace files, sorted) and globs into a file list.

    A path that does not exist is kept (it is reported as an error when read).
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out: list[str] = []
    for item in inputs:
        text = os.fspath(item)
        if os.path.isdir(text):
            with os.scandir(text) as entries:
                names = sorted(e.name for e in entries if e.name.lower().endswith(TRACE_SUFFIXES) and e.is_file())
            out.extend(os.path.join(text, n) for n in names)
        elif not os.path.exists(text) and any(c in text for c in "*?["):
            out.extend(sorted(p for p in _glob.glob(text, recursive=True) if os.path.isfile(p)))
        else:
            out.append(text)
    return out



def file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


