"""``/v1/plans``: the stored weeks of weekly plans."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from formulations.errors import InputError

from .. import queries
from ..auth import Caller
from ..deps import caller, offset_query, reads, visible, writes
from ..limits import safe_text
from ..models import Audit, Schedule, WeeklyPlan
from ..schemas import NAME_RE, WEEK_RE, SalesIn, SalesOut, WeeklyList, WeeklyPlanOut
from ..views import weekly_out
from ..weekly import approval, season, versions

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


@router.post("/v1/plans/{name}/sales", response_model=SalesOut,
             responses={404: {}, 403: {}, 422: {}})
def post_sales(name: str, body: SalesIn, who: Caller = Depends(caller),
               s: Session = Depends(writes)) -> Any:
    """Units sold since the season's start (SCENARIO.md §8 "Re-planning"), replacing the
    plan's sales stored before; the plan's next run re-plans the season from them.
    Rows are checked here (a week, a product of the plan's latest week, units ≥ 0;
    422 naming the row and field); the run checks them against the season's weeks and
    stock."""
    if who.admin:
        raise HTTPException(403, "admin tokens are read-only here; sign in with the "
                            "tenant's token to change its plans")
    missing = f"no plan {safe_text(name)[:128]!r}"
    if not NAME_RE.match(name):
        raise HTTPException(404, missing)
    latest = s.scalars(select(WeeklyPlan).where(
        WeeklyPlan.tenant == who.tenant, WeeklyPlan.name == name)
        .order_by(WeeklyPlan.week.desc()).limit(1)).first()
    if latest is None and s.scalars(select(Schedule.id).where(
            Schedule.tenant == who.tenant, Schedule.name == name)).first() is None:
        raise HTTPException(404, missing)
    sales = season.sales_frame(body.rows, "sales")
    if latest is not None and latest.solve_id is not None and len(sales):
        known = versions.week_scenario(s, latest).scenario.products.index
        bad = ~sales["product_id"].isin(known)
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise InputError("sales", f"unknown product "
                             f"{safe_text(sales['product_id'].iloc[i])[:64]!r}",
                             row=int(sales["row"].iloc[i]), field="product_id")
    season.store_sales(s, name, sales, tenant=who.tenant, actor=who.actor)
    s.add(Audit(tenant=who.tenant, actor=who.actor, action="sales", target=name[:128],
                detail={"rows": len(sales), "by": sales.attrs["by"],
                        "units": float(sales["units"].sum())}))
    s.commit()
    return {"name": name, "rows": len(sales), "by": sales.attrs["by"]}
