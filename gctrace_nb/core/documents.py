"""Read a trace document from anything a user holds, and find its steps list.

Shapes (``spec/analysis.md`` §1): a bare list of steps; an object with a
``steps`` list (our saved format, metadata beside it); a job response whose
``result`` is a list or an object with ``steps``. A downloaded Genesys flow
execution-history document (``{"flow": {"execution": [...]}}``) is
recognised by shape and converted by :mod:`gctrace_nb.core.formats.history`.
Anything else is a :class:`~gctrace_nb.errors.TraceFormatError` naming the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ..errors import TraceFormatError

__all__ = ["RawDocument", "read_document", "parse_json", "find_steps", "SAVED_FORMAT"]

#: The ``format`` marker of our own saved documents.
SAVED_FORMAT = "gctrace_nb.trace"

Source = Union[str, bytes, bytearray, os.PathLike, list, dict]


@dataclass
class RawDocument:
    """The steps list of a document, what stood beside it, and where it came from."""

    steps: list
    metadata: dict = field(default_factory=dict)
    shape: str = "list"
    path: str | None = None


def parse_json(data: bytes | str, path: str | None = None) -> Any:
    """Decode JSON text, turning every decoder failure into a :class:`TraceFormatError`."""
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise TraceFormatError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path) from None
    except json.JSONDecodeError as exc:
        # some messages end in "at" already ("Unterminated string starting at"): say it once
        what = exc.msg[: -len(" at")] if exc.msg.endswith(" at") else exc.msg
        raise TraceFormatError(f"not JSON: {what} at line {exc.lineno} column {exc.colno}", path) from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, huge integers
        raise TraceFormatError(f"not JSON that can be read: {type(exc).__name__}", path) from None


def _looks_like_json_text(text: str) -> bool:
    head = text.lstrip()[:1]
    return head in ("{", "[")


def find_steps(obj: Any, path: str | None = None) -> RawDocument:
    """Locate the steps list in a parsed document, or raise :class:`TraceFormatError`."""
    if isinstance(obj, list):
        return RawDocument(steps=obj, shape="list", path=path)
    if not isinstance(obj, dict):
        raise TraceFormatError(f"expected a list of steps or an object, got {_kind(obj)}", path)
    if "steps" in obj:
        steps = obj["steps"]
        if not isinstance(steps, list):
            raise TraceFormatError(f'"steps" must be a list, got {_kind(steps)}', path)
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        shape = "saved" if obj.get("format") == SAVED_FORMAT else "object"
        return RawDocument(steps=steps, metadata=dict(metadata), shape=shape, path=path)
    if "result" in obj:
        result = obj["result"]
        if isinstance(result, list):
            return RawDocument(steps=result, metadata=_job_metadata(obj), shape="job", path=path)
        if isinstance(result, dict) and isinstance(result.get("steps"), list):
            return RawDocument(steps=result["steps"], metadata=_job_metadata(obj), shape="job", path=path)
        raise TraceFormatError(
            f'job response "result" holds no steps list (got {_kind(result)})', path
        )
    flow = obj.get("flow")
    if isinstance(flow, dict) and isinstance(flow.get("execution"), list):
        from .formats import history  # a real Genesys execution-history download

        steps, metadata = history.execution_document_to_steps(obj)
        return RawDocument(steps=steps, metadata=metadata, shape="execution_history", path=path)
    if "status" in obj:
        status = obj.get("status")
        message = obj.get("message")
        detail = f" (status {status!r}" + (f", message {message!r})" if message else ")")
        raise TraceFormatError(f"job response without a result{detail}", path)
    keys = ", ".join(sorted(str(k) for k in obj)[:5])
    raise TraceFormatError(f"no steps list found (an object with keys: {keys or 'none'})", path)


def _job_metadata(obj: dict) -> dict:
    meta: dict = {}
    if "status" in obj:
        meta["job_status"] = obj["status"]
    if isinstance(obj.get("id"), str):
        meta["job_id"] = obj["id"]
    return meta


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def read_document(source: Source, *, name: str | None = None) -> RawDocument:
    """Read ``source`` (a path, JSON bytes/str, or a parsed list/dict) into a :class:`RawDocument`.

    A ``str`` that starts with ``{`` or ``[`` is JSON text; any other ``str`` is a path.
    """
    if isinstance(source, (list, dict)):
        return find_steps(source, name)
    if isinstance(source, (bytes, bytearray)):
        return find_steps(parse_json(bytes(source), name), name)
    if isinstance(source, str) and not source.strip():
        raise TraceFormatError("empty string: neither JSON text nor a file path", name)
    if isinstance(source, str) and _looks_like_json_text(source):
        return find_steps(parse_json(source, name), name)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = name or os.fspath(source)
        try:
            data = path.read_bytes()
        except IsADirectoryError:
            raise TraceFormatError("is a directory, not a trace file", label) from None
        except FileNotFoundError:
            raise TraceFormatError("no such file", label) from None
        except OSError as exc:
            raise TraceFormatError(f"cannot be read ({exc.strerror or exc})", label) from None
        if not data.strip():
            raise TraceFormatError("empty file", label)
        return find_steps(parse_json(data, label), label)
    raise TraceFormatError(f"cannot read a trace from {type(source).__name__}", name)
