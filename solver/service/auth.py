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
import json
import os
from typing import Any

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


class RequireToken:
    """ASGI middleware: refuse ``/v1`` requests without a valid token before anything else.

    Runs ahead of routing and body parsing, so an unauthenticated request costs one
    hash and is answered 401 whatever its method, path or body.
    """

    def __init__(self, app: Any, check: TokenCheck, prefix: str = "/v1") -> None:
        self.app, self.check, self.prefix = app, check, prefix

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == self.prefix
                                        or path.startswith(self.prefix + "/")):
            header = next((v for k, v in scope.get("headers", []) if k == b"authorization"),
                          None)
            value = header.decode("latin-1") if header is not None else None
            if self.check.actor(value) is None:
                body = json.dumps({"detail": "missing or invalid bearer token"}).encode()
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
