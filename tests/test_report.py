"""Reports and plan files a merchandiser reads: plan.csv / summary.json contents, the
``bundleopt report`` command, and every kind of report opened in a real headless Chromium
(from disk, no server): it draws its charts, raises no script error, asks for nothing over
the network, labels every axis, and its tables hold exactly the numbers of its files.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from bundleopt.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import browser  # noqa: E402,F401  (the fixture)

ROOT = Path(__file__).resolve().parents[1]

# Two products with names; AB holds one P1 and two P2. Ladder: list price and 10 % off.
#   young (100): WTP A 10, AB 15 → AB at 14.40;  old (50): WTP B 6 → B at 6.00.
NAMED = {
    "scenario.yaml": "pricing: uniform\nchoice_model: first_choice\nobjective: profit\n"
                     "price_ladder: {discounts: [0.0, 0.1]}\nconstraints:\n  min_margin: 0.1\n",
    "products.csv": "product_id,unit_cost,list_price,inventory,name\nP1,4,10,,Coffee beans 500 g\nP2,1.5,3,400,\n",
    "bundles.csv": "bundle_id,product_id,quantity\nA,P1,1\nB,P2,1\nAB,P1,1\nAB,P2,2\n",
    "segments.csv": "segment_id,size\nyoung,100\nold,50\n",
    "wtp.csv": "segment_id,bundle_id,wtp\nyoung,A,10\nyoung,AB,15\nold,B,6\nold,AB,12\n",
    "previous_plan.csv": "bundle_id,segment_id,price\nA,*,10\nAB,*,16\n",
}


def write_files(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


# ========================================================== plan files on their own
def test_plan_csv_has_list_price_discount_components_and_previous_price(tmp_path: Path) -> None:
    scen = write_files(tmp_path / "scn", NAMED)
    r = invoke("solve", scen, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    plan = pd.read_csv(tmp_path / "out" / "plan.csv", dtype={"bundle_id": str, "segment_id": str})
    assert list(plan.columns[:8]) == ["bundle_id", "segment_id", "price", "expected_units", "expected_revenue",
                                      "expected_profit", "list_price", "discount"]
    rows = plan.set_index("bundle_id")
    assert set(rows.index) == {"AB", "B"}
    # R_AB = 10 + 2 × 3 = 16; price 14.40 → 10 % off; margin (14.40 − 7) / 14.40
    assert rows.at["AB", "list_price"] == 16.0 and rows.at["AB", "price"] == 14.4
    assert rows.at["AB", "discount"] == 0.1
    assert rows.at["AB", "margin"] == round((14.4 - 7.0) / 14.4, 4)
    assert rows.at["AB", "components"] == "Coffee beans 500 g + 2 × P2"      # P2 has no name: its id
    assert rows.at["B", "components"] == "P2"
    assert rows.at["AB", "previous_price"] == 16.0 and pd.isna(rows.at["B", "previous_price"])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["previous_plan_dropped"] == [{"bundle_id": "A", "segment_id": "*", "price": 10.0,
                                                 "components": "Coffee beans 500 g"}]
    assert summary["constraints_imposed"] == ["min_margin"]
    assert summary["stopped_by"] is None
    assert [p["name"] for p in summary["products"]] == ["Coffee beans 500 g", ""]


def test_money_is_in_cents_in_plan_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = invoke("solve", ROOT / "examples" / "grocery_personal", "--out", out)
    assert r.exit_code == 0, r.output
    lines = (out / "plan.csv").read_text().splitlines()
    header = lines[0].split(",")
    money = [header.index(c) for c in ("price", "expected_revenue", "expected_profit", "list_price")]
    for line in lines[1:]:
        cells = line.split(",")
        assert all(decimals(cells[i]) <= 2 for i in money), line
    text = (out / "summary.json").read_text()
    s = json.loads(text)
    for v in (s["objective"], s["bound"], s["kpis"]["revenue"], s["kpis"]["profit"],
              *(seg["surplus"] for seg in s["segments"])):
        assert v == round(v, 2)


def test_cli_summary_never_cuts_two_offers_into_one_name(tmp_path: Path) -> None:
    long = "spaghetti-500g+tomato-sauce-500g+parmesan-"
    files = {**NAMED,
             "bundles.csv": f"bundle_id,product_id,quantity\n{long}x,P1,1\n{long}y,P2,1\n",
             "wtp.csv": f"segment_id,bundle_id,wtp\nyoung,{long}x,10\nold,{long}y,6\n"}
    files.pop("previous_plan.csv")
    scen = write_files(tmp_path / "scn", files)
    r = invoke("solve", scen, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert f"{long}x" in r.output and f"{long}y" in r.output
    assert "…" not in r.output


# ========================================================== the report command
def test_report_on_nothing_recognisable_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    r = invoke("report", tmp_path / "empty")
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0 and r.output.startswith("error:") and "nothing to report" in r.output
    assert not (tmp_path / "empty" / "report.html").exists()
    r = invoke("report", tmp_path / "missing")
    assert r.exit_code == 2 and "is not a folder" in r.output


@pytest.mark.parametrize("name, text, expect", [
    ("summary.json", "{\"status\": \"optimal\",", "summary.json: is not valid JSON"),
    ("summary.json", "[1, 2]", "summary.json: must hold a JSON object"),
    ("summary.json", "{\"objective\": 3}", "summary.json, field 'status': missing key 'status'"),
    ("robustness.json", "{\"mean\": 1}", "robustness.json, field 'p5': missing key 'p5'"),
    ("rule_costs.csv", "rule,cost\nmax_offers,3\n", "rule_costs.csv, row 1, field 'objective_without'"),
    ("moves.csv", "bundle_id,audience,price,move,new_price,objective_after,delta,breaks\nA,*,1.0,up,1.1,x,0.1,\n",
     "moves.csv, row 2, field 'objective_after': not a number: 'x'"),
])
def test_report_on_a_malformed_file_names_it_and_writes_nothing(tmp_path: Path, name, text, expect) -> None:
    run = write_files(tmp_path / "run", {name: text})
    out = tmp_path / "elsewhere" / "r.html"
    r = invoke("report", run, "--out", out)
    assert r.exit_code == 2, r.output
    assert r.output.strip() == f"error: {expect}" or r.output.startswith(f"error: {expect}"), r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not out.exists() and not (run / "report.html").exists()


def test_summary_json_that_parses_but_holds_nonsense_is_one_line(tmp_path: Path) -> None:
    run = write_files(tmp_path / "run", {"summary.json": json.dumps({"status": "optimal", "kpis": "abc"})})
    r = invoke("report", run)
    assert r.exit_code == 2 and r.output.startswith("error: run/summary.json: unexpected content"), r.output
    assert len(r.output.strip().splitlines()) == 1 and not (run / "report.html").exists()


def test_plan_csv_without_summary_is_refused_and_an_older_plan_csv_still_reports(tmp_path: Path) -> None:
    old_plan = "bundle_id,segment_id,price,expected_units,expected_revenue,expected_profit\nA,*,1.5,2.0,3.0,1.0\n"
    run = write_files(tmp_path / "run", {"plan.csv": old_plan})
    r = invoke("report", run)
    assert r.exit_code == 2 and "summary.json: missing" in r.output and not (run / "report.html").exists()
    (run / "summary.json").write_text(json.dumps({"status": "optimal", "objective": 1.0}))
    r = invoke("report", run)          # a plan.csv from before list_price/discount existed
    assert r.exit_code == 0, r.output
    assert "<td class=\"num\" data-col=\"price\">1.50</td>" in (run / "report.html").read_text()


def test_headline_says_what_the_time_limit_did(tmp_path: Path) -> None:
    from bundleopt.report import build_report

    base = {"status": "feasible", "objective": 100.0, "bound": 101.25, "gap": 0.012346, "time_limit": 30,
            "build_seconds": 0.5, "solve_seconds": 29.5, "stopped_by": "time_limit"}
    run = write_files(tmp_path / "a", {"summary.json": json.dumps(base)})
    assert "The time limit of 30 s stopped the solve: the best plan found is within 1.2346% of the proven bound" \
        in build_report(run)
    run = write_files(tmp_path / "b", {"summary.json": json.dumps(
        {**base, "status": "optimal", "gap": 0.0, "stopped_by": None})})
    assert "The time limit of 30 s was not reached" in build_report(run)
    run = write_files(tmp_path / "c", {"summary.json": json.dumps({**base, "time_limit": None})})
    assert "No time limit was set" in build_report(run)


def test_a_new_solve_removes_the_previous_runs_report(tmp_path: Path) -> None:
    scen, out = write_files(tmp_path / "scn", NAMED), tmp_path / "out"
    assert invoke("solve", scen, "--out", out, "--report", "-q").exit_code == 0
    assert (out / "report.html").is_file()
    assert invoke("solve", scen, "--out", out, "-q").exit_code == 0
    assert not (out / "report.html").exists()       # it would show a run this folder no longer holds


def test_plan_csv_with_a_bad_number_names_its_row(tmp_path: Path) -> None:
    scen = write_files(tmp_path / "scn", NAMED)
    out = tmp_path / "out"
    assert invoke("solve", scen, "--out", out).exit_code == 0
    text = (out / "plan.csv").read_text().splitlines()
    cells = text[2].split(",")
    cells[2] = "cheap"
    (out / "plan.csv").write_text("\n".join(text[:2] + [",".join(cells)] + text[3:]) + "\n")
    r = invoke("report", out)
    assert r.exit_code == 2
    assert r.output.startswith("error: plan.csv, row 3, field 'price': not a number: 'cheap'"), r.output


# ========================================================== study files (issue 10's formats)
def write_study(root: Path) -> Path:
    """A sweep over max_offers plus explain and robustness outputs, in the documented formats."""
    key = "constraints.max_offers"
    res = pd.DataFrame({key: [1, 2, 3, 4], "status": ["optimal"] * 4,
                        "objective": [812.5, 1290.25, 1480.0, 1480.0], "bound": [812.5, 1290.25, 1480.0, 1480.0],
                        "gap": [0.0] * 4, "revenue": [2100.0, 3300.5, 3900.75, 3900.75],
                        "profit": [812.5, 1290.25, 1480.0, 1480.0], "units": [250.0, 390.0, 450.5, 450.5],
                        "surplus": [300.0, 410.1, 520.0, 520.0], "offers": [1, 2, 3, 3],
                        "solve_seconds": [0.02, 0.03, 0.05, 0.04], "variant": ["v000", "v001", "v002", "v003"]})
    res.to_csv(root / "results.csv", index=False)
    pd.DataFrame({key: [1, 2, 3, 4], "objective": res["objective"], "surplus": res["surplus"],
                  "pareto": [True, True, True, False]}).to_csv(root / "frontier.csv", index=False)
    pd.DataFrame({"rule": ["max_offers", "inventory", "fairness.coverage"],
                  "objective_without": [1480.0, 1350.75, 1290.25],
                  "cost": [189.75, 60.5, 0.0]}).to_csv(root / "rule_costs.csv", index=False)
    pd.DataFrame({"bundle_id": ["AB", "AB", "B", "A"], "audience": ["*"] * 4, "price": [14.4, 14.4, 6.0, None],
                  "move": ["up", "drop", "down", "add"], "new_price": [16.0, None, 5.4, 9.0],
                  "objective_after": [1100.0, 150.0, 1260.25, 1290.25], "delta": [-190.25, -1140.25, -30.0, 0.0],
                  "breaks": ["", "", "", "max_offers"]}).to_csv(root / "moves.csv", index=False)
    (root / "robustness.json").write_text(json.dumps({
        "mean": 1250.4, "p5": 990.1, "p50": 1262.0, "p95": 1430.55,
        "stockout_probability": {"P1": 0.0, "P2": 0.125}, "segment_buy_rate": {"young": 0.92, "old": 0.61}}))
    return root


# ========================================================== in a real browser


def read_table(page, table_id: str) -> list[dict[str, str]]:
    return page.evaluate("""id => [...document.querySelectorAll('#' + id + ' tbody tr')].map(tr =>
        Object.fromEntries([...tr.querySelectorAll('td')].map(td => [td.dataset.col, td.innerText.trim()])))""",
                         table_id)


def num(text: str) -> float | None:
    if text in ("—", ""):
        return None
    return float(text.replace(",", "").replace("%", ""))


def pct_of(text: str) -> float | None:
    v = num(text)
    return None if v is None else round(v / 100, 6)


def assert_renders_cleanly(opened, report: Path, min_charts: int) -> None:
    page = opened.page
    assert opened.errors == [], opened.errors
    foreign = [u for u in opened.requests if u != report.resolve().as_uri() and not u.startswith("data:")]
    assert foreign == [], f"the report asked for {foreign}"
    charts = page.locator(".js-plotly-plot").count()
    assert charts >= min_charts
    assert page.locator(".js-plotly-plot .main-svg").count() >= charts     # each chart drawn
    # every axis that shows tick labels has a title
    untitled = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(gd =>
        Object.keys(gd._fullLayout).filter(k => /^[xy]axis\\d*$/.test(k))
          .filter(k => gd._fullLayout[k].visible !== false && gd._fullLayout[k].showticklabels !== false)
          .filter(k => !(gd._fullLayout[k].title && gd._fullLayout[k].title.text))
          .map(k => (gd.layout.title && gd.layout.title.text || gd.id) + ': ' + k))""")
    assert untitled == [], untitled


def assert_plan_table_matches(page, plan: pd.DataFrame) -> None:
    rows = read_table(page, "plan-table")
    assert len(rows) == len(plan)
    for shown, (_, row) in zip(rows, plan.iterrows()):
        assert row["bundle_id"] in shown["offer_cell"].replace(" + ", "+") or \
            row["components"] in shown["offer_cell"]
        assert shown["audience"] == ("everyone" if row["segment_id"] == "*" else row["segment_id"])
        for col in ("price", "list_price", "expected_units", "expected_revenue", "expected_profit"):
            assert num(shown[col]) == row[col], (col, shown[col], row[col])
        for col in ("discount", "margin"):
            assert pct_of(shown[col]) == row[col], (col, shown[col], row[col])
        if "previous_price" in plan:
            want = None if pd.isna(row["previous_price"]) else row["previous_price"]
            assert num(shown["previous_price"]) == want


def test_solve_report_in_the_browser_matches_its_files(browser, tmp_path: Path) -> None:
    out = tmp_path / "week"
    r = invoke("solve", ROOT / "examples" / "grocery_week", "--out", out, "--report", "--quiet")
    assert r.exit_code == 0, r.output
    report = out / "report.html"
    opened = browser.open(report)
    # headline, price vs list, profit, segments, inventory, rules, price changes
    assert_renders_cleanly(opened, report, min_charts=6)
    plan = pd.read_csv(out / "plan.csv", dtype={"bundle_id": str, "segment_id": str})
    summary = json.loads((out / "summary.json").read_text())
    assert_plan_table_matches(opened.page, plan)
    kpi = dict(opened.page.evaluate("""() => [...document.querySelectorAll('[data-kpi]')]
        .map(e => [e.dataset.kpi, e.innerText.trim()])"""))
    assert kpi["Status"] == summary["status"]
    assert num(kpi["Objective"]) == summary["objective"]
    assert num(kpi["Revenue"]) == summary["kpis"]["revenue"]
    assert num(kpi["Profit"]) == summary["kpis"]["profit"]
    dropped = read_table(opened.page, "dropped-table")
    assert [d["bundle_id"] for d in dropped] == [d["bundle_id"] for d in summary["previous_plan_dropped"]]
    assert [num(d["price"]) for d in dropped] == [d["price"] for d in summary["previous_plan_dropped"]]
    opened.page.close()


def test_personalized_and_infeasible_reports_in_the_browser(browser, tmp_path: Path) -> None:
    out = tmp_path / "personal"
    r = invoke("solve", ROOT / "examples" / "grocery_personal", "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    r = invoke("report", out, "--out", tmp_path / "p.html", "--currency", "EUR")
    assert r.exit_code == 0, r.output
    opened = browser.open(tmp_path / "p.html")
    assert_renders_cleanly(opened, tmp_path / "p.html", min_charts=5)
    assert_plan_table_matches(opened.page, pd.read_csv(out / "plan.csv", dtype={"bundle_id": str, "segment_id": str}))
    assert "price (EUR)" in opened.page.content()
    opened.page.close()

    bad = write_files(tmp_path / "bad", {**NAMED, "scenario.yaml": NAMED["scenario.yaml"]
                                         + "  must_offer: [A, B]\n  max_offers: 1\n"})
    r = invoke("solve", bad, "--out", tmp_path / "none", "--report", "--quiet")
    assert r.exit_code == 1
    opened = browser.open(tmp_path / "none" / "report.html")
    assert opened.errors == []
    text = opened.page.inner_text("body")
    assert "infeasible" in text and "max_offers" in text and "No plan in this folder" in text
    opened.page.close()


def test_fit_report_in_the_browser_from_a_real_fit(browser, tmp_path: Path) -> None:
    data, scen = tmp_path / "data", tmp_path / "scenario"
    r = invoke("simulate-data", "--out", data, "--customers", "300", "--products", "4", "--days", "28",
               "--kind", "transactions", "--complements", "1")
    assert r.exit_code == 0, r.output
    for _ in range(2):          # a rerun into the folder holding the first report is accepted
        r = invoke("fit", data, "--out", scen, "--report", "--quiet")
        assert r.exit_code == 0, r.output
        assert (scen / "report.html").is_file()
    rep = json.loads((scen / "fit_report.json").read_text())
    opened = browser.open(scen / "report.html")
    # segments, WTP heat map, calibration, scores (+ bundles when mined)
    assert_renders_cleanly(opened, scen / "report.html", min_charts=4)
    cal = read_table(opened.page, "calibration-table")
    assert [int(num(c["n"])) for c in cal] == [c["n"] for c in rep["holdout"]["calibration"]]
    for shown, c in zip(cal, rep["holdout"]["calibration"]):
        assert math.isclose(pct_of(shown["observed"]), round(c["observed"], 6), abs_tol=5e-7)
    scores = read_table(opened.page, "scores-table")
    assert num(scores[0]["log_loss"]) == round(rep["holdout"]["model"]["log_loss"], 6)
    segs = read_table(opened.page, "segments-table")
    assert [s["segment_id"] for s in segs] == [s["segment_id"] for s in rep["segments"]]
    # the store-scale fit writes segment profiles and the search over K; the page shows them
    prof = read_table(opened.page, "profiles-table")
    assert [p["feature"] for p in prof] == list(rep["segments"][0]["profile"])
    assert "chosen" in opened.page.inner_text("body").lower() and rep["chosen_k"] >= 1
    opened.page.close()

    # the keys the store-scale fit adds (issue 12's format): profiles and the search over K
    rep["segments"] = [{**sg, "profile": {"visits_per_week": 1.25 + i, "share_fresh": 0.5}}
                       for i, sg in enumerate(rep["segments"])]
    rep["k_search"] = [{"k": k, "validation": {"log_loss": 0.40 - 0.01 * k, "auc": 0.7},
                        "test": {"log_loss": 0.41 - 0.01 * k, "auc": 0.69}, "wtp_spread": 1.5 * k} for k in (1, 2, 3)]
    rep["chosen_k"] = 3
    (scen / "fit_report.json").write_text(json.dumps(rep))
    assert invoke("report", scen).exit_code == 0
    opened = browser.open(scen / "report.html")
    assert_renders_cleanly(opened, scen / "report.html", min_charts=5)
    assert "not in this fit report" not in opened.page.inner_text("body")
    prof = read_table(opened.page, "profiles-table")
    assert [p["feature"] for p in prof] == ["visits_per_week", "share_fresh"]
    assert [num(prof[0][sg["segment_id"]]) for sg in rep["segments"]] == [1.25 + i for i in range(len(rep["segments"]))]
    opened.page.close()


def test_fit_report_shows_the_season_forecast_and_its_backtest(browser, tmp_path: Path) -> None:
    data, scen = tmp_path / "data", tmp_path / "scenario"
    assert invoke("simulate-data", "--out", data, "--customers", "300", "--products", "3", "--days", "56").exit_code == 0
    r = invoke("fit", data, "--out", scen, "--periods", "3", "--bootstrap", "0", "--report", "--quiet")
    assert r.exit_code == 0, r.output
    season = json.loads((scen / "fit_report.json").read_text())["season"]
    opened = browser.open(scen / "report.html")
    assert_renders_cleanly(opened, scen / "report.html", min_charts=5)
    assert "Shoppers over the season" in opened.page.inner_text("body")
    rows = read_table(opened.page, "season-backtest-table")
    bt = season["backtest"]
    assert [r_["segment_id"] for r_ in rows] == ["all segments"] + [s["segment_id"] for s in bt["segments"]]
    assert pct_of(rows[0]["ses"]) == round(bt["wape"]["ses"], 3)
    assert pct_of(rows[0]["naive"]) == round(bt["wape"]["naive_last_value"], 3)
    opened.page.close()


def test_calibration_deciles_are_equal_count_groups_by_prediction() -> None:
    import numpy as np

    from demand.report import calibration

    p = np.linspace(0.0, 0.99, 100)[::-1].copy()      # unsorted input
    y = (np.arange(100) % 2 == 0).astype(int)[::-1].copy()
    cal = calibration(np.ones(100), y, p)      # one exposure per row
    assert [c["decile"] for c in cal] == list(range(1, 11)) and all(c["n"] == 10 for c in cal)
    assert [round(c["predicted"], 6) for c in cal] == [round(0.045 + 0.1 * i, 6) for i in range(10)]
    assert all(c["observed"] == 0.5 for c in cal)


def test_study_report_in_the_browser_matches_its_files(browser, tmp_path: Path) -> None:
    (tmp_path / "study").mkdir()
    run = write_study(tmp_path / "study")
    r = invoke("report", run)
    assert r.exit_code == 0, r.output
    opened = browser.open(run / "report.html")
    # frontier, profit vs surplus, rule costs, objective distribution, stock-out / buy rates
    assert_renders_cleanly(opened, run / "report.html", min_charts=5)
    res = pd.read_csv(run / "results.csv")
    shown = read_table(opened.page, "results-table")
    assert [num(s["objective"]) for s in shown] == res["objective"].tolist()
    assert [num(s["surplus"]) for s in shown] == res["surplus"].tolist()
    costs = pd.read_csv(run / "rule_costs.csv").sort_values("cost", ascending=False)
    shown = read_table(opened.page, "rule-costs-table")
    assert [s["rule"] for s in shown] == costs["rule"].tolist()
    assert [num(s["cost"]) for s in shown] == costs["cost"].tolist()
    moves = pd.read_csv(run / "moves.csv")
    shown = read_table(opened.page, "moves-table")
    assert [num(s["delta"]) for s in shown] == moves["delta"].tolist()
    assert [s["breaks"] for s in shown] == moves["breaks"].fillna("").tolist()
    rb = json.loads((run / "robustness.json").read_text())
    shown = read_table(opened.page, "robustness-table")
    assert [num(s["value"]) for s in shown] == [rb["mean"], rb["p5"], rb["p50"], rb["p95"]]
    opened.page.close()


def test_season_report_in_the_browser_matches_its_files(browser, tmp_path: Path) -> None:
    """A season's pages: price path, profit per period, stock run-down, what is left, the
    status quo (a model estimate) — drawn without errors, tables as summary.json has them."""
    out = tmp_path / "season"
    r = invoke("solve", ROOT / "examples" / "grocery_season", "--out", out, "--report", "--quiet")
    assert r.exit_code == 0, r.output
    report = out / "report.html"
    opened = browser.open(report)
    plan = pd.read_csv(out / "plan.csv", dtype={"period": str, "bundle_id": str, "segment_id": str})
    # price path, profit per period, stock run-down, segments, inventory; and the price
    # changes of the first period on sale, drawn only where an offer was on sale before
    # (which of the example's optimal plans the solver returns decides that)
    first = plan[plan["period"] == plan["period"].iloc[0]]
    assert_renders_cleanly(opened, report, min_charts=5 + int(first["previous_price"].notna().any()))
    text = opened.page.inner_text("body")
    for title in ("Season: price path per offer", "Season: profit per period", "Season: stock run-down",
                  "Season: what is left", "Season: against the status quo (model estimate)"):
        assert title in text
    summary = json.loads((out / "summary.json").read_text())
    rows = read_table(opened.page, "plan-table")
    assert [r["period"] for r in rows] == list(plan["period"])
    left = read_table(opened.page, "left-table")
    assert [(d["product_id"], num(d["left"]), num(d["salvage_value"])) for d in left] == \
        [(d["product_id"], d["left"], d["salvage_value"]) for d in summary["stock_left"]]
    sq = summary["status_quo"]
    per = read_table(opened.page, "status-quo-table")
    assert [num(d["sq"]) for d in per] == [p["objective"] for p in sq["periods"]]
    assert [num(d["plan"]) for d in per] == [p["objective"] for p in summary["periods"]]
    kpi = dict(opened.page.evaluate("""() => [...document.querySelectorAll('[data-kpi]')]
        .map(e => [e.dataset.kpi, e.innerText.trim()])"""))
    assert num(kpi["Status quo"]) == sq["objective"]
    assert num(kpi["Difference"]) == sq["plan_minus_status_quo"]
    # one line per offer in the price path, its steps the plan's prices by period
    traces = opened.page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
        .filter(gd => ((gd.layout.title || {}).text || '').startsWith('Price per offer and period'))
        .flatMap(gd => gd.data.map(t => [t.meta, t.x, t.y]))""")
    assert len(traces) == plan.groupby(["bundle_id", "segment_id"]).ngroups
    labels = summary["horizon"]["periods"]
    for meta, x, y in traces:
        assert x == labels
        assert sum(v is not None for v in y) == len(plan[plan["components"] == meta])
    opened.page.close()
