"""The review of a week's plan, and the one gate every export of a week passes.

States (``weekly_plans.review``)::

    proposed ──approve──▶ approved ──export──▶ exported
        │  ▲                  │                   │
        │  └──(re-run)────────┤◀──approve again───┘   (a newer version, re-exported)
        └──reject──▶ rejected ┘ (approve later, override, or re-run the week)

A week is ``proposed`` when its plan is stored. With ``approval: required`` in its
weekly config (``approval_required``) nothing is exported before it is approved; with
``approval: none`` (the default, the behaviour before review existed) the optimizer's
version is exported at once. What is exported, and what the next week reads as the
previous plan (for ``price_change`` and "previous price"), is the approved version, or
the optimizer's (version 0) where none was approved and approval is not required. A
rejected week is neither exported nor read as the previous plan; an exported week can
no longer be rejected (its files are out), but a newer version can be approved and
exported over it.

:func:`export_week` is the gate: the scheduler, ``plan run``, a re-export and an
approval all export through it.
"""
from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..models import Audit, Solve, WeeklyPlan, utcnow
from .export import write_export
from .versions import get_version

MAX_COMMENT = 2000
#: States in which the week's approved (or, without approval, optimizer's) version is
#: the one on the shelf.
SETTLED = ("approved", "exported")


class ReviewConflict(Exception):
    """The week's state does not allow the action (answered 409)."""


def default_version(w: WeeklyPlan) -> int:
    """The version ``GET /v1/plans/{name}/{week}`` answers when none is asked: the
    approved one, else the optimizer's (0) — the one an export writes (below) and the
    next week reads as its previous plan, whether or not the gate is open yet."""
    return w.approved_version if w.approved_version is not None else 0


def exportable_version(w: WeeklyPlan) -> int | None:
    """The version of the week that may be exported now, or ``None``: rejected, not
    planned, or approval required and not given."""
    if w.status != "done" or w.review == "rejected":
        return None
    if w.approval_required and w.review not in SETTLED:
        return None
    return default_version(w)


def export_week(s: Session, w: WeeklyPlan, *, actor: str, target: str | None = None,
                source: str = "export", show_path: bool = False) -> str | None:
    """Export the week's exportable version to ``target`` (default: the week's export
    target) and mark the week ``exported``; ``None`` when the gate is closed or the week
    exports nowhere. The caller commits."""
    number = exportable_version(w)
    target = target or w.export_target
    if number is None or target is None:
        return None
    v = get_version(s, w, number)
    if v is None:
        return None
    solve = s.get(Solve, w.solve_id)
    summary = dict(solve.summary or {})
    summary.update(week=w.week, plan=w.name, solve_id=w.solve_id, version=v.version,
                   overridden=v.overridden, review=w.review)
    if v.overridden:
        summary.update(objective=v.objective, gap=v.gap, kpis=v.kpis,
                       binding_constraints=v.binding, violations=[])
    where = write_export(target, v.rows, summary, source=source, show_path=show_path)
    w.export_dir, w.review = where, "exported"
    s.add(Audit(tenant=w.tenant, actor=actor, action="export", target=_target(w),
                detail={"version": v.version}))
    return where


def approve(s: Session, w: WeeklyPlan, version: int | None, actor: str,
            comment: str | None) -> int:
    """Approve version ``version`` (default the latest) and export it if the week
    exports somewhere; the approved version's number. The caller commits."""
    if w.status != "done":
        raise ReviewConflict(f"week {w.week} of {w.name!r} has no plan to approve "
                             f"(it is {w.status})")
    v = get_version(s, w, version)
    if v is None:
        raise LookupError(f"week {w.week} of {w.name!r} has no version {version}")
    _decide(w, "approved", actor, comment)
    w.approved_version = v.version
    s.add(Audit(tenant=w.tenant, actor=actor, action="approve", target=_target(w),
                detail={"version": v.version, "comment": comment}))
    export_week(s, w, actor=actor)
    return v.version


def reject(s: Session, w: WeeklyPlan, actor: str, comment: str) -> None:
    """Reject the week: it is not exported (the caller commits)."""
    if w.status != "done":
        raise ReviewConflict(f"week {w.week} of {w.name!r} has no plan to reject "
                             f"(it is {w.status})")
    if w.review == "exported":
        raise ReviewConflict(f"week {w.week} of {w.name!r} is already exported; approve a "
                             "corrected version instead")
    _decide(w, "rejected", actor, comment)
    w.approved_version = None
    s.add(Audit(tenant=w.tenant, actor=actor, action="reject", target=_target(w),
                detail={"comment": comment}))


def _decide(w: WeeklyPlan, state: str, actor: str, comment: str | None) -> None:
    w.review, w.reviewed_by, w.reviewed_at = state, actor, utcnow()
    w.review_comment = comment


def _target(w: WeeklyPlan) -> str:
    return f"{w.name}/{w.week}"[:128]


def shelf_plan(s: Session, name: str, week: str, *, tenant: str
               ) -> tuple[str | None, pd.DataFrame]:
    """The plan on the shelf before ``week``: the tenant's most recent earlier week of
    ``name`` that is planned, not rejected, and approved where approval is required —
    in its approved (else optimizer's) version. ``(None, empty)`` if there is none."""
    w = s.scalars(select(WeeklyPlan).where(*_on_shelf(name, week, tenant))
                  .order_by(WeeklyPlan.week.desc()).limit(1)).first()
    empty = pd.DataFrame(columns=["bundle_id", "segment_id", "price"])
    v = get_version(s, w, exportable_version(w)) if w is not None else None
    if v is None:
        return None, empty
    rows = pd.DataFrame(v.rows)
    if rows.empty:
        return w.week, empty
    return w.week, pd.DataFrame({"bundle_id": rows["bundle_id"].astype(str),
                                 "segment_id": rows["segment_id"].astype(str),
                                 "price": rows["price"].astype(float)})


def _on_shelf(name: str, week: str, tenant: str) -> tuple[Any, ...]:
    """Weeks of ``name`` before ``week`` whose plan is on the shelf: planned, not
    rejected, and approved where approval is required."""
    return (WeeklyPlan.tenant == tenant, WeeklyPlan.name == name, WeeklyPlan.week < week,
            WeeklyPlan.status == "done", WeeklyPlan.review != "rejected",
            or_(WeeklyPlan.approval_required.is_(False), WeeklyPlan.review.in_(SETTLED)))


def shelf_weeks(s: Session, name: str, week: str, *, tenant: str
                ) -> list[tuple[WeeklyPlan, int]]:
    """Every week of ``name`` before ``week`` on the shelf (as :func:`shelf_plan` picks
    the latest of them), oldest first, each with its published version number."""
    found = s.scalars(select(WeeklyPlan).where(*_on_shelf(name, week, tenant))
                      .order_by(WeeklyPlan.week)).all()
    return [(w, v) for w in found if (v := exportable_version(w)) is not None]


def review_out(w: WeeklyPlan) -> dict[str, Any]:
    """The week's review state as the API shows it."""
    return {"review": w.review, "approval_required": bool(w.approval_required),
            "approved_version": w.approved_version, "reviewed_by": w.reviewed_by,
            "reviewed_at": w.reviewed_at.isoformat() if w.reviewed_at else None,
            "review_comment": w.review_comment}
