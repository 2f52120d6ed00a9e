"""Bearer-token authentication and tenants for the ``/v1`` API.

``BUNDLEOPT_API_TOKENS`` holds comma-separated entries, each ``tenant:token`` or a bare
``token`` (then its own tenant, named by the token's fingerprint);
``BUNDLEOPT_ADMIN_TOKENS`` holds tokens (same forms) that see every tenant. A presented
token is hashed and compared with every configured token's hash using
:func:`hmac.compare_digest`, always against all of them, so neither the comparison nor
the token length leaks through timing. Callers are recorded (audit trail) by a short
fingerprint of their token, never by the token itself.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from formulations.errors import ParameterError

ENV_VAR = "BUNDLEOPT_API_TOKENS"
ADMIN_ENV_VAR = "BUNDLEOPT_ADMIN_TOKENS"
TENANT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: Where the ASGI scope carries the authenticated caller for the handlers.
SCOPE_KEY = "bundleopt.caller"


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the tenant it acts for, its token's fingerprint, admin or not."""

    tenant: str
    actor: str
    admin: bool = False


def tokens_from_env(environ: dict[str, str] | None = None, var: str = ENV_VAR) -> list[str]:
    """The configured entries of ``var`` (blank entries dropped)."""
    raw = (environ if environ is not None else os.environ).get(var, "")
    return [t.strip() for t in raw.split(",") if t.strip()]


def fingerprint(token: str) -> str:
    """A stable, non-secret name for a token: ``token:`` + 12 hex digits of its SHA-256."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:12]


def parse_entry(entry: str) -> tuple[str, str]:
    """``(tenant, token)`` of a ``tenant:token`` or bare ``token`` entry."""
    tenant, sep, token = entry.partition(":")
    if not sep:
        return fingerprint(entry), entry
    if not TENANT_RE.match(tenant) or not token:
        # Never echo the entry: it holds a secret.
        raise ParameterError(f"{ENV_VAR}: an entry 'tenant:token' needs a tenant of 1-64 "
                             "letters, digits, '_', '.' or '-' and a non-empty token")
    return tenant, token


class TokenCheck:
    """Holds the token hashes and identifies the caller of a request."""

    def __init__(self, tokens: list[str], admin_tokens: list[str] | None = None) -> None:
        self._entries: list[tuple[bytes, Caller]] = []
        seen: set[bytes] = set()
        for entries, admin in ((admin_tokens or [], True), (tokens, False)):
            for entry in entries:
                tenant, token = parse_entry(entry)
                digest = hashlib.sha256(token.encode()).digest()
                if digest in seen:
                    raise ParameterError("a token appears twice in BUNDLEOPT_API_TOKENS / "
                                         "BUNDLEOPT_ADMIN_TOKENS; each token needs one tenant")
                seen.add(digest)
                self._entries.append((digest, Caller(tenant, fingerprint(token), admin)))

    def __bool__(self) -> bool:
        return bool(self._entries)

    def caller(self, authorization: str | None) -> Caller | None:
        """The caller for an ``Authorization`` header value, else ``None``."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found = None
        for expected, who in self._entries:
            if hmac.compare_digest(digest, expected) and found is None:
                found = who
        return found

    def token_caller(self, token: str) -> Caller | None:
        """The caller a bare token (the web app's sign-in form) stands for, else ``None``."""
        return self.caller("Bearer " + token) if token.strip() else None

    def by_fingerprint(self, actor: str) -> Caller | None:
        """The caller whose token has fingerprint ``actor``, while that token is still
        configured (a web session outlives no token removed from the configuration)."""
        return next((who for _, who in self._entries if who.actor == actor), None)

    def fingerprints(self) -> list[str]:
        """The fingerprints of every configured token."""
        return [who.actor for _, who in self._entries]

    def actor(self, authorization: str | None) -> str | None:
        """The caller's token fingerprint, else ``None``."""
        who = self.caller(authorization)
        return who.actor if who else None


class RequireToken:
    """ASGI middleware: refuse ``/v1`` requests without a valid token before anything else.

    Runs ahead of routing and body parsing, so an unauthenticated request costs one
    hash and is answered 401 whatever its method, path or body. The caller is left in
    the scope (:data:`SCOPE_KEY`) for the quotas and the handlers.
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
            who = self.check.caller(value)
            if who is None:
                body = json.dumps({"detail": "missing or invalid bearer token"}).encode()
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body})
                return
            scope[SCOPE_KEY] = who
        await self.app(scope, receive, send)
