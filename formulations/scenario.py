"""The scenario: products, candidate offers, segments and willingness to pay.

This is the in-memory form of a scenario directory (see docs/scenario.md). It holds
validated, id-keyed pandas tables and is immutable: what-if studies derive new
scenarios with :meth:`Scenario.replace` and :meth:`Scenario.with_constraints`, which
re-validate, and :meth:`Scenario.without_rule`.

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
                 ``wtp_level``), ``wtp`` (finite float, may be < 0), ``price_sensitivity`` (float or NaN),
                 ``wtp_sd`` (float ≥ 0 or NaN: the WTP's standard error; optional)
``prices``       columns ``bundle_id, price`` (may be empty)
``previous_plan`` columns ``bundle_id, segment_id, price`` (may be empty; with a
                 ``period`` column only its last period's rows are kept when read)
``periods``      columns ``period, segment_id, size`` (may be empty): N_st, seasons only
``receipts``     columns ``period, product_id, units`` (may be empty): stock arriving
``competitors``  columns ``bundle_id, product_id`` (one of them set per row, the other
                 ""), ``price``, ``period`` ("" = every period) (may be empty)

``segments`` may carry ``switching_cost`` (float ≥ 0, NaN = 0). ``horizon`` (a
:class:`Horizon`) makes the scenario a season (docs/scenario.md, "Seasons"); ``period``
is set only on the one-period slices a season model is built from
(:meth:`Scenario.period_slice`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .checks import suggest
from .options import BACKENDS, SolverOptions
from .rules import all_rules, excluded_offers, get_rule, rule_for_field
from .settings import CHOICE_MODELS, DEFAULT_DISCOUNTS, MAX_PERIODS, OBJECTIVES, PRICINGS
from .validate import validate_scenario

__all__ = ["BACKENDS", "CHOICE_MODELS", "CONSTRAINT_KEYS", "Constraints", "DEFAULT_DISCOUNTS",
           "Horizon", "MAX_PERIODS", "OBJECTIVES", "PRICINGS", "RobustOptions", "Scenario",
           "SolverOptions"]

@dataclass(frozen=True)
class Constraints:
    """The rules of ``scenario.yaml`` → ``constraints`` (docs/scenario.md §6); ``None`` /
    ``False`` / empty means "not imposed". One field per built-in rule of the catalogue
    (:mod:`formulations.rules`); rules registered later keep their value in ``others``.
    Read any rule's value with :meth:`get`.
    """

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
    others: tuple[tuple[str, Any], ...] = ()   # (field, value) of other registered rules

    @classmethod
    def of(cls, **values: Any) -> "Constraints":
        """Constraints from rule field names, built-in or registered (``max_offers=3``)."""
        return cls().changed(**values)

    def get(self, name: str) -> Any:
        """The value of the rule whose field is ``name`` (its ``off`` value if unset)."""
        if name in _OWN_FIELDS:
            return getattr(self, name)
        rule = rule_for_field(name)
        if rule is None:
            raise KeyError(f"no rule with field {name!r}")
        return dict(self.others).get(name, rule.off)

    def changed(self, **values: Any) -> "Constraints":
        """A copy with some rules' values changed (by field name); not validated."""
        own = {k: v for k, v in values.items() if k in _OWN_FIELDS}
        others = dict(self.others)
        for k, v in values.items():
            if k in own:
                continue
            rule = rule_for_field(k)
            if rule is None:
                raise TypeError(f"no rule with field {k!r}" + suggest(k, _OWN_FIELDS))
            others[k] = v
            if v is rule.off or (v == rule.off and type(v) is type(rule.off)):
                del others[k]          # "not imposed" is not stored
        return dataclasses.replace(self, **own, others=tuple(others.items()))

    def active(self) -> list[str]:
        """Keys (as in scenario.yaml) of the rules these constraints impose."""
        return [r.key for r in all_rules() if r.is_on(self.get(r.field))]


_OWN_FIELDS = tuple(f.name for f in dataclasses.fields(Constraints) if f.name != "others")
# dataclass field -> the key a merchandiser writes in scenario.yaml (built-in rules)
CONSTRAINT_KEYS = {f: rule_for_field(f).key for f in _OWN_FIELDS}


@dataclass(frozen=True)
class RobustOptions:
    """``robust:`` of scenario.yaml, for ``objective: expected_profit`` (formulations/robust.py)."""

    draws: int = 1
    seed: int = 0
    wtp_cv: float | None = None


@dataclass(frozen=True)
class Horizon:
    """``horizon:`` of scenario.yaml: the period labels (``1…P`` for a count) and the
    salvage rate σ of the stock left at the end (valued at σ × unit cost)."""

    labels: tuple[str, ...]
    salvage: float = 0.0

    @property
    def periods(self) -> int:
        return len(self.labels)


def _frame(**cols: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})


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
    horizon: Horizon | None = None
    periods: pd.DataFrame = field(default_factory=lambda: _frame(
        period=object, segment_id=object, size=float))
    receipts: pd.DataFrame = field(default_factory=lambda: _frame(
        period=object, product_id=object, units=float))
    competitors: pd.DataFrame = field(default_factory=lambda: _frame(
        bundle_id=object, product_id=object, price=float, period=object))
    period: str | None = None                  # set on a season's one-period slices

    # ----------------------------------------------------------------- seasons
    @property
    def is_season(self) -> bool:
        """Whether the scenario has a horizon (a season plan; docs/scenario.md)."""
        return self.horizon is not None

    def period_sizes(self) -> pd.DataFrame:
        """N_st: periods × segments (labels × segment ids); ``periods.csv`` where it
        gives a pair, else the segment's ``size``."""
        labels = list(self.horizon.labels) if self.horizon else ["1"]
        base = self.segments["size"].to_numpy(float)
        out = pd.DataFrame(np.tile(base, (len(labels), 1)), index=pd.Index(labels, name="period"),
                           columns=self.segments.index)
        p = self.periods
        if len(p):
            r = out.index.get_indexer(p["period"])
            c = out.columns.get_indexer(p["segment_id"])
            ok = (r >= 0) & (c >= 0)
            vals = out.to_numpy().copy()
            vals[r[ok], c[ok]] = p["size"].to_numpy(float)[ok]
            out = pd.DataFrame(vals, index=out.index, columns=out.columns)
        return out

    def period_receipts(self) -> pd.DataFrame:
        """Receipts: periods × products with a finite inventory (0 where none arrive)."""
        labels = list(self.horizon.labels) if self.horizon else ["1"]
        inv = self.products["inventory"]
        ids = inv.index[np.isfinite(inv.to_numpy(float))]
        out = pd.DataFrame(0.0, index=pd.Index(labels, name="period"), columns=ids)
        r = self.receipts
        if len(r):
            add = r.pivot_table(index="period", columns="product_id", values="units", aggfunc="sum")
            out = out + add.reindex(index=out.index, columns=out.columns).fillna(0.0)
        return out

    def period_slice(self, label: str) -> "Scenario":
        """Period ``label`` of the season as a one-period scenario: sizes N_st, the
        competitor rows of that period (and of every period), ``period`` set. Not
        re-validated (the season was)."""
        sizes = self.period_sizes().loc[label]
        comp = self.competitors
        comp = comp[(comp["period"] == "") | (comp["period"] == label)]
        return dataclasses.replace(
            self, segments=self.segments.assign(size=sizes.reindex(self.segments.index).to_numpy(float)),
            competitors=comp.assign(period=""), horizon=None, periods=self.periods.iloc[0:0],
            receipts=self.receipts.iloc[0:0], period=label)

    # ----------------------------------------------------------------- what-if
    def replace(self, **changes: Any) -> "Scenario":
        """A copy with some fields changed, re-validated (tables or settings)."""
        return validate_scenario(dataclasses.replace(self, **changes), source="scenario")

    def with_constraints(self, **changes: Any) -> "Scenario":
        """A copy with some rules changed by field name, re-validated, e.g.
        ``with_constraints(max_offers=3)`` or ``with_constraints(coverage="all")``."""
        return self.replace(constraints=self.constraints.changed(**changes))

    def without_rule(self, key: str) -> "Scenario":
        """This scenario with one rule switched off, for a what-if: "what would the
        plan earn without ``fairness.max_price_spread``?".

        ``key`` is the rule's scenario.yaml key under ``constraints``
        (``fairness.max_price_spread``) or its field name (``max_price_spread``). A
        rule the scenario does not impose leaves it unchanged; an unknown key raises
        ``KeyError``. Nothing else changes, so the result needs no re-validation.
        """
        return self.without_rules([key])

    def without_rules(self, keys: Iterable[str]) -> "Scenario":
        """This scenario with each rule in ``keys`` switched off (see :meth:`without_rule`)."""
        rules = [get_rule(k) for k in keys]
        off = self.constraints.changed(**{r.field: r.off for r in rules})
        return dataclasses.replace(self, constraints=off)

    # ------------------------------------------------------------ derived data
    def offer_wtp(self, all_offers: bool = False) -> pd.DataFrame:
        """WTP per (segment, offer): columns ``segment_id, bundle_id, wtp, beta``.

        With per-product WTP, ``w_sb = (1 + κ_b) Σ_i q_ib w_si``; an offer with a
        component lacking a WTP gets none (docs/scenario.md §2). ``beta`` is the per-offer
        price sensitivity if given, else the segment's (NaN if neither). Offers a rule
        excludes are left out unless ``all_offers`` (a competitor may sell them).
        """
        seg_beta = self.segments["price_sensitivity"]
        if self.wtp_level == "bundle":
            out = self.wtp[["segment_id", "bundle_id", "wtp", "price_sensitivity"]].copy()
        else:
            out = self._summed_wtp()
        beta = out["price_sensitivity"].to_numpy(dtype=float)
        fallback = seg_beta.reindex(out["segment_id"]).to_numpy(dtype=float)
        out["beta"] = np.where(np.isnan(beta), fallback, beta)
        out = out.drop(columns="price_sensitivity")
        excluded = excluded_offers(self) if not all_offers else set()
        if excluded:
            out = out[~out["bundle_id"].isin(excluded)]
        return out.reset_index(drop=True)

    def _summed_wtp(self) -> pd.DataFrame:
        """Per-product WTP summed over each offer's components, ``(1 + κ_b) Σ_i q_ib
        w_si``, for the (segment, offer) pairs whose every component has a WTP: one
        sparse product of the segments × products WTP matrix with the products × offers
        quantities (a merge and group-by took 65 ms at 50 × 200 × 1,000, and a season
        prices every period). Rows in the order a merge of ``wtp`` with ``components``
        would first meet each pair."""
        w, comp = self.wtp, self.components
        s_code, s_ids = pd.factorize(w["segment_id"])
        products = pd.Index(pd.unique(np.concatenate([w["product_id"].to_numpy(object),
                                                      comp["product_id"].to_numpy(object)])))
        p_code = products.get_indexer(w["product_id"])
        b_code, b_ids = pd.factorize(comp["bundle_id"])
        cp = products.get_indexer(comp["product_id"])
        n_s, n_p, n_b, n_c = len(s_ids), len(products), len(b_ids), len(comp)
        value = np.zeros((n_s, n_p))
        value[s_code, p_code] = w["wtp"].to_numpy(float)
        known = np.zeros((n_s, n_p))
        known[s_code, p_code] = 1.0
        qty = sp.csr_matrix((comp["quantity"].to_numpy(float), (cp, b_code)), shape=(n_p, n_b))
        has = sp.csr_matrix((np.ones(n_c), (cp, b_code)), shape=(n_p, n_b))
        has.data[:] = 1.0                                  # a product listed twice counts once
        total = np.asarray(value @ qty)                    # dense result: n_s × n_b
        complete = np.asarray(known @ has) >= np.asarray(has.sum(axis=0)).ravel() - 0.5
        # the order of first meeting: the earliest wtp row among the offer's components,
        # then the earliest components row of that product
        row = np.full((n_s, n_p), np.iinfo(np.int64).max // (n_c + 1))
        row[s_code, p_code] = np.arange(len(w))
        order = np.argsort(b_code, kind="stable")
        key = row[:, cp[order]] * (n_c + 1) + order
        first = np.minimum.reduceat(key, np.flatnonzero(np.r_[True, np.diff(b_code[order]) != 0]), axis=1)
        si, bi = np.nonzero(complete)
        rank = np.argsort(first[si, bi], kind="stable")
        si, bi = si[rank], bi[rank]
        kappa = self.bundles["complementarity"].reindex(b_ids).to_numpy(float)
        return pd.DataFrame({"segment_id": np.asarray(s_ids, object)[si],
                             "bundle_id": np.asarray(b_ids, object)[bi],
                             "wtp": (1.0 + kappa[bi]) * total[si, bi],
                             "price_sensitivity": np.nan})

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
