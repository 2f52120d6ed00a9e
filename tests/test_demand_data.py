"""Loading and cleaning a demand data directory: one-line errors, real-data mess."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from demand.data import load_data
from demand.exposures import daily_prices, implied_exposures, visits
from formulations.errors import BundleoptError, DataError


def write(d: Path, name: str, text: str) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(text)


EXPOSURES = "customer_id,product_id,price,purchased,date\nc1,p1,10,1,2025-01-01\nc2,p1,12,0,2025-01-02\n"


def test_minimal_exposures_directory_loads(tmp_path: Path) -> None:
    write(tmp_path, "exposures.csv", EXPOSURES)
    data = load_data(tmp_path)
    e = data.exposures
    assert list(e["offer_id"]) == ["p1", "p1"]
    assert list(e["purchased"]) == [1, 0]
    assert e["price"].tolist() == [10.0, 12.0]
    assert data.has_dates


@pytest.mark.parametrize("text, row, field, words", [
    ("customer_id,product_id,purchased\nc1,p1,1\n", None, "price", "missing required column"),
    ("customer_id,product_id,price,purchased\nc1,p1,10,1\nc2,p1,abc,0\n", 3, "price", "not a number"),
    ("customer_id,product_id,price,purchased\nc1,p1,10,1\nc2,p1,-3,0\n", 3, "price", "out of range"),
    ("customer_id,product_id,price,purchased\nc1,p1,10,2\n", 2, "purchased", "not 0 or 1"),
    ("customer_id,product_id,price,purchased,date\nc1,p1,10,1,someday\n", 2, "date", "not a date"),
    ("customer_id,product_id,bundle_id,price,purchased\nc1,p1,b1,10,1\n", 2, "bundle_id", "not both"),
])
def test_bad_exposures_name_file_row_and_field(tmp_path: Path, text: str, row: int | None, field: str,
                                               words: str) -> None:
    write(tmp_path, "exposures.csv", text)
    with pytest.raises(DataError) as info:
        load_data(tmp_path)
    err = info.value
    assert err.source == "exposures.csv" and err.row == row and err.field == field
    assert words in str(err)
    assert "\n" not in str(err)


def test_directory_without_purchase_data_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "customers.csv", "customer_id,age\nc1,30\n")
    with pytest.raises(DataError, match="exposures.csv or transactions.csv"):
        load_data(tmp_path)


def test_missing_directory_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(BundleoptError, match="not a directory"):
        load_data(tmp_path / "nope")


def test_transactions_mess_is_cleaned_and_counted(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv",
          "date,customer_id,product_id,quantity,revenue,basket_id\n"
          "2025-01-01,c1,p1,2,20,b1\n"
          "2025-01-01,c1,p1,2,20,b1\n"       # the same basket line twice
          "2025-01-01,c1,p2,-1,-5,b1\n"      # refund
          "2025-01-02,c2,p2,0,0,b2\n"        # zero quantity
          "2025-01-02,,p2,1,5,b2\n"          # blank customer
          "2025-01-02,c2,p1,1,9,b2\n")
    data = load_data(tmp_path)
    t = data.transactions
    assert len(t) == 2
    assert set(t["customer_id"]) == {"c1", "c2"}
    c = data.cleaning
    assert c["transactions.csv: exact duplicate rows dropped"] == 1
    assert c["transactions.csv: refunds or zero-quantity lines dropped"] == 2
    assert c["transactions.csv: rows with a blank required field dropped"] == 1


def test_repeated_exposures_are_kept(tmp_path: Path) -> None:
    # Two identical rows are two exposures (no date to tell them apart), not a glitch.
    write(tmp_path, "exposures.csv", "customer_id,product_id,price,purchased\nc1,p1,10,0\nc1,p1,10,0\n")
    data = load_data(tmp_path)
    assert len(data.exposures) == 2
    assert any("kept" in k for k in data.cleaning)


def test_customers_numbers_categories_and_repeats(tmp_path: Path) -> None:
    write(tmp_path, "exposures.csv", EXPOSURES)
    write(tmp_path, "customers.csv", "customer_id,age,region\nc1,30,north\nc2,,south\nc1,99,east\n")
    data = load_data(tmp_path)
    cu = data.customers
    assert len(cu) == 2
    assert pd.api.types.is_float_dtype(cu["age"]) and np.isnan(cu["age"].iloc[1])
    assert cu.set_index("customer_id").loc["c1", "age"] == 30.0   # first row kept
    assert not pd.api.types.is_numeric_dtype(cu["region"])


def test_bundle_exposures_need_components(tmp_path: Path) -> None:
    write(tmp_path, "exposures.csv", "customer_id,bundle_id,price,purchased\nc1,b1,10,1\n")
    with pytest.raises(DataError) as info:
        load_data(tmp_path)
    assert info.value.row == 2 and info.value.field == "bundle_id"
    write(tmp_path, "bundles.csv", "bundle_id,product_id,quantity\nb1,p1,1\nb1,p2,2\n")
    data = load_data(tmp_path)
    assert data.exposures["is_bundle"].all()
    assert data.bundles["quantity"].tolist() == [1, 2]


def test_products_reject_duplicate_ids_and_bad_prices(tmp_path: Path) -> None:
    write(tmp_path, "exposures.csv", EXPOSURES)
    write(tmp_path, "products.csv", "product_id,unit_cost,list_price\np1,5,10\np1,6,11\n")
    with pytest.raises(DataError, match="appears twice") as info:
        load_data(tmp_path)
    assert info.value.row == 3
    write(tmp_path, "products.csv", "product_id,unit_cost,list_price\np1,5,0\n")
    with pytest.raises(DataError) as info:
        load_data(tmp_path)
    assert info.value.field == "list_price" and info.value.row == 2


def test_implied_exposures_use_the_days_price_for_everyone(tmp_path: Path) -> None:
    # Day 1: p1 sells at 10 and 12 (median 11); day 2: p1 does not sell (carried forward).
    write(tmp_path, "transactions.csv",
          "date,customer_id,product_id,quantity,revenue\n"
          "2025-01-01,a,p1,1,10\n2025-01-01,b,p1,2,24\n2025-01-01,c,p2,1,5\n"
          "2025-01-02,a,p2,1,6\n")
    t = load_data(tmp_path).transactions
    v = visits(t)
    assert len(v) == 4                       # (a,1) (b,1) (c,1) (a,2)
    prices = daily_prices(t, ["p1", "p2"])
    assert prices.loc[pd.Timestamp("2025-01-01"), "p1"] == 11.0
    assert prices.loc[pd.Timestamp("2025-01-02"), "p1"] == 11.0
    e = implied_exposures(t, v, ["p1", "p2"])
    assert len(e) == 8
    p1 = e[e["offer_id"] == "p1"].set_index(["customer_id", "date"])
    assert p1["purchased"].sum() == 2
    assert (p1["price"] == 11.0).all()
    day2 = e[(e["date"] == pd.Timestamp("2025-01-02"))].set_index("offer_id")
    assert day2.loc["p2", "purchased"] == 1 and day2.loc["p1", "purchased"] == 0
