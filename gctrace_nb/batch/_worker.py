"""Worker process of :func:`gctrace_nb.batch.dispatch.load_traces` with ``workers > 1``.

Reads a pickled (file paths, frames flag, JSON-items flag, storage options) on stdin, writes the
pickled :class:`~gctrace_nb.batch.traceset.TraceSet` of those files on stdout (with the
JSON-items flag: their §5 objects as JSON array items, and the errors). A plain
``python -m`` child (not multiprocessing) so that callers need no
``if __name__ == "__main__"`` guard, in scripts and notebooks alike.
"""

from __future__ import annotations

import gc
import pickle
import sys


def main() -> None:
    # our own short-lived process: parsing makes millions of small acyclic objects
    # that the cyclic collector would walk again and again for nothing
    gc.disable()
    from gctrace_nb.batch.load import load_part

    paths, frames, json_items, storage_options = pickle.load(sys.stdin.buffer)
    result = load_part(paths, frames, json_items, storage_options)
    pickle.dump(result, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
