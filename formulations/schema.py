"""Leaf parsers of ``scenario.yaml`` (and the JSON ``scenario`` object): from a parsed
YAML value to the Python value a setting holds, or a one-line
:class:`~formulations.errors.InputError` naming the key. Ranges are not checked here
(:mod:`formulations.validate` and each rule's ``validate`` do that), only kinds.
"""
from __future__ import annotations

from typing import Any

from .errors import InputError
from .settings import DEFAULT_DISCOUNTS


def number(v: Any, key: str, src: str) -> float | int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(src, f"expected a number, found {v!r}", field=key)
    return v


def integer(v: Any, key: str, src: str) -> int | float | None:
    v = number(v, key, src)
    # an integral float (JSON 3.0) is an integer; others are left for the range check
    return int(v) if isinstance(v, float) and v.is_integer() else v


def flag(v: Any, key: str, src: str) -> bool:
    if v is None:
        return False
    if not isinstance(v, bool):
        raise InputError(src, f"expected true or false, found {v!r}", field=key)
    return v


def text(v: Any, key: str, src: str) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise InputError(src, f"expected text, found {v!r}", field=key)
    return v


def ids(v: Any, key: str, src: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if not isinstance(v, list):
        raise InputError(src, f"expected a list of ids, found {v!r}", field=key)
    for x in v:
        # YAML reads an unquoted id such as 101 as a number; CSV ids are text
        if isinstance(x, bool) or not isinstance(x, (str, int)):
            raise InputError(src, f"expected ids, found {x!r}", field=key)
    return tuple(str(x) for x in v)


def ids_or_all(v: Any, key: str, src: str) -> tuple[str, ...] | str:
    return "all" if v == "all" else ids(v, key, src)


def discounts(v: Any, key: str, src: str) -> tuple[float, ...]:
    if v is None:
        return DEFAULT_DISCOUNTS
    if not isinstance(v, list):
        raise InputError(src, f"expected a list of discounts, found {v!r}", field=key)
    out = []
    for x in v:
        if x is None or isinstance(x, bool) or not isinstance(x, (int, float)):
            raise InputError(src, f"expected a list of numbers, found {x!r}", field=key)
        out.append(float(x))
    return tuple(out)


def periods(v: Any, key: str, src: str) -> int | tuple[str, ...] | None:
    """``horizon.periods``: a count P (labels ``1…P``) or a list of labels."""
    if v is None:
        return None
    if isinstance(v, list):
        for x in v:
            if isinstance(x, bool) or not isinstance(x, (str, int)):
                raise InputError(src, f"expected period labels, found {x!r}", field=key)
        return tuple(str(x).strip() for x in v)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (
            isinstance(v, float) and not v.is_integer()):
        raise InputError(src, f"expected a number of periods or a list of labels, found {v!r}",
                         field=key)
    return int(v)
