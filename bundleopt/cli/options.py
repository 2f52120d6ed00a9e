"""Options several commands share, declared once, and the one check of their ranges."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from formulations.errors import ParameterError
from formulations.options import option_problem


def check_flags(**values: Any) -> None:
    """Out-of-range flags are named as typed (``--time-limit``), before anything is read."""
    for name, value in values.items():
        problem = option_problem(name, value)
        if problem is not None:
            flag = "--" + name.replace("_", "-")
            raise ParameterError(f"{flag} must be {problem}. Got {value!r} instead.")


def report_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--report``: also write report.html into the run's folder; ``what`` says what it shows."""
    return click.option("--report", "make_report", is_flag=True,
                        help=f"Also write report.html ({what}; opens in a browser) into --out.")


def write_report_after(run_dir: Path, quiet: bool = False) -> None:
    """What ``--report`` does once a command's files are written."""
    from bundleopt.report import write_report

    path = write_report(run_dir)
    if not quiet:
        click.echo(f"report      {path}")
