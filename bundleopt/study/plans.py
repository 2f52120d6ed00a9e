"""Reading a plan.csv back (``--plan PLAN_DIR``) for explain and robustness."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from formulations.errors import InputError
from formulations.scenario import Scenario


def read_plan(plan_dir: str | Path, scenario: Scenario) -> pd.DataFrame:
    """PLAN_DIR/plan.csv as ``bundle_id, segment_id, price`` rows of ``scenario``."""
    path = Path(plan_dir) / "plan.csv"
    if not path.is_file():
        raise InputError(str(path), "no plan.csv here (give the folder `bundleopt solve --out` wrote)")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError("plan.csv", f"not a readable CSV ({str(e).strip().splitlines()[-1]})") from None
    missing = [c for c in ("bundle_id", "segment_id", "price") if c not in raw.columns]
    if missing:
        raise InputError("plan.csv", f"missing column '{missing[0]}'", row=1)
    plan = raw[["bundle_id", "segment_id", "price"]].apply(lambda c: c.str.strip())
    price = pd.to_numeric(plan["price"], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(price) | (price < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError("plan.csv", f"expected a price ≥ 0, found {plan['price'].iloc[i]!r}",
                         row=i + 2, field="price")
    plan["price"] = price
    unknown = ~plan["bundle_id"].isin(scenario.bundles.index)
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputError("plan.csv", f"unknown offer {plan['bundle_id'].iloc[i]!r} (not in bundles.csv)",
                         row=i + 2, field="bundle_id")
    seg_ok = plan["segment_id"].isin(scenario.segments.index) | (plan["segment_id"] == "*")
    if not seg_ok.all():
        i = int(np.flatnonzero(~seg_ok.to_numpy())[0])
        raise InputError("plan.csv", f"unknown segment {plan['segment_id'].iloc[i]!r}",
                         row=i + 2, field="segment_id")
    want_star = scenario.pricing == "uniform"
    wrong = (plan["segment_id"] == "*") != want_star
    if wrong.any():
        i = int(np.flatnonzero(wrong.to_numpy())[0])
        raise InputError("plan.csv", f"segment_id {plan['segment_id'].iloc[i]!r} does not fit "
                         f"{scenario.pricing} pricing", row=i + 2, field="segment_id")
    return plan.reset_index(drop=True)
