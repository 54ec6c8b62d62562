"""The ``gctrace`` command line: :mod:`.main` parses, one module per sub-command runs it."""

from .app import main

__all__ = ["main"]
