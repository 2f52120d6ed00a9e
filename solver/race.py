"""Two runs side by side: the model with the ladder rows on HiGHS, one core, and its twin
without them (:func:`formulations.build.build_model`, ``twin``) on the other core(s) —
HiGHS with presolve, or CP-SAT on small models (:func:`twin_backend`).

Why: neither formulation wins on every family of scenario (issue 18;
``benchmarks/results_race.md``, 40/150/20, 60 s, one core each). The ladder rows give the
tighter bound where stock binds on every product (family b, seed 0: 759,753 against
777,322 for the twin); the twin proves fitted scenarios (family e) optimal in 29–52 s
where the ladder model ends at a 3.8–6.4 % gap. HiGHS's branch-and-bound runs on one
core, so the second core of a solve was idle.

Which solver runs the twin (``benchmarks/results_race.md``, "CP-SAT as the twin"): on
family e (fitted, 8 segments, 5,200–5,800 choice arcs) CP-SAT with two workers beside
the ladder run proves two seeds of three optimal in 24 and 41 s where the HiGHS twin
proves one (median gap 2.86 % → 0); on the synthetic families at 8 segments (4,300–5,600
arcs) both prove every seed, CP-SAT up to 2× slower (≤ 15 s); at 20 segments (11,000+
arcs, families a and b) the HiGHS twin ends with the better bound on 3 seeds of 4.

Both are exact formulations of one problem, so a plan either finds is a plan and a bound
either proves is a bound: the race reports the better plan and the tighter bound, and
stops both runs as soon as those two meet within the gap asked for, or either run ends
proven (optimal or infeasible).
"""
from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np

from formulations.build import BuiltModel, carry_on_sale
from formulations.linear import MatrixForm
from formulations.options import SolverOptions

from .backends import RawSolution, SolveControl, get_backend
from .backends.base import POLL_SECONDS
from .backends.highs_process import IN_PROCESS_MAX_NNZ
from .machine import machine_cores
from .status import TIME_LIMIT, Status, relative_gap

RACE_MIN_CORES = 2
# Smaller models are solved in this process, in a second or two (backends/highs_process.py),
# and highspy runs one solve at a time per process; larger ones go to child processes.
RACE_MIN_NONZEROS = IN_PROCESS_MAX_NNZ
# CP-SAT runs the twin of one-period models with at most this many choice arcs (measured
# at up to 5,811 and from 11,485 arcs; the cut between is not measured); seasons keep HiGHS
CPSAT_TWIN_MAX_ARCS = 8_000
CPSAT_TWIN_MIN_WORKERS = 2
_SOLVER = {"highs": "HiGHS", "cpsat": "CP-SAT"}     # backend name → how notes and logs say it


def race_applies(backend: str, threads: int | None, cores: int, nonzeros: int) -> bool:
    """Whether a solve runs the race: HiGHS, two cores or more and no fewer threads asked,
    a model that HiGHS solves in a child process."""
    return (backend == "highs" and cores >= RACE_MIN_CORES and (threads is None or threads >= 2)
            and nonzeros > RACE_MIN_NONZEROS)


def twin_backend(built: BuiltModel) -> str:
    """The solver that runs ``built.twin`` in the race: ``"cpsat"`` or ``"highs"``."""
    small = not built.is_season and len(built.space.arcs) <= CPSAT_TWIN_MAX_ARCS
    return "cpsat" if small else "highs"


class _Board:
    """The best plan and the tightest bound the runs have reported, shared between the
    runs' progress callbacks; stops both runs once the two meet within the gap."""

    def __init__(self, sense: str, gap: float, control: SolveControl) -> None:
        self.sense, self.gap, self.control = sense, gap, control
        self.lock = threading.Lock()
        self.objective: list[float | None] = [None, None]
        self.bound: list[float | None] = [None, None]
        self.stop = [threading.Event(), threading.Event()]
        self.started = time.perf_counter()

    def best(self) -> tuple[float | None, float | None]:
        objs = [o for o in self.objective if o is not None]
        bounds = [b for b in self.bound if b is not None]
        better, tighter = (max, min) if self.sense == "max" else (min, max)
        return (better(objs) if objs else None), (tighter(bounds) if bounds else None)

    def reporter(self, i: int):
        def report(elapsed: float, objective: float | None, bound: float | None) -> None:
            with self.lock:
                if objective is not None:
                    self.objective[i] = objective
                if bound is not None:
                    self.bound[i] = bound
                obj, bnd = self.best()
                if obj is not None and bnd is not None and relative_gap(obj, bnd) <= self.gap:
                    self.stop_all()
                if self.control.progress is not None:
                    self.control.progress(time.perf_counter() - self.started, obj, bnd)
        return report

    def stop_all(self) -> None:
        for e in self.stop:
            e.set()


def race(backend_cls: type, built: BuiltModel, forms: tuple[MatrixForm, MatrixForm],
         options: SolverOptions, control: SolveControl) -> RawSolution:
    """Solve ``built.model`` (``forms[0]``) with ``backend_cls`` and ``built.twin``
    (``forms[1]``) with :func:`twin_backend`'s solver side by side, within ``control``'s
    deadline; the answer is over ``built.model``'s columns."""
    board = _Board(forms[0].sense, options.gap_or_default, control)
    classes = (backend_cls, get_backend(twin_backend(built)))
    # HiGHS's search runs on one core either way; threads are left to HiGHS because an
    # in-process run asking for other threads than the process's HiGHS scheduler was
    # started with is refused by HiGHS. CP-SAT gets the cores the ladder run leaves.
    each = [dataclasses.replace(options, threads=None if cls.name == "highs"
                                else max(CPSAT_TWIN_MIN_WORKERS, (options.threads or machine_cores()) - 1))
            for cls in classes]
    starts = [control.start, None if control.start is None
              else carry_on_sale(control.start, built.model, built.twin, np.nan)]
    raws: list[RawSolution | None] = [None, None]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            ctl = SolveControl(control.deadline, board.reporter(i), board.stop[i], starts[i])
            raws[i] = classes[i]().solve(forms[i], each[i], ctl)
            if Status(raws[i].status) in (Status.OPTIMAL, Status.INFEASIBLE):
                board.stop_all()
        except BaseException as exc:   # re-raised in the caller's thread
            errors.append(exc)
            board.stop_all()

    threads = [threading.Thread(target=run, args=(i,), daemon=True, name=f"race-{i}") for i in (0, 1)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        if control.cancel is not None and control.cancel.is_set():
            board.stop_all()
        threads[0].join(POLL_SECONDS)
        threads[1].join(POLL_SECONDS)
    if errors:
        raise errors[0]
    cancelled = control.cancel is not None and control.cancel.is_set()
    return _merge(built, raws, board, options.gap_or_default, cancelled, control, classes)


def _merge(built: BuiltModel, raws: list[RawSolution], board: _Board, gap: float,
           cancelled: bool, control: SolveControl, classes: tuple[type, type]) -> RawSolution:
    """One answer from both runs: the better plan, the tighter bound, and the status
    those two prove."""
    names = [f"{built.model.name} on {_SOLVER[classes[0].name]}",
             f"{built.twin.name} on {_SOLVER[classes[1].name]}"
             + (" (presolved)" if classes[1].name == "highs" else "")]
    xs = [raws[0].x, None if raws[1].x is None else carry_on_sale(raws[1].x, built.twin, built.model, 0.0)]
    for i, r in enumerate(raws):                       # the runs' final words
        if r.objective is not None and r.x is not None and Status(r.status).has_plan:
            board.objective[i] = r.objective
        if r.bound is not None:
            board.bound[i] = r.bound
    has = [i for i in (0, 1) if xs[i] is not None and Status(raws[i].status).has_plan
           and raws[i].objective is not None]
    sign = 1.0 if board.sense == "max" else -1.0
    win = max(has, key=lambda i: sign * raws[i].objective) if has else None
    bounds = [(b, i) for i, b in enumerate(board.bound) if b is not None]
    tight = (min(bounds) if board.sense == "max" else max(bounds)) if bounds else None
    objective = raws[win].objective if win is not None else None
    bound = tight[0] if tight else None

    if win is not None and (any(Status(r.status) == Status.OPTIMAL for r in raws)
                            or (bound is not None and relative_gap(objective, bound) <= gap)):
        status = Status.OPTIMAL
    elif win is not None:
        status = Status.FEASIBLE
    elif any(Status(r.status) == Status.INFEASIBLE for r in raws):
        status = Status.INFEASIBLE
    else:
        status = Status.NO_SOLUTION
    notes = list(dict.fromkeys(n for r in raws for n in r.notes))
    notes.append(f"{names[0]} and {names[1]} ran side by side; "
                 + (f"the plan is {names[win]}'s" if win is not None else "neither found a plan")
                 + (f", the bound {names[tight[1]]}'s" if tight else ""))
    raw = RawSolution(status, xs[win] if win is not None else None, objective, bound,
                      max(r.seconds for r in raws),
                      "".join(f"==== {n} ====\n{r.log}\n" for n, r in zip(names, raws)),
                      cancelled, notes, handoff_seconds=raws[0].handoff_seconds)
    if (status in (Status.FEASIBLE, Status.NO_SOLUTION) and not cancelled
            and control.deadline.limited):
        raw.stopped_by = TIME_LIMIT
    return raw
