"""Strict kind checks of a study's values (``--set KEY=value``, or ``Study`` variants).

A study tells a typo (the wrong *kind*: ``max_offers=abc``) from a legitimate variant
that validation rejects (``max_offers=-1``): the first stops the study before anything
runs. So these are stricter than the scenario.yaml schema (:mod:`formulations.schema`),
which leaves ``1.5`` to the range check and reads an empty flag as ``false``; they raise
``ValueError`` with what was expected, and the study names the key.
"""
from __future__ import annotations

import math

from typing import Any


def finite_number(v: Any) -> float | int:
    """A number that is neither NaN nor infinite (``1e309`` reads as infinity: too large)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"expected a number, found {v!r}")
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"expected a finite number, found {v!r}" + (
            "" if math.isnan(v) else " (infinity, or a number beyond ±1.8e308)"))
    return v


def strict_number(v: Any) -> float | int | None:
    """A finite number, or ``None`` (the rule or setting left off)."""
    return None if v is None else finite_number(v)


def strict_integer(v: Any) -> int | None:
    """A whole number (``3.0`` reads as 3), or ``None``."""
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
        raise ValueError(f"expected an integer, found {v!r}")
    if isinstance(v, float):
        if not v.is_integer():
            raise ValueError(f"expected an integer, found {v!r}")
        v = int(v)
    return v


def strict_flag(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, found {v!r}")
    return v


def strict_ids(v: Any) -> tuple[str, ...]:
    """A list (or tuple) of ids; ``None`` is none."""
    if v is None:
        return ()
    if not isinstance(v, (list, tuple)) or any(isinstance(x, bool) or not isinstance(x, (str, int))
                                               for x in v):
        raise ValueError(f"expected a list of ids in brackets, found {v!r}")
    return tuple(str(x) for x in v)


def strict_ids_or_all(v: Any) -> tuple[str, ...] | str:
    return "all" if v == "all" else strict_ids(v)
