r"""Re-planning a season week by week from what sold (SCENARIO.md §8 "Re-planning").

A weekly config with ``season: {start: WEEK}`` maps period ``i`` of its scenario's
horizon (0-based) to the ISO week ``start + i`` (with ISO-week labels the labels are the
weeks, and ``start`` must be the first of them or be left out). Planning week ``W``
(period ``w``) re-plans periods ``w … P−1`` on a scenario derived from the season's:

* **stock**: ``Q'_i = Q_i + Σ_{t ≤ w} R_{it} − S_i`` with ``S_i`` the units of product
  ``i`` sold since the start (the sales table); receipts after ``w`` stay receipts.
  Sales must never exceed what was there: ``Σ_{t' ≤ t} S_{it'} ≤ Q_i + Σ_{t' ≤ t} R_{it'}``
  for every ``t ≤ w``, and no sales are for a week after ``W``.
* **history**: the prices published for the weeks before ``W`` (period ``t < w`` takes
  the published version of the latest planned week ``≤ t``: :func:`published_prices`)
  become the history of the rules that compare with the last price on sale
  (:mod:`formulations.rules.last_price`): the new ``previous_plan`` holds each offer
  and audience's last published price on sale, so ``no_increase`` and
  ``price_change.max_relative`` hold across the boundary exactly.
* ``max_changes: K`` and ``min_gap: g`` count changes (``u_g`` per audience and offer,
  the last at period ``c_g``) the published weeks made, measured as the season model
  measures them. A group that used all ``K``, or changed less than ``g`` periods
  before ``w`` (``w − c_g < g``), may not change again now: under uniform pricing its
  offer is pinned to its last price (``min_price = max_price``); the others may make
  ``K − max u_g`` more changes (``max u_g`` over the unpinned groups). Under
  personalized pricing a pinned group makes ``K' = 0`` (every offer keeps its last
  price). Both are conservative: the re-plan never breaks a rule over the whole
  season, and may keep a price a per-offer count would have let move.

Shoppers (``periods``), competitor prices and the horizon's salvage are the season's,
for the periods left.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from formulations.errors import InputError
from formulations.rules.last_price import season_history
from formulations.rules.max_changes import changed

from ..limits import MAX_AMOUNT, safe_text, text_problem
from ..models import PlanSales, utcnow
from .approval import shelf_weeks
from .config import WEEK_RE, checked_week, shift_week
from .versions import get_version

#: Most sales rows one file or one request may hold.
MAX_SALES_ROWS = 100_000
SALES_COLUMNS = ("product_id", "units")


@dataclass(frozen=True)
class SeasonWeeks:
    """The season's period labels and the ISO week of each."""

    labels: tuple[str, ...]
    weeks: tuple[str, ...]

    def index(self, week: str) -> int | None:
        """The period of ISO week ``week`` (0-based), or ``None`` outside the season."""
        return self.weeks.index(week) if week in self.weeks else None

    @property
    def span(self) -> str:
        return f"{self.weeks[0]}..{self.weeks[-1]}"


def season_weeks(start: str | None, scenario: Any, source: str) -> SeasonWeeks:
    """The ISO week of each period of ``scenario``'s horizon, from ``season.start``."""
    if scenario.horizon is None:
        raise InputError(source, "the config declares a season but its scenario has no "
                         "horizon", field="season")
    labels = tuple(scenario.horizon.labels)
    if all(WEEK_RE.fullmatch(t) for t in labels):
        if start is not None and start != labels[0]:
            raise InputError(source, f"start {start} is not the horizon's first period "
                             f"{labels[0]} (leave it out or make them agree)",
                             field="season.start")
        for t in labels:
            checked_week(t, source, "horizon.periods")
        return SeasonWeeks(labels, labels)
    if start is None:
        raise InputError(source, "the horizon's periods are not ISO weeks: give the "
                         "season's first week", field="season.start")
    return SeasonWeeks(labels, tuple(shift_week(start, i) for i in range(len(labels))))


# ------------------------------------------------------------------------- sales
def read_sales(path: str | Path) -> pd.DataFrame:
    """A sales CSV (``week`` or ``period``, ``product_id``, ``units``) checked row by row
    (:func:`sales_frame`); rows are numbered as the file's lines."""
    p = Path(path)
    try:
        raw = pd.read_csv(p, dtype=str, keep_default_na=False, nrows=MAX_SALES_ROWS + 1)
    except FileNotFoundError:
        raise InputError(p.name, "file not found") from None
    except UnicodeDecodeError:
        raise InputError(p.name, "is not a text file") from None
    except pd.errors.EmptyDataError:
        raise InputError(p.name, "is empty (no header row)") from None
    except pd.errors.ParserError as err:
        raise InputError(p.name, f"cannot be read as CSV ({str(err).splitlines()[0]})"
                         ) from None
    raw.columns = [str(c).strip() for c in raw.columns]
    return sales_frame(raw.to_dict(orient="records"), p.name, first_row=2)


def sales_frame(rows: Any, source: str, first_row: int = 1) -> pd.DataFrame:
    """Sales rows as a frame ``key, product_id, units, row`` (``key``: the week, or the
    period label with ``by == "period"`` in ``frame.attrs``). Refuses (InputError
    naming ``source``, the row and the field) anything that is not a row of text ids
    and a finite, non-negative number of units."""
    if not isinstance(rows, list):
        raise InputError(source, "expected a list of rows {week, product_id, units}",
                         field="rows")
    if len(rows) > MAX_SALES_ROWS:
        raise InputError(source, f"at most {MAX_SALES_ROWS} rows", field="rows")
    first = rows[0] if rows and isinstance(rows[0], dict) else {}
    by = "week" if "week" in first else "period" if "period" in first else None
    if rows and by is None:
        raise InputError(source, "missing column 'week' (or 'period')", row=first_row - 1
                         if first_row > 1 else None, field="week")
    keys, products, units = [], [], []
    for i, r in enumerate(rows, start=first_row):
        if not isinstance(r, dict):
            raise InputError(source, "expected an object", row=i)
        for col in (by, *SALES_COLUMNS):
            if col not in r:
                raise InputError(source, f"missing {col}", row=i, field=col)
        key, product = r[by], r["product_id"]
        if not isinstance(key, str) or not key.strip():
            raise InputError(source, f"expected a {by}", row=i, field=by)
        key = key.strip()
        if by == "week" and not WEEK_RE.fullmatch(key):
            raise InputError(source, f"{safe_text(key)[:20]!r} is not an ISO week like "
                             "2026-W50", row=i, field="week")
        if not isinstance(product, str) or not product.strip() \
                or text_problem(product, is_id=True):
            raise InputError(source, "expected a product id", row=i, field="product_id")
        units.append(_units(r["units"], source, i))
        keys.append(key)
        products.append(product.strip())
    out = pd.DataFrame({"key": pd.Series(keys, dtype=object),
                        "product_id": pd.Series(products, dtype=object),
                        "units": np.asarray(units, float),
                        "row": np.arange(first_row, first_row + len(keys))})
    out.attrs.update(by=by or "week", source=source)
    return out


def _units(value: Any, source: str, row: int) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InputError(source, f"{safe_text(value)[:20]!r} is not a number", row=row,
                             field="units") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or abs(value) > MAX_AMOUNT:
        raise InputError(source, "expected a finite number of units", row=row, field="units")
    if value < 0:
        raise InputError(source, f"{value:g} units: sales are not negative", row=row,
                         field="units")
    return float(value)


def sold_by_product(sales: pd.DataFrame, scenario: Any, season: SeasonWeeks,
                    week: str) -> pd.Series:
    """Units sold per product up to ``week`` (index: product ids), after checking that
    every row is for a week of the season up to ``week``, names a product of the
    scenario, and that no product sold more than its stock and receipts so far (the
    module docstring). InputError names the sales row and field."""
    source, by = sales.attrs.get("source", "sales"), sales.attrs.get("by", "week")
    w = season.index(week)
    names = season.weeks if by == "week" else season.labels
    pos = {k: i for i, k in enumerate(names)}
    t = sales["key"].map(pos)
    if t.isna().any():
        i = int(np.flatnonzero(t.isna().to_numpy())[0])
        raise InputError(source, f"{by} {sales['key'].iloc[i]} is not in the season "
                         f"({names[0]}..{names[-1]})", row=int(sales["row"].iloc[i]), field=by)
    t = t.to_numpy(int)
    late = np.flatnonzero(t > w)
    if len(late):
        i = int(late[0])
        raise InputError(source, f"sales for {season.weeks[t[i]]}, after the week being "
                         f"planned ({week})", row=int(sales["row"].iloc[i]), field=by)
    products = sales["product_id"].to_numpy(object)
    known = pd.Index(scenario.products.index).get_indexer(products)
    if (known < 0).any():
        i = int(np.flatnonzero(known < 0)[0])
        raise InputError(source, f"unknown product {safe_text(products[i])[:64]!r}",
                         row=int(sales["row"].iloc[i]), field="product_id")
    inv = scenario.products["inventory"]
    limited = inv.index[np.isfinite(inv.to_numpy(float))]
    per = (pd.DataFrame({"t": t, "product_id": products, "units": sales["units"]})
           .pivot_table(index="t", columns="product_id", values="units", aggfunc="sum")
           .reindex(index=range(w + 1), columns=limited).fillna(0.0))
    have = (scenario.period_receipts().iloc[:w + 1].reindex(columns=limited).fillna(0.0)
            .cumsum().to_numpy(float) + inv.reindex(limited).to_numpy(float))
    over = per.cumsum().to_numpy(float) > have + 1e-9
    if over.any():
        at, col = (int(v[0]) for v in np.nonzero(over))
        product = limited[col]
        mine = np.flatnonzero((products == product) & (t <= at))
        i = int(mine[np.argmax(t[mine])])
        sold = float(per.cumsum().iloc[at, col])
        raise InputError(source, f"{sold:g} units of {product} sold by {season.weeks[at]}, "
                         f"but only {have[at, col]:g} were in stock",
                         row=int(sales["row"].iloc[i]), field="units")
    total = pd.Series(sales["units"].to_numpy(float), index=products).groupby(level=0).sum()
    return total.reindex(scenario.products.index).fillna(0.0)


# ------------------------------------------------------------------- published
def published_prices(s: Session, name: str, week: str, season: SeasonWeeks, *,
                     tenant: str) -> pd.DataFrame:
    """The prices on the shelf in each period before ``week``: period ``t`` takes the
    published version (:func:`.approval.shelf_weeks`) of the latest planned week of the
    season ``≤ t``, its rows for period ``t``. Columns ``period, bundle_id, segment_id,
    price``."""
    w = season.index(week)
    parts = []
    planned = [x for x in shelf_weeks(s, name, week, tenant=tenant)
               if season.index(x[0].week) is not None]
    for k, (weekly, number) in enumerate(planned):
        start = season.index(weekly.week)
        end = season.index(planned[k + 1][0].week) if k + 1 < len(planned) else w
        v = get_version(s, weekly, number)
        if v is None or not v.rows or "period" not in v.rows[0]:
            continue
        rows = pd.DataFrame(v.rows)
        keep = rows["period"].astype(str).isin(season.labels[start:end])
        parts.append(rows.loc[keep, ["period", "bundle_id", "segment_id", "price"]])
    if not parts:
        return pd.DataFrame({"period": pd.Series(dtype=object),
                             "bundle_id": pd.Series(dtype=object),
                             "segment_id": pd.Series(dtype=object),
                             "price": pd.Series(dtype=float)})
    out = pd.concat(parts, ignore_index=True)
    return out.astype({"period": str, "bundle_id": str, "segment_id": str, "price": float})


# ---------------------------------------------------------------------- re-plan
def replan_scenario(scenario: Any, season: SeasonWeeks, week: str, sold: pd.Series,
                    published: pd.DataFrame) -> Any:
    """The scenario of periods ``week …`` (module docstring)."""
    w = season.index(week)
    labels = season.labels
    rest = labels[w:]
    # Stock: what was there at the start and arrived up to w, less what sold.
    inv = scenario.products["inventory"]
    arrived = scenario.period_receipts().iloc[:w + 1].sum(axis=0)
    stock = inv + arrived.reindex(inv.index).fillna(0.0) - sold.reindex(inv.index).fillna(0.0)
    products = scenario.products.assign(inventory=np.where(np.isfinite(inv), stock, inv))
    rc, pe, co = scenario.receipts, scenario.periods, scenario.competitors
    changes: dict[str, Any] = dict(
        products=products, horizon=type(scenario.horizon)(tuple(rest), scenario.horizon.salvage),
        periods=pe[pe["period"].isin(rest)].reset_index(drop=True),
        receipts=rc[rc["period"].isin(labels[w + 1:])].reset_index(drop=True),
        competitors=co[(co["period"] == "") | co["period"].isin(rest)].reset_index(drop=True))
    if len(published):
        changes.update(_history(scenario, labels, w, published))
    return scenario.replace(**changes)


def _history(scenario: Any, labels: tuple[str, ...], w: int,
             published: pd.DataFrame) -> dict[str, Any]:
    """``previous_plan``, ``bundles`` (pins) and ``constraints`` of the re-plan."""
    h = season_history(published, labels, scenario)
    h["changed"] = changed(h)
    key = ["bundle_id", "segment_id"]
    groups = h.groupby(key, sort=False)
    last = groups.tail(1)[key + ["price"]].reset_index(drop=True)
    used = groups["changed"].sum()
    last_change = h[h["changed"]].groupby(key)["t"].max().reindex(used.index)
    prev = scenario.previous_plan
    mine = pd.MultiIndex.from_frame(prev[key]).isin(pd.MultiIndex.from_frame(last[key]))
    out: dict[str, Any] = {"previous_plan": pd.concat(
        [prev[~mine][key + ["price"]], last], ignore_index=True)}
    k = scenario.constraints.get("max_changes")
    g = scenario.constraints.get("min_gap")
    pinned = pd.Series(False, index=used.index)
    if k is not None:
        pinned |= used >= k
    if g is not None:
        pinned |= (w - last_change).fillna(np.inf) < g
    if not pinned.any() and k is None:
        return out
    left_k = None
    if scenario.pricing == "uniform":
        pin = last.set_index(key)["price"][pinned.reindex(
            pd.MultiIndex.from_frame(last[key])).to_numpy(bool)]
        price = pd.Series(pin.to_numpy(float), index=pin.index.get_level_values(0))
        b = scenario.bundles.copy()
        at = b.index.isin(price.index)
        b.loc[at, "min_price"] = price.reindex(b.index[at]).to_numpy(float)
        b.loc[at, "max_price"] = price.reindex(b.index[at]).to_numpy(float)
        out["bundles"] = b
        if k is not None:
            free = used[~pinned]
            left_k = int(k - (free.max() if len(free) else 0))
    elif k is not None or pinned.any():
        left_k = 0 if pinned.any() else int(k - used.max())
    if left_k is not None:
        out["constraints"] = scenario.constraints.changed(max_changes=max(left_k, 0))
    return out


# ---------------------------------------------------------------------- storage
def store_sales(s: Session, name: str, sales: pd.DataFrame, *, tenant: str,
                actor: str) -> None:
    """Keep ``sales`` as the plan's sales since the season's start (replacing any
    before: each submission is the whole record). The caller commits."""
    rows = [[k, p, float(u)] for k, p, u in zip(sales["key"], sales["product_id"],
                                                sales["units"])]
    row = s.scalars(select(PlanSales).where(PlanSales.tenant == tenant,
                                            PlanSales.name == name)).first()
    if row is None:
        row = PlanSales(tenant=tenant, name=name)
        s.add(row)
    row.by, row.rows, row.n_rows = sales.attrs.get("by", "week"), rows, len(rows)
    row.updated_by, row.updated_at = actor[:64], utcnow()


def stored_sales(s: Session, name: str, *, tenant: str) -> pd.DataFrame | None:
    """The plan's stored sales (:func:`store_sales`), or ``None``."""
    row = s.scalars(select(PlanSales).where(PlanSales.tenant == tenant,
                                            PlanSales.name == name)).first()
    if row is None:
        return None
    keys, products, units = (zip(*row.rows) if row.rows else ((), (), ()))
    out = pd.DataFrame({"key": pd.Series(keys, dtype=object),
                        "product_id": pd.Series(products, dtype=object),
                        "units": np.asarray(units, float),
                        "row": np.arange(1, len(row.rows) + 1)})
    out.attrs.update(by=row.by, source="sales")
    return out


def season_scenario(s: Session, cfg: Any, scenario: Any, week: str, *, tenant: str,
                    sales: pd.DataFrame | None = None) -> tuple[Any, str | None]:
    """The re-plan scenario of ``week`` (:func:`replan_scenario`) from ``sales`` (default:
    the stored ones) and the published weeks before it, and the latest of those weeks."""
    season = season_weeks(cfg.season_start, scenario, cfg.source)
    if season.index(week) is None:
        raise InputError(cfg.source, f"week {week} is not in the season ({season.span})",
                         field="season")
    if sales is None:
        sales = stored_sales(s, cfg.name, tenant=tenant)
    sold = (sold_by_product(sales, scenario, season, week) if sales is not None
            else pd.Series(0.0, index=scenario.products.index))
    published = published_prices(s, cfg.name, week, season, tenant=tenant)
    shelved = [w.week for w, _ in shelf_weeks(s, cfg.name, week, tenant=tenant)
               if season.index(w.week) is not None]
    return (replan_scenario(scenario, season, week, sold, published),
            shelved[-1] if shelved else None)
