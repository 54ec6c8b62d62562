"""Pictures of a trace: a graphviz DAG and a plotly gantt.

Importing this package is cheap: :mod:`graphviz` and :mod:`plotly` load only
when a renderer is first used (a module ``__getattr__``, as great-tables does
for its optional datasets). Both renderers return the library's own object
(:class:`graphviz.Digraph`, :class:`plotly.graph_objects.Figure`), which
displays itself in Jupyter.

Example:
    >>> import gctrace_nb.render as render
    >>> sorted(render.__all__)
    ['dag', 'dag_svg', 'gantt']
"""

from __future__ import annotations

from .._lazy import lazy_exports as _lazy_exports

__all__ = ["dag", "dag_svg", "gantt"]

# public name -> submodule that defines it. The submodules are named apart from
# the functions: importing a submodule ``dag`` would bind the package attribute
# ``dag`` to the module and hide the function.
_LAZY = {"dag": "graph", "dag_svg": "graph", "gantt": "timeline"}


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)
