"""The benchmark's families are the shapes issue 18 names (the fitted family ``e`` runs
``fit`` and is exercised by the benchmark itself, not here)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from families import family_scenario  # noqa: E402

SIZE = (20, 60, 8, 7)


@pytest.mark.parametrize("family", ["b", "c-offers", "c-spread"])
def test_stock_families_stock_every_product(family: str) -> None:
    sc = family_scenario(family, SIZE, seed=3)
    inv = sc.products["inventory"].to_numpy(float)
    shoppers = sc.segments["size"].sum()
    assert np.isfinite(inv).all()
    assert (inv >= 0.10 * shoppers - 1).all() and (inv <= 0.60 * shoppers + 1).all()
    cost_share = sc.products["unit_cost"] / sc.products["list_price"]
    assert cost_share.between(0.42, 0.78).all()
    assert sc.constraints.min_margin == 0.1 and sc.constraints.inventory


def test_family_a_stocks_about_a_third_and_d_none() -> None:
    a = family_scenario("a", (40, 150, 20, 7), seed=0)
    share = a.products["inventory"].notna().mean()
    assert 0.15 < share < 0.6
    d = family_scenario("d", SIZE, seed=0)
    assert d.wtp_level == "bundle" and not d.constraints.inventory


def test_the_c_families_add_their_rule() -> None:
    assert family_scenario("c-offers", SIZE, seed=0).constraints.max_offers == 20
    spread = family_scenario("c-spread", SIZE, seed=0)
    assert spread.pricing == "personalized" and spread.constraints.max_price_spread == 0.1


def test_lognormal_tastes_differ_from_uniform_ones() -> None:
    a = family_scenario("a", SIZE, seed=0).wtp["wtp"].to_numpy()
    b = family_scenario("b", SIZE, seed=0).wtp["wtp"].to_numpy()
    assert not np.allclose(a, b)
