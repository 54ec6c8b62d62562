"""How the simulator reads a request body: framed, capped, refused with 400/411/413, never fatal.

A body is read only when its ``Content-Length`` is a plain non-negative integer
no larger than :data:`MAX_BODY_BYTES`; anything else is refused before a byte
of it is read (so a 1 GiB POST costs nothing), and the connection is closed
afterwards (the unread body would otherwise be taken for the next request).
"""

from __future__ import annotations

import json
from email.message import Message
from io import BufferedIOBase
from typing import Any, BinaryIO, Final, Mapping

__all__ = ["MAX_BODY_BYTES", "BodyRefused", "read_body", "parse_json_body"]

#: The largest request body the simulator reads (webhook summaries and API bodies are a few KB).
MAX_BODY_BYTES: Final = 1 << 20


class BodyRefused(Exception):
    """A request body the simulator will not read or parse: answer ``status`` with ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def read_body(rfile: BinaryIO | BufferedIOBase, headers: Mapping[str, str] | Message, *,
              limit: int = MAX_BODY_BYTES) -> bytes:
    """Read the body ``headers`` announce, or raise :class:`BodyRefused` (400, 411 or 413)."""
    if (headers.get("Transfer-Encoding") or "").strip():
        raise BodyRefused(411, "length.required", "A request body needs a Content-Length (no chunked encoding)")
    raw = (headers.get("Content-Length") or "").strip()
    if not raw:
        return b""
    if not raw.isdigit():  # "abc", "-5", "1e3", " 1 2"
        raise BodyRefused(400, "bad.request", f"Content-Length must be a non-negative integer, got {raw[:40]!r}")
    length = int(raw)
    if length > limit:
        raise BodyRefused(413, "request.entity.too.large",
                          f"The request body is {length} bytes; the limit is {limit} bytes")
    return rfile.read(length) if length else b""


def parse_json_body(body: bytes) -> Any:
    """The JSON value of ``body`` (``None`` when empty), or :class:`BodyRefused` 400 saying why."""
    if not body:
        return None
    try:
        return json.loads(body.decode("utf-8"))
    except RecursionError:
        raise BodyRefused(400, "bad.request", "The request body is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BodyRefused(400, "bad.request", f"The request body is not valid JSON: {exc}") from None
