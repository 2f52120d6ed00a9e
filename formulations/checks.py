"""The building blocks of every validation message: where a value came from, and the
one-line :class:`~formulations.errors.InputError` that names it.

Shared by :mod:`formulations.validate` (tables and settings) and the rule catalogue
(:mod:`formulations.rules`), so both speak the same way.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from .errors import InputError
from .options import expected_range, in_range

# Offers on sale to every segment are written with this segment id in plans.
ALL_SEGMENTS = "*"


@dataclass(frozen=True)
class Sources:
    """Where each table came from, so errors can point at the right file and row.

    ``tables`` maps a Scenario attribute (``components``) to the name shown
    (``bundles.csv``); ``rows`` maps an attribute to the file row of each table row
    (needed when rows were skipped or, for ``bundles``, folded together); otherwise
    the row is the position plus ``first_row``.
    """

    settings: str = "scenario"
    tables: Mapping[str, str] = field(default_factory=dict)
    first_row: int = 1
    rows: Mapping[str, np.ndarray] = field(default_factory=dict)

    def table(self, key: str) -> str:
        return self.tables.get(key, key)

    def row(self, key: str, pos: int) -> int:
        if key in self.rows:
            return int(self.rows[key][pos])
        return int(pos) + self.first_row

    def error(self, key: str, pos: int | None, column: str | None, problem: str) -> InputError:
        row = None if pos is None else self.row(key, pos)
        return InputError(self.table(key), problem, row=row, field=column)

    def setting_error(self, key: str, problem: str) -> InputError:
        return InputError(self.settings, problem, field=key)


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest valid choice, or ``""``."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_setting_number(v: object, key: str, src: Sources, *, lo: float,
                         lo_open: bool = False, hi: float | None = None,
                         integer: bool = False) -> None:
    """A number setting (``None`` = unset) within ``lo``…``hi`` (``hi`` excluded)."""
    if v is None or in_range(v, lo, lo_open, hi, integer):
        return
    what = "an integer" if integer else "a number"
    raise src.setting_error(key, f"expected {expected_range(what, lo, lo_open, hi)}, found {v!r}")


def check_setting_flag(v: object, key: str, src: Sources) -> None:
    if not isinstance(v, (bool, np.bool_)):
        raise src.setting_error(key, f"expected true or false, found {v!r}")


def check_setting_ids(ids: object, key: str, known: Iterable[str], what: str,
                      src: Sources) -> None:
    """A list of known ids, none twice."""
    known = list(known)
    if isinstance(ids, str) or not isinstance(ids, (tuple, list)):
        raise src.setting_error(key, f"expected a list of ids, found {ids!r}")
    seen: set[str] = set()
    for v in ids:
        if not isinstance(v, str) or v not in known:
            raise src.setting_error(key, f"unknown {what} {v!r}" + suggest(v, known))
        if v in seen:
            raise src.setting_error(key, f"{v!r} is listed twice")
        seen.add(v)
