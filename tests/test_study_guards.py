"""What-if studies on hostile input: bounded sizes, refused and flagged plans, files that
keep what a stopped study did, money in cents. No Ray here (test_whatif.py has it);
every study runs in this process or a small local pool.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cli import write_dir  # noqa: E402

from formulations.errors import ParameterError  # noqa: E402
from formulations.loading import load_scenario  # noqa: E402
from bundleopt.cli import main  # noqa: E402
from bundleopt.study import robustness as robustness_mod  # noqa: E402
from bundleopt.study.robustness import MAX_DRAW_CELLS, MAX_DRAWS, robustness  # noqa: E402


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(r, *words: str) -> None:
    """Exit 2, one ``error:`` line naming ``words``, no traceback."""
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert r.exception is None or isinstance(r.exception, SystemExit)


@pytest.fixture()
def tiny_plan(tmp_path):
    scen = write_dir(tmp_path / "tiny")
    assert invoke("solve", scen, "--out", tmp_path / "plan", "-q").exit_code == 0
    return scen, tmp_path / "plan"


# ------------------------------------------------------------------ robustness size
def test_draws_past_the_cap_are_refused_before_anything_is_drawn(tiny_plan, tmp_path, monkeypatch):
    scen, plan_dir = tiny_plan
    sc = load_scenario(scen)
    plan = pd.read_csv(plan_dir / "plan.csv", dtype={"bundle_id": str, "segment_id": str})

    def no_drawing(*a, **k):
        raise AssertionError("drew WTPs for a study it should have refused")

    assert robustness(sc, plan, draws=250, seed=0)["draws"] == 250
    monkeypatch.setattr(robustness_mod, "MAX_DRAW_CELLS", 1000)    # 4 offers seen: 250 draws fit
    assert robustness(sc, plan, draws=250, seed=0)["draws"] == 250
    monkeypatch.setattr(robustness_mod, "draw_wtp", no_drawing)
    with pytest.raises(ParameterError, match="at most 1,000,000"):
        robustness(sc, plan, draws=MAX_DRAWS + 1, seed=0)
    with pytest.raises(ParameterError, match="251 draws × 4 offers seen = 1,004 .* use at most 250 draws"):
        robustness(sc, plan, draws=251, seed=0)
    for draws in (100_000_000, 3_000_000, 0, -5, 251):
        r = invoke("robustness", scen, "--plan", plan_dir, "--draws", draws, "--out", tmp_path / "rob")
        one_error_line(r, "--draws")
        assert not (tmp_path / "rob").exists()
    assert MAX_DRAWS * 8 * 6 <= 2**30 and MAX_DRAW_CELLS * 8 * 6 <= 2**30   # under 1 GiB at peak


# ------------------------------------------------------------------ plans checked first
STRICT = {"scenario.yaml": ("pricing: uniform\nchoice_model: first_choice\nobjective: profit\n"
                            "price_ladder: {discounts: [0.0, 0.1]}\n"
                            "constraints:\n  min_margin: 0.1\n  must_offer: [A]\n  fairness: {coverage: all}\n")}


def plan_dir(root: Path, text: str) -> Path:
    root.mkdir(parents=True)
    (root / "plan.csv").write_text(text)
    return root


@pytest.mark.parametrize("command", ["explain", "robustness"])
def test_a_plan_naming_an_offer_twice_for_one_audience_is_refused(tmp_path, command):
    scen = write_dir(tmp_path / "tiny")
    twice = plan_dir(tmp_path / "twice", "bundle_id,segment_id,price\nA,*,10\nB,*,6\nA,*,9\n")
    r = invoke(command, scen, "--plan", twice, "--out", tmp_path / "out")
    one_error_line(r, "plan.csv, row 4, field 'bundle_id'", "'A'", "row 2")
    assert not (tmp_path / "out").exists()


def test_explain_says_which_rules_the_plan_breaks_before_its_costs(tmp_path):
    scen = write_dir(tmp_path / "strict", STRICT)
    empty = plan_dir(tmp_path / "empty", "bundle_id,segment_id,price\n")
    r = invoke("explain", scen, "--plan", empty, "--out", tmp_path / "ex", "--workers", "1")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("warning: the plan breaks 2 rules") and "must_offer" in lines[0] \
        and "fairness.coverage" in lines[0], r.output
    assert not any("costs" in line for line in lines[:1])
    costs = pd.read_csv(tmp_path / "ex" / "rule_costs.csv", keep_default_na=False)
    assert list(costs.columns) == ["rule", "objective_without", "cost", "status", "plan_breaks"]
    broken = dict(zip(costs["rule"], costs["plan_breaks"]))
    assert broken["min_margin"] == ""
    assert broken["must_offer"].startswith("must_offer:") and "'A'" in broken["must_offer"]
    assert broken["fairness.coverage"].startswith("fairness.coverage:")
    # a price off the ladder is no rule to switch off: its own row, no cost
    off = plan_dir(tmp_path / "off", "bundle_id,segment_id,price\nA,*,9.5\n")
    r = invoke("explain", scen, "--plan", off, "--out", tmp_path / "ex2", "--workers", "1")
    assert r.exit_code == 0 and r.output.startswith("warning: the plan breaks"), r.output
    costs = pd.read_csv(tmp_path / "ex2" / "rule_costs.csv", keep_default_na=False)
    ladder = costs[costs["rule"] == "price ladder"].iloc[0]
    assert ladder["status"] == "not_solved" and ladder["cost"] == "" and "9.5" in ladder["plan_breaks"]
    # the report says so above the costs
    assert invoke("report", tmp_path / "ex").exit_code == 0
    html = (tmp_path / "ex" / "report.html").read_text()
    assert 'data-plan-breaks="yes"' in html and html.index("data-plan-breaks") < html.index("rule-costs-table")


def test_robustness_says_which_rules_the_plan_breaks(tmp_path):
    scen = write_dir(tmp_path / "strict", STRICT)
    empty = plan_dir(tmp_path / "empty", "bundle_id,segment_id,price\n")
    r = invoke("robustness", scen, "--plan", empty, "--draws", 10, "--out", tmp_path / "rob")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("warning: the plan breaks 2 rules"), r.output
    rb = json.loads((tmp_path / "rob" / "robustness.json").read_text())
    assert set(rb["plan_breaks"]) == {"must_offer", "fairness.coverage"}
    assert invoke("report", tmp_path / "rob").exit_code == 0
    assert 'data-plan-breaks="yes"' in (tmp_path / "rob" / "report.html").read_text()
    # a plan that keeps every rule: no warning, nothing broken
    good = tmp_path / "good"
    assert invoke("solve", scen, "--out", good, "-q").exit_code == 0
    r = invoke("robustness", scen, "--plan", good, "--draws", 10, "--out", tmp_path / "rob2")
    assert r.exit_code == 0 and "warning" not in r.output, r.output
    assert json.loads((tmp_path / "rob2" / "robustness.json").read_text())["plan_breaks"] == {}
