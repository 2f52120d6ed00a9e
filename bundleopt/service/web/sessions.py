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
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ..auth import Caller, TokenCheck
from ..models import WebSession, utcnow

COOKIE = "bundleopt_session"
#: The sign-in form's CSRF token lives in its own cookie until there is a session.
LOGIN_COOKIE = "bundleopt_login"
SESSION_SECONDS = 8 * 3600


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
