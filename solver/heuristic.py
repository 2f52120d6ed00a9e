"""A first plan in seconds: greedy construction and local search over the offer space.

The exact MIP can take minutes to find a good plan on retail-size scenarios; this module
finds one directly on the pruned offer space of :func:`formulations.offers.build_offer_space`
(which already applies ``min_margin``, price bounds, ``price_change`` and ``exclude``).

A *state* chooses, for every audience–offer group (an offer in ``uniform`` mode, a
(segment, offer) pair in ``personalized`` mode), one of its price points or "off". A
*move* sets one group to another option: put an offer on sale at a ladder point, move
its price, take it off sale. When no single move improves, *swaps* (one group off,
another on) are tried. Every move of every group is scored at once by a vectorised
re-evaluation of the demand model over segments × offers:

* first choice — each segment buys its preferred arc on sale, and arcs are already
  numbered in each segment's strict preference order (surplus, seller's value, file
  order: docs/semantics.md), so "preferred" is "smallest arc number". Keeping each
  segment's best and second-best arc tells what the segment buys without any one
  offer, hence the value of every move in one pass over the arcs;
* MNL — each segment's expected value is ``N_s W_s / (1 + A_s)`` with ``A_s`` the sum
  of attractions seen and ``W_s`` their value-weighted sum, so a move changes two sums.

Before the descents' *kicks* (iterated local search), *restarts* build further plans
greedily from the start, each step taking one of the few best feasible additions at
random (GRASP), and descend from each: one greedy start leads every descent into the
same basin.

Moves are taken best-first, and each one is re-checked against *every* rule
(``max_offers``, ``max_offers_per_segment``, ``must_offer``, ``inventory``,
``no_arbitrage``, fairness spread and coverage) on the full new state before it is
accepted: only feasible states are ever visited. The final plan is re-evaluated by
:func:`formulations.evaluate.evaluate_plan`; if that finds a violation, no plan is
returned. The result is a *feasible* plan and nothing more — never proven optimal.
"""
from __future__ import annotations

import threading
import time
from typing import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from formulations.evaluate import capped_attraction, evaluate_plan
from formulations.offers import OfferSpace, audience_labels
from formulations.rules.inventory import units_per_sale
from formulations.rules.no_arbitrage import component_offers

INV_TOL = 1e-7           # stricter than the checker's 1e-6, so accepted plans pass it
MAX_CHECKS = 200         # candidate moves fully re-checked per step, best-first
SWAP_ADDS = 25           # best "on" moves tried with every "off" move in a swap
KICKS = 30               # iterated local search ends after max(KICKS, price points / 2)
                         # fruitless kicks in a row, or at its time limit
RESTART_SHARE = 0.5      # randomized restarts take up to this share of the time,
RESTARTS = 20            # and end after this many fruitless restarts in a row;
RESTART_CHOICES = 4      # each greedy step takes one of this many best moves at random


@dataclass
class HeuristicResult:
    plan: pd.DataFrame           # bundle_id, segment_id, price
    objective: float             # what evaluate_plan says the plan earns
    points: np.ndarray           # indices of the price points on sale (OfferSpace.points)
    seconds: float
    moves: int
    evaluation: object = None    # the formulations.evaluate.Evaluation of the plan
    eval_seconds: float = 0.0    # what that evaluation took (a solve reserves it)


class _Search:
    """Arrays of one offer space, and the value and feasibility of a state."""

    def __init__(self, space: OfferSpace) -> None:
        sc = space.scenario
        c = sc.constraints
        self.space = space
        self.fc = sc.choice_model == "first_choice"
        self.personalized = space.personalized
        pts, arcs = space.points, space.arcs
        self.S, self.B = len(space.segment_ids), len(space.bundle_ids)
        self.J = len(pts)
        self.pb = pts["b"].to_numpy()
        self.pseg = pts["seg"].to_numpy()
        self.price = pts["price"].to_numpy(float)
        grp = pts.groupby(["seg", "b"], sort=False).ngroup().to_numpy()
        self.group = grp
        self.G = int(grp.max()) + 1 if self.J else 0
        first = np.zeros(self.G, np.int64)
        first[grp[::-1]] = np.arange(self.J)[::-1]
        self.gb, self.gseg = self.pb[first], self.pseg[first]
        self.N = space.size.astype(float)

        self.as_ = arcs["s"].to_numpy()
        self.aj = arcs["j"].to_numpy()
        self.ab = arcs["b"].to_numpy()
        self.ag = grp[self.aj] if len(arcs) else np.zeros(0, np.int64)
        value = arcs["value"].to_numpy(float)
        self.asurplus = arcs["surplus"].to_numpy(float)
        if self.fc:
            # arcs are sorted by segment, then preference: arc number = preference
            self.SENT = len(arcs)
            self.aval = np.append(self.N[self.as_] * value, 0.0)
        else:
            self.att = capped_attraction(arcs["beta"].to_numpy(float), arcs["wtp"].to_numpy(float),
                                         arcs["price"].to_numpy(float))
            self.attv = self.att * value
        # arcs of each point, as ranges of a point-sorted order
        order = np.argsort(self.aj, kind="stable")
        self.arc_by_point = order
        self.arc_ptr = np.concatenate([[0], np.cumsum(np.bincount(self.aj, minlength=self.J))])

        # rules
        self.max_offers = c.max_offers
        self.per_seg = c.max_offers_per_segment
        code = {b: i for i, b in enumerate(space.bundle_ids)}
        self.pinned = np.array([code[b] for b in c.must_offer if b in code], np.int64)
        self.inv = None
        limited = units_per_sale(space)
        if limited is not None:
            self.Q, self.inv = limited
        self.arbitrage = component_offers(space.components, "b") if c.no_arbitrage else {}
        if self.arbitrage:
            comp = space.components
            self.arb_qty = {b: comp[comp["b"] == b]["quantity"].to_numpy(float) for b in self.arbitrage}
        self.spread = c.max_price_spread if self.personalized else None
        scode = {s: i for i, s in enumerate(space.segment_ids)}
        self.coverage = np.array([scode[s] for s in c.coverage if s in scode], np.int64)

    # ------------------------------------------------------------ one state
    def arcs_on(self, sel: np.ndarray) -> np.ndarray:
        """Arc numbers of the points on sale in ``sel`` (point per group, -1 off)."""
        on = sel[sel >= 0]
        if not len(on):
            return np.zeros(0, np.int64)
        lo, hi = self.arc_ptr[on], self.arc_ptr[on + 1]
        n = hi - lo
        idx = np.repeat(lo - np.cumsum(np.concatenate([[0], n[:-1]])), n) + np.arange(n.sum())
        return self.arc_by_point[idx]

    def columns(self, sel: np.ndarray, a: np.ndarray | None = None):
        """What each segment sees of each offer: arc number (first choice, SENT if
        nothing) or attraction and value-weighted attraction (MNL), S × B. ``a``: the
        arcs on sale in ``sel``, when the caller has them."""
        a = self.arcs_on(sel) if a is None else a
        if self.fc:
            K = np.full((self.S, self.B), self.SENT, np.int64)
            K[self.as_[a], self.ab[a]] = a
            return K
        att = np.zeros((self.S, self.B))
        attv = np.zeros((self.S, self.B))
        att[self.as_[a], self.ab[a]] = self.att[a]
        attv[self.as_[a], self.ab[a]] = self.attv[a]
        return att, attv

    def state(self, points: np.ndarray) -> np.ndarray:
        """The state with exactly ``points`` (price point indices, one per group) on sale."""
        sel = np.full(self.G, -1, np.int64)
        sel[self.group[points]] = points
        return sel

    def evaluate(self, sel: np.ndarray) -> tuple[float, bool]:
        """Objective of a state and whether every rule holds."""
        a = self.arcs_on(sel)
        cols = self.columns(sel, a)
        if self.fc:
            best = cols.min(axis=1)
            obj = float(self.aval[best].sum())
            bought = best < self.SENT
            sales = np.bincount(self.ab[best[bought]], weights=self.N[bought], minlength=self.B)
        else:
            att, attv = cols
            denom = 1.0 + att.sum(axis=1)
            obj = float((self.N * attv.sum(axis=1) / denom).sum())
            sales = (att * (self.N / denom)[:, None]).sum(axis=0)
        return obj, self.feasible(sel, sales, a)

    def feasible(self, sel: np.ndarray, sales: np.ndarray, a: np.ndarray) -> bool:
        """Whether every rule holds for ``sel`` selling ``sales``; ``a`` its arcs on sale."""
        on = sel >= 0
        offers_on = np.zeros(self.B, bool)
        offers_on[self.gb[on]] = True
        if self.max_offers is not None and offers_on.sum() > self.max_offers:
            return False
        if self.per_seg is not None:
            if self.personalized:
                if (np.bincount(self.gseg[on], minlength=self.S) > self.per_seg).any():
                    return False
            elif on.sum() > self.per_seg:
                return False
        if len(self.pinned) and not offers_on[self.pinned].all():
            return False
        if self.inv is not None:
            use = self.Q.T @ sales
            if (use > self.inv + INV_TOL * np.maximum(1.0, self.inv)).any():
                return False
        if len(self.coverage):
            a = a[self.asurplus[a] >= 0]
            if not np.isin(self.coverage, self.as_[a]).all():
                return False
        if self.spread is not None and on.any():
            p = self.price[sel[on]]
            b = self.gb[on]
            lo = np.full(self.B, np.inf)
            hi = np.full(self.B, -np.inf)
            np.minimum.at(lo, b, p)
            np.maximum.at(hi, b, p)
            used = np.isfinite(lo)
            if (hi[used] > (1 + self.spread) * lo[used] + 1e-9).any():
                return False
        if self.arbitrage:
            aud = self.gseg[on] + 1                      # 0 = everyone, s + 1 = segment s
            P = np.full((self.S + 1, self.B), np.inf)
            P[aud, self.gb[on]] = self.price[sel[on]]
            for b, lists in self.arbitrage.items():
                pb = P[:, b]
                rows = np.isfinite(pb)
                if not rows.any():
                    continue
                cheapest = np.stack([P[:, lst].min(axis=1) for lst in lists], axis=1)
                sep = cheapest @ self.arb_qty[b]
                ok = ~np.isfinite(sep) | (pb <= sep + 1e-9)
                if not ok[rows].all():
                    return False
        return True

    # ------------------------------------------------------- all moves at once
    def move_values(self, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Change of objective for setting each point's group to that point (per
        point) and for switching each group off (per group)."""
        cols = self.columns(sel)
        gs = np.maximum(self.gseg, 0)
        if self.fc:
            K = cols
            rows = np.arange(self.S)
            col1 = K.argmin(axis=1)
            best1 = K[rows, col1]
            K[rows, col1] = self.SENT
            best2 = K.min(axis=1)
            base = self.aval[best1]
            drop = self.aval[best2] - base           # segment's change if its choice goes
            if self.personalized:
                off = np.where(col1[gs] == self.gb, drop[gs], 0.0)
            else:
                off = np.bincount(col1, weights=drop, minlength=self.B)[self.gb]
            e = np.where(col1[self.as_] == self.ab, best2[self.as_], best1[self.as_])
            term = self.aval[np.minimum(e, np.arange(len(self.as_)))] - self.aval[e]
        else:
            att, attv = cols
            A = 1.0 + att.sum(axis=1)
            W = attv.sum(axis=1)
            # without each offer; ≥ 1 exactly (the no-purchase option), but A − att
            # cancels to 0 in floating point next to a huge attraction (up to e^50)
            eA, eW = np.maximum(A[:, None] - att, 1.0), W[:, None] - attv
            d = self.N[:, None] * (eW / eA - (W / A)[:, None])
            off = d[gs, self.gb] if self.personalized else d.sum(axis=0)[self.gb]
            ea, ew = eA[self.as_, self.ab], eW[self.as_, self.ab]
            term = self.N[self.as_] * ((ew + self.attv) / (ea + self.att) - ew / ea)
        on_point = off[self.group] + np.bincount(self.aj, weights=term, minlength=self.J)
        return on_point, off


def _tol(obj: float) -> float:
    """How much a move must gain on a plan worth ``obj`` to count as an improvement."""
    return 1e-9 * max(1.0, abs(obj))


def _plan(space: OfferSpace, points: np.ndarray) -> pd.DataFrame:
    pts = space.points.iloc[np.sort(points)]
    return pd.DataFrame({
        "bundle_id": space.bundle_ids[pts["b"].to_numpy()].astype(object),
        "segment_id": audience_labels(space.segment_ids, pts["seg"].to_numpy()).astype(object),
        "price": pts["price"].to_numpy(float)})


def heuristic_plan(space: OfferSpace, time_limit: float = 5.0,
                   cancel: threading.Event | None = None,
                   initial: pd.DataFrame | None = None,
                   proven: Callable[[float], bool] | None = None,
                   start_points: np.ndarray | None = None,
                   improved: Callable[[float], None] | None = None) -> HeuristicResult | None:
    """A feasible plan found by greedy construction and local search within
    ``time_limit`` seconds (or until ``cancel`` is set), or ``None`` if none was
    found. Never claimed optimal. ``initial`` (plan rows ``bundle_id, segment_id,
    price``: a neighbouring variant's plan) is a second start: the search begins from
    whichever of it and the constructed start earns more and keeps every rule.
    ``proven(objective)``: whether a plan earning that is already proven good enough
    (by a bound the caller holds); the search stops there. ``start_points`` (indices
    of the offer space's points, e.g. the plan of :mod:`solver.relaxation`'s LP) is one
    more start, used the same way. ``improved(objective)`` is told each time the search's
    best plan gets better, so a caller can show progress before the search ends."""
    t0 = time.perf_counter()
    stop = t0 + max(0.0, time_limit)
    if space.no_price:
        return None
    h = _Search(space)
    starts = []
    forced = _forced_start(h, np.full(h.G, -1, np.int64))
    given = h.state(start_points) if start_points is not None and len(start_points) else None
    for sel in (forced, _given_start(h, initial), given):
        if sel is not None:
            o, ok = h.evaluate(sel)
            if ok:
                starts.append((o, sel))
    if not starts:
        return None
    # restarts build from the forced start, if it keeps every rule
    forced_start = next(((sel, o) for o, sel in starts if sel is forced), None)
    obj, sel = max(starts, key=lambda t: t[0])
    stopped = (lambda: time.perf_counter() > stop or (cancel is not None and cancel.is_set()))
    done = (lambda o: proven is not None and proven(o))
    sel, obj, moves = _local_search(h, sel, obj, stopped)
    tell = improved if improved is not None else (lambda o: None)
    tell(obj)
    rng = np.random.default_rng(0)
    # Personalized first choice: one descent and no more. HiGHS proves these optima
    # quickly, and the first plan is its start. Kicks improved a plan in 1 of 9 benchmark
    # runs (20/60/8 to 60/250/30, seeds 0-2); 30 fruitless kicks left every first plan
    # the same in 8 more (20/60/8 to 1000x50x20, seeds 0-1) and made the solves slower
    # (20/60/8 0.60 s against 0.29 s, 60/250/30 11.4 and 7.6 s against 10.2 and 5.7 s).
    # Restarts doubled the first plan's time for -0.2 % to +0.5 % (results_restarts.md).
    descent_only = space.personalized and space.scenario.choice_model == "first_choice"
    # randomized restarts (GRASP) for up to half the time: every descent from the one
    # greedy start ends in the same basin, which kicks, ruin-and-recreate and MIP
    # neighbourhoods did not leave (benchmarks/study_primal.py); restarts from randomized
    # greedy plans reach others (+0.09 % to +4.66 % on 10 of 21 benchmark runs, never
    # worse: benchmarks/results_restarts.md)
    half = t0 + RESTART_SHARE * max(0.0, time_limit)
    restarting = (lambda: stopped() or time.perf_counter() > half)
    fruitless = 0
    while (not descent_only and forced_start is not None and fruitless < RESTARTS
           and not restarting() and not done(obj)):
        new = _randomized_greedy(h, *forced_start, restarting, rng)
        new, o, m = _local_search(h, *new, restarting)
        moves += m
        if o > obj + _tol(obj):
            sel, obj, fruitless = new, o, 0
            tell(obj)
        else:
            fruitless += 1
    # iterated local search: kick the best plan (force one point on, or one group off)
    # and descend again, until enough kicks in a row found nothing better
    fruitless = 0
    # A fixed 30 stopped the 40/150/20 uniform benchmark after 0.6 s of a 6 s budget, 6 %
    # below the best plan known; the time limit bounds the search on large scenarios
    # anyway. (Not measured under MNL: unchanged.)
    patience = 0 if descent_only else max(KICKS, h.J // 2)
    while h.J and fruitless < patience and not stopped() and not done(obj):
        new = sel.copy()
        for _ in range(int(rng.integers(1, 3))):
            on = np.flatnonzero(new >= 0)
            if len(on) and rng.random() < 0.3:
                new[rng.choice(on)] = -1
            else:
                j = int(rng.integers(h.J))
                new[h.group[j]] = j
        o, ok = h.evaluate(new)
        if not ok:
            fruitless += 1
            continue
        new, o, m = _local_search(h, new, o, stopped)
        moves += m + 1
        if o > obj + _tol(obj):
            sel, obj, fruitless = new, o, 0
            tell(obj)
        else:
            fruitless += 1
    points = sel[sel >= 0]
    plan = _plan(space, points)
    t_eval = time.perf_counter()
    ev = evaluate_plan(space.given if space.given is not None else space.scenario, plan)
    if ev.violations:
        return None
    done = time.perf_counter()
    return HeuristicResult(plan, ev.objective, points, done - t0, moves, ev, done - t_eval)


def _local_search(h: _Search, sel: np.ndarray, obj: float, stopped) -> tuple[np.ndarray, float, int]:
    """Best-improvement descent over single moves, then swaps, to a local optimum."""
    moves = 0
    while not stopped():
        gain_on, gain_off = h.move_values(sel)
        tol = _tol(obj)
        cand_on = np.flatnonzero(gain_on > tol)
        cand_on = cand_on[sel[h.group[cand_on]] != cand_on]
        cand_off = np.flatnonzero((gain_off > tol) & (sel >= 0))
        gains = np.concatenate([gain_on[cand_on], gain_off[cand_off]])
        what = np.concatenate([cand_on, -1 - cand_off])      # ≥ 0 point, < 0 group off
        order = np.argsort(-gains, kind="stable")[:MAX_CHECKS]
        found = _improving(h, sel, obj, what[order], 1, stopped)
        if found:
            sel, obj = found[0]
        else:
            # swaps: one group off and another on (caps and inventory block single moves)
            moved_to = _swap(h, sel, obj, gain_on, stopped)
            if moved_to is None:
                break
            sel, obj = moved_to
        moves += 1
    return sel, obj, moves


def _improving(h: _Search, sel: np.ndarray, obj: float, moves: np.ndarray, k: int,
               stopped) -> list[tuple[np.ndarray, float]]:
    """The first ``k`` of ``moves`` (≥ 0: put that point on sale; < 0: take group
    −1 − m off), tried in order, that keep every rule and improve on ``obj``, as new
    states and their objectives."""
    found = []
    for m in moves:
        new = sel.copy()
        if m >= 0:
            new[h.group[m]] = m
        else:
            new[-1 - m] = -1
        o, ok = h.evaluate(new)
        if ok and o > obj + _tol(obj):
            found.append((new, o))
            if len(found) == k:
                break
        if stopped():
            break
    return found


def _randomized_greedy(h: _Search, sel: np.ndarray, obj: float, stopped,
                       rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A greedy plan from the state ``sel`` (worth ``obj``, every rule kept) that adds,
    at each step, one of the ``RESTART_CHOICES`` best feasible improving points at random
    (a GRASP construction)."""
    while not stopped():
        gain_on, _ = h.move_values(sel)
        cand = np.flatnonzero(gain_on > _tol(obj))
        cand = cand[sel[h.group[cand]] != cand]
        cand = cand[np.argsort(-gain_on[cand], kind="stable")[:MAX_CHECKS]]
        good = _improving(h, sel, obj, cand, RESTART_CHOICES, stopped)
        if not good:
            break
        sel, obj = good[int(rng.integers(len(good)))]
    return sel, obj


def _forced_start(h: _Search, sel: np.ndarray) -> np.ndarray | None:
    """The empty plan, plus the best-valued point of every ``must_offer`` offer and of
    a covering offer for every segment ``fairness.coverage`` names."""
    if len(h.pinned):
        gain_on, _ = h.move_values(sel)
        for b in h.pinned:
            pts = np.flatnonzero(h.pb == b)
            if not len(pts):
                return None
            j = pts[np.argmax(gain_on[pts])]
            sel[h.group[j]] = j
    for s in h.coverage:
        a = h.arcs_on(sel)
        if (h.as_[a[h.asurplus[a] >= 0]] == s).any():
            continue
        gain_on, _ = h.move_values(sel)
        arcs = np.flatnonzero((h.as_ == s) & (h.asurplus >= 0) & (sel[h.ag] < 0))
        if not len(arcs):
            return None
        # prefer a point that covers the most named segments still uncovered, so a
        # per-segment cap is not spent on one segment at a time
        covered = np.isin(h.coverage, h.as_[a[h.asurplus[a] >= 0]])
        need = np.isin(h.as_, h.coverage[~covered]) & (h.asurplus >= 0)
        reach = np.bincount(h.aj[need], minlength=h.J)
        js = h.aj[arcs]
        j = js[np.lexsort((-gain_on[js], -reach[js]))[0]]
        sel[h.group[j]] = j
    return sel


def _swap(h: _Search, sel: np.ndarray, obj: float, gain_on: np.ndarray,
          stopped) -> tuple[np.ndarray, float] | None:
    """The first improving feasible (off, on) pair, trying the best "on" moves first."""
    tol = _tol(obj)
    on_groups = np.flatnonzero(sel >= 0)
    if not len(on_groups):
        return None
    cand = np.flatnonzero(sel[h.group] < 0)
    cand = cand[np.argsort(-gain_on[cand], kind="stable")[:SWAP_ADDS]]
    best = None
    for j in cand:
        for g in on_groups:
            if stopped():
                return best
            new = sel.copy()
            new[g] = -1
            new[h.group[j]] = j
            o, ok = h.evaluate(new)
            if ok and o > obj + tol and (best is None or o > best[1]):
                best = (new, o)
        if best is not None:
            return best
    return best


# ------------------------------------------------------------ hand-over to a solver
def _given_start(h: _Search, plan: pd.DataFrame | None) -> np.ndarray | None:
    """The state of ``plan``: its rows matched to the offer space's points by offer,
    audience and price in cents (rows whose point was pruned are left out)."""
    if plan is None or not len(plan) or not h.J:
        return None
    space = h.space
    bcode = pd.Series(np.arange(len(space.bundle_ids)), index=space.bundle_ids)
    scode = pd.Series(np.arange(len(space.segment_ids)), index=space.segment_ids)
    rows = pd.DataFrame({
        "b": plan["bundle_id"].astype(str).map(bcode),
        "seg": plan["segment_id"].astype(str).map(scode).fillna(-1) if h.personalized else -1,
        "cents": np.round(plan["price"].to_numpy(float) * 100)}).dropna()
    pts = pd.DataFrame({"b": h.pb, "seg": h.pseg, "cents": np.round(h.price * 100),
                        "j": np.arange(h.J)})
    hit = rows.astype({"b": np.int64, "seg": np.int64}).merge(pts, on=["b", "seg", "cents"])
    if not len(hit):
        return None
    sel = h.state(hit["j"].to_numpy())
    return sel


def start_vector(model, space: OfferSpace, points: np.ndarray) -> np.ndarray:
    """A MIP start for ``model`` (a :class:`formulations.linear.LinearModel` built on
    ``space``): the plan's integer choices — ``on_sale``, first-choice ``buy`` and
    ``offer_used`` — and NaN for every other column, which the solver completes."""
    x = np.full(model.num_cols, np.nan)
    on = np.zeros(len(space.points), bool)
    on[points] = True
    fam = model.vars.get("on_sale")
    if fam is None or fam.size != len(on):
        return x
    x[fam.cols()] = on
    arcs = space.arcs
    buy = model.vars.get("buy")
    if buy is not None and buy.size == len(arcs):
        # arcs are in each segment's preference order: it buys its first arc on sale
        a_on = np.flatnonzero(on[arcs["j"].to_numpy()])
        _, first = np.unique(arcs["s"].to_numpy()[a_on], return_index=True)
        y = np.zeros(len(arcs))
        y[a_on[first]] = 1.0
        x[buy.cols()] = y
    used = model.vars.get("offer_used")
    if used is not None:
        on_b = set(space.points["b"].to_numpy()[points].tolist())
        code = {bid: i for i, bid in enumerate(space.bundle_ids)}
        x[used.cols()] = [float(code[b] in on_b) for b in used.keys["bundle"]]
    return x


#: The first plan's search time grows with the model it stands in for: 0.5 s plus 1 s
#: per 10,000 arcs. Measured on benchmarks/bench_scale.py (20/60/8 to 200/1000/50/20):
#: the search kept improving up to 5.4 s at 60/250/30 uniform (36k arcs), while at
#: 20/60/8 personalized (2.2k arcs) nothing improved after 0.5 s and a flat 6 s budget
#: made the solve 20x slower than HiGHS alone.
HEURISTIC_BASE_SECONDS, ARCS_PER_SECOND = 0.5, 10_000


def heuristic_budget(remaining: float | None, arcs: int = 0) -> float:
    """Seconds the first plan may take: a tenth of what is left, at most 8 s, and at
    most what the model's size calls for (above)."""
    size = HEURISTIC_BASE_SECONDS + arcs / ARCS_PER_SECOND
    share = 8.0 if remaining is None else max(0.05, 0.1 * remaining)
    return min(8.0, share, size)
