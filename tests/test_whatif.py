"""What-if studies (bundleopt.study) against brute force, on a real local Ray.

Every number a study reports is checked against something computed independently:
sweep rows against exhaustive enumeration of the variant (the variant itself is built
here with dataclasses.replace, not with the study's own change code), rule costs
against enumeration with and without the rule, each move against the independent
evaluator of bruteforce.py, robustness with zero spread against the plan's
objective, and expected_profit against enumeration of the sample-average scenario.

One Ray session (2 CPUs, no dashboard) serves the whole module.
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ray          # in the [test] extra: these tests run Ray for real
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bruteforce import brute_force, evaluate  # noqa: E402
from random_scenarios import make_scenario, random_scenario  # noqa: E402
from test_cli import write_dir  # noqa: E402

from formulations.evaluate import evaluate_plan  # noqa: E402
from formulations.robust import draw_wtp, offer_wtp_sd, saa_scenario  # noqa: E402
from formulations.scenario import RobustOptions  # noqa: E402
from solver.api import solve  # noqa: E402
from bundleopt.cli import main  # noqa: E402
from bundleopt.study import Study  # noqa: E402
from bundleopt.study.explain import rule_costs  # noqa: E402
from bundleopt.study.moves import moves  # noqa: E402
from bundleopt.study.robustness import robustness  # noqa: E402

TOL = dict(rel=1e-6, abs=1e-6)


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _plan_dict(scenario, plan: pd.DataFrame) -> dict:
    if scenario.pricing == "uniform":
        return {b: float(p) for b, p in zip(plan["bundle_id"], plan["price"])}
    return {(s, b): float(p) for b, s, p in zip(plan["bundle_id"], plan["segment_id"], plan["price"])}


# ------------------------------------------------------------------- sweeps
def _variant(base, changes: dict):
    """The variant built directly (independently of bundleopt.study.changes)."""
    c, kw = {}, {}
    for key, v in changes.items():
        if key == "constraints.max_offers":
            c["max_offers"] = v
        elif key == "constraints.fairness.max_price_spread":
            c["max_price_spread"] = v
        elif key == "objective":
            kw["objective"] = v
        elif key == "scale.wtp":
            kw["wtp"] = base.wtp.assign(wtp=base.wtp["wtp"] * v)
        elif key == "scale.unit_cost":
            kw["products"] = base.products.assign(unit_cost=base.products["unit_cost"] * v)
        elif key == "scale.size":
            kw["segments"] = base.segments.assign(size=base.segments["size"] * v)
        else:
            raise AssertionError(key)
    return dataclasses.replace(base, constraints=dataclasses.replace(base.constraints, **c), **kw)


SWEEP_CASES = [
    # (seed, scenario kwargs, grid)
    (1, dict(constraints={"max_offers", "inventory"}),
     {"constraints.max_offers": [1, 2], "scale.wtp": [0.8, 1.25]}),
    (2, dict(objective="revenue", constraints={"min_margin"}),
     {"objective": ["profit", "revenue"], "scale.unit_cost": [0.5, 1.5]}),
    (3, dict(pricing="personalized", constraints={"max_price_spread"}),
     {"constraints.fairness.max_price_spread": [0.0, 0.1, 0.3]}),
    (4, dict(choice_model="mnl", constraints={"max_offers"}),
     {"constraints.max_offers": [1, 3], "scale.size": [0.5, 2.0]}),
    (5, dict(constraints={"inventory", "must_offer"}), {"scale.size": [0.5, 1.0, 3.0]}),
]


@pytest.mark.parametrize("seed, kw, grid", SWEEP_CASES)
def test_every_sweep_row_is_the_brute_force_optimum_of_its_variant(seed, kw, grid):
    base = random_scenario(np.random.default_rng(seed), max_plans=400, **kw)
    results = Study.grid(base, grid).run(workers=1).results
    cols = ["set.objective" if k == "objective" else k for k in grid]
    assert list(results.columns) == cols + [
        "status", "objective", "bound", "gap", "revenue", "profit", "units", "surplus", "offers",
        "solve_seconds", "variant", "message"]
    assert len(results) == math.prod(len(v) for v in grid.values())
    for row in results.to_dict("records"):
        variant = _variant(base, {k: row[c] for k, c in zip(grid, cols)})
        best, _ = brute_force(variant)
        if best is None:
            assert row["status"] == "infeasible" and row["message"], row
        else:
            assert row["status"] == "optimal", row
            assert row["objective"] == pytest.approx(best, **TOL), row
            assert row[variant.objective] == pytest.approx(best, **TOL)


def test_a_rejected_value_is_an_invalid_row_not_a_crash():
    base = random_scenario(np.random.default_rng(7), max_plans=200)
    variants = [{"constraints.max_offers": -1}, {"scale.unit_cost": -1.0}, {"constraints.max_offers": 1}]
    res = Study(base, variants).run(workers=1).results
    assert list(res["status"][:2]) == ["invalid", "invalid"] and res["status"][2] == "optimal"
    assert "max_offers" in res["message"][0] and "unit_cost" in res["message"][1]
    assert pd.isna(res["scale.unit_cost"][0]) and res["scale.unit_cost"][1] == -1.0


def test_local_pool_and_ray_give_identical_rows(ray_session, tmp_path):
    base = random_scenario(np.random.default_rng(11), max_plans=400, constraints={"max_offers", "inventory"})
    study = Study.grid(base, {"constraints.max_offers": [0, 1, 2, 3], "scale.wtp": [0.9, 1.1],
                              "constraints.inventory": [True, False]})
    local = study.run("local", workers=2)
    remote = study.run("ray")
    assert ray.is_initialized()          # the shared session is left open
    drop = ["solve_seconds"]
    pd.testing.assert_frame_equal(local.results.drop(columns=drop), remote.results.drop(columns=drop))
    # files: each variant's plan.csv / summary.json as `solve` writes them
    remote.write(tmp_path / "sweep")
    vr = next(v for v in remote.variants if v.status == "optimal")
    direct = solve(_variant(base, {"constraints.max_offers": vr.changes["constraints.max_offers"],
                                   "scale.wtp": vr.changes["scale.wtp"]}).with_constraints(
        inventory=vr.changes["constraints.inventory"]), threads=1)
    direct.write(tmp_path / "direct")
    assert (tmp_path / "sweep" / vr.name / "plan.csv").read_text() == (tmp_path / "direct" / "plan.csv").read_text()
    a = json.loads((tmp_path / "sweep" / vr.name / "summary.json").read_text())
    b = json.loads((tmp_path / "direct" / "summary.json").read_text())
    for k in ("build_seconds", "solve_seconds", "handoff_seconds"):   # times differ run to run
        a.pop(k), b.pop(k)
    for d in (a, b):
        if d.get("first_plan"):
            d["first_plan"].pop("seconds")
    assert a == b
    frontier = pd.read_csv(tmp_path / "sweep" / "frontier.csv")
    assert list(frontier.columns) == study.keys + ["objective", "surplus", "pareto"]
    ok = frontier.dropna(subset=["objective"])
    for r in ok.itertuples():     # Pareto: nobody at least as good on both and better on one
        dominated = ((ok["objective"] >= r.objective) & (ok["surplus"] >= r.surplus)
                     & ((ok["objective"] > r.objective) | (ok["surplus"] > r.surplus))).any()
        assert r.pareto == (not dominated)


def test_cli_sweep_on_a_ray_cluster_matches_local(ray_session, tmp_path):
    scen = write_dir(tmp_path / "tiny")
    runner = CliRunner()
    sets = ["--set", "constraints.max_offers=1,2", "--set", "constraints.must_offer=[A],[B, AB]"]
    r1 = runner.invoke(main, ["sweep", str(scen), *sets, "--out", str(tmp_path / "a"), "--workers", "1",
                              "--report"])
    r2 = runner.invoke(main, ["sweep", str(scen), *sets, "--out", str(tmp_path / "b"),
                              "--executor", "ray", "--address", ray_session])
    assert r1.exit_code == 0 and r2.exit_code == 0, (r1.output, r2.output)
    a, b = (pd.read_csv(tmp_path / d / "results.csv") for d in "ab")
    pd.testing.assert_frame_equal(a.drop(columns="solve_seconds"), b.drop(columns="solve_seconds"))
    assert list(a["constraints.must_offer"]) == ["[A]", "[B, AB]", "[A]", "[B, AB]"]
    # hand-worked: max_offers 2 with AB allowed earns the tiny scenario's 890
    assert a.loc[3, "objective"] == pytest.approx(890.0)
    assert "4/4 variants done" in r1.output
    html = (tmp_path / "a" / "report.html").read_text()     # --report: the study's page
    assert all(v in html for v in a["variant"]) and not (tmp_path / "b" / "report.html").exists()
    for v in a["variant"][a["status"] == "optimal"]:
        assert (tmp_path / "a" / v / "plan.csv").exists() and (tmp_path / "a" / v / "summary.json").exists()


def test_console_sweep_starts_and_stops_its_own_local_ray(tmp_path):
    """The real entry point, as a merchandiser runs it: no cluster running beforehand."""
    import subprocess

    scen = write_dir(tmp_path / "tiny")
    exe = Path(sys.executable).with_name("bundleopt")
    cmd = [str(exe), "sweep", str(scen), "--set", "scale.wtp=0.9,1.0", "--out"]
    local = subprocess.run(cmd + [str(tmp_path / "a"), "--workers", "1"], capture_output=True, text=True, timeout=300)
    remote = subprocess.run(cmd + [str(tmp_path / "b"), "--executor", "ray", "--workers", "1"],
                            capture_output=True, text=True, timeout=300)
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr
    assert "Traceback" not in remote.stderr and "2/2 variants done" in remote.stderr
    a, b = (pd.read_csv(tmp_path / d / "results.csv") for d in "ab")
    pd.testing.assert_frame_equal(a.drop(columns="solve_seconds"), b.drop(columns="solve_seconds"))
    assert b.loc[1, "objective"] == pytest.approx(890.0)


@pytest.mark.parametrize("opt, words", [
    ("constraints.max_offer=1,2", ["unknown key", "constraints.max_offers"]),
    ("max_offers=1", ["unknown key", "constraints.max_offers"]),
    ("constraints.max_offers=1,abc", ["max_offers", "integer", "abc"]),
    ("constraints.must_offer=[A,B", ["must_offer", "["]),
    ("scale.wtp=", ["scale.wtp", "empty"]),
    ("constraints.inventory=maybe", ["inventory", "true or false"]),
])
def test_bad_set_is_one_line_exit_2_before_anything_runs(tmp_path, opt, words):
    scen = write_dir(tmp_path / "tiny")
    r = CliRunner().invoke(main, ["sweep", str(scen), "--set", opt, "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert all(w in lines[0] for w in words), lines[0]
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------ rule costs, moves
RULE_CASES = [
    (21, dict(constraints={"max_offers", "inventory", "min_margin"})),
    (22, dict(pricing="personalized", constraints={"max_price_spread", "coverage"})),
    (23, dict(constraints={"must_offer", "exclude", "no_arbitrage"})),
    (24, dict(choice_model="mnl", constraints={"max_offers", "price_change"})),
]


@pytest.mark.parametrize("seed, kw", RULE_CASES)
def test_rule_costs_equal_brute_force_without_minus_with(ray_session, seed, kw):
    rng = np.random.default_rng(seed)
    for _ in range(3):
        base = random_scenario(rng, max_plans=600, **kw)
        res = solve(base)
        if res.has_plan:
            _check_rule_costs(base, res)


def _check_rule_costs(base, res) -> None:
    costs = rule_costs(base, res.plan, executor="ray")
    with_rule, _ = brute_force(base)
    assert list(costs["rule"]) == base.constraints.active()
    for r in costs.itertuples():
        field = {"fairness.max_price_spread": "max_price_spread", "fairness.coverage": "coverage",
                 "price_change.max_relative": "max_price_change"}.get(r.rule, r.rule)
        off = {f.name: f.default for f in dataclasses.fields(base.constraints)}[field]
        without, _ = brute_force(dataclasses.replace(
            base, constraints=dataclasses.replace(base.constraints, **{field: off})))
        assert r.status == "optimal"
        assert r.objective_without == pytest.approx(without, **TOL)
        assert r.cost == pytest.approx(without - with_rule, **TOL)
        assert r.cost >= -1e-6


@pytest.mark.parametrize("seed, kw", RULE_CASES)
def test_every_move_is_the_exact_value_of_that_one_change(seed, kw):
    rng = np.random.default_rng(seed)
    for _ in range(3):
        base = random_scenario(rng, max_plans=3000, **kw)
        res = solve(base)
        _check_moves(base, res.plan[["bundle_id", "segment_id", "price"]])


def _check_moves(base, plan) -> None:
    mv = moves(base, plan, workers=1)
    before = _plan_dict(base, plan)
    _, base_obj, base_ev = evaluate(base, before)
    on_sale = {(b, s) for b, s in zip(plan["bundle_id"], plan["segment_id"])}
    assert set(mv.loc[mv["move"] == "drop", ["bundle_id", "audience"]].itertuples(index=False, name=None)) == on_sale
    assert not (set(mv.loc[mv["move"] == "add", ["bundle_id", "audience"]].itertuples(index=False, name=None)) & on_sale)
    for r in mv.itertuples():
        key = r.bundle_id if base.pricing == "uniform" else (r.audience, r.bundle_id)
        after = dict(before)
        if r.move == "drop":
            after.pop(key)
        else:
            assert r.new_price > r.price if r.move == "up" else r.new_price < r.price if r.move == "down" else True
            after[key] = r.new_price
        feasible, obj, ev = evaluate(base, after)      # the independent evaluator
        assert r.objective_after == pytest.approx(obj, **TOL), r
        assert r.delta == pytest.approx(obj - base_obj, **TOL), r
        assert (r.breaks if isinstance(r.breaks, str) else "") == "" or not feasible, r
        if feasible:
            assert not isinstance(r.breaks, str) or r.breaks == "", r


def test_explain_cli_writes_both_files(tmp_path):
    scen = write_dir(tmp_path / "tiny")
    runner = CliRunner()
    assert runner.invoke(main, ["solve", str(scen), "--out", str(tmp_path / "plan"), "-q"]).exit_code == 0
    r = runner.invoke(main, ["explain", str(scen), "--plan", str(tmp_path / "plan"), "--out",
                             str(tmp_path / "ex"), "--workers", "1"])
    assert r.exit_code == 0, r.output
    costs = pd.read_csv(tmp_path / "ex" / "rule_costs.csv")
    assert list(costs.columns) == ["rule", "objective_without", "cost", "status", "plan_breaks"]
    assert list(costs["rule"]) == ["min_margin"] and costs["plan_breaks"].isna().all()
    assert "warning" not in r.output       # the optimal plan keeps every rule
    mv = pd.read_csv(tmp_path / "ex" / "moves.csv")
    assert list(mv.columns) == ["bundle_id", "audience", "price", "move", "new_price",
                                "objective_after", "delta", "breaks"]
    assert set(mv["audience"]) == {"*"}
    # no move beats the optimum without breaking a rule
    assert (mv.loc[mv["breaks"].isna(), "delta"] <= 1e-6).all()
    bad = runner.invoke(main, ["explain", str(scen), "--plan", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1


# --------------------------------------------------------------- robustness
@pytest.mark.parametrize("seed, kw", [
    (31, dict(constraints={"inventory"})), (32, dict(pricing="personalized")),
    (33, dict(choice_model="mnl")), (34, dict(objective="revenue", wtp_level="product")),
])
def test_robustness_zero_spread_is_the_objective_and_seeds_reproduce(seed, kw):
    base = random_scenario(np.random.default_rng(seed), max_plans=400, **kw)
    plan = solve(base).plan
    obj = evaluate_plan(base, plan).objective
    zero = robustness(base, plan, draws=50, seed=1, wtp_cv=0.0)
    for k in ("mean", "p5", "p50", "p95"):
        assert zero[k] == pytest.approx(obj, rel=1e-12, abs=1e-9)
    a = robustness(base, plan, draws=200, seed=5, wtp_cv=0.2)
    assert a == robustness(base, plan, draws=200, seed=5, wtp_cv=0.2)
    assert a != robustness(base, plan, draws=200, seed=6, wtp_cv=0.2)
    assert a["p5"] <= a["p50"] <= a["p95"]
    assert set(a["stockout_probability"]) == set(base.products.index)
    assert all(0 <= v <= 1 for v in a["stockout_probability"].values())
    assert set(a["segment_buy_rate"]) == set(base.segments.index)


@pytest.mark.parametrize("seed, kw", [(41, dict(constraints={"inventory"})), (42, dict(choice_model="mnl")),
                                      (43, dict(wtp_level="product"))])
def test_robustness_mean_is_the_plan_evaluated_on_the_same_draws(seed, kw):
    """The vectorised re-scoring against evaluate_plan on the SAA scenario (same draws)."""
    base = random_scenario(np.random.default_rng(seed), max_plans=400, **kw)
    plan = solve(base).plan[["bundle_id", "segment_id", "price"]]
    rob = robustness(base, plan, draws=30, seed=9, wtp_cv=0.15)
    saa = dataclasses.replace(base, objective="expected_profit", robust=RobustOptions(30, 9, 0.15))
    assert rob["mean"] == pytest.approx(evaluate_plan(saa, plan).objective, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("seed, kw", [(35, dict(choice_model="mnl")),
                                      (36, dict(choice_model="mnl", pricing="personalized"))])
def test_robustness_zero_spread_reproduces_a_plan_sold_to_negative_wtps(seed, kw):
    """A negative WTP is floored at itself, not at 0, so zero spread is still the objective."""
    rng = np.random.default_rng(seed)
    for _ in range(30):
        base = random_scenario(rng, max_plans=400, negative_wtp=0.4, **kw)
        plan = solve(base).plan
        w = base.offer_wtp().merge(plan, on="bundle_id")
        w = w[(w["segment_id_x"] == w["segment_id_y"]) | (w["segment_id_y"] == "*")]
        if (w["wtp"] < 0).any():       # the plan sells to some segment below its WTP of 0
            break
    assert (w["wtp"] < 0).any()
    obj = evaluate_plan(base, plan).objective
    for sd in (dict(wtp_cv=0.0), dict(wtp_cv=None)):        # cv 0, and wtp_sd = 0 everywhere
        sc = base if sd["wtp_cv"] == 0.0 else base.replace(wtp=base.wtp.assign(wtp_sd=0.0))
        zero = robustness(sc, plan, draws=20, seed=3, **sd)
        assert zero["mean"] == pytest.approx(obj, rel=1e-12, abs=1e-9)
        assert zero["p5"] == pytest.approx(obj, rel=1e-12, abs=1e-9)


def test_wtp_draws_floor_at_zero_or_at_a_negative_estimate():
    w = pd.DataFrame({"wtp": [5.0, -3.0, 0.0], "sd": [10.0, 10.0, 10.0]})
    d = draw_wtp(w, 4000, seed=2)
    assert (d[:, 0] >= 0).all() and (d[:, 0] == 0).mean() > 0.2       # P(N(5, 10) < 0) ≈ 0.31
    assert (d[:, 1] >= -3.0).all() and (d[:, 1] == -3.0).mean() == pytest.approx(0.5, abs=0.05)
    assert (d[:, 2] >= 0).all() and d[:, 2].max() > 10
    # cv × |w|: a negative estimate gets a spread, not a negative standard deviation
    sc = make_scenario(products=[("P", 1, 10, None)], bundles=[("A", {"P": 1})], segments=[("s", 10, 0.5)],
                       wtp=[("s", "A", -4.0)], choice_model="mnl")
    assert offer_wtp_sd(sc, cv=0.25)["sd"].iloc[0] == pytest.approx(1.0)


def test_wtp_sd_of_a_bundle_from_product_sds():
    sc = make_scenario(products=[("P", 1, 10, None), ("Q", 1, 10, None)],
                       bundles=[("PQ", {"P": 1, "Q": 2}, 0.2), ("P1", {"P": 1})],
                       segments=[("s", 10)], wtp=[("s", "P", 8.0), ("s", "Q", 6.0)],
                       wtp_level="product")
    sc = sc.replace(wtp=sc.wtp.assign(wtp_sd=[1.0, np.nan]))
    w = offer_wtp_sd(sc, cv=0.5).set_index("bundle_id")
    # P: sd 1; Q: no sd → 0.5 × 6 = 3; PQ = (1.2) sqrt(1² + 2²·3²)
    assert w.at["P1", "sd"] == pytest.approx(1.0)
    assert w.at["PQ", "sd"] == pytest.approx(1.2 * math.sqrt(1 + 36))


def test_robustness_cli(tmp_path):
    scen = write_dir(tmp_path / "tiny")
    runner = CliRunner()
    runner.invoke(main, ["solve", str(scen), "--out", str(tmp_path / "plan"), "-q"])
    r = runner.invoke(main, ["robustness", str(scen), "--plan", str(tmp_path / "plan"), "--draws", "100",
                             "--seed", "4", "--wtp-cv", "0", "--out", str(tmp_path / "rob")])
    assert r.exit_code == 0, r.output
    out = json.loads((tmp_path / "rob" / "robustness.json").read_text())
    assert {"mean", "p5", "p50", "p95", "stockout_probability", "segment_buy_rate"} <= set(out)
    assert out["mean"] == pytest.approx(890.0)
    assert out["segment_buy_rate"] == {"young": 1.0, "old": 1.0}


# ---------------------------------------------------------- expected_profit
@pytest.mark.parametrize("seed, kw, draws", [
    (51, dict(), 3), (52, dict(choice_model="mnl"), 2),
    (53, dict(constraints={"inventory", "max_offers"}), 3), (54, dict(wtp_level="product"), 4),
    (55, dict(constraints={"coverage"}), 3), (56, dict(constraints={"price_change", "min_margin"}), 3),
])
def test_expected_profit_optimum_is_brute_force_over_the_saa_scenario(seed, kw, draws):
    base = random_scenario(np.random.default_rng(seed), max_plans=300, **kw)
    sc = base.replace(objective="expected_profit", robust=RobustOptions(draws, seed, 0.2))
    best, _ = brute_force(saa_scenario(sc))
    res = solve(sc)
    # an MNL model that relaxes segments past e^20 proves a plan optimal only if its exact
    # value meets the bound (formulations.mnl, solver.api.RELAXED_MODEL)
    relaxed = any("shares are relaxed" in n for n in res.summary["notes"])
    assert res.status == "optimal" or (relaxed and res.status == "feasible"), res.status
    assert res.objective == pytest.approx(best, **TOL)
    assert set(res.segments["segment_id"]) == set(base.segments.index)


def test_expected_profit_loads_and_round_trips(tmp_path):
    from formulations.loading import load_scenario, write_scenario

    yaml_text = ("pricing: uniform\nobjective: expected_profit\nrobust: {draws: 4, seed: 7, wtp_cv: 0.1}\n"
                 "price_ladder: {discounts: [0.0, 0.1]}\n")
    scen = write_dir(tmp_path / "tiny", {"scenario.yaml": yaml_text})
    sc = load_scenario(scen)
    assert sc.objective == "expected_profit" and sc.robust == RobustOptions(4, 7, 0.1)
    write_scenario(sc, tmp_path / "again")
    assert load_scenario(tmp_path / "again").robust == sc.robust
    r = CliRunner().invoke(main, ["check", str(write_dir(tmp_path / "bad", {
        "scenario.yaml": "objective: expected_profit\n"}))])
    assert r.exit_code == 2 and "robust" in r.output


def test_robustness_of_the_empty_plan_is_zero():
    base = random_scenario(np.random.default_rng(61), max_plans=200)
    empty = pd.DataFrame({"bundle_id": pd.Series(dtype=object), "segment_id": pd.Series(dtype=object),
                          "price": pd.Series(dtype=float)})
    r = robustness(base, empty, draws=20, seed=0, wtp_cv=0.3)
    assert r["mean"] == r["p95"] == 0.0 and set(r["segment_buy_rate"].values()) <= {0.0, None}
