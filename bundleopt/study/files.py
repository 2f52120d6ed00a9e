"""The files a study writes, rounded by one rule.

Study files hold what a merchandiser reads, so they carry no float noise
(``28654.299999999996``): money to cents exactly as summary.json rounds it (Python's
``round(x, 2)``, :func:`solver.run_folder.money_rounded_summary`), so a sweep row and its
variant's summary.json agree to the cent; units to hundredths, as summary.json; rates
(gaps, probabilities, buy rates) to 6 significant digits. The study functions return
exact numbers; only what is written is rounded, here.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from formulations.files import atomic_write_text, json_text

MONEY = frozenset({"objective", "bound", "revenue", "profit", "surplus", "objective_without", "cost",
                   "price", "new_price", "objective_after", "delta", "price_of_rule",
                   "mean", "std", "p5", "p50", "p95", "min", "max", "plan_objective"})
UNITS = frozenset({"units"})
RATES = frozenset({"gap", "stockout_probability", "segment_buy_rate"})
RATE_DIGITS = 6


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def cents(v: Any) -> Any:
    """Money to the cent (summary.json's rule); anything not a finite number as it is."""
    return round(float(v), 2) if _number(v) else v


def rate(v: Any) -> Any:
    """A rate or share to 6 significant digits."""
    return float(f"{float(v):.{RATE_DIGITS}g}") if _number(v) else v


def rounder(key: str):
    """The rounding for a column or key named ``key`` (None: written as it is)."""
    if key in MONEY:
        return cents
    if key in UNITS:
        return lambda v: round(float(v), 2) if _number(v) else v
    if key in RATES:
        return rate
    return None


def rounded_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every money, units and rate column rounded (by column name)."""
    out = df.copy()
    for col in out.columns:
        fn = rounder(str(col))
        if fn is not None and (pd.api.types.is_float_dtype(out[col]) or out[col].dtype == object):
            out[col] = out[col].map(fn)
    return out


def rounded_record(record: dict) -> dict:
    """A JSON record rounded by key; a mapping under a rate key (``{product: share}``)
    has each of its values rounded so."""
    out = {}
    for k, v in record.items():
        fn = rounder(k)
        if fn is None:
            out[k] = v
        elif isinstance(v, dict):
            out[k] = {kk: fn(vv) for kk, vv in v.items()}
        else:
            out[k] = fn(v)
    return out


def write_csv(path: Path, df: pd.DataFrame) -> None:
    """A study CSV, rounded, written atomically (a reader never sees half a file)."""
    atomic_write_text(path, rounded_frame(df).to_csv(index=False))


def write_json(path: Path, record: dict) -> None:
    """A study JSON, rounded, strict (NaN as null), written atomically."""
    atomic_write_text(path, json_text(rounded_record(record)))
