"""Read a trace document from anything a user holds, and find its steps list.

Shapes (``spec/analysis.md`` §1): a bare list of steps; an object with a
``steps`` list (our saved format, metadata beside it); a job response whose
``result`` is a list or an object with ``steps``. A downloaded Genesys flow
execution-history document (``{"flow": {"execution": [...]}}``) is
recognised by shape and converted by :mod:`gctrace_nb.core.formats.history`.
Anything else is a :class:`~gctrace_nb.errors.TraceFormatError` naming the file.

What comes in is checked once, here, whatever the path (a file, bytes, JSON
text, a parsed object, a job response, a batch):

* a ``str`` is always a **path**; JSON text is ``bytes``, or
  ``read_document(text=...)`` (a path such as ``"[prod] trace.json"`` is a file);
* only a regular file is read: a directory, a FIFO, ``/dev/zero`` or a socket
  is refused at once (reading one would hang, or never end);
* a document nested more than :data:`MAX_NESTING` levels deep, or a parsed
  object that contains itself, is refused (every later view walks the values,
  and no reader disagrees about where the limit lies);
* lone surrogates (``"a\\udfff"``, which UTF-8 cannot encode) are escaped to the
  text ``\\udfff`` in every string and key, so every view -- frames, pictures,
  reports, webhooks, saved files -- sees the same valid text.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from typing import Any, Union

from .._text import escape_surrogates
from ..errors import TraceFormatError

__all__ = [
    "RawDocument", "read_document", "read_trace_file", "parse_json", "find_steps", "check_document",
    "too_deep", "json_depth", "SAVED_FORMAT", "MAX_NESTING", "TOO_DEEP",
]

#: The ``format`` marker of our own saved documents.
SAVED_FORMAT = "gctrace_nb.trace"

#: The deepest nesting of lists and objects a document may have (the document itself is level 1).
#: Real traces nest a few tens of levels; every reader refuses deeper ones the same way.
MAX_NESTING = 256
#: The reason given for a document nested deeper than :data:`MAX_NESTING`.
TOO_DEEP = f"nested more than {MAX_NESTING} levels deep; refused"

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # how a lone surrogate is written in JSON text

Source = Union[str, bytes, bytearray, memoryview, os.PathLike, list, dict]


@dataclass
class RawDocument:
    """The steps list of a document, what stood beside it, and where it came from."""

    steps: list
    metadata: dict = field(default_factory=dict)
    shape: str = "list"
    path: str | None = None


def parse_json(data: bytes | str, path: str | None = None) -> Any:
    """Decode JSON text and :func:`check <check_document>` it; every failure is a :class:`TraceFormatError`."""
    try:
        value = json.loads(data)
    except UnicodeDecodeError as exc:
        raise TraceFormatError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path) from None
    except json.JSONDecodeError as exc:
        # some messages end in "at" already ("Unterminated string starting at"): say it once
        what = exc.msg[: -len(" at")] if exc.msg.endswith(" at") else exc.msg
        raise TraceFormatError(f"not JSON: {what} at line {exc.lineno} column {exc.colno}", path) from None
    except RecursionError:  # deeper than the interpreter's stack: deeper than MAX_NESTING too
        raise TraceFormatError(TOO_DEEP, path) from None
    except ValueError as exc:  # huge integers
        raise TraceFormatError(f"not JSON that can be read: {type(exc).__name__}", path) from None
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if too_deep(data):
        raise TraceFormatError(TOO_DEEP, path)
    # text parsed from JSON holds no cycle, and is not too deep by now: only surrogates are left
    return _escaped(value) if _SURROGATE_ESCAPE.search(data) else value


def too_deep(data: bytes) -> bool:
    """Whether JSON text nests lists and objects more than :data:`MAX_NESTING` deep.

    Decided on the text, before or without parsing, so that every reader (the
    standard library, orjson, msgspec) refuses exactly the same documents.

    >>> too_deep(b"[" * 300 + b"]" * 300), too_deep(b'["' + b"[" * 300 + b'"]')
    (True, False)
    """
    if len(data) <= MAX_NESTING:
        return False
    if _opening_brackets(data) <= MAX_NESTING:  # cannot nest deeper than it has brackets (most traces)
        return False
    return _depth_of_marks(_marks(data)) > MAX_NESTING


def _opening_brackets(data: bytes) -> int:
    """How many ``[`` and ``{`` the text holds, strings included: a bound on its depth.

    About 5x cheaper than the exact walk (which first copies out every quote and
    bracket), so only documents with more brackets than the limit pay for that.
    numpy counts both in one pass where the batch has loaded it already; one
    file's load does not import numpy for this.
    """
    np = sys.modules.get("numpy")
    if np is None:
        return data.count(b"[") + data.count(b"{")
    folded = np.frombuffer(data, dtype=np.uint8) | 0x20  # "[" (0x5b) folds onto "{" (0x7b), nothing else does
    return int(np.count_nonzero(folded == 0x7B))


def json_depth(data: bytes) -> int:
    """The deepest nesting of lists and objects in JSON text; brackets inside strings do not count.

    Exact for valid JSON (for invalid text, whatever a reader then says about it).

    >>> json_depth(b'{"a": [1, {"b": "]]]\\\\\\\\"}], "c": "\\\\"[["}'), json_depth(b"7")
    (3, 0)
    """
    return _depth_of_marks(_marks(data))


_ESCAPE = re.compile(rb"\\.", re.S)
_NOT_MARK = bytes(b for b in range(256) if b not in b'"[]{}')
_STRING_MARKS = re.compile(rb'"[^"]*"')


def _marks(data: bytes) -> bytes:
    """The quotes and brackets of JSON text, in order, escapes (``\\"``) taken out first (all at C speed)."""
    if b"\\" in data:
        data = _ESCAPE.sub(b"", data)
    return data.translate(None, _NOT_MARK)


def _depth_of_marks(marks: bytes) -> int:
    if b'"' in marks:
        # Two quotes side by side enclose no bracket (or close one string and open the next):
        # dropping them leaves every other mark inside or outside a string as it was.
        marks = marks.replace(b'""', b"")
        if b'"' in marks:  # what is left are strings holding brackets
            marks = _STRING_MARKS.sub(b"", marks)
    if not marks:
        return 0
    import numpy as np

    a = np.frombuffer(marks, dtype=np.uint8)
    return int(np.cumsum(np.where((a == 0x5B) | (a == 0x7B), 1, -1)).max())


def check_document(value: Any, path: str | None = None) -> Any:
    """Return ``value`` checked: nested at most :data:`MAX_NESTING` deep, no container inside itself,
    lone surrogates escaped (a copy is made only when a string needs it).

    Raises:
        TraceFormatError: too deep, or a container that contains itself.

    Example:
        >>> check_document({"nodeId": "a\\udfff"})
        {'nodeId': 'a\\\\udfff'}
        >>> loop = []; loop.append(loop)
        >>> check_document(loop)
        Traceback (most recent call last):
        ...
        gctrace_nb.errors.TraceFormatError: a list that contains itself (not a JSON document); refused
    """
    dirty = False
    # An explicit stack, not recursion: the input may be 100,000 levels deep.
    stack: list[tuple[Any, int]] = [(value, 1)]
    on_path: list[int] = []  # ids of the containers from the root to the one being walked
    inside: set[int] = set()  # the same ids, to look up
    exits: list[int] = []  # stack height at which each on_path entry is left
    while stack:
        while exits and len(stack) <= exits[-1]:
            exits.pop()
            inside.discard(on_path.pop())
        item, depth = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _LONE_SURROGATE.search(item):
                dirty = True
            continue
        if isinstance(item, dict):
            children: Any = item.values()
            for key in item:
                if isinstance(key, str) and not key.isascii() and _LONE_SURROGATE.search(key):
                    dirty = True
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > MAX_NESTING:
            raise TraceFormatError(TOO_DEEP, path)
        if id(item) in inside:
            raise TraceFormatError(f"{_kind(item)} that contains itself (not a JSON document); refused", path)
        exits.append(len(stack))
        on_path.append(id(item))
        inside.add(id(item))
        stack.extend((child, depth + 1) for child in children)
    return _escaped(value) if dirty else value


def _escaped(value: Any) -> Any:
    """A copy with lone surrogates escaped (nesting is bounded by now: recursion is safe)."""
    if isinstance(value, str):
        return escape_surrogates(value)
    if isinstance(value, dict):
        return {(escape_surrogates(k) if isinstance(k, str) else k): _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_escaped(v) for v in value)
    return value


def find_steps(obj: Any, path: str | None = None, *, checked: bool = False) -> RawDocument:
    """Locate the steps list in a parsed document, or raise :class:`TraceFormatError`.

    The document is :func:`checked <check_document>` first (``checked=True``: it already was).
    """
    if not checked:
        obj = check_document(obj, path)
    if isinstance(obj, list):
        return RawDocument(steps=obj, shape="list", path=path)
    if not isinstance(obj, dict):
        raise TraceFormatError(f"expected a list of steps or an object, got {_kind(obj)}", path)
    if "steps" in obj:
        steps = obj["steps"]
        if not isinstance(steps, list):
            raise TraceFormatError(f'"steps" must be a list, got {_kind(steps)}', path)
        metadata = obj.get("metadata")
        shape = "saved" if obj.get("format") == SAVED_FORMAT else "object"
        return RawDocument(steps=steps, metadata=dict(metadata) if isinstance(metadata, dict) else {}, shape=shape,
                           path=path)
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


def read_trace_file(path: str | os.PathLike[str], label: str | None = None) -> bytes:
    """Return the bytes of a regular file; anything else is a :class:`TraceFormatError` at once.

    A directory, a FIFO, a character device (``/dev/zero``), a socket: none is
    read (one would block for ever, another never end).
    """
    label = label or os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)  # O_NONBLOCK: opening a FIFO nobody writes must not hang
    except IsADirectoryError:
        raise TraceFormatError("is a directory, not a trace file", label) from None
    except FileNotFoundError:
        raise TraceFormatError("no such file", label) from None
    except (OSError, ValueError) as exc:  # permissions, a NUL in the name, a name too long
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TraceFormatError(f"cannot be read ({reason})", label) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise TraceFormatError("is a directory, not a trace file", label)
        if not stat.S_ISREG(mode):
            raise TraceFormatError(f"not a regular file ({_file_kind(mode)}); refused", label)
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            return fh.read()
    except OSError as exc:
        raise TraceFormatError(f"cannot be read ({exc.strerror or exc})", label) from None
    finally:
        if fd >= 0:
            os.close(fd)


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a plain file"


def read_document(source: Source | None = None, *, name: str | None = None, text: str | None = None) -> RawDocument:
    """Read ``source`` into a :class:`RawDocument`.

    ``source`` is a path (``str`` or :class:`os.PathLike`: a ``str`` is always
    a path, whatever it starts with), JSON ``bytes``, or a parsed list/dict.
    JSON text given as a ``str`` goes in ``text=``.
    """
    if text is not None:
        if source is not None:
            raise TypeError("give either a source or text=, not both")
        if not isinstance(text, str):
            raise TypeError(f"text must be a str of JSON, got {type(text).__name__}")
        if not text.strip():
            raise TraceFormatError("empty text", name)
        return find_steps(parse_json(text, name), name)
    if isinstance(source, (list, dict)):
        return find_steps(check_document(source, name), name, checked=True)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data.strip():
            raise TraceFormatError("empty input", name)
        return find_steps(parse_json(data, name), name, checked=True)
    if isinstance(source, str) and not source.strip():
        raise TraceFormatError("empty string: not a file path (JSON text goes in text=...)", name)
    if isinstance(source, (str, os.PathLike)):
        label = name or os.fspath(source)
        try:
            data = read_trace_file(source, label)
        except TraceFormatError:
            if isinstance(source, str) and source.lstrip()[:1] in ("[", "{") and not os.path.lexists(source):
                shown = label if len(label) <= 120 else label[:60] + "…"
                raise TraceFormatError("no such file (a str is a path: JSON text goes in as bytes or "
                                       "text=...)", shown) from None
            raise
        if not data.strip():
            raise TraceFormatError("empty file", label)
        return find_steps(parse_json(data, label), label, checked=True)
    raise TraceFormatError(f"cannot read a trace from {type(source).__name__}", name)
