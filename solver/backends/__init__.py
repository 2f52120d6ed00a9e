"""Solver backends: one module each, one interface (:mod:`solver.backends.base`).

Each backend module is imported only when chosen (OR-Tools alone takes a second). The
backend names are :data:`formulations.options.BACKENDS`; :data:`REGISTRY` says where each
one's class lives (tests/test_backends_agree.py checks the two agree).
"""
from __future__ import annotations

import importlib

from formulations.errors import option_error
from formulations.options import BACKENDS

from .base import Backend, Capabilities, RawSolution, SolveControl, check_capabilities

REGISTRY: dict[str, str] = {"highs": "solver.backends.highs:HighsBackend",
                            "cpsat": "solver.backends.cpsat:CpSatBackend"}


def get_backend(name: str) -> type:
    """The backend class registered under ``name``."""
    if name not in BACKENDS:
        raise option_error("backend", f"one of {sorted(BACKENDS)}", name)
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


__all__ = ["Backend", "Capabilities", "REGISTRY", "RawSolution", "SolveControl",
           "check_capabilities", "get_backend"]
