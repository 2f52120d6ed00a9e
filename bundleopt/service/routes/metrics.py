"""``GET /metrics``: Prometheus text, for admin tokens only (:mod:`..metrics`)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..auth import Caller
from ..deps import caller, service

router = APIRouter(tags=["service"])


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}},
                             "description": "Prometheus text exposition format"},
                       401: {"description": "missing or invalid token"},
                       403: {"description": "not an admin token"}})
def metrics(request: Request, who: Caller = Depends(caller)) -> Response:
    """Queue depth and solve counts (from the database), this instance's HTTP requests
    and database errors. Admin tokens only: queue depths name every tenant."""
    if not who.admin:
        raise HTTPException(403, "the metrics are for admin tokens only")
    return Response(generate_latest(service(request).metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)
