"""Seasons and competitors by hand, bad season input, and one-period scenarios unchanged.

Expected values are worked out by hand from SCENARIO.md §8 in each test's docstring.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bruteforce_season import season_brute_force  # noqa: E402
from random_scenarios import make_scenario  # noqa: E402
from test_cli import assert_one_error_line, invoke, write_dir  # noqa: E402

from formulations.build import build_model  # noqa: E402
from formulations.loading import load_scenario  # noqa: E402
from formulations.scenario import Horizon  # noqa: E402
from formulations.validate import validate_scenario  # noqa: E402
from solver.api import solve  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _season(sc, labels, salvage=0.0, periods=(), receipts=(), competitors=(), switching=None):
    seg = sc.segments if switching is None else sc.segments.assign(switching_cost=switching)
    return validate_scenario(dataclasses.replace(
        sc, segments=seg, horizon=None if labels is None else Horizon(tuple(labels), salvage),
        periods=pd.DataFrame(list(periods), columns=["period", "segment_id", "size"]).astype({"size": float}),
        receipts=pd.DataFrame(list(receipts), columns=["period", "product_id", "units"]).astype({"units": float}),
        competitors=pd.DataFrame(list(competitors), columns=["bundle_id", "product_id", "price", "period"]
                                 ).astype({"price": float})))


def _markdown_case(**rules):
    """One offer A (cost 0, ladder 10 / 8 / 6); segment s (WTP 10) shops in periods 1 and 3
    (10 shoppers), t (WTP 6) in period 2 (30 shoppers).

    Free: 10, 6, 10 → 100 + 180 + 100 = 380. With no_increase, max_changes 1 or min_gap 2
    the last 10 is gone: 10, 6, 6 → 100 + 180 + 60 = 340 (10, off, 10 earns 200; 6, 6, 6 300).
    """
    sc = make_scenario(products=[("P", 0, 10, None)], bundles=[("A", {"P": 1})],
                       segments=[("s", 10), ("t", 30)], wtp=[("s", "A", 10), ("t", "A", 6)],
                       discounts=[0, 0.2, 0.4], constraints=rules)
    return _season(sc, ["1", "2", "3"], periods=[("1", "t", 0), ("2", "s", 0), ("3", "t", 0)])


@pytest.mark.parametrize("rules, expected", [
    ({}, 380.0), ({"no_increase": True}, 340.0), ({"max_changes": 1}, 340.0),
    ({"max_changes": 2}, 380.0), ({"min_gap": 2}, 340.0)])
@pytest.mark.parametrize("backend", ["highs", "cpsat"])
def test_markdown_rules_by_hand(rules, expected, backend):
    sc = _markdown_case(**rules)
    r = solve(sc, backend=backend)
    assert r.status == "optimal" and r.objective == pytest.approx(expected)
    assert season_brute_force(sc)[0] == pytest.approx(expected)
    assert list(r.plan["period"]) == ["1", "2", "3"]


def test_price_change_binds_to_the_last_price_on_sale():
    """previous price 10, ε = 0.25: 10 → 8 (20 %) → 6 (25 %) is allowed, 10 → 6 is not;
    so period 2 can only reach 6 through 8 in period 1: 8 (s buys: 80), 6 (180), and back
    up only to 7.50 — so 6 again in period 3 (60) → 320; 10, 8, 10 earns 100 + 0 + 100 = 200."""
    sc = _markdown_case(max_price_change=0.25)
    sc = validate_scenario(dataclasses.replace(sc, previous_plan=pd.DataFrame(
        {"bundle_id": ["A"], "segment_id": ["*"], "price": [10.0]})))
    r = solve(sc)
    assert r.objective == pytest.approx(320.0)
    assert list(r.plan["price"]) == [8.0, 6.0, 6.0]
    assert season_brute_force(sc)[0] == pytest.approx(320.0)


def test_stock_carries_over_with_receipts_and_salvage():
    """Stock 15, 10 more in period 2; 10 shoppers a period buy A at 10 (cost 2) or not at
    all: selling in all three periods needs 30 > 25 units, so two periods: 2 × 80 = 160,
    and 25 − 20 = 5 units left at 0.5 × 2 = 1 each: 165."""
    sc = make_scenario(products=[("P", 2, 10, 15)], bundles=[("A", {"P": 1})],
                       segments=[("s", 10)], wtp=[("s", "A", 10)], discounts=[0],
                       constraints={"inventory": True})
    sc = _season(sc, ["1", "2", "3"], salvage=0.5, receipts=[("2", "P", 10)])
    for backend in ("highs", "cpsat"):
        r = solve(sc, backend=backend)
        assert r.objective == pytest.approx(165.0)
        assert r.summary["salvage_value"] == pytest.approx(5.0)
        assert r.summary["stock_left"] == [{"product_id": "P", "left": pytest.approx(5.0),
                                            "salvage_value": pytest.approx(5.0)}]
        by = pd.DataFrame(r.summary["stock_by_period"])       # two periods of 10 sold, any two
        assert list(by["period"]) == ["1", "2", "3"] and by["units"].sum() == pytest.approx(20.0)
        assert list(by["receipts"]) == [0.0, 10.0, 0.0]
        assert list(by["left"]) == pytest.approx(list(15 + by["receipts"].cumsum() - by["units"].cumsum()))
        assert by["left"].min() >= -1e-9 and by["left"].iloc[-1] == pytest.approx(5.0)
        assert len(r.summary["periods"]) == 3


@pytest.mark.parametrize("price, switching, expected", [
    (8.5, 0.0, 80.0),   # o = 1.5: only 8 (surplus 2) beats it
    (8.5, 1.0, 90.0),   # o = 0.5: 9 (surplus 1) does
    (9.0, 0.0, 90.0),   # o = 1: 9 leaves 1 too — a tie goes to us
    (12.0, 0.0, 100.0)])  # o = max(0, −2) = 0: list price
def test_first_choice_competitor_by_hand(price, switching, expected):
    """One period: A (cost 0, ladder 10 / 9 / 8), 10 shoppers with WTP 10; a competitor
    sells A at ``price`` and switching costs ``switching``."""
    sc = make_scenario(products=[("P", 0, 10, None)], bundles=[("A", {"P": 1})],
                       segments=[("s", 10)], wtp=[("s", "A", 10)], discounts=[0, 0.1, 0.2])
    sc = _season(sc, None, competitors=[("A", "", price, "")], switching=[switching])
    for backend in ("highs", "cpsat"):
        r = solve(sc, backend=backend)
        assert r.objective == pytest.approx(expected)


def test_mnl_competitor_joins_the_no_purchase_term():
    """A at 10 (cost 0), w 10, β 1, 30 shoppers; a competitor sells A at 10 too: shares
    1 / (1 + 1 + 1) → 10 sold → 100; by product row (its single-item offer's WTP) the same."""
    sc = make_scenario(products=[("P", 0, 10, None)], bundles=[("A", {"P": 1})],
                       segments=[("s", 30, 1.0)], wtp=[("s", "A", 10)], discounts=[0],
                       choice_model="mnl")
    for comp in ([("A", "", 10.0, "")], [("", "P", 10.0, "")]):
        r = solve(_season(sc, None, competitors=comp))
        assert r.objective == pytest.approx(100.0)


# ====================================================== bad input → one line, exit 2
SEASON = {"scenario.yaml": ("pricing: uniform\nchoice_model: first_choice\nobjective: profit\n"
                            "price_ladder: {discounts: [0.0, 0.1]}\n"
                            "constraints:\n  inventory: true\n"
                            "markdown: {no_increase: true, max_changes: 1}\n"
                            "horizon: {periods: 3, salvage: 0.2}\n"),
          "products.csv": "product_id,unit_cost,list_price,inventory\nP1,4,10,50\nP2,3,6,\n",
          "periods.csv": "period,segment_id,size\n1,young,80\n3,old,20\n",
          "receipts.csv": "period,product_id,units\n2,P1,30\n",
          "competitors.csv": "bundle_id,product_id,price,period\nA,,9.5,\n,P2,5.5,2\n"}
BAD = {
    "period outside horizon": ("periods.csv", "row 3", "period", {"periods.csv": "period,segment_id,size\n1,young,80\n4,old,20\n"}),
    "unknown segment": ("periods.csv", "row 2", "segment_id", {"periods.csv": "period,segment_id,size\n1,yung,80\n"}),
    "negative size": ("periods.csv", "row 3", "size", {"periods.csv": "period,segment_id,size\n1,young,80\n3,old,-2\n"}),
    "unknown product": ("receipts.csv", "row 2", "product_id", {"receipts.csv": "period,product_id,units\n2,P9,30\n"}),
    "negative units": ("receipts.csv", "row 2", "units", {"receipts.csv": "period,product_id,units\n2,P1,-1\n"}),
    "receipt outside horizon": ("receipts.csv", "row 2", "period", {"receipts.csv": "period,product_id,units\n0,P1,1\n"}),
    "negative competitor price": ("competitors.csv", "row 3", "price", {"competitors.csv": "bundle_id,product_id,price,period\nA,,9.5,\n,P2,-5.5,2\n"}),
    "unknown competitor product": ("competitors.csv", "row 3", "product_id", {"competitors.csv": "bundle_id,product_id,price,period\nA,,9.5,\n,P7,5.5,2\n"}),
    "competitor period outside horizon": ("competitors.csv", "row 3", "period", {"competitors.csv": "bundle_id,product_id,price,period\nA,,9.5,\n,P2,5.5,9\n"}),
    "negative switching cost": ("segments.csv", "row 3", "switching_cost", {"segments.csv": "segment_id,size,switching_cost\nyoung,100,0.5\nold,50,-1\n"}),
    "negative salvage": ("scenario.yaml", "", "horizon.salvage", {"scenario.yaml": SEASON["scenario.yaml"].replace("salvage: 0.2", "salvage: -0.2")}),
    "salvage without inventory": ("scenario.yaml", "", "horizon.salvage", {"scenario.yaml": SEASON["scenario.yaml"].replace("  inventory: true\n", "  min_margin: 0.1\n")}),
    "max_changes below 0": ("scenario.yaml", "", "markdown.max_changes", {"scenario.yaml": SEASON["scenario.yaml"].replace("max_changes: 1", "max_changes: -1")}),
    "horizon of 0": ("scenario.yaml", "", "horizon.periods", {"scenario.yaml": SEASON["scenario.yaml"].replace("periods: 3", "periods: 0")}),
    "horizon over 104": ("scenario.yaml", "", "horizon.periods", {"scenario.yaml": SEASON["scenario.yaml"].replace("periods: 3", "periods: 105")}),
    "periods without horizon": ("periods.csv", "row 2", "period", {"scenario.yaml": SEASON["scenario.yaml"].replace("horizon: {periods: 3, salvage: 0.2}\n", "")}),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_season_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, case: str) -> None:
    filename, row, field, changes = BAD[case]
    scen = write_dir(tmp_path / "scn", {**SEASON, **changes})
    out = tmp_path / "out"
    r = invoke("solve", str(scen), "--out", str(out))
    assert r.exit_code == 2, (r.output, r.exception)
    assert_one_error_line(r.stderr, filename)
    assert row in r.stderr and f"field '{field}'" in r.stderr, r.stderr
    assert not out.exists()


def test_a_season_solves_from_files_and_writes_period_columns(tmp_path: Path) -> None:
    scen = write_dir(tmp_path / "scn", SEASON)
    out = tmp_path / "out"
    r = invoke("solve", str(scen), "--out", str(out), "-q")
    assert r.exit_code == 0, r.output
    plan = pd.read_csv(out / "plan.csv")
    assert list(plan.columns[:4]) == ["period", "bundle_id", "segment_id", "price"]
    summary = json.loads((out / "summary.json").read_text())
    assert [p["period"] for p in summary["periods"]] == ["1", "2", "3"]
    assert summary["horizon"]["periods"] == ["1", "2", "3"]
    assert sum(p["objective"] for p in summary["periods"]) + summary["salvage_value"] == \
        pytest.approx(summary["objective"], abs=0.05)
    assert invoke("check", str(scen)).exit_code == 0
    assert invoke("export", str(scen), "--out", str(tmp_path / "m.lp")).exit_code == 0
    text = (tmp_path / "m.lp").read_text()
    assert "inventory" in text and "last_price" in text


def test_previous_plan_with_a_period_column_keeps_its_last_period(tmp_path: Path) -> None:
    prev = "period,bundle_id,segment_id,price\n1,A,*,10\n2,A,*,9\n2,B,*,6\n"
    scen = write_dir(tmp_path / "scn", {**SEASON, "previous_plan.csv": prev})
    sc = load_scenario(scen)
    assert sorted(zip(sc.previous_plan["bundle_id"], sc.previous_plan["price"])) == [("A", 9.0), ("B", 6.0)]


def test_explain_and_robustness_refuse_a_season(tmp_path: Path) -> None:
    scen = write_dir(tmp_path / "scn", SEASON)
    out = tmp_path / "out"
    assert invoke("solve", str(scen), "--out", str(out), "-q").exit_code == 0
    for args in (["explain", str(scen), "--plan", str(out), "--out", str(tmp_path / "e")],
                 ["robustness", str(scen), "--plan", str(out), "--out", str(tmp_path / "r")]):
        r = invoke(*args)
        assert r.exit_code == 2 and "season" in r.stderr, r.output
        assert len(r.stderr.strip().splitlines()) == 1


# ====================================================== one period: the same model
def _fingerprint(sc, backend: str) -> str:
    f = build_model(sc, backend).model.to_arrays()
    h = hashlib.sha256()
    A = f.A.tocsr()
    A.sort_indices()
    for a in (A.indptr, A.indices, np.round(A.data, 9), np.round(f.cost, 9), f.lo, f.hi, f.lb,
              f.ub, f.integer.astype(int)):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


# Computed with the code before seasons existed (commit 87051fa): a one-period scenario
# without any of the new files must build exactly the same matrix, bounds and objective.
BEFORE_SEASONS = {("grocery_week", "highs"): "505fd443de7256b6",
                  ("grocery_week", "cpsat"): "ce360ef80c2f28a8",
                  ("grocery_personal", "highs"): "0b63f399a5928711"}


@pytest.mark.parametrize("example, backend", sorted(BEFORE_SEASONS))
def test_one_period_scenarios_build_the_same_model_as_before(example, backend):
    sc = load_scenario(ROOT / "examples" / example)
    assert _fingerprint(sc, backend) == BEFORE_SEASONS[(example, backend)]


def test_each_period_on_its_own_keeps_stock_worth_more_as_salvage():
    """P costs 5, 10 in stock, salvage 0.8 (4 a unit left); A = P at 10 or 8; 10 shoppers
    with WTP 8 in period 1, none in period 2. Selling in period 1 earns 10 × (8 − 5) = 30
    and leaves nothing; keeping the stock earns 10 × 4 = 40. A period planned on its own
    must charge each unit its salvage value (8 − 5 − 4 < 0), or it sells at 8."""
    from formulations.evaluate import evaluate_plan
    from solver.season_start import weekly_plan

    sc = make_scenario(products=[("P", 5, 10, 10)], bundles=[("A", {"P": 1})],
                       segments=[("s", 10)], wtp=[("s", "A", 8)], discounts=[0, 0.2],
                       constraints={"inventory": True})
    sc = _season(sc, ["1", "2"], salvage=0.8, periods=[("2", "s", 0)])
    plan = weekly_plan(sc, 0.5)
    assert evaluate_plan(sc, plan).objective == pytest.approx(40.0), plan
    assert season_brute_force(sc)[0] == pytest.approx(40.0)
    r = solve(sc)
    assert r.status == "optimal" and r.objective == pytest.approx(40.0)
    assert r.summary["first_plan"]["objective"] == pytest.approx(40.0)


def test_a_charged_period_keeps_min_margin_on_the_real_costs():
    """min_margin 0.3 on cost 5 allows 10 and 8 (margins 0.5, 0.375), not 6 (0.17). The
    period's search charges each unit 4 more (salvage 0.8 × 5): on a cost of 9 the rule
    would allow nothing; as a price floor it still allows 10 and 8."""
    from formulations.offers import build_offer_space
    from solver.season_start import _charged

    sc = make_scenario(products=[("P", 5, 10, 10)], bundles=[("A", {"P": 1})],
                       segments=[("s", 10)], wtp=[("s", "A", 12)], discounts=[0, 0.2, 0.4],
                       constraints={"inventory": True, "min_margin": 0.3})
    sc = _season(sc, ["1", "2"], salvage=0.8)
    week = dataclasses.replace(sc.period_slice("1"), period=None)
    charged = _charged(week, sc, None, 0)
    assert charged.products["unit_cost"].tolist() == [9.0]
    prices = sorted(build_offer_space(charged).points["price"].tolist())
    assert prices == sorted(build_offer_space(week).points["price"].tolist()) == [8.0, 10.0]


@pytest.mark.parametrize("rules, weekly", [({}, 380.0), ({"no_increase": True}, 340.0)])
def test_a_season_starts_from_the_better_of_a_constant_plan_and_each_period_on_its_own(rules, weekly):
    """The markdown case pooled: 20 shoppers with WTP 10, 30 with WTP 6 — one price for
    the season earns most at 6 (50 × 6 = 300 > 20 × 10); all season at 6 earns
    60 + 180 + 60 = 300. Each period on its own: 10 (100), 6 (180), then 10 again (100:
    380) — or, with no_increase, 6 (60: 340). The first plan is the better one."""
    from formulations.evaluate import evaluate_plan
    from solver.season_start import pooled, weekly_plan

    sc = _markdown_case(**rules)
    plan = weekly_plan(sc, 0.5)
    assert list(plan["price"]) == [10.0, 6.0, 10.0 if not rules else 6.0]
    assert evaluate_plan(sc, plan).objective == pytest.approx(weekly)
    assert pooled(sc).segments["size"].tolist() == [20.0, 30.0]      # the constant plan's season
    r = solve(sc)
    assert r.summary["first_plan"]["objective"] == pytest.approx(max(300.0, weekly))
    assert r.objective == pytest.approx(weekly)          # both are optimal here (see above)


def test_a_season_round_trips_through_files_and_json(tmp_path: Path) -> None:
    from formulations.loading import scenario_from_tables, scenario_to_tables, write_scenario

    sc = load_scenario(write_dir(tmp_path / "scn", SEASON))
    write_scenario(sc, tmp_path / "again")
    back = load_scenario(tmp_path / "again")
    assert scenario_to_tables(back) == scenario_to_tables(sc)
    assert scenario_to_tables(scenario_from_tables(scenario_to_tables(sc))) == scenario_to_tables(sc)
    assert back.horizon == sc.horizon and len(back.competitors) == 2
    # a one-period scenario's JSON has none of the season tables
    one = load_scenario(ROOT / "examples" / "grocery_week")
    assert not {"periods", "receipts", "competitors"} & set(scenario_to_tables(one))


def test_mnl_must_offer_every_period_runs_out_of_stock_and_names_the_conflict():
    """MNL sells some of every offer on sale: 5 units cannot last three periods of 10
    shoppers (a share of at least 1/(1 + e^{0}) × 10 = 5 each period at the dearest
    price), so must_offer in every period conflicts with the stock."""
    sc = make_scenario(products=[("P", 0, 10, 5)], bundles=[("A", {"P": 1})],
                       segments=[("s", 10, 1.0)], wtp=[("s", "A", 10)], discounts=[0],
                       choice_model="mnl", constraints={"inventory": True, "must_offer": ("A",)})
    sc = _season(sc, ["1", "2", "3"])
    r = solve(sc)
    assert r.status == "infeasible"
    assert set(r.summary["conflicting_constraints"]) == {"inventory", "must_offer"}
    assert season_brute_force(sc) == (None, None)


def test_a_sweep_scales_competitor_prices_and_sets_markdown_rules():
    from bundleopt.study.changes import apply_changes

    sc = load_scenario(ROOT / "examples" / "grocery_season")
    out = apply_changes(sc, {"scale.competitor_price": 0.5, "markdown.max_changes": 1})
    assert out.competitors["price"].to_numpy() == pytest.approx(sc.competitors["price"].to_numpy() * 0.5)
    assert out.constraints.get("max_changes") == 1
