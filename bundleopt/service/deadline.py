"""The request timeout: every request is answered within ``BUNDLEOPT_REQUEST_TIMEOUT``
seconds (default :data:`REQUEST_TIMEOUT`), if need be with 503 and ``Retry-After``.

The database bounds its own waits (connect, pool, lock: ``db.make_engine``), and a
database that is down refuses at once, so a request normally fails fast. This is the
guarantee behind those bounds, for what they miss (a network that drops packets to the
database host, a query stuck on a dying connection): a client never waits past the
timeout, and a 503 is always safe to retry with the same ``Idempotency-Key``.

The handler's thread cannot be interrupted: it runs on, and what it answers later is
dropped. If it recorded a solve, the client's retry with its key finds that solve.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import anyio

log = logging.getLogger("bundleopt.serve")
REQUEST_TIMEOUT = 30.0


class RequestDeadline:
    """ASGI middleware: a request with no answer started within ``seconds`` gets 503."""

    def __init__(self, app: Any, seconds: float, retry_after: int) -> None:
        self.app, self.seconds, self.retry_after = app, seconds, retry_after

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = {"started": False, "ours": False}
        finished = anyio.Event()
        raised: list[Exception] = []

        async def sending(message: dict[str, Any]) -> None:
            if state["ours"]:
                return      # answered by the timeout already: the late answer is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        async def call() -> None:
            try:
                await self.app(scope, receive, sending)
            except Exception as err:    # re-raised below as itself, not as a group
                raised.append(err)
            finally:
                finished.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            with anyio.move_on_after(self.seconds):
                await finished.wait()
            if not finished.is_set() and not state["started"]:
                state["ours"] = True
                log.warning("request timed out after %.0f s: %s %s", self.seconds,
                            scope.get("method"), scope.get("path", "")[:200])
                body = json.dumps({"detail": "the request timed out; retry later"}).encode()
                await send({"type": "http.response.start", "status": 503, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(self.retry_after).encode())]})
                await send({"type": "http.response.body", "body": body})
        if raised and not state["ours"]:
            raise raised[0]
