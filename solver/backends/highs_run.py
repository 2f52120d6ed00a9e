"""One HiGHS solve as plain values, shared by the in-process path (:mod:`highs`) and the
child-process path (:mod:`highs_process`)."""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from formulations.linear import MatrixForm
from formulations.options import SolverOptions

from ..deadline import Deadline
from .base import ProgressFn, SolveControl


@dataclass(frozen=True)
class HighsRun:
    """One HiGHS solve as plain values — the seconds left on the solver's deadline when
    HiGHS was called, the options, the MIP start — what :mod:`highs_process` hands to a
    child process; and the deadline itself, which the watchdogs wait on."""

    seconds_left: float | None = None
    mip_gap: float | None = None
    threads: int | None = None
    progress: ProgressFn | None = None
    cancel: threading.Event | None = None
    start: np.ndarray | None = None
    deadline: Deadline | None = None

    def give_up(self, extra: float = 0.0) -> Deadline:
        """When to stop waiting for HiGHS: the deadline plus the backends' grace and
        ``extra`` seconds (a run made of plain values counts its seconds left from now)."""
        deadline = self.deadline if self.deadline is not None else Deadline(self.seconds_left)
        return deadline.with_grace(extra=extra)

    @classmethod
    def of(cls, options: SolverOptions, control: SolveControl) -> "HighsRun":
        return cls(control.deadline.remaining(floor=0.05), options.mip_gap, options.threads,
                   control.progress, control.cancel, control.start, control.deadline)


def model_arrays(form: MatrixForm, run: HighsRun) -> dict:
    """The model and the run's settings as the plain arrays :mod:`highs_child` works on."""
    A = form.A.tocsc()
    return {"sense": form.sense, "cost": form.cost, "lb": form.lb, "ub": form.ub, "lo": form.lo,
            "hi": form.hi, "shape": A.shape, "indptr": A.indptr, "indices": A.indices, "data": A.data,
            "integer": form.integer, "presolve": form.presolve,
            "seconds_left": run.seconds_left, "mip_gap": run.mip_gap, "threads": run.threads,
            "start": run.start}
