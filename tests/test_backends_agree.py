"""HiGHS and CP-SAT solve the same first-choice scenarios to the same optimum."""
from __future__ import annotations

import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bruteforce import evaluate, plan_from_frame  # noqa: E402
from random_scenarios import make_scenario, random_scenario  # noqa: E402

from formulations.errors import CapabilityError  # noqa: E402
from solver.api import solve  # noqa: E402

MIXES = [
    set(),
    {"min_margin", "max_offers"},
    {"inventory", "must_offer"},
    {"no_arbitrage", "exclude"},
    {"max_offers_per_segment", "coverage"},
    {"max_price_spread", "price_change"},
    {"inventory", "no_arbitrage", "coverage"},
]
CASES = [(p, i, k) for p in ("uniform", "personalized") for i in range(len(MIXES))
         for k in range(2)]


@pytest.mark.parametrize("pricing, mix, k", CASES)
def test_highs_and_cpsat_agree(pricing, mix, k):
    rng = np.random.default_rng(zlib.crc32(f"agree|{pricing}|{mix}|{k}".encode()))
    scenario = random_scenario(rng, pricing=pricing, choice_model="first_choice",
                               objective=("profit", "revenue")[k], constraints=MIXES[mix])
    h = solve(scenario, backend="highs")
    c = solve(scenario, backend="cpsat")
    assert h.backend == "highs" and c.backend == "cpsat"
    assert h.status == c.status
    if h.status != "optimal":
        assert h.status == "infeasible" and c.plan.empty
        return
    assert c.objective == pytest.approx(h.objective, rel=1e-6, abs=1e-6)
    # CP-SAT's plan must stand on its own, not just match a number
    feasible, value, ev = evaluate(scenario, plan_from_frame(scenario, c.plan))
    assert feasible, ev.violations
    assert value == pytest.approx(c.objective, rel=1e-6, abs=1e-6)


def test_cpsat_refuses_mnl():
    sc = make_scenario(products=[("P", 1, 10, None)], bundles=[("A", {"P": 1})],
                       segments=[("s", 10, 0.5)], wtp=[("s", "A", 9)], choice_model="mnl")
    with pytest.raises(CapabilityError):
        solve(sc, backend="cpsat")
    # HiGHS takes the same scenario
    assert solve(sc, backend="highs").status == "optimal"


def test_every_backend_name_has_its_class_and_no_other():
    # the names are formulations.options.BACKENDS (scenario.yaml, the CLI, the service);
    # the registry only says where each one's class lives
    from formulations.errors import ParameterError
    from formulations.options import BACKENDS
    from solver.backends import REGISTRY, get_backend

    assert set(REGISTRY) == set(BACKENDS)
    for name in BACKENDS:
        cls = get_backend(name)
        assert cls.name == name and hasattr(cls, "capabilities") and hasattr(cls, "default_threads")
    with pytest.raises(ParameterError, match="must be one of"):
        get_backend("gurobi")
