"""Names a package exports but whose modules load only when a name is first used.

``import gctrace_nb`` must not import plotly, graphviz, ipywidgets, polars or
dask; the package inits declare ``{name: submodule}`` and get their module
``__getattr__``/``__dir__`` from :func:`lazy_exports` (PEP 562).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each name in ``names`` comes from ``package.<submodule>``.

    A resolved name is stored in the package's namespace, so later look-ups skip ``__getattr__``.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
