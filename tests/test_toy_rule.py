"""A rule defined in this file alone is honoured everywhere: the proof that the rule
catalogue is the only place that knows a rule.

The toy rule ``toy.never_together: [A, B]`` — offers A and B are never both on sale (to
anyone) — is one class: schema, validation, rows, plan check, the first plan's search
check. Registered with the catalogue (and unregistered after), it is honoured by the
exact MIP (HiGHS), by the first plan's search, by the plan evaluator, by a study's
``--set`` and by ``bundleopt explain``, each checked against brute-force enumeration
(``bruteforce.py``, told about the rule through its ``accept`` hook) on small random
scenarios.
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bruteforce import brute_force, evaluate, plan_from_frame  # noqa: E402
from random_scenarios import random_scenario  # noqa: E402

from bundleopt.cli import main  # noqa: E402
from bundleopt.study import Study  # noqa: E402
from bundleopt.study.changes import parse_set  # noqa: E402
from bundleopt.study.explain import rule_costs  # noqa: E402
from formulations import write_scenario  # noqa: E402
from formulations.build import build_model  # noqa: E402
from formulations.evaluate import evaluate_plan  # noqa: E402
from formulations.linear import Terms  # noqa: E402
from formulations.rules import IdListRule, register, unregister  # noqa: E402
from solver.api import solve  # noqa: E402
from solver.heuristic import _Search, heuristic_plan  # noqa: E402

TOL = dict(rel=1e-6, abs=1e-6)
KEY = "toy.never_together"


# ---------------------------------------------------------------- the toy rule
class NeverTogether(IdListRule):
    """``toy.never_together: [A, B]`` — offers A and B are never both on sale."""

    key = KEY
    field = "never_together"

    def validate(self, value, scenario, src) -> None:
        super().validate(value, scenario, src)
        if len(value) not in (0, 2):          # () = not imposed
            raise src.setting_error(self.yaml_key, f"expected two offers, found {len(value)}")

    def add_rows(self, rows) -> None:
        # Σ_{J_gA} x + Σ_{J_hB} x ≤ 1 for every audience g of A and h of B
        space = rows.space
        b_of, seg_of = space.points["b"].to_numpy(), space.points["seg"].to_numpy()
        code = {bid: i for i, bid in enumerate(space.bundle_ids)}
        a, b = (code.get(o) for o in self.value(space.scenario))
        if a is None or b is None:
            return                      # one of them is out of the offer space
        pairs = list(itertools.product(np.unique(seg_of[b_of == a]), np.unique(seg_of[b_of == b])))
        row, idx = [], []
        for r, (g, h) in enumerate(pairs):
            for offer, aud in ((a, g), (b, h)):
                sel = np.flatnonzero((b_of == offer) & (seg_of == aud))
                row.append(np.full(len(sel), r)); idx.append(sel)
        if not pairs:
            return
        idx = np.concatenate(idx)
        rows.model.add_constraints("never_together", pd.DataFrame({"pair": range(len(pairs))}), [
            Terms(rows.offer, np.concatenate(row), idx, np.ones(len(idx)))], hi=1.0)

    def check(self, scenario, view) -> None:
        on = set(self.value(scenario)) & set(view.plan["bundle_id"])
        if len(on) == 2:
            view.violations.append(f"{self.key}: {sorted(on)} both on sale")
        elif on:
            view.binding.append(self.key)      # the other one may not come on

    def search_check(self, layout):
        pair = layout.offer_codes(self.value(layout.space.scenario))
        if len(pair) < 2:
            return None
        return lambda state: not state.offers_on[pair].all()


@pytest.fixture
def toy_rule():
    register(NeverTogether)
    yield
    unregister(KEY)


# ---------------------------------------------------------------- helpers
CASES = [(p, c) for p in ("uniform", "personalized") for c in ("first_choice", "mnl")]


def _offers(plan) -> set[str]:
    """Offers on sale in a brute-force plan (keys: offer, or (segment, offer))."""
    return {k if isinstance(k, str) else k[1] for k in plan}


def _apart(pair):
    return lambda plan, ev: not set(pair) <= _offers(plan)


def _scenario(seed: int, pricing: str, choice: str):
    rng = np.random.default_rng(5000 + seed)
    constraints = {"min_margin", "max_offers"} if seed % 2 else set()
    return random_scenario(rng, pricing=pricing, choice_model=choice, constraints=constraints,
                           max_plans=600)


def _pair(scenario, on_sale) -> tuple[str, str]:
    """Two offers the free plan sells (so the rule bites), else the first two offers."""
    ids = [b for b in scenario.bundles.index if b in on_sale] + list(scenario.bundles.index)
    return tuple(dict.fromkeys(ids))[:2]


# ---------------------------------------------------------------- the exact MIP
@pytest.mark.parametrize("pricing, choice", CASES)
@pytest.mark.parametrize("seed", range(3))
def test_the_mip_honours_the_toy_rule(toy_rule, pricing, choice, seed) -> None:
    sc = _scenario(seed, pricing, choice)
    _, free = brute_force(sc)
    pair = _pair(sc, _offers(free or {}))
    ruled = sc.with_constraints(never_together=pair)
    best, _ = brute_force(ruled, accept=_apart(pair))
    res = solve(ruled, threads=1)
    if best is None:
        assert res.status == "infeasible"
        return
    assert res.status == "optimal" and res.summary["violations"] == []
    assert not set(pair) <= set(res.plan["bundle_id"])
    assert res.objective == pytest.approx(best, **TOL)


# ---------------------------------------------------------------- the first plan's search
@pytest.mark.parametrize("pricing, choice", CASES)
@pytest.mark.parametrize("seed", range(3))
def test_the_first_plan_honours_the_toy_rule(toy_rule, pricing, choice, seed) -> None:
    sc = _scenario(seed, pricing, choice)
    free = heuristic_plan(build_model(sc).space, 5.0)
    pair = _pair(sc, set(free.plan["bundle_id"]) if free is not None else set())
    ruled = sc.with_constraints(never_together=pair)
    best, _ = brute_force(ruled, accept=_apart(pair))
    space = build_model(ruled).space
    res = heuristic_plan(space, 5.0)
    if best is None:
        assert res is None
        return
    # no rule here forces an offer on sale, so the empty plan keeps them all: a search
    # that did not know the rule would end on a plan selling both and return nothing
    assert res is not None, "the search found no plan"
    plan = plan_from_frame(ruled, res.plan)
    feasible, value, ev = evaluate(ruled, plan)
    assert feasible and _apart(pair)(plan, ev), ev.violations
    assert res.objective == pytest.approx(value, **TOL)
    assert value <= best + 1e-6 * max(1.0, abs(best))

    # the search's own check, on states selling A, B or both
    h = _Search(space)
    code = {b: i for i, b in enumerate(space.bundle_ids)}
    first = {b: int(np.flatnonzero(h.point_offer == code[b])[0]) for b in pair if b in code
             and (h.point_offer == code[b]).any()}
    if len(first) == 2 and len(sc.constraints.active()) == 0:
        both = h.state(np.array(list(first.values())))
        assert not h.evaluate(both)[1]
        for j in first.values():
            assert h.evaluate(h.state(np.array([j])))[1]


def _two_offer_cases(pricing: str, choice: str):
    """Small random scenarios whose optimum sells two offers or more: the scenario, the
    pair the toy rule keeps apart, and the scenario with the rule."""
    for seed in range(6):
        sc = _scenario(seed, pricing, choice)
        _, free = brute_force(sc)
        if free is None or len(_offers(free)) < 2:
            continue
        pair = _pair(sc, _offers(free))
        yield sc, pair, sc.with_constraints(never_together=pair)


# ---------------------------------------------------------------- the plan evaluator
@pytest.mark.parametrize("pricing, choice", CASES)
def test_the_evaluator_flags_a_plan_that_breaks_the_toy_rule(toy_rule, pricing, choice) -> None:
    for sc, pair, ruled in _two_offer_cases(pricing, choice):
        frame = solve(sc, threads=1).plan[["bundle_id", "segment_id", "price"]]
        assert set(pair) <= set(frame["bundle_id"])
        # the independent checker, which knows no toy rule, finds nothing else wrong
        assert evaluate(sc, plan_from_frame(sc, frame))[0]
        ev = evaluate_plan(ruled, frame)
        assert [v for v in ev.violations if v.startswith(KEY)] == ev.violations != []
        one = frame[frame["bundle_id"] != pair[1]]
        ev = evaluate_plan(ruled, one)
        assert ev.violations == [] and KEY in ev.binding
        return
    pytest.skip("no scenario sells two offers")


# ---------------------------------------------------------------- explain, --set
def _cost(sc, pair) -> float:
    """Brute force: the optimum without the rule minus the optimum with it."""
    best, _ = brute_force(sc, accept=_apart(pair))
    without, _ = brute_force(sc)
    return without - best


@pytest.mark.parametrize("pricing, choice", CASES)
def test_explain_prices_the_toy_rule(toy_rule, pricing, choice) -> None:
    for sc, pair, ruled in _two_offer_cases(pricing, choice):
        res = solve(ruled, threads=1)
        costs = rule_costs(ruled, res.plan, workers=1)
        assert list(costs["rule"]) == ruled.constraints.active() and KEY in list(costs["rule"])
        row = costs.set_index("rule").loc[KEY]
        assert row["status"] == "optimal"
        assert row["cost"] == pytest.approx(_cost(ruled, pair), **TOL)
        assert row["cost"] >= -1e-6


def test_bundleopt_explain_and_set_speak_the_toy_rule(toy_rule, tmp_path) -> None:
    sc, pair = None, None
    for seed in range(6):
        sc = _scenario(seed, "uniform", "first_choice")
        _, free = brute_force(sc)
        if free is not None and len(_offers(free)) >= 2 and not sc.constraints.active():
            pair = _pair(sc, _offers(free))
            break
    assert pair is not None
    ruled = sc.with_constraints(never_together=pair)
    write_scenario(ruled, tmp_path / "s")
    runner = CliRunner()
    r = runner.invoke(main, ["solve", str(tmp_path / "s"), "--out", str(tmp_path / "plan"), "-q"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["explain", str(tmp_path / "s"), "--plan", str(tmp_path / "plan"),
                             "--out", str(tmp_path / "ex"), "--workers", "1"])
    assert r.exit_code == 0, r.output
    costs = pd.read_csv(tmp_path / "ex" / "rule_costs.csv").set_index("rule")
    assert list(costs.index) == [KEY]
    assert costs.loc[KEY, "cost"] == pytest.approx(_cost(ruled, pair), **TOL)

    # --set reads the rule's value with the rule's own parser, and a sweep over it
    # gives each variant's brute-force optimum
    key = "constraints." + KEY
    assert parse_set(f"{key}=[{pair[0]},{pair[1]}],[]") == (key, [pair, ()])
    res = Study.grid(sc, {key: [list(pair), []]}).run(workers=1).results
    assert list(res["status"]) == ["optimal", "optimal"]
    assert res["objective"][0] == pytest.approx(brute_force(sc, accept=_apart(pair))[0], **TOL)
    assert res["objective"][1] == pytest.approx(brute_force(sc)[0], **TOL)
    r = runner.invoke(main, ["sweep", str(tmp_path / "s"), "--set", f"{key}=abc",
                             "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and KEY in r.output and "list of ids" in r.output
