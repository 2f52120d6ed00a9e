"""Web sessions: signing in with a tenant's token, the session cookie, CSRF tokens.

Signing in exchanges an API token (checked like a bearer token) for a random session id
sent as an ``HttpOnly; SameSite=Strict; Path=/app`` cookie with an expiry. The database
keeps only the SHA-256 of the id (a copy of the table signs no one in), the tenant, the
token's fingerprint and the session's CSRF token, so every service instance behind a
load balancer knows every session. A session is refused when it is unknown, expired, or
its token's fingerprint is no longer configured (removing a token from
``BUNDLEOPT_API_TOKENS`` ends its sessions; :func:`purge` also deletes them at start).

Every form carries the session's CSRF token; a POST is accepted only with it, and only
when the browser does not say it comes from another site (``Origin``,
``Sec-Fetch-Site``) — the ``SameSite=Strict`` cookie is not even sent then.

The cookies say ``Secure`` (sent over HTTPS only) as ``BUNDLEOPT_SECURE_COOKIES`` says:
``always``, ``never``, or ``auto`` (:func:`secure_cookie`) — Secure unless the request
came over plain HTTP to a loopback name (``localhost``, ``127.0.0.1``, ``[::1]``), i.e.
unless the browser is on this very machine. Behind a TLS-terminating proxy the browser
addresses the public name, so the cookie is Secure even though the proxy speaks HTTP to
the service; a proxy that rewrites ``Host`` to a loopback address needs ``always`` (or
sends ``X-Forwarded-Proto: https``, which uvicorn trusts from loopback proxies).

Sign-in attempts are rate-limited per client address and per token fingerprint
(:class:`LoginThrottle`): each failed attempt costs one from the address's bucket and
one from the bucket of the token tried (``BUNDLEOPT_LOGIN_BURST`` at once, then
``BUNDLEOPT_LOGIN_PER_MINUTE``); while either is empty, every attempt from that address
or with that token is answered ``429`` with ``Retry-After`` before the token is even
checked. A sign-in that succeeds costs nothing, so a team behind one address signing
in of a morning is never held up; a guesser is. At most :data:`LOGIN_KEYS` addresses
and fingerprints are remembered (the least recently seen forgotten first).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ..auth import Caller, TokenCheck, fingerprint
from ..limits import RateBuckets, ServiceSettings
from ..models import WebSession, utcnow

COOKIE = "bundleopt_session"
#: The sign-in form's CSRF token lives in its own cookie until there is a session.
LOGIN_COOKIE = "bundleopt_login"
SESSION_SECONDS = 8 * 3600
#: Client addresses and token fingerprints whose sign-in attempts are remembered.
LOGIN_KEYS = 100_000


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogateescape")).hexdigest()


def create(s: Session, who: Caller, seconds: float = SESSION_SECONDS) -> tuple[str, str]:
    """Start a session for ``who``; ``(cookie value, csrf token)``. The caller commits."""
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = utcnow()
    s.add(WebSession(id_hash=_hash(sid), tenant=who.tenant, actor=who.actor, admin=who.admin,
                     csrf=csrf, created_at=now, expires_at=now + timedelta(seconds=seconds)))
    return sid, csrf


def lookup(s: Session, cookie: str | None, tokens: TokenCheck
           ) -> tuple[Caller, WebSession] | None:
    """The signed-in caller of a cookie, or ``None`` (unknown, expired or revoked)."""
    if not cookie or len(cookie) > 200:
        return None
    row = s.get(WebSession, _hash(cookie))
    if row is None or row.expires_at <= utcnow():
        return None
    who = tokens.by_fingerprint(row.actor)
    if who is None or who.tenant != row.tenant or who.admin != row.admin:
        return None
    return who, row


def end(s: Session, cookie: str | None) -> None:
    """Sign out: the session is deleted (the caller commits)."""
    if cookie:
        s.execute(delete(WebSession).where(WebSession.id_hash == _hash(cookie)))


def purge(s: Session, tokens: TokenCheck) -> int:
    """Delete expired sessions and those of tokens no longer configured (the caller
    commits); how many."""
    res = s.execute(delete(WebSession).where(
        (WebSession.expires_at <= utcnow())
        | WebSession.actor.not_in(tokens.fingerprints() or [""])))
    return int(res.rowcount or 0)


def same_token(expected: str | None, given: Any) -> bool:
    """Whether a form's CSRF token is the expected one (constant time)."""
    return (isinstance(expected, str) and isinstance(given, str) and bool(expected)
            and hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")))


def cross_site(headers: Any, host: str) -> bool:
    """Whether the browser says the request comes from another site."""
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return True
    origin = headers.get("origin")
    if origin is None:
        return False
    return origin == "null" or origin.split("://", 1)[-1] != host


def cookie_args(seconds: float, secure: bool) -> dict[str, Any]:
    """The session cookie's attributes."""
    return {"max_age": int(seconds), "httponly": True, "samesite": "strict", "path": "/app",
            "secure": secure}


def _loopback(host: str) -> bool:
    """Whether a ``Host`` header names this machine (``localhost``, 127/8, ``::1``)."""
    name = host.strip().lower()
    if name.startswith("["):                       # [::1]:8000
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:                     # 127.0.0.1:8000, localhost:8000
        name = name.split(":", 1)[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def secure_cookie(mode: str, scheme: str, host: str) -> bool:
    """Whether cookies set for a request (``scheme``, ``Host`` header) say ``Secure``:
    ``always``, ``never``, or ``auto`` — unless plain HTTP to a loopback name."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    return scheme == "https" or not _loopback(host)


class LoginThrottle:
    """Failed sign-ins per client address and per fingerprint of the token tried."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.buckets = RateBuckets(settings.login_per_minute / 60.0, settings.login_burst,
                                   max_keys=LOGIN_KEYS)

    @staticmethod
    def _keys(client: str | None, token: str) -> tuple[str, str]:
        return f"addr:{client or '?'}", f"fp:{fingerprint(token)}"

    def wait(self, client: str | None, token: str) -> float | None:
        """``None`` if an attempt may be made now, else the seconds to wait."""
        return self.buckets.wait(*self._keys(client, token))

    def failed(self, client: str | None, token: str) -> None:
        """Count a failed attempt against the address and the token."""
        self.buckets.take(*self._keys(client, token))
