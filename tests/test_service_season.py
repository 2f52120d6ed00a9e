"""Seasons through the service (SERVICE.md "Seasons, review and fleet"): the solve JSON
carries ``periods``, ``receipts`` and ``competitors``; ``GET …/plan`` rows carry ``period``.

A real ``serve`` process on SQLite (and PostgreSQL when BUNDLEOPT_TEST_PG_URL is set);
the plan the service returns is re-evaluated with :func:`formulations.evaluate.evaluate_season`,
the season's own scorer, not compared with numbers copied from a solver run.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_service_support import (DB_KINDS, TERMINAL, TOKENS, Server, database,  # noqa: E402
                                  wait_status)

from formulations.evaluate import evaluate_season  # noqa: E402
from formulations.loading import scenario_from_tables  # noqa: E402
from bundleopt.service.db import make_engine, session_factory  # noqa: E402
from bundleopt.service.models import Audit, ScenarioRow, Solve, WeeklyPlan  # noqa: E402
from bundleopt.service.weekly import run_week  # noqa: E402
from bundleopt.service.weekly.config import config_from_mapping  # noqa: E402

pytestmark = pytest.mark.timeout(300)

WEEKS = ["2026-W49", "2026-W50", "2026-W51"]


def season_payload() -> dict[str, Any]:
    """Two products, their bundle, two segments over three weeks: stock that runs short,
    a receipt, a competitor in one week, and every markdown rule."""
    return {
        "scenario": {"pricing": "uniform", "constraints": {"inventory": True},
                     "markdown": {"no_increase": True, "max_changes": 1, "min_gap": 2},
                     "horizon": {"periods": WEEKS, "salvage": 0.2},
                     "solver": {"backend": "highs", "time_limit": 30}},
        "products": [{"product_id": "P1", "unit_cost": 4, "list_price": 9, "inventory": 300},
                     {"product_id": "P2", "unit_cost": 2, "list_price": 5, "inventory": 200}],
        "bundles": [{"bundle_id": "P1", "product_id": "P1", "quantity": 1},
                    {"bundle_id": "P2", "product_id": "P2", "quantity": 1},
                    {"bundle_id": "B12", "product_id": "P1", "quantity": 1},
                    {"bundle_id": "B12", "product_id": "P2", "quantity": 1}],
        "segments": [{"segment_id": "young", "size": 400, "price_sensitivity": 0.4,
                      "switching_cost": 0.3},
                     {"segment_id": "old", "size": 300, "price_sensitivity": 0.2}],
        "wtp": [{"segment_id": s, "bundle_id": b, "wtp": w}
                for s, ws in (("young", (8.5, 4.6, 12.0)), ("old", (9.5, 4.0, 13.0)))
                for b, w in zip(("P1", "P2", "B12"), ws)],
        "periods": [{"period": t, "segment_id": s, "size": n}
                    for t, f in zip(WEEKS, (1.2, 1.0, 0.6))
                    for s, n in (("young", 400 * f), ("old", 300 * f))],
        "receipts": [{"period": "2026-W50", "product_id": "P2", "units": 100}],
        "competitors": [{"product_id": "P1", "price": 8.0, "period": "2026-W51"}],
    }


@pytest.fixture(scope="module", params=DB_KINDS)
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp(f"serve-season-{request.param}")
    with database(request.param, tmp) as url:
        srv = Server(url, tmp, workers=1, env={
            "BUNDLEOPT_MAX_CELLS": "400",
            "BUNDLEOPT_API_TOKENS": f"shopA:{TOKENS[0]},shopB:{TOKENS[1]}"})
        srv.start()
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture()
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def test_season_solve_plan_has_periods_and_scores_its_objective(client: httpx.Client) -> None:
    payload = season_payload()
    r = client.post("/v1/solves", json=payload)
    assert r.status_code == 202, r.text
    done = wait_status(client, r.json()["id"], TERMINAL, timeout=120)
    assert done["status"] == "optimal", done
    rows = client.get(f"/v1/solves/{done['id']}/plan").json()["rows"]
    assert rows and all(row["period"] in WEEKS for row in rows)
    plan = pd.DataFrame(rows)
    ev = evaluate_season(scenario_from_tables(payload), plan)
    assert ev.violations == []
    assert ev.objective == pytest.approx(done["summary"]["objective"], rel=1e-6, abs=1e-6)
    assert ev.objective > 0


def test_period_outside_the_horizon_is_one_422(client: httpx.Client) -> None:
    payload = season_payload()
    payload["periods"].append({"period": "2027-W05", "segment_id": "old", "size": 10})
    r = client.post("/v1/solves", json=payload)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["table"] == "periods" and body["field"] == "period"
    assert body["row"] == len(payload["periods"])
    assert "\n" not in body["detail"] and "2027-W05" in body["detail"]


def test_unknown_product_in_receipts_is_422(client: httpx.Client) -> None:
    payload = season_payload()
    payload["receipts"].append({"period": "2026-W51", "product_id": "NOPE", "units": 5})
    r = client.post("/v1/solves", json=payload)
    assert r.status_code == 422, r.text
    assert r.json()["table"] == "receipts" and r.json()["field"] == "product_id"


def test_cells_count_every_period(client: httpx.Client) -> None:
    # 3 offers × 2 segments × 7 ladder points = 42 cells a period: 126 for three weeks
    # pass the 400 cap; ten weeks (420) do not.
    payload = season_payload()
    payload["scenario"]["horizon"]["periods"] = 10
    payload.pop("periods"), payload.pop("receipts"), payload.pop("competitors")
    r = client.post("/v1/solves", json=payload)
    assert r.status_code == 413, r.text
    assert "420" in r.json()["detail"]


# ----------------------------------------------------------------------- sales
def test_sales_are_tenant_scoped_checked_and_replanned_from(server: Server,
                                                            tmp_path: Path) -> None:
    engine = make_engine(server.db_url)
    try:
        cfg = _config_in(tmp_path)
        first = run_week(cfg, WEEKS[0], engine=engine, tenant="shopA")
        assert first.status == "optimal", first.message
        rows = [{"week": WEEKS[0], "product_id": "P1", "units": 40},
                {"week": WEEKS[0], "product_id": "P2", "units": 25.5}]
        with server.client(TOKENS[1]) as other:        # shopB: the plan is not theirs
            r = other.post("/v1/plans/shelf/sales", json={"rows": rows})
            assert r.status_code == 404, r.text
        with server.client() as c:
            assert c.post("/v1/plans/nothing/sales", json={"rows": rows}).status_code == 404
            for bad, field, row in (
                    ([rows[0], {**rows[1], "units": -1}], "units", 2),
                    ([{**rows[0], "product_id": "P9"}], "product_id", 1),
                    ([{**rows[0], "week": "2026-50"}], "week", 1),
                    ([{"product_id": "P1", "units": 3}], "week", None)):
                r = c.post("/v1/plans/shelf/sales", json={"rows": bad})
                assert r.status_code == 422, r.text
                body = r.json()
                assert body["table"] == "sales" and body["field"] == field, body
                assert body["row"] == row and "\n" not in body["detail"]
            r = c.post("/v1/plans/shelf/sales", json={"rows": rows})
            assert r.status_code == 200, r.text
            assert r.json() == {"name": "shelf", "rows": 2, "by": "week"}
        with session_factory(engine)() as s:
            audit = s.query(Audit).filter_by(tenant="shopA", action="sales").all()
            assert [a.detail["rows"] for a in audit] == [2]
        # The plan's next run re-plans from them: the stock it solved with is the
        # season's less what sold (no receipt before W50's arrives in W50 itself).
        second = run_week(cfg, WEEKS[1], engine=engine, tenant="shopA")
        assert second.status == "optimal", second.message
        with session_factory(engine)() as s:
            w = s.query(WeeklyPlan).filter_by(tenant="shopA", name="shelf",
                                              week=WEEKS[1]).one()
            payload = s.get(ScenarioRow, s.get(Solve, w.solve_id).scenario_hash).payload
        stock = {p["product_id"]: p["inventory"] for p in payload["products"]}
        assert stock == {"P1": 300 - 40, "P2": 200 + 100 - 25.5}
        assert payload["scenario"]["horizon"]["periods"] == WEEKS[1:]
        # Re-running W49 re-plans it from the sales as a new version, published at once
        # (no approval required), judged by its own solve: an override that changes
        # nothing scores the version's own objective, on the re-plan's stock.
        again = run_week(cfg, WEEKS[0], engine=engine, tenant="shopA")
        assert again.status == "optimal" and "version 1" in again.message
        with server.client() as c:
            listed = c.get(f"/v1/plans/shelf/{WEEKS[0]}/versions").json()
            assert listed["approved_version"] == 1
            v1 = c.get(f"/v1/plans/shelf/{WEEKS[0]}/versions/1").json()
            assert v1["bound"] == pytest.approx(second_bound(engine, again.solve_id))
            r0 = v1["rows"][0]
            same = {k: r0[k] for k in ("period", "bundle_id", "segment_id", "price")}
            ok = c.post(f"/v1/plans/shelf/{WEEKS[0]}/overrides",
                        json={"rows": [same], "dry_run": True, "base_version": 1}).json()
            assert ok["violations"] == []
            assert ok["version"]["objective"] == pytest.approx(v1["objective"], rel=1e-9)
            assert ok["version"]["gap"] == pytest.approx(v1["gap"], abs=1e-9)
    finally:
        engine.dispose()


def second_bound(engine: object, solve_id: str) -> float:
    with session_factory(engine)() as s:
        return s.get(Solve, solve_id).bound


def _config_in(tmp: Path) -> object:
    return config_from_mapping({"name": "shelf", "scenario": season_payload(),
                                "season": {"start": WEEKS[0]}, "export": "out/{week}"},
                               "config", base=tmp)


def test_a_season_override_is_checked_against_the_markdown_rules(server: Server,
                                                                  tmp_path: Path) -> None:
    engine = make_engine(server.db_url)
    try:
        cfg = config_from_mapping({"name": "md", "scenario": season_payload(),
                                   "season": {"start": WEEKS[0]}, "export": "out/{week}"},
                                  "config", base=tmp_path)
        assert run_week(cfg, WEEKS[0], engine=engine, tenant="shopA").status == "optimal"
    finally:
        engine.dispose()
    url = f"/v1/plans/md/{WEEKS[0]}/overrides"
    with server.client() as c:
        rows = c.get(f"/v1/plans/md/{WEEKS[0]}").json()["rows"]
        assert rows and all(r["period"] in WEEKS for r in rows)
        # P1 on sale at its top price in the first week, marked down in the second and
        # back up in the third: its last price on sale in the third is the second's, so
        # no_increase breaks.
        scenario = scenario_from_tables(season_payload())
        from formulations.offers import ladder
        lad = ladder(scenario)
        points = sorted(lad[lad["bundle_id"] == "P1"]["price"])
        top, lower = points[-1], points[-2]
        key = {"bundle_id": "P1", "segment_id": "*"}
        up = [{**key, "period": WEEKS[0], "price": top},
              {**key, "period": WEEKS[1], "price": lower},
              {**key, "period": WEEKS[2], "price": top}]
        r0 = rows[0]
        dry = c.post(url, json={"rows": up, "dry_run": True})
        assert dry.status_code == 200, dry.text
        broken = " ".join(dry.json()["violations"])
        assert "no_increase" in broken, broken
        saved = c.post(url, json={"rows": up})
        assert saved.status_code == 422, saved.text
        # The same price again breaks nothing and scores the optimizer's objective.
        same = {"bundle_id": r0["bundle_id"], "segment_id": r0["segment_id"],
                "period": r0["period"], "price": r0["price"]}
        ok = c.post(url, json={"rows": [same], "dry_run": True}).json()
        assert ok["violations"] == []
        v0 = c.get(f"/v1/plans/md/{WEEKS[0]}/versions/0").json()
        assert ok["version"]["objective"] == pytest.approx(v0["objective"], rel=1e-6)
        # A season's change must name its period.
        r = c.post(url, json={"rows": [{**key, "price": lower}],
                              "dry_run": True})
        assert r.status_code == 422 and r.json()["field"] == "period", r.text


def test_compare_matches_season_rows_per_period_over_the_periods_both_hold() -> None:
    from bundleopt.service.web.compare import Side, compare

    def side(rows: list[tuple[str, str, float]]) -> Side:
        return Side("x", [{"period": t, "bundle_id": b, "segment_id": "*", "price": p}
                          for t, b, p in rows], {}, None, [])

    old = side([(WEEKS[0], "P1", 9.0), (WEEKS[1], "P1", 9.0), (WEEKS[2], "P1", 9.0),
                (WEEKS[1], "P2", 4.0)])
    new = side([(WEEKS[1], "P1", 8.5), (WEEKS[2], "P1", 9.0), (WEEKS[2], "P2", 4.0)])
    out = compare(old, new)
    assert out.season
    # W49 is only in the old plan: not "dropped"; W50's P1 moved; W51's P1 did not;
    # P2 moved from W50 to W51.
    assert [(m["period"], m["bundle_id"], m["old"], m["new"]) for m in out.moves] == \
        [(WEEKS[1], "P1", 9.0, 8.5)]
    assert [(m["period"], m["bundle_id"]) for m in out.dropped] == [(WEEKS[1], "P2")]
    assert [(m["period"], m["bundle_id"]) for m in out.added] == [(WEEKS[2], "P2")]
    assert out.unchanged == 1


def test_review_form_changes_carry_the_row_period() -> None:
    from bundleopt.service.web.pages import _changes_from

    rows = [{"period": WEEKS[1], "bundle_id": "P1", "segment_id": "*", "price": 9.0},
            {"period": WEEKS[2], "bundle_id": "P1", "segment_id": "*", "price": 9.0}]
    got = _changes_from({"p0": "", "p1": "8.10"}, rows)
    assert got == [{"bundle_id": "P1", "segment_id": "*", "price": 8.1,
                    "period": WEEKS[2]}]


def test_season_week_in_the_browser_periods_shown_markdown_checked(tmp_path: Path) -> None:
    """The web app in a real Chromium: a season week's Plan and Review pages show its
    periods; marking an offer down in an earlier period below its later price is shown
    as a broken no_increase and not saved."""
    from playwright.sync_api import sync_playwright
    from browser import FLAGS, require_chromium
    from test_service_web import ACME, ENV, User, _table
    from formulations.offers import ladder

    require_chromium()
    # Plenty of P1 and no competitor: P1 at one price all season is the only optimum, so
    # an offer is on sale in more than one period whichever of the solver's equally good
    # plans it meets first (with P1 short, a bundle nobody buys was on sale or not).
    payload = season_payload()
    payload["competitors"] = []
    payload["products"][0]["inventory"] = 3000
    with database("sqlite", tmp_path) as url:
        cfg = config_from_mapping({"name": "md", "scenario": payload,
                                   "season": {"start": WEEKS[0]}, "export": "out/{week}",
                                   "approval": "required"}, "config", base=tmp_path)
        engine = make_engine(url)
        try:
            assert run_week(cfg, WEEKS[0], engine=engine, tenant="acme").status == "optimal"
        finally:
            engine.dispose()
        srv = Server(url, tmp_path, workers=1, env=ENV).start()
        pw = sync_playwright().start()
        browser = pw.chromium.launch(executable_path=require_chromium(), headless=True,
                                     args=FLAGS)
        try:
            u = User(browser, srv.base).sign_in(ACME)
            u.go(f"/app/plans/md/{WEEKS[0]}")
            shown = _table(u.page, "plan")
            assert shown and {r["period"] for r in shown} <= set(WEEKS)
            u.go(f"/app/plans/md/{WEEKS[0]}/review")
            rows = _table(u.page, "review")
            assert [r["period"] for r in rows] == [r["period"] for r in shown]
            # An offer on sale in two periods: its earlier row to the lowest ladder point.
            seen: dict[str, int] = {}
            pick = None
            for i, r in enumerate(rows):
                if r["bundle_id"] in seen and pick is None:
                    pick = seen[r["bundle_id"]]
                seen.setdefault(r["bundle_id"], i)
            assert pick is not None, rows
            offer = rows[pick]["bundle_id"]
            lad = ladder(scenario_from_tables(payload))
            low = float(lad[lad["bundle_id"] == offer]["price"].min())
            u.page.select_option(f"select[name=p{pick}]", f"{low:.2f}")
            u.page.click("#check")
            assert "no_increase" in u.page.inner_text("#violations")
            u.page.select_option(f"select[name=p{pick}]", f"{low:.2f}")
            u.page.click("#save")
            assert "no_increase" in u.page.inner_text("#error")
            engine = make_engine(url)
            try:
                with session_factory(engine)() as s:
                    from bundleopt.service.models import PlanVersion
                    assert s.query(PlanVersion).count() == 0
            finally:
                engine.dispose()
            u.clean()
        finally:
            browser.close()
            pw.stop()
            srv.stop()
