"""Reading trace files fast: orjson, a typed msgspec decoder, NDJSON, and the general reader as referee.

Never raises for bad input: a file that cannot be read becomes ``(path, reason)``. URLs
(``s3://``, ``gs://``, ``https://``, ...) are fetched through :mod:`gctrace_nb._storage`,
many at a time, and then read exactly as local files are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence, Mapping


from .. import _storage as storage
from ..core.documents import find_steps, read_document
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
_NESTING_MARGIN = 100  # recursion levels the typed reader leaves unused (see _decode_typed)
_DIGIT_FLAGS = bytes(49 if 48 <= b <= 57 else 48 for b in range(256))  # digit -> "1", else "0"


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
        doc = msgspec.defstruct("TypedDocument", [("steps", list[step]), ("metadata", Optional[meta], None)], gc=False)
        dec = _DECODERS[frames] = (msgspec.json.Decoder(doc), msgspec.json.Decoder(list[step]))
    return dec


def _long_digit_run(data: bytes) -> bool:
    """True if ``data`` may hold more digits in a row than ``int()`` accepts from text.

    The standard library refuses such an integer (``ValueError``), and the core's
    reader with it; msgspec would skip it in a key it does not read. Any run of
    ``limit + 1`` digits covers a whole stretch ``[k*S, k*S + S]`` with
    ``S = (limit + 1) // 2``: only those stretches are checked.
    """
    import sys

    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()  # no limit before 3.10.7 / 3.11
    if not limit or len(data) <= limit:
        return False
    stride = (limit + 1) // 2
    flags = data[::stride].translate(_DIGIT_FLAGS)
    k = flags.find(b"11")
    while k >= 0:
        if data[k * stride:(k + 1) * stride + 1].isdigit():
            return True
        k = flags.find(b"11", k + 1)
    return False


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
    import sys

    decoders = _typed_decoder(frames)
    # msgspec, like json, counts nesting against the recursion limit, a few levels
    # more generously. A document cannot nest deeper than it has brackets, so only
    # one with that many (large traces) needs the limit lowered while msgspec
    # decodes: then it gives up well before json would, and a deeply nested
    # document goes to the general reader. The limit is process-wide, so the
    # common small file never touches it.
    limit = sys.getrecursionlimit()
    lowered = data.count(b"[") + data.count(b"{") >= limit - _NESTING_MARGIN
    if lowered:
        try:
            sys.setrecursionlimit(limit - _NESTING_MARGIN)
        except (RecursionError, ValueError):  # already deeper than that
            return None
    try:
        if head == b"[":
            return decoders[1].decode(data), None
        doc = decoders[0].decode(data)
    except Exception:  # not this shape, a type we do not take here, not strict JSON, too deep
        return None
    finally:
        if lowered:
            sys.setrecursionlimit(limit)
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
    label = path
    if url:  # a signed URL's signature is not shown
        label = storage.redact_url(path)
        if not data.strip():
            return [], [(label, "empty file")]
    else:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            data = None
    if data is not None and path.lower().endswith(NDJSON_SUFFIXES):
        return _read_ndjson(path, data, label=label)
    if data is not None and typed is not None:
        typed_doc = _decode_typed(data, typed)
        if typed_doc is not None:
            return [Doc(label, path, None, typed_doc[0], typed_doc[1], typed=True)], []
    if data is not None:
        try:
            doc = find_steps(_loads(data), path)
            return [Doc(label, path, None, doc.steps, _flow_id(doc.metadata))], []
        except Exception:  # orjson refused, or no steps: the core's reader decides
            pass
    try:
        doc = read_document(data, name=label) if url else read_document(path)
    except TraceFormatError as exc:
        if data is not None and data.count(b"\n") > 0:
            docs, errors = _read_ndjson(path, data, strict=True, label=label)
            if docs and not errors:
                return docs, errors
        return [], [(label, exc.reason)]
    return [Doc(label, path, None, doc.steps, _flow_id(doc.metadata), slow=True)], []


def _read_ndjson(path: str, data: bytes, *, strict: bool = False, label: str | None = None
                 ) -> tuple[list[Doc], list[tuple[str, str]]]:
    docs: list[Doc] = []
    errors: list[tuple[str, str]] = []
    base = path if label is None else label
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        label = f"{base}:{number}"
        slow = False
        try:
            doc = find_steps(_loads(line), label)
        except Exception:
            try:
                doc = read_document(bytes(line), name=label)
                slow = True
            except TraceFormatError as exc:
                errors.append((label, exc.reason))
                if strict:
                    return [], errors
                continue
        docs.append(Doc(label, path, number, doc.steps, _flow_id(doc.metadata), slow=slow))
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


