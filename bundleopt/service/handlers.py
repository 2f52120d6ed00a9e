"""How the app answers what went wrong: a user's mistake is 422 naming table, row and
field; a database that cannot take the request is 503 with Retry-After; a client that
hung up mid-body is one line in the log. Never a traceback for any of them."""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import (DBAPIError, IntegrityError, PendingRollbackError,
                            ProgrammingError)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import ClientDisconnect

from formulations.errors import BundleoptError, InputError

from .db import jsonable
from .deps import RETRY_AFTER
from .limits import safe_text

log = logging.getLogger("bundleopt.serve")


class _Throttled:
    """The "database unavailable" line, at most once per :data:`EVERY` seconds with the
    count of the 503s since: an outage under load is a line every few seconds, not one
    per request (the counter in /metrics has every one)."""

    EVERY = 5.0

    def __init__(self) -> None:
        self.lock, self.last, self.quiet = threading.Lock(), -math.inf, 0

    def say(self, kind: str) -> None:
        with self.lock:
            now = time.monotonic()
            if now - self.last < self.EVERY:
                self.quiet += 1
                return
            quiet, self.quiet, self.last = self.quiet, 0, now
        log.warning("database unavailable: %s%s", kind,
                    f" ({quiet} more 503s since the last such line)" if quiet else "")


_UNAVAILABLE = _Throttled()


def install(app: FastAPI) -> None:
    """Register the handlers below on ``app``."""
    app.add_exception_handler(BundleoptError, user_error)
    # DBAPIError: every error the driver raised (a lost connection may be an
    # InterfaceError, not a DatabaseError); a pool with no connection free in time; a
    # session whose connection died mid-transaction. All: 503, never 500.
    for unavailable in (DBAPIError, PoolTimeout, PendingRollbackError):
        app.add_exception_handler(unavailable, database_unavailable)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(ClientDisconnect, client_gone)
    app.add_exception_handler(405, method_not_allowed)


def error_body(err: BundleoptError) -> dict[str, Any]:
    """The JSON of a user's mistake: the message, and for input its table, row and field."""
    body: dict[str, Any] = {"detail": safe_text(err)}
    if isinstance(err, InputError):
        body.update(table=safe_text(err.source),
                    row=err.row, field=safe_text(err.field) if err.field is not None else None)
    return body


def jsonable_safe(value: Any) -> Any:
    """``value`` made strict JSON whose text always encodes to UTF-8."""
    value = jsonable(value)
    if isinstance(value, dict):
        return {safe_text(k): jsonable_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable_safe(v) for v in value]
    return safe_text(value) if isinstance(value, str) else value


async def user_error(_request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, BundleoptError)
    return JSONResponse(error_body(err), status_code=422)


async def database_unavailable(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, (DBAPIError, PoolTimeout, PendingRollbackError))
    request.app.state.service.metrics.db_error("request")()
    if isinstance(err, (IntegrityError, ProgrammingError)):   # our bug, not the disk's
        log.error("database error", exc_info=err)
        return JSONResponse({"detail": "Internal Server Error"}, status_code=500)
    # A full disk, a corrupt file, a lock held too long, a lost connection: nothing the
    # client did wrong and nothing recorded; it may retry (the same Idempotency-Key is
    # safe). /healthz says "degraded" meanwhile.
    _UNAVAILABLE.say(type(getattr(err, "orig", None) or err).__name__)
    return JSONResponse({"detail": "the database cannot take the request right now; "
                         "retry later"}, status_code=503,
                        headers={"Retry-After": str(RETRY_AFTER)})


async def invalid_request(_request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, RequestValidationError)
    # Echoes of the client's input must encode (a lone surrogate would not).
    return JSONResponse({"detail": jsonable_safe(err.errors())}, status_code=422)


async def client_gone(request: Request, _err: Exception) -> Response:
    # The client closed the connection before its body arrived: nothing was recorded and
    # nobody is left to answer. Not the service's fault, so no traceback.
    log.info("client disconnected before sending its whole body: %s %s", request.method,
             safe_text(request.url.path)[:200])
    return Response(status_code=400)


async def method_not_allowed(request: Request, _exc: Exception) -> JSONResponse:
    # Starlette lists only one route's methods; a path served by several routes (GET
    # and DELETE /v1/solves/{id}) must list them all.
    methods: set[str] = set()
    for route in request.app.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path):
            methods |= set(getattr(route, "methods", None) or ())
    return JSONResponse({"detail": "Method Not Allowed"}, status_code=405,
                        headers={"Allow": ", ".join(sorted(methods))})
