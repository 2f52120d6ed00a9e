"""Frontiers of a sweep: which variants are Pareto-optimal, and what a rule costs along
its range.

A variant is Pareto-optimal on (objective, shoppers' surplus) when no other variant is
at least as good on both and better on one. For a fairness rule swept over its range
(``fairness.max_price_spread``, ``fairness.coverage``) the profit curve is the *price of
fairness*: the best objective of the sweep minus the objective at each setting.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def pareto_mask(objective: np.ndarray, surplus: np.ndarray) -> np.ndarray:
    """True where no other point is ≥ on both and > on one (both maximised).

    NaN objective (no plan) is never Pareto; NaN surplus counts as the worst surplus.
    """
    obj = np.asarray(objective, float)
    sur = np.where(np.isnan(np.asarray(surplus, float)), -np.inf, np.asarray(surplus, float))
    ok = np.isfinite(obj)
    o, s = obj[:, None], sur[:, None]
    # dominated[i, j]: j dominates i
    dominated = (obj[None, :] >= o) & (sur[None, :] >= s) & ((obj[None, :] > o) | (sur[None, :] > s))
    dominated &= ok[None, :]
    return ok & ~dominated.any(axis=1)


def frontier(results: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """frontier.csv: the swept value(s), ``objective``, ``surplus``, ``pareto``."""
    out = results[list(keys) + ["objective", "surplus"]].copy()
    out["pareto"] = pareto_mask(out["objective"].to_numpy(float), out["surplus"].to_numpy(float))
    return out


def profit_curve(results: pd.DataFrame, key: str) -> pd.DataFrame:
    """Objective along one swept rule, in order of its value, with ``price_of_rule`` =
    the sweep's best objective − this objective (≥ 0; the price of fairness for the
    fairness rules)."""
    cur = results[[key, "status", "objective", "surplus"]].copy()
    order = pd.to_numeric(cur[key], errors="coerce")
    cur = cur.assign(_o=order).sort_values("_o", kind="stable").drop(columns="_o")
    best = np.nanmax(cur["objective"].to_numpy(float)) if cur["objective"].notna().any() else np.nan
    cur["price_of_rule"] = best - cur["objective"].to_numpy(float)
    cur["pareto"] = pareto_mask(cur["objective"].to_numpy(float), cur["surplus"].to_numpy(float))
    return cur.reset_index(drop=True)
