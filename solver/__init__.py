"""The solve engine: the solve API, backends, first plan, heuristic, relaxation, conflicts.

``from solver import solve`` is the Python API; it is imported on first use so that the
command line starts quickly.
"""
from __future__ import annotations

__all__ = ["Progress", "SolveResult", "Status", "solve"]


def __getattr__(name: str):
    if name in __all__:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'solver' has no attribute {name!r}")
