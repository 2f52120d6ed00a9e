"""The options of a fit and of simulated data: defaults, ranges, and the one message of a bad option.

Every range is written once, here, as scikit-learn constraints (the vocabulary of the
estimators' ``_parameter_constraints``): ``bundleopt fit`` and ``simulate-data`` read
their defaults from :class:`FitOptions` and :func:`demand.simulate.simulate_data`, and
the ranges their help shows from :data:`FIT_RANGES` and :data:`SIMULATION_RANGES`.

A bad option is named by its field, never by a command-line flag, because the Python
API and the service call the fit too::

    The 'features' option must be one of 'auto', 'behaviour', …. Got 'x' instead.

(the one template, :func:`formulations.errors.option_error`); the CLI renames the field to its
flag when it shows the error (``--features must be …``).
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, ClassVar, Mapping, Sequence

import pandas as pd
from sklearn.utils._param_validation import Interval, StrOptions, _Constraint, make_constraint

from formulations.errors import option_error

MAX_PERIODS = 104                       # the longest horizon a scenario takes (SCENARIO.md §8)
FEATURES = ("auto", "customers", "behaviour", "both", "latent")


class _Date(_Constraint):
    """A date pandas can read (``YYYY-MM-DD``, or a date object)."""

    def is_satisfied_by(self, val: Any) -> bool:
        try:
            return not pd.isna(pd.Timestamp(val))
        except (ValueError, TypeError):
            return False

    def __str__(self) -> str:
        return "a date (YYYY-MM-DD)"


def _at_least(lo: int) -> Interval:
    return Interval(Integral, lo, None, closed="left")


#: FitOptions field -> what it may be (any of the constraints).
FIT_RANGES: dict[str, list] = {
    "segments": [StrOptions({"auto", "given"}), _at_least(1)],
    "horizon_days": [Interval(Real, 0, None, closed="neither")],
    "max_bundles": [_at_least(0)],
    "max_products": [_at_least(1)],
    "min_support": [Interval(Real, 0, 1, closed="both")],
    "min_baskets": [_at_least(1)],
    "min_lift": [Interval(Real, None, None, closed="neither")],
    "features": [StrOptions(set(FEATURES))],
    "holdout_from": [None, _Date()],
    "holdout_fraction": [Interval(Real, 0, 1, closed="left")],
    "validation_days": [_at_least(1)],
    "min_obs": [_at_least(1)],
    "min_events": [_at_least(1)],
    "k_max": [_at_least(2)],
    "bootstrap": [_at_least(0)],
    # What numpy and scikit-learn take as a seed (k-means, the split, the bootstrap).
    "seed": [Interval(Integral, 0, 2**32 - 1, closed="both")],
    # A season plan of at most two years of weeks (SCENARIO.md §8), in whole days.
    "periods": [None, Interval(Integral, 1, MAX_PERIODS, closed="both")],
    "period_days": [_at_least(1)],
}

#: :func:`demand.simulate.simulate_data` keyword -> what it may be.
SIMULATION_RANGES: dict[str, list] = {
    "n_customers": [_at_least(10)],
    "n_segments": [_at_least(1)],
    "n_products": [_at_least(1)],
    "n_days": [_at_least(1)],
    "kind": [StrOptions({"exposures", "transactions"})],
    # numpy's Poisson draw dies on a negative rate and overflows far below 1e300
    "visits_per_week": [Interval(Real, 0, 1000, closed="neither")],
    "complements": [Interval(Integral, 0, None, closed="left")],
    "seed": [Interval(Integral, 0, 2**32 - 1, closed="both")],
}

#: :func:`demand.status_quo.compare` keyword -> what it may be.
COMPARE_RANGES: dict[str, list] = {"draws": [_at_least(0)]}


def choices(allowed: Sequence[Any]) -> list[str] | None:
    """The values of a text option that takes one of a few (sorted), else ``None``."""
    options = [c.options for c in allowed if isinstance(c, StrOptions)]
    return sorted(options[0]) if len(options) == 1 and len(allowed) == 1 else None


def _number(x: float) -> str:
    return str(x) if isinstance(x, Integral) else f"{x:g}"


def _describe(constraint: Any) -> str:
    """One constraint in the words of :mod:`formulations.options` (``an integer ≥ 1``)."""
    if isinstance(constraint, Interval):
        what = "an integer" if constraint.type is Integral else "a number"
        bounds = []
        if constraint.left is not None:
            bounds.append(f"{'≥' if constraint.closed in ('left', 'both') else '>'} {_number(constraint.left)}")
        if constraint.right is not None:
            bounds.append(f"{'≤' if constraint.closed in ('right', 'both') else '<'} {_number(constraint.right)}")
        return " ".join([what, " and ".join(bounds)]) if bounds else what
    if isinstance(constraint, StrOptions):
        return "one of " + ", ".join(repr(o) for o in sorted(constraint.options))
    return str(constraint if isinstance(constraint, _Constraint) else make_constraint(constraint))


def whole_numbers(allowed: Sequence[Any]) -> bool:
    """Whether an option's values are integers (``None`` aside): its flag parses whole numbers."""
    return any(isinstance(c, Interval) and c.type is Integral for c in allowed)


def expected(allowed: Sequence[Any]) -> str:
    """What an option may be, in words: ``one of 'auto', 'given' or an integer ≥ 1``."""
    words = [_describe(c) for c in allowed if c is not None]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _satisfied(constraint: Any, value: Any) -> bool:
    # A bool is an Integral to Python, never a count or a seed to us.
    if isinstance(value, bool) and isinstance(constraint, Interval):
        return False
    if not isinstance(constraint, _Constraint):     # None, "boolean", a type: sklearn's shorthands
        constraint = make_constraint(constraint)
    return constraint.is_satisfied_by(value)


def check_options(ranges: Mapping[str, Sequence[Any]], values: Mapping[str, Any]) -> None:
    """Raise :func:`option_error` for the first of ``values`` outside its range."""
    for name, allowed in ranges.items():
        if not any(_satisfied(c, values[name]) for c in allowed):
            raise option_error(name, expected(allowed), values[name])


@dataclass
class FitOptions:
    """Options of a fit (see :mod:`demand.fit` for their meaning); ranges in :data:`FIT_RANGES`."""

    segments: str | int = "auto"          # "auto" | "given" | K
    horizon_days: float = 7.0
    max_bundles: int = 10
    max_products: int = 30
    min_support: float = 0.0
    min_baskets: int = 30
    min_lift: float = 1.2
    features: str = "auto"                # one of FEATURES
    holdout_from: str | None = None
    holdout_fraction: float = 0.2
    validation_days: int = 14
    min_obs: int = 30
    min_events: int = 5
    k_max: int = 8
    bootstrap: int = 200
    seed: int = 0
    periods: int | None = None            # forecast this many periods after the data (periods.csv)
    period_days: int = 7

    ranges: ClassVar[dict[str, list]] = FIT_RANGES

    def check(self) -> None:
        """Raise :class:`ParameterError` for an option out of range, or two that disagree.

        With ``periods``, ``segments.csv`` ``size`` is shoppers per period (SCENARIO.md §8),
        so the horizon a size counts is the period: ``horizon_days`` must equal ``period_days``.
        """
        check_options(self.ranges, vars(self))
        if self.periods is not None and self.horizon_days != self.period_days:
            raise option_error("horizon_days", f"equal to the 'period_days' option ({self.period_days}) "
                               "with the 'periods' option (segments.csv size is then shoppers per period)",
                               self.horizon_days)
