"""Loading, validating and writing scenario directories (SCENARIO.md §7)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from formulations import (InputError, Scenario, load_scenario, scenario_from_tables,
                          scenario_to_tables, write_scenario)

BASE = {
    "scenario.yaml": """\
pricing: uniform
choice_model: first_choice
objective: profit
constraints:
  min_margin: 0.1
  max_offers: 3
solver:
  backend: highs
  time_limit: 30
""",
    # spreadsheet rows: header = 1, so P1 is row 2, P2 row 3, P3 row 4
    "products.csv": "product_id,unit_cost,list_price,inventory\nP1,4,9,500\nP2,2,5,\nP3,1,3,100\n",
    "bundles.csv": ("bundle_id,product_id,quantity,complementarity,min_price,max_price\n"
                    "S1,P1,1,,,\n"            # row 2
                    "S2,P2,1,,,\n"            # row 3
                    "S3,P3,1,,,\n"            # row 4
                    "B12,P1,1,0.1,8,14\n"     # row 5
                    "B12,P2,1,0.1,8,14\n"     # row 6
                    "B33,P3,2,,,\n"),         # row 7
    "segments.csv": "segment_id,size,price_sensitivity\nyoung,1200,0.2\nold,800,0.1\n",
    "wtp.csv": "segment_id,bundle_id,wtp\nyoung,S1,8.5\nyoung,B12,13\nold,S2,6\nold,B33,5\n",
    "prices.csv": "bundle_id,price\nS3,2.5\nS3,2.9\n",
    "previous_plan.csv": ("bundle_id,segment_id,price,expected_units\n"
                          "S1,*,8.55,100\nB12,*,12,10\n"),
}


def make_dir(tmp_path: Path, changes: dict[str, str | None] | None = None,
             name: str = "scn") -> Path:
    """The BASE scenario with some files replaced (None = file removed)."""
    files = dict(BASE)
    files.update(changes or {})
    root = tmp_path / name
    root.mkdir()
    for fname, text in files.items():
        if text is not None:
            (root / fname).write_text(text)
    return root


def edit(fname: str, old: str, new: str) -> dict[str, str]:
    assert old in BASE[fname], (fname, old)
    return {fname: BASE[fname].replace(old, new, 1)}


# ------------------------------------------------------------------ good input
def test_base_scenario_loads_with_expected_values(tmp_path):
    s = load_scenario(make_dir(tmp_path))
    assert isinstance(s, Scenario)
    assert s.name == "scn"
    assert list(s.products.index) == ["P1", "P2", "P3"]
    assert s.products.loc["P1", "unit_cost"] == 4.0
    assert math.isnan(s.products.loc["P2", "inventory"])      # blank = unlimited
    assert list(s.bundles.index) == ["S1", "S2", "S3", "B12", "B33"]   # file order
    assert s.bundles.loc["B12", "complementarity"] == pytest.approx(0.1)
    assert s.bundles.loc["S1", "complementarity"] == 0.0       # blank = default 0
    assert s.bundles.loc["B12", "min_price"] == 8.0 and s.bundles.loc["B12", "max_price"] == 14.0
    assert math.isnan(s.bundles.loc["S1", "min_price"])
    assert s.components["quantity"].dtype == np.int64
    assert s.components.set_index(["bundle_id", "product_id"]).loc[("B33", "P3"), "quantity"] == 2
    assert s.wtp_level == "bundle"
    assert len(s.wtp) == 4 and s.wtp["price_sensitivity"].isna().all()
    assert s.prices["price"].tolist() == [2.5, 2.9]
    # plan.csv KPI columns in previous_plan.csv are ignored
    assert list(s.previous_plan.columns) == ["bundle_id", "segment_id", "price"]
    assert s.previous_plan["segment_id"].tolist() == ["*", "*"]
    assert s.constraints.min_margin == 0.1 and s.constraints.max_offers == 3
    assert s.solver.backend == "highs" and s.solver.time_limit == 30


def test_optional_files_missing_give_empty_tables(tmp_path):
    s = load_scenario(make_dir(tmp_path, {"prices.csv": None, "previous_plan.csv": None}))
    assert s.prices.empty and list(s.prices.columns) == ["bundle_id", "price"]
    assert s.previous_plan.empty


def test_values_are_stripped_and_blank_rows_skipped(tmp_path):
    s = load_scenario(make_dir(tmp_path, {
        "products.csv": "product_id , unit_cost,list_price,inventory\n P1 , 4 ,9,500\n\n"
                        "P2,2,5,\n,,,\nP3,1,3,100\n"}))
    assert list(s.products.index) == ["P1", "P2", "P3"]
    assert s.products.loc["P1", "unit_cost"] == 4.0


def test_header_only_files_are_empty_tables(tmp_path):
    s = load_scenario(make_dir(tmp_path, {"prices.csv": "bundle_id,price\n",
                                          "previous_plan.csv": "bundle_id,segment_id,price"}))
    assert s.prices.empty and s.previous_plan.empty
    assert s.prices["price"].dtype == float


def test_product_level_wtp(tmp_path):
    s = load_scenario(make_dir(tmp_path, {
        "wtp.csv": "segment_id,product_id,wtp\nyoung,P1,8\nyoung,P2,4\nold,P3,2\n"}))
    assert s.wtp_level == "product"
    w = s.offer_wtp().set_index(["segment_id", "bundle_id"])["wtp"]
    # B12 = (1 + 0.1) * (8 + 4); B33 = 2 * 2 with no complementarity
    assert w[("young", "B12")] == pytest.approx(13.2)
    assert w[("old", "B33")] == pytest.approx(4.0)


def test_negative_wtp_is_a_valid_rare_buyer(tmp_path):
    """Any finite WTP loads (docs/semantics.md: under mnl a negative one still buys now and then)."""
    s = load_scenario(make_dir(tmp_path, edit("wtp.csv", "old,S2,6", "old,S2,-6.25")))
    w = s.wtp.set_index(["segment_id", "bundle_id"])["wtp"]
    assert w[("old", "S2")] == -6.25
    write_scenario(s, tmp_path / "again")
    assert load_scenario(tmp_path / "again").wtp.set_index(["segment_id", "bundle_id"]).at[
        ("old", "S2"), "wtp"] == -6.25


def test_coverage_all_expands_to_every_segment(tmp_path):
    s = load_scenario(make_dir(tmp_path, edit("scenario.yaml", "  max_offers: 3\n",
                                              "  max_offers: 3\n  fairness:\n    coverage: all\n")))
    assert s.constraints.coverage == ("young", "old")


def test_per_offer_columns_may_be_given_once(tmp_path):
    s = load_scenario(make_dir(tmp_path, edit("bundles.csv", "B12,P2,1,0.1,8,14", "B12,P2,1,,,")))
    assert s.bundles.loc["B12", "complementarity"] == pytest.approx(0.1)
    assert s.bundles.loc["B12", "max_price"] == 14.0


def test_numeric_yaml_ids_are_read_as_text(tmp_path):
    s = load_scenario(make_dir(tmp_path, {
        "products.csv": "product_id,unit_cost,list_price\n101,1,2\n",
        "bundles.csv": "bundle_id,product_id,quantity\n7,101,1\n",
        "wtp.csv": "segment_id,bundle_id,wtp\nyoung,7,3\n",
        "prices.csv": None, "previous_plan.csv": None,
        "scenario.yaml": "constraints:\n  must_offer: [7]\n"}))
    assert s.constraints.must_offer == ("7",)
    assert s.pricing == "uniform" and s.objective == "profit"   # defaults


# ------------------------------------------------------------------ bad input
Y = "scenario.yaml"
CASES = [
    # id, file changes, expected source, row, field, message fragment
    ("missing_file", {"segments.csv": None}, "segments.csv", None, None, "missing file"),
    ("missing_yaml", {Y: None}, Y, None, None, "missing file"),
    ("missing_column", {"wtp.csv": "segment_id,bundle_id\nyoung,S1\n"},
     "wtp.csv", 1, "wtp", "missing column 'wtp'"),
    ("misspelt_column", edit("products.csv", "unit_cost", "unit_cst"),
     "products.csv", 1, "unit_cst", "did you mean 'unit_cost'"),
    ("unknown_column", edit("segments.csv", "price_sensitivity", "price_sensitivity,region"),
     "segments.csv", 1, "region", "unknown column 'region'"),
    ("duplicate_column", {"prices.csv": "bundle_id,price,price\nS3,2.5,2.6\n"},
     "prices.csv", 1, "price", "appears twice"),
    ("empty_id", edit("products.csv", "P2,2,5,", ",2,5,"), "products.csv", 3, "product_id",
     "empty id"),
    ("not_a_number", edit("products.csv", "P1,4,9", "P1,abc,9"), "products.csv", 2,
     "unit_cost", "expected a number, found 'abc'"),
    ("infinite", edit("products.csv", "P1,4,9", "P1,4,inf"), "products.csv", 2,
     "list_price", "expected a number"),
    ("negative_cost", edit("products.csv", "P3,1,3", "P3,-1,3"), "products.csv", 4,
     "unit_cost", "found -1"),
    ("blank_cost", edit("products.csv", "P3,1,3", "P3,,3"), "products.csv", 4,
     "unit_cost", "found blank"),
    ("zero_list_price", edit("products.csv", "P2,2,5,", "P2,2,0,"), "products.csv", 3,
     "list_price", "> 0"),
    ("negative_inventory", edit("products.csv", "P3,1,3,100", "P3,1,3,-5"), "products.csv",
     4, "inventory", "found -5"),
    ("negative_size", edit("segments.csv", "old,800", "old,-800"), "segments.csv", 3,
     "size", "≥ 0"),
    ("zero_beta", edit("segments.csv", "old,800,0.1", "old,800,0"), "segments.csv", 3,
     "price_sensitivity", "> 0"),
    ("reserved_segment", edit("segments.csv", "old,800", "*,800"), "segments.csv", 3,
     "segment_id", "reserved"),
    ("infinite_wtp", edit("wtp.csv", "old,S2,6", "old,S2,inf"), "wtp.csv", 4, "wtp", "expected a number"),
    ("negative_price", edit("prices.csv", "S3,2.9", "S3,-2.9"), "prices.csv", 3, "price",
     "> 0"),
    ("fractional_quantity", edit("bundles.csv", "B33,P3,2", "B33,P3,1.5"), "bundles.csv", 7,
     "quantity", "integer ≥ 1"),
    ("zero_quantity", edit("bundles.csv", "B33,P3,2", "B33,P3,0"), "bundles.csv", 7,
     "quantity", "integer ≥ 1"),
    ("duplicate_product", edit("products.csv", "P3,1,3", "P1,1,3"), "products.csv", 4,
     "product_id", "duplicate product_id 'P1' (first in row 2)"),
    ("duplicate_segment", edit("segments.csv", "old,800", "young,800"), "segments.csv", 3,
     "segment_id", "duplicate segment_id 'young'"),
    ("duplicate_component", edit("bundles.csv", "B33,P3,2,,,", "B12,P1,1,0.1,8,14"),
     "bundles.csv", 7, "product_id", "duplicate product 'P1' in offer 'B12' (also in row 5"),
    ("unknown_product", edit("bundles.csv", "S3,P3", "S3,P9"), "bundles.csv", 4,
     "product_id", "unknown product 'P9'"),
    ("unknown_wtp_segment", edit("wtp.csv", "old,S2,6", "olde,S2,6"), "wtp.csv", 4,
     "segment_id", "did you mean 'old'"),
    ("unknown_wtp_offer", edit("wtp.csv", "old,B33", "old,B34"), "wtp.csv", 5, "bundle_id",
     "unknown offer 'B34'"),
    ("duplicate_wtp_pair", edit("wtp.csv", "old,B33", "old,S2"), "wtp.csv", 5, "bundle_id",
     "first in row 4"),
    ("unknown_price_offer", edit("prices.csv", "S3,2.5", "S9,2.5"), "prices.csv", 2,
     "bundle_id", "unknown offer 'S9'"),
    ("unknown_previous_segment", edit("previous_plan.csv", "B12,*", "B12,kids"),
     "previous_plan.csv", 3, "segment_id", "unknown segment 'kids'"),
    ("unknown_previous_offer", edit("previous_plan.csv", "S1,*", "S7,*"),
     "previous_plan.csv", 2, "bundle_id", "unknown offer 'S7'"),
    ("duplicate_previous", edit("previous_plan.csv", "B12,*", "S1,*"), "previous_plan.csv",
     3, "segment_id", "two previous prices"),
    ("wtp_both_columns", {"wtp.csv": "segment_id,bundle_id,product_id,wtp\nyoung,S1,,3\n"},
     "wtp.csv", 1, "product_id", "not both"),
    ("wtp_neither_column", {"wtp.csv": "segment_id,wtp\nyoung,3\n"}, "wtp.csv", 1,
     "bundle_id", "needs a 'bundle_id' column"),
    ("complementarity_le_minus_one",
     edit("bundles.csv", "B12,P1,1,0.1,8,14\nB12,P2,1,0.1,8,14", "B12,P1,1,-1,8,14\nB12,P2,1,-1,8,14"),
     "bundles.csv", 5, "complementarity", "> -1"),
    ("min_above_max",
     edit("bundles.csv", "B12,P1,1,0.1,8,14\nB12,P2,1,0.1,8,14", "B12,P1,1,0.1,16,14\nB12,P2,1,0.1,16,14"),
     "bundles.csv", 5, "max_price", "below min_price 16"),
    ("per_offer_disagree", edit("bundles.csv", "B12,P2,1,0.1", "B12,P2,1,0.2"),
     "bundles.csv", 6, "complementarity", "disagrees with 0.1 given in row 5"),
    ("malformed_csv", edit("products.csv", "P1,4,9,500", "P1,4,9,500,7"), "products.csv", 2,
     None, "malformed CSV"),
    ("blank_rows_still_counted", edit("products.csv", "P2,2,5,\nP3,1,3", "P2,2,5,\n\nP3,-1,3"),
     "products.csv", 5, "unit_cost", "found -1"),
    ("mnl_without_beta", {**edit(Y, "first_choice", "mnl"),
                          **edit("segments.csv", "old,800,0.1", "old,800,")},
     "wtp.csv", 4, "price_sensitivity", "needs a price sensitivity for segment 'old'"),
    # scenario.yaml
    ("yaml_misspelt_key", edit(Y, "max_offers:", "max_offer:"), Y, None,
     "constraints.max_offer", "unknown key 'max_offer' in 'constraints' (did you mean 'max_offers'?)"),
    ("yaml_misspelt_top", edit(Y, "pricing:", "pricng:"), Y, None, "pricng",
     "did you mean 'pricing'"),
    ("yaml_misspelt_nested", edit(Y, "  max_offers: 3\n", "  max_offers: 3\n  fairness:\n"
                                  "    max_price_sprd: 0.1\n"), Y, None,
     "constraints.fairness.max_price_sprd", "did you mean 'max_price_spread'"),
    ("yaml_key_in_wrong_section", edit(Y, "  max_offers: 3\n", "  max_offers: 3\n"
                                       "  coverage: all\n"), Y, None, "constraints.coverage",
     "it belongs at 'constraints.fairness.coverage'"),
    ("semicolon_csv", {"segments.csv": "segment_id;size\nyoung;1200\nold;800\n"},
     "segments.csv", 1, "segment_id;size", "semicolon"),
    ("yaml_not_parsing", edit(Y, "max_offers: 3", "max_offers: [3"), Y, None, None,
     "YAML does not parse at line"),
    ("yaml_duplicate_key", edit(Y, "objective: profit", "objective: profit\nobjective: revenue"),
     Y, None, None, "given twice"),
    ("yaml_not_mapping", {Y: "- pricing\n"}, Y, None, None, "expected a mapping"),
    ("yaml_section_not_mapping", edit(Y, "solver:\n  backend: highs\n  time_limit: 30\n",
                                      "solver: highs\n"), Y, None, "solver", "expected a mapping"),
    ("discount_outside", edit(Y, "objective: profit", "objective: profit\nprice_ladder:\n"
                              "  discounts: [0, 1.2]"), Y, None, "price_ladder.discounts",
     "[0, 1)"),
    ("discount_not_number", edit(Y, "objective: profit", "objective: profit\nprice_ladder:\n"
                                 "  discounts: [0, ten]"), Y, None, "price_ladder.discounts",
     "'ten'"),
    ("bad_pricing", edit(Y, "pricing: uniform", "pricing: personalised"), Y, None, "pricing",
     "did you mean 'personalized'"),
    ("bad_objective", edit(Y, "objective: profit", "objective: margin"), Y, None, "objective",
     "expected one of profit, revenue"),
    ("max_offers_negative", edit(Y, "max_offers: 3", "max_offers: -1"), Y, None,
     "constraints.max_offers", "integer ≥ 0"),
    ("max_offers_fraction", edit(Y, "max_offers: 3", "max_offers: 2.5"), Y, None,
     "constraints.max_offers", "integer ≥ 0"),
    ("max_offers_text", edit(Y, "max_offers: 3", "max_offers: three"), Y, None,
     "constraints.max_offers", "expected a number, found 'three'"),
    ("min_margin_one", edit(Y, "min_margin: 0.1", "min_margin: 1"), Y, None,
     "constraints.min_margin", "< 1"),
    ("spread_negative", edit(Y, "  max_offers: 3\n", "  max_offers: 3\n  fairness:\n"
                             "    max_price_spread: -0.1\n"), Y, None,
     "constraints.fairness.max_price_spread", "≥ 0"),
    ("price_change_negative", edit(Y, "  max_offers: 3\n", "  max_offers: 3\n  price_change:\n"
                                   "    max_relative: -0.1\n"), Y, None,
     "constraints.price_change.max_relative", "≥ 0"),
    ("inventory_not_bool", edit(Y, "  max_offers: 3\n", "  max_offers: 3\n  inventory: maybe\n"),
     Y, None, "constraints.inventory", "true or false"),
    ("must_offer_unknown", edit(Y, "  max_offers: 3\n", "  max_offers: 3\n  must_offer: [S1, B121]\n"),
     Y, None, "constraints.must_offer", "unknown offer 'B121' (did you mean 'B12'?)"),
    ("exclude_not_list", edit(Y, "  max_offers: 3\n", "  max_offers: 3\n  exclude: S1\n"),
     Y, None, "constraints.exclude", "expected a list of ids"),
    ("coverage_unknown", edit(Y, "  max_offers: 3\n", "  max_offers: 3\n  fairness:\n"
                              "    coverage: [young, kids]\n"), Y, None,
     "constraints.fairness.coverage", "unknown segment 'kids'"),
    ("backend_unknown", edit(Y, "backend: highs", "backend: gurobi"), Y, None,
     "solver.backend", "expected one of highs, cpsat"),
    ("time_limit_zero", edit(Y, "time_limit: 30", "time_limit: 0"), Y, None,
     "solver.time_limit", "> 0"),
    ("mip_gap_negative", edit(Y, "time_limit: 30", "time_limit: 30\n  mip_gap: -0.01"), Y,
     None, "solver.mip_gap", "≥ 0"),
    ("wtp_sd_negative", {"wtp.csv": "segment_id,bundle_id,wtp,wtp_sd\nyoung,S1,8.5,1\n"
                                     "old,S2,6,-0.5\n"}, "wtp.csv", 3, "wtp_sd", "≥ 0"),
    ("wtp_sd_text", {"wtp.csv": "segment_id,bundle_id,wtp,wtp_sd\nyoung,S1,8.5,abc\n"},
     "wtp.csv", 2, "wtp_sd", "expected a number"),
    ("threads_zero", edit(Y, "time_limit: 30", "time_limit: 30\n  threads: 0"), Y, None,
     "solver.threads", "integer ≥ 1"),
]


@pytest.mark.parametrize("changes,source,row,field,fragment",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_naming_file_row_field(tmp_path, changes, source, row,
                                                       field, fragment):
    root = make_dir(tmp_path, changes)
    with pytest.raises(InputError) as info:
        load_scenario(root)
    err = info.value
    message = str(err)
    assert "\n" not in message
    assert (err.source, err.row, err.field) == (source, row, field), message
    assert message.startswith(source)
    if row is not None:
        assert f"row {row}" in message
    if field is not None:
        assert f"field '{field}'" in message
    assert fragment in message


def test_not_a_directory(tmp_path):
    with pytest.raises(InputError, match="not a scenario directory"):
        load_scenario(tmp_path / "nope")


def test_empty_csv_file(tmp_path):
    with pytest.raises(InputError, match=r"^prices\.csv: the file is empty"):
        load_scenario(make_dir(tmp_path, {"prices.csv": ""}))


# ------------------------------------------------------------------ round trips
def assert_same(a: Scenario, b: Scenario) -> None:
    for key in ("products", "components", "bundles", "segments", "wtp", "prices",
                "previous_plan"):
        pd.testing.assert_frame_equal(getattr(a, key), getattr(b, key), obj=key)
    for key in ("wtp_level", "pricing", "choice_model", "objective", "discounts",
                "constraints", "solver"):
        assert getattr(a, key) == getattr(b, key), key


def rich_scenario(tmp_path: Path) -> Scenario:
    """BASE with every setting used, awkward floats and per-offer price sensitivities."""
    return load_scenario(make_dir(tmp_path, {
        "scenario.yaml": """\
pricing: personalized
choice_model: mnl
objective: revenue
price_ladder: {discounts: [0, 0.1, 0.333]}
constraints:
  min_margin: 0.05
  max_offers: 4
  max_offers_per_segment: 2
  inventory: true
  must_offer: [S1]
  exclude: [S2]
  no_arbitrage: true
  fairness: {max_price_spread: 0.2, coverage: [old]}
  price_change: {max_relative: 0.1}
solver: {backend: cpsat, time_limit: 12.5, mip_gap: 0.001, threads: 2}
""",
        "products.csv": "product_id,unit_cost,list_price,inventory,name\n"
                        "P1,4.1,9.99,500,\"Milk, 1 l\"\nP2,0.1,5,,\n"
                        "\"P,3\",1e-3,3.3333333333333335,0,Bread\n",
        "bundles.csv": BASE["bundles.csv"].replace("P3", '"P,3"'),
        "wtp.csv": "segment_id,bundle_id,wtp,price_sensitivity,wtp_sd\nyoung,S1,8.5,0.3,0.25\n"
                   "young,B12,13,,1.2345678901234567e-07\nold,S2,6,1e-2,\nold,B33,5,,0\n",
    }, name="rich"))


def test_directory_round_trip(tmp_path):
    s = rich_scenario(tmp_path)
    out = tmp_path / "written"
    write_scenario(s, out)
    back = load_scenario(out)
    assert_same(s, back)
    assert back.constraints.coverage == ("old",)
    assert back.products.loc["P,3", "list_price"] == 3.3333333333333335
    assert list(back.products["name"]) == ["Milk, 1 l", "", "Bread"]
    sd = back.wtp.set_index("bundle_id")["wtp_sd"]
    assert sd["B12"] == 1.2345678901234567e-07 and np.isnan(sd["S2"])


def test_optional_name_and_wtp_sd_are_blank_when_absent(tmp_path):
    s = load_scenario(make_dir(tmp_path))
    assert (s.products["name"] == "").all() and s.wtp["wtp_sd"].isna().all()
    write_scenario(s, tmp_path / "w")
    assert "name" not in (tmp_path / "w" / "products.csv").read_text().splitlines()[0]
    assert "wtp_sd" not in (tmp_path / "w" / "wtp.csv").read_text().splitlines()[0]


def test_directory_round_trip_of_base(tmp_path):
    s = load_scenario(make_dir(tmp_path))
    write_scenario(s, tmp_path / "w")
    assert_same(s, load_scenario(tmp_path / "w"))
    # optional tables with rows are written, the KPI column of the old plan is not
    assert (tmp_path / "w" / "previous_plan.csv").read_text().splitlines()[0] == \
        "bundle_id,segment_id,price"


def test_json_round_trip_is_plain_json(tmp_path):
    import json

    s = rich_scenario(tmp_path)
    tables = json.loads(json.dumps(scenario_to_tables(s), allow_nan=False))
    assert_same(s, scenario_from_tables(tables))


def test_write_replaces_a_scenario_dir_and_leaves_no_temporaries(tmp_path):
    s = load_scenario(make_dir(tmp_path))
    out = tmp_path / "out"
    write_scenario(s, out)
    s2 = s.with_constraints(max_offers=1)
    write_scenario(s2, out)
    assert load_scenario(out).constraints.max_offers == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "scn"]


def test_write_refuses_to_clobber_other_directories(tmp_path):
    s = load_scenario(make_dir(tmp_path))
    other = tmp_path / "docs"
    other.mkdir()
    (other / "thesis.txt").write_text("precious")
    with pytest.raises(InputError, match="refusing to overwrite"):
        write_scenario(s, other)
    assert (other / "thesis.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "scn"]


# ------------------------------------------------------------------ what-if
def test_with_constraints_revalidates(tmp_path):
    s = load_scenario(make_dir(tmp_path))
    with pytest.raises(InputError) as info:
        s.with_constraints(max_offers=-2)
    assert (info.value.source, info.value.field) == ("scenario", "constraints.max_offers")
    with pytest.raises(InputError, match="unknown offer 'S9'"):
        s.with_constraints(must_offer=["S9"])
    t = s.with_constraints(coverage="all", max_offers=5)
    assert t.constraints.coverage == ("young", "old") and t.constraints.max_offers == 5
    assert s.constraints.max_offers == 3      # the original is untouched


def test_replace_revalidates_tables(tmp_path):
    s = load_scenario(make_dir(tmp_path))
    bad_prices = pd.DataFrame({"bundle_id": ["S1", "ZZ"], "price": [8.0, 3.0]})
    with pytest.raises(InputError) as info:
        s.replace(prices=bad_prices)
    assert (info.value.source, info.value.row, info.value.field) == ("prices", 2, "bundle_id")
    with pytest.raises(InputError, match="did you mean 'personalized'"):
        s.replace(pricing="personalised")
    products = s.products.copy()
    products.loc["P2", "unit_cost"] = -1.0
    with pytest.raises(InputError) as info:
        s.replace(products=products)
    assert (info.value.source, info.value.row, info.value.field) == ("products", 2, "unit_cost")
    cheaper = s.replace(objective="revenue")
    assert cheaper.objective == "revenue" and s.objective == "profit"


# ------------------------------------------------------------------ the grocery examples
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("name", ["grocery_week", "grocery_personal"])
def test_grocery_examples_load_and_match_their_generator(tmp_path, name):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_grocery_example",
                                                  EXAMPLES / "make_grocery_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    shipped = load_scenario(EXAMPLES / name)
    assert_same(shipped, load_scenario(tmp_path / name))
    files = sorted(p.name for p in (EXAMPLES / name).iterdir())
    assert files == sorted(p.name for p in (tmp_path / name).iterdir())
    for f in files:   # the generator is deterministic: byte-identical output
        assert (EXAMPLES / name / f).read_bytes() == (tmp_path / name / f).read_bytes(), f
    assert shipped.solver.time_limit == 60
    assert 25 <= len(shipped.products) <= 35 and 80 <= len(shipped.bundles) <= 120
    assert 5 <= len(shipped.segments) <= 6


def test_grocery_examples_use_every_constraint():
    from formulations.scenario import CONSTRAINT_KEYS

    week = load_scenario(EXAMPLES / "grocery_week")
    personal = load_scenario(EXAMPLES / "grocery_personal")
    assert (week.pricing, week.choice_model, week.objective) == ("uniform", "first_choice",
                                                                 "profit")
    assert personal.pricing == "personalized"
    used = set(week.constraints.active()) | set(personal.constraints.active())
    assert used == set(CONSTRAINT_KEYS.values())
    # the previous plan only holds prices on the default ladder of their offer
    ref = week.reference_prices()
    for b, p in zip(week.previous_plan["bundle_id"], week.previous_plan["price"]):
        assert any(abs(round(ref[b] * (1 - d), 2) - p) < 1e-9 for d in week.discounts), b
