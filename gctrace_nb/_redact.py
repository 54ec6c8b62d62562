"""The one rule for secrets: which keys hold one, and how text that quotes one is masked.

A key holds a secret when, lower-cased and with separators (``-``, ``_``, ``.``,
spaces) removed, it contains one of :data:`SECRET_WORDS`: so ``api_token``,
``clientSecret``, ``X-Api-Key``, ``Set-Cookie`` and ``webhook_signature`` all do.
The audit log masks such values (:func:`redact`); saved traces, reports and
reprs drop them (:func:`drop_secrets`). Both walk values at any depth.
"""

from __future__ import annotations

import re
from typing import Any, Final, Mapping

__all__ = ["SECRET_WORDS", "REDACTED", "is_secret_key", "drop_secrets", "redact", "redact_text"]

SECRET_WORDS: Final = (
    "token", "secret", "password", "passwd", "authorization", "authorisation",
    "apikey", "bearer", "cookie", "signature", "credential",
)
REDACTED: Final = "[REDACTED]"

_SEPARATORS: Final = re.compile(r"[\s_.\-]+")
# Credentials embedded in free text (an error message quoting a header, a URL with a password).
_SECRET_TEXT: Final = (
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/=]+", re.IGNORECASE), r"\1 " + REDACTED),
    (re.compile(r"(://[^/\s:@]+):[^@\s/]+@"), r"\1:" + REDACTED + "@"),
    (
        re.compile(r"((?:access_token|token|client_secret|secret|password|api_key)=)[^&\s\"']+", re.IGNORECASE),
        r"\1" + REDACTED,
    ),
)


def is_secret_key(key: object) -> bool:
    """Whether a mapping key names a secret.

    >>> [is_secret_key(k) for k in ("api_token", "clientSecret", "X-Api-Key", "nodeId", "apiKeyId")]
    [True, True, True, False, True]
    """
    normal = _SEPARATORS.sub("", str(key).lower())
    return any(word in normal for word in SECRET_WORDS)


def drop_secrets(value: Any) -> Any:
    """``value`` without the entries whose key names a secret, at any depth (for what is saved or shown)."""
    if isinstance(value, Mapping):
        return {k: drop_secrets(v) for k, v in value.items() if not is_secret_key(k)}
    if isinstance(value, (list, tuple)):
        return [drop_secrets(v) for v in value]
    return value


def redact_text(text: str) -> str:
    """``text`` with quoted credentials masked (``Bearer x``, ``token=x``, ``user:pw@host``)."""
    for pattern, repl in _SECRET_TEXT:
        text = pattern.sub(repl, text)
    return text


def redact(value: Any, *, key: str | None = None) -> Any:
    """``value`` with credentials masked at any depth (for logs: the key stays, its value does not).

    Example:
        >>> redact({"user": "ann", "Authorization": "Bearer x", "n": [1, "token=abc&b=2"]})
        {'user': 'ann', 'Authorization': '[REDACTED]', 'n': [1, 'token=[REDACTED]&b=2']}
    """
    if key is not None and is_secret_key(key):
        return REDACTED if value not in (None, "") else value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {str(k): redact(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
