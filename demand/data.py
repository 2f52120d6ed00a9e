"""Load and clean a demand data directory (docs/data.md): customers, exposures, transactions.

Every file is read as text and converted column by column, so a malformed value is
reported as one line naming the file, the spreadsheet row (header = row 1) and the
field. Real-data mess that has an obvious meaning is cleaned rather than rejected, and
counted in :attr:`DemandData.cleaning` (it ends up in ``fit_report.json``):

- rows with a blank required field are dropped;
- exact duplicate rows are dropped in products.csv, customers.csv and in
  transactions.csv when it carries a ``basket_id`` (one basket line recorded twice);
  without a basket id two identical lines may be two real purchases that day, and in
  exposures.csv a shopper may see the same offer at the same price twice, so those
  are kept (and counted);
- a repeated ``customer_id`` in customers.csv keeps its first row;
- transaction lines with quantity <= 0 or negative revenue (refunds, voids) are dropped.

Values that cannot mean anything (text in a number column, a negative price, a
``purchased`` that is not 0/1) are errors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from formulations.errors import DataError

FILES = ("customers.csv", "exposures.csv", "transactions.csv", "products.csv", "bundles.csv")
_TRUE = {"1", "1.0", "true", "yes", "y", "t"}
_FALSE = {"0", "0.0", "false", "no", "n", "f"}


@dataclass
class DemandData:
    """Cleaned tables of a data directory; ids are ``str``, dates ``datetime64`` (NaT = none).

    ``customers``    ``customer_id`` + feature columns (+ ``segment_id`` if given)
    ``exposures``    ``customer_id, offer_id, price, purchased, date, row``
    ``transactions`` ``date, customer_id, product_id, quantity, revenue, cost, basket_id``
    ``products``     index ``product_id``; ``unit_cost``, ``list_price``, ``inventory``
                     (NaN = unknown / unlimited) + any extra columns (e.g. ``category``)
    ``bundles``      components of bundle offers named in exposures: ``bundle_id,
                     product_id, quantity``
    """

    customers: pd.DataFrame | None = None
    exposures: pd.DataFrame | None = None
    transactions: pd.DataFrame | None = None
    products: pd.DataFrame | None = None
    bundles: pd.DataFrame | None = None
    cleaning: dict[str, int] = field(default_factory=dict)

    @property
    def has_dates(self) -> bool:
        """Whether the purchase data carries dates (needed for sizes and a date split)."""
        for t in (self.exposures, self.transactions):
            if t is not None and len(t) and t["date"].notna().all():
                return True
        return False


def _read(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(path.name, "the file is empty (it needs a header row)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(path.name, f"not a readable CSV file ({str(exc).splitlines()[0]})") from None
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    for c in df.columns:
        df[c] = df[c].str.strip()
    return df


def _read_rows(path: Path, required: tuple[str, ...]) -> tuple[str, pd.DataFrame]:
    """The file's name and its rows, with the required columns and each row's line
    number in the file (``_row``: the header is line 1)."""
    df = _read(path)
    _require(df, path.name, required)
    df["_row"] = np.arange(len(df)) + 2
    return path.name, df


def _require(df: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    for c in columns:
        if c not in df.columns:
            raise DataError(name, f"missing required column '{c}' (columns are: "
                                  f"{', '.join(df.columns)})", field=c)


def _rows(df: pd.DataFrame) -> np.ndarray:
    return df["_row"].to_numpy()


def _drop_blank(df: pd.DataFrame, name: str, columns: list[str], cleaning: dict[str, int]) -> pd.DataFrame:
    blank = np.zeros(len(df), dtype=bool)
    for c in columns:
        blank |= (df[c] == "").to_numpy()
    if blank.any():
        cleaning[f"{name}: rows with a blank required field dropped"] = int(blank.sum())
    return df[~blank]


def _number(df: pd.DataFrame, name: str, column: str, *, lo: float | None = None,
            lo_open: bool = False, blank_ok: bool = False) -> np.ndarray:
    """Column as float; a non-number or a value below ``lo`` is a one-line error."""
    text = df[column]
    vals = pd.to_numeric(text.where(text != ""), errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(vals) & (text != "").to_numpy()
    if not blank_ok:
        bad |= (text == "").to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(name, f"{text.iloc[i]!r} is not a number", row=int(_rows(df)[i]), field=column)
    bad = ~np.isfinite(vals) & ~np.isnan(vals)
    if lo is not None:
        with np.errstate(invalid="ignore"):
            bad |= (vals <= lo) if lo_open else (vals < lo)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        need = f"> {lo:g}" if lo_open else f">= {lo:g}"
        raise DataError(name, f"{text.iloc[i]} is out of range (must be {need})",
                        row=int(_rows(df)[i]), field=column)
    return vals


def _dates(df: pd.DataFrame, name: str, column: str = "date") -> np.ndarray:
    text = df[column]
    try:
        d = pd.to_datetime(text.where(text != ""), errors="coerce", format="ISO8601")
    except (ValueError, TypeError):
        d = pd.Series(pd.NaT, index=text.index)
    if (d.isna() & (text != "")).any():
        # Not ISO: let pandas infer one format for the whole column (e.g. 11/1/2000).
        d = pd.to_datetime(text.where(text != ""), errors="coerce", format="mixed")
    bad = (d.isna() & (text != "")).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(name, f"{text.iloc[i]!r} is not a date (use YYYY-MM-DD)",
                        row=int(_rows(df)[i]), field=column)
    return d.dt.normalize().to_numpy()


def _dedupe(df: pd.DataFrame, name: str, cleaning: dict[str, int]) -> pd.DataFrame:
    dup = df.drop(columns="_row").duplicated().to_numpy()
    if dup.any():
        cleaning[f"{name}: exact duplicate rows dropped"] = int(dup.sum())
    return df[~dup]


def load_customers(path: Path, cleaning: dict[str, int]) -> pd.DataFrame:
    name, df = _read_rows(path, ("customer_id",))
    df = _drop_blank(df, name, ["customer_id"], cleaning)
    df = _dedupe(df, name, cleaning)
    rep = df["customer_id"].duplicated().to_numpy()
    if rep.any():
        cleaning[f"{name}: repeated customer_id, first row kept"] = int(rep.sum())
        df = df[~rep]
    out = df.drop(columns="_row").reset_index(drop=True)
    for c in out.columns:
        if c in ("customer_id", "segment_id"):
            continue
        # A feature column is numeric when every non-blank value parses as a number.
        num = pd.to_numeric(out[c].where(out[c] != ""), errors="coerce")
        if (num.notna() | (out[c] == "")).all() and num.notna().any():
            out[c] = num.astype(float)
        else:
            out[c] = out[c].where(out[c] != "", np.nan)
    if "segment_id" in out.columns and (out["segment_id"].isna() | (out["segment_id"] == "")).any():
        i = int(np.flatnonzero((out["segment_id"].isna() | (out["segment_id"] == "")).to_numpy())[0])
        raise DataError(name, "blank segment_id (give every customer a segment or drop the column)",
                        row=int(df["_row"].iloc[i]), field="segment_id")
    return out


def load_exposures(path: Path, cleaning: dict[str, int]) -> pd.DataFrame:
    name, df = _read_rows(path, ("customer_id", "price", "purchased"))
    if "product_id" not in df.columns and "bundle_id" not in df.columns:
        raise DataError(name, "missing required column 'product_id' (or 'bundle_id')", field="product_id")
    pid = df["product_id"] if "product_id" in df.columns else pd.Series("", index=df.index)
    bid = df["bundle_id"] if "bundle_id" in df.columns else pd.Series("", index=df.index)
    both = ((pid != "") & (bid != "")).to_numpy()
    if both.any():
        i = int(np.flatnonzero(both)[0])
        raise DataError(name, "give either product_id or bundle_id, not both",
                        row=int(df["_row"].iloc[i]), field="bundle_id")
    df["offer_id"] = pid.where(pid != "", bid)
    df["is_bundle"] = (bid != "").to_numpy()
    df = _drop_blank(df, name, ["customer_id", "offer_id", "price", "purchased"], cleaning)
    # Repeated rows are kept: a shopper may well be shown the same offer at the same
    # price twice (and a log without dates cannot tell them apart). Counted only.
    rep = int(df.drop(columns="_row").duplicated().sum())
    if rep:
        cleaning[f"{name}: repeated identical rows (kept, each is an exposure)"] = rep
    price = _number(df, name, "price", lo=0.0)
    flag = df["purchased"].str.lower()
    bad = ~(flag.isin(_TRUE) | flag.isin(_FALSE)).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(name, f"{df['purchased'].iloc[i]!r} is not 0 or 1", row=int(df["_row"].iloc[i]),
                        field="purchased")
    date = _dates(df, name) if "date" in df.columns else np.full(len(df), np.datetime64("NaT"), "datetime64[ns]")
    return pd.DataFrame({
        "customer_id": df["customer_id"].to_numpy(), "offer_id": df["offer_id"].to_numpy(),
        "is_bundle": df["is_bundle"].to_numpy(), "price": price,
        "purchased": flag.isin(_TRUE).to_numpy().astype(np.int8), "date": date,
        "row": df["_row"].to_numpy(),
    })


def load_transactions(path: Path, cleaning: dict[str, int]) -> pd.DataFrame:
    name, df = _read_rows(path, ("date", "customer_id", "product_id", "quantity", "revenue"))
    df = _drop_blank(df, name, ["date", "customer_id", "product_id", "quantity", "revenue"], cleaning)
    has_basket = "basket_id" in df.columns
    if has_basket:
        df = _dedupe(df, name, cleaning)
    qty = _number(df, name, "quantity")
    rev = _number(df, name, "revenue")
    cost = _number(df, name, "cost", lo=0.0, blank_ok=True) if "cost" in df.columns else np.full(len(df), np.nan)
    date = _dates(df, name)
    keep = (qty > 0) & (rev >= 0)
    if (~keep).any():
        cleaning[f"{name}: refunds or zero-quantity lines dropped"] = int((~keep).sum())
    basket = df["basket_id"].to_numpy() if has_basket else np.full(len(df), "", dtype=object)
    out = pd.DataFrame({
        "date": date, "customer_id": df["customer_id"].to_numpy(), "product_id": df["product_id"].to_numpy(),
        "quantity": qty, "revenue": rev, "cost": cost, "basket_id": basket,
    })[keep].reset_index(drop=True)
    out["basket_id"] = out["basket_id"].astype(str)
    return out


def load_products(path: Path, cleaning: dict[str, int]) -> pd.DataFrame:
    name, df = _read_rows(path, ("product_id",))
    df = _drop_blank(df, name, ["product_id"], cleaning)
    df = _dedupe(df, name, cleaning)
    rep = df["product_id"].duplicated().to_numpy()
    if rep.any():
        i = int(np.flatnonzero(rep)[0])
        raise DataError(name, f"product_id {df['product_id'].iloc[i]!r} appears twice",
                        row=int(df["_row"].iloc[i]), field="product_id")
    out = pd.DataFrame(index=pd.Index(df["product_id"].to_numpy(), name="product_id"))
    for col, lo, lo_open in (("unit_cost", 0.0, False), ("list_price", 0.0, True), ("inventory", 0.0, False)):
        out[col] = (_number(df, name, col, lo=lo, lo_open=lo_open, blank_ok=True)
                    if col in df.columns else np.nan)
    for c in df.columns:
        if c not in ("product_id", "unit_cost", "list_price", "inventory", "_row"):
            out[c] = df[c].to_numpy()
    return out


def load_bundles(path: Path, cleaning: dict[str, int]) -> pd.DataFrame:
    name, df = _read_rows(path, ("bundle_id", "product_id"))
    df = _drop_blank(df, name, ["bundle_id", "product_id"], cleaning)
    qty = (_number(df, name, "quantity", lo=1.0, blank_ok=True) if "quantity" in df.columns
           else np.ones(len(df)))
    qty = np.where(np.isnan(qty), 1.0, qty)
    return pd.DataFrame({"bundle_id": df["bundle_id"].to_numpy(), "product_id": df["product_id"].to_numpy(),
                         "quantity": qty.astype(int)})


def load_data(directory: str | Path) -> DemandData:
    """Read and clean a data directory; raise :class:`DataError` on anything unusable."""
    d = Path(directory)
    if not d.is_dir():
        raise DataError(str(d), "not a directory (expected customers.csv, exposures.csv, "
                                "transactions.csv, products.csv)")
    cleaning: dict[str, int] = {}
    data = DemandData(cleaning=cleaning)
    loaders = {"customers.csv": ("customers", load_customers),
               "exposures.csv": ("exposures", load_exposures),
               "transactions.csv": ("transactions", load_transactions),
               "products.csv": ("products", load_products),
               "bundles.csv": ("bundles", load_bundles)}
    for fname, (attr, loader) in loaders.items():
        if (d / fname).is_file():
            setattr(data, attr, loader(d / fname, cleaning))
    if data.exposures is None and data.transactions is None:
        raise DataError(str(d), "needs exposures.csv or transactions.csv (found neither)")
    _check_references(data)
    return data


def _check_references(data: DemandData) -> None:
    """Bundle offers in exposures need their components; products must be known."""
    e = data.exposures
    if e is not None and e["is_bundle"].any():
        named = e.loc[e["is_bundle"], ["offer_id", "row"]]
        known = set() if data.bundles is None else set(data.bundles["bundle_id"])
        missing = ~named["offer_id"].isin(known).to_numpy()
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise DataError("exposures.csv", f"bundle {named['offer_id'].iloc[i]!r} has no components "
                            "(list them in bundles.csv: bundle_id, product_id, quantity)",
                            row=int(named["row"].iloc[i]), field="bundle_id")
    if data.products is not None and data.bundles is not None:
        unknown = ~data.bundles["product_id"].isin(data.products.index)
        if unknown.any():
            i = int(np.flatnonzero(unknown.to_numpy())[0])
            raise DataError("bundles.csv", f"unknown product_id {data.bundles['product_id'].iloc[i]!r} "
                            "(not in products.csv)", row=i + 2, field="product_id")
