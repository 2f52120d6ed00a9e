"""Pick the formulation a scenario needs and build it."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .first_choice import build_first_choice
from .ladder_cuts import LADDER_FAMILY, build_first_choice_ladder, ladder_rows_pay
from .linear import LinearModel
from .mnl import build_mnl
from .offers import OfferSpace, build_offer_space
from .scenario import Scenario
from .season import build_season


@dataclass
class BuiltModel:
    space: OfferSpace                 # a season's: its first period's (every period has its points)
    model: LinearModel
    spaces: list = field(default_factory=list)     # a season's offer space per period

    season: Scenario | None = None    # the season itself (its spaces hold period slices)
    # the same model without the ladder rows, when asked for and the ladder rows are in
    # ``model`` (see :func:`build_model`); its ``on_sale`` family has the same keys
    twin: LinearModel | None = None

    @property
    def is_season(self) -> bool:
        return self.season is not None

    def plan_from_solution(self, x: np.ndarray) -> pd.DataFrame:
        """Offers on sale in a solution vector: ``bundle_id, segment_id, price`` (a
        season's with ``period`` first)."""
        on = self.model.values(x, "on_sale") > 0.5
        keys = self.model.vars["on_sale"].keys[on]
        plan = pd.DataFrame({"bundle_id": keys["bundle"].to_numpy(dtype=object),
                             "segment_id": keys["segment"].to_numpy(dtype=object),
                             "price": keys["price"].to_numpy(float)})
        if self.is_season:
            plan.insert(0, "period", keys["period"].to_numpy(dtype=object))
        return plan


def carry_on_sale(x: np.ndarray, source: LinearModel, to: LinearModel, fill: float) -> np.ndarray:
    """``x`` over ``source``'s columns as a vector over ``to``'s: the ``on_sale`` values
    copied (both models must have the same ``on_sale`` keys), ``fill`` elsewhere."""
    a, b = source.vars["on_sale"], to.vars["on_sale"]
    if a.size != b.size or not a.keys.equals(b.keys):
        raise ValueError(f"models {source.name!r} and {to.name!r} have different on_sale keys")
    out = np.full(to.num_cols, fill, dtype=float)
    out[b.cols()] = np.asarray(x, dtype=float)[a.cols()]
    return out


def build_model(scenario: Scenario, backend: str | None = None) -> BuiltModel:
    """The offer space and the model the scenario's shape calls for, for ``backend``
    (default: the scenario's own) — which rows pay depends on the solver. A season is
    one model over its periods (:mod:`formulations.season`)."""
    backend = backend or scenario.solver.backend
    if scenario.is_season:
        spaces, model = build_season(scenario, lambda space: _one_period(space, backend))
        return BuiltModel(spaces[0], model, spaces, scenario)
    space = build_offer_space(scenario)
    return BuiltModel(space, _one_period(space, backend))


def add_twin(built: BuiltModel) -> bool:
    """Where ``built.model`` holds the ladder rows (:mod:`formulations.ladder_cuts`),
    build the same model without them, marked for presolve, as ``built.twin``: an exact
    formulation of the same problem that a solver may run beside the first. Whether
    there is one."""
    if not _has_ladder(built.model):
        return False
    if built.is_season:
        _, plain = build_season(built.season, lambda space: _one_period(space, "highs", False),
                                built.spaces)
    else:
        plain = _one_period(built.space, "highs", False)
    built.twin = _presolved(plain)
    return True


def _has_ladder(model: LinearModel) -> bool:
    return LADDER_FAMILY in model.vars


def _presolved(model: LinearModel) -> LinearModel:
    # Alone, the plain uniform model solves faster without presolve (first_choice.py);
    # beside the ladder model it is the one that presolves: on fitted scenarios
    # (benchmarks/results_race.md, family e) it then proves optima in 29-52 s that
    # neither the ladder model (3.8-6.4 % after 60 s) nor itself unpresolved reaches.
    model.presolve = True
    return model


def _one_period(space: OfferSpace, backend: str, ladder: bool = True) -> LinearModel:
    if space.scenario.choice_model == "first_choice":
        return (build_first_choice_ladder(space) if ladder and ladder_rows_pay(space, backend)
                else build_first_choice(space))
    return build_mnl(space)
