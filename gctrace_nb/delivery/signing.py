"""How a webhook delivery is signed, and how a receiver checks it.

Two signatures go with every delivery when a secret is set:

* **Standard Webhooks** (https://www.standardwebhooks.com): ``webhook-id`` (the
  idempotency key), ``webhook-timestamp`` (Unix seconds, the moment of the
  attempt) and ``webhook-signature: v1,<base64 HMAC-SHA256 of
  "{id}.{timestamp}.{body}">``. The timestamp is signed, so a receiver that
  refuses old timestamps (five minutes is usual) cannot be fed a captured
  delivery later; the id is signed, so it can deduplicate safely.
* ``X-Gctrace-Signature-256: sha256=<hex HMAC-SHA256 of the body>``, kept for
  receivers that already verify it (it signs the body only: replayable).

The key: a secret written the Standard Webhooks way, ``whsec_<base64>``, is the
bytes that base64 stands for (so a Standard Webhooks library given the same
string verifies). Any other secret is its UTF-8 bytes; a Standard Webhooks
library then needs it as ``"whsec_" + base64(secret)``. The body signature
always uses the secret's UTF-8 bytes, as it always has.

Example:
    >>> headers = signature_headers(b'{"a":1}', "msg-1", "s3cret", timestamp=1700000000)
    >>> headers["webhook-signature"]
    'v1,NJTFSa6BK4psixPwEGSsfCozWYiOsnG0cqi4icQCoEI='
    >>> verify_standard(b'{"a":1}', headers, "s3cret", now=1700000100)
    True
    >>> verify_standard(b'{"a":1}', headers, "s3cret", now=1700000000 + 3600)  # replayed an hour later
    False
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from hashlib import sha256
from typing import Final, Mapping

__all__ = [
    "SIGNATURE_HEADER",
    "STANDARD_ID_HEADER",
    "STANDARD_TIMESTAMP_HEADER",
    "STANDARD_SIGNATURE_HEADER",
    "TOLERANCE_S",
    "sign",
    "verify_signature",
    "standard_key",
    "sign_standard",
    "verify_standard",
    "signature_headers",
]

SIGNATURE_HEADER: Final = "X-Gctrace-Signature-256"
STANDARD_ID_HEADER: Final = "webhook-id"
STANDARD_TIMESTAMP_HEADER: Final = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER: Final = "webhook-signature"
#: How far a ``webhook-timestamp`` may be from the receiver's clock (either way), in seconds.
TOLERANCE_S: Final = 300
_PREFIX: Final = "whsec_"


def _utf8(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def sign(body: bytes, secret: str | bytes) -> str:
    """Return the ``X-Gctrace-Signature-256`` value: ``sha256=`` + hex HMAC-SHA256 of ``body``.

    Example:
        >>> sign(b"{}", "s3cret")
        'sha256=adbde1ce40c89c14215687d5d762a47df6dfaefcfad61e2e86718ffc8498571b'
    """
    return "sha256=" + hmac.new(_utf8(secret), body, sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: str | bytes) -> bool:
    """Return True when ``header`` is the ``X-Gctrace-Signature-256`` of ``body`` (constant-time compare)."""
    return header is not None and hmac.compare_digest(sign(body, secret), header)


def standard_key(secret: str | bytes) -> bytes:
    """The HMAC key of the Standard Webhooks signature (see the module docstring).

    >>> standard_key("whsec_czNjcmV0"), standard_key("s3cret")
    (b's3cret', b's3cret')
    """
    text = secret.decode("utf-8", "replace") if isinstance(secret, (bytes, bytearray)) else secret
    if text.startswith(_PREFIX):
        try:
            return base64.b64decode(text[len(_PREFIX):], validate=True)
        except (binascii.Error, ValueError):
            pass  # not base64 after all: the string itself is the key
    return _utf8(secret)


def sign_standard(msg_id: str, timestamp: int, body: bytes, secret: str | bytes) -> str:
    """Return the ``webhook-signature`` value: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``."""
    signed = f"{msg_id}.{int(timestamp)}.".encode("utf-8") + body
    return "v1," + base64.b64encode(hmac.new(standard_key(secret), signed, sha256).digest()).decode("ascii")


def signature_headers(body: bytes, msg_id: str, secret: str | bytes, *, timestamp: float | None = None) -> dict:
    """Every signature header of one delivery attempt (``timestamp``: Unix seconds, default now)."""
    stamp = int(time.time() if timestamp is None else timestamp)
    return {
        STANDARD_ID_HEADER: msg_id,
        STANDARD_TIMESTAMP_HEADER: str(stamp),
        STANDARD_SIGNATURE_HEADER: sign_standard(msg_id, stamp, body, secret),
        SIGNATURE_HEADER: sign(body, secret),
    }


def verify_standard(
    body: bytes,
    headers: Mapping[str, str],
    secret: str | bytes,
    *,
    tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Return True when ``headers`` carry a valid Standard Webhooks signature of ``body``, made recently.

    ``headers`` may use any case. A timestamp more than ``tolerance_s`` from
    ``now`` (default: the current time) fails: a captured delivery cannot be
    replayed later. Several space-separated signatures are allowed (key rotation).
    """
    lower = {str(k).lower(): v for k, v in headers.items()}
    msg_id = lower.get(STANDARD_ID_HEADER)
    stamp = lower.get(STANDARD_TIMESTAMP_HEADER)
    given = lower.get(STANDARD_SIGNATURE_HEADER)
    if not (msg_id and stamp and given):
        return False
    try:
        moment = int(stamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - moment) > tolerance_s:
        return False
    expected = sign_standard(msg_id, moment, body, secret)
    return any(hmac.compare_digest(expected, candidate) for candidate in given.split() if candidate.startswith("v1,"))
