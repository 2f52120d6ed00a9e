"""Reading a plan.csv back (``--plan PLAN_DIR``) for explain and robustness, and saying
which rules a plan breaks before anything is scored against it.

A plan is refused (one line naming plan.csv, row and field) when it cannot be read as
a plan of the scenario at all: an unknown offer or segment, a bad price, an audience
that does not fit the pricing, or one offer named twice for one audience. A plan that
is a plan but breaks rules (a must-offer missing, a segment left uncovered, a price off
the ladder) is scored, and every output says first which rules it breaks, in the words
of the rule catalogue's own checks (:func:`formulations.evaluate.evaluate_plan`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from formulations.errors import InputError
from formulations.scenario import CONSTRAINT_KEYS, Scenario

# longest first, so max_offers_per_segment is not read as max_offers
_RULES = sorted(set(CONSTRAINT_KEYS.values()) | {"prices not on the ladder", "unknown offers",
                                                 "an offer has more than one price"},
                key=len, reverse=True)


def rule_of(violation: str) -> str:
    """The rule a violation message of evaluate_plan is about."""
    for name in _RULES:
        if violation.startswith(name):
            return "price ladder" if name == "prices not on the ladder" else name
    return violation.split(":")[0]


def rules_broken(violations: list[str]) -> dict[str, str]:
    """rule → what the plan does wrong (``;``-joined messages), in the order found."""
    out: dict[str, list[str]] = {}
    for v in violations:
        out.setdefault(rule_of(v), []).append(v)
    return {r: "; ".join(vs) for r, vs in out.items()}


def breaks_sentence(violations: list[str]) -> str | None:
    """The warning a command prints before its figures, or None for a plan that keeps
    every rule."""
    broken = rules_broken(violations)
    if not broken:
        return None
    n = len(broken)
    return (f"warning: the plan breaks {n} rule{'s' if n > 1 else ''} ({'; '.join(broken.values())}); "
            "the figures below are for a plan the scenario does not allow")


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
    _refuse_repeats(plan)
    return plan.reset_index(drop=True)


def _refuse_repeats(plan: pd.DataFrame) -> None:
    """One price per offer and audience: a second row for the same pair is refused."""
    again = plan.duplicated(["bundle_id", "segment_id"], keep="first").to_numpy()
    if again.any():
        i = int(np.flatnonzero(again)[0])
        b, a = plan["bundle_id"].iloc[i], plan["segment_id"].iloc[i]
        first = int(np.flatnonzero(((plan["bundle_id"] == b) & (plan["segment_id"] == a)).to_numpy())[0])
        raise InputError("plan.csv", f"offer {b!r} is named again for audience {a!r} (first on row "
                         f"{first + 2}): a plan has one price per offer and audience",
                         row=i + 2, field="bundle_id")


def refuse_season(scenario, study: str) -> None:
    """A season (``horizon:`` in scenario.yaml) stops ``study`` with one line: its
    re-pricings and draws are written for one period's plan."""
    if scenario.is_season:
        from formulations.errors import CapabilityError

        raise CapabilityError(f"{study} does not handle season scenarios yet (this one has "
                              f"a horizon of {scenario.horizon.periods} periods); solve it and "
                              "read summary.json's per-period figures instead")
