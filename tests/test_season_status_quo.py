"""The status quo of a season (formulations/status_quo.py): holding today's prices all
season, scored by the season model with sales stopping when stock runs out."""
from __future__ import annotations

import dataclasses
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from random_scenarios import make_scenario  # noqa: E402
from test_season import MIXES, random_season  # noqa: E402

from formulations.evaluate import evaluate_season  # noqa: E402
from formulations.scenario import Horizon  # noqa: E402
from formulations.status_quo import evaluate_status_quo, status_quo_plan  # noqa: E402
from formulations.validate import validate_scenario  # noqa: E402
from solver.api import solve  # noqa: E402


def _tiny(previous=(("S_P", "*", 10.0), ("B", "*", 13.5)), salvage=0.5):
    """P (cost 2, stock 15, 6 more arrive in period 2) sells alone and in B with Q (cost 3,
    no limit). s1 (10 shoppers) wants only S_P (WTP 12), s2 (4) only B (WTP 20)."""
    sc = make_scenario(products=[("P", 2, 10, 15), ("Q", 3, 5, None)],
                       bundles=[("S_P", {"P": 1}), ("S_Q", {"Q": 1}), ("B", {"P": 1, "Q": 1})],
                       segments=[("s1", 10), ("s2", 4)],
                       wtp=[("s1", "S_P", 12), ("s2", "B", 20)], previous_plan=list(previous),
                       constraints={"inventory": True}, discounts=[0.0, 0.1])
    sc = dataclasses.replace(sc, horizon=Horizon(("1", "2", "3"), salvage),
                             receipts=pd.DataFrame({"period": ["2"], "product_id": ["P"], "units": [6.0]}))
    return validate_scenario(sc, source="test")


def test_stock_runs_out_in_period_2_by_hand():
    sq = evaluate_status_quo(_tiny())
    # period 1: P needed 10 + 4 = 14 of 15 -> all sold, 1 left; period 2: 1 + 6 = 7 for
    # 14 wanted -> every offer with P sells half (S_P 5, B 2); period 3: nothing left.
    # profit per unit: S_P 10 - 2 = 8, B 13.5 - 5 = 8.5
    assert sq.periods["units"].tolist() == pytest.approx([14, 7, 0])
    assert sq.periods["profit"].tolist() == pytest.approx([80 + 34, 40 + 17, 0])
    assert sq.periods["revenue"].tolist() == pytest.approx([100 + 54, 50 + 27, 0])
    assert sq.profit == pytest.approx(171) and sq.objective == pytest.approx(171)   # nothing left
    assert sq.salvage == pytest.approx(0)
    prod = sq.products.set_index("product_id")
    assert prod.loc["P", "left"] == pytest.approx(0) and prod.loc["Q", "units"] == pytest.approx(6)
    assert sorted(map(tuple, sq.stock_outs[["period", "product_id"]].to_numpy())) == [("2", "P"), ("3", "P")]
    assert sq.source == "previous_plan.csv" and not sq.feasible and sq.violations == []


def test_without_a_previous_plan_single_products_at_list_price():
    sc = _tiny(previous=())
    plan, source = status_quo_plan(sc)
    assert source == "list prices of single products"
    assert plan.to_dict("list") == {"bundle_id": ["S_P", "S_Q"], "segment_id": ["*", "*"],
                                    "price": [10.0, 5.0]}
    sq = evaluate_status_quo(sc)
    # s1 buys S_P at 10: 10 units in periods 1 and 2 (5 + 6 + ... : 15 -> 5 left, +6 -> 11 -> 1 left)
    assert sq.periods["units"].tolist() == pytest.approx([10, 10, 1])
    assert sq.salvage == pytest.approx(0) and sq.profit == pytest.approx(8 * 21)


def test_with_stock_enough_it_is_the_season_evaluation():
    sc = _tiny()
    sc = dataclasses.replace(sc, products=sc.products.assign(inventory=[100.0, np.nan]))
    sq = evaluate_status_quo(sc)
    held = pd.concat([sc.previous_plan.assign(period=t) for t in sc.horizon.labels])
    ev = evaluate_season(sc, held)
    assert sq.feasible and sq.objective == pytest.approx(ev.objective)
    assert sq.salvage == pytest.approx(0.5 * 2 * (106 - 42))


@pytest.mark.parametrize("pricing, choice_model, mix, k", [
    (p, c, m, k) for p in ("uniform", "personalized") for c in ("first_choice", "mnl")
    for m in ("stock", "no_increase", "competitors", "everything") for k in range(3)])
def test_the_season_plan_never_earns_less_than_the_status_quo(pricing, choice_model, mix, k):
    rng = np.random.default_rng(zlib.crc32(f"sq|{pricing}|{choice_model}|{mix}|{k}".encode()))
    sc = random_season(rng, pricing=pricing, choice_model=choice_model, objective="profit",
                       rules=MIXES[mix])
    sq = evaluate_status_quo(sc)
    # never oversold: cumulative sales within the stock plus the receipts so far
    inv = sc.products["inventory"].to_numpy(float)
    assert np.all(sq.products["left"].to_numpy(float)[np.isfinite(inv)] >= -1e-9)
    result = solve(sc)
    if result.status != "optimal":
        assert not sq.feasible or result.status == "infeasible" and sq.violations
        return
    assert result.summary["status_quo"]["objective"] == pytest.approx(sq.objective)
    if sq.feasible:
        assert result.objective >= sq.objective - 1e-6
    if sc.horizon.salvage == 0:
        # running out only loses sales (every status quo price here is above its cost)
        roomy = dataclasses.replace(sc, products=sc.products.assign(
            inventory=np.where(np.isfinite(inv), 1e9, inv)))
        assert sq.objective <= evaluate_status_quo(roomy).objective + 1e-6
