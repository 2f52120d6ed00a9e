"""The web app's response headers: a Content-Security-Policy with a fresh nonce per
request, and the usual hardening.

``script-src 'self' 'nonce-…'``: the app's own files, and the inline scripts it wrote
itself this time (the report's Plotly charts carry the nonce; nothing a user typed can
run, since markup in data is escaped and would carry no nonce anyway).
``style-src 'self' 'unsafe-inline'``: Plotly sizes and styles its charts inline.
Nothing may be loaded from, framed by or posted to another origin.
"""
from __future__ import annotations

import secrets
from typing import Any

NONCE_KEY = "bundleopt.nonce"
PREFIX = "/app"


def policy(nonce: str) -> str:
    return ("default-src 'self'; "
            f"script-src 'self' 'nonce-{nonce}'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'; object-src 'none'")


class SecureHeaders:
    """ASGI middleware for ``/app``: a nonce in the scope for the templates, and the
    policy and hardening headers on the answer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(18)
        scope[NONCE_KEY] = nonce

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", policy(nonce).encode()),
                            (b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"same-origin"),
                            (b"cross-origin-opener-policy", b"same-origin")]
                if not path.startswith(PREFIX + "/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
