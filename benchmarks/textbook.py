"""The classic reservation-price bundle-pricing MIP, written directly for highspy.

This is the baseline formulation of the bundle-pricing literature (uniform pricing,
first-choice customers), built with numpy/scipy and handed to HiGHS in one
``passModel``:

    x_j  ∈ {0,1}   offer b(j) on sale at ladder price p_j        Σ_{j∈b} x_j ≤ 1
    y_a  ∈ {0,1}   segment s(a) buys point j(a) (only if w ≥ p)  y_a ≤ x_j(a)
                                                                  Σ_{a∈s} y_a ≤ 1
    u_s  ≥ 0       surplus of s:  u_s = Σ_{a∈s} (w_a − p_a) y_a
                   surplus-maximising choice:  u_s ≥ Σ_{j∈b} max(0, w_sb − p_j) x_j  ∀ s, b
    inventory      Σ_a N_s q_ib y_a ≤ Q_i
    maximise       Σ_a N_s (p_a − C_b) y_a

The margin floor is applied by removing ladder points. It does not enforce
bundleopt's seller-favouring tie-break (the seller may pick among equal surpluses, and
a zero-surplus offer need not be bought), so it is a relaxation: its optimum is ≥
bundleopt's, and equal when WTPs are continuous and ties do not occur.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp

from formulations.scenario import Scenario


@dataclass
class TextbookResult:
    status: str
    objective: float | None
    gap: float | None
    build_seconds: float
    solve_seconds: float
    n_cols: int
    n_rows: int


def _points(scenario: Scenario) -> pd.DataFrame:
    """Ladder points (b, price, cost) that survive the margin floor."""
    ref = scenario.reference_prices()
    cost = scenario.offer_costs()
    d = np.asarray(scenario.discounts, float)
    pts = pd.DataFrame({"bundle_id": np.repeat(ref.index.to_numpy(), len(d)),
                        "price": np.round(np.repeat(ref.to_numpy(), len(d)) * np.tile(1 - d, len(ref)), 2),
                        "cost": np.repeat(cost.to_numpy(), len(d))}).drop_duplicates(
        ["bundle_id", "price"])
    m = scenario.constraints.min_margin
    if m is not None:
        p = pts["price"].to_numpy()
        pts = pts[(p > 0) & ((p - pts["cost"].to_numpy()) >= (m - 1e-9) * p)]
    return pts.reset_index(drop=True)


def build_textbook(scenario: Scenario) -> highspy.HighsLp:
    """The textbook MIP of a uniform first-choice scenario, as a HighsLp."""
    if scenario.pricing != "uniform" or scenario.choice_model != "first_choice":
        raise ValueError("the textbook formulation is for uniform first-choice scenarios")
    pts = _points(scenario)
    n_x = len(pts)
    bcode = pd.Series(np.arange(len(scenario.bundles)), index=scenario.bundles.index)
    pb = bcode.reindex(pts["bundle_id"]).to_numpy()

    w = scenario.offer_wtp()
    scode = pd.Series(np.arange(len(scenario.segments)), index=scenario.segments.index)
    size = scenario.segments["size"].to_numpy(float)
    n_s = len(size)
    cand = pts.assign(j=np.arange(n_x)).merge(w[["segment_id", "bundle_id", "wtp"]],
                                             on="bundle_id")
    cand["s"] = scode.reindex(cand["segment_id"]).to_numpy()
    cand["surplus"] = cand["wtp"].to_numpy() - cand["price"].to_numpy()
    arcs = cand[cand["surplus"].to_numpy() >= 0].reset_index(drop=True)
    n_y = len(arcs)
    # columns: x (n_x) | y (n_y) | u (n_s)
    ox, oy, ou = 0, n_x, n_x + n_y
    n_col = n_x + n_y + n_s

    rows, cols, vals, lo, hi = [], [], [], [], []
    r = 0

    def add(rr, cc, vv, low, high):
        nonlocal r
        rows.append(np.asarray(rr) + r)
        cols.append(np.asarray(cc))
        vals.append(np.asarray(vv, float))
        lo.append(low)
        hi.append(high)
        r += len(low)

    inf = highspy.kHighsInf
    n_b = len(bcode)
    # one price per offer
    add(pb, ox + np.arange(n_x), np.ones(n_x), np.full(n_b, -inf), np.ones(n_b))
    # y ≤ x
    a = np.arange(n_y)
    add(np.concatenate([a, a]), np.concatenate([oy + a, ox + arcs["j"].to_numpy()]),
        np.concatenate([np.ones(n_y), -np.ones(n_y)]), np.full(n_y, -inf), np.zeros(n_y))
    # one purchase per segment
    s_a = arcs["s"].to_numpy()
    add(s_a, oy + a, np.ones(n_y), np.full(n_s, -inf), np.ones(n_s))
    # u_s − Σ surplus y = 0
    add(np.concatenate([np.arange(n_s), s_a]), np.concatenate([ou + np.arange(n_s), oy + a]),
        np.concatenate([np.ones(n_s), -arcs["surplus"].to_numpy()]), np.zeros(n_s), np.zeros(n_s))
    # u_s ≥ Σ_j max(0, w − p_j) x_j for every (s, b) with a positive surplus somewhere
    pos = cand[cand["surplus"].to_numpy() > 0]
    pairs = pos[["s", "bundle_id"]].drop_duplicates().reset_index(drop=True)
    pair_id = pd.Series(np.arange(len(pairs)),
                        index=pd.MultiIndex.from_frame(pairs)).reindex(
        pd.MultiIndex.from_frame(pos[["s", "bundle_id"]])).to_numpy()
    n_p = len(pairs)
    add(np.concatenate([np.arange(n_p), pair_id]),
        np.concatenate([ou + pairs["s"].to_numpy(), ox + pos["j"].to_numpy()]),
        np.concatenate([np.ones(n_p), -pos["surplus"].to_numpy()]), np.zeros(n_p), np.full(n_p, inf))
    # inventory
    if scenario.constraints.inventory:
        inv = scenario.products["inventory"]
        comp = scenario.components
        comp = comp[comp["product_id"].isin(inv[inv.notna()].index)]
        pcode = pd.Series(np.arange(len(inv)), index=inv.index)
        use = arcs[["bundle_id", "s"]].assign(a=a).merge(comp, on="bundle_id")
        if len(use):
            pi = pcode.reindex(use["product_id"]).to_numpy()
            limited = np.unique(pi)
            row_of = pd.Series(np.arange(len(limited)), index=limited)
            add(row_of.reindex(pi).to_numpy(), oy + use["a"].to_numpy(),
                size[use["s"].to_numpy()] * use["quantity"].to_numpy(),
                np.full(len(limited), -inf), inv.to_numpy(float)[limited])

    A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(r, n_col))
    cost = np.zeros(n_col)
    unit = arcs["price"].to_numpy() - (arcs["cost"].to_numpy()
                                       if scenario.objective == "profit" else 0.0)
    cost[oy:oy + n_y] = size[s_a] * unit
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_col, r
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(n_col)
    lp.col_upper_ = np.concatenate([np.ones(n_x + n_y), np.full(n_s, inf)])
    lp.row_lower_ = np.concatenate(lo)
    lp.row_upper_ = np.concatenate(hi)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n_col, r
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.integrality_ = ([highspy.HighsVarType.kInteger] * (n_x + n_y)
                       + [highspy.HighsVarType.kContinuous] * n_s)
    return lp


def solve_textbook(scenario: Scenario, *, time_limit: float | None = None,
                   mip_gap: float = 1e-6, threads: int | None = None) -> TextbookResult:
    """Build and solve the textbook MIP with HiGHS; times build and solve separately."""
    t0 = time.perf_counter()
    lp = build_textbook(scenario)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", mip_gap)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    h.passModel(lp)
    t1 = time.perf_counter()
    h.run()
    t2 = time.perf_counter()
    info = h.getInfo()
    ms = h.getModelStatus()
    has_sol = info.primal_solution_status == 2
    status = ("optimal" if ms == highspy.HighsModelStatus.kOptimal
              else "infeasible" if ms == highspy.HighsModelStatus.kInfeasible
              else "feasible" if has_sol else "no_solution")
    return TextbookResult(status, info.objective_function_value if has_sol else None,
                          info.mip_gap if has_sol else None, t1 - t0, t2 - t1,
                          lp.num_col_, lp.num_row_)
