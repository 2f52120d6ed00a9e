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
most ``IN_PROCESS_MAX_NNZ`` non-zeros is solved in-process — presolve and every LP of
such a model take milliseconds, so HiGHS's own limit (its share of the seconds left,
:data:`~solver.backends.highs_child.HIGHS_MARGIN`) stops it well within the grace —
unless it has under ``IN_PROCESS_MIN_LIMIT`` seconds left. Everything else runs in a child.
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

from .base import FEASIBLE, NO_SOLUTION, POLL_SECONDS, RawSolution
from .highs_run import HighsRun, model_arrays

IN_PROCESS_MAX_NNZ = 20_000
IN_PROCESS_MIN_LIMIT = 1.0


def in_child_process(form: MatrixForm, run: HighsRun) -> bool:
    """Whether this solve goes to a child process (see the module docstring)."""
    small = form.A.nnz <= IN_PROCESS_MAX_NNZ
    return not (small and (run.seconds_left is None or run.seconds_left >= IN_PROCESS_MIN_LIMIT))


def _dense(sparse, n) -> np.ndarray:
    idx, val = sparse
    x = np.zeros(n)
    x[idx] = val
    return x


def solve_in_child(form: MatrixForm, run: HighsRun) -> RawSolution:
    """Solve with HiGHS in a child process that is killed at the deadline or on cancel."""
    listener = _Listener(run)
    proc, recv = _start_child(form, run)
    try:
        done = listener.follow(proc, recv)
    finally:
        _end_child(proc, finished=done is not None)
        recv.close()
    seconds = time.perf_counter() - listener.started
    if done is not None:
        _, status, sx, obj, bound, log, notes = done
        x = None if sx is None else _dense(*sx)
        return RawSolution(status, x, obj, bound, seconds, log, listener.cancelled, list(notes),
                           handoff_seconds=listener.handoff)
    return listener.best_so_far(seconds, proc.returncode)


def _start_child(form: MatrixForm, run: HighsRun) -> tuple[subprocess.Popen, Connection]:
    """The child, started, with the model on its way to it; the pipe its messages come on."""
    from_parent, to_child = os.pipe()
    from_child, to_parent = os.pipe()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("highs_child.py")),
                             str(from_parent), str(to_parent)],
                            pass_fds=(from_parent, to_parent),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(from_parent)
    os.close(to_parent)
    payload = Connection(to_child, readable=False)

    def hand_over():
        # in a thread: a large model blocks on the pipe until the child has read it
        try:
            payload.send(dict(model_arrays(form, run), began=time.time()))
        except OSError:
            pass                      # the child was stopped before it read the model
        finally:
            payload.close()

    threading.Thread(target=hand_over, daemon=True, name="highs-hand-over").start()
    return proc, Connection(from_child, writable=False)


def _end_child(proc: subprocess.Popen, finished: bool) -> None:
    """Kill a child that has not sent its result, and reap it."""
    if proc.poll() is None and not finished:
        proc.kill()
    try:
        proc.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
        pass


class _Listener:
    """The parent's side of the pipe: the best plan and bound streamed so far, when the
    child had the model loaded, and whether the solve was cancelled."""

    def __init__(self, run: HighsRun) -> None:
        self.run = run
        self.started = time.perf_counter()
        self.give_up = run.give_up()
        self.x: np.ndarray | None = None
        self.objective: float | None = None
        self.bound: float | None = None
        self.handoff: float | None = None
        self.cancelled = False

    def follow(self, proc: subprocess.Popen, recv: Connection) -> tuple | None:
        """Read messages until the child's result (returned), a cancel, the deadline
        plus its grace, or the child's death (``None``)."""
        while True:
            if self.run.cancel is not None and self.run.cancel.is_set():
                self.cancelled = True
                return None
            if self.give_up.expired():
                return None
            left = self.give_up.remaining()
            try:
                ready = recv.poll(POLL_SECONDS if left is None else min(POLL_SECONDS, left))
                if not ready:
                    if proc.poll() is not None and not recv.poll(0):
                        return None          # died without a word (e.g. out of memory)
                    continue
                msg = recv.recv()
            except (EOFError, OSError):
                return None
            if msg[0] == "done":
                return msg
            self.receive(msg)

    def receive(self, msg: tuple) -> None:
        """Take in one progress message: an incumbent, a bound, or the model loaded."""
        if msg[0] == "incumbent":
            _, _, obj, bound, sx, n = msg
            self.x, self.objective = _dense(sx, n), obj
            self.bound = bound if bound is not None else self.bound
        elif msg[0] == "loaded":          # spawned, model sent and passed to HiGHS
            self.handoff = time.perf_counter() - self.started
            return
        elif msg[0] == "bound" and msg[2] is not None:
            self.bound = msg[2]
        if self.run.progress:
            self.run.progress(time.perf_counter() - self.started, self.objective, self.bound)

    def best_so_far(self, seconds: float, returncode: int | None) -> RawSolution:
        """The result of a child stopped (or dead) before it sent its own."""
        crashed = returncode not in (None, 0, -9)
        why = ("cancelled" if self.cancelled else f"ended unexpectedly (exit code {returncode})"
               if crashed else "stopped at its time limit")
        return RawSolution(FEASIBLE if self.x is not None else NO_SOLUTION, self.x, self.objective,
                           self.bound, seconds, "", self.cancelled,
                           [f"HiGHS (child process) {why}; returned the best plan found by then"],
                           handoff_seconds=self.handoff)
