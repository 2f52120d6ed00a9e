"""The Python API: one call solves a scenario; the CLI and the service are shells over it.

>>> from formulations import load_scenario
>>> from solver import solve
>>> sc = load_scenario("examples/grocery_week")
>>> res = solve(sc.with_constraints(max_offers=10), time_limit=30)
>>> res.status, res.objective, res.plan.head()

A solve goes: options → build → first plan → backend → outcome → summary, each step a
function below.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from formulations.build import BuiltModel, add_twin, build_model
from formulations.errors import option_error
from formulations.evaluate import evaluate_plan
from formulations.linear import MatrixForm
from formulations.options import DEFAULT_MIP_GAP, SolverOptions
from formulations.scenario import Scenario

from .backends import RawSolution, SolveControl, check_capabilities, get_backend
from .backends.base import POLL_SECONDS
from .conflicts import minimal_conflict
from .deadline import Deadline
from .first_plan import (first_plan, first_plan_applies, keep_first_plan, same_plan,
                         solver_deadline)
from .machine import machine_cores, solve_threads
from .race import race, race_applies
from .season_bound import bid_prices, season_relaxation
from .season_start import ExactWeeks, season_first_plan
from .relaxation import Relaxation, segment_relaxation
from .repair import repaired
from .run_folder import named_products, readable_plan, write_run_folder
from .status import STATUSES, TIME_LIMIT, Status, no_plan_message, relative_gap
from .summary import Outcome, solve_summary

if TYPE_CHECKING:
    from .heuristic import HeuristicResult

__all__ = ["DEFAULT_MIP_GAP", "STATUSES", "Progress", "SolveResult", "Status", "check_options",
           "solve"]
CONFLICT_SEARCH_SECONDS = 60.0
# the note when the first plan replaces the solver's, by whether the solver said infeasible
FIRST_PLAN_KEPT = {
    False: "the solver found no better plan than the heuristic's first plan in time; "
           "the bound is the best proven one",
    True: "the solver reported the model infeasible, yet the heuristic's plan keeps every "
          "rule when re-evaluated; it is reported as feasible",
}

# the note when the solver's plan breaks a rule re-evaluated exactly: an MNL model relaxes a
# segment that sees an attraction past e^20 (formulations.mnl), so its shares in the model
# need not be its exact ones, and a product's stock can run over priced exactly (capped, a
# week of 40/150/10 under MNL sold 58 units more than it had)
FIRST_PLAN_BROKE_A_RULE = ("the solver's plan breaks a rule when re-evaluated exactly ({}); "
                           "the heuristic's first plan, which keeps every rule, is reported instead")
# The MNL model relaxes segments that see an attraction past e^20 (formulations.mnl): the
# solver's optimum is its relaxation's, and the plan, priced exactly, may earn less
RELAXED_MODEL = ("the solver proved the MNL model optimal, but that model relaxes the segments "
                 "that see an attraction past e^20, and the plan priced exactly earns less than "
                 "its bound: it is reported feasible")
SOLVER_PLAN_REPAIRED = {
    True: ("the solver's plan breaks a rule when re-evaluated exactly ({}); offers were taken "
           "off sale until it keeps every rule"),
    False: ("the solver's plan breaks a rule when re-evaluated exactly ({}), and taking "
            "offers off sale found no plan that keeps every rule: no plan is reported")}


@dataclass(frozen=True)
class Progress:
    """A snapshot of a running solve, passed to ``progress`` callbacks."""

    elapsed: float
    objective: float | None   # best plan found so far (incumbent)
    bound: float | None       # best proven bound


@dataclass
class SolveResult:
    status: Status                    # a str: "optimal" == Status.OPTIMAL
    objective: float | None
    bound: float | None
    gap: float | None
    backend: str
    build_seconds: float
    solve_seconds: float
    plan: pd.DataFrame                # plan.csv rows (empty unless optimal/feasible)
    summary: dict                     # summary.json content
    log: str = ""                     # the backend's log text
    cancelled: bool = False
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)
    products: pd.DataFrame = field(default_factory=pd.DataFrame)
    threads_note: str | None = None   # set when the solve used other threads than asked

    @property
    def has_plan(self) -> bool:
        return Status(self.status).has_plan

    @property
    def no_plan_message(self) -> str:
        """Why there is no plan ("" when there is one)."""
        return no_plan_message(self.status, self.summary)

    def write(self, out_dir: str | Path) -> None:
        """Write the run folder (see :func:`solver.run_folder.write_run_folder`)."""
        write_run_folder(out_dir, self.plan if self.has_plan else None, self.summary)


def check_options(options: SolverOptions) -> None:
    """Raise a scikit-learn style ParameterError for the first out-of-range option."""
    problem = options.first_problem()
    if problem is not None:
        name, expected = problem
        raise option_error(name, expected, getattr(options, name))


def solve(scenario: Scenario, *, backend: str | None = None, time_limit: float | None = None,
          mip_gap: float | None = None, threads: int | None = None,
          progress: Callable[[Progress], None] | None = None,
          cancel: threading.Event | None = None, explain: bool = True,
          started: float | None = None, warm_start: pd.DataFrame | None = None) -> SolveResult:
    """Solve a scenario exactly; options default to ``scenario.solver``.

    ``time_limit`` bounds the whole call (build included): a solve stopped by it returns
    its best plan with status ``feasible`` and the proven bound, and its summary says
    ``"stopped_by": "time_limit"``. ``started`` (a ``time.monotonic()`` value, default
    now) is when the time limit starts counting: the CLI passes its own start, so that
    loading the scenario counts too. ``threads`` above the machine's cores are capped at
    them (``threads_note`` and the summary's notes say so). ``progress`` is called
    with :class:`Progress` snapshots; setting ``cancel`` stops the solve early (the
    result has ``cancelled=True``). With ``explain``, an infeasible scenario's summary
    names a minimal set of conflicting rules. ``warm_start`` (plan rows ``bundle_id,
    segment_id, price``, e.g. a neighbouring what-if variant's plan) is where the first
    plan's search may start; it changes how fast a plan is found, never what is optimal.
    """
    asked = _asked_options(scenario, backend, time_limit, mip_gap, threads)
    deadline = Deadline(asked.time_limit, start=started)
    backend_cls = get_backend(asked.backend)
    check_capabilities(backend_cls, scenario)
    used_threads, threads_note = solve_threads(asked.threads, backend_cls.default_threads)
    options = asked.overridden(threads=used_threads)

    model = _build(scenario, options.backend, options.threads, deadline)
    relay = _ProgressRelay(progress, model.started)
    raw, first = _no_solver_needed(model), _FirstPlan()
    if raw is None:
        first = _first_plan(model, options, deadline, relay, cancel, warm_start)
        until = solver_deadline(deadline, first.plan)
        alone = model.exact_weeks and model.form is None
        weeks = (ExactWeeks(model.built, until, solve, relay.beside,
                            threads=(options.threads or machine_cores()) if alone else None).start()
                 if model.exact_weeks else None)
        raw = (_periods_only(weeks, until, cancel) if alone and not first.proven
               else _backend_solve(backend_cls, model, options, until, relay, cancel, first))
        if weeks is not None:
            first = _better_first(first, weeks.result(stop=raw.cancelled or raw.status in (
                Status.OPTIMAL, Status.INFEASIBLE)))
    outcome = _outcome(scenario, model, raw, first, options.gap_or_default)

    conflict: list[str] = []
    if outcome.status == Status.INFEASIBLE and explain:
        conflict = _explain(scenario, options.backend, model.built, asked.threads)
    notes = model.notes + ([threads_note] if threads_note else []) + raw.notes + outcome.notes
    summary = solve_summary(scenario, options, model.built, model.form, model.seconds, raw,
                            first.plan, outcome, conflict, notes)
    return _result(scenario, options.backend, model, raw, outcome, summary, threads_note)


def _asked_options(scenario: Scenario, backend, time_limit, mip_gap, threads) -> SolverOptions:
    """The scenario's solver options with the caller's overrides, checked."""
    options = scenario.solver.overridden(backend=backend, time_limit=time_limit,
                                         mip_gap=mip_gap, threads=threads)
    check_options(options)
    return options


@dataclass
class _Model:
    """The built model of one solve, its matrix, and when and how long it was built."""

    built: BuiltModel
    form: MatrixForm | None             # None: no MIP runs, its periods do (ExactWeeks.instead_of_mip)
    started: float                      # time.perf_counter() when the build started
    seconds: float
    twin_form: MatrixForm | None = None  # built.twin's matrix, raced beside form (solver.race)
    exact_weeks: bool = False           # a season whose periods are solved beside its MIP

    @property
    def notes(self) -> list[str]:
        return list(self.built.model.notes)


def _build(scenario: Scenario, backend: str, threads: int | None, deadline: Deadline) -> _Model:
    started = time.perf_counter()
    built = build_model(scenario, backend)
    terms = built.model.num_terms
    beside = ExactWeeks.applies(built, terms, backend)
    if beside and ExactWeeks.instead_of_mip(built, deadline, terms):
        # no MIP will run, so no matrix is built (200/1000/50 x 8: 29 M non-zeros under
        # first choice, 47 M under MNL, 1-5 s of a 10 s limit)
        return _Model(built, None, started, time.perf_counter() - started, None, True)
    plain = None
    if beside and add_twin(built):
        plain = built.twin.to_arrays()
        if ExactWeeks.applies(built, plain.A.nnz, backend):
            # Its periods are solved beside it (season_start.ExactWeeks), so the season's
            # MIP gets one run, not a race: the model without ladder rows, presolved, which
            # gave the bound in the race (40/150/10 x 8, family a: 3.67 % in 120 s beside
            # the periods' solves, against 19.2 % for the race beside them and no bound for
            # the ladder model alone; benchmarks/results_season.md). The ladder model's
            # matrix is never built (2.7 s of a 10 s limit at 200/1000/50 x 8).
            built.model, built.twin = built.twin, None
            return _Model(built, plain, started, time.perf_counter() - started, None, True)
    form = built.model.to_arrays()
    twin_form, weeks = None, ExactWeeks.applies(built, form.A.nnz, backend)
    raced = race_applies(backend, threads, machine_cores(), form.A.nnz)
    if (weeks or raced) and (built.twin is not None or add_twin(built)):
        # a twin too small to run beside the periods (above) is raced, or dropped
        if raced:
            twin_form = plain if plain is not None else built.twin.to_arrays()
        weeks = False
    if twin_form is None:
        built.twin = None
    return _Model(built, form, started, time.perf_counter() - started, twin_form, weeks)


class _ProgressRelay:
    """Passes a solve's progress on as :class:`Progress`, timed from the start of its
    build, with the tighter of the solver's and the relaxation's proven bounds. The
    backend times its reports from its own start, which follows the first plan's search."""

    def __init__(self, progress: Callable[[Progress], None] | None, started: float) -> None:
        self.progress = progress
        self.started = started
        self.solver_started = 0.0          # seconds after ``started``
        self.relaxation_bound: float | None = None
        self.last: Progress | None = None
        self.lock = threading.Lock()        # reports come from the solver's and ExactWeeks' threads

    def solver_starts(self) -> None:
        self.solver_started = time.perf_counter() - self.started

    def searching(self, objective: float) -> None:
        """A better first plan, found before the solver started."""
        self._send(time.perf_counter() - self.started, objective, self.relaxation_bound)

    def backend(self, elapsed: float, objective: float | None, bound: float | None) -> None:
        """A backend's report, ``elapsed`` seconds after it started."""
        self._send(self.solver_started + elapsed, objective, bound)

    def beside(self, objective: float) -> None:
        """A plan found beside the running solver (:class:`ExactWeeks`)."""
        self._send(time.perf_counter() - self.started, objective,
                   None if self.last is None else self.last.bound)

    def _send(self, elapsed: float, objective: float | None, bound: float | None) -> None:
        if self.progress is None:
            return
        if self.relaxation_bound is not None:
            bound = self.relaxation_bound if bound is None else min(bound, self.relaxation_bound)
        with self.lock:
            last = self.last
            if last is not None and last.objective is not None and (objective is None
                                                                    or objective < last.objective):
                # the best plan so far: a first plan that stands by, or one found beside
                # the solver, is kept while the solver's own are worse (every model maximises)
                objective = last.objective
            self.last = Progress(elapsed, objective, bound)
            self.progress(self.last)


def _no_solver_needed(model: _Model) -> RawSolution | None:
    """The answer when the model leaves nothing to search, else ``None``."""
    no_price = model.built.space.no_price
    if no_price:
        return RawSolution(Status.INFEASIBLE, None, None, None, 0.0, notes=[
            f"must_offer {b} has no price left after {', '.join(r)}" for b, r in no_price.items()])
    if model.built.model.num_cols == 0:
        # nothing can be offered to anyone (no prices left, nobody buys): the empty
        # plan is the only plan, and it is optimal
        return RawSolution(Status.OPTIMAL, np.zeros(0), 0.0, 0.0, 0.0,
                           notes=["no offer can be put on sale: every price was pruned"])
    return None


@dataclass
class _FirstPlan:
    """The heuristic's plan before the solver starts, and what is proven about it."""

    plan: HeuristicResult | None = None
    start: np.ndarray | None = None     # the MIP start made from it
    relaxation_bound: float | None = None
    proven: bool = False                # within the gap asked for of the relaxation bound


def _first_plan(model: _Model, options: SolverOptions, deadline: Deadline, relay: _ProgressRelay,
                cancel: threading.Event | None, warm_start: pd.DataFrame | None) -> _FirstPlan:
    """The segment relaxation's bound, then the heuristic's plan within the seconds left.

    A season gets its own first plan (:mod:`solver.season_start`) and the season's
    relaxation bound (:mod:`solver.season_bound`); one-period MNL with competitor prices
    gets neither (both price a segment's no-purchase term as 1)."""
    asked_gap = options.gap_or_default
    if model.built.is_season:
        bound, mu = (season_relaxation(model.built, deadline) if model.built.model.sense == "max"
                     else (None, None))
        relay.relaxation_bound = bound
        plan, start = season_first_plan(model.built, deadline.remaining(floor=0.05), cancel,
                                        None if mu is None else bid_prices(model.built, mu))
        relay.solver_starts()
        if plan is not None:
            relay.backend(0.0, plan.objective, bound)
        proven = (plan is not None and bound is not None
                  and relative_gap(plan.objective, bound) <= asked_gap)
        # as for one period, an MNL plan only stands by (first_plan.start_pays)
        return _FirstPlan(plan, start if model.built.season.choice_model == "first_choice" else None,
                          bound, proven)
    if not first_plan_applies(model.built):
        return _FirstPlan()
    relaxation = (segment_relaxation(model.built.space) if model.built.model.sense == "max"
                  else Relaxation(None))
    bound = relay.relaxation_bound = relaxation.bound

    def within_gap(objective: float) -> bool:
        return bound is not None and relative_gap(objective, bound) <= asked_gap

    plan, start = first_plan(model.built, deadline.remaining(floor=0.05), cancel, warm_start,
                             proven=within_gap, start_points=relaxation.points,
                             improved=relay.searching if relay.progress is not None else None,
                             backend=options.backend)
    relay.solver_starts()
    if plan is not None:
        relay.backend(0.0, plan.objective, bound)
    return _FirstPlan(plan, start, bound, plan is not None and within_gap(plan.objective))


def _better_first(first: _FirstPlan, late: HeuristicResult | None) -> _FirstPlan:
    """``first`` with a plan found beside the solver (:class:`ExactWeeks`) if it earns more;
    the MIP start stays what the solver was given."""
    if late is None or (first.plan is not None and late.objective <= first.plan.objective):
        return first
    return replace(first, plan=late)


def _backend_solve(backend_cls: type, model: _Model, options: SolverOptions, until: Deadline,
                   relay: _ProgressRelay, cancel: threading.Event | None,
                   first: _FirstPlan) -> RawSolution:
    """The backend's solve within ``until``, its share of the deadline (none if the first
    plan is proven)."""
    if first.proven:
        # bound: the relaxation's, taken in _outcome
        return RawSolution(Status.OPTIMAL, None, None, None, 0.0, notes=[
            "the first plan is proven within the gap asked for by the segment relaxation "
            "bound; no MIP solve was needed"])
    if first.plan is not None and until.limited and until.remaining() < _handoff_guess(model.form):
        # the model could not even reach the solver in the time left: keep the first plan
        return RawSolution(Status.NO_SOLUTION, None, None, None, 0.0, stopped_by=TIME_LIMIT,
                           notes=["the time limit left the solver no time: the build and "
                                  "the first plan took it"])
    control = SolveControl(until, relay.backend, cancel, first.start)
    options = options.overridden(mip_gap=options.gap_or_default)
    if model.twin_form is not None:
        raw = race(backend_cls, model.built, (model.form, model.twin_form), options, control)
    else:
        raw = backend_cls().solve(model.form, options, control)
    raw.status = Status(raw.status)
    if raw.stopped_by == TIME_LIMIT:
        raw.notes = raw.notes + [
            f"stopped by the time limit ({options.time_limit:g} s) before "
            + ("proving the plan optimal" if raw.status.has_plan else "finding a plan")]
    return raw


# Handing a model to HiGHS took 0.63 s at 29 M non-zeros (a 200/1000/50 x 8 season, its
# child process started and the matrix passed), a few milliseconds for small models.
HANDOFF_SECONDS = 0.05
HANDOFF_SECONDS_PER_NONZERO = 2.2e-8


def _handoff_guess(form: MatrixForm) -> float:
    return HANDOFF_SECONDS + HANDOFF_SECONDS_PER_NONZERO * form.A.nnz


def _periods_only(weeks: ExactWeeks, until: Deadline, cancel: threading.Event | None) -> RawSolution:
    """No MIP (``ExactWeeks.instead_of_mip``): the periods, solved exactly in order, have
    the machine; their plan or the first plan is kept, with the season relaxation's
    bound."""
    began = time.perf_counter()
    while weeks.running() and not (cancel is not None and cancel.is_set()):
        time.sleep(POLL_SECONDS)
    cancelled = cancel is not None and cancel.is_set()
    why = ("under MNL its bound stays near its LP relaxation's"
           if weeks.built.season.choice_model == "mnl" else
           f"the time limit is short for its {weeks.built.model.num_terms:,} terms")
    return RawSolution(Status.NO_SOLUTION, None, None, None, time.perf_counter() - began,
                       cancelled=cancelled, stopped_by=TIME_LIMIT if until.expired() else None,
                       notes=[f"the season's MIP is not run ({why}): each period is solved "
                              "exactly, in order, on the whole machine, and the bound is the "
                              "season relaxation's"])


def _outcome(scenario: Scenario, model: _Model, raw: RawSolution, first: _FirstPlan,
             gap: float) -> Outcome:
    """Weigh the solver's plan against the first plan, and its bound against the
    relaxation's: the status, plan, objective and bound the solve reports (``optimal``
    within ``gap``)."""
    status, x, built = raw.status, raw.x, model.built
    if x is not None and status.has_plan:
        plan = built.plan_from_solution(x)
    else:
        plan = pd.DataFrame({"bundle_id": pd.Series(dtype=object), "segment_id": pd.Series(dtype=object),
                             "price": pd.Series(dtype=float)})
        if built.is_season:
            plan.insert(0, "period", pd.Series(dtype=object))
    bound, bound_source = _best_bound(raw, first.relaxation_bound)
    heuristic, solver_objective, notes = first.plan, raw.objective, []
    if heuristic is not None and (x is None or not status.has_plan or same_plan(heuristic, built, x)):
        ev = heuristic.evaluation                   # nothing else to price
    else:
        ev = evaluate_plan(scenario, plan)
    if heuristic is not None:
        broken = status.has_plan and bool(ev.violations) and not heuristic.evaluation.violations
        keep = ("feasible" if broken else
                keep_first_plan(heuristic, status, ev.objective if status.has_plan else None))
        if keep is not None:
            notes.append(FIRST_PLAN_BROKE_A_RULE.format("; ".join(ev.violations)) if broken
                         else FIRST_PLAN_KEPT[status == Status.INFEASIBLE])
            status, plan, solver_objective, ev = Status(keep), heuristic.plan, None, heuristic.evaluation
    elif status.has_plan and ev.violations:
        fixed = repaired(scenario, plan, ev)
        notes.append(SOLVER_PLAN_REPAIRED[fixed is not None].format("; ".join(ev.violations)))
        status = Status.FEASIBLE if fixed is not None else Status.NO_SOLUTION
        plan, ev = fixed if fixed is not None else (plan.iloc[0:0], ev)
    if first.proven:
        plan, ev = heuristic.plan, heuristic.evaluation
    objective = ev.objective if status.has_plan else None
    if built.model.relaxed and status == Status.OPTIMAL and not first.proven:
        # the solver proved its relaxation optimal: the plan is, if it earns that bound
        status = (Status.OPTIMAL if bound is not None and objective is not None
                  and relative_gap(objective, bound) <= gap else Status.FEASIBLE)
        if status == Status.FEASIBLE:
            notes.append(RELAXED_MODEL)
    if status == Status.OPTIMAL and bound is not None and objective is not None:
        # the proven bound can never be below what the plan really earns
        bound = max(bound, objective) if built.model.sense == "max" else min(bound, objective)
    return Outcome(status, plan, ev, objective, bound, bound_source, relative_gap(objective, bound),
                   solver_objective, notes)


def _best_bound(raw: RawSolution, relaxation_bound: float | None) -> tuple[float | None, str | None]:
    """The tighter of the solver's and the relaxation's proven bounds, and whose it is."""
    bound = raw.bound
    if bound is not None and not math.isfinite(bound):
        bound = None
    source = "solver" if bound is not None else None
    if (relaxation_bound is not None and raw.status != Status.INFEASIBLE
            and (bound is None or relaxation_bound < bound)):
        bound, source = relaxation_bound, "segment relaxation"
    return bound, source


def _result(scenario: Scenario, backend: str, model: _Model, raw: RawSolution, outcome: Outcome,
            summary: dict, threads_note: str | None) -> SolveResult:
    ev = outcome.evaluation
    if outcome.objective is not None:
        plan = readable_plan(scenario, ev.plan)
    else:
        plan = outcome.plan.assign(expected_units=pd.Series(dtype=float),
                                   expected_revenue=pd.Series(dtype=float),
                                   expected_profit=pd.Series(dtype=float))
    return SolveResult(outcome.status, outcome.objective, outcome.bound, outcome.gap, backend,
                       model.seconds, raw.seconds, plan, summary, raw.log, raw.cancelled,
                       ev.segments, named_products(scenario, ev.products), threads_note)


def _explain(scenario: Scenario, backend: str, built: BuiltModel, threads: int | None) -> list[str]:
    """A minimal set of rules that cannot hold together (re-solving without each in turn)."""
    if built.space.no_price:
        rules = {r for rs in built.space.no_price.values() for r in rs} - {"price ladder"}
        return ["must_offer"] + sorted(r if r != "min_price/max_price" else "min_price/max_price (bundles.csv)"
                                       for r in rules)
    budget = Deadline(CONFLICT_SEARCH_SECONDS)

    def infeasible(sc: Scenario) -> bool:
        left = budget.remaining()
        if left <= 0.5:
            return False
        r = solve(sc, backend=backend, time_limit=min(left, 20.0), threads=threads, explain=False)
        return r.status == "infeasible"

    return minimal_conflict(scenario, infeasible)
