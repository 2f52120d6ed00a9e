"""Generate the two grocery example scenarios (deterministic: seeded numpy).

    python examples/make_grocery_example.py [OUT_ROOT]

writes ``OUT_ROOT/grocery_week`` (uniform prices, first choice, profit, with most
constraints and a previous plan) and ``OUT_ROOT/grocery_personal`` (personalized
prices with per-segment offer caps and a fairness spread). OUT_ROOT defaults to this
file's directory. Between them every rule of docs/scenario.md §6 is used.

The data is made up but shaped like a small supermarket's week: 30 products with
realistic shelf prices and 55-75 % cost ratios, ~100 candidate offers (every product
alone, pairs and triples of things bought together, a few multi-packs), six shopper
segments of a few hundred to a few thousand shoppers, and per-offer willingness to
pay = list price × segment factor × noise, summed over components with a small
complementarity bonus for things that go together.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

# Run as a script from a checkout: make the project importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from formulations import (BundleoptError, Constraints, Scenario, SolverOptions,  # noqa: E402
                          write_scenario)

SEED = 20261123

# product_id, list price, cost ratio, weekly inventory (None = unlimited)
PRODUCTS = [
    ("coffee-500g", 7.49, 0.62, None), ("tea-80bags", 3.29, 0.55, None),
    ("milk-1l", 1.19, 0.72, None), ("oat-milk-1l", 2.29, 0.60, None),
    ("sugar-1kg", 1.49, 0.70, None), ("croissants-4pk", 3.49, 0.58, 900),
    ("bread-sourdough-800g", 3.99, 0.56, 1500), ("butter-250g", 2.79, 0.70, None),
    ("jam-strawberry-370g", 2.69, 0.60, None), ("eggs-12pk", 3.59, 0.68, 2000),
    ("orange-juice-1l", 2.49, 0.64, None), ("granola-500g", 4.29, 0.57, None),
    ("yogurt-greek-500g", 2.99, 0.63, None), ("cornflakes-500g", 2.79, 0.61, None),
    ("bananas-1kg", 1.69, 0.66, 2500), ("spaghetti-500g", 1.39, 0.58, None),
    ("tomato-sauce-500g", 2.19, 0.60, None), ("parmesan-150g", 4.49, 0.64, None),
    ("olive-oil-750ml", 8.99, 0.70, None), ("wine-red-750ml", 8.49, 0.62, 600),
    ("beer-6pk", 7.99, 0.66, 1000), ("crisps-200g", 2.49, 0.55, None),
    ("tortilla-chips-200g", 2.29, 0.56, None), ("salsa-300g", 2.99, 0.58, None),
    ("chocolate-dark-100g", 2.19, 0.57, None), ("rice-basmati-1kg", 3.49, 0.63, None),
    ("chicken-breast-1kg", 9.99, 0.72, 700), ("cheddar-400g", 4.99, 0.66, None),
    ("ham-200g", 3.29, 0.65, None), ("apples-1kg", 2.99, 0.62, None),
]

# things bought together (complementarity of the pair/triple offer)
PAIRS = [
    ("coffee-500g", "milk-1l", 0.08), ("coffee-500g", "oat-milk-1l", 0.08),
    ("coffee-500g", "sugar-1kg", 0.05), ("coffee-500g", "croissants-4pk", 0.10),
    ("coffee-500g", "chocolate-dark-100g", 0.04), ("tea-80bags", "milk-1l", 0.06),
    ("tea-80bags", "sugar-1kg", 0.05), ("croissants-4pk", "butter-250g", 0.06),
    ("croissants-4pk", "jam-strawberry-370g", 0.08), ("croissants-4pk", "orange-juice-1l", 0.06),
    ("bread-sourdough-800g", "butter-250g", 0.08), ("bread-sourdough-800g", "jam-strawberry-370g", 0.05),
    ("bread-sourdough-800g", "cheddar-400g", 0.06), ("bread-sourdough-800g", "ham-200g", 0.06),
    ("bread-sourdough-800g", "eggs-12pk", 0.04), ("butter-250g", "jam-strawberry-370g", 0.03),
    ("eggs-12pk", "ham-200g", 0.05), ("eggs-12pk", "milk-1l", 0.02),
    ("granola-500g", "yogurt-greek-500g", 0.10), ("granola-500g", "milk-1l", 0.06),
    ("granola-500g", "bananas-1kg", 0.04), ("yogurt-greek-500g", "bananas-1kg", 0.05),
    ("cornflakes-500g", "milk-1l", 0.10), ("cornflakes-500g", "bananas-1kg", 0.04),
    ("orange-juice-1l", "granola-500g", 0.03), ("apples-1kg", "bananas-1kg", 0.02),
    ("spaghetti-500g", "tomato-sauce-500g", 0.12), ("spaghetti-500g", "parmesan-150g", 0.08),
    ("tomato-sauce-500g", "parmesan-150g", 0.05), ("spaghetti-500g", "olive-oil-750ml", 0.03),
    ("parmesan-150g", "wine-red-750ml", 0.06), ("wine-red-750ml", "cheddar-400g", 0.08),
    ("olive-oil-750ml", "bread-sourdough-800g", 0.05), ("beer-6pk", "crisps-200g", 0.10),
    ("beer-6pk", "tortilla-chips-200g", 0.08), ("tortilla-chips-200g", "salsa-300g", 0.15),
    ("crisps-200g", "salsa-300g", 0.04), ("wine-red-750ml", "chocolate-dark-100g", 0.06),
    ("crisps-200g", "chocolate-dark-100g", 0.02), ("chicken-breast-1kg", "rice-basmati-1kg", 0.08),
    ("rice-basmati-1kg", "tomato-sauce-500g", 0.03), ("chicken-breast-1kg", "olive-oil-750ml", 0.03),
    ("cheddar-400g", "ham-200g", 0.04), ("cheddar-400g", "apples-1kg", 0.03),
    ("milk-1l", "bananas-1kg", 0.02),
]
TRIPLES = [
    ("coffee-500g", "milk-1l", "sugar-1kg", 0.08), ("coffee-500g", "milk-1l", "croissants-4pk", 0.12),
    ("coffee-500g", "oat-milk-1l", "croissants-4pk", 0.12), ("tea-80bags", "milk-1l", "sugar-1kg", 0.06),
    ("croissants-4pk", "butter-250g", "jam-strawberry-370g", 0.10),
    ("bread-sourdough-800g", "butter-250g", "jam-strawberry-370g", 0.08),
    ("bread-sourdough-800g", "cheddar-400g", "ham-200g", 0.08),
    ("bread-sourdough-800g", "eggs-12pk", "ham-200g", 0.06),
    ("granola-500g", "yogurt-greek-500g", "bananas-1kg", 0.10),
    ("cornflakes-500g", "milk-1l", "bananas-1kg", 0.08),
    ("orange-juice-1l", "croissants-4pk", "yogurt-greek-500g", 0.05),
    ("spaghetti-500g", "tomato-sauce-500g", "parmesan-150g", 0.15),
    ("spaghetti-500g", "tomato-sauce-500g", "olive-oil-750ml", 0.06),
    ("spaghetti-500g", "parmesan-150g", "wine-red-750ml", 0.10),
    ("beer-6pk", "crisps-200g", "salsa-300g", 0.10),
    ("beer-6pk", "tortilla-chips-200g", "salsa-300g", 0.14),
    ("wine-red-750ml", "cheddar-400g", "chocolate-dark-100g", 0.08),
    ("chicken-breast-1kg", "rice-basmati-1kg", "olive-oil-750ml", 0.06),
]
# multi-packs: (product, quantity, complementarity < 0: the second unit is worth less)
MULTIPACKS = [("beer-6pk", 2, -0.10), ("spaghetti-500g", 3, -0.12), ("wine-red-750ml", 3, -0.08),
              ("yogurt-greek-500g", 2, -0.05), ("chocolate-dark-100g", 3, -0.15)]

ALL = [p[0] for p in PRODUCTS]
BREAKFAST = ["coffee-500g", "tea-80bags", "milk-1l", "oat-milk-1l", "sugar-1kg",
             "croissants-4pk", "bread-sourdough-800g", "butter-250g", "jam-strawberry-370g",
             "eggs-12pk", "orange-juice-1l", "granola-500g", "yogurt-greek-500g",
             "cornflakes-500g", "bananas-1kg"]
ITALIAN = ["spaghetti-500g", "tomato-sauce-500g", "parmesan-150g", "olive-oil-750ml",
           "wine-red-750ml"]
PARTY = ["beer-6pk", "crisps-200g", "tortilla-chips-200g", "salsa-300g", "chocolate-dark-100g"]
STAPLES = ["rice-basmati-1kg", "chicken-breast-1kg", "cheddar-400g", "ham-200g", "apples-1kg"]

# segment_id, shoppers per week, price sensitivity (per €), WTP factor, products it buys
SEGMENTS = [
    ("students", 2600, 0.9, 0.86,
     ["coffee-500g", "milk-1l", "oat-milk-1l", "cornflakes-500g", "bananas-1kg", "tea-80bags",
      "spaghetti-500g", "tomato-sauce-500g", "rice-basmati-1kg"] + PARTY),
    ("families", 1900, 0.6, 0.95,
     BREAKFAST + STAPLES + ["spaghetti-500g", "tomato-sauce-500g", "parmesan-150g",
                            "olive-oil-750ml"]),
    ("commuters", 1300, 0.5, 1.05,
     ["coffee-500g", "croissants-4pk", "orange-juice-1l", "yogurt-greek-500g", "granola-500g",
      "bananas-1kg", "tea-80bags", "milk-1l", "oat-milk-1l", "chocolate-dark-100g",
      "apples-1kg", "ham-200g", "bread-sourdough-800g", "butter-250g"]),
    ("foodies", 550, 0.25, 1.20,
     ITALIAN + ["cheddar-400g", "coffee-500g", "bread-sourdough-800g", "butter-250g",
                "jam-strawberry-370g", "chocolate-dark-100g", "chicken-breast-1kg",
                "croissants-4pk", "rice-basmati-1kg"]),
    ("seniors", 850, 0.7, 0.92,
     ["tea-80bags", "milk-1l", "bread-sourdough-800g", "butter-250g", "jam-strawberry-370g",
      "eggs-12pk", "apples-1kg", "bananas-1kg", "ham-200g", "cheddar-400g",
      "rice-basmati-1kg", "cornflakes-500g", "sugar-1kg", "yogurt-greek-500g"]),
    ("party-hosts", 380, 0.45, 1.00,
     PARTY + ["wine-red-750ml", "cheddar-400g", "ham-200g", "bread-sourdough-800g",
              "olive-oil-750ml"]),
]


def _offers() -> tuple[pd.DataFrame, pd.Series]:
    """Components (bundle_id, product_id, quantity) and complementarity per offer."""
    rows, kappa = [], {}
    for pid in ALL:
        rows.append((pid, pid, 1))
        kappa[pid] = 0.0
    for *items, k in PAIRS + TRIPLES:
        bid = "+".join(items)
        rows.extend((bid, pid, 1) for pid in items)
        kappa[bid] = k
    for pid, q, k in MULTIPACKS:
        bid = f"{pid}-x{q}"
        rows.append((bid, pid, q))
        kappa[bid] = k
    comp = pd.DataFrame(rows, columns=["bundle_id", "product_id", "quantity"])
    return comp, pd.Series(kappa)


def _base(rng: np.random.Generator) -> dict:
    """Tables shared by both examples."""
    ids = [p[0] for p in PRODUCTS]
    price = np.array([p[1] for p in PRODUCTS])
    cost = np.round(price * np.array([p[2] for p in PRODUCTS]), 2)
    inventory = np.array([np.nan if p[3] is None else p[3] for p in PRODUCTS], dtype=float)
    products = pd.DataFrame({"unit_cost": cost, "list_price": price, "inventory": inventory},
                            index=pd.Index(ids, dtype=str, name="product_id"))
    comp, kappa = _offers()
    order = pd.unique(comp["bundle_id"])
    bundles = pd.DataFrame({"complementarity": kappa.reindex(order).to_numpy(float),
                            "min_price": np.nan, "max_price": np.nan},
                           index=pd.Index(order, dtype=str, name="bundle_id"))
    ref = (comp["quantity"] * price[pd.Index(ids).get_indexer(comp["product_id"])]) \
        .groupby(comp["bundle_id"], sort=False).sum().reindex(order)
    # merchandising rules on a few big bundles: always at least 5 % off, never below 20 % off
    triples = [b for b in order if b.count("+") == 2]
    for b in triples[:4]:
        bundles.loc[b, "max_price"] = round(ref[b] * 0.95, 2)
    for b in triples[4:8]:
        bundles.loc[b, "min_price"] = round(ref[b] * 0.80, 2)

    segments = pd.DataFrame({"size": [float(s[1]) for s in SEGMENTS],
                             "price_sensitivity": [s[2] for s in SEGMENTS]},
                            index=pd.Index([s[0] for s in SEGMENTS], dtype=str,
                                           name="segment_id"))
    # product WTP per segment: list price × segment factor × personal taste
    factor = np.array([s[3] for s in SEGMENTS])
    taste = np.exp(rng.normal(0.0, 0.12, size=(len(SEGMENTS), len(ids))))
    w_prod = factor[:, None] * price[None, :] * taste
    buys = np.array([[pid in s[4] for pid in ids] for s in SEGMENTS])

    # offer WTP: (1 + κ) Σ q w_si, only where the segment buys every component
    pidx = pd.Index(ids).get_indexer(comp["product_id"])
    bidx = pd.Index(order).get_indexer(comp["bundle_id"])
    n_b, n_s = len(order), len(SEGMENTS)
    total = np.zeros((n_s, n_b))
    covered = np.ones((n_s, n_b), dtype=bool)
    for s in range(n_s):
        np.add.at(total[s], bidx, comp["quantity"].to_numpy() * w_prod[s, pidx])
        hit = np.ones(n_b, dtype=bool)
        np.logical_and.at(hit, bidx, buys[s, pidx])
        covered[s] = hit
    wtp = total * (1.0 + bundles["complementarity"].to_numpy())[None, :]
    wtp *= np.exp(rng.normal(0.0, 0.03, size=wtp.shape))
    s_i, b_i = np.nonzero(covered)
    wtp_table = pd.DataFrame({"segment_id": segments.index[s_i].astype(str),
                              "bundle_id": pd.Index(order)[b_i].astype(str),
                              "wtp": np.round(wtp[s_i, b_i], 2),
                              "price_sensitivity": np.nan})
    return dict(products=products, components=comp, bundles=bundles, segments=segments,
                wtp=wtp_table, ref=ref, cost=(comp["quantity"] * cost[pidx])
                .groupby(comp["bundle_id"], sort=False).sum().reindex(order))


def _charm_prices(ref: pd.Series, cost: pd.Series, offers: list[str]) -> pd.DataFrame:
    """prices.csv: x.99 / x.49 price points between 70 % and 100 % of the reference price,
    keeping those with at least a 20 % margin."""
    rows = []
    for b in offers:
        r, c = ref[b], cost[b]
        points = np.concatenate([np.arange(np.floor(r * 0.7), np.floor(r) + 1) + 0.49,
                                 np.arange(np.floor(r * 0.7), np.floor(r) + 1) + 0.99])
        points = np.sort(points[(points >= r * 0.7) & (points <= r) & (points - c >= 0.2 * points)])
        rows.extend((b, round(float(p), 2)) for p in points)
    return pd.DataFrame(rows, columns=["bundle_id", "price"]).astype({"bundle_id": str})


def _previous_plan(ref: pd.Series, cost: pd.Series, offers: list[str],
                   rng: np.random.Generator) -> pd.DataFrame:
    """Last week's uniform plan: each price a default ladder point with ≥ 20 % margin, so
    this week's ±10 % band keeps at least that point."""
    rows = []
    for b in offers:
        for d in rng.permutation([0.0, 0.05, 0.10]):
            p = round(ref[b] * (1 - d), 2)
            if p - cost[b] >= 0.2 * p:
                rows.append((b, "*", p))
                break
    return pd.DataFrame(rows, columns=["bundle_id", "segment_id", "price"]).astype(
        {"bundle_id": str, "segment_id": str})


def build_week() -> Scenario:
    """grocery_week: uniform prices, first choice, profit, most constraints."""
    rng = np.random.default_rng(SEED)
    t = _base(rng)
    charm = ["coffee-500g", "olive-oil-750ml", "beer-6pk", "granola-500g", "cheddar-400g"]
    previous = ["tea-80bags", "croissants-4pk", "eggs-12pk", "spaghetti-500g",
                "wine-red-750ml", "crisps-200g", "coffee-500g+milk-1l",
                "spaghetti-500g+tomato-sauce-500g", "beer-6pk+crisps-200g",
                "granola-500g+yogurt-greek-500g"]
    constraints = Constraints(
        min_margin=0.15, max_offers=25, inventory=True,
        # traffic builders the store always stocks (no inventory limit)
        must_offer=("milk-1l", "spaghetti-500g"),
        exclude=("wine-red-750ml+cheddar-400g+chocolate-dark-100g",),
        no_arbitrage=True, coverage=("students", "seniors"), max_price_change=0.10)
    return Scenario(products=t["products"], components=t["components"], bundles=t["bundles"],
                    segments=t["segments"], wtp=t["wtp"], wtp_level="bundle",
                    prices=_charm_prices(t["ref"], t["cost"], charm),
                    previous_plan=_previous_plan(t["ref"], t["cost"], previous, rng),
                    pricing="uniform", choice_model="first_choice", objective="profit",
                    constraints=constraints, solver=SolverOptions(time_limit=60),
                    name="grocery_week").replace()


def build_personal() -> Scenario:
    """grocery_personal: personalized prices, per-segment caps and a fairness spread."""
    rng = np.random.default_rng(SEED)
    t = _base(rng)
    constraints = Constraints(
        min_margin=0.10, max_offers=30, max_offers_per_segment=4, inventory=True,
        must_offer=("coffee-500g",), max_price_spread=0.10,
        coverage=tuple(s[0] for s in SEGMENTS))
    return Scenario(products=t["products"], components=t["components"], bundles=t["bundles"],
                    segments=t["segments"], wtp=t["wtp"], wtp_level="bundle",
                    pricing="personalized", choice_model="first_choice", objective="profit",
                    constraints=constraints, solver=SolverOptions(time_limit=60),
                    name="grocery_personal").replace()


def main(root: Path | str | None = None) -> list[Path]:
    """Write both examples under ``root`` (default: next to this file); their paths."""
    out = Path(root) if root is not None else Path(__file__).resolve().parent
    written = []
    for scenario in (build_week(), build_personal()):
        write_scenario(scenario, out / scenario.name)
        written.append(out / scenario.name)
    return written


def _cli(argv: list[str]) -> int:
    """The script: one line for a user mistake (exit 2), one line per folder written."""
    parser = argparse.ArgumentParser(
        prog="make_grocery_example.py",
        description="Write the grocery_week and grocery_personal example scenarios.")
    parser.add_argument("out_root", nargs="?", default=None,
                        help="folder to write them into (default: next to this script)")
    args = parser.parse_args(argv)
    try:
        for path in main(args.out_root):
            print(f"wrote {path}/ ({', '.join(sorted(p.name for p in path.iterdir()))})")
    except BundleoptError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
