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


# ------------------------------------------------------------------ sweep size and files
from bundleopt.study.executors import LocalExecutor, make_executor  # noqa: E402
from bundleopt.study.sweep import CONFIRM_PAST, Study, VariantResult, check_size, variant_name  # noqa: E402
from solver.machine import machine_cores  # noqa: E402


def test_a_sweep_past_500_variants_needs_yes(tmp_path):
    scen = write_dir(tmp_path / "tiny")
    many = ",".join(str(k) for k in range(1, 502))               # 501 variants
    r = invoke("sweep", scen, "--set", f"constraints.max_offers={many}", "--out", tmp_path / "out")
    one_error_line(r, "501 variants", "--yes")
    assert not (tmp_path / "out").exists()
    r = invoke("sweep", scen, "--set", "constraints.max_offers=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,"
               "20,21,22,23,24", "--set", "scale.wtp=" + ",".join(str(1 + k / 100) for k in range(21)),
               "--out", tmp_path / "out")                          # 24 × 21 = 504: the grid counts
    one_error_line(r, "504 variants", "--yes")
    assert CONFIRM_PAST == 500
    check_size(500, False)
    check_size(10_000, True)
    with pytest.raises(ParameterError, match="--yes"):
        check_size(501, False)


def test_workers_are_capped_at_the_cores_with_a_note(tmp_path):
    cores = machine_cores()
    ex = make_executor("local", workers=10_000)
    assert ex.workers == cores and f"{cores} cores" in ex.note
    assert make_executor("local", workers=cores).note is None
    assert make_executor("local").workers is None              # default: the cores, no note
    # made directly, the pool is capped all the same: never more processes than cores
    started = []

    class Pool:
        def __init__(self, max_workers, **kw):
            started.append(max_workers)
            raise RuntimeError("stop here")

    import bundleopt.study.executors as executors
    monkey = pytest.MonkeyPatch()
    monkey.setattr(executors, "ProcessPoolExecutor", Pool)
    try:
        if cores > 1:
            with pytest.raises(RuntimeError, match="stop here"):
                list(LocalExecutor(10_000).run(max, 0, list(range(100))))
    finally:
        monkey.undo()
    assert started == ([cores] if cores > 1 else [])       # one core: solved in this process
    scen = write_dir(tmp_path / "tiny")
    r = CliRunner().invoke(main, ["sweep", str(scen), "--set", "constraints.max_offers=1,2", "--out",
                                  str(tmp_path / "out"), "--workers", "10000"])
    assert r.exit_code == 0, r.output
    assert f"note: --workers 10000 is more than this machine's {cores} cores; using {cores}" in r.output


def test_variant_folders_are_numbered_wide_enough_for_the_count():
    assert variant_name(0, {"constraints.max_offers": 5}) == "001_max_offers-5"
    assert variant_name(0, {"constraints.max_offers": 5}, 999) == "001_max_offers-5"
    assert variant_name(0, {}, 1000) == "0001"
    assert variant_name(12344, {"scale.wtp": 0.9}, 12345) == "12345_wtp-0.9"
    names = [variant_name(i, {}, 1500) for i in range(1500)]
    assert names == sorted(names) and len(set(map(len, names))) == 1


class Skipping(LocalExecutor):
    """Every variant 'invalid' at once, nothing solved: for the study's bookkeeping."""

    def run(self, fn, base, jobs):
        for i, chain in enumerate(jobs):
            yield i, [VariantResult(j[0], j[1], j[2], "invalid", "skipped") for j in chain]


def test_a_sweep_of_1000_variants_names_its_folders_with_4_digits(tmp_path):
    base = load_scenario(write_dir(tmp_path / "tiny"))
    study = Study(base, [{"constraints.max_offers": k} for k in range(1, 1001)])
    run = study.run(Skipping(1), out_dir=tmp_path / "out")
    res = pd.read_csv(tmp_path / "out" / "results.csv", dtype={"variant": str})
    assert res["variant"].iloc[0] == "0001_max_offers-1" and res["variant"].iloc[-1] == "1000_max_offers-1000"
    assert len(run.variants) == 1000


class StopsAfterFirstChain(LocalExecutor):
    """Solves the first chain in this process, then is stopped (Ctrl-C)."""

    def run(self, fn, base, jobs):
        yield 0, fn(base, jobs[0])
        raise KeyboardInterrupt


def test_a_stopped_sweep_keeps_the_variants_it_finished(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "frontier.csv").write_text("stale,objective,surplus,pareto\n")     # an older run's
    base = load_scenario(write_dir(tmp_path / "tiny"))
    study = Study.grid(base, {"constraints.max_offers": [1, 2, 3, 4]})
    with pytest.raises(KeyboardInterrupt):
        study.run(StopsAfterFirstChain(1), out_dir=out)
    res = pd.read_csv(out / "results.csv", dtype={"variant": str})
    assert list(res["variant"]) == ["001_max_offers-1", "002_max_offers-2"]      # the first chain
    assert list(res["status"]) == ["optimal", "optimal"]
    for name in res["variant"]:
        assert (out / name / "plan.csv").is_file() and (out / name / "summary.json").is_file()
    assert not (out / "003_max_offers-3").exists()
    assert not (out / "frontier.csv").exists()              # the stale one would not match these rows


def test_rows_are_written_as_variants_finish_and_sorted_at_the_end(tmp_path):
    out = tmp_path / "out"
    seen_mid_run = []

    class Watching(LocalExecutor):
        def run(self, fn, base, jobs):
            for i in reversed(range(len(jobs))):                # finish in reverse order
                yield i, fn(base, jobs[i])
                seen_mid_run.append(pd.read_csv(out / "results.csv", dtype={"variant": str})["variant"].tolist())

    base = load_scenario(write_dir(tmp_path / "tiny"))
    study = Study.grid(base, {"constraints.max_offers": [1, 2, 3]})
    study.run(Watching(1), out_dir=out)
    assert seen_mid_run == [["003_max_offers-3"],
                            ["003_max_offers-3", "001_max_offers-1", "002_max_offers-2"]]
    final = pd.read_csv(out / "results.csv", dtype={"variant": str})
    assert list(final["variant"]) == ["001_max_offers-1", "002_max_offers-2", "003_max_offers-3"]
    assert (out / "frontier.csv").is_file()


# ------------------------------------------------------------------ no float noise in study files
NOISY = {"scenario.yaml": ("pricing: uniform\nchoice_model: first_choice\nobjective: profit\n"
                           "price_ladder: {discounts: [0.0, 0.1]}\nconstraints:\n  max_offers: 2\n"),
         "products.csv": "product_id,unit_cost,list_price,inventory\nP1,0.1,0.3,\nP2,0.7,1.1,\n",
         "bundles.csv": "bundle_id,product_id,quantity\nA,P1,1\nB,P2,1\n",
         "segments.csv": "segment_id,size\nyoung,3\nold,7\n",
         "wtp.csv": "segment_id,bundle_id,wtp\nyoung,A,0.5\nold,B,2\nold,A,0.2\n"}


def decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def test_study_files_hold_money_in_cents_and_rates_to_6_digits(tmp_path):
    from solver.api import solve

    scen = write_dir(tmp_path / "noisy", NOISY)
    assert decimals(repr(solve(load_scenario(scen)).objective)) > 2      # the noise is there to round
    r = invoke("sweep", scen, "--set", "constraints.max_offers=1,2", "--set", "scale.wtp=1,1.1",
               "--out", tmp_path / "sw", "--workers", "1", "-q")
    assert r.exit_code == 0, r.output
    res = pd.read_csv(tmp_path / "sw" / "results.csv", dtype=str, keep_default_na=False)
    for col in ("objective", "bound", "revenue", "profit", "units", "surplus"):
        assert all(decimals(v) <= 2 for v in res[col]), (col, res[col].tolist())
    assert all(len(v.replace(".", "").replace("-", "").lstrip("0")) <= 6 for v in res["gap"] if v)
    for row in res.itertuples():
        summary = json.loads((tmp_path / "sw" / row.variant / "summary.json").read_text())
        assert float(row.objective) == summary["objective"]          # the row agrees with its summary
    fr = pd.read_csv(tmp_path / "sw" / "frontier.csv", dtype=str, keep_default_na=False)
    assert all(decimals(v) <= 2 for c in ("objective", "surplus") for v in fr[c])

    assert invoke("solve", scen, "--out", tmp_path / "plan", "-q").exit_code == 0
    r = invoke("explain", scen, "--plan", tmp_path / "plan", "--out", tmp_path / "ex", "--workers", "1", "-q")
    assert r.exit_code == 0, r.output
    for name, cols in (("rule_costs.csv", ("objective_without", "cost")),
                       ("moves.csv", ("price", "new_price", "objective_after", "delta"))):
        got = pd.read_csv(tmp_path / "ex" / name, dtype=str, keep_default_na=False)
        for col in cols:
            assert all(decimals(v) <= 2 for v in got[col]), (name, col, got[col].tolist())
    r = invoke("robustness", scen, "--plan", tmp_path / "plan", "--draws", 200, "--wtp-cv", 0.3,
               "--out", tmp_path / "rob", "-q")
    assert r.exit_code == 0, r.output
    rb = json.loads((tmp_path / "rob" / "robustness.json").read_text())
    for k in ("plan_objective", "mean", "std", "p5", "p50", "p95", "min", "max"):
        assert decimals(repr(rb[k])) <= 2, (k, rb[k])
    for v in list(rb["stockout_probability"].values()) + list(rb["segment_buy_rate"].values()):
        assert v is None or float(f"{v:.6g}") == v
