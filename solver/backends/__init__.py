"""Solver backends: one module each, one interface (:mod:`solver.backends.base`)."""
from __future__ import annotations

from formulations.errors import ParameterError

from .base import Backend, Capabilities, RawSolution, SolveOptions, check_capabilities
from .cpsat import CpSatBackend
from .highs import HighsBackend

BACKENDS: dict[str, type] = {b.name: b for b in (HighsBackend, CpSatBackend)}


def get_backend(name: str) -> type:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ParameterError(f"The 'backend' option must be one of {sorted(BACKENDS)}. "
                             f"Got {name!r} instead.") from None


__all__ = ["Backend", "BACKENDS", "Capabilities", "RawSolution", "SolveOptions",
           "check_capabilities", "get_backend"]
