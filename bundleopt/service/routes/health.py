"""``GET /healthz``: the background probe's last outcome, answered at once."""
from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..deps import service
from ..health import HEALTH_STALE_SECONDS

router = APIRouter(tags=["service"])


@router.get("/healthz", responses={503: {"description": "degraded"}})
async def healthz(request: Request) -> Any:
    """``ok`` when the database could be reached and written within the last few
    seconds; else 503 ``degraded``. Answered from a background probe, so it is
    instant however busy the service is."""
    probe = service(request).health
    end = time.monotonic() + HEALTH_STALE_SECONDS
    while not probe.probed() and time.monotonic() < end:   # just started
        await asyncio.sleep(0.05)
    problem = probe.problem()
    if problem:
        return JSONResponse({"status": "degraded", "detail": problem}, status_code=503)
    return {"status": "ok"}
