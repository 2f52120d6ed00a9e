"""The JSON form of a scenario (SERVICE.md): same checks, errors name table and record."""
from __future__ import annotations

import copy
import math

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from formulations import InputError, scenario_from_tables, scenario_to_tables


def payload() -> dict:
    """SERVICE.md's example, grown a little so cross-table rules have something to check."""
    return {
        "scenario": {"pricing": "uniform", "constraints": {"max_offers": 5}},
        "products": [
            {"product_id": "P1", "unit_cost": 4, "list_price": 9, "inventory": 500},
            {"product_id": "P2", "unit_cost": 2.5, "list_price": 6, "inventory": None},
        ],
        "bundles": [
            {"bundle_id": "S1", "product_id": "P1", "quantity": 1},
            {"bundle_id": "S2", "product_id": "P2", "quantity": 1},
            {"bundle_id": "B12", "product_id": "P1", "quantity": 1, "complementarity": 0.05},
            {"bundle_id": "B12", "product_id": "P2", "quantity": 2},
        ],
        "segments": [{"segment_id": "young", "size": 1200, "price_sensitivity": 0.2},
                     {"segment_id": "old", "size": 300}],
        "wtp": [{"segment_id": "young", "bundle_id": "S1", "wtp": 8.5},
                {"segment_id": "old", "bundle_id": "B12", "wtp": 19.0}],
        "prices": [], "previous_plan": [],
    }


def test_service_example_loads():
    s = scenario_from_tables(payload(), name="req-1")
    assert s.name == "req-1"
    assert list(s.bundles.index) == ["S1", "S2", "B12"]
    assert s.bundles.loc["B12", "complementarity"] == pytest.approx(0.05)
    assert math.isnan(s.products.loc["P2", "inventory"])
    assert math.isnan(s.segments.loc["old", "price_sensitivity"])
    assert s.constraints.max_offers == 5
    assert s.prices.empty and s.previous_plan.empty


def test_optional_tables_and_settings_may_be_left_out():
    p = payload()
    for key in ("scenario", "prices", "previous_plan"):
        del p[key]
    s = scenario_from_tables(p)
    assert s.pricing == "uniform" and s.constraints.max_offers is None


def test_json_and_directory_forms_agree(tmp_path):
    from formulations import load_scenario, write_scenario

    s = scenario_from_tables(payload())
    write_scenario(s, tmp_path / "d")
    back = load_scenario(tmp_path / "d")
    assert scenario_to_tables(back) == scenario_to_tables(s)


def changed(path: tuple, value) -> dict:
    """payload() with the value at ``path`` replaced (a missing last key is added)."""
    p = copy.deepcopy(payload())
    target = p
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    return p


def dropped(table: str) -> dict:
    p = payload()
    del p[table]
    return p


CASES = [
    # id, payload, source, row, field, message fragment
    ("unknown_table", changed(("product",), []), "payload", None, "product",
     "did you mean 'products'"),
    ("missing_table", dropped("wtp"), "payload", None, "wtp", "missing table 'wtp'"),
    ("table_not_list", changed(("products",), {"product_id": "P1"}), "products", None, None,
     "expected a list of records"),
    ("record_not_object", changed(("segments", 1), "old"), "segments", 2, None,
     "expected a record"),
    ("unknown_field", changed(("products", 1, "colour"), "red"), "products", 2, "colour",
     "unknown column 'colour'"),
    ("misspelt_field", changed(("bundles", 2, "quantty"), 1), "bundles", 3, "quantty",
     "did you mean 'quantity'"),
    ("missing_field", changed(("wtp",), [{"segment_id": "young", "bundle_id": "S1"}]),
     "wtp", None, "wtp", "missing column 'wtp'"),
    ("field_missing_in_one_record", changed(("products", 1), {"product_id": "P2",
                                                             "list_price": 6}),
     "products", 2, "unit_cost", "found blank"),
    ("text_for_number", changed(("products", 0, "unit_cost"), "abc"), "products", 1,
     "unit_cost", "expected a number, found 'abc'"),
    ("bool_for_number", changed(("segments", 0, "size"), True), "segments", 1, "size",
     "found 'true'"),
    ("nested_value", changed(("wtp", 1, "wtp"), [19]), "wtp", 2, "wtp",
     "expected a single value"),
    ("negative_price", changed(("products", 1, "list_price"), -6), "products", 2,
     "list_price", "> 0"),
    ("empty_id", changed(("segments", 1, "segment_id"), "  "), "segments", 2, "segment_id",
     "empty id"),
    ("unknown_product", changed(("bundles", 3, "product_id"), "P3"), "bundles", 4,
     "product_id", "unknown product 'P3' (not in products"),
    ("duplicate_component", changed(("bundles", 3, "product_id"), "P1"), "bundles", 4,
     "product_id", "also in row 3"),
    ("per_offer_disagree", changed(("bundles", 3, "complementarity"), 0.1), "bundles", 4,
     "complementarity", "disagrees with 0.05 given in row 3"),
    ("quantity_fraction", changed(("bundles", 0, "quantity"), 0.5), "bundles", 1,
     "quantity", "integer ≥ 1"),
    ("unknown_wtp_offer", changed(("wtp", 1, "bundle_id"), "B21"), "wtp", 2, "bundle_id",
     "unknown offer 'B21'"),
    ("wtp_mixed_levels", changed(("wtp", 1), {"segment_id": "old", "product_id": "P1",
                                             "wtp": 3}),
     "wtp", 2, "product_id", "not both"),
    ("previous_plan_unknown_segment",
     changed(("previous_plan",), [{"bundle_id": "S1", "segment_id": "kids", "price": 8}]),
     "previous_plan", 1, "segment_id", "unknown segment 'kids'"),
    ("prices_negative", changed(("prices",), [{"bundle_id": "S1", "price": 8},
                                              {"bundle_id": "S1", "price": -1}]),
     "prices", 2, "price", "> 0"),
    ("settings_unknown_key", changed(("scenario", "constraints", "max_offer"), 3), "scenario",
     None, "constraints.max_offer", "did you mean 'max_offers'"),
    ("settings_not_object", changed(("scenario",), "uniform"), "scenario", None, None,
     "expected a mapping"),
    ("settings_bad_range", changed(("scenario", "constraints", "max_offers"), -1), "scenario",
     None, "constraints.max_offers", "integer ≥ 0"),
    ("settings_bad_choice", changed(("scenario", "choice_model"), "logit"), "scenario", None,
     "choice_model", "expected one of first_choice, mnl"),
    ("mnl_without_beta", changed(("scenario", "choice_model"), "mnl"), "wtp", 2,
     "price_sensitivity", "segment 'old'"),
]


@pytest.mark.parametrize("data,source,row,field,fragment", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_json_names_table_record_and_field(data, source, row, field, fragment):
    with pytest.raises(InputError) as info:
        scenario_from_tables(data)
    err, message = info.value, str(info.value)
    assert "\n" not in message
    assert (err.source, err.row, err.field) == (source, row, field), message
    assert fragment in message


def test_payload_must_be_an_object():
    with pytest.raises(InputError, match="expected a JSON object"):
        scenario_from_tables([1, 2])  # type: ignore[arg-type]


def test_integral_float_counts_as_integer():
    s = scenario_from_tables(changed(("scenario", "constraints", "max_offers"), 4.0))
    assert s.constraints.max_offers == 4 and isinstance(s.constraints.max_offers, int)


def test_product_level_wtp_round_trip_and_numpy_values():
    import numpy as np

    p = payload()
    p["wtp"] = [{"segment_id": "young", "product_id": "P1", "wtp": np.float64(8.25)},
                {"segment_id": "young", "product_id": "P2", "wtp": np.int64(5)}]
    s = scenario_from_tables(p)
    assert s.wtp_level == "product"
    assert s.wtp["wtp"].tolist() == [8.25, 5.0]
    back = scenario_from_tables(scenario_to_tables(s))
    assert back.wtp_level == "product"
    assert scenario_to_tables(back) == scenario_to_tables(s)
    # B12 = (1 + 0.05) * (8.25 + 2 * 5)
    w = back.offer_wtp().set_index(["segment_id", "bundle_id"])["wtp"]
    assert w[("young", "B12")] == pytest.approx(1.05 * 18.25)

ODD_VALUES = [None, "", "x", -1, 0, 2.5, float("nan"), float("inf"), True, [], {}, "P1",
              "B12", "young", "*", 1e308, "all", [1]]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.sampled_from(["products", "bundles", "segments", "wtp",
                                                 "scenario"]),
                                st.integers(0, 3),
                                st.sampled_from(["product_id", "bundle_id", "segment_id",
                                                 "unit_cost", "list_price", "quantity", "size",
                                                 "wtp", "inventory", "pricing", "constraints",
                                                 "complementarity", "price_sensitivity"]),
                                st.sampled_from(ODD_VALUES)), min_size=1, max_size=3))
def test_any_odd_value_gives_a_scenario_or_one_input_error_line(edits):
    p = payload()
    for table, i, key, value in edits:
        if table == "scenario":
            p["scenario"][key] = value
        else:
            records = p[table]
            records[i % len(records)][key] = value
    try:
        scenario_from_tables(p)
    except InputError as e:
        assert "\n" not in str(e) and str(e).startswith(e.source)
