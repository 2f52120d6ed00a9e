"""Solver backends: one module each, one interface (:mod:`solver.backends.base`).

Each backend module is imported only when chosen (OR-Tools alone takes a second).
"""
from __future__ import annotations

import importlib

from formulations.errors import ParameterError

from .base import Backend, Capabilities, RawSolution, SolveControl, check_capabilities

BACKENDS: dict[str, str] = {"highs": "solver.backends.highs:HighsBackend",
                            "cpsat": "solver.backends.cpsat:CpSatBackend"}


def get_backend(name: str) -> type:
    """The backend class registered under ``name``."""
    try:
        module, cls = BACKENDS[name].split(":")
    except KeyError:
        raise ParameterError(f"The 'backend' option must be one of {sorted(BACKENDS)}. "
                             f"Got {name!r} instead.") from None
    return getattr(importlib.import_module(module), cls)


__all__ = ["Backend", "BACKENDS", "Capabilities", "RawSolution", "SolveControl",
           "check_capabilities", "get_backend"]
