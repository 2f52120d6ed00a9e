"""Value and cross-table checks on a typed :class:`~formulations.scenario.Scenario`.

One place decides what a valid scenario is: the directory loader, the JSON loader and
the what-if helpers (:meth:`Scenario.replace`) all end here. The loaders only turn
text into numbers (and blank into NaN); every range, uniqueness and reference rule
lives below, so the three entry points cannot drift apart.

Errors are :class:`~formulations.errors.InputError` lines naming the file (or JSON
table), the row where the bad value sits and the field. :class:`Sources` says how a
table row maps to a file row; without one, tables are named by their attribute and
rows are 1-based positions.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .checks import ALL_SEGMENTS, Sources, suggest
from .options import BACKENDS, is_number
from .rules import all_rules
from .settings import CHOICE_MODELS, MAX_PERIODS, OBJECTIVES, PRICINGS

if TYPE_CHECKING:     # the scenario module imports this one, not the other way round
    from .scenario import Scenario

__all__ = ["ALL_SEGMENTS", "Sources", "suggest", "validate_scenario"]

WTP_LEVELS = ("bundle", "product")
TABLE_KEYS = ("products", "components", "bundles", "segments", "wtp", "prices",
              "previous_plan", "periods", "receipts", "competitors")


def _fmt(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return "blank" if np.isnan(value) else f"{float(value):g}"
    return repr(value)


def validate_scenario(scenario: Scenario, source: str = "scenario", *,
                      sources: Sources | None = None) -> Scenario:
    """Check every value and cross-table reference of ``scenario``; return it normalised.

    ``source`` names where the settings came from (``scenario.yaml``, the JSON
    ``scenario`` object, or ``scenario`` for a what-if change); ``sources`` refines
    the table names and rows (the loaders pass one). Raises
    :class:`~formulations.errors.InputError` on the first problem. The returned
    scenario has ``quantity`` as int64 and the id-lists of the constraints as tuples.
    """
    src = sources if sources is not None else Sources(settings=source)
    _check_columns(scenario, src)
    scenario = with_optional_columns(scenario)
    _check_settings(scenario, src)
    _check_products(scenario.products, src)
    components = _check_components(scenario, src)
    _check_bundles(scenario, components, src)
    _check_segments(scenario, src)
    _check_wtp(scenario, src)
    _check_prices(scenario, src)
    _check_previous_plan(scenario, src)
    _check_season(scenario, src)
    _check_competitors(scenario, src)
    scenario = _check_rules(scenario, src)
    return dataclasses.replace(scenario, components=components,
                               discounts=tuple(float(d) for d in scenario.discounts))


# ------------------------------------------------------------------- structure
_REQUIRED = {
    "products": ("unit_cost", "list_price", "inventory"),
    "components": ("bundle_id", "product_id", "quantity"),
    "bundles": ("complementarity", "min_price", "max_price"),
    "segments": ("size", "price_sensitivity"),
    "wtp": ("segment_id", "wtp", "price_sensitivity"),
    "prices": ("bundle_id", "price"),
    "previous_plan": ("bundle_id", "segment_id", "price"),
    "periods": ("period", "segment_id", "size"),
    "receipts": ("period", "product_id", "units"),
    "competitors": ("bundle_id", "product_id", "price", "period"),
}
_NUMERIC = {"unit_cost", "list_price", "inventory", "quantity", "complementarity",
            "min_price", "max_price", "size", "price_sensitivity", "wtp", "price", "wtp_sd",
            "units"}


def with_optional_columns(s: Scenario) -> Scenario:
    """Add the optional columns a table may leave out: product ``name`` (blank = none),
    ``wtp_sd`` (NaN = no standard error known) and segment ``switching_cost`` (NaN = 0)."""
    products, wtp, segments = s.products, s.wtp, s.segments
    if "switching_cost" not in segments.columns:
        segments = segments.assign(switching_cost=np.nan)
    if "name" not in products.columns:
        products = products.assign(name="")
    else:
        products = products.assign(name=products["name"].fillna("").astype(str))
    if "wtp_sd" not in wtp.columns:
        wtp = wtp.assign(wtp_sd=np.nan)
    if products is s.products and wtp is s.wtp and segments is s.segments:
        return s
    return dataclasses.replace(s, products=products, wtp=wtp, segments=segments)


def _check_columns(s: Scenario, src: Sources) -> None:
    for key in TABLE_KEYS:
        table = getattr(s, key)
        if not isinstance(table, pd.DataFrame):
            raise src.error(key, None, None, f"expected a table, found {type(table).__name__}")
        for col in _REQUIRED[key]:
            if col not in table.columns:
                raise src.error(key, None, col, f"missing column '{col}'")
            if col in _NUMERIC and len(table) and not pd.api.types.is_numeric_dtype(table[col]):
                raise src.error(key, None, col, f"expected numbers, found {table[col].dtype} values")
    if s.wtp_level not in WTP_LEVELS:
        raise src.setting_error("wtp_level", f"expected one of {', '.join(WTP_LEVELS)}, "
                                f"found {s.wtp_level!r}")
    offer_col = "bundle_id" if s.wtp_level == "bundle" else "product_id"
    if offer_col not in s.wtp.columns:
        raise src.error("wtp", None, offer_col, f"missing column '{offer_col}'")


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


def _check_ids(key: str, values: pd.Series | pd.Index, column: str, src: Sources,
               *, unique: bool) -> None:
    text = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_string_dtype(text) and text.dtype != object:
        is_text = text.notna().to_numpy(bool)       # a str column holds text or NaN
    else:
        is_text = text.map(lambda v: isinstance(v, str)).to_numpy(bool)
    bad = _first(~is_text)
    if bad is not None:
        raise src.error(key, bad, column, f"expected an id (text), found {_fmt(text[bad])}")
    bad = _first((text.str.strip() == "").to_numpy(bool))
    if bad is not None:
        raise src.error(key, bad, column, "empty id")
    if unique:
        dup = _first(text.duplicated().to_numpy(bool))
        if dup is not None:
            first = _first((text == text[dup]).to_numpy(bool))
            raise src.error(key, dup, column, f"duplicate {column} {text[dup]!r} "
                            f"(first in row {src.row(key, first)})")


def _check_range(key: str, values: pd.Series, column: str, src: Sources, *,
                 lo: float | None = None, lo_open: bool = False, hi: float | None = None,
                 hi_open: bool = False, blank_ok: bool = False, integer: bool = False) -> None:
    """First row whose value is blank (unless allowed), not finite or out of range."""
    x = values.to_numpy(dtype=float, na_value=np.nan)
    blank = np.isnan(x)
    bad = np.isinf(x) | (blank & (not blank_ok))
    with np.errstate(invalid="ignore"):
        if lo is not None:
            bad |= (x <= lo) if lo_open else (x < lo)
        if hi is not None:
            bad |= (x >= hi) if hi_open else (x > hi)
        if integer:
            bad |= ~blank & (x != np.round(x))
    pos = _first(bad)
    if pos is None:
        return
    what = "an integer" if integer else "a number"
    bounds = []
    if lo is not None:
        bounds.append(f"{'>' if lo_open else '≥'} {lo:g}")
    if hi is not None:
        bounds.append(f"{'<' if hi_open else '≤'} {hi:g}")
    expected = what + (" " + " and ".join(bounds) if bounds else "")
    if blank_ok:
        expected += " or blank"
    raise src.error(key, pos, column, f"expected {expected}, found {_fmt(x[pos])}")


def _check_known(key: str, values: pd.Series, column: str, known: pd.Index, what: str,
                 where: str, src: Sources, extra: tuple[str, ...] = ()) -> None:
    ok = values.isin(known) | values.isin(list(extra))
    pos = _first(~ok.to_numpy(bool))
    if pos is not None:
        v = values.iloc[pos]
        hint = suggest(v, list(known) + list(extra)).strip(" ()")
        raise src.error(key, pos, column, f"unknown {what} {v!r} (not in {where}"
                        + (f"; {hint})" if hint else ")"))


# ------------------------------------------------------------------- settings
def _check_settings(s: Scenario, src: Sources) -> None:
    for name, allowed in (("pricing", PRICINGS), ("choice_model", CHOICE_MODELS),
                          ("objective", OBJECTIVES)):
        value = getattr(s, name)
        if value not in allowed:
            raise src.setting_error(name, f"expected one of {', '.join(allowed)}, found "
                                    f"{value!r}" + suggest(value, allowed))
    d = np.asarray(s.discounts, dtype=object)
    if len(d) == 0:
        raise src.setting_error("price_ladder.discounts", "expected at least one discount")
    for v in d:
        if not is_number(v) or not (0 <= v < 1):
            raise src.setting_error("price_ladder.discounts",
                                    f"expected numbers in [0, 1), found {v!r}")
    o = s.solver
    if o.backend not in BACKENDS:
        raise src.setting_error("solver.backend", f"expected one of {', '.join(BACKENDS)}, "
                                f"found {o.backend!r}" + suggest(o.backend, BACKENDS))
    problem = o.first_problem()
    if problem is not None:
        name, expected = problem
        raise src.setting_error(f"solver.{name}", f"expected {expected}, found {getattr(o, name)!r}")
    from .robust import check_robust     # robust.py reads Scenario, which imports this module

    problem = check_robust(s)
    if problem:
        raise src.setting_error(*problem)


# ------------------------------------------------------------------- tables
def _check_products(p: pd.DataFrame, src: Sources) -> None:
    _check_ids("products", p.index, "product_id", src, unique=True)
    _check_range("products", p["unit_cost"], "unit_cost", src, lo=0.0)
    _check_range("products", p["list_price"], "list_price", src, lo=0.0, lo_open=True)
    _check_range("products", p["inventory"], "inventory", src, lo=0.0, blank_ok=True)


def _check_components(s: Scenario, src: Sources) -> pd.DataFrame:
    c = s.components
    _check_ids("components", c["bundle_id"], "bundle_id", src, unique=False)
    _check_ids("components", c["product_id"], "product_id", src, unique=False)
    _check_range("components", c["quantity"], "quantity", src, lo=1.0, hi=1e6, integer=True)
    _check_known("components", c["product_id"], "product_id", s.products.index, "product",
                 src.table("products"), src)
    dup = c.duplicated(["bundle_id", "product_id"]).to_numpy(bool)
    pos = _first(dup)
    if pos is not None:
        b, i = c["bundle_id"].iloc[pos], c["product_id"].iloc[pos]
        first = _first(((c["bundle_id"] == b) & (c["product_id"] == i)).to_numpy(bool))
        raise src.error("components", pos, "product_id",
                        f"duplicate product {i!r} in offer {b!r} (also in row "
                        f"{src.row('components', first)}; use one row with a larger quantity)")
    _check_known("components", c["bundle_id"], "bundle_id", s.bundles.index, "offer",
                 "the offers table", src)
    return c.assign(quantity=c["quantity"].to_numpy(dtype=float).astype(np.int64))


def _check_bundles(s: Scenario, components: pd.DataFrame, src: Sources) -> None:
    b = s.bundles
    _check_ids("bundles", b.index, "bundle_id", src, unique=True)
    empty = _first(~b.index.isin(components["bundle_id"]))
    if empty is not None:
        raise src.error("bundles", empty, "bundle_id",
                        f"offer {b.index[empty]!r} has no components")
    _check_range("bundles", b["complementarity"], "complementarity", src, lo=-1.0,
                 lo_open=True)
    _check_range("bundles", b["min_price"], "min_price", src, lo=0.0, blank_ok=True)
    _check_range("bundles", b["max_price"], "max_price", src, lo=0.0, blank_ok=True)
    lo, hi = b["min_price"].to_numpy(float), b["max_price"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        pos = _first(lo > hi)
    if pos is not None:
        raise src.error("bundles", pos, "max_price", f"max_price {hi[pos]:g} is below "
                        f"min_price {lo[pos]:g} for offer {b.index[pos]!r}")


def _check_segments(s: Scenario, src: Sources) -> None:
    g = s.segments
    _check_ids("segments", g.index, "segment_id", src, unique=True)
    star = _first((g.index == ALL_SEGMENTS))
    if star is not None:
        raise src.error("segments", star, "segment_id",
                        f"segment id '{ALL_SEGMENTS}' is reserved (it means every segment)")
    _check_range("segments", g["size"], "size", src, lo=0.0)
    _check_range("segments", g["price_sensitivity"], "price_sensitivity", src, lo=0.0,
                 lo_open=True, blank_ok=True)
    _check_range("segments", g["switching_cost"], "switching_cost", src, lo=0.0, blank_ok=True)


def _check_wtp(s: Scenario, src: Sources) -> None:
    w = s.wtp
    offer_col = "bundle_id" if s.wtp_level == "bundle" else "product_id"
    _check_ids("wtp", w["segment_id"], "segment_id", src, unique=False)
    _check_ids("wtp", w[offer_col], offer_col, src, unique=False)
    _check_known("wtp", w["segment_id"], "segment_id", s.segments.index, "segment",
                 src.table("segments"), src)
    if s.wtp_level == "bundle":
        _check_known("wtp", w["bundle_id"], "bundle_id", s.bundles.index, "offer",
                     src.table("bundles"), src)
    else:
        _check_known("wtp", w["product_id"], "product_id", s.products.index, "product",
                     src.table("products"), src)
    pos = _first(w.duplicated(["segment_id", offer_col]).to_numpy(bool))
    if pos is not None:
        g, o = w["segment_id"].iloc[pos], w[offer_col].iloc[pos]
        first = _first(((w["segment_id"] == g) & (w[offer_col] == o)).to_numpy(bool))
        raise src.error("wtp", pos, offer_col, f"duplicate WTP for segment {g!r} and "
                        f"{offer_col} {o!r} (first in row {src.row('wtp', first)})")
    # any finite WTP: a negative one is meaningful under mnl (docs/semantics.md)
    _check_range("wtp", w["wtp"], "wtp", src)
    beta = w["price_sensitivity"]
    if s.wtp_level == "product" and beta.notna().any():
        pos = _first(beta.notna().to_numpy(bool))
        raise src.error("wtp", pos, "price_sensitivity", "a per-offer price_sensitivity "
                        "needs WTP per offer (bundle_id), not per product")
    _check_range("wtp", beta, "price_sensitivity", src, lo=0.0, lo_open=True, blank_ok=True)
    _check_range("wtp", w["wtp_sd"], "wtp_sd", src, lo=0.0, blank_ok=True)
    if s.choice_model == "mnl":
        seg_beta = s.segments["price_sensitivity"].reindex(w["segment_id"]).to_numpy(float)
        missing = np.isnan(beta.to_numpy(float, na_value=np.nan)) & np.isnan(seg_beta)
        pos = _first(missing)
        if pos is not None:
            raise src.error("wtp", pos, "price_sensitivity",
                            f"choice_model 'mnl' needs a price sensitivity for segment "
                            f"{w['segment_id'].iloc[pos]!r}: blank here and in "
                            f"{src.table('segments')}")


def _check_prices(s: Scenario, src: Sources) -> None:
    p = s.prices
    _check_ids("prices", p["bundle_id"], "bundle_id", src, unique=False)
    _check_known("prices", p["bundle_id"], "bundle_id", s.bundles.index, "offer",
                 src.table("bundles"), src)
    _check_range("prices", p["price"], "price", src, lo=0.0, lo_open=True)


def _check_previous_plan(s: Scenario, src: Sources) -> None:
    p = s.previous_plan
    _check_ids("previous_plan", p["bundle_id"], "bundle_id", src, unique=False)
    _check_ids("previous_plan", p["segment_id"], "segment_id", src, unique=False)
    _check_known("previous_plan", p["bundle_id"], "bundle_id", s.bundles.index, "offer",
                 src.table("bundles"), src)
    _check_known("previous_plan", p["segment_id"], "segment_id", s.segments.index, "segment",
                 src.table("segments"), src, extra=(ALL_SEGMENTS,))
    pos = _first(p.duplicated(["bundle_id", "segment_id"]).to_numpy(bool))
    if pos is not None:
        raise src.error("previous_plan", pos, "segment_id",
                        f"offer {p['bundle_id'].iloc[pos]!r} has two previous prices for "
                        f"segment {p['segment_id'].iloc[pos]!r}")
    _check_range("previous_plan", p["price"], "price", src, lo=0.0, lo_open=True)


def _check_season(s: Scenario, src: Sources) -> None:
    """``horizon``, ``periods.csv`` and ``receipts.csv`` (docs/scenario.md, "Seasons")."""
    h = s.horizon
    for key in ("periods", "receipts"):
        if h is None and len(getattr(s, key)):
            raise src.error(key, 0, "period", f"{src.table(key)} needs a horizon "
                            "('horizon: {periods: P}' in scenario.yaml)")
    if h is None:
        return
    labels = list(h.labels)
    if not 1 <= len(labels) <= MAX_PERIODS:
        raise src.setting_error("horizon.periods", f"expected 1 to {MAX_PERIODS} periods, "
                                f"found {len(labels)}")
    for t in labels:
        if not isinstance(t, str) or not t.strip():
            raise src.setting_error("horizon.periods", f"expected period labels, found {t!r}")
    dup = pd.Series(labels).duplicated()
    if dup.any():
        raise src.setting_error("horizon.periods", f"period {labels[int(np.flatnonzero(dup)[0])]!r} "
                                "is listed twice")
    if not is_number(h.salvage) or not (0 <= h.salvage):
        raise src.setting_error("horizon.salvage", f"expected a number ≥ 0, found {h.salvage!r}")
    if h.salvage > 0 and not s.constraints.inventory:
        raise src.setting_error("horizon.salvage", "a salvage value needs 'constraints: "
                                "{inventory: true}' (it values the stock left)")
    if s.objective == "expected_profit":
        raise src.setting_error("objective", "expected_profit is not available with a horizon "
                                "(use profit or revenue)")
    p = s.periods
    _check_period_rows("periods", p, labels, "segment_id", s.segments.index, "segment",
                       "segments", "size", src)
    pos = _first(p.duplicated(["period", "segment_id"]).to_numpy(bool))
    if pos is not None:
        raise src.error("periods", pos, "segment_id", f"segment {p['segment_id'].iloc[pos]!r} "
                        f"has two sizes in period {p['period'].iloc[pos]!r}")
    _check_period_rows("receipts", s.receipts, labels, "product_id", s.products.index, "product",
                       "products", "units", src)


def _check_period_rows(table: str, frame: pd.DataFrame, labels, key: str, known: pd.Index,
                       kind: str, known_table: str, amount: str, src: Sources) -> None:
    """A per-period table (periods.csv, receipts.csv): a period of the horizon, a known
    ``key`` (segment or product) and an ``amount`` ≥ 0 on every row."""
    _check_ids(table, frame["period"], "period", src, unique=False)
    _check_known(table, frame["period"], "period", pd.Index(labels), "period",
                 "the horizon in scenario.yaml", src)
    _check_ids(table, frame[key], key, src, unique=False)
    _check_known(table, frame[key], key, known, kind, src.table(known_table), src)
    _check_range(table, frame[amount], amount, src, lo=0.0)


def _check_competitors(s: Scenario, src: Sources) -> None:
    """``competitors.csv``: one offer or product per row, a price ≥ 0, a period of the horizon."""
    c = s.competitors
    if not len(c):
        return
    has_b = (c["bundle_id"].astype(str).str.strip() != "").to_numpy(bool)
    has_p = (c["product_id"].astype(str).str.strip() != "").to_numpy(bool)
    pos = _first(has_b == has_p)
    if pos is not None:
        raise src.error("competitors", pos, "bundle_id", "give a bundle_id or a product_id "
                        "(one of them) on each row")
    if has_b.any():
        _check_known("competitors", c["bundle_id"][has_b], "bundle_id", s.bundles.index, "offer",
                     src.table("bundles"), _subset_rows(src, "competitors", np.flatnonzero(has_b)))
    if has_p.any():
        _check_known("competitors", c["product_id"][has_p], "product_id", s.products.index,
                     "product", src.table("products"),
                     _subset_rows(src, "competitors", np.flatnonzero(has_p)))
    _check_range("competitors", c["price"], "price", src, lo=0.0)
    stated = (c["period"].astype(str) != "").to_numpy(bool)
    if stated.any():
        if s.horizon is None:
            raise src.error("competitors", int(np.flatnonzero(stated)[0]), "period",
                            "a period needs a horizon ('horizon: {periods: P}' in scenario.yaml)")
        _check_known("competitors", c["period"][stated], "period", pd.Index(s.horizon.labels),
                     "period", "the horizon in scenario.yaml",
                     _subset_rows(src, "competitors", np.flatnonzero(stated)))


def _subset_rows(src: Sources, key: str, at: np.ndarray) -> Sources:
    """Sources for a subset of a table's rows: position ``k`` of the subset is row ``at[k]``."""
    rows = np.array([src.row(key, int(i)) for i in at], dtype=np.int64)
    return dataclasses.replace(src, rows={**src.rows, key: rows})


def _check_rules(s: Scenario, src: Sources) -> Scenario:
    """Each rule of the catalogue normalises and validates its own value."""
    c = s.constraints
    values = {r.field: r.normalise(c.get(r.field), s) for r in all_rules()}
    for r in all_rules():
        r.validate(values[r.field], s, src)
    return dataclasses.replace(s, constraints=c.changed(**values))
