"""Settings for talking to Genesys Cloud (or the bundled simulator).

:class:`Settings` is a frozen value: the API and login base URLs, the client
credentials, and the per-request timeout. :meth:`Settings.from_env` is the only
place in gctrace_nb that reads ``GENESYS_*`` environment variables.

The client secret is held in a :class:`Secret`, whose ``repr`` and ``str`` are
``Secret('***')`` / ``***``, so printing settings, logging them or putting them
in an exception never shows it.

>>> s = Settings(client_id="abc", client_secret="hunter2", region="eu_west_1")
>>> s.api_url, s.login_url
('https://api.mypurecloud.ie', 'https://login.mypurecloud.ie')
>>> "hunter2" in repr(s)
False
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Final, Mapping
from urllib.parse import urlsplit

from ..errors import ConfigError

__all__ = ["Secret", "Settings", "REGIONS", "DEFAULT_REGION", "region_hosts"]

#: Region name → API host (genesys-api.md §B). The login host replaces ``api.`` with ``login.``.
REGIONS: Final[Mapping[str, str]] = {
    "us_east_1": "api.mypurecloud.com",
    "eu_west_1": "api.mypurecloud.ie",
    "ap_southeast_2": "api.mypurecloud.com.au",
    "ap_northeast_1": "api.mypurecloud.jp",
    "eu_central_1": "api.mypurecloud.de",
    "us_west_2": "api.usw2.pure.cloud",
    "ca_central_1": "api.cac1.pure.cloud",
    "ap_northeast_2": "api.apne2.pure.cloud",
    "eu_west_2": "api.euw2.pure.cloud",
    "ap_south_1": "api.aps1.pure.cloud",
    "us_east_2": "api.use2.us-gov-pure.cloud",
    "sa_east_1": "api.sae1.pure.cloud",
    "me_central_1": "api.mec1.pure.cloud",
    "ap_northeast_3": "api.apne3.pure.cloud",
    "eu_central_2": "api.euc2.pure.cloud",
    "mx_central_1": "api.mxc1.pure.cloud",
    "ap_southeast_1": "api.apse1.pure.cloud",
    "eusc_de_east_1": "api.edee1.eusc-pure.cloud",
}

#: Used when neither a region nor URLs are given (the Genesys SDKs' default too).
DEFAULT_REGION: Final = "us_east_1"

_LOOPBACK_NAMES: Final = frozenset({"localhost"})


class Secret:
    """A string that never shows itself in ``repr``/``str``; call :meth:`reveal` to use it."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"a secret must be a str, got {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """Return the secret text (only where it is actually sent)."""
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __copy__(self) -> "Secret":
        return self

    def __deepcopy__(self, memo: dict) -> "Secret":
        return self

    def __reduce__(self) -> str | tuple[object, ...]:  # pickling would write the secret to disk
        raise TypeError("a Secret cannot be pickled")


def region_hosts(region: str) -> tuple[str, str]:
    """Return ``(api_host, login_host)`` for a region name.

    Accepts ``eu_west_1``, ``eu-west-1`` or ``EU_WEST_1``.

    >>> region_hosts("ap-southeast-2")
    ('api.mypurecloud.com.au', 'login.mypurecloud.com.au')
    """
    key = region.strip().lower().replace("-", "_")
    try:
        api = REGIONS[key]
    except KeyError:
        known = ", ".join(sorted(REGIONS))
        raise ConfigError(f"unknown region {region!r}; known regions: {known}") from None
    return api, "login." + api[len("api."):]


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(name: str, url: str) -> str:
    """Return ``url`` without a trailing slash, or raise :class:`ConfigError`.

    https only; plain http is allowed for a loopback host (the local simulator).
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{name} must be a non-empty URL")
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise ConfigError(f"{name} {url!r} has no host")
    if parts.username or parts.password:
        raise ConfigError(f"{name} must not carry credentials in the URL")
    if parts.query or parts.fragment:
        # Not echoed: a query string often carries a key or token.
        raise ConfigError(f"{name} must not have a query or fragment (give the base URL, {parts.scheme}://{parts.netloc})")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http":
        if _is_loopback(host):
            return url
        raise ConfigError(
            f"{name} {url!r} uses plain http; only https is allowed "
            "(http only for 127.0.0.1/localhost, the local simulator)"
        )
    raise ConfigError(f"{name} {url!r} must be an https URL")


def _login_from_api(api_url: str) -> str:
    parts = urlsplit(api_url)
    host = parts.hostname or ""
    if host.startswith("api."):
        netloc = parts.netloc.replace(host, "login." + host[len("api."):], 1)
        return f"{parts.scheme}://{netloc}"
    raise ConfigError(
        f"cannot derive the login URL from api_url {api_url!r} (its host does not start "
        "with 'api.'); give login_url as well"
    )


@dataclass(frozen=True)
class Settings:
    """Where to send requests and with which client credentials.

    Give a ``region`` (one of :data:`REGIONS`) or explicit ``api_url`` (and
    ``login_url`` unless the API host starts with ``api.``). Explicit URLs
    win over the region. ``client_secret`` may be a ``str``; it is stored as a
    :class:`Secret`. ``timeout`` is the per-request (connect and read) timeout
    in seconds.

    Raises:
        ConfigError: an unknown region, a non-https URL (other than a loopback
            one), or missing credentials.
    """

    client_id: str
    client_secret: Secret | str  # a str is wrapped in a Secret at once
    region: str | None = None
    api_url: str = ""
    login_url: str = ""
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.client_id, str) or not self.client_id.strip():
            raise ConfigError("client_id is missing (set GENESYS_CLIENT_ID or pass client_id)")
        secret = self.client_secret
        if isinstance(secret, str):
            secret = Secret(secret)
        if not isinstance(secret, Secret):
            raise ConfigError("client_secret must be a str or Secret")
        if not secret:
            raise ConfigError("client_secret is missing (set GENESYS_CLIENT_SECRET or pass client_secret)")
        object.__setattr__(self, "client_secret", secret)

        api_url, login_url = self.api_url or "", self.login_url or ""
        region = self.region
        if region is not None and not str(region).strip():
            region = None
        if not api_url:
            if login_url:
                raise ConfigError("login_url was given without api_url; give both (or a region)")
            region = region or DEFAULT_REGION
            api_host, login_host = region_hosts(region)
            api_url, login_url = f"https://{api_host}", f"https://{login_host}"
        elif region is not None:
            region_hosts(region)  # still reject a misspelt region
        api_url = _check_url("api_url", api_url)
        login_url = _check_url("login_url", login_url) if login_url else _login_from_api(api_url)
        object.__setattr__(self, "region", region.strip().lower().replace("-", "_") if region else None)
        object.__setattr__(self, "api_url", api_url)
        object.__setattr__(self, "login_url", login_url)
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or self.timeout <= 0:
            raise ConfigError(f"timeout must be a positive number of seconds, got {self.timeout!r}")

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint: ``{login_url}/oauth/token``."""
        return f"{self.login_url}/oauth/token"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | Secret | None = None,
        region: str | None = None,
        api_url: str | None = None,
        login_url: str | None = None,
        timeout: float | None = None,
    ) -> "Settings":
        """Build settings from ``GENESYS_*`` variables, arguments taking precedence.

        Reads ``GENESYS_CLIENT_ID``, ``GENESYS_CLIENT_SECRET``, ``GENESYS_REGION``,
        ``GENESYS_API_URL`` and ``GENESYS_LOGIN_URL`` from ``environ`` (default
        ``os.environ``). A region argument overrides URLs from the environment,
        and URL arguments override a region from the environment.
        """
        env = os.environ if environ is None else environ

        def pick(arg: object, name: str) -> object:
            if arg is not None and arg != "":
                return arg
            return env.get(name) or None

        cid = pick(client_id, "GENESYS_CLIENT_ID")
        secret = pick(client_secret, "GENESYS_CLIENT_SECRET")
        if region and not (api_url or login_url):
            # An explicit region beats URLs that happen to be in the environment.
            env_api = env_login = None
        else:
            env_api, env_login = env.get("GENESYS_API_URL"), env.get("GENESYS_LOGIN_URL")
        url_given = bool(api_url or login_url)
        api = api_url or (None if url_given else env_api)
        login = login_url or (None if url_given else env_login)
        reg = region or (None if (api or login) else env.get("GENESYS_REGION"))
        kwargs: dict = {}
        if timeout is not None:
            kwargs["timeout"] = timeout
        return cls(
            client_id=str(cid) if cid else "",
            client_secret=secret if isinstance(secret, Secret) else Secret(str(secret or "")),
            region=reg or None,
            api_url=api or "",
            login_url=login or "",
            **kwargs,
        )
