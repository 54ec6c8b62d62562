"""Many traces at once: discovery, fast readers, vectorised analysis, worker processes, compare, export.

- :mod:`.discover` which files; :mod:`.readers` reading them; :mod:`.columns` + :mod:`.vectorized` analysing
  them a chunk at a time; :mod:`.traceset` the result; :mod:`.load` ``load_traces`` (one process or several);
  :mod:`.jsonout` the spec's JSON; :mod:`.comparison` two sides per node; :mod:`.export` other formats.
"""

from .comparison import compare
from .load import load_traces
from .traceset import TraceSet

__all__ = ["TraceSet", "compare", "load_traces"]
