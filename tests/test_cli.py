"""The ``bundleopt`` command line: exit statuses, error lines and the files it writes.

Most cases use click's ``CliRunner`` (same process, fast); a few run the real console
entry point in a subprocess, where a traceback or a stray line on stderr would show
exactly as a merchandiser would see it. Expected objectives of the tiny scenario are
worked out by hand below, from SCENARIO.md's first-choice rules.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from bundleopt.cli import main

ROOT = Path(__file__).resolve().parents[1]
PLAN_COLUMNS = ["bundle_id", "segment_id", "price", "expected_units", "expected_revenue",
                "expected_profit", "list_price", "discount", "margin", "components"]
SUMMARY_KEYS = {"status", "objective", "bound", "gap", "backend", "build_seconds",
                "solve_seconds", "kpis", "binding_constraints"}

# Two products, their two singles and the pair; ladder = list price and 10 % off.
#   A  (cost 4):  10.00, 9.00      B  (cost 3):  6.00, 5.40      AB (cost 7): 16.00, 14.40
# young (100 shoppers): WTP A 10, AB 15.  old (50): WTP B 6, AB 12.
# young: AB at 14.40 (surplus 0.60) beats A at 10 (surplus 0) and earns 7.40 each → 740,
#        better than A alone at 10 (600); AB at 16 is above its WTP.
# old:   B at 6.00 (surplus 0 still buys) → 3 × 50 = 150; AB at 14.40 is above its WTP.
# profit optimum 740 + 150 = 890; revenue optimum 1440 + 300 = 1740 (same plan).
TINY = {
    "scenario.yaml": ("pricing: uniform\nchoice_model: first_choice\nobjective: profit\n"
                      "price_ladder: {discounts: [0.0, 0.1]}\n"
                      "constraints:\n  min_margin: 0.1\n"),
    "products.csv": "product_id,unit_cost,list_price,inventory\nP1,4,10,\nP2,3,6,\n",
    "bundles.csv": "bundle_id,product_id,quantity\nA,P1,1\nB,P2,1\nAB,P1,1\nAB,P2,1\n",
    "segments.csv": "segment_id,size\nyoung,100\nold,50\n",
    "wtp.csv": "segment_id,bundle_id,wtp\nyoung,A,10\nyoung,AB,15\nold,B,6\nold,AB,12\n",
}
TINY_PROFIT, TINY_REVENUE = 890.0, 1740.0


def write_dir(root: Path, changes: dict[str, str | None] | None = None) -> Path:
    """The tiny scenario with some files replaced (``None`` removes a file)."""
    files = {**TINY, **(changes or {})}
    root.mkdir(parents=True)
    for name, text in files.items():
        if text is not None:
            (root / name).write_text(text)
    return root


def replaced(name: str, old: str, new: str) -> dict[str, str]:
    assert old in TINY[name], (name, old)
    return {name: TINY[name].replace(old, new, 1)}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The real console program, as a user would start it."""
    return subprocess.run([sys.executable, "-m", "bundleopt", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def assert_one_error_line(stderr: str, filename: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error:"), stderr
    assert filename in lines[0], stderr
    assert "Traceback" not in stderr


# ============================================================== bad input → 2
BAD_INPUTS = {
    "missing column": ("products.csv", replaced(
        "products.csv", "product_id,unit_cost,list_price,inventory\nP1,4,10,\nP2,3,6,",
        "product_id,list_price,inventory\nP1,10,\nP2,6,")),
    "negative price": ("prices.csv", {"prices.csv": "bundle_id,price\nA,9.5\nA,-5\n"}),
    "negative list price": ("products.csv", replaced("products.csv", "P2,3,6,", "P2,3,-6,")),
    "unknown id": ("wtp.csv", replaced("wtp.csv", "old,B,6", "old,ZZ,6")),
    "unknown must_offer id": ("scenario.yaml", replaced(
        "scenario.yaml", "min_margin: 0.1", "min_margin: 0.1\n  must_offer: [NOPE]")),
    "misspelt YAML key": ("scenario.yaml", replaced(
        "scenario.yaml", "min_margin: 0.1", "min_margin: 0.1\n  max_ofers: 2")),
    "unreadable YAML": ("scenario.yaml", {"scenario.yaml": "pricing: [uniform\nobjective: profit\n"}),
    "missing file": ("wtp.csv", {"wtp.csv": None}),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, case: str) -> None:
    filename, changes = BAD_INPUTS[case]
    scen = write_dir(tmp_path / "scn", changes)
    out = tmp_path / "out"
    r = invoke("solve", str(scen), "--out", str(out))
    assert r.exit_code == 2, (r.output, r.exception)
    assert_one_error_line(r.stderr, filename)
    assert r.stdout == ""
    assert not out.exists()


@pytest.mark.parametrize("case", ["missing column", "unreadable YAML"])
def test_bad_input_through_the_real_program(tmp_path: Path, case: str) -> None:
    filename, changes = BAD_INPUTS[case]
    scen = write_dir(tmp_path / "scn", changes)
    out = tmp_path / "out"
    r = run_cli("solve", str(scen), "--out", str(out))
    assert r.returncode == 2, r.stderr
    assert_one_error_line(r.stderr, filename)
    assert not out.exists()


def test_bad_option_value_is_exit_2(tmp_path: Path) -> None:
    scen = write_dir(tmp_path / "scn")
    out = tmp_path / "out"
    r = invoke("solve", str(scen), "--out", str(out), "--time-limit", "0")
    assert r.exit_code == 2
    assert "--time-limit" in r.stderr and "'time_limit'" not in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_cpsat_on_mnl_is_refused_before_writing(tmp_path: Path) -> None:
    scen = write_dir(tmp_path / "scn", {
        **replaced("scenario.yaml", "first_choice", "mnl"),
        "segments.csv": "segment_id,size,price_sensitivity\nyoung,100,0.5\nold,50,0.8\n"})
    out = tmp_path / "out"
    r = invoke("solve", str(scen), "--out", str(out), "--backend", "cpsat")
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "cpsat" in lines[0]
    assert not out.exists()


# ============================================================== infeasible → 1
def test_must_offer_without_any_margin_price_is_infeasible(tmp_path: Path) -> None:
    # every ladder price of every offer has a margin below 70 % (best: A at 10 → 60 %)
    scen = write_dir(tmp_path / "scn", replaced(
        "scenario.yaml", "min_margin: 0.1", "min_margin: 0.7\n  must_offer: [A]"))
    out = tmp_path / "out"
    r = invoke("solve", str(scen), "--out", str(out))
    assert r.exit_code == 1, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "infeasible"
    assert {"must_offer", "min_margin"} <= set(summary["conflicting_constraints"])
    assert not (out / "plan.csv").exists()


def test_max_offers_against_two_pins_is_infeasible_and_named(tmp_path: Path) -> None:
    scen = write_dir(tmp_path / "scn", replaced(
        "scenario.yaml", "min_margin: 0.1",
        "min_margin: 0.1\n  max_offers: 1\n  must_offer: [A, B]"))
    out = tmp_path / "out"
    r = invoke("solve", str(scen), "--out", str(out))
    assert r.exit_code == 1, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "infeasible"
    # min_margin alone is satisfiable, so a minimal conflict is exactly these two
    assert sorted(summary["conflicting_constraints"]) == ["max_offers", "must_offer"]
    assert summary["objective"] is None
    assert not (out / "plan.csv").exists()


def test_infeasible_rerun_removes_an_earlier_plan(tmp_path: Path) -> None:
    good = write_dir(tmp_path / "good")
    bad = write_dir(tmp_path / "bad", replaced(
        "scenario.yaml", "min_margin: 0.1", "max_offers: 1\n  must_offer: [A, B]"))
    out = tmp_path / "out"
    assert invoke("solve", str(good), "--out", str(out)).exit_code == 0
    assert (out / "plan.csv").exists()
    assert invoke("solve", str(bad), "--out", str(out)).exit_code == 1
    assert not (out / "plan.csv").exists()
    assert json.loads((out / "summary.json").read_text())["status"] == "infeasible"


# ============================================================== good scenario → 0
def _check_outputs(out: Path, objective_column: str) -> tuple[pd.DataFrame, dict]:
    plan = pd.read_csv(out / "plan.csv", dtype={"bundle_id": str, "segment_id": str})
    summary = json.loads((out / "summary.json").read_text())
    # SCENARIO.md §7's columns in its order; previous_price only with a previous_plan.csv
    assert [c for c in plan.columns if c != "previous_price"] == PLAN_COLUMNS
    assert SUMMARY_KEYS <= set(summary)
    assert summary["status"] in ("optimal", "feasible")
    assert len(plan) > 0
    # money is in cents in both files: allow that rounding per row
    assert math.isclose(summary["objective"], plan[objective_column].sum(),
                        rel_tol=1e-9, abs_tol=0.005 * (len(plan) + 1))
    assert summary["bound"] is not None
    return plan, summary


def test_tiny_scenario_profit_optimum_matches_hand_calculation(tmp_path: Path) -> None:
    scen = write_dir(tmp_path / "scn")
    out = tmp_path / "out"
    r = invoke("solve", str(scen), "--out", str(out))
    assert r.exit_code == 0, (r.output, r.exception)
    plan, summary = _check_outputs(out, "expected_profit")
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(TINY_PROFIT, rel=1e-9)
    assert summary["bound"] == pytest.approx(TINY_PROFIT, rel=1e-6)
    assert set(zip(plan["bundle_id"], plan["segment_id"], plan["price"])) == {
        ("AB", "*", 14.4), ("B", "*", 6.0)}


def test_a_later_command_in_the_same_process_gets_its_whole_time_limit(tmp_path: Path,
                                                                       monkeypatch) -> None:
    """--time-limit counts from a command's start, not from when bundleopt.cli was imported:
    a process that imported it an hour ago (a notebook, a test run) still gets its 5 s."""
    import time

    import bundleopt.cli as cli

    monkeypatch.setattr(cli, "_STARTED", time.monotonic() - 3600.0)
    monkeypatch.setattr(cli._Group, "_invoked", True)
    r = invoke("solve", str(write_dir(tmp_path / "scn")), "--out", str(tmp_path / "o"),
               "--time-limit", "5")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["status"] == "optimal"


def test_tiny_scenario_revenue_objective_is_the_revenue_column(tmp_path: Path) -> None:
    scen = write_dir(tmp_path / "scn", replaced("scenario.yaml", "objective: profit",
                                                "objective: revenue"))
    out = tmp_path / "out"
    r = invoke("solve", str(scen), "--out", str(out))
    assert r.exit_code == 0, (r.output, r.exception)
    _, summary = _check_outputs(out, "expected_revenue")
    assert summary["objective"] == pytest.approx(TINY_REVENUE, rel=1e-9)


def test_tiny_scenario_cpsat_agrees(tmp_path: Path) -> None:
    scen = write_dir(tmp_path / "scn")
    out = tmp_path / "out"
    r = invoke("solve", str(scen), "--out", str(out), "--backend", "cpsat", "--quiet")
    assert r.exit_code == 0, (r.output, r.exception)
    assert r.stdout == ""
    _, summary = _check_outputs(out, "expected_profit")
    assert summary["backend"] == "cpsat"
    assert summary["objective"] == pytest.approx(TINY_PROFIT, rel=1e-9)


def test_grocery_week_through_the_real_program(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    r = run_cli("solve", str(ROOT / "examples" / "grocery_week"), "--out", str(out),
                "--time-limit", "60")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    plan, summary = _check_outputs(out, "expected_profit")
    assert summary["backend"] == "highs"
    assert (plan["segment_id"] == "*").all()          # uniform pricing
    assert summary["violations"] == []
    # the scenario pins these two offers on sale
    assert {"milk-1l", "spaghetti-500g"} <= set(plan["bundle_id"])
    assert "wine-red-750ml+cheddar-400g+chocolate-dark-100g" not in set(plan["bundle_id"])
    assert summary["kpis"]["offers_on_sale"] == plan["bundle_id"].nunique() <= 25


# ============================================================== other commands
def test_help_exits_0() -> None:
    r = run_cli("--help")
    assert r.returncode == 0
    for command in ("solve", "check", "export"):
        assert command in r.stdout
    r = invoke("solve", "--help")
    assert r.exit_code == 0
    assert "--out" in r.stdout and "--time-limit" in r.stdout


def test_check_reports_counts_and_rejects_bad_dirs(tmp_path: Path) -> None:
    scen = write_dir(tmp_path / "scn")
    r = invoke("check", str(scen))
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("ok:")
    assert "2 products" in r.stdout and "3 candidate offers" in r.stdout and "2 segments" in r.stdout
    bad = write_dir(tmp_path / "bad", BAD_INPUTS["unknown id"][1])
    r = invoke("check", str(bad))
    assert r.exit_code == 2
    assert_one_error_line(r.stderr, "wtp.csv")


def test_export_writes_an_lp_with_the_constraint_families(tmp_path: Path) -> None:
    scen = write_dir(tmp_path / "scn", replaced(
        "scenario.yaml", "min_margin: 0.1", "min_margin: 0.1\n  max_offers: 2\n  must_offer: [B]"))
    lp = tmp_path / "m.lp"
    r = invoke("export", str(scen), "--out", str(lp))
    assert r.exit_code == 0, (r.output, r.exception)
    text = lp.read_text()
    for family in ("one_price", "buy_only_on_sale", "best_offer_chosen", "max_offers",
                   "must_offer"):
        assert family in text, family
    assert "on_sale(" in text and "buy(" in text


def test_export_refuses_other_suffixes(tmp_path: Path) -> None:
    scen = write_dir(tmp_path / "scn")
    r = invoke("export", str(scen), "--out", str(tmp_path / "m.txt"))
    assert r.exit_code == 2
    assert r.stderr.strip().startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m.txt").exists()
