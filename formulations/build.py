"""Pick the formulation a scenario needs and build it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .first_choice import build_first_choice
from .ladder_cuts import build_first_choice_ladder, ladder_rows_pay
from .linear import LinearModel
from .mnl import build_mnl
from .offers import OfferSpace, build_offer_space
from .scenario import Scenario


@dataclass
class BuiltModel:
    space: OfferSpace
    model: LinearModel

    def plan_from_solution(self, x: np.ndarray) -> pd.DataFrame:
        """Offers on sale in a solution vector: ``bundle_id, segment_id, price``."""
        on = self.model.values(x, "on_sale") > 0.5
        keys = self.model.vars["on_sale"].keys[on]
        return pd.DataFrame({"bundle_id": keys["bundle"].to_numpy(dtype=object),
                             "segment_id": keys["segment"].to_numpy(dtype=object),
                             "price": keys["price"].to_numpy(float)})


def build_model(scenario: Scenario, backend: str | None = None) -> BuiltModel:
    """The offer space and the model the scenario's shape calls for, for ``backend``
    (default: the scenario's own) — which rows pay depends on the solver."""
    space = build_offer_space(scenario)
    backend = backend or scenario.solver.backend
    if scenario.choice_model == "first_choice":
        model = (build_first_choice_ladder(space) if ladder_rows_pay(space, backend)
                 else build_first_choice(space))
    else:
        model = build_mnl(space)
    return BuiltModel(space, model)
