"""Comparing two plans (the web app's Compare page): offers added and dropped, price
moves, KPI deltas and the rules that bind in one plan only.

Rows are matched on ``(bundle_id, segment_id)`` — and ``period`` when both plans are
season plans, over the periods both hold (a season week's plan covers the weeks from
it to the season's end, so the earlier week's own periods are not "dropped"). A price move is a matched row whose
price differs by at least a cent; its change is ``new / old − 1``. A KPI delta is
``new − old``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

KPI_NAMES = ("revenue", "profit", "margin", "units", "offers_on_sale")
KEY = ["bundle_id", "segment_id"]


@dataclass
class Side:
    """One plan being compared: its label, rows, KPIs, objective and binding rules."""

    label: str
    rows: list[dict[str, Any]]
    kpis: dict[str, Any]
    objective: float | None
    binding: list[str]


@dataclass
class Comparison:
    added: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    moves: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    kpis: list[dict[str, Any]] = field(default_factory=list)
    binding_old_only: list[str] = field(default_factory=list)
    binding_new_only: list[str] = field(default_factory=list)
    season: bool = False          # rows matched per period (they carry ``period``)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    f = pd.DataFrame(rows)
    if f.empty:
        return pd.DataFrame({"bundle_id": pd.Series(dtype=str),
                             "segment_id": pd.Series(dtype=str),
                             "price": pd.Series(dtype=float),
                             "components": pd.Series(dtype=str)})
    f = f.astype({"bundle_id": str, "segment_id": str})
    f["price"] = pd.to_numeric(f["price"], errors="coerce")
    if "components" not in f:
        f["components"] = f["bundle_id"]
    period = ["period"] if "period" in f else []
    return f[period + ["bundle_id", "segment_id", "price", "components"]].astype(
        {"period": str} if period else {})


def compare(old: Side, new: Side) -> Comparison:
    """What changed from ``old`` to ``new``."""
    a, b = _frame(old.rows), _frame(new.rows)
    season = "period" in a and "period" in b
    key = (["period"] if season else []) + KEY
    if season:
        shared = set(a["period"]) & set(b["period"])
        a, b = a[a["period"].isin(shared)], b[b["period"].isin(shared)]
    both = a.merge(b, on=key, how="outer", suffixes=("_old", "_new"), indicator=True)
    both["components"] = both["components_new"].fillna(both["components_old"])
    cols = key + ["components"]
    added = both[both["_merge"] == "right_only"]
    dropped = both[both["_merge"] == "left_only"]
    common = both[both["_merge"] == "both"]
    moved = common[np.abs(common["price_new"] - common["price_old"]) >= 0.005]
    out = Comparison(
        added=added[cols].assign(price=added["price_new"]).to_dict(orient="records"),
        dropped=dropped[cols].assign(price=dropped["price_old"]).to_dict(orient="records"),
        moves=moved[cols].assign(old=moved["price_old"], new=moved["price_new"],
                                 change=moved["price_new"] / moved["price_old"] - 1.0)
        .to_dict(orient="records"),
        unchanged=int(len(common) - len(moved)), season=season)
    for name in KPI_NAMES:
        o, n = old.kpis.get(name), new.kpis.get(name)
        delta = n - o if isinstance(o, (int, float)) and isinstance(n, (int, float)) else None
        out.kpis.append({"name": name, "old": o, "new": n, "delta": delta})
    o, n = old.objective, new.objective
    out.kpis.append({"name": "objective", "old": o, "new": n,
                     "delta": n - o if o is not None and n is not None else None})
    out.binding_old_only = sorted(set(old.binding) - set(new.binding))
    out.binding_new_only = sorted(set(new.binding) - set(old.binding))
    return out
