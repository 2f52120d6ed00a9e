"""Adding a rule takes one module; removing one for a what-if takes one call.

Two toy rules are defined here, each as one class registered with the catalogue — a cap
on the total expected number of offers sold (rows on the demand variables) and a banned
price point (pruned from the offer space). Nothing else in the package is told about
them: the test shows they are read from scenario.yaml, validated with a one-line
error, written back, pruned or turned into rows, checked by the plan evaluator, named
when they bind, and that the optimum agrees with brute-force enumeration under them.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bruteforce import allowed_prices, brute_force  # noqa: E402
from random_scenarios import CONSTRAINT_NAMES, random_scenario  # noqa: E402

from formulations import InputError, load_scenario, write_scenario  # noqa: E402
from formulations.build import build_model  # noqa: E402
from formulations.checks import check_setting_number  # noqa: E402
from formulations.evaluate import evaluate_plan  # noqa: E402
from formulations.linear import Terms  # noqa: E402
from formulations.money import to_cents  # noqa: E402
from formulations.rules import PriceRule, Rule, all_rules, register, unregister  # noqa: E402
from formulations.schema import number  # noqa: E402
from solver.api import solve  # noqa: E402
from solver.heuristic import _plan, _Search  # noqa: E402

REL = ABS = 1e-6


# ---------------------------------------------------------------- the toy rules
class MaxTotalSales(Rule):
    """``max_total_sales: U`` — at most U offers sold in expectation, over all segments."""

    key = field = "max_total_sales"

    def validate(self, value, scenario, src) -> None:
        check_setting_number(value, self.yaml_key, src, lo=0.0)

    def add_rows(self, rows) -> None:
        n = len(rows.per_arc)
        rows.model.add_constraints("max_total_sales", pd.DataFrame({"all": ["*"]}), [
            Terms(rows.demand, np.zeros(n, np.int64), np.arange(n), rows.per_arc)],
            hi=float(self.value(rows.space.scenario)))

    def check(self, scenario, view) -> None:
        cap = self.value(scenario)
        if view.units > cap + 1e-6 * max(1.0, cap):
            view.violations.append(f"max_total_sales: {view.units:g} > {cap:g}")
        elif view.units >= cap - 1e-6 * max(1.0, cap):
            view.binding.append(self.key)


class BannedPrices(PriceRule):
    """``pricing_rules.banned: [p, ...]`` — no offer is sold at these prices."""

    key = "pricing_rules.banned"
    field = "banned_prices"
    off = ()

    def parse(self, value, key, src):
        if not isinstance(value, list):
            raise InputError(src, f"expected a list of prices, found {value!r}", field=key)
        return tuple(number(v, key, src) for v in value)

    def validate(self, value, scenario, src) -> None:
        for v in value:
            check_setting_number(v, self.yaml_key, src, lo=0.0, lo_open=True)

    def to_yaml(self, value):
        return [float(v) for v in value]

    def allows(self, scenario, prices):
        banned = to_cents(np.asarray(self.value(scenario), float))
        return ~np.isin(to_cents(prices["price"].to_numpy(float)), banned)


@pytest.fixture
def toy_rules():
    register(MaxTotalSales)
    register(BannedPrices)
    yield
    unregister(MaxTotalSales.key)
    unregister(BannedPrices.key)


def _sales(scenario) -> float:
    return float(scenario.segments["size"].sum())


# ---------------------------------------------------------------- file round trip
def test_toy_rule_is_read_validated_and_written(toy_rules, tmp_path: Path) -> None:
    sc = random_scenario(np.random.default_rng(1)).with_constraints(max_total_sales=7.5,
                                                                     banned_prices=(3.0,))
    write_scenario(sc, tmp_path / "s")
    text = yaml.safe_load((tmp_path / "s" / "scenario.yaml").read_text())
    assert text["constraints"] == {"max_total_sales": 7.5, "pricing_rules": {"banned": [3.0]}}
    back = load_scenario(tmp_path / "s")
    assert back.constraints.get("max_total_sales") == 7.5
    assert back.constraints.get("banned_prices") == (3.0,)
    assert back.constraints.active() == ["max_total_sales", "pricing_rules.banned"]

    text["constraints"]["max_total_sales"] = -1
    (tmp_path / "s" / "scenario.yaml").write_text(yaml.safe_dump(text))
    with pytest.raises(InputError) as err:
        load_scenario(tmp_path / "s")
    assert str(err.value) == ("scenario.yaml, field 'constraints.max_total_sales': "
                              "expected a number ≥ 0, found -1")
    text["constraints"]["max_total_sale"] = 3
    (tmp_path / "s" / "scenario.yaml").write_text(yaml.safe_dump(text))
    with pytest.raises(InputError, match="did you mean 'max_total_sales'"):
        load_scenario(tmp_path / "s")


def test_unregistered_rule_is_unknown(tmp_path: Path) -> None:
    sc = random_scenario(np.random.default_rng(1)).replace()
    write_scenario(sc, tmp_path / "s")
    path = tmp_path / "s" / "scenario.yaml"
    path.write_text(path.read_text() + "constraints: {max_total_sales: 3}\n")
    with pytest.raises(InputError, match="unknown key 'max_total_sales'"):
        load_scenario(tmp_path / "s")


# ---------------------------------------------------------------- model and evaluator
def test_toy_rules_prune_add_rows_and_are_checked(toy_rules) -> None:
    sc = random_scenario(np.random.default_rng(3), constraints={"max_offers"})
    free = solve(sc)
    assert free.status == "optimal" and len(free.plan)
    price = float(free.plan["price"].iloc[0])
    cap = 0.5 * float(free.plan["expected_units"].sum())
    capped = sc.with_constraints(max_total_sales=cap, banned_prices=(price,))

    built = build_model(capped)
    assert "max_total_sales" in built.model.cons
    assert built.space.pruned["pricing_rules.banned"] > 0
    assert not np.isin(to_cents(built.space.points["price"]), to_cents(price)).any()

    ev = evaluate_plan(capped, free.plan[["bundle_id", "segment_id", "price"]])
    assert any(v.startswith("max_total_sales") for v in ev.violations)
    assert any(v.startswith("pricing_rules.banned broken") for v in ev.violations)

    res = solve(capped)
    assert res.status == "optimal" and res.summary["violations"] == []
    assert float(res.plan["expected_units"].sum()) <= cap + 1e-6
    assert res.objective <= free.objective + 1e-6
    # a plan that sells exactly the cap holds it with no slack: the rule binds
    exact = sc.with_constraints(max_total_sales=float(free.plan["expected_units"].sum()))
    ev = evaluate_plan(exact, free.plan[["bundle_id", "segment_id", "price"]])
    assert ev.violations == [] and "max_total_sales" in ev.binding


# ---------------------------------------------------------------- brute force
CASES = [("uniform", "first_choice"), ("personalized", "first_choice"), ("uniform", "mnl"),
         ("personalized", "mnl")]


@pytest.mark.parametrize("pricing, choice", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_toy_rules_agree_with_brute_force(toy_rules, pricing: str, choice: str, seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    sc = random_scenario(rng, pricing=pricing, choice_model=choice, max_plans=600)
    cap = round(float(rng.uniform(0.5, 0.95)) * _sales(sc), 2)
    allowed = allowed_prices(sc)
    ladder = sorted({p for ps in allowed.values() for p in ps})
    banned = (float(rng.choice(ladder)),) if ladder else ()
    sc = sc.with_constraints(max_total_sales=cap, banned_prices=banned)

    allowed = {k: [p for p in ps if to_cents(p) not in to_cents(np.array(banned))]
               for k, ps in allowed.items()}
    best, _ = brute_force(sc, allowed=allowed,
                          accept=lambda plan, ev: sum(ev.demand.values()) <= cap + 1e-6)
    res = solve(sc, threads=1)
    if best is None:
        assert res.status == "infeasible"
        return
    assert res.status == "optimal" and res.summary["violations"] == []
    assert res.objective == pytest.approx(best, rel=REL, abs=ABS)


# ---------------------------------------------------------------- what-if: one call
def test_without_rule_switches_one_rule_off() -> None:
    sc = random_scenario(np.random.default_rng(5), pricing="personalized",
                         constraints={"max_price_spread", "max_offers"})
    assert {"fairness.max_price_spread", "max_offers"} <= set(sc.constraints.active())
    off = sc.without_rule("fairness.max_price_spread")
    assert "fairness.max_price_spread" not in off.constraints.active()
    assert off.constraints.max_offers == sc.constraints.max_offers
    assert sc.without_rule("max_price_spread").constraints == off.constraints
    assert sc.constraints.max_price_spread is not None        # the original is untouched
    assert set(sc.without_rules(["max_offers", "fairness.max_price_spread"])
               .constraints.active()) == set(sc.constraints.active()) - {
        "max_offers", "fairness.max_price_spread"}
    with pytest.raises(KeyError, match="did you mean 'max_offers'"):
        sc.without_rule("max_offer")


# ---------------------------------------------------------------- the first plan's search
def test_every_rule_with_rows_checks_the_searchs_plans_too() -> None:
    # a rule that adds rows but gives the search no check leaves the first plan's search
    # visiting plans that break it (its final plan is then rejected: no first plan)
    for rule in all_rules():
        if type(rule).add_rows is not Rule.add_rows:
            assert type(rule).search_check is not Rule.search_check, rule.key


@pytest.mark.parametrize("seed", range(20))
def test_the_searchs_checks_say_what_the_evaluator_says(seed: int) -> None:
    """On random plans of random scenarios, the rules' search checks (solver.heuristic)
    accept a plan exactly when the plan evaluator finds no violation."""
    rng = np.random.default_rng(7000 + seed)
    rules = {CONSTRAINT_NAMES[seed % len(CONSTRAINT_NAMES)]} | set(
        rng.choice(CONSTRAINT_NAMES, size=int(rng.integers(0, 3)), replace=False))
    sc = random_scenario(rng, pricing=("uniform", "personalized")[seed % 2],
                         choice_model=("first_choice", "mnl")[(seed // 2) % 2], constraints=rules)
    space = build_model(sc).space
    if space.no_price or not len(space.points):
        return
    h = _Search(space)
    for _ in range(15):
        sel = np.full(h.n_groups, -1, np.int64)
        for j in rng.permutation(h.n_points)[: int(rng.integers(0, h.n_points + 1))]:
            sel[h.point_group[j]] = j
        ev = evaluate_plan(sc, _plan(space, sel[sel >= 0]))
        assert h.evaluate(sel)[1] == (ev.violations == []), (sorted(rules), ev.violations)
