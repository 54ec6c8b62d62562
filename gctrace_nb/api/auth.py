"""OAuth client credentials for Genesys Cloud, as a :class:`requests.auth.AuthBase`.

The token comes from ``{login}/oauth/token`` the way the real service wants it:
HTTP Basic auth with the client id and secret, and the form body
``grant_type=client_credentials``. It is cached and fetched again once
``5/6`` of its ``expires_in`` has passed (the design's 25-of-30-minutes rule,
applied to whatever lifetime the OAuth client has). Genesys issues no refresh
token, so a 401 drops the cached token, fetches a new one, and resends the
request once (a response hook, as :class:`requests.auth.HTTPDigestAuth` does).
:class:`~gctrace_nb.api.client.GenesysClient` uses :meth:`ClientCredentialsAuth.bearer`
instead and resends through its own loop, so the resend waits for the rate
limit and stays inside the deadline like any other request.

The token and the secret are never logged, never in an exception, never in a repr.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from .. import _http
from .config import Secret, Settings
from ..errors import ApiError, AuthError
from .retry import parse_retry_after

__all__ = ["ClientCredentialsAuth", "REFRESH_FRACTION"]

#: Fetch a new token once this fraction of ``expires_in`` has passed.
REFRESH_FRACTION = 5 / 6

_DEFAULT_LIFETIME_S = 300.0  # Genesys always sends expires_in; be careful if not
_RETRIED = "_gctrace_auth_retried"



def bearer_token(request: requests.PreparedRequest) -> str | None:
    """The bearer token a request was sent with, if any (to forget exactly that one after a 401)."""
    header = request.headers.get("Authorization", "")
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    return header[len("Bearer "):] if header.startswith("Bearer ") else None

class ClientCredentialsAuth(AuthBase):
    """Bearer-token auth that fetches, caches and refreshes a client-credentials token.

    Thread-safe: concurrent requests share one token, and only one thread
    fetches when it is due. ``clock`` (monotonic seconds) is injectable for tests.

    Args:
        token_url: the full token endpoint, ``{login_url}/oauth/token``.
        client_id: the OAuth client's id.
        client_secret: its secret (``str`` or :class:`~gctrace_nb.api.config.Secret`).
        session: the session used to fetch tokens (default: a new one).
        clock: monotonic seconds; decides when the token is due.
        timeout: seconds for the token request.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | Secret,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 30.0,
        refresh_fraction: float = REFRESH_FRACTION,
    ) -> None:
        if not 0 < refresh_fraction <= 1:
            raise ValueError("refresh_fraction must be in (0, 1]")
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret if isinstance(client_secret, Secret) else Secret(client_secret)
        self._session = _http.guard(session or requests.Session())
        self._clock = clock
        self._timeout = timeout
        self._refresh_fraction = refresh_fraction
        self._lock = threading.Lock()
        self._token: Secret | None = None
        self._due: float = 0.0
        #: How many tokens were fetched (handy to see reuse in a notebook).
        self.tokens_fetched = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> "ClientCredentialsAuth":
        """Build from :class:`~gctrace_nb.api.config.Settings` (its token URL, id and secret)."""
        return cls(
            settings.token_url,
            settings.client_id,
            settings.client_secret,
            session=session,
            clock=clock,
            timeout=settings.timeout,
        )

    def __repr__(self) -> str:
        state = "cached" if self._token is not None else "none"
        return f"ClientCredentialsAuth(token_url={self.token_url!r}, client_id={self.client_id!r}, token={state})"

    # ------------------------------------------------------------- tokens
    def token(self, *, timeout: float | None = None) -> str:
        """Return a valid access token, fetching one when none is cached or it is due.

        ``timeout`` shortens the token request's own timeout (a caller's deadline).
        """
        with self._lock:
            if self._token is None or self._clock() >= self._due:
                self._fetch_locked(timeout)
            assert self._token is not None
            return self._token.reveal()

    def invalidate(self, token: str | None = None) -> None:
        """Forget the cached token (only if it is still ``token``, when given).

        Passing the token a 401 came back for means that when several threads
        hit 401 at once, the token is fetched again only once.
        """
        with self._lock:
            if self._token is not None and (token is None or self._token.reveal() == token):
                self._token = None

    def _fetch_locked(self, timeout: float | None = None) -> None:
        started = self._clock()
        try:
            resp = self._session.post(
                self.token_url,
                data={"grant_type": "client_credentials"},
                auth=HTTPBasicAuth(self.client_id, self._secret.reveal()),
                headers={"Accept": "application/json"},
                timeout=self._timeout if timeout is None else min(self._timeout, timeout),
            )
        except requests.RequestException as exc:
            # Rebuild the error so the traceback never holds the Basic auth header.
            raise type(exc)(f"token request to {self.token_url} failed: {type(exc).__name__}") from None
        status = resp.status_code
        correlation = resp.headers.get("ININ-Correlation-Id")
        if status != 200:
            body = _safe_error_body(resp)
            message = str(body.get("message") or body.get("error_description") or body.get("description") or "")
            code = body.get("code") or body.get("error")
            context_id = body.get("contextId")
            if status in (400, 401, 403):
                error: ApiError = AuthError(
                    "the login service refused the client credentials (check GENESYS_CLIENT_ID, "
                    "GENESYS_CLIENT_SECRET and the region)" + (f": {message}" if message else ""),
                    status=status, url=self.token_url, code=str(code) if code else None,
                    context_id=str(context_id) if context_id else None, correlation_id=correlation, body=body,
                )
            else:
                error = ApiError(
                    "the token request failed" + (f": {message}" if message else ""),
                    status=status, url=self.token_url, code=str(code) if code else None,
                    context_id=str(context_id) if context_id else None, correlation_id=correlation, body=body,
                )
                error.retry_after_s = parse_retry_after(resp.headers.get("Retry-After"))  # type: ignore[attr-defined]
            raise error
        try:
            data = resp.json()
        except ValueError:
            data = None
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError(
                "the token response held no access_token", status=status, url=self.token_url,
                correlation_id=correlation,
            )
        lifetime = data.get("expires_in")
        if isinstance(lifetime, bool) or not isinstance(lifetime, (int, float)) or lifetime <= 0:
            lifetime = _DEFAULT_LIFETIME_S
        self._token = Secret(token)
        self._due = started + float(lifetime) * self._refresh_fraction
        self.tokens_fetched += 1

    # -------------------------------------------------------------- requests
    def bearer(self) -> AuthBase:
        """Return an auth that only sets the current token: no resend on a 401.

        For a caller that handles the 401 itself (drop the token with
        :meth:`invalidate`, send again through its own rate limit and deadline).
        """
        return _Bearer(self)

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token()}"
        r.register_hook("response", self._handle_401)
        return r

    def _handle_401(self, resp: requests.Response, **kwargs: Any) -> requests.Response:
        """On a 401, fetch a fresh token and resend the request once."""
        if resp.status_code != 401:
            return resp
        request = resp.request
        if getattr(request, _RETRIED, False) or resp.connection is None:
            return resp
        self.invalidate(bearer_token(request))
        token = self.token()
        _ = resp.content  # read the body so the connection goes back to the pool
        resp.close()
        retry = request.copy()
        retry.hooks = {"response": []}
        retry.headers["Authorization"] = f"Bearer {token}"
        setattr(retry, _RETRIED, True)
        new = resp.connection.send(retry, **kwargs)
        new.history.append(resp)
        new.request = retry
        return new


class _Bearer(AuthBase):
    """The ``Authorization: Bearer`` header of a :class:`ClientCredentialsAuth`, nothing else."""

    def __init__(self, source: ClientCredentialsAuth) -> None:
        self._source = source

    def __repr__(self) -> str:
        return f"<bearer of {self._source!r}>"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._source.token()}"
        return r


def _safe_error_body(resp: requests.Response) -> dict:
    """Decode an error body for its message fields; never keep a token that might be in it."""
    try:
        body = resp.json()
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    return {k: v for k, v in body.items() if k not in ("access_token", "token", "refresh_token")}
