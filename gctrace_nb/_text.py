"""Strings from JSON may hold lone surrogates (``"\\ud800"``), which UTF-8 cannot encode.

Files, terminals and polars all need UTF-8, so text leaving the model passes
through one of these. Valid text is returned unchanged (the common, fast case).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

__all__ = ["replace_surrogates", "escape_surrogates", "printable"]


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


def printable(text: str) -> str:
    """Control characters (ANSI escapes, NUL, ...) shown as ``\\xNN``: trace text is data.

    A node id or error message from a remote service must not move a terminal's
    cursor or recolour it. Newlines and tabs are kept.
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
