"""Reading and writing files: JSON-safe values, files that appear whole or not at all,
and the one cap on how deeply a YAML or JSON file a user hands us may nest.

Shared by every part that writes output (``solve``'s plan.csv and summary.json,
``fit``'s fit_report.json). Files are created with mode 0666 less the process umask,
like any other tool's, so a scheduled plan can be read by the people it is for.
Every reader of a YAML or JSON file parses it through :func:`parse_capped`.
"""
from __future__ import annotations

import json
import math
import os
import secrets
from pathlib import Path
from typing import Any, Callable

from .errors import InputError

import numpy as np
import pandas as pd


#: Deepest nesting (lists and mappings inside each other) of any YAML or JSON file we
#: read. What bundleopt writes nests a few levels deep; Python's parsers and our own
#: walkers recurse once or more per level and would die near 1,000 (RecursionError).
MAX_NESTING = 64


def parse_capped(parse: Callable[[str], Any], text: str, source: str) -> Any:
    """``parse(text)`` (``json.loads``, a YAML loader...), refusing a document nested more
    than :data:`MAX_NESTING` deep with an :class:`InputError` naming ``source``. YAML
    aliases count as the nesting they stand for, and a structure holding itself is
    refused too. Other parse errors propagate, for the caller to word."""
    too_deep = InputError(source, f"nested more than {MAX_NESTING} levels deep (lists or "
                                  "mappings inside each other); that is the most bundleopt reads")
    try:
        value = parse(text)
    except RecursionError:      # the parser itself recursed once per level
        raise too_deep from None
    if _deeper_than(value, MAX_NESTING):
        raise too_deep
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists/dicts nest more than ``limit`` deep, without recursing (a YAML
    alias graph may share or even contain itself: each container is revisited only when
    reached deeper than before, so a cycle ends at the limit and sharing costs little)."""
    deepest: dict[int, int] = {}
    stack = [(value, 1)] if isinstance(value, (dict, list, tuple)) else []
    while stack:
        v, depth = stack.pop()
        if depth > limit:
            return True
        if deepest.get(id(v), 0) >= depth:
            continue
        deepest[id(v)] = depth
        children = v.values() if isinstance(v, dict) else v
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list, tuple)))
    return False


def json_safe(value: Any, *, other: Callable[[Any], Any] | None = None) -> Any:
    """``value`` with NaN/inf and missing values as ``None``, numpy scalars and arrays as
    plain Python, tuples as lists and keys as text, recursively: what ``json.dumps`` writes
    as strict JSON. ``other`` converts any other type (``str`` for storage); without it
    such values are left for ``json.dumps`` to refuse."""
    if isinstance(value, dict):
        return {str(k.item() if isinstance(k, np.generic) else k): json_safe(v, other=other)
                for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_safe(v, other=other) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(float(value)) else None
    if value is None or isinstance(value, str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return other(value) if other is not None else value


def json_text(value: Any) -> str:
    """Indented strict JSON of ``value`` (made JSON-safe first), ending in a newline."""
    return json.dumps(json_safe(value), indent=2, allow_nan=False) + "\n"


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` via a sibling temporary file renamed into place, so a
    reader never sees half a file. The file's mode follows the umask."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # os.open applies the umask to 0o666; tempfile.mkstemp would force 0o600
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def fresh_dir(parent: str | os.PathLike[str], prefix: str) -> Path:
    """A new, empty, uniquely named directory in ``parent``, with the umask's mode (not
    ``tempfile.mkdtemp``'s 0700), to be filled and then renamed into place."""
    for _ in range(100):
        path = Path(parent) / f"{prefix}{secrets.token_hex(6)}"
        try:
            os.mkdir(path, 0o777)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {parent}")
