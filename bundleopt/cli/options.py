"""Options several commands share, declared once: the one check of their ranges, the
number types every numeric option uses, and the path types every path option uses.

Values are checked while click parses the command line, so a bad one is refused
before anything is read, solved or written (and :mod:`.errors` prints it as one line).
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable

import click

from formulations.errors import option_error
from formulations.options import (expected_range, in_range, option_problem, parse_finite,
                                  parse_whole)


class FiniteFloat(click.ParamType):
    """A float, written the way YAML 1.2 and JSON write numbers (``1e-3``, ``.5``). NaN,
    infinity and numbers too large for a float are refused; so is a value outside ``lo``
    (excluded if ``lo_open``) to ``hi`` (excluded), when given, for an option whose range
    no later check covers."""

    name = "float"

    def __init__(self, lo: float | None = None, lo_open: bool = False,
                 hi: float | None = None) -> None:
        self.lo, self.lo_open, self.hi = lo, lo_open, hi

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = parse_finite(str(value))   # a default declared in the code too
        except ValueError as err:
            self.fail(str(err), param, ctx)
        if self.lo is not None and not in_range(number, self.lo, self.lo_open, self.hi, False):
            self.fail(f"{value!r} is not {expected_range('a number', self.lo, self.lo_open, self.hi)}",
                      param, ctx)
        return number


class WholeNumber(click.ParamType):
    """An integer that fits 64 bits (``1e3`` is 1000); 1.5, NaN and ``1_000`` are refused,
    and so is a number below ``lo`` when given."""

    name = "integer"

    def __init__(self, lo: int | None = None) -> None:
        self.lo = lo

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            number = parse_whole(str(value))
        except ValueError as err:
            self.fail(str(err), param, ctx)
        if self.lo is not None and number < self.lo:
            self.fail(f"{value!r} is not {expected_range('an integer', self.lo, False, None)}",
                      param, ctx)
        return number


FLOAT, INT = FiniteFloat(), WholeNumber()
SEED = WholeNumber(lo=0)        # numpy refuses negative seeds (with a traceback)


def _stat(path: Path) -> os.stat_result | None:
    """``path``'s stat, or ``None`` if nothing is there (also when a parent is a file)."""
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _kind(st: os.stat_result) -> str:
    if stat.S_ISDIR(st.st_mode):
        return "a folder"
    return "a plain file" if stat.S_ISREG(st.st_mode) else "a device or other special file"


def _cannot_create_in(folder: Path) -> str | None:
    """Why nothing can be created in ``folder`` (read-only, no permission, /proc...), tried
    for real with an empty folder removed at once: access() says yes to root everywhere."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".bundleopt-probe-", dir=folder))
    except OSError as err:
        return f"cannot create anything in {folder} ({err.strerror or type(err).__name__})"
    return None


def output_problem(path: Path, folder: bool) -> str | None:
    """Why ``path`` cannot be written as a folder (``folder``) or a file, or ``None``.

    A folder may exist (it is written into) or not (it is created, parents too); a file
    may exist as a plain file (it is replaced). Either way the nearest existing folder
    must let us create files: checked now, before any work starts."""
    want = "a folder" if folder else "a plain file"
    st = _stat(path)
    if st is not None:
        if _kind(st) != want:
            return f"{path} is {_kind(st)}, not {want}"
        return _cannot_create_in(path if folder else Path(os.path.abspath(path)).parent)
    for above in Path(os.path.abspath(path)).parents:
        st = _stat(above)
        if st is not None:
            if _kind(st) != "a folder":
                return f"{above} is {_kind(st)}, not a folder"
            return _cannot_create_in(above)
    return None


class PathType(click.ParamType):
    """A path checked at parse time: an input (must exist as a folder or a plain file) or
    an output (:func:`output_problem`). Converts to :class:`~pathlib.Path`."""

    def __init__(self, folder: bool, output: bool) -> None:
        self.folder, self.output = folder, output
        self.name = "directory" if folder else "file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        if str(value) == "":
            self.fail("an empty path", param, ctx)
        path = Path(value)
        try:
            problem = self._problem(path)
        except (OSError, ValueError) as err:      # no permission to look; a NUL in the path
            self.fail(f"cannot use {value!r}: {getattr(err, 'strerror', None) or err}", param, ctx)
        if problem is not None:
            self.fail(problem, param, ctx)
        return path

    def _problem(self, path: Path) -> str | None:
        if self.output:
            return output_problem(path, self.folder)
        want = "a folder" if self.folder else "a plain file"
        st = _stat(path)
        if st is None:
            return f"{path} is not {want}: it does not exist"
        return None if _kind(st) == want else f"{path} is {_kind(st)}, not {want}"


IN_DIR, IN_FILE = PathType(folder=True, output=False), PathType(folder=False, output=False)
OUT_DIR, OUT_FILE = PathType(folder=True, output=True), PathType(folder=False, output=True)


def check_flags(**values: Any) -> None:
    """Out-of-range flags are named as typed (``--time-limit``), before anything is read."""
    for name, value in values.items():
        problem = option_problem(name, value)
        if problem is not None:
            raise option_error(None, problem, value, flag="--" + name.replace("_", "-"))


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
