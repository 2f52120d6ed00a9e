"""Reading a run folder's files for a report: every problem is one clear line (InputError)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pandas as pd

from formulations.errors import InputError
from formulations.files import parse_capped


def read_json(path: Path, required: Sequence[str] = ()) -> dict:
    try:
        data = parse_capped(json.loads, path.read_text(), path.name)
    except UnicodeDecodeError:
        raise InputError(path.name, "is not a text file") from None
    except json.JSONDecodeError as e:
        raise InputError(path.name, f"is not valid JSON (line {e.lineno}: {e.msg})") from None
    if not isinstance(data, dict):
        raise InputError(path.name, "must hold a JSON object")
    for key in required:
        if key not in data:
            raise InputError(path.name, f"missing key '{key}'", field=key)
    return data


def read_csv(path: Path, required: Sequence[str] = (), numeric: Sequence[str] = (),
             text: Sequence[str] = ()) -> pd.DataFrame:
    """A CSV with its ``required`` columns; ``numeric`` columns must parse as numbers (blank = missing)."""
    try:
        df = pd.read_csv(path, dtype={c: str for c in text}, keep_default_na=True)
    except UnicodeDecodeError:
        raise InputError(path.name, "is not a text file") from None
    except pd.errors.EmptyDataError:
        raise InputError(path.name, "is empty (no header row)") from None
    except pd.errors.ParserError as e:
        raise InputError(path.name, f"cannot be read as CSV ({str(e).splitlines()[0]})") from None
    for col in required:
        if col not in df.columns:
            raise InputError(path.name, f"missing column '{col}'", row=1, field=col)
    for col in numeric:
        if col not in df.columns:
            continue
        conv = pd.to_numeric(df[col], errors="coerce")
        bad = conv.isna() & df[col].notna()
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise InputError(path.name, f"not a number: {df[col].iloc[i]!r}", row=i + 2, field=col)
        df[col] = conv
    return df
