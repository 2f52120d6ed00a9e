"""What every route shares, reached through ``request.app.state.service``: the settings,
the read and write sessions, the caller (with its tenant), and the query bounds.

Reads use the read engine (SQLite: snapshot reads that never wait for a writer); writes
are short transactions on the write engine, taken in turns (SQLite) and prepared before
they start.
"""
from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

from fastapi import Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .auth import SCOPE_KEY, Caller, TokenCheck
from .health import HealthProbe
from .limits import ServiceSettings, safe_text
from .metrics import Metrics

MAX_OFFSET = 1_000_000_000   # keeps OFFSET within every database's integer range
#: Seconds a client is asked to wait when the database or its tenant's quota is full.
RETRY_AFTER = 5

_bearer = HTTPBearer(auto_error=False, description="A token from BUNDLEOPT_API_TOKENS")


@dataclass(frozen=True)
class Service:
    """The state of one app: built by ``create_app``, kept on ``app.state.service``."""

    settings: ServiceSettings
    engine: Engine
    read_engine: Engine
    reads: sessionmaker[Session]
    writes: sessionmaker[Session]
    # SQLite has one writer at a time and lets waiters poll with growing sleeps, which
    # starves some of them under load; queueing this process's writers on a lock keeps
    # at most one of them at the database, so /healthz and the workers get in promptly.
    write_turn: AbstractContextManager[Any]
    # Parsing and validating is the CPU-bound part of a request: at most one thread per
    # core does it at a time, so the event loop (and /healthz) keep the GIL often.
    cpu_turn: threading.BoundedSemaphore
    tokens: TokenCheck
    health: HealthProbe
    metrics: Metrics


def service(request: Request) -> Service:
    return request.app.state.service


def reads(request: Request) -> Iterator[Session]:
    """A session on the read engine for the request."""
    with service(request).reads() as s:
        yield s


def writes(request: Request) -> Iterator[Session]:
    """A session on the write engine for the request, holding this process's write turn."""
    svc = service(request)
    with svc.write_turn, svc.writes() as s:
        yield s


def caller(request: Request,
           _cred: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Caller:
    """Who sent the request (set by the token middleware); also refuses unknown query
    parameters, since a misspelt one (``?stauts=``) must not be silently ignored."""
    who = request.scope.get(SCOPE_KEY) or service(request).tokens.caller(
        request.headers.get("authorization"))
    if who is None:
        raise HTTPException(401, "missing or invalid bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    route = request.scope.get("route")
    known = {f.alias for f in getattr(getattr(route, "dependant", None), "query_params", [])}
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        hint = f"unknown query parameter; known: {', '.join(sorted(known)) or 'none'}"
        raise RequestValidationError([
            {"loc": ["query", safe_text(name)], "type": "extra_forbidden", "msg": hint,
             "input": safe_text(request.query_params[name])} for name in unknown])
    return who


T = TypeVar("T")


def visible(who: Caller, well_formed: bool, own: Callable[[], T | None],
            any_tenant: Callable[[], T | None], missing: str) -> T:
    """The row a path names, if the caller may see it: its tenant's own (``own()``), or
    any tenant's for an admin (``any_tenant()``). A malformed name, a missing row and
    another tenant's row all answer the same 404 ``missing``, so none can be told apart."""
    row = (any_tenant() if who.admin else own()) if well_formed else None
    if row is None:
        raise HTTPException(404, missing)
    return row


def offset_query() -> Any:
    return Query(0, ge=0, le=MAX_OFFSET)
