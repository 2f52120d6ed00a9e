"""Sweeps: one base scenario, many variants, one row of results per variant.

>>> from formulations import load_scenario
>>> from bundleopt.study import Study
>>> study = Study.grid(load_scenario("examples/grocery_week"),
...                    {"constraints.max_offers": [5, 10, 20], "scale.wtp": [0.9, 1.0]})
>>> run = study.run(executor="ray")
>>> run.results            # one pandas row per variant
>>> run.write("out/")      # results.csv, frontier.csv, <variant>/plan.csv + summary.json
>>> study.run(out_dir="out/")   # the same files, each variant's as it finishes

Variants are solved independently (each exactly, one thread each) by an executor
(:mod:`bundleopt.study.executors`). A variant whose value the scenario's validation rejects
is a row with status ``invalid`` and the validator's message; an infeasible one is a
row with status ``infeasible`` and the rules in conflict.
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from formulations.errors import BundleoptError, ParameterError
from formulations.scenario import Scenario

from formulations.files import atomic_write_text

from solver.api import SolveResult, solve
from .changes import apply_changes, check_key, parse_value, show
from .executors import Executor, make_executor
from .files import rounded_frame, write_csv

RESULT_COLUMNS = ["status", "objective", "bound", "gap", "revenue", "profit", "units",
                  "surplus", "offers", "solve_seconds", "variant", "message"]


@dataclass(frozen=True)
class SolveSettings:
    """How each variant is solved (None = the scenario's own setting)."""

    backend: str | None = None
    time_limit: float | None = None
    mip_gap: float | None = None
    threads: int | None = 1          # one thread per variant: the executor is the parallelism
    explain: bool = True             # name the conflicting rules of an infeasible variant


@dataclass
class VariantResult:
    index: int
    name: str
    changes: dict
    status: str
    message: str = ""
    result: SolveResult | None = None


# Variants are solved in chains of this many neighbours (consecutive in the grid), each
# starting its search from the previous one's plan. Fixed, not per worker count, so
# that every executor solves the same chains from the same starts.
CHAIN = 2

# A sweep of more variants than this needs confirming (--yes; docs/whatif.md §1).
CONFIRM_PAST = 500


def solve_kwargs(settings: SolveSettings, warm_start: pd.DataFrame | None = None) -> dict:
    """Keyword arguments of :func:`solver.solve`."""
    return dict(backend=settings.backend, time_limit=settings.time_limit,
                mip_gap=settings.mip_gap, threads=settings.threads, explain=settings.explain,
                warm_start=warm_start)


def run_chain(base: Scenario, jobs: list[tuple]) -> list[VariantResult]:
    """Solve neighbouring variants in turn (runs in a worker), each warm-started from
    the plan of the one before."""
    out: list[VariantResult] = []
    plan = None
    for job in jobs:
        vr = run_variant(base, job, warm_start=plan)
        out.append(vr)
        if vr.result is not None and vr.result.has_plan:
            plan = vr.result.plan
    return out


def run_variant(base: Scenario, job: tuple, warm_start: pd.DataFrame | None = None) -> VariantResult:
    """Solve one variant."""
    index, name, changes, settings = job
    try:
        scenario = apply_changes(base, changes)
        res = solve(scenario, **solve_kwargs(settings, warm_start))
    except BundleoptError as e:
        return VariantResult(index, name, changes, "invalid", str(e))
    res.log = ""        # the backend's log stays in the worker
    return VariantResult(index, name, changes, res.status, res.no_plan_message, res)


def variant_name(index: int, changes: Mapping[str, Any], total: int = 0) -> str:
    """A folder name: ``003_max_offers-5_wtp-0.9`` (the last part of each key); the
    number has as many digits as ``total`` needs (at least 3), so folders sort in
    variant order."""
    parts = []
    for key, value in changes.items():
        v = show(value)
        v = "none" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
        parts.append(f"{key.rsplit('.', 1)[-1]}-{v}")
    slug = re.sub(r"[^A-Za-z0-9._=-]+", "_", "_".join(parts).replace("[", "").replace("]", ""))
    slug = slug.strip("_")[:80]
    width = max(3, len(str(total)))
    return f"{index + 1:0{width}d}" + (f"_{slug}" if slug else "")


def check_size(n_variants: int, confirmed: bool) -> None:
    """Refuse a sweep past :data:`CONFIRM_PAST` variants unless confirmed (``--yes``):
    each variant is a full solve, so a typo in a grid can mean hours of work."""
    if n_variants > CONFIRM_PAST and not confirmed:
        raise ParameterError(
            f"--set makes {n_variants:,} variants, more than {CONFIRM_PAST}: that is {n_variants:,} "
            f"solves; add --yes to run them all")


@dataclass
class Study:
    """A base scenario and its variants (each a mapping of study key → value)."""

    base: Scenario
    variants: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        checked = []
        for v in self.variants:
            if not isinstance(v, Mapping):
                raise ParameterError(f"A study variant must be a mapping of key → value. Got {v!r} instead.")
            checked.append({check_key(k): parse_value(k, x) for k, x in v.items()})
        self.variants = checked

    @classmethod
    def grid(cls, base: Scenario, axes: Mapping[str, Iterable[Any]]) -> "Study":
        """Every combination of the axes' values (the first axis varies slowest)."""
        keys = list(axes)
        values = [list(axes[k]) for k in keys]
        for k, vs in zip(keys, values):
            if not vs:
                raise ParameterError(f"The sweep of {k!r} has no values.")
        return cls(base, [dict(zip(keys, combo)) for combo in itertools.product(*values)])

    @property
    def keys(self) -> list[str]:
        """Every swept key, in the order first given."""
        return list(dict.fromkeys(k for v in self.variants for k in v))

    @property
    def columns(self) -> list[str]:
        """results.csv's column for each swept key: the key as given, except that a key
        named like a result column (``objective``) becomes ``set.objective``."""
        return [f"set.{k}" if k in RESULT_COLUMNS else k for k in self.keys]

    def run(self, executor: "str | Executor" = "local", *, workers: int | None = None,
            address: str | None = None, settings: SolveSettings = SolveSettings(),
            progress: Callable[[int, int, VariantResult | None], None] | None = None,
            out_dir: str | Path | None = None) -> "StudyRun":
        """Solve every variant; ``progress(done, total, best_so_far)`` after each. With
        ``out_dir``, each variant's folder and its results.csv row are written as it
        finishes (a stopped study keeps what it did), and the files of :meth:`StudyRun.write`
        at the end."""
        ex = make_executor(executor, workers=workers, address=address)
        names = [variant_name(i, v, len(self.variants)) for i, v in enumerate(self.variants)]
        jobs = [(i, names[i], v, settings) for i, v in enumerate(self.variants)]
        chains = [jobs[k:k + CHAIN] for k in range(0, len(jobs), CHAIN)]
        out: list[VariantResult | None] = [None] * len(jobs)
        log = None if out_dir is None else ResultsLog(self, Path(out_dir))
        best: VariantResult | None = None
        done = 0
        for _, chain in ex.run(run_chain, self.base, chains):
            for vr in chain:
                out[vr.index] = vr
                if log is not None:
                    log.add(vr)
                done += 1
                if vr.result is not None and vr.result.objective is not None and (
                        best is None or vr.result.objective > best.result.objective):
                    best = vr
                if progress is not None:
                    progress(done, len(jobs), best)
        run = StudyRun(self, [r for r in out if r is not None])
        if log is not None:
            run.write_tables(log.out)
        return run


class ResultsLog:
    """A sweep's files while it runs: results.csv starts as its header, and gains one
    line (appended, flushed) as each variant finishes, in the order they finish; each
    variant's folder is written then too. At the end :meth:`StudyRun.write_tables`
    rewrites results.csv atomically in variant order, with frontier.csv."""

    def __init__(self, study: "Study", out: Path) -> None:
        self.study, self.out = study, out
        out.mkdir(parents=True, exist_ok=True)
        (out / "frontier.csv").unlink(missing_ok=True)      # an older run's: it would not match
        atomic_write_text(out / "results.csv", results_frame(study, []).to_csv(index=False))

    def add(self, vr: VariantResult) -> None:
        if vr.result is not None:
            vr.result.write(self.out / vr.name)
        line = rounded_frame(results_frame(self.study, [vr])).to_csv(index=False, header=False)
        with open(self.out / "results.csv", "a", encoding="utf-8") as f:
            f.write(line)       # one short write: a study stopped now keeps whole lines


def results_frame(study: "Study", variants: Sequence[VariantResult]) -> pd.DataFrame:
    """results.csv's rows for ``variants``: a column per swept key, then RESULT_COLUMNS."""
    keys, cols = study.keys, study.columns
    rows = []
    for vr in variants:
        row = {c: show(vr.changes.get(k)) for k, c in zip(keys, cols)}
        row.update(_kpis(vr))
        rows.append(row)
    df = pd.DataFrame(rows, columns=cols + RESULT_COLUMNS)
    df["offers"] = df["offers"].astype("Int64")
    return df


@dataclass
class StudyRun:
    study: Study
    variants: list[VariantResult]

    @property
    def results(self) -> pd.DataFrame:
        """One row per variant: a column per swept key, then :data:`RESULT_COLUMNS`."""
        return results_frame(self.study, self.variants)

    def frontier(self) -> pd.DataFrame:
        from .frontier import frontier

        return frontier(self.results, self.study.columns)

    def write(self, out_dir: str | Path) -> None:
        """DIR/results.csv, DIR/frontier.csv, and each solved variant's plan.csv and
        summary.json in DIR/<variant>/ as ``bundleopt solve`` writes them."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for vr in self.variants:
            if vr.result is not None:
                vr.result.write(out / vr.name)
        self.write_tables(out)

    def write_tables(self, out: Path) -> None:
        """DIR/results.csv and DIR/frontier.csv, money in cents (:mod:`.files`)."""
        write_csv(out / "results.csv", self.results)
        write_csv(out / "frontier.csv", self.frontier())


def _kpis(vr: VariantResult) -> dict:
    row = {c: None for c in RESULT_COLUMNS}
    row.update(status=vr.status, variant=vr.name, message=vr.message)
    res = vr.result
    if res is None:
        return row
    row.update(bound=res.bound, gap=res.gap, solve_seconds=round(res.solve_seconds, 4))
    if res.has_plan:
        k = res.summary["kpis"]
        surplus = res.segments["surplus"].to_numpy(float) if len(res.segments) else np.zeros(0)
        row.update(objective=res.objective, revenue=k["revenue"], profit=k["profit"],
                   units=k["units"], offers=k["offers_on_sale"],
                   surplus=float(surplus.sum()) if np.isfinite(surplus).all() else math.nan)
    return row


def parse_grid(options: Sequence[str]) -> dict[str, list[Any]]:
    """``--set`` options → grid axes; every problem is a ParameterError, before any solve."""
    from .changes import parse_set

    axes: dict[str, list[Any]] = {}
    for opt in options:
        key, values = parse_set(opt)
        if key in axes:
            raise ParameterError(f"--set {key}: given twice; list all its values in one --set")
        axes[key] = values
    return axes
