"""The time budget of one solve: computed once where the solve starts, passed down.

The CLI starts it when the process starts (loading counts), :func:`solver.solve` when
called without one; the build, the backend and its watchdogs each ask it how much time
is left instead of re-deriving a limit of their own.
"""
from __future__ import annotations

import time

# A backend handed a deadline may overrun it by this share of its length (HiGHS's own
# limit is not checked inside presolve) before the engine stops waiting for it — at most
# GRACE_CAP seconds: a share alone kept 17 s of a 600 s solve from the solver.
BACKEND_GRACE = 0.03
GRACE_CAP = 2.0


def before_grace(seconds: float) -> float:
    """The longest deadline whose grace (:meth:`Deadline.with_grace`) ends within
    ``seconds``."""
    return max(seconds / (1.0 + BACKEND_GRACE), seconds - GRACE_CAP)


class Deadline:
    """``seconds`` from ``start`` (``time.monotonic()``; default now); ``None`` = no limit."""

    def __init__(self, seconds: float | None, *, start: float | None = None) -> None:
        self.seconds = None if seconds is None else float(seconds)
        self.start = time.monotonic() if start is None else float(start)

    @property
    def limited(self) -> bool:
        return self.seconds is not None

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining(self, floor: float = 0.0) -> float | None:
        """Seconds left (at least ``floor``), or ``None`` without a limit."""
        if self.seconds is None:
            return None
        return max(floor, self.seconds - self.elapsed())

    def with_grace(self, grace: float = BACKEND_GRACE, extra: float = 0.0) -> "Deadline":
        """When to stop waiting for a backend handed this deadline: ``grace`` of its
        length (at most :data:`GRACE_CAP` seconds) plus ``extra`` seconds after it (same
        start; unlimited stays unlimited)."""
        if self.seconds is None:
            return self
        return Deadline(self.seconds + min(grace * self.seconds, GRACE_CAP) + extra, start=self.start)

    def expired(self) -> bool:
        return self.seconds is not None and self.elapsed() >= self.seconds

    def __repr__(self) -> str:
        return f"Deadline(seconds={self.seconds}, remaining={self.remaining()})"
