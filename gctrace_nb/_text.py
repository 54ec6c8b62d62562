"""The one place that decides how text from a trace or a server is made safe to show.

Strings from JSON may hold lone surrogates (``"\\ud800"``, which UTF-8 cannot
encode) and control characters (an ANSI escape in a node id must not recolour a
terminal). Every terminal line, file, frame and XML label goes through one of
these; valid plain text comes back unchanged (the common, fast case).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["replace_surrogates", "escape_surrogates", "printable", "one_line", "for_terminal", "xml_text"]

#: C0 and C1 controls except tab and newline (kept by :func:`printable`).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: What XML 1.0 forbids (most C0 controls, DEL) and UTF-8 cannot encode (lone surrogates).
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


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

    Newlines and tabs are kept.

    >>> printable("a\\x1b[31mb")
    'a\\\\x1b[31mb'
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def for_terminal(text: str) -> str:
    """Multi-line text for a terminal: controls as escapes, lone surrogates as escapes."""
    return printable(escape_surrogates(text))


def one_line(text: Any) -> str:
    """One terminal line: whitespace runs collapsed to a space, controls and surrogates as escapes.

    >>> one_line("bad key '\\x1b[31m'\\n  at line 2")
    "bad key '\\\\x1b[31m' at line 2"
    """
    return for_terminal(" ".join(str(text).split()))


def xml_text(value: object) -> str:
    """``value`` as text safe inside XML/UTF-8: forbidden controls and lone surrogates become U+FFFD."""
    return _XML_UNSAFE.sub("\ufffd", value if isinstance(value, str) else str(value))
