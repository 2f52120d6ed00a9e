"""Solver side of bundleopt: backends, the solve API, plans, CLI and service."""
from .api import Progress, SolveResult, solve

__all__ = ["Progress", "SolveResult", "solve"]
