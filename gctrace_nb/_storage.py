"""Trace files in object storage: fsspec URLs beside local paths.

A source is either a local path (what :func:`os.open` takes) or a URL with a
scheme (``s3://``, ``gs://``, ``az://``, ``abfs://``, ``https://``, ``file://``,
any protocol fsspec knows). URLs are read through fsspec with
``storage_options`` (the keyword arguments of the filesystem, as pandas and
polars take them: ``{"key": ..., "secret": ..., "endpoint_url": ...}`` for S3)
plus each filesystem's own environment variables (``AWS_*``, ``AZURE_STORAGE_*``,
``GOOGLE_APPLICATION_CREDENTIALS``). fsspec and the filesystem packages are
imported only when a URL is used.

- :func:`is_url` tells a URL from a path (``C:\\x`` is a path).
- :func:`expand_url` lists a prefix (every object under it), a glob, or keeps one object.
- :func:`read_many` fetches many objects concurrently (``fs.cat``), in batches.
- :func:`open_output` opens an object for writing (exports).
- :class:`~gctrace_nb.errors.StorageError` names the URL, never a credential: messages pass through
  :func:`scrub`, which removes every secret-looking value of the
  ``storage_options`` and of the environment, and URLs lose their user info
  and signed query strings (:func:`redact_url`).
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ._redact import REDACTED, is_secret_key, redact_text
from .errors import StorageError

__all__ = [
    "StorageError", "is_url", "redact_url", "scrub", "filesystem", "expand_url", "read_many", "read_bytes",
    "open_output", "parse_storage_options",
]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+)://")
_GLOB_CHARS = "*?["
#: Keys of storage options whose values are secrets beyond the one rule of :mod:`._redact`
#: (s3fs's ``key`` is the access key id; Azure's ``account_key``, ``sas_token``, ``connection_string``).
_STORAGE_SECRET_KEY = re.compile(r"key|sas|connection_?string|private", re.IGNORECASE)
#: Query parameters of signed URLs (S3 presigned, Azure SAS, GCS signed).
_SECRET_QUERY = re.compile(r"^(x-amz-|x-goog-|sig$|signature$|se$|sp$|sv$|skoid|sktid|token|access_token|key$)",
                           re.IGNORECASE)
#: Environment variables the filesystems read credentials from.
_SECRET_ENV = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_CLIENT_SECRET", "GOOGLE_OAUTH_ACCESS_TOKEN",
)
#: fsspec's protocol -> the package it needs (and our extra that installs it).
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
             "abfss": "adlfs", "adl": "adlfs", "http": "aiohttp", "https": "aiohttp"}
_EXTRAS = {"s3fs": "dask", "gcsfs": "gcs", "adlfs": "azure", "aiohttp": "dask"}
_BATCH_FILES = 256  # objects fetched concurrently at a time
_BATCH_BYTES = 64 << 20  # ... or about this many bytes (the listing's sizes)


def is_url(source: Any) -> bool:
    """Return whether ``source`` is a URL (``scheme://...``) rather than a local path.

    Example:
        >>> is_url("s3://bucket/traces/"), is_url("traces/a.json"), is_url("C:\\\\traces")
        (True, False, False)
    """
    return isinstance(source, str) and _SCHEME.match(source) is not None


def protocol(url: str) -> str:
    """The URL's scheme, lower case (``"s3"``)."""
    m = _SCHEME.match(url)
    return m.group(1).lower() if m else "file"


def redact_url(url: str) -> str:
    """``url`` without user info and without signed query parameters.

    Example:
        >>> redact_url("https://me:pw@host/a.json?sig=abc&v=1")
        'https://host/a.json?sig=[REDACTED]&v=1'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if _SECRET_QUERY.match(k) else v) for k, v in pairs], safe="[]")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _secrets(options: Any, under_secret: bool = False) -> Iterator[str]:
    if isinstance(options, Mapping):
        for k, v in options.items():
            secret = is_secret_key(k) or bool(_STORAGE_SECRET_KEY.search(str(k)))
            yield from _secrets(v, under_secret or secret)
    elif isinstance(options, (list, tuple)):
        for v in options:
            yield from _secrets(v, under_secret)
    elif under_secret and isinstance(options, (str, bytes)) and len(options) >= 3:
        yield options.decode("utf-8", "replace") if isinstance(options, bytes) else options


def scrub(text: str, storage_options: Mapping | None = None) -> str:
    """``text`` with every secret of ``storage_options`` and of the environment replaced by ``[REDACTED]``.

    URLs in the text lose user info and signatures too.

    Example:
        >>> scrub("denied for AKID1234", {"key": "AKID1234", "endpoint_url": "http://h"})
        'denied for [REDACTED]'
    """
    secrets = set(_secrets(storage_options or {}))
    secrets.update(v for v in map(os.environ.get, _SECRET_ENV) if v and len(v) >= 3)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = redact_text(text)  # Bearer tokens, token=..., user:pw@ quoted by a backend
    return re.sub(r"[A-Za-z][A-Za-z0-9+.\-]+://[^\s'\"<>]+", lambda m: redact_url(m.group()), text)


def _reason(exc: BaseException, storage_options: Mapping | None) -> str:
    """One line saying what went wrong, scrubbed of secrets."""
    if isinstance(exc, StorageError):
        return exc.reason
    if isinstance(exc, FileNotFoundError):
        text = str(exc.args[0]) if exc.args and "exist" in str(exc.args[0]) else "no such object"
    elif isinstance(exc, PermissionError):
        text = f"access denied ({exc})" if str(exc) else "access denied"
    elif isinstance(exc, IsADirectoryError):
        text = "is a directory, not a trace file"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(scrub(text, storage_options).split())


def storage_error(exc: BaseException, url: str, storage_options: Mapping | None = None) -> StorageError:
    """A :class:`StorageError` for ``exc`` raised while using ``url``."""
    return StorageError(_reason(exc, storage_options), redact_url(url))


def filesystem(url: str, storage_options: Mapping | None = None) -> tuple[Any, str]:
    """The fsspec filesystem for ``url`` and the path inside it.

    Raises :class:`StorageError` when fsspec or the protocol's package is not
    installed, or the protocol is unknown (naming what to install).
    """
    try:
        import fsspec
    except ImportError:
        raise StorageError("reading URLs needs fsspec: pip install 'gctrace_nb[dask]'", redact_url(url)) from None
    try:
        return fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    except ImportError:
        package = _PACKAGES.get(protocol(url), "the fsspec implementation of this protocol")
        extra = _EXTRAS.get(package)
        hint = f" (or 'gctrace_nb[{extra}]')" if extra else ""
        raise StorageError(f"{protocol(url)}:// needs {package}: pip install {package}{hint}",
                           redact_url(url)) from None
    except ValueError as exc:
        if "Protocol not known" in str(exc):
            raise StorageError(f"unknown protocol {protocol(url)!r}", redact_url(url)) from None
        raise storage_error(exc, url, storage_options) from None
    except Exception as exc:  # a filesystem refusing its options (TypeError, ...)
        raise storage_error(exc, url, storage_options) from None


def expand_url(url: str, suffixes: tuple[str, ...], storage_options: Mapping | None = None
               ) -> list[tuple[str, int | None]]:
    """The objects ``url`` stands for, as ``(url, size)`` sorted by URL.

    A glob (``*``, ``?``, ``[``) lists the matching objects; a prefix ending in
    ``/``, or one that names a directory, lists every object under it (at any
    depth) whose name ends with one of ``suffixes`` (any case). Anything else
    is one object, kept even if it does not exist (reading it reports that).

    Raises :class:`StorageError` when the listing fails (no bucket, no access).
    """
    fs, path = filesystem(url, storage_options)
    try:
        if any(c in path for c in _GLOB_CHARS) and not _http(url):
            found = fs.glob(path, detail=True)
            items = [(p, info) for p, info in found.items() if info.get("type") != "directory"]
        elif url.endswith("/") or (not _http(url) and fs.isdir(path)):
            if _http(url):
                raise StorageError(f"an {protocol(url)}:// prefix cannot be listed: name the files", redact_url(url))
            found = fs.find(path, detail=True)
            items = [(p, info) for p, info in found.items() if p.lower().endswith(suffixes)]
        else:
            return [(url, None)]
    except StorageError:
        raise
    except Exception as exc:
        raise storage_error(exc, url, storage_options) from None
    out = [(_full_url(fs, url, p), info.get("size")) for p, info in items]
    out.sort()
    return out


def _http(url: str) -> bool:
    return protocol(url) in ("http", "https")


def _full_url(fs: Any, url: str, path: str) -> str:
    """``path`` (as the filesystem lists it) as a URL with ``url``'s own scheme."""
    scheme = protocol(url)
    if scheme == "file":
        return "file://" + path
    if "://" in path:
        return path
    return f"{scheme}://{path}"


def read_bytes(url: str, storage_options: Mapping | None = None) -> bytes:
    """The whole object at ``url``; :class:`StorageError` if it cannot be read."""
    fs, path = filesystem(url, storage_options)
    try:
        return fs.cat_file(path)
    except Exception as exc:
        raise storage_error(exc, url, storage_options) from None


def read_many(urls: Iterable[tuple[str, int | None]], storage_options: Mapping | None = None
              ) -> Iterator[tuple[str, bytes | StorageError]]:
    """``(url, data or StorageError)`` for every ``(url, size)``, in order.

    Objects are fetched concurrently (``fs.cat``), a batch of up to 256 objects
    or ~64 MiB at a time, so latency to object storage is paid once a batch.
    """
    batch: list[str] = []
    size = 0
    for url, n in urls:
        batch.append(url)
        size += n or 0
        if len(batch) >= _BATCH_FILES or size >= _BATCH_BYTES:
            yield from _read_batch(batch, storage_options)
            batch, size = [], 0
    if batch:
        yield from _read_batch(batch, storage_options)


def _read_batch(urls: list[str], storage_options: Mapping | None) -> Iterator[tuple[str, bytes | StorageError]]:
    groups: dict[tuple, list[int]] = {}
    for i, url in enumerate(urls):  # one fs.cat per filesystem (scheme + bucket/host)
        groups.setdefault((protocol(url),), []).append(i)
    results: list[Any] = [None] * len(urls)
    for indices in groups.values():
        try:
            fs, _ = filesystem(urls[indices[0]], storage_options)
            paths = [fs._strip_protocol(urls[i]) for i in indices]
            got = fs.cat(paths, on_error="return")
            if not isinstance(got, dict):  # a single path comes back as bytes
                got = {paths[0]: got}
            for i, p in zip(indices, paths):
                value = got.get(p, FileNotFoundError(p))
                results[i] = value if isinstance(value, bytes) else storage_error(value, urls[i], storage_options)
        except StorageError as exc:
            for i in indices:
                results[i] = StorageError(exc.reason, redact_url(urls[i]))
        except Exception as exc:  # the batch failed as a whole: one at a time
            for i in indices:
                try:
                    results[i] = read_bytes(urls[i], storage_options)
                except StorageError as one:
                    results[i] = one
            del exc
    yield from zip(urls, results)


def open_output(url: str, storage_options: Mapping | None = None, mode: str = "wb") -> Any:
    """A file object writing the object at ``url`` (parents made where the filesystem has them)."""
    fs, path = filesystem(url, storage_options)
    try:
        parent = fs._parent(path)
        if parent and protocol(url) == "file":
            fs.makedirs(parent, exist_ok=True)
        return fs.open(path, mode)
    except Exception as exc:
        raise storage_error(exc, url, storage_options) from None


def parse_storage_options(text: str | None) -> dict:
    """``--storage-options``: a JSON object, or ``@FILE`` holding one (keeps secrets out of ``ps``).

    Raises :class:`ValueError` whose message never repeats the text (it may hold secrets).
    """
    if text is None or text == "":
        return {}
    import json

    source = "--storage-options"
    if text.startswith("@"):
        source = text[1:]
        try:
            with open(text[1:], encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ValueError(f"cannot read {source}: {exc.strerror or type(exc).__name__}") from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ValueError(f"{source} is not JSON{where}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{source} must be a JSON object, like {{\"endpoint_url\": \"...\"}}")
    return value
