"""The one small interface every backend implements, and the one status vocabulary."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Protocol

import numpy as np

from formulations.errors import CapabilityError
from formulations.linear import MatrixForm
from formulations.scenario import Scenario

OPTIMAL, FEASIBLE, INFEASIBLE, NO_SOLUTION = "optimal", "feasible", "infeasible", "no_solution"

ProgressFn = Callable[[float, "float | None", "float | None"], None]   # elapsed, incumbent, bound


@dataclass(frozen=True)
class Capabilities:
    choice_models: frozenset[str]
    pricings: frozenset[str] = frozenset({"uniform", "personalized"})
    why_not: str = ""          # shown when a scenario is refused


@dataclass
class SolveOptions:
    time_limit: float | None = None      # seconds for the solve itself (build excluded)
    mip_gap: float | None = None
    threads: int | None = None
    progress: ProgressFn | None = None
    cancel: threading.Event | None = None
    start: np.ndarray | None = None      # a MIP start: value per column, NaN where not given


@dataclass
class RawSolution:
    status: str                          # OPTIMAL / FEASIBLE / INFEASIBLE / NO_SOLUTION
    x: np.ndarray | None
    objective: float | None              # the solver's own value of x
    bound: float | None
    seconds: float
    log: str = ""
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)


class Backend(Protocol):
    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def solve(self, form: MatrixForm, options: SolveOptions) -> RawSolution: ...


def check_capabilities(backend: type, scenario: Scenario) -> None:
    """Refuse, before anything is built, a scenario the backend cannot solve exactly."""
    caps: Capabilities = backend.capabilities
    if scenario.choice_model not in caps.choice_models or scenario.pricing not in caps.pricings:
        raise CapabilityError(
            f"backend '{backend.name}' cannot solve {scenario.pricing} {scenario.choice_model} "
            f"scenarios exactly: {caps.why_not} Use --backend highs.")
