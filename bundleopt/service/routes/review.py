"""``/v1/plans/{name}/{week}/…``: a week's versions, overrides, approval and rejection.

An override is checked before anything is stored: ``dry_run: true`` answers the
re-evaluated version (KPIs, binding rules) and the rules it breaks without saving it;
without ``dry_run`` a plan that breaks a rule is refused (422 naming the rule) and a
good one is saved as the week's next version (201). Admin tokens read every tenant's
weeks but change none (403). Another tenant's week is 404, like one that does not exist.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from .. import queries
from ..auth import Caller
from ..deps import caller, reads, service, visible
from ..limits import safe_text
from ..models import Audit, WeeklyPlan
from ..schemas import (NAME_RE, WEEK_RE, ApproveIn, OverrideIn, OverrideOut, RejectIn,
                       ReviewOut, VersionList, VersionOut)
from ..weekly import approval, versions

router = APIRouter(tags=["plans"])
_WEEK = "/v1/plans/{name}/{week}"


def find_week(s: Session, name: str, week: str, who: Caller) -> WeeklyPlan:
    """The caller's week (any tenant's for an admin); 404 alike for missing and others'."""
    return visible(who, bool(NAME_RE.match(name) and WEEK_RE.match(week)),
                   lambda: queries.find_weekly(s, name, week, tenant=who.tenant),
                   lambda: queries.find_weekly_all_tenants(s, name, week),
                   f"no plan {safe_text(name)[:128]!r} for week {safe_text(week)[:16]}")


def own_week(s: Session, name: str, week: str, who: Caller) -> WeeklyPlan:
    """The caller's own week, for a change: admins read only (403)."""
    if who.admin:
        raise HTTPException(403, "admin tokens are read-only here; sign in with the "
                            "tenant's token to change its plans")
    return find_week(s, name, week, who)


@router.get(_WEEK + "/versions", response_model=VersionList, responses={404: {}})
def list_versions(name: str, week: str, who: Caller = Depends(caller),
                  s: Session = Depends(reads)) -> Any:
    """The week's versions, oldest first: 0 is the optimizer's, then each override."""
    w = find_week(s, name, week, who)
    return {**approval.review_out(w),
            "versions": [v.out(with_rows=False) for v in versions.list_versions(s, w)]}


@router.get(_WEEK + "/versions/{version}", response_model=VersionOut, responses={404: {}})
def get_version(name: str, week: str, version: int, who: Caller = Depends(caller),
                s: Session = Depends(reads)) -> Any:
    """One version of the week's plan, with its rows."""
    w = find_week(s, name, week, who)
    v = versions.get_version(s, w, version) if 0 <= version < 2**31 else None
    if v is None:
        raise HTTPException(404, f"week {w.week} of {w.name!r} has no version {version}")
    return v.out()


def override(request: Request, name: str, week: str, body: OverrideIn,
             who: Caller) -> tuple[int, dict[str, Any]]:
    """Evaluate (and unless a dry run, save) an override; ``(status, body)``."""
    svc = service(request)
    with svc.cpu_turn, svc.reads() as s:
        w = own_week(s, name, week, who)
        ev = versions.evaluate_override(s, w, [r.model_dump() for r in body.rows],
                                        body.base_version)
    out = {"saved": False, "version": ev.version.out(), "violations": ev.violations}
    if body.dry_run:
        return 200, out
    if ev.violations:
        return 422, {"detail": "the plan breaks " + "; ".join(ev.violations)
                     + " — not saved", "table": versions.SOURCE, "row": None,
                     "field": "price", "violations": ev.violations,
                     "version": ev.version.out()}
    with svc.write_turn, svc.writes() as s:
        w = own_week(s, name, week, who)
        if body.base_version is None and versions.latest_number(s, w) != \
                ev.version.base_version:
            raise HTTPException(409, "a newer version of this week was saved meanwhile; "
                                "review it and override again")
        # The week's state stays: what was approved or exported still is, until the
        # new version is approved.
        v = versions.save_version(s, w, ev, who.actor, body.comment)
        s.add(Audit(tenant=w.tenant, actor=who.actor, action="override",
                    target=f"{w.name}/{w.week}"[:128],
                    detail={"version": v.version, "changes": v.changes,
                            "comment": body.comment}))
        s.commit()
    return 201, {**out, "saved": True, "version": v.out()}


@router.post(_WEEK + "/overrides", response_model=OverrideOut, status_code=201,
             responses={200: {"model": OverrideOut, "description": "dry run: evaluated, "
                              "not saved"},
                        403: {}, 404: {}, 409: {}, 413: {}, 422: {}})
def post_override(request: Request, name: str, week: str, body: OverrideIn,
                  who: Caller = Depends(caller)) -> Any:
    """Override prices (a point of the offer's ladder) or take offers off sale (price
    null) on top of the latest version (or ``base_version``); re-evaluated. With
    ``dry_run`` nothing is saved; otherwise a plan that breaks no rule is saved as the
    week's next version, and one that breaks a rule is refused naming it."""
    code, out = override(request, name, week, body, who)
    return JSONResponse(out, status_code=code)


def decide(request: Request, name: str, week: str, who: Caller, action: str,
           version: int | None, comment: str | None) -> dict[str, Any]:
    """Approve or reject the week; its review state afterwards."""
    svc = service(request)
    with svc.write_turn, svc.writes() as s:
        w = own_week(s, name, week, who)
        try:
            if action == "approve":
                approval.approve(s, w, version, who.actor, comment)
            else:
                approval.reject(s, w, who.actor, comment or "")
        except approval.ReviewConflict as err:
            raise HTTPException(409, str(err)) from None
        except LookupError as err:
            raise HTTPException(404, str(err)) from None
        s.commit()
        return {"name": w.name, "week": w.week, **approval.review_out(w),
                "export_dir": w.export_dir}


@router.post(_WEEK + "/approve", response_model=ReviewOut,
             responses={403: {}, 404: {}, 409: {}, 413: {}, 422: {}})
def post_approve(request: Request, name: str, week: str, body: ApproveIn,
                 who: Caller = Depends(caller)) -> Any:
    """Approve a version (default the latest) of the week; it is exported at once if
    the week's config exports (the gate of weekly/approval.py)."""
    return decide(request, name, week, who, "approve", body.version, body.comment)


@router.post(_WEEK + "/reject", response_model=ReviewOut,
             responses={403: {}, 404: {}, 409: {}, 413: {}, 422: {}})
def post_reject(request: Request, name: str, week: str, body: RejectIn,
                who: Caller = Depends(caller)) -> Any:
    """Reject the week with a comment: it is not exported (it can be overridden and
    approved, or re-run, later). An exported week cannot be rejected (409)."""
    return decide(request, name, week, who, "reject", None, body.comment)
