"""The scenario: products, candidate offers, segments and willingness to pay.

This is the in-memory form of a scenario directory (see ``SCENARIO.md`` and
``docs`` in the README). It holds validated, id-keyed pandas tables and is immutable:
what-if studies derive new scenarios with :meth:`Scenario.replace` and
:meth:`Scenario.with_constraints`, which re-validate.

Table layouts (all ids are ``str``):

``products``     index ``product_id``; ``unit_cost``, ``list_price``, ``inventory``
                 (float, NaN = unlimited), ``name`` (str, "" = none; optional)
``components``   columns ``bundle_id, product_id, quantity`` (int ≥ 1), one row per
                 (offer, product)
``bundles``      index ``bundle_id`` (file order); ``complementarity`` (float, 0),
                 ``min_price``, ``max_price`` (float, NaN = none)
``segments``     index ``segment_id``; ``size`` (float ≥ 0), ``price_sensitivity``
                 (float > 0 or NaN)
``wtp``          columns ``segment_id``, ``bundle_id`` *or* ``product_id`` (see
                 ``wtp_level``), ``wtp`` (float ≥ 0), ``price_sensitivity`` (float or NaN),
                 ``wtp_sd`` (float ≥ 0 or NaN: the WTP's standard error; optional)
``prices``       columns ``bundle_id, price`` (may be empty)
``previous_plan`` columns ``bundle_id, segment_id, price`` (may be empty)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_DISCOUNTS: tuple[float, ...] = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30)
PRICINGS = ("uniform", "personalized")
CHOICE_MODELS = ("first_choice", "mnl")
OBJECTIVES = ("profit", "revenue", "expected_profit")
BACKENDS = ("highs", "cpsat")


@dataclass(frozen=True)
class Constraints:
    """Section 6 of SCENARIO.md; ``None`` / ``False`` / empty means "not imposed"."""

    min_margin: float | None = None
    max_offers: int | None = None
    max_offers_per_segment: int | None = None
    inventory: bool = False
    must_offer: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    no_arbitrage: bool = False
    max_price_spread: float | None = None      # fairness.max_price_spread
    coverage: tuple[str, ...] = ()             # fairness.coverage, "all" expanded
    max_price_change: float | None = None      # price_change.max_relative

    def active(self) -> list[str]:
        """Names (as in scenario.yaml) of the constraints this scenario imposes."""
        names = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is None or v is False or v == ():
                continue
            names.append(CONSTRAINT_KEYS[f.name])
        return names


# dataclass field -> the key a merchandiser writes in scenario.yaml
CONSTRAINT_KEYS = {
    "min_margin": "min_margin",
    "max_offers": "max_offers",
    "max_offers_per_segment": "max_offers_per_segment",
    "inventory": "inventory",
    "must_offer": "must_offer",
    "exclude": "exclude",
    "no_arbitrage": "no_arbitrage",
    "max_price_spread": "fairness.max_price_spread",
    "coverage": "fairness.coverage",
    "max_price_change": "price_change.max_relative",
}


@dataclass(frozen=True)
class SolverOptions:
    backend: str = "highs"
    time_limit: float | None = None
    mip_gap: float | None = None
    threads: int | None = None


@dataclass(frozen=True)
class RobustOptions:
    """``robust:`` of scenario.yaml, for ``objective: expected_profit`` (formulations/robust.py)."""

    draws: int = 1
    seed: int = 0
    wtp_cv: float | None = None


@dataclass(frozen=True, eq=False)
class Scenario:
    products: pd.DataFrame
    components: pd.DataFrame
    bundles: pd.DataFrame
    segments: pd.DataFrame
    wtp: pd.DataFrame
    wtp_level: str = "bundle"                  # "bundle" or "product"
    prices: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {"bundle_id": pd.Series(dtype=str), "price": pd.Series(dtype=float)}))
    previous_plan: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {"bundle_id": pd.Series(dtype=str), "segment_id": pd.Series(dtype=str),
         "price": pd.Series(dtype=float)}))
    pricing: str = "uniform"
    choice_model: str = "first_choice"
    objective: str = "profit"
    discounts: tuple[float, ...] = DEFAULT_DISCOUNTS
    constraints: Constraints = Constraints()
    solver: SolverOptions = SolverOptions()
    name: str = "scenario"
    robust: RobustOptions | None = None

    # ----------------------------------------------------------------- what-if
    def replace(self, **changes: Any) -> "Scenario":
        """A copy with some fields changed, re-validated (tables or settings)."""
        from .validate import validate_scenario

        return validate_scenario(dataclasses.replace(self, **changes), source="scenario")

    def with_constraints(self, **changes: Any) -> "Scenario":
        """A copy with some constraints changed, e.g. ``with_constraints(max_offers=3)``."""
        if "coverage" in changes and changes["coverage"] == "all":
            changes["coverage"] = tuple(self.segments.index)
        for key in ("must_offer", "exclude", "coverage"):
            if key in changes and changes[key] is not None:
                changes[key] = tuple(changes[key])
        return self.replace(constraints=dataclasses.replace(self.constraints, **changes))

    # ------------------------------------------------------------ derived data
    def offer_wtp(self) -> pd.DataFrame:
        """WTP per (segment, offer): columns ``segment_id, bundle_id, wtp, beta``.

        With per-product WTP, ``w_sb = (1 + κ_b) Σ_i q_ib w_si``; an offer with a
        component lacking a WTP gets none (SCENARIO.md §2). ``beta`` is the per-offer
        price sensitivity if given, else the segment's (NaN if neither).
        """
        seg_beta = self.segments["price_sensitivity"]
        if self.wtp_level == "bundle":
            out = self.wtp[["segment_id", "bundle_id", "wtp", "price_sensitivity"]].copy()
        else:
            comp = self.components
            w = self.wtp[["segment_id", "product_id", "wtp"]].merge(comp, on="product_id")
            w["wq"] = w["wtp"] * w["quantity"]
            agg = w.groupby(["segment_id", "bundle_id"], sort=False).agg(
                total=("wq", "sum"), n=("product_id", "nunique")).reset_index()
            ncomp = comp.groupby("bundle_id")["product_id"].nunique()
            agg = agg[agg["n"].to_numpy() == ncomp.reindex(agg["bundle_id"]).to_numpy()]
            kappa = self.bundles["complementarity"].reindex(agg["bundle_id"]).to_numpy()
            out = pd.DataFrame({
                "segment_id": agg["segment_id"].to_numpy(),
                "bundle_id": agg["bundle_id"].to_numpy(),
                "wtp": (1.0 + kappa) * agg["total"].to_numpy(),
                "price_sensitivity": np.nan,
            })
        beta = out["price_sensitivity"].to_numpy(dtype=float)
        fallback = seg_beta.reindex(out["segment_id"]).to_numpy(dtype=float)
        out["beta"] = np.where(np.isnan(beta), fallback, beta)
        out = out.drop(columns="price_sensitivity")
        excluded = set(self.constraints.exclude)
        if excluded:
            out = out[~out["bundle_id"].isin(excluded)]
        return out.reset_index(drop=True)

    def reference_prices(self) -> pd.Series:
        """R_b = Σ_i q_ib L_i, indexed by bundle_id in bundles order."""
        return self._per_offer("list_price")

    def offer_costs(self) -> pd.Series:
        """C_b = Σ_i q_ib c_i, indexed by bundle_id in bundles order."""
        return self._per_offer("unit_cost")

    def _per_offer(self, column: str) -> pd.Series:
        c = self.components
        v = c["quantity"].to_numpy() * self.products[column].reindex(c["product_id"]).to_numpy()
        s = pd.Series(v, index=c["bundle_id"].to_numpy()).groupby(level=0, sort=False).sum()
        return s.reindex(self.bundles.index)
