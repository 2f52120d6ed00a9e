"""Pick the formulation a scenario needs and build it."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .first_choice import build_first_choice
from .ladder_cuts import build_first_choice_ladder, ladder_rows_pay
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


def _one_period(space: OfferSpace, backend: str) -> LinearModel:
    if space.scenario.choice_model == "first_choice":
        return (build_first_choice_ladder(space) if ladder_rows_pay(space, backend)
                else build_first_choice(space))
    return build_mnl(space)
