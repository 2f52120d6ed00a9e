"""Re-planning a season week by week from what sold (SCENARIO.md §8 "Re-planning"):
``bundleopt plan run CONFIG --week W --sales SALES.csv`` on examples/grocery_season.

End to end through the real CLI (exit statuses, files written or not) and a real SQLite
database; the re-plans are checked against the season's own rules by
:func:`formulations.evaluate.evaluate_season` on the whole season (the published weeks
stitched to the re-plan), not against numbers copied from a solver run.
"""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_service_support import PYTHON, ROOT  # noqa: E402

from formulations.evaluate import evaluate_season  # noqa: E402
from formulations.loading import load_scenario  # noqa: E402
from bundleopt.service.weekly.season import (SeasonWeeks, replan_scenario,  # noqa: E402
                                             sales_frame, season_weeks, sold_by_product)

pytestmark = pytest.mark.timeout(600)
SEASON = ROOT / "examples" / "grocery_season"
W49, W50, W51 = "2026-W49", "2026-W50", "2026-W51"
SALES = {"croissants-4pk": 300.0, "eggs-12pk": 500.0, "bread-sourdough-800g": 400.0}


def _run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "bundleopt", "plan", "run", "season.yaml",
                           "--db", f"sqlite:///{tmp / 'b.db'}", *args], cwd=tmp,
                          capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def _sales(tmp: Path, name: str, rows: list[tuple[str, str, float]],
           by: str = "week") -> str:
    pd.DataFrame(rows, columns=[by, "product_id", "units"]).to_csv(tmp / name, index=False)
    return name


def _db(tmp: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(tmp / "b.db") as c:
        return list(c.execute(sql))


@pytest.fixture(scope="module")
def season_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("season")
    (tmp / "season.yaml").write_text(f"name: groc\nscenario: {SEASON}\nseason: {{start: {W49}}}\n"
                                     "solver: {time_limit: 60}\n")
    first = _run(tmp, "--week", W49)
    assert first.returncode == 0, first.stdout + first.stderr
    rows = [(W49, p, u) for p, u in SALES.items()]
    second = _run(tmp, "--week", W50, "--sales", _sales(tmp, "sales.csv", rows))
    assert second.returncode == 0, second.stdout + second.stderr
    return tmp


def _plan(tmp: Path, week: str) -> pd.DataFrame:
    return pd.read_csv(tmp / "plans" / "groc" / week / "plan.csv", dtype={"segment_id": str})


def test_two_weeks_with_sales_keep_every_rule_over_the_whole_season(season_dir: Path) -> None:
    scenario = load_scenario(SEASON)
    labels = scenario.horizon.labels
    first, second = _plan(season_dir, W49), _plan(season_dir, W50)
    assert set(first["period"]) <= set(labels)
    assert set(second["period"]) <= set(labels[1:])       # weeks W50.. only
    # The season as it happened and is planned: W49 as published, then the re-plan.
    stitched = pd.concat([first[first["period"] == W49], second], ignore_index=True)
    cols = ["period", "bundle_id", "segment_id", "price"]
    # Stock is judged on actual sales, not on the model's W49 demand: leave it out here
    # (the re-plan's own stock is tested below).
    ev = evaluate_season(scenario.without_rule("inventory"), stitched[cols])
    assert ev.violations == []


def test_replan_respects_no_increase_against_the_published_week(season_dir: Path) -> None:
    first, second = _plan(season_dir, W49), _plan(season_dir, W50)
    # The last price on sale before W50: W49's as published, else the shelf before the
    # season (previous_plan.csv) — whichever optimum W49's plan is, the re-plan keeps to it.
    shelf = load_scenario(SEASON).previous_plan.groupby("bundle_id")["price"].min()
    published = first[first["period"] == W49].groupby("bundle_id")["price"].min()
    last = published.combine_first(shelf)
    later = second.groupby("bundle_id")["price"].max()
    both = later.index.intersection(last.index)
    assert len(both)     # something with a last price is planned again (else no test)
    assert (later[both] <= last[both] + 1e-9).all()


def test_replan_stock_is_start_plus_receipts_less_sales() -> None:
    scenario = load_scenario(SEASON)
    season = season_weeks(W49, scenario, "season.yaml")
    rows = [{"week": W49, "product_id": p, "units": u} for p, u in SALES.items()]
    sold = sold_by_product(sales_frame(rows, "sales"), scenario, season, W50)
    empty = pd.DataFrame(columns=["period", "bundle_id", "segment_id", "price"])
    r = replan_scenario(scenario, season, W50, sold, empty)
    inv = scenario.products["inventory"]
    rc = scenario.receipts
    upto = rc[rc["period"].isin([W49, W50])].groupby("product_id")["units"].sum()
    for p in scenario.products.index:
        want = inv[p] + upto.get(p, 0.0) - SALES.get(p, 0.0)
        assert r.products.loc[p, "inventory"] == pytest.approx(want)
    assert r.horizon.labels == scenario.horizon.labels[1:]
    assert set(r.receipts["period"]) <= set(scenario.horizon.labels[2:])


def test_used_changes_pin_the_offer() -> None:
    # Uniform pricing, max_changes 2, min_gap 2: an offer that changed in the week
    # before is pinned to its last price; one that never changed is free.
    scenario = load_scenario(SEASON)
    season = season_weeks(W49, scenario, "season.yaml")
    ladder = scenario.prices[scenario.prices["bundle_id"] == "beer-6pk"]["price"]
    low = float(ladder.min())
    published = pd.DataFrame({"period": [W49, W50], "bundle_id": ["beer-6pk"] * 2,
                              "segment_id": ["*"] * 2, "price": [float(ladder.max()), low]})
    sold = pd.Series(0.0, index=scenario.products.index)
    r = replan_scenario(scenario, season, W51, sold, published)
    assert r.bundles.loc["beer-6pk", "min_price"] == low == r.bundles.loc["beer-6pk",
                                                                          "max_price"]
    assert np.isnan(r.bundles.loc["eggs-12pk", "min_price"])
    hist = r.previous_plan.set_index("bundle_id")["price"]
    assert hist["beer-6pk"] == low


def test_rerun_makes_a_new_published_version(season_dir: Path) -> None:
    before = _db(season_dir, "SELECT count(*) FROM plan_versions")[0][0]
    rows = [(W49, p, u) for p, u in SALES.items()] + [(W50, "eggs-12pk", 100.0)]
    r = _run(season_dir, "--week", W50, "--sales", _sales(season_dir, "s2.csv", rows))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "re-planned as version" in r.stdout
    after = _db(season_dir, "SELECT count(*) FROM plan_versions")[0][0]
    assert after == before + 1
    (approved,) = _db(season_dir, f"SELECT approved_version FROM weekly_plans "
                                  f"WHERE week = '{W50}'")[0]
    assert approved == after      # the new version is the published one
    stored = _db(season_dir, "SELECT n_rows FROM plan_sales WHERE name = 'groc'")
    assert stored == [(len(rows),)]


@pytest.mark.parametrize("name,rows,by,field,row", [
    ("late.csv", [(W49, "eggs-12pk", 5.0), (W51, "eggs-12pk", 5.0)], "week", "week", 3),
    ("unknown.csv", [(W49, "caviar", 1.0)], "week", "product_id", 2),
    ("negative.csv", [(W49, "eggs-12pk", -1.0)], "week", "units", 2),
    ("over.csv", [(W49, "eggs-12pk", 3000.0), (W50, "eggs-12pk", 401.0)], "week", "units", 3),
    ("outside.csv", [("9", "eggs-12pk", 1.0)], "period", "period", 2),
])
def test_bad_sales_exit_2_name_the_row_and_write_nothing(
        season_dir: Path, name: str, rows: list, by: str, field: str, row: int) -> None:
    sales_before = _db(season_dir, "SELECT rows FROM plan_sales")
    weeks_before = _db(season_dir, "SELECT week, solve_id, approved_version FROM weekly_plans")
    r = _run(season_dir, "--week", W50, "--sales", _sales(season_dir, name, rows, by))
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert f"{name}, row {row}, field '{field}'" in lines[0]
    assert _db(season_dir, "SELECT rows FROM plan_sales") == sales_before
    assert _db(season_dir, "SELECT week, solve_id, approved_version FROM weekly_plans") \
        == weeks_before
    assert not (season_dir / "plans" / "groc" / W51).exists()


def test_a_plan_runs_time_limit_counts_from_the_start_it_is_given(tmp_path: Path) -> None:
    """``run_week(started=…)`` (the CLI passes its own start) hands the run's clock to the
    solve, so reading the config, the database and the sales count against the limit: a
    run whose limit is all but spent when the solve starts stops on it, where the same
    week solved from its own start is proven optimal."""
    import time

    from bundleopt.service.weekly import run_week

    (tmp_path / "season.yaml").write_text(
        f"name: groc\nscenario: {SEASON}\nseason: {{start: {W49}}}\nsolver: {{time_limit: 60}}\n")
    url = f"sqlite:///{tmp_path / 'b.db'}"
    spent = run_week(tmp_path / "season.yaml", W49, db_url=url, tenant="late", out=tmp_path / "late",
                     started=time.monotonic() - 59.95)
    assert spent.status == "feasible", spent.message
    assert spent.result.summary["stopped_by"] == "time_limit"
    fresh = run_week(tmp_path / "season.yaml", W49, db_url=url, tenant="fresh",
                     out=tmp_path / "fresh")
    assert fresh.status == "optimal", fresh.message
