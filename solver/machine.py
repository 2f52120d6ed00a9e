"""What this machine offers a solve: the one place that counts its cores, decides the
threads a solve gets, and records the package versions a result was computed with."""
from __future__ import annotations

import os
import sys
from importlib import metadata

# the packages a solve's result (and a service's record of it) depends on
VERSIONED_PACKAGES = ("bundleopt", "highspy", "ortools", "pyomo", "numpy", "pandas", "scipy",
                      "scikit-learn", "sqlalchemy")
NOT_INSTALLED = "not installed"


def machine_cores() -> int:
    """Cores this process may run on (the cap on a solve's ``threads``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def solve_threads(asked: int | None, default: int | None = None) -> tuple[int | None, str | None]:
    """The threads a solve gets, and a note to show when that is not what was asked.

    ``asked`` unset (``None`` or 0) gives the backend's ``default`` (``None``: the solver
    decides), as is; more threads than the machine's cores only hurt, so an ``asked``
    above them gets the cores and a note saying so.
    """
    if not asked:
        return default, None
    cores = machine_cores()
    if asked <= cores:
        return int(asked), None
    return cores, f"threads {asked} is more than this machine's {cores} cores; used {cores}"


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages a solve's result depends on
    (``"not installed"`` for a package that is not)."""
    out = {"python": sys.version.split()[0]}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = NOT_INSTALLED
    return out
