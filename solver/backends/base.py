"""The one small interface every backend implements.

A backend is handed the model (:class:`~formulations.linear.MatrixForm`), the solve's
:class:`~formulations.options.SolverOptions` and a :class:`SolveControl` — the
:class:`~solver.deadline.Deadline` it asks how much time is left, where to report
progress, and the flag that cancels it — and answers with a :class:`RawSolution` whose
status is a :class:`~solver.status.Status`.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Protocol

import numpy as np

from formulations.errors import CapabilityError
from formulations.linear import MatrixForm
from formulations.options import SolverOptions
from formulations.scenario import Scenario

from ..deadline import Deadline
from ..status import TIME_LIMIT, Status  # noqa: F401  (TIME_LIMIT: the backends import their vocabulary from here)

OPTIMAL, FEASIBLE, INFEASIBLE, NO_SOLUTION = (Status.OPTIMAL, Status.FEASIBLE, Status.INFEASIBLE,
                                              Status.NO_SOLUTION)

POLL_SECONDS = 0.05     # how often a waiting backend looks at the cancel flag and the clock

ProgressFn = Callable[[float, "float | None", "float | None"], None]   # elapsed, incumbent, bound


@dataclass(frozen=True)
class Capabilities:
    choice_models: frozenset[str]
    pricings: frozenset[str] = frozenset({"uniform", "personalized"})
    why_not: str = ""          # shown when a scenario is refused


@dataclass
class SolveControl:
    """How a running solve is steered (not what it is asked: that is SolverOptions)."""

    deadline: Deadline = field(default_factory=lambda: Deadline(None))
    progress: ProgressFn | None = None
    cancel: threading.Event | None = None
    start: np.ndarray | None = None      # a MIP start: value per column, NaN where not given


@dataclass
class RawSolution:
    """What a backend answers; also what the engine records when no backend ran."""

    status: Status
    x: np.ndarray | None
    objective: float | None              # the solver's own value of x
    bound: float | None
    seconds: float
    log: str = ""
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)
    stopped_by: str | None = None        # TIME_LIMIT when the deadline ended the search
    handoff_seconds: float | None = None # from the call to the model loaded in the solver


class Backend(Protocol):
    name: ClassVar[str]                  # one of formulations.options.BACKENDS
    capabilities: ClassVar[Capabilities]
    default_threads: ClassVar[int | None]   # when none are asked for; None: the solver decides

    def solve(self, form: MatrixForm, options: SolverOptions,
              control: SolveControl | None = None) -> RawSolution: ...


def check_capabilities(backend: type, scenario: Scenario) -> None:
    """Refuse, before anything is built, a scenario the backend cannot solve exactly."""
    caps: Capabilities = backend.capabilities
    if scenario.choice_model not in caps.choice_models or scenario.pricing not in caps.pricings:
        raise CapabilityError(
            f"backend '{backend.name}' cannot solve {scenario.pricing} {scenario.choice_model} "
            f"scenarios exactly: {caps.why_not} Use --backend highs.")
