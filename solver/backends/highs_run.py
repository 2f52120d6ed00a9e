"""One HiGHS solve as plain values, shared by the in-process path (:mod:`highs`) and the
child-process path (:mod:`highs_process`)."""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from formulations.linear import MatrixForm
from formulations.options import SolverOptions

from .base import ProgressFn, SolveControl

# HiGHS's own time limit is not checked inside presolve, so it can overrun; past the
# limit plus this grace we stop waiting and return the best plan seen so far.
GRACE = 0.03


@dataclass(frozen=True)
class HighsRun:
    """One HiGHS solve as plain values — the time left on the solve's deadline, the
    options, the MIP start — what :mod:`highs_process` hands to a child process."""

    time_limit: float | None = None
    mip_gap: float | None = None
    threads: int | None = None
    progress: ProgressFn | None = None
    cancel: threading.Event | None = None
    start: np.ndarray | None = None

    @classmethod
    def of(cls, options: SolverOptions, control: SolveControl) -> "HighsRun":
        return cls(control.deadline.remaining(floor=0.05), options.mip_gap, options.threads,
                   control.progress, control.cancel, control.start)


def model_arrays(form: MatrixForm, options: HighsRun) -> dict:
    """The model and options as the plain arrays :mod:`highs_child` works on."""
    A = form.A.tocsc()
    return {"sense": form.sense, "cost": form.cost, "lb": form.lb, "ub": form.ub, "lo": form.lo,
            "hi": form.hi, "shape": A.shape, "indptr": A.indptr, "indices": A.indices, "data": A.data,
            "integer": form.integer, "presolve": form.presolve,
            "time_limit": options.time_limit, "mip_gap": options.mip_gap, "threads": options.threads,
            "start": options.start}
