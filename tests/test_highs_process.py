"""HiGHS in a child process: a solve returns within its time limit + 5 %, a cancel stops
it, and no HiGHS process is left running either way."""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from formulations.build import build_model
from solver.api import solve
from formulations.options import SolverOptions
from solver.backends import SolveControl, highs_process
from solver.backends.highs_run import HighsRun
from solver.deadline import Deadline
from solver.backends.highs import HighsBackend
from solver.backends.highs_process import IN_PROCESS_MAX_NNZ, in_child_process

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from midsize import midsize_scenario  # noqa: E402


def _children() -> list[int]:
    """Live (non-zombie) child processes of this process."""
    me, out = os.getpid(), []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == me and fields[0] != "Z":
                out.append(int(d.name))
    return out


@pytest.fixture(scope="module")
def scenario():
    # ~20 s to optimality on 2 cores: a 1–2 s limit always stops it
    return midsize_scenario(150, 0, n_segments=20, min_margin=0.1)


def test_large_models_go_to_a_child_and_small_ones_stay(scenario):
    form = build_model(scenario).model.to_arrays()
    assert form.A.nnz > IN_PROCESS_MAX_NNZ
    assert in_child_process(form, HighsRun(seconds_left=10.0))
    small = build_model(midsize_scenario(12, 0, n_segments=2)).model.to_arrays()
    assert small.A.nnz <= IN_PROCESS_MAX_NNZ
    assert not in_child_process(small, HighsRun(seconds_left=10.0))
    assert in_child_process(small, HighsRun(seconds_left=0.5))


@pytest.mark.parametrize("limit", [1.0, 2.5])
def test_solve_returns_within_its_limit_and_leaves_no_process(scenario, limit):
    before = set(_children())
    t0 = time.perf_counter()
    res = solve(scenario, time_limit=limit)
    wall = time.perf_counter() - t0
    # the 5 % target is measured in benchmarks/; on a loaded CI box allow scheduling noise
    assert wall <= 1.05 * limit + 0.5, f"{wall:.2f} s for a {limit} s limit"
    assert res.has_plan and res.status == "feasible"
    assert set(_children()) <= before


def test_cancel_kills_the_child_and_keeps_the_best_plan(scenario):
    form = build_model(scenario).model.to_arrays()
    cancel = threading.Event()
    seen = []
    timer = threading.Timer(1.5, cancel.set)
    timer.start()
    t0 = time.perf_counter()
    raw = HighsBackend().solve(form, SolverOptions(), SolveControl(
        Deadline(60.0), progress=lambda *a: seen.append(a), cancel=cancel))
    wall = time.perf_counter() - t0
    assert raw.cancelled and wall < 1.5 + 1.0
    assert not _children()
    if raw.x is not None:                       # the best incumbent streamed back
        assert raw.objective is not None and np.isfinite(raw.objective)


@pytest.mark.parametrize("child", [False, True])
def test_handoff_time_is_reported_within_the_solve(child, monkeypatch):
    # in-process and in a child: the time until HiGHS holds the model is measured and is
    # part of the solve's own time. The child is forced by the size threshold, not by a
    # limit under 1 s: such a limit could end before the child had loaded the model
    # (1 run in 3 on an idle box), and then there is no hand-off to report.
    if child:
        monkeypatch.setattr(highs_process, "IN_PROCESS_MAX_NNZ", 0)
    res = solve(midsize_scenario(30, 1, n_segments=6), time_limit=30.0)
    assert not any("no MIP solve" in n for n in res.summary["notes"])   # HiGHS ran
    handoff, solve_s = res.summary["handoff_seconds"], res.summary["solve_seconds"]
    assert handoff is not None and 0 < handoff <= solve_s + 1e-3
    assert res.status in ("optimal", "feasible")
