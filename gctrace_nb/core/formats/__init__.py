"""Traces from the real Genesys Cloud API, converted into our step model.

Pure converters (no HTTP, no polars):

- :mod:`gctrace_nb.core.formats.history`: a downloaded flow execution-history
  document (``{"flow": {"execution": [...]}}``) into steps and metadata.
- :mod:`gctrace_nb.core.formats.action_test`: a data action test response into steps.

The API calls that fetch them live in :mod:`gctrace_nb.api.history`
(imported on demand: it needs ``requests``).
"""

from __future__ import annotations

__all__ = ["history", "action_test"]
