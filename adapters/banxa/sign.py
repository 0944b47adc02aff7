"""Banxa's request signature, and its verification (the fake server and the webhook ingress).

    Authorization: Bearer KEY:SIGNATURE:NONCE
    SIGNATURE = hex(HMAC-SHA256(secret, METHOD "\n" PATH[?QUERY] "\n" NONCE ["\n" BODY]))

BODY is the request body exactly as sent: the client signs the compact JSON bytes it then
sends (`compact_json`), and a verifier checks the raw bytes it received, never a re-encoding.
The nonce is a millisecond timestamp, strictly increasing per key (`NonceSource`), which is what
lets a server refuse a stale or replayed request with no state beyond a window.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

INVALID_NONCE = 40001
EXPIRED_NONCE = 40002
REUSED_NONCE = 40003
BAD_KEY = 40100
"""Banxa's error codes for authentication failures (HTTP 401)."""


class SignatureError(Exception):
    """A request or webhook that fails authentication; `code` is one of Banxa's codes above."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def compact_json(body: Any, /) -> bytes:
    """Return the compact JSON bytes Banxa signs (no spaces, keys in the given order)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def payload(method: str, path: str, nonce: str, body: bytes | None = None, /) -> bytes:
    """Return the bytes signed for a request (PATH includes its `?query`, if any)."""
    head = f"{method.upper()}\n{path}\n{nonce}".encode()
    return head + b"\n" + body if body else head


def signature(secret: str, method: str, path: str, nonce: str, body: bytes | None = None) -> str:
    """Return the hex HMAC-SHA256 signature of a request."""
    return hmac.new(secret.encode(), payload(method, path, nonce, body), hashlib.sha256).hexdigest()


def authorization(
    key: str, secret: str, method: str, path: str, nonce: str, body: bytes | None = None
) -> str:
    """Return the `Authorization` header value of a request."""
    return f"Bearer {key}:{signature(secret, method, path, nonce, body)}:{nonce}"


def parse_authorization(header: str, /) -> tuple[str, str, str]:
    """Return (key, signature, nonce) of a `Bearer KEY:SIGNATURE:NONCE` header."""
    scheme, _, token = header.partition(" ")
    parts = token.split(":")
    if scheme.lower() != "bearer" or len(parts) != 3 or not all(parts):
        raise SignatureError(BAD_KEY, "expected `Authorization: Bearer KEY:SIGNATURE:NONCE`")
    return parts[0], parts[1], parts[2]


class NonceSource:
    """Millisecond nonces, strictly increasing even when the clock stalls or steps back."""

    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            now = self._clock() // 1_000_000
            self._last = max(self._last + 1, now)
            return str(self._last)


@dataclass
class NonceWindow:
    """What a verifier remembers of nonces: the last per key and those seen in the window."""

    max_age_ms: int = 300_000
    max_ahead_ms: int = 60_000
    strictly_increasing: bool = True
    """Require each nonce above the last one of its key (Banxa's API rule). Webhooks may be
    delivered concurrently, so the ingress checks freshness and reuse only."""

    def __post_init__(self) -> None:
        self._last: dict[str, int] = {}
        self._seen: dict[str, dict[int, None]] = {}

    def check(self, key: str, nonce: str, now_ms: int) -> None:
        """Accept `nonce` for `key` or raise `SignatureError` (40001, 40002 or 40003)."""
        if not nonce.isdigit() or len(nonce) > 16:
            raise SignatureError(INVALID_NONCE, f"nonce `{nonce[:20]}` is not a ms timestamp")
        n = int(nonce)
        seen = self._seen.setdefault(key, {})
        if n in seen:
            raise SignatureError(REUSED_NONCE, f"nonce {n} was used already")
        if n < now_ms - self.max_age_ms or n > now_ms + self.max_ahead_ms:
            raise SignatureError(EXPIRED_NONCE, f"nonce {n} is outside the window around {now_ms}")
        if self.strictly_increasing and n <= self._last.get(key, 0):
            raise SignatureError(INVALID_NONCE, f"nonce {n} is not above the last one")
        seen[n] = None
        self._last[key] = max(n, self._last.get(key, 0))
        floor = now_ms - self.max_age_ms
        if len(seen) > 1024:
            for old in [x for x in seen if x < floor]:
                del seen[old]


def verify(
    header: str,
    *,
    keys: dict[str, str],
    method: str,
    path: str,
    body: bytes,
    window: NonceWindow,
    now_ms: int,
) -> tuple[str, str]:
    """Check a request's `Authorization` against `keys` (key -> secret); return (key, nonce).

    The signature is checked first, in constant time, and only a correctly signed request
    touches the nonce window: a forger cannot burn someone else's nonces.
    """
    key, sig, nonce = parse_authorization(header)
    secret = keys.get(key)
    if secret is None:
        raise SignatureError(BAD_KEY, "unknown API key")
    want = signature(secret, method, path, nonce, body or None)
    if not hmac.compare_digest(want, sig.lower()):
        raise SignatureError(BAD_KEY, "bad signature")
    window.check(key, nonce, now_ms)
    return key, nonce
