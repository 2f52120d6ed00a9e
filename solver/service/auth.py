"""Bearer-token authentication for the ``/v1`` API.

Tokens come from ``BUNDLEOPT_API_TOKENS`` (comma-separated). A presented token is
hashed and compared with every configured token's hash using
:func:`hmac.compare_digest`, always against all of them, so neither the comparison nor
the token length leaks through timing. Callers are recorded (audit trail, idempotency
scope) by a short fingerprint of their token, never by the token itself.
"""
from __future__ import annotations

import hashlib
import hmac
import os

ENV_VAR = "BUNDLEOPT_API_TOKENS"


def tokens_from_env(environ: dict[str, str] | None = None) -> list[str]:
    """The configured tokens (blank entries dropped)."""
    raw = (environ if environ is not None else os.environ).get(ENV_VAR, "")
    return [t.strip() for t in raw.split(",") if t.strip()]


def fingerprint(token: str) -> str:
    """A stable, non-secret name for a token: ``token:`` + 12 hex digits of its SHA-256."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:12]


class TokenCheck:
    """Holds the token hashes and identifies the caller of a request."""

    def __init__(self, tokens: list[str]) -> None:
        self._entries = [(hashlib.sha256(t.encode()).digest(), fingerprint(t)) for t in tokens]

    def __bool__(self) -> bool:
        return bool(self._entries)

    def actor(self, authorization: str | None) -> str | None:
        """The caller's fingerprint for an ``Authorization`` header value, else ``None``."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found = None
        for expected, name in self._entries:
            if hmac.compare_digest(digest, expected) and found is None:
                found = name
        return found
