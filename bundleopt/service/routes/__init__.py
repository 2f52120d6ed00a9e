"""The API's routes, one router per resource; ``create_app`` includes them in this order."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from . import audit, health, metrics, plans, review, schedules, solves

ROUTERS: tuple[APIRouter, ...] = (health.router, solves.router, plans.router, review.router,
                                  schedules.router, audit.router, metrics.router)


def _document_common_answers(router: APIRouter) -> None:
    """Every /v1 operation can answer 401 and 429; say so in the published schema."""
    for route in router.routes:
        if not isinstance(route, APIRoute) or not route.path.startswith("/v1"):
            continue
        route.responses.setdefault(401, {"description": "missing or invalid token"})
        route.responses.setdefault(429, {"description": "a quota of the tenant is "
                                         "reached; see Retry-After"})
        if {"POST", "PUT"} & route.methods:
            route.responses.setdefault(400, {"description": "unreadable body"})
        for code, text in ((404, "not found"), (409, "conflict"), (413, "too large"),
                           (422, "invalid input")):
            if code in route.responses:
                route.responses[code] = {"description": text}


for _router in ROUTERS:
    _document_common_answers(_router)

__all__ = ["ROUTERS"]
