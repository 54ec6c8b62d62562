"""Download a flow instances job's execution data: pre-signed links, and ``/api/v2/downloads/{id}``.

Each ``ExecutionDataEntity`` of a finished instances job names a ``downloadUri``.
It is pre-signed (``genesys-api.md`` §B): fetched with a plain session and **no
Authorization header**, so the token never leaves for the storage host. A
relative ``/api/v2/downloads/{id}`` is resolved first, with the token, through
``GET /api/v2/downloads/{id}?issueRedirect=false`` (which needs no permission).
429 and 5xx are retried under the client's policy; a 403 from the storage host
means the link expired. :func:`download_entity_bytes` returns the bytes as
served (what ``keep_raw`` writes); :func:`download_entity` decodes them.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Callable, Final
from urllib.parse import quote, urlsplit

import requests
from requests.auth import AuthBase

from .. import _http
from ..core.documents import parse_json
from ..errors import ApiError, JobFailed, NotFound, TraceFormatError
from .retry import CancelToken, PollEvent, RetryBudget, parse_retry_after, pause

if TYPE_CHECKING:  # pragma: no cover
    from .client import GenesysClient

__all__ = ["DOWNLOADS_PATH", "MAX_DOWNLOAD_BYTES", "download_entity", "download_entity_bytes"]

log = logging.getLogger(__name__)

DOWNLOADS_PATH: Final = "/api/v2/downloads/"
#: A download larger than this is refused (a flow's execution data is far smaller).
MAX_DOWNLOAD_BYTES: Final = 64 * 1024 * 1024
_TRANSIENT_EXC = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                  requests.exceptions.ContentDecodingError)  # a body broken in transit

ProgressCallback = Callable[[PollEvent], Any]


def _json_body(resp: requests.Response, what: str) -> Any:
    try:
        return resp.json()
    except (ValueError, RecursionError):
        raise ApiError(f"{what}: the response is not JSON", status=resp.status_code, url=resp.url,
                       correlation_id=resp.headers.get("ININ-Correlation-Id")) from None


def _client_random(client: "GenesysClient") -> Callable[[], float]:
    """The client's jitter source (``GenesysClient.random``), so tests that pin it pin ours too."""
    import random

    value = getattr(client, "random", None)
    return value if callable(value) else random.random


# ------------------------------------------------------------------ download
class _NoAuthorization(AuthBase):
    """Send no credentials at all: strips any Authorization header, and keeps
    requests from reading ``~/.netrc`` (an explicit auth disables that lookup)."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers.pop("Authorization", None)
        return r


def _plain_session() -> requests.Session:
    session = requests.Session()
    # No environment-derived credentials (netrc) on redirects either; proxies and
    # the CA bundle from the environment are passed per request instead.
    session.trust_env = False
    session.max_redirects = 5
    return _http.guard(session)  # the timeout bounds the whole download, however slowly it trickles


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _downloads_id(uri: str, client: "GenesysClient") -> str | None:
    """The id of a ``/api/v2/downloads/{id}`` URI (relative, or on the API host), else None."""
    parts = urlsplit(uri)
    if parts.scheme or parts.netloc:
        own = urlsplit(client.settings.api_url)
        if (parts.scheme, parts.netloc) != (own.scheme, own.netloc):
            return None
    if not parts.path.startswith(DOWNLOADS_PATH):
        return None
    rest = parts.path[len(DOWNLOADS_PATH):].strip("/")
    return rest if rest and "/" not in rest else None


def _entity_label(entity: dict) -> str:
    value = entity.get("id")
    return f"instance {value}" if isinstance(value, str) and value else "an instance"


def _resolve_download(client: "GenesysClient", download_id: str, *, label: str, budget: RetryBudget,
                      cancel: CancelToken | None, on_progress: ProgressCallback | None,
                      correlation_ids: list[str] | None) -> str:
    resp = client.request(
        "GET", f"{DOWNLOADS_PATH}{quote(download_id, safe='')}", params={"issueRedirect": "false"},
        on_progress=on_progress, cancel=cancel, budget=budget, correlation_ids=correlation_ids,
        subject=f"download {download_id} of {label}",
    )
    body = _json_body(resp, f"download {download_id}")
    url = body.get("url") if isinstance(body, dict) else None
    if not isinstance(url, str) or not url:
        raise ApiError(f"download {download_id} of {label}: the response names no url", status=resp.status_code,
                       url=resp.url)
    return url


def _status_code(value: Any) -> int | None:
    """An entity's ``statusCode`` as a number: the SDK models it as a string (``"200"``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def download_entity(
    client: "GenesysClient",
    entity: dict,
    *,
    session: requests.Session | None = None,
    budget: RetryBudget | None = None,
    cancel: CancelToken | None = None,
    on_progress: ProgressCallback | None = None,
    correlation_ids: list[str] | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> Any:
    """Download one job entity's execution data and return the decoded JSON document.

    :func:`download_entity_bytes` does the fetching; this decodes what it returns.
    """
    label = _entity_label(entity) if isinstance(entity, dict) else "an instance"
    data = download_entity_bytes(client, entity, session=session, budget=budget, cancel=cancel,
                                 on_progress=on_progress, correlation_ids=correlation_ids, max_bytes=max_bytes)
    return parse_json(data, f"download of {label}")


def download_entity_bytes(
    client: "GenesysClient",
    entity: dict,
    *,
    session: requests.Session | None = None,
    budget: RetryBudget | None = None,
    cancel: CancelToken | None = None,
    on_progress: ProgressCallback | None = None,
    correlation_ids: list[str] | None = None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> bytes:
    """Download one job entity's execution data and return it untouched (the bytes as served).

    The pre-signed URI is fetched with a plain session (``session``, default a
    new one) and never with the Authorization header. A relative
    ``/api/v2/downloads/{id}`` is resolved through the API (authenticated) first.
    429 and 5xx are retried under the client's policy and ``budget``.

    Raises:
        JobFailed: the job marked this entity failed.
        ApiError: the link expired (403: run the job again), or another error status;
            the URI is not https (plain http only for a loopback host).
        NotFound: 404 from the storage host.
        TraceFormatError: the download is not JSON.
    """
    if not isinstance(entity, dict):
        raise TypeError(f"entity must be a job entity object, got {type(entity).__name__}")
    label = _entity_label(entity)
    status_code = entity.get("statusCode")
    code = _status_code(status_code)
    failed = entity.get("failed") is True or (code is not None and not 200 <= code < 300)
    if failed:
        detail = next((entity[k] for k in ("errorMessage", "message", "error")
                       if isinstance(entity.get(k), str) and entity[k]), None)
        reason = detail or (f"statusCode {status_code}" if status_code not in (None, "") else "marked failed")
        raise JobFailed(f"{label} could not be prepared for download: {reason}", body=entity)
    uri = entity.get("downloadUri")
    if not isinstance(uri, str) or not uri.strip():
        raise ApiError(f"{label}: the job entity has no downloadUri")
    uri = uri.strip()
    budget = budget or client.policy.budget(client.clock)
    download_id = _downloads_id(uri, client)
    if download_id is not None:
        uri = _resolve_download(client, download_id, label=label, budget=budget, cancel=cancel,
                                on_progress=on_progress, correlation_ids=correlation_ids)
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host))):
        raise ApiError(f"{label}: refusing to download from {parts.scheme or 'a relative'}://{host}: "
                       "the pre-signed URI must be https")
    own_session = session is None
    session = _http.guard(session) if session is not None else _plain_session()
    try:
        return _fetch_plain(client, session, uri, label=label, budget=budget, cancel=cancel,
                            on_progress=on_progress, max_bytes=max_bytes)
    finally:
        if own_session:
            session.close()


def _redacted(url: str) -> str:
    """The URL without its query (pre-signed signatures stay out of messages)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _fetch_plain(client: "GenesysClient", session: requests.Session, url: str, *, label: str,
                 budget: RetryBudget, cancel: CancelToken | None, on_progress: ProgressCallback | None,
                 max_bytes: int) -> bytes:
    policy = client.policy
    what = f"download of {label}"
    shown = _redacted(url)
    proxies = requests.utils.get_environ_proxies(url)
    verify: Any = os.environ.get("REQUESTS_CA_BUNDLE") or True
    attempt = 0
    last_status: int | None = None
    while True:
        budget.check(attempts=attempt, last_status=last_status, what=what)
        attempt += 1
        retry_after = None
        try:
            resp = session.get(url, auth=_NoAuthorization(),
                               timeout=max(0.001, min(client.settings.timeout, budget.remaining())), stream=True,
                               proxies=proxies, verify=verify, headers={"Accept": "application/json"})
        except _TRANSIENT_EXC as exc:
            status: int | None = None
            log.info("%s: attempt %d failed: %s", what, attempt, type(exc).__name__)
        except requests.RequestException as exc:  # redirect loops, bad schemes or URLs: not worth retrying
            raise ApiError(f"the download of {label} failed: {type(exc).__name__}", url=shown) from None
        else:
            status = resp.status_code
            try:
                if 200 <= status < 300:
                    try:
                        data = _read_capped(resp, max_bytes, label)
                    except _TRANSIENT_EXC as exc:  # the body broke in transit: fetch it again
                        status = None
                        log.info("%s: attempt %d failed reading the body: %s", what, attempt, type(exc).__name__)
                    else:
                        budget.record_success()
                        return data
                elif status not in policy.retry_statuses:
                    _raise_download_error(resp, label, shown)
                else:
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            finally:
                resp.close()
        last_status = status
        budget.record_transient(attempts=attempt, last_status=status, what=what)
        budget.check_attempts(attempt, last_status=status, what=what)
        wait = policy.delay_for(status, retry_after, attempt, random=_client_random(client))
        budget.plan_wait(wait, attempts=attempt, last_status=status, what=what)
        if on_progress is not None:
            on_progress(PollEvent(attempt, "retrying", status, wait, retry_after, budget.elapsed(),
                                  f"{what}: {'HTTP ' + str(status) if status else 'connection error'}; "
                                  f"retrying in {wait:.1f} s"))
        pause(wait, sleep=client.sleep, cancel=cancel)


def _read_capped(resp: requests.Response, max_bytes: int, label: str) -> bytes:
    chunks = []
    size = 0
    for chunk in resp.iter_content(chunk_size=65536):
        size += len(chunk)
        if size > max_bytes:
            raise TraceFormatError(f"download is larger than {max_bytes} bytes; refused", f"download of {label}")
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data.strip():
        raise TraceFormatError("download is empty", f"download of {label}")
    return data


def _raise_download_error(resp: requests.Response, label: str, shown: str) -> None:
    status = resp.status_code
    try:
        excerpt = " ".join(resp.content[:300].decode("utf-8", "replace").split())
    except (requests.RequestException, OSError):
        excerpt = ""
    kw: dict[str, Any] = dict(status=status, url=shown, body=excerpt or None)
    if status == 403:
        raise ApiError(
            f"the download link for {label} has expired or is no longer valid (HTTP 403 from the storage "
            "host): pre-signed links are short-lived; run the history job again to get fresh links", **kw)
    if status == 404:
        raise NotFound(f"the download for {label} was not found (the link may have expired; run the job again)",
                       **kw)
    raise ApiError(f"the download of {label} failed", **kw)
