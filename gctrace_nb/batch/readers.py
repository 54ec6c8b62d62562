"""Reading trace files fast: orjson, a typed msgspec decoder, NDJSON, and the general reader as referee.

Never raises for bad input: a file that cannot be read becomes ``(path, reason)``. URLs
(``s3://``, ``gs://``, ``https://``, ...) are fetched through :mod:`gctrace_nb._storage`,
many at a time, and then read exactly as local files are.

Every reader here gives what :func:`gctrace_nb.core.documents.read_document`
gives, or leaves the document to it. What the core decides on the text is
decided once, before any decoder runs: only regular files are read
(:func:`~gctrace_nb.core.documents.read_trace_file`), a document nested more
than :data:`~gctrace_nb.core.documents.MAX_NESTING` deep is refused
(:func:`~gctrace_nb.core.documents.too_deep`), an empty file is ``"empty file"``
whatever its suffix (``.json`` or ``.ndjson``). orjson reads an integer beyond
64 bits as a float (``10**30`` -> ``1e+30``, so an id ``flow:1e+30#0``); a
document that may hold one goes to a reader that keeps it exact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence, Mapping


from .. import _storage as storage
from ..core.documents import TOO_DEEP, find_steps, parse_json, read_trace_file, too_deep
from ..errors import StorageError, TraceFormatError
from .discover import NDJSON_SUFFIXES

if TYPE_CHECKING:  # pragma: no cover
    pass


# ------------------------------------------------------------------ reading
@dataclass
class Doc:
    label: str  # file, or file:line for NDJSON
    path: str | None
    line: int | None
    steps: list
    flow_id: str | None
    # read by the core's reader (orjson refused it: e.g. lone surrogates), or given in
    # memory: analysed by the pure-Python path, whose frames clean such strings
    slow: bool = False
    # steps are typed structs (:func:`_typed_decoder`), not dicts: every field read is text or None
    typed: bool = False


def _flow_id(metadata: dict) -> str | None:
    value = metadata.get("flow_id") if isinstance(metadata, dict) else None
    return None if value is None else (value if isinstance(value, str) else str(value))


def _loads(data: bytes) -> Any:
    import orjson

    return orjson.loads(data)


#: Step keys read from a typed document: the analysis's, and with frames the text columns'.
_TYPED_FIELDS = ("nodeId", "parentId", "startTime", "endTime", "status")
TYPED_FRAME_FIELDS = ("errorMessage", "name", "nodeName", "actionName", "displayName", "label")
_DECODERS: dict = {}
_DIGIT_FLAGS = bytes(49 if 48 <= b <= 57 else 48 for b in range(256))  # digit -> "1", else "0"
#: orjson reads integers within 64 bits exactly; the longest such has 19 digits (-2**63, 2**64 - 1
#: has 20 but is caught by its first 19). A run of this many digits sends a document elsewhere.
_ORJSON_SAFE_DIGITS = 18


def _typed_decoder(frames: bool):
    """msgspec decoders of ``{"steps": [...], "metadata": {...}}`` and of a bare list of
    steps, into structs whose fields are the step keys the batch reads, each text or
    null (default null).

    Strict: any other type there, another shape, anything but strict JSON raises,
    and the caller reads the file the general way. Unknown keys are skipped without
    building objects for them, which is most of the speed.
    """
    dec = _DECODERS.get(frames)
    if dec is None:
        from typing import Optional

        import msgspec

        fields = _TYPED_FIELDS + (TYPED_FRAME_FIELDS if frames else ())
        step = msgspec.defstruct("TypedStep", [(f, Optional[str], None) for f in fields], gc=False)
        meta = msgspec.defstruct("TypedMetadata", [("flow_id", Optional[str], None)], gc=False)
        steps: Any = list[step]  # type: ignore[valid-type]  # a struct made at run time
        doc = msgspec.defstruct("TypedDocument", [("steps", steps), ("metadata", Optional[meta], None)], gc=False)
        dec = _DECODERS[frames] = (msgspec.json.Decoder(doc), msgspec.json.Decoder(steps))
    return dec


def _long_digit_run(data: bytes, limit: int | None = None) -> bool:
    """True if ``data`` holds a run of more than ``limit`` digits (default: what ``int()`` accepts from text).

    The standard library refuses an integer longer than ``int()`` takes
    (``ValueError``), and the core's reader with it; msgspec would skip it in a
    key it does not read. Any run of ``limit + 1`` digits covers two digits
    ``S = (limit + 1) // 2`` apart at multiples of ``S``: when no such pair is
    seen in every ``S``-th byte (the common case), no run is that long.

    >>> _long_digit_run(b'{"flowId": 1000000000000000000000000000000}', 18)
    True
    >>> _long_digit_run(b'{"t": 1700000000000, "u": 1700000000001}', 18)
    False
    """
    import sys

    if limit is None:
        limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()  # no limit before 3.10.7 / 3.11
    if not limit or len(data) <= limit:
        return False
    stride = (limit + 1) // 2
    if b"11" not in data[::stride].translate(_DIGIT_FLAGS):
        return False
    return b"1" * (limit + 1) in data.translate(_DIGIT_FLAGS)


def _decode_typed(data: bytes, frames: bool) -> tuple[list, str | None] | None:
    """The typed steps and flow id of ``data``, or ``None`` where the general reader must decide.

    Accepts only what the standard library reads to the same values: strict JSON
    (msgspec), valid UTF-8 throughout (msgspec does not check skipped strings),
    no integer too long for ``int()``.
    """
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if _long_digit_run(data):
        return None
    head = data[:64].lstrip()[:1]
    if head not in (b"{", b"["):
        return None
    decoders = _typed_decoder(frames)
    # the caller refused anything nested deeper than MAX_NESTING: msgspec recurses safely
    try:
        if head == b"[":
            return decoders[1].decode(data), None
        doc = decoders[0].decode(data)
    except Exception:  # not this shape, a type we do not take here, not strict JSON
        return None
    return doc.steps, None if doc.metadata is None else doc.metadata.flow_id


def read_file(path: str, typed: bool | None = None, data: Any = None, storage_options: Mapping | None = None
              ) -> tuple[list[Doc], list[tuple[str, str]]]:
    """Read one file into trace documents and errors (never raises for bad input).

    ``typed`` (the frames flag, or ``None`` for plain dicts): documents of the
    common shape come as typed structs, read without a dict per step. ``data``:
    a URL's bytes already fetched (:func:`with_data`), or the
    :class:`~gctrace_nb.errors.StorageError` fetching them raised.
    """
    url = storage.is_url(path)
    if url and data is None:
        try:
            data = storage.read_bytes(path, storage_options)
        except StorageError as exc:
            data = exc
    if isinstance(data, StorageError):
        return [], [(data.url, data.reason)]
    label = storage.redact_url(path) if url else path  # a signed URL's signature is not shown
    if not url:
        try:
            data = read_trace_file(path)  # a regular file, or a reason (a FIFO, /dev/zero: refused at once)
        except TraceFormatError as exc:
            return [], [(path, exc.reason)]
    if not data.strip():  # the same for .json and .ndjson: a file holding no trace at all
        return [], [(label, "empty file")]
    if path.lower().endswith(NDJSON_SUFFIXES):
        return _read_ndjson(path, data, label=label)
    if too_deep(data):
        return [], [(label, TOO_DEEP)]
    if typed is not None:
        typed_doc = _decode_typed(data, typed)
        if typed_doc is not None:
            return [Doc(label, path, None, typed_doc[0], typed_doc[1], typed=True)], []
    try:
        doc, slow = _decode(data, label)
    except TraceFormatError as exc:
        if data.count(b"\n") > 0:  # a .json file holding NDJSON
            docs, errors = _read_ndjson(path, data, strict=True, label=label)
            if docs and not errors:
                return docs, errors
        return [], [(label, exc.reason)]
    return [Doc(label, path, None, doc.steps, _flow_id(doc.metadata), slow=slow)], []


def _decode(data: bytes, label: str) -> tuple[Any, bool]:
    """``(RawDocument, slow)`` of JSON text already checked for depth: orjson where it reads
    what the standard library reads, else the core's reader (``slow``: e.g. lone surrogates)."""
    if not _long_digit_run(data, _ORJSON_SAFE_DIGITS):
        try:
            value = _loads(data)
        except Exception:  # orjson refused (NaN, lone surrogates, ...): the core's reader decides
            pass
        else:
            return find_steps(value, label, checked=True), False
    return find_steps(parse_json(data, label), label, checked=True), True


def _read_ndjson(path: str, data: bytes, *, strict: bool = False, label: str | None = None
                 ) -> tuple[list[Doc], list[tuple[str, str]]]:
    docs: list[Doc] = []
    errors: list[tuple[str, str]] = []
    base = path if label is None else label
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        label = f"{base}:{number}"
        try:
            if too_deep(line):
                raise TraceFormatError(TOO_DEEP, label)
            doc, slow = _decode(line, label)
        except TraceFormatError as exc:
            errors.append((label, exc.reason))
            if strict:
                return [], errors
            continue
        docs.append(Doc(label, path, number, doc.steps, _flow_id(doc.metadata), slow=slow))
    if not docs and not errors:
        errors.append((base, "empty file"))
    return docs, errors


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def with_data(sources: Sequence[Any], storage_options: Mapping | None) -> Iterator[tuple[Any, Any]]:
    """``(source, data)``: URLs with their bytes (or the error), fetched many at a time
    just ahead of use (:func:`gctrace_nb._storage.read_many`); anything else with ``None``."""
    urls = [(s, None) for s in sources if isinstance(s, str) and storage.is_url(s)]
    if not urls:
        yield from ((s, None) for s in sources)
        return
    fetched = storage.read_many(urls, storage_options)
    for source in sources:
        yield (source, next(fetched)[1]) if isinstance(source, str) and storage.is_url(source) else (source, None)


def iter_docs(sources: Sequence[Any], progress: bool, errors: list, typed: bool | None = None,
              storage_options: Mapping | None = None) -> Iterator[Doc]:
    from ..core.model import Trace

    if progress:
        from tqdm.auto import tqdm  # ~35 ms to import: only when a bar is shown

        bar = tqdm(total=len(sources), unit="file", desc="traces")
    else:
        bar = _NoBar()
    try:
        for source, data in with_data(sources, storage_options):
            if isinstance(source, Trace):
                yield Doc(source.name or "<trace>", None, None, source.raw_steps, source.metadata.flow_id, slow=True)
            else:
                docs, errs = read_file(source, typed, data, storage_options)
                errors.extend(errs)
                yield from docs
            bar.update(1)
    finally:
        bar.close()


