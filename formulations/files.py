"""Writing result files: JSON-safe values, and files that appear whole or not at all.

Shared by every part that writes output (``solve``'s plan.csv and summary.json,
``fit``'s fit_report.json). Files are created with mode 0666 less the process umask,
like any other tool's, so a scheduled plan can be read by the people it is for.
"""
from __future__ import annotations

import json
import math
import os
import secrets
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd


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
