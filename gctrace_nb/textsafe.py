"""Strings from JSON may hold lone surrogates (``"\\ud800"``), which UTF-8 cannot encode.

Files, terminals and polars all need UTF-8, so text leaving the model passes
through one of these. Valid text is returned unchanged (the common, fast case).
"""

from __future__ import annotations

__all__ = ["replace_surrogates", "escape_surrogates"]


def replace_surrogates(text: str) -> str:
    """Lone surrogates become U+FFFD (for display and frames)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def escape_surrogates(text: str) -> str:
    """Lone surrogates become ``\\udxxx`` escapes: inside a JSON string that is the same value."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
