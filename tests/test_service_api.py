"""The HTTP contract of SERVICE.md, through a real ``serve`` process and real HTTP.

Runs once on SQLite and once on PostgreSQL (when BUNDLEOPT_TEST_PG_URL is set).
Plans returned by the service are checked against the independent brute-force
enumerator, not against numbers copied from the solver.
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bruteforce import brute_force, evaluate_plan_frame  # noqa: E402
from random_scenarios import random_scenario  # noqa: E402
from test_service_support import (AUTH, DB_KINDS, TERMINAL, TOKENS, Server,  # noqa: E402
                                  database, hard_payload, small_payload, wait_status)

from formulations.loading import scenario_from_tables, scenario_to_tables  # noqa: E402

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module", params=DB_KINDS)
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp(f"serve-{request.param}")
    with database(request.param, tmp) as url:
        srv = Server(url, tmp, workers=2,
                     env={"BUNDLEOPT_CONFIG_ROOTS": str(tmp / "configs"),
                          "BUNDLEOPT_MAX_BODY_BYTES": "200000", "BUNDLEOPT_MAX_CELLS": "5000",
                          "BUNDLEOPT_MAX_TIME_LIMIT": "120", "BUNDLEOPT_DEFAULT_TIME_LIMIT": "30"})
        srv.start()
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture()
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


# ------------------------------------------------------------------------- auth
@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKENS[0]}"},
    {"Authorization": "Bearer"}, {"Authorization": f"Bearer {TOKENS[0]}x"},
])
def test_missing_or_wrong_token_is_401_everywhere(server: Server,
                                                  headers: dict[str, str]) -> None:
    calls = [("POST", "/v1/solves"), ("GET", "/v1/solves"), ("GET", "/v1/solves/abc"),
             ("GET", "/v1/solves/abc/plan"), ("DELETE", "/v1/solves/abc"),
             ("GET", "/v1/plans"), ("GET", "/v1/schedules"), ("GET", "/v1/audit")]
    with httpx.Client(base_url=server.base, timeout=30) as c:
        for method, path in calls:
            r = c.request(method, path, headers=headers, json=small_payload())
            assert r.status_code == 401, (method, path, r.text)
            assert r.headers.get("www-authenticate") == "Bearer"
        assert c.get("/healthz").status_code == 200
        # Nothing was stored by the refused submissions.
        listed = c.get("/v1/solves", headers=AUTH, params={"limit": 500}).json()["solves"]
        assert all(s["id"] != "abc" for s in listed)


def test_unauthorised_body_is_not_parsed(server: Server) -> None:
    # A broken body with no token is refused for the token (401), not the body (422).
    with httpx.Client(base_url=server.base, timeout=30) as c:
        r = c.post("/v1/solves", content=b"{not json", headers={"Authorization": "Bearer x"})
        assert r.status_code == 401


# ---------------------------------------------------------------- bad scenarios
def _broken(change: Any) -> dict[str, Any]:
    p = small_payload()
    change(p)
    return p


@pytest.mark.parametrize("payload, table, row, field", [
    (_broken(lambda p: p["products"][0].update(unit_cost=-4)), "products", 1, "unit_cost"),
    (_broken(lambda p: p["products"][0].pop("list_price")), "products", None, "list_price"),
    (_broken(lambda p: p["wtp"][0].update(bundle_id="NOPE")), "wtp", 1, "bundle_id"),
    (_broken(lambda p: p["segments"][0].update(size="many")), "segments", 1, "size"),
    (_broken(lambda p: p.update(bundles="S1")), "bundles", None, None),
    (_broken(lambda p: p.pop("wtp")), "payload", None, "wtp"),
])
def test_broken_scenario_is_422_naming_table_row_field(
        client: httpx.Client, payload: dict[str, Any], table: str, row: int | None,
        field: str | None) -> None:
    r = client.post("/v1/solves", json=payload)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["table"] == table
    assert body["detail"].startswith(table)
    if row is not None:
        assert body["row"] == row and f"row {row}" in body["detail"]
    if field is not None:
        assert body["field"] == field and field in body["detail"]


@pytest.mark.parametrize("body", [b"", b"{", b"[1, 2]", b'"text"', b"null",
                                  b'{"products": NaN}', b"[" * 100000 + b"]" * 100000])
def test_malformed_json_is_422(client: httpx.Client, body: bytes) -> None:
    r = client.post("/v1/solves", content=body, headers={"content-type": "application/json"})
    assert r.status_code in (413, 422), r.text   # the deep nesting one may hit the size cap
    assert "detail" in r.json()


def test_body_and_scenario_size_limits_are_413(client: httpx.Client) -> None:
    r = client.post("/v1/solves", content=b"x" * 300_000)
    assert r.status_code == 413 and "larger than 200000" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(40):
            yield b" " * 10_000
    r = client.post("/v1/solves", content=chunks())
    assert r.status_code == 413
    big = hard_payload()            # 40 offers x 6 segments x 7 prices = 1680 cells: fine
    big["scenario"]["price_ladder"] = {"discounts": [i / 100 for i in range(25)]}
    r = client.post("/v1/solves", json=big)   # 40 x 6 x 25 = 6000 > 5000
    assert r.status_code == 413 and "too large" in r.json()["detail"]


def test_unknown_ids_are_404(client: httpx.Client) -> None:
    assert client.get("/v1/solves/does-not-exist").status_code == 404
    assert client.get("/v1/solves/does-not-exist/plan").status_code == 404
    assert client.delete("/v1/solves/does-not-exist").status_code == 404


# ------------------------------------------------------------------- solving
def test_idempotency_key_gives_one_solve(client: httpx.Client) -> None:
    key = f"retry-{np.random.default_rng().integers(1 << 30)}"
    payload = small_payload()
    with cf.ThreadPoolExecutor(6) as ex:
        answers = list(ex.map(lambda _: client.post(
            "/v1/solves", json=payload, headers={"Idempotency-Key": key}), range(6)))
    assert {a.status_code for a in answers} == {202}
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 1
    (solve_id,) = ids
    # The other token has its own key space: same key, a different solve.
    other = client.post("/v1/solves", json=payload, headers={
        "Idempotency-Key": key, "Authorization": f"Bearer {TOKENS[1]}"})
    assert other.status_code == 202 and other.json()["id"] != solve_id
    listed = client.get("/v1/solves", params={"limit": 500}).json()["solves"]
    assert sum(s["id"] == solve_id for s in listed) == 1
    done = wait_status(client, solve_id, TERMINAL)
    assert done["status"] == "optimal"
    audit = client.get("/v1/audit", params={"limit": 1000}).json()["entries"]
    submits = [e for e in audit if e["action"] == "submit" and e["target"] == solve_id]
    assert len(submits) == 1 and submits[0]["actor"].startswith("token:")
    assert TOKENS[0] not in json.dumps(audit)    # the audit names tokens, never shows them


def test_two_dozen_concurrent_solves_match_brute_force(client: httpx.Client) -> None:
    rng = np.random.default_rng(2026)
    scenarios = []
    for i in range(24):
        pricing = "personalized" if i % 3 == 0 else "uniform"
        model = "mnl" if i % 4 == 1 else "first_choice"
        scenarios.append(random_scenario(rng, pricing=pricing, choice_model=model))
    payloads = [json.loads(json.dumps(scenario_to_tables(s))) for s in scenarios]
    with cf.ThreadPoolExecutor(24) as ex:
        answers = list(ex.map(lambda p: client.post("/v1/solves", json=p), payloads))
    assert [a.status_code for a in answers] == [202] * 24, [a.text for a in answers]
    ids = [a.json()["id"] for a in answers]
    assert len(set(ids)) == 24
    for scenario, payload, solve_id in zip(scenarios, payloads, ids):
        done = wait_status(client, solve_id, TERMINAL, timeout=120)
        best, _ = brute_force(scenario_from_tables(payload))
        if best is None:
            assert done["status"] == "infeasible", done
            assert client.get(f"/v1/solves/{solve_id}/plan").status_code == 404
            continue
        assert done["status"] == "optimal", done
        rows = client.get(f"/v1/solves/{solve_id}/plan").json()["rows"]
        plan = pd.DataFrame(rows, columns=["bundle_id", "segment_id", "price"]) if not rows \
            else pd.DataFrame(rows)
        feasible, objective, _ = evaluate_plan_frame(scenario, plan)
        assert feasible
        assert objective == pytest.approx(best, rel=1e-6, abs=1e-6)
        assert done["summary"]["objective"] == pytest.approx(best, rel=1e-6, abs=1e-6)


def test_details_keep_what_reproduces_a_solve(client: httpx.Client) -> None:
    payload = small_payload()
    solve_id = client.post("/v1/solves", json=payload).json()["id"]
    wait_status(client, solve_id, TERMINAL)
    d = client.get(f"/v1/solves/{solve_id}/details").json()
    assert d["options"]["time_limit"] > 0 and d["backend"] == "highs"
    assert d["versions"]["highspy"] and d["versions"]["python"]
    assert d["log"] is not None and d["attempts"] == 1
    stored = client.get(f"/v1/scenarios/{d['scenario_hash']}").json()
    assert stored == payload


def test_cancel_running_and_queued(server: Server, client: httpx.Client) -> None:
    # Two long solves occupy both workers; the third waits in the queue.
    long_ids = [client.post("/v1/solves", json=hard_payload(seed, time_limit=60)).json()["id"]
                for seed in (11, 12)]
    queued_id = client.post("/v1/solves", json=hard_payload(13, time_limit=60)).json()["id"]
    wait_status(client, long_ids[0], {"running"}, timeout=60)
    r = client.delete(f"/v1/solves/{queued_id}")
    assert r.status_code == 200
    after = wait_status(client, queued_id, TERMINAL, timeout=5)
    assert after["status"] == "cancelled"
    # Progress (incumbent / bound) shows up while a solve runs.
    running = wait_status(client, long_ids[0], {"running"})
    assert set(running["summary"]) >= {"status", "objective", "bound", "elapsed"}
    for solve_id in long_ids:
        client.delete(f"/v1/solves/{solve_id}")
    for solve_id in long_ids:
        done = wait_status(client, solve_id, TERMINAL, timeout=30)
        assert done["status"] in ("cancelled", "optimal", "feasible")
    assert any(wait_status(client, i, TERMINAL)["status"] == "cancelled" for i in long_ids)
    assert client.delete(f"/v1/solves/{queued_id}").status_code == 409
    assert client.get(f"/v1/solves/{queued_id}/plan").status_code == 404


def test_listing_filters_by_status(client: httpx.Client) -> None:
    solve_id = client.post("/v1/solves", json=small_payload()).json()["id"]
    wait_status(client, solve_id, TERMINAL)
    optimal = client.get("/v1/solves", params={"status": "optimal", "limit": 500}).json()
    assert optimal["solves"] and all(s["status"] == "optimal" for s in optimal["solves"])
    assert any(s["id"] == solve_id for s in optimal["solves"])
    assert client.get("/v1/solves", params={"limit": 0}).status_code == 422


def test_openapi_is_published(server: Server) -> None:
    spec = httpx.get(server.base + "/openapi.json", timeout=30).json()
    assert {"/v1/solves", "/v1/solves/{solve_id}", "/v1/solves/{solve_id}/plan",
            "/v1/plans", "/v1/schedules"} <= set(spec["paths"])
    assert "delete" in spec["paths"]["/v1/solves/{solve_id}"]


def test_time_limits_are_per_solve_and_capped(client: httpx.Client) -> None:
    asked = {}
    for limit in (None, 7, 100000):
        p = small_payload()
        if limit is not None:
            p["scenario"]["solver"] = {"time_limit": limit}
        asked[limit] = client.post("/v1/solves", json=p).json()["id"]
    for limit, expected in ((None, 30.0), (7, 7.0), (100000, 120.0)):
        wait_status(client, asked[limit], TERMINAL)
        d = client.get(f"/v1/solves/{asked[limit]}/details").json()
        assert d["options"]["time_limit"] == expected


def test_schedules_through_http(server: Server, client: httpx.Client) -> None:
    from formulations.loading import write_scenario

    tmp_path = server.cwd / "configs"   # the root the operator allowed
    write_scenario(scenario_from_tables(small_payload()), tmp_path / "scenario")
    cfg = tmp_path / "weekly.yaml"
    cfg.write_text("name: store-1\nscenario: scenario\n")
    body = {"name": "fri-morning", "cron": "0 6 * * FRI", "config": str(cfg)}
    r = client.put("/v1/schedules/fri-morning", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["next_run_at"] and r.json()["week_offset"] == 1
    bad = client.put("/v1/schedules/x", json={**body, "name": "x", "cron": "fridays at six"})
    assert bad.status_code == 422 and "cron" in bad.json()["detail"]
    missing = client.put("/v1/schedules/x", json={**body, "name": "x",
                                                   "config": str(tmp_path / "no.yaml")})
    assert missing.status_code == 422 and "file not found" in missing.json()["detail"]
    names = [x["name"] for x in client.get("/v1/schedules").json()["schedules"]]
    assert "fri-morning" in names and "x" not in names
    assert client.delete("/v1/schedules/fri-morning").status_code == 204
    assert client.delete("/v1/schedules/fri-morning").status_code == 404
