"""Why this price: what the plan would earn if one offer moved, came off sale, or was added.

For every plan row (offer, audience) the moves are one step ``up`` or ``down`` its
ladder — the price points left after pruning (:func:`formulations.offers.build_offer_space`)
— and ``drop`` (off sale to that audience). For every (offer, audience) not on sale,
``add`` is its best single point: the one earning the most among points that break no
rule, or the best overall if every point breaks one. All other rows stay as they are;
each changed plan is scored by :func:`formulations.evaluate.evaluate_plan`, so a row is
exactly what that plan earns; ``breaks`` names the rules the move breaks that the plan
did not.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from formulations.evaluate import evaluate_plan
from formulations.offers import audience_labels, build_offer_space
from formulations.scenario import Scenario

from .executors import default_workers, make_executor
from .plans import rule_of

MOVE_COLUMNS = ["bundle_id", "audience", "price", "move", "new_price", "objective_after",
                "delta", "breaks"]


def broken_rules(scenario: Scenario, plan: pd.DataFrame) -> tuple[float, set[str]]:
    ev = evaluate_plan(scenario, plan)
    return ev.objective, {rule_of(v) for v in ev.violations}


def ladders(scenario: Scenario) -> dict[tuple[str, str], np.ndarray]:
    """(bundle_id, audience) → its sorted prices left after pruning (audience ``*`` in
    uniform mode, a segment id in personalized mode)."""
    space = build_offer_space(scenario)
    p = space.points
    aud = audience_labels(space.segment_ids.astype(str), p["seg"].to_numpy())
    frame = pd.DataFrame({"b": space.bundle_ids[p["b"].to_numpy()], "a": aud,
                          "price": p["price"].to_numpy(float)})
    return {k: np.unique(g["price"].to_numpy()) for k, g in frame.groupby(["b", "a"], sort=False)}


def candidate_moves(scenario: Scenario, plan: pd.DataFrame) -> list[tuple]:
    """Every move as ``(bundle_id, audience, price or NaN, move, new_price or NaN)``."""
    lad = ladders(scenario)
    out = []
    on_sale = set()
    for b, a, p in zip(plan["bundle_id"], plan["segment_id"], plan["price"].astype(float)):
        on_sale.add((b, a))
        pts = lad.get((b, a), np.zeros(0))
        up, down = pts[pts > p + 1e-9], pts[pts < p - 1e-9]
        if len(up):
            out.append((b, a, p, "up", float(up[0])))
        if len(down):
            out.append((b, a, p, "down", float(down[-1])))
        out.append((b, a, p, "drop", np.nan))
    for (b, a), pts in lad.items():
        if (b, a) not in on_sale:
            out += [(b, a, np.nan, "add", float(q)) for q in pts]
    return out


def apply_move(plan: pd.DataFrame, move: tuple) -> pd.DataFrame:
    """The plan with that one move made."""
    b, a, _, kind, new = move
    plan = plan[["bundle_id", "segment_id", "price"]]
    if kind == "add":
        return pd.concat([plan, pd.DataFrame({"bundle_id": [b], "segment_id": [a], "price": [new]})],
                         ignore_index=True)
    row = (plan["bundle_id"] == b) & (plan["segment_id"] == a)
    if kind == "drop":
        return plan[~row].reset_index(drop=True)
    plan = plan.copy()
    plan.loc[row, "price"] = new
    return plan


def _score(scenario: Scenario, job: tuple) -> list[tuple[float, set[str]]]:
    plan, chunk = job
    return [broken_rules(scenario, apply_move(plan, m)) for m in chunk]


def moves(scenario: Scenario, plan: pd.DataFrame, *, executor: str = "local",
          workers: int | None = None, address: str | None = None) -> pd.DataFrame:
    """moves.csv rows (see the module docstring), scored in parallel chunks."""
    plan = plan[["bundle_id", "segment_id", "price"]].reset_index(drop=True)
    base_obj, base_broken = broken_rules(scenario, plan)
    cands = candidate_moves(scenario, plan)
    n = max(1, min(len(cands), 4 * (workers or default_workers())))
    chunks = [cands[i::n] for i in range(n)]
    scored: list = [None] * len(cands)
    for i, got in make_executor(executor, workers=workers, address=address).run(
            _score, scenario, [(plan, c) for c in chunks]):
        for k, s in enumerate(got):
            scored[i + k * n] = s
    tol = 1e-9 * max(1.0, abs(base_obj))     # summation-order noise is not a change
    rows = pd.DataFrame([m + (obj, 0.0 if abs(obj - base_obj) <= tol else obj - base_obj,
                              ";".join(sorted(br - base_broken)))
                         for m, (obj, br) in zip(cands, scored)],
                        columns=["bundle_id", "audience", "price", "move", "new_price",
                                 "objective_after", "delta", "breaks"])
    if rows.empty:
        return rows
    # add: keep each candidate's best point (rule-abiding first)
    add = rows["move"] == "add"
    best = (rows[add].assign(_ok=rows.loc[add, "breaks"] == "")
            .sort_values(["_ok", "objective_after", "new_price"], ascending=[False, False, True],
                         kind="stable")
            .drop_duplicates(["bundle_id", "audience"]).drop(columns="_ok"))
    out = pd.concat([rows[~add], best])
    order = {b: i for i, b in enumerate(scenario.bundles.index)}
    kind = {"up": 0, "down": 1, "drop": 2, "add": 3}
    out = out.assign(_k=out["move"].map(kind), _b=out["bundle_id"].map(order)).sort_values(
        ["_k", "_b", "audience"], kind="stable").drop(columns=["_k", "_b"])
    return out[MOVE_COLUMNS].reset_index(drop=True)
