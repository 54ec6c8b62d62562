"""Which files a batch reads: paths, directories, globs and URLs (sorted, trace suffixes only).

A URL (``s3://bucket/prefix/``, ``gs://b/*.json``, ``https://host/a.json``) is
listed through fsspec (:func:`gctrace_nb._storage.expand_url`): a prefix stands
for every trace object under it, at any depth; a glob for its matches.
"""

from __future__ import annotations

import glob as _glob
import os
from typing import Iterable, Union, Mapping

from .. import _storage as storage

#: File suffixes taken from a directory (NDJSON holds one trace document per line).
TRACE_SUFFIXES = (".json", ".ndjson", ".jsonl")
NDJSON_SUFFIXES = (".ndjson", ".jsonl")

PathInput = Union[str, os.PathLike, Iterable[Union[str, os.PathLike]]]


def expand_paths(inputs: PathInput, storage_options: Mapping | None = None) -> list[str]:
    """Expand paths, directories (their trace files, sorted), globs and URLs into a file list.

    A path that does not exist is kept (it is reported as an error when read).
    Raises :class:`~gctrace_nb.errors.StorageError` when object storage cannot be listed.
    """
    return [source for source, _ in expand_sources(inputs, storage_options)]


def expand_sources(inputs: PathInput, storage_options: Mapping | None = None, *, sizes: bool = False
                   ) -> list[tuple[str, int | None]]:
    """:func:`expand_paths` with each file's size: a listing's, or with ``sizes`` a local file's (else ``None``)."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out: list[tuple[str, int | None]] = []
    for item in inputs:
        text = os.fspath(item)
        if storage.is_url(text):
            out.extend(storage.expand_url(text, TRACE_SUFFIXES, storage_options))
        else:
            out.extend((path, file_size(path) if sizes else None) for path in _expand_local(text))
    return out


def _expand_local(text: str) -> list[str]:
    """A directory's trace files (sorted), a glob's files, or the path itself."""
    if os.path.isdir(text):
        with os.scandir(text) as entries:
            names = sorted(e.name for e in entries if e.name.lower().endswith(TRACE_SUFFIXES) and e.is_file())
        return [os.path.join(text, n) for n in names]
    if not os.path.exists(text) and any(c in text for c in "*?["):
        return sorted(p for p in _glob.glob(text, recursive=True) if os.path.isfile(p))
    return [text]


def file_size(path: str) -> int:
    """The size of a local file (0 when it cannot be read, and for URLs)."""
    try:
        return os.path.getsize(path)
    except (OSError, ValueError):
        return 0
