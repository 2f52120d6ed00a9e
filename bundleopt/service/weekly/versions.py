"""Versions of a week's plan: the optimizer's (version 0, the solve's own plan) and each
override (versions 1, 2, …, rows of ``plan_versions``), each evaluated from the week's
stored scenario.

An override is a list of changes ``(bundle_id, segment_id, price | None)`` applied to a
base version: a price sets that offer's price for those shoppers (``*``: everyone) —
it must be a point of the offer's ladder (:func:`formulations.offers.ladder`, before any
rule prunes it, so a price a rule forbids can be chosen and is then named as broken);
``None`` takes the row off sale. The new plan is re-evaluated with
:func:`formulations.evaluate.evaluate_plan`: objective, KPIs and binding rules are the
plan's own, while status and bound stay the optimizer's (an override cannot prove
anything), so the gap is ``|bound − objective| / max(|objective|, |bound|)`` against the
optimizer's bound. A plan that breaks a rule (``violations``) is never saved.
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from formulations.errors import InputError
from formulations.money import to_cents
from solver.status import relative_gap

from ..db import jsonable
from ..limits import MAX_MONEY, safe_text
from ..models import Plan, PlanVersion, ScenarioRow, Solve, WeeklyPlan

SOURCE = "overrides"
MAX_CHANGES = 10_000


@dataclass
class Version:
    """One version of a week's plan as the API and the web app show it."""

    version: int
    rows: list[dict[str, Any]]
    objective: float | None
    bound: float | None
    gap: float | None
    status: str
    kpis: dict[str, Any]
    binding: list[str]
    overridden: bool
    created_by: str | None = None
    created_at: Any = None
    comment: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    base_version: int | None = None
    source_solve_id: str | None = None     # a re-plan's solve (PlanVersion's column)

    def out(self, with_rows: bool = True) -> dict[str, Any]:
        """The JSON view (``rows`` only when asked)."""
        body = {"version": self.version, "overridden": self.overridden,
                "status": self.status, "objective": self.objective, "bound": self.bound,
                "gap": self.gap, "kpis": self.kpis, "binding_constraints": self.binding,
                "created_by": self.created_by,
                "created_at": self.created_at.isoformat() if self.created_at else None,
                "comment": self.comment, "changes": self.changes,
                "base_version": self.base_version, "n_rows": len(self.rows)}
        if with_rows:
            body["rows"] = self.rows
        return jsonable(body)


@dataclass
class Evaluated:
    """An override's plan re-evaluated, saved or not: what breaks is in ``violations``."""

    version: Version
    violations: list[str]


def optimizer_version(s: Session, w: WeeklyPlan) -> Version | None:
    """Version 0: the solve's plan and summary (``None`` while the week has no plan)."""
    solve = s.get(Solve, w.solve_id) if w.solve_id else None
    plan = (s.scalars(select(Plan).where(Plan.solve_id == w.solve_id)).first()
            if solve else None)
    if solve is None or plan is None:
        return None
    summary = solve.summary or {}
    return Version(0, plan.rows, solve.objective, solve.bound, solve.gap, solve.status,
                   dict(summary.get("kpis") or {}),
                   list(summary.get("binding_constraints") or []), False,
                   created_by=solve.submitted_by, created_at=solve.finished_at)


def _stored(solve: Solve, v: PlanVersion, s: Session | None = None) -> Version:
    """A stored version; one re-planned from sales is judged by the bound and status of
    the solve that made it (``source_solve_id``)."""
    if v.source_solve_id is not None and s is not None:
        solve = s.get(Solve, v.source_solve_id) or solve
    return Version(v.version, v.rows, v.objective, solve.bound,
                   relative_gap(v.objective, solve.bound), solve.status, dict(v.kpis),
                   list(v.binding), True, created_by=v.created_by, created_at=v.created_at,
                   comment=v.comment, changes=list(v.changes), base_version=v.base_version,
                   source_solve_id=v.source_solve_id)


def list_versions(s: Session, w: WeeklyPlan) -> list[Version]:
    """Every version of the week's current solve, oldest first (rows included)."""
    first = optimizer_version(s, w)
    if first is None:
        return []
    solve = s.get(Solve, w.solve_id)
    stored = s.scalars(select(PlanVersion).where(PlanVersion.weekly_id == w.id,
                                                 PlanVersion.solve_id == w.solve_id)
                       .order_by(PlanVersion.version)).all()
    return [first, *(_stored(solve, v, s) for v in stored)]


def get_version(s: Session, w: WeeklyPlan, number: int | None) -> Version | None:
    """Version ``number`` of the week (``None``: the latest), or ``None`` if none."""
    if number == 0:
        return optimizer_version(s, w)
    solve = s.get(Solve, w.solve_id) if w.solve_id else None
    if solve is None:
        return None
    q = select(PlanVersion).where(PlanVersion.weekly_id == w.id,
                                  PlanVersion.solve_id == w.solve_id)
    q = (q.where(PlanVersion.version == number) if number is not None
         else q.order_by(PlanVersion.version.desc()).limit(1))
    v = s.scalars(q).first()
    if v is not None:
        return _stored(solve, v, s)
    return optimizer_version(s, w) if number is None else None


def latest_number(s: Session, w: WeeklyPlan) -> int:
    """The newest version number of the week (0: only the optimizer's)."""
    return int(s.scalar(select(func.max(PlanVersion.version)).where(
        PlanVersion.weekly_id == w.id, PlanVersion.solve_id == w.solve_id)) or 0)


@dataclass
class WeekScenario:
    """A stored scenario parsed, with every offer's ladder points (ascending): what a
    review of its weeks reads again and again."""

    scenario: Any
    points: dict[str, list[float]]


_SCENARIOS: OrderedDict[str, WeekScenario] = OrderedDict()
_SCENARIOS_LOCK = threading.Lock()
SCENARIO_CACHE = 8


def ladder_points(scenario: Any) -> dict[str, list[float]]:
    """Each offer's ladder (:func:`formulations.offers.ladder`, before any rule prunes
    it), ascending: sorted by offer then price once, cut where the offer changes."""
    from formulations.offers import ladder

    lad = ladder(scenario)
    code, offers = pd.factorize(lad["bundle_id"])
    price = lad["price"].to_numpy(float)
    order = np.lexsort((price, code))
    c = code[order]
    cuts = np.flatnonzero(c[1:] != c[:-1]) + 1
    firsts = c[np.r_[0, cuts]] if len(c) else c
    return {str(offers[k]): run.tolist()
            for k, run in zip(firsts, np.split(price[order], cuts))}


def week_scenario(s: Session, w: WeeklyPlan, solve_id: str | None = None) -> WeekScenario:
    """The scenario the week was solved on (with its previous plan) — or, given
    ``solve_id``, the one a re-plan of it was (a version's ``source_solve_id``) — from
    the database, and its ladders.

    Stored scenarios never change (they are keyed by the hash of their content), so the
    last few parsed are kept: a review re-evaluates the same week again and again."""
    from formulations.loading import scenario_from_tables

    solve = s.get(Solve, solve_id or w.solve_id)
    key = solve.scenario_hash
    with _SCENARIOS_LOCK:
        found = _SCENARIOS.get(key)
        if found is not None:
            _SCENARIOS.move_to_end(key)
            return found
    scenario = scenario_from_tables(s.get(ScenarioRow, key).payload)
    found = WeekScenario(scenario, ladder_points(scenario))
    with _SCENARIOS_LOCK:
        _SCENARIOS[key] = found
        while len(_SCENARIOS) > SCENARIO_CACHE:
            _SCENARIOS.popitem(last=False)
    return found


def parse_changes(rows: Any) -> list[tuple[str, str, float | None, str | None]]:
    """The override rows as ``(bundle_id, segment_id, price, period)`` (``period``: a
    season week's period label, else ``None``); InputError naming the row and field of
    the first bad one (NaN, infinite, negative, zero or absurd prices)."""
    if not isinstance(rows, list) or not rows:
        raise InputError(SOURCE, "expected a non-empty list of rows "
                         "{bundle_id, segment_id, price}", field="rows")
    if len(rows) > MAX_CHANGES:
        raise InputError(SOURCE, f"at most {MAX_CHANGES} rows at once", field="rows")
    out: list[tuple[str, str, float | None, str | None]] = []
    for i, r in enumerate(rows, start=1):
        if not isinstance(r, dict):
            raise InputError(SOURCE, "expected an object", row=i)
        bundle, seg = r.get("bundle_id"), r.get("segment_id", "*")
        if not isinstance(bundle, str) or not bundle:
            raise InputError(SOURCE, "expected an offer id", row=i, field="bundle_id")
        if not isinstance(seg, str) or not seg:
            raise InputError(SOURCE, "expected a segment id or *", row=i, field="segment_id")
        period = r.get("period")
        if period is not None and (not isinstance(period, str) or not period):
            raise InputError(SOURCE, "expected a period label", row=i, field="period")
        price = r.get("price")
        if price is not None:
            price = price_value(price, i)
        out.append((bundle, seg, price, period))
    keys = [(t, b, g) for b, g, _, t in out]
    if len(set(keys)) != len(keys):
        raise InputError(SOURCE, "the same offer and segment appear twice"
                         + (" for one period" if any(t for t, _, _ in keys) else ""),
                         field="rows")
    return out


def price_value(price: Any, row: int) -> float:
    """A price a person typed or sent, as a float; InputError saying what is wrong."""
    if isinstance(price, str):
        try:
            price = float(price.strip())
        except ValueError:
            raise InputError(SOURCE, f"{safe_text(price)[:40]!r} is not a number", row=row,
                             field="price") from None
    if isinstance(price, bool) or not isinstance(price, (int, float)):
        raise InputError(SOURCE, "expected a number or null (off sale)", row=row,
                         field="price")
    price = float(price)
    if math.isnan(price):
        raise InputError(SOURCE, "NaN is not a price", row=row, field="price")
    if math.isinf(price) or price > MAX_MONEY:
        raise InputError(SOURCE, f"{price:g} is not a price (at most {MAX_MONEY:g})", row=row,
                         field="price")
    if price <= 0:
        raise InputError(SOURCE, f"{price:g} is not a price: prices are positive", row=row,
                         field="price")
    return price


def apply_changes(week: WeekScenario, base: list[dict[str, Any]],
                  changes: list[tuple[str, str, float | None, str | None]]) -> pd.DataFrame:
    """The base plan (``bundle_id, segment_id, price``; a season's with ``period``
    first) with the changes made; every new price checked against its offer's ladder.
    A season's change names its period (one of the plan's horizon)."""
    scenario, points = week.scenario, week.points
    season = scenario.is_season
    cols = (["period"] if season else []) + ["bundle_id", "segment_id", "price"]
    plan = pd.DataFrame(base, columns=None)[cols] if base else pd.DataFrame(columns=cols)
    plan = plan.astype({c: (float if c == "price" else str) for c in cols})
    personal = scenario.pricing != "uniform"
    segments = set(map(str, scenario.segments.index))
    labels = set(scenario.horizon.labels) if season else set()
    key = pd.Series(list(zip(plan["period"] if season else [None] * len(plan),
                             plan["bundle_id"], plan["segment_id"])), index=plan.index,
                    dtype=object)
    current = set(key)
    drop: set[tuple[Any, str, str]] = set()
    set_price: dict[tuple[Any, str, str], float] = {}
    new_rows: list[tuple[Any, ...]] = []
    for i, (bundle, seg, price, period) in enumerate(changes, start=1):
        if season and period not in labels:
            raise InputError(SOURCE, "this week's plan has periods: name one of "
                             f"{', '.join(scenario.horizon.labels)}" if period is None else
                             f"period {safe_text(period)[:20]!r} is not in this week's "
                             "plan", row=i, field="period")
        if not season and period is not None:
            raise InputError(SOURCE, "this week's plan has no periods", row=i, field="period")
        k = (period, bundle, seg)
        on_sale = k in current
        if bundle not in points:
            raise InputError(SOURCE, f"no offer {safe_text(bundle)[:64]!r} in this week's "
                             "scenario", row=i, field="bundle_id")
        if price is None:
            if not on_sale:
                raise InputError(SOURCE, f"{safe_text(bundle)[:64]} is not on sale to "
                                 f"{safe_text(seg)[:64]}", row=i, field="price")
            drop.add(k)
            continue
        ok = points[bundle]
        cents = to_cents(np.array([price]))[0]
        if abs(cents - price) > 1e-6 or cents not in set(to_cents(np.array(ok, dtype=float))):
            shown = ", ".join(f"{p:.2f}" for p in ok[:20])
            raise InputError(SOURCE, f"{price:g} is not a point of {safe_text(bundle)[:64]}'s "
                             f"price ladder ({shown})", row=i, field="price")
        if on_sale:
            set_price[k] = float(cents)
        else:
            if (seg == "*") == personal or (personal and seg not in segments):
                raise InputError(SOURCE, f"segment {safe_text(seg)[:64]!r}: this plan prices "
                                 + ("per segment" if personal else "for everyone (*)"),
                                 row=i, field="segment_id")
            new_rows.append(((period,) if season else ()) + (bundle, seg, float(cents)))
    price = plan["price"].to_numpy(float).copy()
    hit = key.map(lambda k: set_price.get(k, np.nan)).to_numpy(float)
    price = np.where(np.isnan(hit), price, hit)
    out = plan.assign(price=price)[~key.isin(drop)]
    if new_rows:
        out = pd.concat([out, pd.DataFrame(new_rows, columns=out.columns)], ignore_index=True)
    return out.reset_index(drop=True)


def evaluate_override(s: Session, w: WeeklyPlan, rows: Any,
                      base: int | None = None, start: Version | None = None) -> Evaluated:
    """The week's plan with the override ``rows`` applied to version ``base`` (default the
    latest; or ``start``, that version already read), re-evaluated; nothing is saved."""
    from formulations.evaluate import evaluate_plan
    from solver.run_folder import money_rounded_plan, readable_plan

    changes = parse_changes(rows)   # a season's plan re-evaluates with evaluate_season
    start = start if start is not None else get_version(s, w, base)
    if start is None:
        raise InputError(SOURCE, f"the week has no version {base}" if base is not None
                         else "the week has no plan to override", field="base_version")
    week = week_scenario(s, w, start.source_solve_id)
    scenario = week.scenario
    plan = apply_changes(week, start.rows, changes)
    ev = evaluate_plan(scenario, plan)
    planned = len(plan) > 0
    kpis = {"revenue": ev.revenue, "profit": ev.profit, "margin": ev.margin,
            "units": ev.units, "offers_on_sale": int(plan["bundle_id"].nunique())}
    shown = money_rounded_plan(readable_plan(scenario, ev.plan)) if planned else ev.plan
    out_rows = jsonable(shown.to_dict(orient="records"))
    objective = ev.objective
    v = Version(latest_number(s, w) + 1, out_rows, objective, start.bound,
                relative_gap(objective, start.bound), start.status, jsonable(kpis),
                sorted(set(ev.binding)), True,
                changes=[{"bundle_id": b, "segment_id": g, "price": p,
                          **({"period": t} if t is not None else {})}
                         for b, g, p, t in changes], base_version=start.version,
                source_solve_id=start.source_solve_id)
    return Evaluated(v, list(ev.violations))


def save_version(s: Session, w: WeeklyPlan, ev: Evaluated, actor: str,
                 comment: str | None) -> Version:
    """Store an evaluated override as the week's next version (caller commits)."""
    v = ev.version
    if ev.violations:
        raise InputError(SOURCE, "the plan breaks " + "; ".join(ev.violations)
                         + " — not saved", field="price")
    v.version = latest_number(s, w) + 1
    v.created_by, v.comment = actor, comment
    row = PlanVersion(weekly_id=w.id, solve_id=w.solve_id, version=v.version,
                      base_version=v.base_version or 0, rows=v.rows, n_rows=len(v.rows),
                      changes=v.changes, objective=v.objective, kpis=v.kpis,
                      binding=v.binding, comment=comment, created_by=actor,
                      source_solve_id=v.source_solve_id)
    s.add(row)
    s.flush()
    v.created_at = row.created_at
    return v
