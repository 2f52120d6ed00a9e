"""From a scenario to the sparse set of decisions a model needs: price points and arcs.

A **price point** ``j`` is "offer ``b`` at price ``p`` to audience ``g``" — the audience
is everyone (``segment = -1``) in ``uniform`` mode and one segment in ``personalized``
mode. An **arc** ``a = (s, j)`` says segment ``s`` could buy point ``j``.

Pruning happens here, before any model sees it (SCENARIO.md §3, docs/semantics.md):

* ladder points outside ``min_price``/``max_price``, below the margin floor, or moving
  more than ``price_change.max_relative`` from the previous plan are removed;
* ``first_choice``: an arc exists only where ``p ≤ w_sb`` (a shopper never buys above its
  WTP), and a point without arcs is dropped — offering it changes nobody's choice and
  only tightens other constraints. ``mnl``: an arc exists wherever the segment has a WTP
  for the offer; points without arcs are dropped likewise.
* points of ``must_offer`` offers are all kept (they must be on sale even if nobody buys).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .scenario import Scenario

# Money is compared at a micro-unit: surpluses or prices equal to 6 decimals are ties.
MONEY_DECIMALS = 6


@dataclass
class OfferSpace:
    scenario: Scenario
    bundle_ids: np.ndarray            # offers still candidates (bundles order)
    segment_ids: np.ndarray
    size: np.ndarray                  # N_s per segment code
    ref_price: np.ndarray             # R_b per bundle code
    cost: np.ndarray                  # C_b per bundle code
    components: pd.DataFrame          # b (code), product_id, quantity
    points: pd.DataFrame              # b, seg (-1 = everyone), price, value
    arcs: pd.DataFrame                # s, j, wtp, beta, surplus, value, rank (first_choice)
    pruned: dict = field(default_factory=dict)       # counts removed by each rule
    no_price: dict = field(default_factory=dict)     # must_offer id -> rules that emptied it

    @property
    def personalized(self) -> bool:
        return self.scenario.pricing == "personalized"


def to_cents(x) -> np.ndarray:
    """Round money to the nearest cent, halves up (24.105 → 24.11), immune to float noise
    such as 32.14 × 0.75 = 24.104999…"""
    return np.floor(np.asarray(x, dtype=float) * 100.0 + 0.5 + 1e-7) / 100.0


def ladder(scenario: Scenario) -> pd.DataFrame:
    """Every offer's price ladder before any filter: columns ``bundle_id, price``."""
    ref = scenario.reference_prices()
    d = np.asarray(scenario.discounts, dtype=float)
    lad = pd.DataFrame({
        "bundle_id": np.repeat(ref.index.to_numpy(), len(d)),
        "price": to_cents(np.repeat(ref.to_numpy(), len(d)) * np.tile(1.0 - d, len(ref))),
    })
    given = scenario.prices
    if len(given):
        lad = lad[~lad["bundle_id"].isin(set(given["bundle_id"]))]
        lad = pd.concat([lad, pd.DataFrame({"bundle_id": given["bundle_id"].to_numpy(),
                                            "price": to_cents(given["price"].to_numpy(float))})])
    return lad.drop_duplicates().reset_index(drop=True)


def build_offer_space(scenario: Scenario) -> OfferSpace:
    if scenario.objective == "expected_profit":
        from .robust import saa_scenario

        scenario = saa_scenario(scenario)      # the same model on a segment per draw
    c = scenario.constraints
    bundles = scenario.bundles
    excluded = set(c.exclude)
    bundle_ids = np.array([b for b in bundles.index if b not in excluded], dtype=object)
    bcode = pd.Series(np.arange(len(bundle_ids)), index=bundle_ids)
    segment_ids = scenario.segments.index.to_numpy(dtype=object)
    scode = pd.Series(np.arange(len(segment_ids)), index=segment_ids)
    ref = scenario.reference_prices().reindex(bundle_ids).to_numpy(float)
    cost = scenario.offer_costs().reindex(bundle_ids).to_numpy(float)
    pinned = np.isin(bundle_ids, list(c.must_offer))
    pruned: dict[str, int] = {}
    removed_by: dict[str, list[str]] = {}

    lad = ladder(scenario)
    lad = lad[lad["bundle_id"].isin(bcode.index)]
    pts = pd.DataFrame({"b": bcode.reindex(lad["bundle_id"]).to_numpy(),
                        "price": lad["price"].to_numpy(float)})

    def apply(rule: str, keep: np.ndarray) -> None:
        nonlocal pts
        keep = np.asarray(keep, bool)
        gone = pts.loc[~keep, "b"].unique()
        left = set(pts.loc[keep, "b"].unique())
        for b in gone:
            if b not in left and pinned[b]:
                removed_by.setdefault(bundle_ids[b], []).append(rule)
        pruned[rule] = pruned.get(rule, 0) + int((~keep).sum())
        pts = pts[keep].reset_index(drop=True)

    lo = bundles["min_price"].reindex(bundle_ids).to_numpy(float)[pts["b"]]
    hi = bundles["max_price"].reindex(bundle_ids).to_numpy(float)[pts["b"]]
    p = pts["price"].to_numpy()
    apply("min_price/max_price", ~(p < lo - 1e-9) & ~(p > hi + 1e-9))
    if c.min_margin is not None:
        p = pts["price"].to_numpy()
        cb = cost[pts["b"].to_numpy()]
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = (p > 0) & ((p - cb) >= c.min_margin * p - 1e-9)
        apply("min_margin", ok)

    # Audiences: everyone, or one point per segment in personalized mode.
    if scenario.pricing == "personalized":
        pts = pts.merge(pd.DataFrame({"seg": np.arange(len(segment_ids))}), how="cross")
    else:
        pts["seg"] = -1

    if c.max_price_change is not None and len(scenario.previous_plan):
        apply("price_change.max_relative", _price_change_ok(pts, scenario, bcode, scode))

    # Arcs: which segments could buy which point.
    w = scenario.offer_wtp()
    w = w[w["bundle_id"].isin(bcode.index)]
    w = pd.DataFrame({"s": scode.reindex(w["segment_id"]).to_numpy(),
                      "b": bcode.reindex(w["bundle_id"]).to_numpy(),
                      "wtp": w["wtp"].to_numpy(float), "beta": w["beta"].to_numpy(float)})
    pts = pts.reset_index(drop=True)
    pts["j"] = np.arange(len(pts))
    if scenario.pricing == "personalized":
        arcs = pts.merge(w, left_on=["b", "seg"], right_on=["b", "s"])
    else:
        arcs = pts.merge(w, on="b")
    arcs["surplus"] = np.round(arcs["wtp"].to_numpy() - arcs["price"].to_numpy(), MONEY_DECIMALS)
    if scenario.choice_model == "first_choice":
        arcs = arcs[arcs["surplus"].to_numpy() >= 0]

    # Drop points nobody could buy, unless the offer is pinned on sale.
    has_arc = np.zeros(len(pts), bool)
    has_arc[arcs["j"].to_numpy()] = True
    is_pinned = pinned[pts["b"].to_numpy()]
    keep = has_arc | is_pinned
    pruned["nobody buys"] = int((~keep).sum())
    # A point earning nothing per sale (price ≤ cost under `profit`) is dominated by not
    # offering it: taking all of them off sale moves their buyers to offers that earn
    # more or to no purchase, and no rule needs an offer on sale — except `inventory`
    # (a loss leader can divert shoppers from a scarce product) and `coverage`.
    if not (c.inventory or c.coverage):
        value = pts["price"].to_numpy() - (cost[pts["b"].to_numpy()] if scenario.objective == "profit" else 0.0)
        earns = (value > 1e-12) | is_pinned
        pruned["earns nothing"] = int((keep & ~earns).sum())
        keep &= earns
    newj = np.cumsum(keep) - 1
    pts = pts[keep].reset_index(drop=True)
    arcs = arcs[keep[arcs["j"].to_numpy()]].copy()
    arcs["j"] = newj[arcs["j"].to_numpy()]
    pts = pts.drop(columns="j")

    unit_value = pts["price"].to_numpy() - (cost[pts["b"].to_numpy()] if scenario.objective == "profit" else 0.0)
    pts["value"] = unit_value
    arcs["value"] = unit_value[arcs["j"].to_numpy()]
    arcs = arcs[["s", "j", "b", "price", "wtp", "beta", "surplus", "value"]]

    if scenario.choice_model == "first_choice":
        # Each segment's strict preference order: surplus, then the seller's value, then
        # the offer's place in bundles.csv (docs/semantics.md).
        arcs = arcs.sort_values(["s", "surplus", "value", "b"], ascending=[True, False, False, True],
                                kind="stable").reset_index(drop=True)
        arcs["rank"] = arcs.groupby("s").cumcount()
    else:
        arcs = arcs.sort_values(["s", "j"], kind="stable").reset_index(drop=True)

    comp = scenario.components
    comp = comp[comp["bundle_id"].isin(bcode.index)]
    components = pd.DataFrame({"b": bcode.reindex(comp["bundle_id"]).to_numpy(),
                               "product_id": comp["product_id"].to_numpy(),
                               "quantity": comp["quantity"].to_numpy(int)})

    no_price = {b: ["exclude"] for b in c.must_offer if b in excluded}
    for b in np.flatnonzero(pinned):
        if not (pts["b"].to_numpy() == b).any():
            no_price[bundle_ids[b]] = removed_by.get(bundle_ids[b], ["price ladder"])
    return OfferSpace(scenario, bundle_ids, segment_ids,
                      scenario.segments["size"].to_numpy(float), ref, cost, components,
                      pts, arcs, pruned, no_price)


def _price_change_ok(pts: pd.DataFrame, scenario: Scenario, bcode: pd.Series,
                     scode: pd.Series) -> np.ndarray:
    """Which points move ≤ ε from every previous price they are compared with."""
    eps = scenario.constraints.max_price_change
    prev = scenario.previous_plan
    prev = prev[prev["bundle_id"].isin(bcode.index)]
    prev = pd.DataFrame({"b": bcode.reindex(prev["bundle_id"]).to_numpy(),
                         "pseg": prev["segment_id"].map(lambda s: -1 if s == "*" else scode.get(s, -2)).to_numpy(),
                         "old": prev["price"].to_numpy(float)})
    prev = prev[prev["pseg"] != -2]
    pts = pts.reset_index(drop=True)
    pts["j"] = np.arange(len(pts))
    pairs = pts.merge(prev, on="b")
    if scenario.pricing == "personalized":
        # same segment, or a uniform (`*`) row of the previous plan
        pairs = pairs[(pairs["pseg"] == -1) | (pairs["pseg"] == pairs["seg"])]
    bad = np.abs(pairs["price"].to_numpy() - pairs["old"].to_numpy()) > eps * pairs["old"].to_numpy() + 1e-9
    keep = np.ones(len(pts), bool)
    keep[pairs.loc[bad, "j"].to_numpy()] = False
    return keep
