"""How to solve: the one options type, from ``scenario.yaml``'s ``solver:`` section,
the Python API's keywords or the CLI's flags.

``SolverOptions`` is what a scenario carries and what a backend is handed; the time
budget itself travels separately as a :class:`solver.deadline.Deadline`, computed once
where a solve starts. Every option's range is written once, in :data:`OPTION_RANGES`,
and checked by :func:`option_problem` wherever an option comes in.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

# the solver backends by name: the one list (scenario.yaml, the CLI, the service; the
# solve engine registers a class under each name and a test checks it does)
BACKENDS = ("highs", "cpsat")
# "optimal" means within one part in a million of the proven bound unless asked otherwise
DEFAULT_MIP_GAP = 1e-6

# option -> (what it is, lower bound, lower bound excluded, upper bound (excluded), integer)
OPTION_RANGES: dict[str, tuple[str, float, bool, float | None, bool]] = {
    "time_limit": ("a number of seconds", 0.0, True, None, False),
    "mip_gap": ("a number", 0.0, False, 1.0, False),
    "threads": ("an integer", 1.0, False, None, True),
}


def is_number(v: object) -> bool:
    """A finite real number, not a bool."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_)) and bool(np.isfinite(v))


# YAML 1.2 core schema / JSON decimal numbers (1, -2.5, .5, 1e-3, 1E+308); not Python's
# extras (1_000, "nan", "infinity"), which a typo could otherwise turn into a value
_DECIMAL = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_NOT_FINITE = re.compile(r"[-+]?\.?(nan|inf|infinity)", re.IGNORECASE)


def parse_finite(text: str) -> float:
    """An option's text as a finite float; ``ValueError`` says what is wrong with it
    (not a number, NaN or infinity, too large for a float)."""
    t = text.strip()
    if _NOT_FINITE.fullmatch(t):
        raise ValueError(f"{text!r} is not a finite number (NaN and infinity are not allowed)")
    if not _DECIMAL.fullmatch(t):
        raise ValueError(f"{text!r} is not a number")
    value = float(t)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is too large: floating-point numbers end near ±1.8e308")
    return value


def parse_whole(text: str) -> int:
    """An option's text as a whole number that fits 64 bits (``1000``, also ``1e3``);
    ``ValueError`` says what is wrong with it."""
    value = parse_finite(text)
    if value != math.floor(value):
        raise ValueError(f"{text!r} is not a whole number")
    t = text.strip()
    whole = int(t) if re.fullmatch(r"[-+]?[0-9]+", t) else int(value)
    if abs(whole) > 2**63 - 1:
        raise ValueError(f"{text!r} is too large: whole numbers end near ±9.2e18")
    return whole


def expected_range(what: str, lo: float, lo_open: bool, hi: float | None) -> str:
    """``a number ≥ 0 and < 1``: the words every range message uses."""
    return f"{what} {'>' if lo_open else '≥'} {lo:g}" + (f" and < {hi:g}" if hi is not None else "")


def in_range(v: object, lo: float, lo_open: bool, hi: float | None, integer: bool) -> bool:
    ok = is_number(v) and (v > lo if lo_open else v >= lo) and (hi is None or v < hi)
    return ok and (not integer or float(v) == round(float(v)))


def option_problem(name: str, value: Any) -> str | None:
    """What ``value`` should have been for option ``name`` (``None`` = fine or unset)."""
    if value is None:
        return None
    what, lo, lo_open, hi, integer = OPTION_RANGES[name]
    if in_range(value, lo, lo_open, hi, integer):
        return None
    return expected_range(what, lo, lo_open, hi)


@dataclass(frozen=True)
class SolverOptions:
    """``scenario.yaml`` → ``solver: {backend, time_limit, mip_gap, threads}``.

    ``time_limit`` is seconds for the whole solve (build included); ``None`` means
    unset (no limit, the default gap, the backend's own thread count).
    """

    backend: str = "highs"
    time_limit: float | None = None
    mip_gap: float | None = None
    threads: int | None = None

    def overridden(self, **values: Any) -> "SolverOptions":
        """A copy where every given value that is not ``None`` replaces this one's."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})

    def first_problem(self) -> tuple[str, str] | None:
        """``(option, what it should be)`` for the first out-of-range option, if any."""
        for name in OPTION_RANGES:
            problem = option_problem(name, getattr(self, name))
            if problem is not None:
                return name, problem
        return None

    @property
    def gap_or_default(self) -> float:
        return DEFAULT_MIP_GAP if self.mip_gap is None else float(self.mip_gap)
