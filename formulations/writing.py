"""Writing scenarios: a directory that :func:`~formulations.reading.load_scenario` reads
back identically, or the JSON tables :func:`~formulations.reading.scenario_from_tables`
reads. Optional columns are written only when used; every rule writes its own
``constraints`` entry (:mod:`formulations.rules`).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .errors import InputError
from .files import fresh_dir
from .reading import SCENARIO_FILES, SETTINGS_FILE
from .rules import all_rules, nest_by_key
from .scenario import Scenario
from .validate import with_optional_columns


OPTIONAL_FILES = ("prices", "previous_plan", "periods", "receipts", "competitors")
SEASON_TABLES = ("periods", "receipts", "competitors")     # §8: left out when empty


def scenario_settings(scenario: Scenario) -> dict[str, Any]:
    """The scenario.yaml content of ``scenario`` (plain Python types; defaults left out)."""
    c, o = scenario.constraints, scenario.solver
    out: dict[str, Any] = {"pricing": scenario.pricing, "choice_model": scenario.choice_model,
                           "objective": scenario.objective,
                           "price_ladder": {"discounts": [float(d) for d in scenario.discounts]}}
    out.update(nest_by_key({rule.yaml_key: rule.to_yaml(c.get(rule.field)) for rule in all_rules()
                            if rule.is_on(c.get(rule.field))}))
    solver = {k: _plain(v) for k, v in dataclasses.asdict(o).items() if v is not None}
    out["solver"] = solver
    if scenario.robust is not None:
        out["robust"] = {k: _plain(v) for k, v in dataclasses.asdict(scenario.robust).items()
                         if v is not None}
    h = scenario.horizon
    if h is not None:
        counted = h.labels == tuple(str(t) for t in range(1, h.periods + 1))
        out["horizon"] = {"periods": h.periods if counted else list(h.labels),
                          "salvage": float(h.salvage)}
    return out


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _frames(scenario: Scenario) -> dict[str, pd.DataFrame]:
    """The file tables of a scenario (columns in file order, optional ones when used)."""
    s = with_optional_columns(scenario)     # a scenario built in code may lack them
    products = s.products.reset_index()[["product_id", "unit_cost", "list_price", "inventory",
                                         "name"]]
    if (products["name"] == "").all():
        products = products.drop(columns="name")
    # offers are written grouped, in bundles order, so reading gives the same order
    comp = s.components.copy()
    comp["_pos"] = s.bundles.index.get_indexer(comp["bundle_id"])
    comp = comp.sort_values("_pos", kind="stable")
    bundles = comp[["bundle_id", "product_id", "quantity"]].reset_index(drop=True)
    for col in ("complementarity", "min_price", "max_price"):
        v = s.bundles[col]
        if (v.fillna(0.0) != 0.0).any() if col == "complementarity" else v.notna().any():
            bundles[col] = v.reindex(bundles["bundle_id"]).to_numpy(float)
    segments = s.segments.reset_index()[["segment_id", "size", "price_sensitivity",
                                         "switching_cost"]]
    for col in ("price_sensitivity", "switching_cost"):
        if segments[col].isna().all():
            segments = segments.drop(columns=col)
    level = "bundle_id" if s.wtp_level == "bundle" else "product_id"
    wtp = s.wtp[["segment_id", level, "wtp", "price_sensitivity", "wtp_sd"]]
    for col in ("price_sensitivity", "wtp_sd"):
        if wtp[col].isna().all():
            wtp = wtp.drop(columns=col)
    return {"products": products, "bundles": bundles, "segments": segments, "wtp": wtp,
            "prices": s.prices[["bundle_id", "price"]],
            "previous_plan": s.previous_plan[["bundle_id", "segment_id", "price"]],
            "periods": s.periods[["period", "segment_id", "size"]],
            "receipts": s.receipts[["period", "product_id", "units"]],
            "competitors": _competitors(s.competitors)}


def _competitors(comp: pd.DataFrame) -> pd.DataFrame:
    """competitors.csv: the id columns and ``period`` only where some row uses them."""
    cols = [c for c in ("bundle_id", "product_id") if (comp[c] != "").any()] or ["bundle_id"]
    out = comp[cols + ["price", "period"]]
    return out if (comp["period"] != "").any() else out.drop(columns="period")


def _as_text(col: pd.Series) -> pd.Series:
    """Numbers as the shortest text that reads back exactly; integral ones without '.0'."""
    if not pd.api.types.is_numeric_dtype(col):
        return col.astype(str)
    x = col.to_numpy(dtype=float, na_value=np.nan)
    integral = np.isfinite(x) & (np.abs(x) < 2.0**53) & (x == np.round(x))
    text = np.where(integral, np.where(integral, x, 0).astype(np.int64).astype(str),
                    x.astype(str))
    return pd.Series(np.where(np.isnan(x), "", text), index=col.index, dtype=str)


def scenario_to_tables(scenario: Scenario) -> dict[str, Any]:
    """The JSON form of ``scenario`` (what :func:`scenario_from_tables` reads)."""
    out: dict[str, Any] = {"scenario": scenario_settings(scenario)}
    for key, frame in _frames(scenario).items():
        if key in SEASON_TABLES and frame.empty:
            continue            # one-period payloads stay as they were
        cols = {c: [None if isinstance(v, float) and np.isnan(v) else v
                    for v in frame[c].tolist()] for c in frame.columns}
        out[key] = [dict(zip(cols, vals)) for vals in zip(*cols.values())] if len(frame) else []
    return out


def write_scenario(scenario: Scenario, path: str | os.PathLike[str]) -> None:
    """Write ``scenario`` as a directory that :func:`load_scenario` reads back identically.

    Files are written into a temporary sibling directory that is renamed into place,
    so a failure leaves no partial scenario. An existing ``path`` is replaced only if
    it is empty or holds nothing but scenario files; anything else is refused rather
    than deleted. The optional tables (``prices.csv``, ``previous_plan.csv``,
    ``periods.csv``, ``receipts.csv``, ``competitors.csv``) are written only when non-empty.
    Component rows are written grouped by offer, in the order of ``scenario.bundles``.
    """
    root = Path(path)
    if root.exists():
        if not root.is_dir() or any(p.name not in SCENARIO_FILES for p in root.iterdir()):
            raise InputError(str(root), "exists and is not a scenario directory; "
                             "refusing to overwrite it")
    parent = root.resolve().parent
    if parent.exists() and not parent.is_dir():
        raise InputError(str(root), f"cannot write: {parent} is a file, not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = fresh_dir(parent, f".{root.name}.tmp-")
    except OSError as e:
        raise InputError(str(root), f"cannot write: {e.strerror or e}") from None
    try:
        with open(tmp / SETTINGS_FILE, "w", encoding="utf-8") as f:
            yaml.safe_dump(scenario_settings(scenario), f, sort_keys=False,
                           default_flow_style=None,
                           allow_unicode=True)
        for key, frame in _frames(scenario).items():
            if key in OPTIONAL_FILES and frame.empty:
                continue
            text = pd.DataFrame({c: _as_text(frame[c]) for c in frame.columns})
            text.to_csv(tmp / f"{key}.csv", index=False)
        if root.exists():
            old = fresh_dir(parent, f".{root.name}.old-")
            os.replace(root, old / root.name)
            os.replace(tmp, root)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, root)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(str(root), f"cannot write: {e.strerror or e}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
