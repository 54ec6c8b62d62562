"""Process-wide switches for a short-lived ``gctrace`` process; never touched by the library.

The library runs inside notebooks and the launcher's threads, where turning off the
garbage collector or retuning ``malloc`` would change someone else's process. A CLI
process owns its interpreter, so the batch commands may.
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from typing import Iterator

__all__ = ["auto_workers", "tuned_for_batch"]


def auto_workers(n_files: int) -> int:
    """2 when there are many files and a second core is idle (load average), else 1.

    ``GCTRACE_WORKERS=N`` in the environment sets it.
    """
    forced = os.environ.get("GCTRACE_WORKERS", "")
    if forced.isdigit() and int(forced) >= 1:
        return int(forced)
    cpus = os.cpu_count() or 1
    if n_files < 400 or cpus < 2:
        return 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return 1
    return 2 if load < cpus - 0.5 else 1


def _keep_freed_memory() -> None:
    """Let glibc's malloc keep and reuse freed memory instead of unmapping it (CLI only).

    The batch allocates and frees large arrays chunk after chunk; by default each
    one is a fresh ``mmap`` whose pages fault in again (~0.1 s per 2,000 traces).
    A short-lived ``gctrace`` process can keep its peak instead. A no-op where
    ``mallopt`` is missing (not glibc).
    """
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest: blocks up to 32 MiB come from the heap
    mallopt(m_trim_threshold, 1 << 30)
    mallopt(m_top_pad, 64 << 20)


@contextmanager
def tuned_for_batch() -> Iterator[None]:
    """Settings for a command that parses millions of small acyclic objects.

    The cyclic collector would walk them again and again for nothing, and glibc
    would unmap and fault in the same large arrays chunk after chunk. The
    collector is switched back on afterwards (``main()`` may run in a notebook).
    """
    enabled = gc.isenabled()
    gc.disable()
    _keep_freed_memory()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
