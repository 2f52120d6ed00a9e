"""A first plan for a season: the same offers at the same prices in every period, or each
period planned on its own in order, whichever earns more.

The heuristic (:mod:`solver.heuristic`) searches one period's decisions. A season plan
that keeps them all season changes no price after its first period, so the markdown
rules hold whenever its prices keep them against the previous plan (the one-period
pruning of ``no_increase``, ``max_changes`` and ``price_change`` checks just that). It is
found on the *pooled* season: the first period's slice with each segment's shoppers
summed over the periods and each product's stock plus all its receipts — the season's
last cumulative stock limit. The plan is then re-evaluated on the season itself
(:func:`formulations.evaluate.evaluate_plan`); where it breaks a rule (stock running
out before a late receipt, a competitor's price in one period), there is no first plan.
Otherwise, under first choice, it is handed to the backend as its MIP start (its
``on_sale`` columns; the solver completes the rest); under MNL it only stands by; either
way it is kept if the solver ends with a worse plan, as for one period
(:mod:`solver.first_plan`). Under MNL with competitor prices the search scores the
pooled plans without them (as its one-period use does not arise there); the plan is
re-evaluated with them, so this costs only the plan's quality.

A second candidate is **each period on its own** (:func:`weekly_plan`): the heuristic on
period 1's slice, then on period 2's with the stock period 1's plan leaves, and so on,
each with the markdown history so far — ``previous_plan`` = each offer's last price on
sale (so ``no_increase`` and ``price_change`` prune against it), and an offer that has
used its ``max_changes``, or changed less than ``min_gap`` periods ago, offered only at
its last price. It follows demand and stock through the season, which the constant plan
cannot (benchmarks/results_season.md: at 30 s the season solve ended far below planning
each week on its own). A period planned alone would sell stock that earns more left
over or sold later, so each unit of a limited product is charged, as extra unit cost,
its salvage value and — in extra candidates — a share of its **bid price**: what the
season relaxation's stock prices say a unit is worth kept from that period on
(:func:`solver.season_bound.bid_prices`; bid-price control as in network revenue
management, Talluri & van Ryzin 2004, ch. 3). The best candidate that breaks no rule on
the season is the first plan.

A third candidate is the same, each period solved exactly (:func:`solver.api.solve`, one
thread) and uncharged (charged, its plans were 0.5–0.7 % worse on family a, where the
heuristic's gained: ``EXACT_WEEKS_CHARGED``) — found **beside** the season's MIP rather than before it (:class:`ExactWeeks`):
the solver gets the whole limit, the periods share it as it runs, and the solve keeps
whichever plan earns more. Solved before the MIP with 30 % of the limit, it cost the MIP
the time its root needed (family a, 40/150/10 × 8: proven gap 5.34 % → 19.38 %). Under
MNL with a time limit, and under first choice with a limit short for the model's size,
it runs *instead of* the MIP, on the whole machine (:meth:`ExactWeeks.instead_of_mip`).
"""
from __future__ import annotations

import dataclasses
import functools
import threading
import time
from typing import Callable

import numpy as np
import pandas as pd

from formulations.build import BuiltModel
from formulations.evaluate import evaluate_plan
from formulations.offers import build_offer_space
from formulations.rules import get_rule
from formulations.rules.base import PRICE_TOL
from formulations.scenario import Horizon
from formulations.season import salvage_per_unit

from .backends.highs_process import IN_PROCESS_MAX_NNZ
from .deadline import Deadline
from .heuristic import HeuristicResult, heuristic_budget, heuristic_plan


def pooled(scenario):
    """The season as one period: shoppers summed over the periods, stock plus receipts."""
    labels = scenario.horizon.labels
    first = scenario.period_slice(labels[0])
    sizes = scenario.period_sizes().sum(axis=0)
    inv = scenario.products["inventory"]
    arrived = scenario.period_receipts().sum(axis=0).reindex(inv.index).fillna(0.0)
    return dataclasses.replace(
        first, segments=first.segments.assign(size=sizes.reindex(first.segments.index).to_numpy(float)),
        products=scenario.products.assign(inventory=inv + arrived), period=None)


def season_first_plan(built: BuiltModel, seconds_left: float | None,
                      cancel: threading.Event | None = None, bid_prices: np.ndarray | None = None
                      ) -> tuple[HeuristicResult | None, np.ndarray | None]:
    """The best of the constant plan and the week-by-week heuristic plans (module
    docstring: each period charged its stock's salvage value, plus each share of
    :data:`BID_PRICE_SHARES` of ``bid_prices``, periods × products) and the MIP start
    made from it, or ``None, None``."""
    season = built.season
    if built.space.no_price or not len(built.space.points):
        return None, None
    started, until = time.perf_counter(), Deadline(seconds_left)
    space = build_offer_space(pooled(season))
    if not len(space.points):
        return None, None
    one_space = time.perf_counter() - started
    budget = heuristic_budget(seconds_left, len(space.arcs))
    found = heuristic_plan(space, budget, cancel=cancel)
    labels = season.horizon.labels
    best, evaluation = None, 0.0
    if found is not None:
        plan = pd.concat([found.plan.assign(period=t) for t in labels], ignore_index=True)
        best, evaluation = _better(season, plan[["period", "bundle_id", "segment_id", "price"]], None)
    shares = BID_PRICE_SHARES if bid_prices is not None and bid_prices.any() else (0.0,)
    per_period = budget / len(labels) / len(shares)
    # a pass builds every period's offers whatever its search budget (200/1000/50 x 8:
    # 1.1 s, and 0.4 s to price its plan on the season), so it is first guessed from the
    # pooled season's offers, then timed; what is left after the last pass must still
    # price the solver's plan and the status quo (solver.first_plan.solver_deadline)
    longest = len(labels) * (one_space + per_period) + evaluation
    for share in shares:
        if len(labels) < 2 or (cancel is not None and cancel.is_set()):
            break
        if until.limited and until.remaining() < longest + 2.0 * evaluation:
            break
        began = time.perf_counter()
        weekly = weekly_plan(season, per_period, cancel,
                             bid_prices=share * bid_prices if share else None)
        if weekly is not None:
            best, seconds = _better(season, weekly, best)
            evaluation = max(evaluation, seconds)
        longest = max(longest, time.perf_counter() - began)
    return _as_start(built, best, started, 0 if found is None else found.moves, evaluation)


def _as_start(built: BuiltModel, best: tuple | None, started: float, moves: int,
              eval_seconds: float) -> tuple[HeuristicResult | None, np.ndarray | None]:
    """A season plan ``(plan, evaluation)`` as a first plan and the MIP start made from it."""
    if best is None:
        return None, None
    plan, ev = best
    keys = built.model.vars["on_sale"].keys
    chosen = pd.MultiIndex.from_frame(plan.astype({"price": float}))
    have = pd.MultiIndex.from_frame(keys[["period", "bundle", "segment", "price"]].astype({"price": float}))
    on = have.isin(chosen)
    points = np.flatnonzero(on)
    if len(points) != len(plan):          # a price the season model does not have
        return None, None
    x = np.full(built.model.num_cols, np.nan)
    x[built.model.vars["on_sale"].cols()] = on.astype(float)
    result = HeuristicResult(plan, ev.objective, points, time.perf_counter() - started,
                             moves, ev, eval_seconds)
    return result, x


class ExactWeeks:
    """Each period of a season solved exactly, in order (:func:`weekly_plan` with
    ``solve``), in a thread beside the season's MIP, within ``until``; the periods left
    share the time left; ``report`` hears the plan's value. :meth:`result` waits for it:
    the plan as a first plan (the start vector is not used: the solver has started), or
    ``None``."""

    def __init__(self, built: BuiltModel, until: Deadline, solve: Callable,
                 report: Callable[[float], None] | None = None, threads: int | None = None) -> None:
        self.built, self.until, self.report = built, until, report
        # beside the MIP, one thread; instead of it, what the solve was given
        self.solve = functools.partial(solve, threads=threads or EXACT_WEEK_THREADS)
        self.stop = threading.Event()       # the caller's cancel reaches it through result()
        self._found: HeuristicResult | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="exact-weeks")

    @staticmethod
    def applies(built: BuiltModel, nonzeros: int, backend: str) -> bool:
        """Seasons of two periods or more whose MIP does not run on this process's HiGHS,
        which runs one solve at a time (the periods' solves would collide with it); a
        smaller season model's MIP takes seconds anyway."""
        return (built.is_season and len(built.season.horizon.labels) > 1
                and (backend != "highs" or nonzeros > IN_PROCESS_MAX_NNZ))

    @staticmethod
    def instead_of_mip(built: BuiltModel, until: Deadline, nonzeros: int) -> bool:
        """Whether the periods run *instead of* the season's MIP (of about ``nonzeros``
        non-zeros: its terms), which needs a time limit: the MIP alone can prove a plan
        optimal.

        MNL: always. The MNL season MIP's bound stays near its LP relaxation's (99 % at
        40/150/10 x 4; the season relaxation gives the bound) and in six benchmark
        seasons (40/150/10 x 4, families a and b, seeds 0-2) it never found the plan
        kept, while it took a core from the periods: on b seed 2 they then ended 0.73 %
        below each week on its own, alone they equal it (benchmarks/results_season.md).

        First choice: when the limit is short for the MIP's size
        (:data:`MIP_SECONDS_PER_NONZERO`). Family b, seed 0, one run each, the MIP
        beside the periods / the periods alone: 200/1000/50 x 8 (29 M non-zeros), 60 s:
        gap 1.10 % either way (44,849,145 / 44,848,078), and 10 s: 16.6-28.2 % (the
        matrix alone took 1-2.5 s) / 3.2-3.4 %; 100/400/20 x 8 (4.9 M), 10 s: 0.99 /
        1.00 %; 40/150/10 x 8 (1.1 M), 60 s: families a and b, the same bound (the season
        relaxation's) either way, while at 120 s the MIP's bound is the better one on
        family a (3.62 % against the relaxation's 4.05 % at 60 s)."""
        if not until.limited:
            return False
        if built.season.choice_model == "mnl":
            return True
        return until.seconds < MIP_SECONDS_PER_NONZERO * nonzeros

    def start(self) -> "ExactWeeks":
        self._thread.start()
        return self

    def _run(self) -> None:
        started = time.perf_counter()
        plan = weekly_plan(self.built.season, EXACT_WEEK_UNLIMITED_SECONDS, self.stop,
                           solve=self.solve, until=self.until, charged=EXACT_WEEKS_CHARGED)
        if plan is not None and not self.stop.is_set():
            best, seconds = _better(self.built.season, plan, None)
            self._found = _as_start(self.built, best, started, 0, seconds)[0]
            if self._found is not None and self.report is not None:
                self.report(self._found.objective)

    def running(self) -> bool:
        return self._thread.is_alive()

    def result(self, stop: bool = False) -> HeuristicResult | None:
        """The plan, once the periods are solved; ``stop`` first ends the search."""
        if stop:
            self.stop.set()
        self._thread.join()
        return self._found


# A first-choice season's MIP is run only with a limit of at least this long per term of
# its model (ExactWeeks.instead_of_mip): 67-73 s at 40/150/10 x 8 (1.3-1.5 M terms), so
# the 120 s keeps it; 320 s at 100/400/20 x 8; 1,470 s at 200/1000/50 x 8
MIP_SECONDS_PER_NONZERO = 5e-5
# Each period on its own is planned with its stock charged the salvage value plus these
# shares of the bid prices (the season relaxation's stock prices, solver.season_bound),
# and the best plan on the season is kept. Measured with the heuristic, 40/150/10, one run
# each, season value against the salvage value alone (0) and against no charge at all:
# b MNL x 4 seed 1: none 1,129,082, 0: 1,160,137, 0.5: 1,175,947, 1: 1,139,158;
# a MNL x 4 seed 0: none 1,525,822, 0: 1,542,364, 0.5: 1,540,280;
# b first choice x 8 seed 1: none 2,386,818, 0: 2,416,577, 0.5: 2,406,779, 0.75: 2,428,110.
BID_PRICE_SHARES = (0.0, 0.5, 0.75)
# Solved exactly (one thread, 14 s a period, 40/150/10 x 8 first choice, family a seed 0),
# the periods uncharged earned 3,293,254 on the season; charged the salvage value
# 3,269,225, and 0.75 of the bid prices on top 3,277,415. The heuristic's periods gained
# from the charge on the same season (3,259,955 uncharged, 3,277,486 charged), so only
# they are charged.
EXACT_WEEKS_CHARGED = False
# Without a time limit, each period's exact solve gets this long.
EXACT_WEEK_UNLIMITED_SECONDS = 10.0
# Beside a season's MIP the periods' solves run on one thread each: the MIP has the other
# core. Measured against the periods raced on both cores beside it, and against the MIP
# yielding the CPU to them (niceness 10), on 40/150/10 x 8, 120 s, families a and b, seeds
# 0-1: the proven gaps were best on 3 of 4 runs; the plans within 0.3 % either way
# (benchmarks/results_season.md); with the MIP yielding, family a seed 1 had no bound.
EXACT_WEEK_THREADS = 1
EXACT_WEEK_MIN_SECONDS = 0.5       # a period with less than this left: no such candidate


def _better(season, plan: pd.DataFrame, best: tuple | None) -> tuple[tuple | None, float]:
    """The better of ``best`` and ``plan`` if it breaks no rule of the season, as
    ``(plan, evaluation)``, and the seconds pricing ``plan`` took."""
    t0 = time.perf_counter()
    ev = evaluate_plan(season, plan)
    if not ev.violations and (best is None or ev.objective > best[1].objective + 1e-9):
        best = (plan, ev)
    return best, time.perf_counter() - t0


def weekly_plan(season, seconds_per_period: float, cancel: threading.Event | None = None,
                solve: Callable | None = None, until: Deadline | None = None,
                bid_prices: np.ndarray | None = None, charged: bool = True) -> pd.DataFrame | None:
    """Each period on its own, in order (module docstring): ``period, bundle_id,
    segment_id, price``, or ``None`` if a period's search found nothing. With ``solve``
    (:func:`solver.api.solve`, passed in by it), each period is solved exactly instead
    of by the heuristic alone; with a limited ``until``, the periods left share the time
    left instead of ``seconds_per_period`` each. ``charged``: each period's stock is
    charged its salvage value and ``bid_prices`` (:func:`_charged`)."""
    labels = season.horizon.labels
    inv = season.products["inventory"].to_numpy(float).copy()
    arrive = season.period_receipts().reindex(columns=season.products.index).fillna(0.0).to_numpy(float)
    last = season.previous_plan[["bundle_id", "segment_id", "price"]].reset_index(drop=True)
    k = season.constraints.get("max_changes")
    gap = season.constraints.get("min_gap") or 0
    moved = pd.DataFrame({"bundle_id": pd.Series(dtype=object), "segment_id": pd.Series(dtype=object),
                          "t": pd.Series(dtype=int)})            # the changes so far
    plans = []
    for i, t in enumerate(labels):
        if cancel is not None and cancel.is_set():
            return None
        inv = inv + arrive[i]
        # offers that may not change now: out of changes, or changed too recently
        per = moved.groupby(["bundle_id", "segment_id"])["t"].agg(["size", "max"])
        stuck = np.zeros(len(per), bool)
        if k is not None:
            stuck |= per["size"].to_numpy() >= int(k)
        if gap:
            stuck |= i - per["max"].to_numpy() < int(gap)
        frozen = last.merge(per.index[stuck].to_frame(index=False), on=["bundle_id", "segment_id"])
        prices = pd.concat([season.prices[~season.prices["bundle_id"].isin(frozen["bundle_id"])],
                            frozen[["bundle_id", "price"]]], ignore_index=True)
        week = dataclasses.replace(season.period_slice(t), products=season.products.assign(inventory=inv),
                                   previous_plan=last, prices=prices, period=None)
        if solve is not None and i == len(labels) - 1 and season.horizon.salvage:
            # the last period solved as a season of one, so that it weighs what it sells
            # against the salvage value of what it leaves
            week = dataclasses.replace(week, horizon=Horizon((t,), season.horizon.salvage))
        searched = _charged(week, season, bid_prices, i) if charged else week
        if solve is not None:
            seconds = (seconds_per_period if until is None or not until.limited
                       else until.remaining() / (len(labels) - i))
            if seconds < EXACT_WEEK_MIN_SECONDS:
                return None
            now = _solved_week(solve, searched, seconds, cancel)
            if now is None:
                return None
            ev = evaluate_plan(week, now if week.horizon is None else now.assign(period=t))
        else:
            space = build_offer_space(searched)
            found = heuristic_plan(space, seconds_per_period, cancel=cancel) if len(space.points) else None
            if found is None:
                return None
            now = found.plan[["bundle_id", "segment_id", "price"]]
            # only its units are read: the same on the charged week the search scored
            ev = found.evaluation if found.evaluation is not None else evaluate_plan(week, now)
        inv = inv - ev.products["units"].to_numpy(float)
        both = now.merge(last, on=["bundle_id", "segment_id"], how="left", suffixes=("", "_last"))
        change = both["price_last"].notna() & ((both["price"] - both["price_last"]).abs() > PRICE_TOL)
        moved = pd.concat([moved, both.loc[change, ["bundle_id", "segment_id"]].assign(t=i)], ignore_index=True)
        last = pd.concat([last, now], ignore_index=True).drop_duplicates(["bundle_id", "segment_id"], keep="last")
        plans.append(now.assign(period=t))
    plan = pd.concat(plans, ignore_index=True)
    return plan[["period", "bundle_id", "segment_id", "price"]]


def _charged(week, season, bid_prices: np.ndarray | None, i: int):
    """Period ``i``'s scenario with each unit of a limited product charged what keeping it
    is worth: its salvage value ``σ c`` (unless the period carries the salvage itself, as
    the last one solved exactly does) plus its bid price ``bid_prices[i]``, if any, as
    extra unit cost. A myopic period sells stock that earns more left over, or sold later.

    The charge is a cost of the search only: the plan is scored on the season, and
    ``min_margin`` keeps to the real costs (as each offer's price floor)."""
    limited = np.isfinite(season.products["inventory"].to_numpy(float))
    charge = salvage_per_unit(season) if week.horizon is None else np.zeros(len(limited))
    if bid_prices is not None:
        charge = charge + np.where(limited, bid_prices[i], 0.0)
    if not charge.any():
        return week
    margin = week.constraints.get("min_margin")
    if margin is not None and margin < 1:
        # min_margin stays on the real costs: as each offer's price floor
        floor = get_rule("min_margin").price_floor(week)
        bundles = week.bundles.assign(min_price=np.fmax(week.bundles["min_price"], floor))
        week = dataclasses.replace(week.without_rule("min_margin"), bundles=bundles)
    base = week.products["unit_cost"].to_numpy(float) if week.objective == "profit" else 0.0
    return dataclasses.replace(week, products=week.products.assign(unit_cost=base + charge),
                               objective="profit")


def _solved_week(solve: Callable, week, seconds: float,
                 cancel: threading.Event | None) -> pd.DataFrame | None:
    """One period's plan by the whole engine."""
    res = solve(week, time_limit=seconds, cancel=cancel, explain=False)
    if not res.has_plan:
        return None
    return res.plan[["bundle_id", "segment_id", "price"]].astype({"price": float})
