"""``/v1/plans``: the stored weeks of weekly plans."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy.orm import Session

from .. import queries
from ..auth import Caller
from ..deps import caller, offset_query, reads, visible
from ..limits import safe_text
from ..schemas import NAME_RE, WEEK_RE, WeeklyList, WeeklyPlanOut
from ..views import weekly_out
from ..weekly import approval, versions

router = APIRouter(tags=["plans"])


@router.get("/v1/plans", response_model=WeeklyList)
def list_plans(name: str | None = Query(None, max_length=128),
               limit: int = Query(100, ge=1, le=1000), offset: int = offset_query(),
               who: Caller = Depends(caller), s: Session = Depends(reads)) -> Any:
    """Stored weekly plans, newest week first."""
    if name and not NAME_RE.match(name):
        return {"plans": []}
    name = name or None
    weeks = (queries.list_weekly_all_tenants(s, name=name, limit=limit, offset=offset)
             if who.admin else queries.list_weekly(s, tenant=who.tenant, name=name,
                                                   limit=limit, offset=offset))
    return {"plans": [weekly_out(w) for w in weeks]}


@router.get("/v1/plans/{name}/{week}", response_model=WeeklyPlanOut, responses={404: {}})
def get_weekly(name: str, week: str,
               version: int | None = Query(None, ge=0, lt=2**31, description=(
                   "which version's rows (0: the optimizer's); default the approved "
                   "version, else the optimizer's — what an export writes")),
               who: Caller = Depends(caller), s: Session = Depends(reads)) -> Any:
    """One week's plan with the rows of one version, which the answer names."""
    w = visible(who, bool(NAME_RE.match(name) and WEEK_RE.match(week)),
                lambda: queries.find_weekly(s, name, week, tenant=who.tenant),
                lambda: queries.find_weekly_all_tenants(s, name, week),
                f"no plan {safe_text(name)[:128]!r} for week {safe_text(week)[:16]}")
    v = versions.get_version(s, w, version if version is not None
                             else approval.default_version(w))
    if v is None and version is not None:
        raise HTTPException(404, f"week {w.week} of {w.name!r} has no version {version}")
    return {**weekly_out(w), "version": v.version if v else None,
            "overridden": v.overridden if v else None, "rows": v.rows if v else []}
