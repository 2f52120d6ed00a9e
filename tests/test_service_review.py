"""Versions, overrides and approval of weekly plans through the API (issue 20), in process
(FastAPI's TestClient) over a real SQLite database and, when BUNDLEOPT_TEST_PG_URL is
set, a real PostgreSQL one. Weeks are planned by the real ``run_week``; overridden plans
are checked against the independent evaluator of tests/bruteforce.py."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bruteforce import evaluate_plan_frame  # noqa: E402
from test_service_support import DB_KINDS, WorkerNode, database  # noqa: E402

from formulations.loading import scenario_from_tables  # noqa: E402
from bundleopt.service.app import create_app  # noqa: E402
from bundleopt.service.auth import fingerprint  # noqa: E402
from bundleopt.service.db import make_engine, session_factory, upgrade  # noqa: E402
from bundleopt.service.limits import ServiceSettings  # noqa: E402
from bundleopt.service.models import ScenarioRow, Solve  # noqa: E402
from bundleopt.service.weekly import config_from_mapping, run_week  # noqa: E402

pytestmark = pytest.mark.timeout(300)
ACME, GLOBEX, ADMIN = "tok-acme-r1", "tok-globex-r2", "tok-ops-r3"
WEEK, NEXT = "2026-W48", "2026-W49"
MIN_MARGIN = 0.3


def payload() -> dict[str, Any]:
    """Two products, their singles and the pair; min_margin 0.3 forbids S1 below 8.57
    (cost 6, ladder 10, 9.5, ..., 7)."""
    return {
        "scenario": {"pricing": "uniform", "choice_model": "first_choice",
                     "constraints": {"min_margin": MIN_MARGIN}},
        "products": [{"product_id": "P1", "unit_cost": 6, "list_price": 10},
                     {"product_id": "P2", "unit_cost": 3, "list_price": 8}],
        "bundles": [{"bundle_id": "S1", "product_id": "P1", "quantity": 1},
                    {"bundle_id": "S2", "product_id": "P2", "quantity": 1},
                    {"bundle_id": "B12", "product_id": "P1", "quantity": 1},
                    {"bundle_id": "B12", "product_id": "P2", "quantity": 1}],
        "segments": [{"segment_id": "A", "size": 500}, {"segment_id": "B", "size": 300}],
        "wtp": [{"segment_id": "A", "bundle_id": "S1", "wtp": 9.6},
                {"segment_id": "A", "bundle_id": "S2", "wtp": 5.0},
                {"segment_id": "A", "bundle_id": "B12", "wtp": 13.0},
                {"segment_id": "B", "bundle_id": "S1", "wtp": 6.0},
                {"segment_id": "B", "bundle_id": "S2", "wtp": 7.9},
                {"segment_id": "B", "bundle_id": "B12", "wtp": 11.0}]}


class Env:
    def __init__(self, url: str, tmp: Path, client: TestClient) -> None:
        self.url, self.tmp, self.client = url, tmp, client

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def plan(self, week: str = WEEK, tenant: str = "acme", name: str = "shop",
             **config: Any) -> Any:
        cfg = config_from_mapping({"name": name, "scenario": payload(),
                                   "export": str(self.tmp / tenant / "{week}"), **config},
                                  "config", base=None)
        return run_week(cfg, week, db_url=self.url, tenant=tenant)

    def post(self, path: str, body: Any, token: str = ACME) -> Any:
        return self.client.post(path, json=body, headers=self.auth(token))

    def get(self, path: str, token: str = ACME) -> Any:
        return self.client.get(path, headers=self.auth(token))

    def scenario(self, solve_id: str) -> Any:
        engine = make_engine(self.url)
        try:
            with session_factory(engine)() as s:
                return scenario_from_tables(
                    s.get(ScenarioRow, s.get(Solve, solve_id).scenario_hash).payload)
        finally:
            engine.dispose()


@pytest.fixture(params=DB_KINDS)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    with database(request.param, tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        app = create_app(ServiceSettings(db_url=url, tokens=[f"acme:{ACME}",
                                                             f"globex:{GLOBEX}"],
                                         admin_tokens=[f"ops:{ADMIN}"]), engine,
                         migrate=False)
        with TestClient(app) as c:
            yield Env(url, tmp_path, c)
        engine.dispose()


def _rows(version: dict[str, Any]) -> dict[str, float]:
    return {r["bundle_id"]: r["price"] for r in version["rows"]}


def _ladder_prices(start: float = 10.0) -> list[float]:
    return [round(start * (1 - d), 2) for d in (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30)]


OVERRIDES = f"/v1/plans/shop/{WEEK}/overrides"


def test_an_override_is_re_evaluated_and_saved_as_a_new_version(env: Env) -> None:
    week = env.plan()
    assert week.status == "optimal"
    first = env.get(f"/v1/plans/shop/{WEEK}/versions/0").json()
    assert first["overridden"] is False and "S1" in _rows(first)
    new_price = next(p for p in _ladder_prices() if p != _rows(first)["S1"]
                     and (p - 6) / p >= MIN_MARGIN)
    change = {"rows": [{"bundle_id": "S1", "segment_id": "*", "price": new_price}]}

    dry = env.post(OVERRIDES, {**change, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["saved"] is False and dry.json()["violations"] == []
    assert len(env.get(f"/v1/plans/shop/{WEEK}/versions").json()["versions"]) == 1

    saved = env.post(OVERRIDES, {**change, "comment": "match the flyer"})
    assert saved.status_code == 201, saved.text
    v = saved.json()["version"]
    assert v["version"] == 1 and v["overridden"] is True and v["base_version"] == 0
    # The optimizer's status and bound stay; objective and KPIs are the new plan's.
    assert v["status"] == first["status"] and v["bound"] == pytest.approx(first["bound"])
    expected_prices = {**_rows(first), "S1": new_price}
    assert _rows(v) == pytest.approx(expected_prices)
    feasible, objective, _ = evaluate_plan_frame(
        env.scenario(week.solve_id), pd.DataFrame(v["rows"])[
            ["bundle_id", "segment_id", "price"]])
    assert feasible and v["objective"] == pytest.approx(objective, abs=1e-6)
    assert v["kpis"]["profit"] == pytest.approx(objective, abs=1e-6)
    assert v["objective"] < first["objective"] + 1e-9      # the optimizer's was optimal
    listed = env.get(f"/v1/plans/shop/{WEEK}/versions").json()
    assert [x["version"] for x in listed["versions"]] == [0, 1]
    # Without approval the optimizer's version was exported when planned; it stays so.
    assert listed["review"] == "exported" and listed["approved_version"] is None
    # Taking an offer off sale, on top of version 1.
    off = env.post(OVERRIDES, {"rows": [{"bundle_id": "S1", "segment_id": "*",
                                         "price": None}]})
    assert off.status_code == 201, off.text
    assert "S1" not in _rows(off.json()["version"]) and off.json()["version"]["version"] == 2
    audit = env.get("/v1/audit").json()["entries"]
    mine = [e for e in audit if e["action"] == "override"]
    assert len(mine) == 2 and {e["actor"] for e in mine} == {fingerprint(ACME)}


def test_an_override_that_breaks_min_margin_names_it_and_is_not_saved(env: Env) -> None:
    env.plan()
    cheap = _ladder_prices()[-1]              # 7.00: margin 0.14 < 0.3
    change = {"rows": [{"bundle_id": "S1", "price": cheap}]}
    dry = env.post(OVERRIDES, {**change, "dry_run": True})
    assert dry.status_code == 200
    assert any("min_margin" in v and "S1" in v for v in dry.json()["violations"])
    refused = env.post(OVERRIDES, change)
    assert refused.status_code == 422
    assert "min_margin" in refused.json()["detail"] and "not saved" in refused.json()["detail"]
    assert len(env.get(f"/v1/plans/shop/{WEEK}/versions").json()["versions"]) == 1


@pytest.mark.parametrize("price, words", [
    ("NaN", "NaN is not a price"), (-5, "prices are positive"), (0, "prices are positive"),
    (1e308, "is not a price (at most"), ("Infinity", "is not a price (at most"),
    (9.7, "is not a point of S1's price ladder (7.00, 7.50, 8.00, 8.50, 9.00, 9.50, 10.00)"),
    (9.501, "is not a point of S1's price ladder")])
def test_bad_override_prices_get_a_clear_message(env: Env, price: Any, words: str) -> None:
    env.plan()
    value = price if isinstance(price, str) else json.dumps(price)
    body = '{"rows": [{"bundle_id": "S1", "segment_id": "*", "price": %s}]}' % value
    r = env.client.post(OVERRIDES, content=body, headers={
        **env.auth(ACME), "content-type": "application/json"})
    assert r.status_code == 422, r.text
    answer = r.json()
    assert words in answer["detail"], answer
    assert (answer["table"], answer["row"], answer["field"]) == ("overrides", 1, "price")


@pytest.mark.parametrize("row, words", [
    ({"bundle_id": "NOPE", "price": 9}, "no offer 'NOPE'"),
    ({"bundle_id": "S1", "segment_id": "A", "price": 9.5}, "prices for everyone"),
    ({"bundle_id": "S2", "segment_id": "B", "price": None}, "is not on sale to B")])
def test_overrides_of_offers_not_in_the_plan_are_refused(env: Env, row: dict[str, Any],
                                                         words: str) -> None:
    env.plan()
    r = env.post(OVERRIDES, {"rows": [row]})
    assert r.status_code == 422 and words in r.json()["detail"], r.text


def test_approval_required_gates_the_export_and_next_week_reads_the_approved_version(
        env: Env) -> None:
    week = env.plan(approval="required")
    out = env.tmp / "acme" / WEEK
    assert week.status == "optimal" and week.export_dir is None and not out.exists()
    again = env.plan(approval="required")        # a re-export: still gated
    assert not again.created and not out.exists() and "awaits approval" in again.message
    assert env.get(f"/v1/plans/shop/{WEEK}").json()["review"] == "proposed"

    first = env.get(f"/v1/plans/shop/{WEEK}/versions/0").json()
    new_price = next(p for p in _ladder_prices() if p != _rows(first)["S1"]
                     and (p - 6) / p >= MIN_MARGIN)
    assert env.post(OVERRIDES, {"rows": [{"bundle_id": "S1", "price": new_price}]}
                    ).status_code == 201
    ok = env.post(f"/v1/plans/shop/{WEEK}/approve", {"comment": "fine"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["review"] == "exported" and ok.json()["approved_version"] == 1
    written = pd.read_csv(out / "plan.csv")
    assert dict(zip(written["bundle_id"], written["price"])) == pytest.approx(
        {**_rows(first), "S1": new_price})
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overridden"] is True and summary["version"] == 1
    actions = [e["action"] for e in env.get("/v1/audit").json()["entries"]]
    assert {"override", "approve", "export"} <= set(actions)

    nxt = env.plan(NEXT, approval="required")
    assert nxt.previous_week == WEEK
    prev = env.scenario(nxt.solve_id).previous_plan
    assert dict(zip(prev["bundle_id"], prev["price"])) == pytest.approx(
        {**_rows(first), "S1": new_price})


def test_a_weeks_plan_names_its_version_the_exported_one_by_default(env: Env) -> None:
    env.plan(approval="required")
    week = f"/v1/plans/shop/{WEEK}"
    first = env.get(f"{week}/versions/0").json()
    shown = env.get(week).json()
    # Nothing approved yet: the optimizer's version, as an export would write it.
    assert shown["version"] == 0 and shown["overridden"] is False
    assert _rows(shown) == _rows(first)
    new_price = next(p for p in _ladder_prices() if p != _rows(first)["S1"]
                     and (p - 6) / p >= MIN_MARGIN)
    assert env.post(OVERRIDES, {"rows": [{"bundle_id": "S1", "price": new_price}]}
                    ).status_code == 201
    # An override alone changes nothing until it is approved.
    assert env.get(week).json()["version"] == 0
    one = env.get(f"{week}?version=1").json()
    assert one["version"] == 1 and one["overridden"] is True
    assert _rows(one) == pytest.approx({**_rows(first), "S1": new_price})
    assert env.post(f"{week}/approve", {"version": 1}).status_code == 200
    shown = env.get(week).json()
    assert shown["version"] == 1 and shown["approved_version"] == 1
    written = pd.read_csv(env.tmp / "acme" / WEEK / "plan.csv")
    assert _rows(shown) == pytest.approx(dict(zip(written["bundle_id"], written["price"])))
    assert env.get(f"{week}?version=0").json()["version"] == 0
    missing = env.get(f"{week}?version=7")
    assert missing.status_code == 404 and "no version 7" in missing.json()["detail"]
    assert env.get(f"{week}?version=-1").status_code == 422
    assert env.get(f"{week}?version=1", token=GLOBEX).status_code == 404


def test_reject_needs_a_comment_and_a_rejected_week_is_not_the_previous_plan(
        env: Env) -> None:
    env.plan("2026-W47", approval="required")
    assert env.post("/v1/plans/shop/2026-W47/approve", {}).status_code == 200
    env.plan(WEEK, approval="required")
    assert env.post(f"/v1/plans/shop/{WEEK}/reject", {}).status_code == 422
    r = env.post(f"/v1/plans/shop/{WEEK}/reject", {"comment": "prices too low <b>"})
    assert r.status_code == 200 and r.json()["review"] == "rejected"
    assert r.json()["review_comment"] == "prices too low <b>"
    nxt = env.plan(NEXT, approval="required")
    assert nxt.previous_week == "2026-W47"
    # An exported week cannot be rejected any more; a rejected one can be approved.
    assert env.post("/v1/plans/shop/2026-W47/reject", {"comment": "x"}).status_code == 409
    assert env.post(f"/v1/plans/shop/{WEEK}/approve", {"version": 0}).json()["review"] \
        == "exported"


def test_another_tenants_week_is_404_and_admins_only_read(env: Env) -> None:
    env.plan()
    for path, body in ((OVERRIDES, {"rows": [{"bundle_id": "S1", "price": 10}]}),
                       (f"/v1/plans/shop/{WEEK}/approve", {}),
                       (f"/v1/plans/shop/{WEEK}/reject", {"comment": "no"})):
        theirs = env.post(path, body, token=GLOBEX)
        missing = env.post(path.replace(WEEK, "2026-W01"), body, token=GLOBEX)
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json()["detail"] == missing.json()["detail"].replace("2026-W01", WEEK)
        assert env.post(path, body, token=ADMIN).status_code == 403
    assert env.get(f"/v1/plans/shop/{WEEK}/versions", token=GLOBEX).status_code == 404
    assert env.get(f"/v1/plans/shop/{WEEK}/versions/0", token=GLOBEX).status_code == 404
    assert env.get(f"/v1/plans/shop/{WEEK}/versions", token=ADMIN).status_code == 200
    assert env.get(f"/v1/plans/shop/{WEEK}").json()["review"] == "exported"


def test_run_a_schedule_now(env: Env) -> None:
    body = {"name": "weekly", "cron": "0 6 * * FRI", "week_offset": 1,
            "config": {"name": "shop", "scenario": payload()}}
    assert env.client.put("/v1/schedules/weekly", json=body,
                          headers=env.auth(ACME)).status_code == 200
    assert env.post("/v1/schedules/weekly/run", None, token=GLOBEX).status_code == 404
    assert env.post("/v1/schedules/weekly/run", None, token=ADMIN).status_code == 403
    # A scheduled week's solve goes through the queue: a worker node of the fleet solves it.
    node = WorkerNode(env.url, env.tmp, processes=1).start()
    try:
        r = env.post("/v1/schedules/weekly/run", None)
        assert r.status_code == 202, r.text
        week = r.json()["week"]
        end = time.monotonic() + 120
        status = None
        while time.monotonic() < end:
            got = env.get(f"/v1/plans/shop/{week}")
            status = got.json().get("status") if got.status_code == 200 else None
            if status in ("done", "failed"):
                break
            time.sleep(0.5)
        assert status == "done"
        while time.monotonic() < end:     # the run's record is closed once plan run exits
            last = env.get("/v1/schedules").json()["schedules"][0]["last_run"]
            if last["status"] != "running":
                break
            time.sleep(0.2)
    finally:
        node.stop()
    assert last["week"] == week and last["status"] == "done"
    assert "run_schedule" in [e["action"] for e in env.get("/v1/audit").json()["entries"]]


def test_the_openapi_document_lists_the_review_endpoints(env: Env) -> None:
    paths = env.client.get("/openapi.json").json()["paths"]
    week = "/v1/plans/{name}/{week}"
    for path, method in ((week + "/overrides", "post"), (week + "/approve", "post"),
                         (week + "/reject", "post"), (week + "/versions", "get"),
                         (week + "/versions/{version}", "get"),
                         ("/v1/schedules/{name}/run", "post")):
        assert method in paths.get(path, {}), path
    assert not [p for p in paths if p.startswith("/app")]     # the web app is not API
