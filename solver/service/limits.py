"""Service settings and the limits that keep one request from hurting the others.

Every limit has an environment variable (read by :meth:`ServiceSettings.from_env`):

``BUNDLEOPT_MAX_BODY_BYTES``    request body size (default 10 MB) → 413
``BUNDLEOPT_MAX_CELLS``         offers × segments × ladder points (default 200 000) → 413
``BUNDLEOPT_DEFAULT_TIME_LIMIT`` time limit of a solve that sets none (default 60 s)
``BUNDLEOPT_MAX_TIME_LIMIT``    cap on any solve's time limit (default 600 s)
``BUNDLEOPT_LEASE_SECONDS``     worker lease: a dead worker's solve is re-queued after it
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from formulations.errors import ParameterError

DEFAULT_DISCOUNT_COUNT = 7   # length of SCENARIO.md's default price ladder


class TooLarge(Exception):
    """The request or scenario exceeds a configured limit (answered with 413)."""


@dataclass(frozen=True)
class ServiceSettings:
    """Everything ``create_app`` and the worker pool need to know."""

    db_url: str
    tokens: list[str] = field(default_factory=list)
    max_body_bytes: int = 10 * 1024 * 1024
    max_cells: int = 200_000
    default_time_limit: float = 60.0
    max_time_limit: float = 600.0
    lease_seconds: float = 15.0

    @classmethod
    def from_env(cls, db_url: str, tokens: list[str]) -> "ServiceSettings":
        """Settings with limits overridden from the environment."""
        return cls(db_url=db_url, tokens=tokens,
                   max_body_bytes=int(_env("BUNDLEOPT_MAX_BODY_BYTES", cls.max_body_bytes)),
                   max_cells=int(_env("BUNDLEOPT_MAX_CELLS", cls.max_cells)),
                   default_time_limit=_env("BUNDLEOPT_DEFAULT_TIME_LIMIT",
                                           cls.default_time_limit),
                   max_time_limit=_env("BUNDLEOPT_MAX_TIME_LIMIT", cls.max_time_limit),
                   lease_seconds=_env("BUNDLEOPT_LEASE_SECONDS", cls.lease_seconds))


def _env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ParameterError(f"{name}={raw!r}: expected a number") from None
    if value <= 0:
        raise ParameterError(f"{name}={raw!r}: must be > 0")
    return value


def parse_json(body: bytes) -> Any:
    """Strict JSON (no NaN/Infinity); raises ``ValueError`` with a short message."""
    def reject(token: str) -> Any:
        raise ValueError(f"{token} is not valid JSON")

    try:
        return json.loads(body, parse_constant=reject)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError("body is not UTF-8 text") from None


def scenario_cells(payload: dict[str, Any]) -> int:
    """Offers × segments × (most) ladder points of a raw payload, before validation.

    Counts what the payload says, so a huge scenario is refused before any work is
    spent on it; malformed parts count as zero (validation reports them afterwards).
    """
    def records(key: str) -> list[dict[str, Any]]:
        v = payload.get(key)
        return [r for r in v if isinstance(r, dict)] if isinstance(v, list) else []

    def ids(key: str, col: str) -> set[str]:
        return {str(r.get(col)) for r in records(key)}

    offers = len(ids("bundles", "bundle_id"))
    segments = len(ids("segments", "segment_id"))
    ladder = DEFAULT_DISCOUNT_COUNT
    settings = payload.get("scenario")
    if isinstance(settings, dict) and isinstance(settings.get("price_ladder"), dict):
        d = settings["price_ladder"].get("discounts")
        if isinstance(d, list):
            ladder = len(d)
    per_offer: dict[str, int] = {}
    for r in records("prices"):
        key = str(r.get("bundle_id"))
        per_offer[key] = per_offer.get(key, 0) + 1
    ladder = max([ladder, *per_offer.values()])
    return offers * segments * max(ladder, 1)


ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]],
                    Callable[[dict[str, Any]], Awaitable[None]]], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: refuse bodies above ``max_bytes`` with 413, without buffering them.

    ``Content-Length`` is checked up front; a chunked body is counted as it streams in.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._refuse(send)
                    return
        seen = 0
        started = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise TooLarge()
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps({"detail": f"request body larger than {self.max_bytes} bytes"}
                          ).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
