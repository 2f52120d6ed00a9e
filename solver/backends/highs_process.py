"""HiGHS in a child process, so that a solve can always be stopped.

HiGHS checks its time limit and interrupt flag only between steps; inside presolve or
a long LP it cannot be interrupted, and a thread that is still running at interpreter
exit makes the CLI wait (or abort) and keeps a service worker's CPU busy after the
solve "returned". Run in a child process, the solve is killed at its deadline or on
cancel — the CPU is free within a second — and the best plan seen so far, streamed
back through a pipe with every improving solution, is still returned.

The child is a fresh interpreter running ``solver/backends/highs_child.py`` (numpy and
highspy only, so it starts fast) and talks over two pipes — not a ``multiprocessing``
child: those re-import the caller's ``__main__``, which re-runs an analyst's unguarded
script.

Rule for when a solve runs in-process instead (``in_child_process``): the child costs a
fixed start-up (measured in docs/model.md) and a copy of the matrix. A model with at
most ``IN_PROCESS_MAX_NNZ`` non-zeros is solved in-process — presolve and every LP of such a model take milliseconds, so HiGHS's own
limit (set at 95 % of the time) stops it well within the 5 % grace — unless its time
limit is under ``IN_PROCESS_MIN_LIMIT`` seconds. Everything else runs in a child.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from formulations.linear import MatrixForm

from .base import FEASIBLE, NO_SOLUTION, RawSolution
from .highs_run import GRACE, HighsRun, model_arrays

IN_PROCESS_MAX_NNZ = 20_000
IN_PROCESS_MIN_LIMIT = 1.0


def in_child_process(form: MatrixForm, options: HighsRun) -> bool:
    """Whether this solve goes to a child process (see the module docstring)."""
    small = form.A.nnz <= IN_PROCESS_MAX_NNZ
    return not (small and (options.time_limit is None or options.time_limit >= IN_PROCESS_MIN_LIMIT))


def _dense(sparse, n) -> np.ndarray:
    idx, val = sparse
    x = np.zeros(n)
    x[idx] = val
    return x


def solve_in_child(form: MatrixForm, options: HighsRun) -> RawSolution:
    """Solve with HiGHS in a child process that is killed at the deadline or on cancel."""
    start = time.perf_counter()
    from_parent, to_child = os.pipe()
    from_child, to_parent = os.pipe()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("highs_child.py")),
                             str(from_parent), str(to_parent)],
                            pass_fds=(from_parent, to_parent),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(from_parent)
    os.close(to_parent)
    recv = Connection(from_child, writable=False)
    payload = Connection(to_child, readable=False)

    def hand_over():
        # in a thread: a large model blocks on the pipe until the child has read it
        try:
            payload.send(dict(model_arrays(form, options), began=time.time()))
        except OSError:
            pass                      # the child was stopped before it read the model
        finally:
            payload.close()

    threading.Thread(target=hand_over, daemon=True, name="highs-hand-over").start()
    deadline = None if options.time_limit is None else start + options.time_limit * (1 + GRACE)
    best = {"x": None, "obj": None, "bound": None}
    done = None
    cancelled = False
    handoff = None
    try:
        while done is None:
            now = time.perf_counter()
            if options.cancel is not None and options.cancel.is_set():
                cancelled = True
                break
            if deadline is not None and now >= deadline:
                break
            wait = 0.05 if deadline is None else max(0.0, min(0.05, deadline - now))
            try:
                ready = recv.poll(wait)
            except (EOFError, OSError):
                break
            if not ready:
                if proc.poll() is not None and not recv.poll(0):
                    break            # died without a word (e.g. out of memory)
                continue
            try:
                msg = recv.recv()
            except (EOFError, OSError):
                break
            if msg[0] == "incumbent":
                _, el, obj, bound, sx, n = msg
                best["x"], best["obj"] = _dense(sx, n), obj
                best["bound"] = bound if bound is not None else best["bound"]
                if options.progress:
                    options.progress(time.perf_counter() - start, obj, best["bound"])
            elif msg[0] == "loaded":          # spawned, model sent and passed to HiGHS
                handoff = time.perf_counter() - start
            elif msg[0] == "bound":
                if msg[2] is not None:
                    best["bound"] = msg[2]
                if options.progress:
                    options.progress(time.perf_counter() - start, best["obj"], best["bound"])
            else:
                done = msg
    finally:
        if proc.poll() is None and done is None:
            proc.kill()
        try:
            proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            pass
        recv.close()
    seconds = time.perf_counter() - start
    if done is not None:
        _, status, sx, obj, bound, log, notes = done
        x = None if sx is None else _dense(*sx)
        return RawSolution(status, x, obj, bound, seconds, log, cancelled, list(notes),
                           handoff_seconds=handoff)
    crashed = proc.returncode not in (None, 0, -9)
    why = ("cancelled" if cancelled else f"ended unexpectedly (exit code {proc.returncode})" if crashed
           else "stopped at its time limit")
    x = best["x"]
    return RawSolution(FEASIBLE if x is not None else NO_SOLUTION, x, best["obj"], best["bound"],
                       seconds, "", cancelled,
                       [f"HiGHS (child process) {why}; returned the best plan found by then"],
                       handoff_seconds=handoff)

