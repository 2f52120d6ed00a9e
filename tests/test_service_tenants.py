"""Tenants, tested as an attacker holding a valid token of another tenant.

Every resource and method — read, list, cancel, delete, audit, idempotency, schedules,
weekly plans, stored scenarios — is probed with another tenant's token: the answer
must be exactly what an id or name that does not exist gets. Runs on SQLite and on
PostgreSQL (when BUNDLEOPT_TEST_PG_URL is set) through a real ``serve`` over HTTP.
"""
from __future__ import annotations

import concurrent.futures as cf
import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_service_support import (DB_KINDS, TERMINAL, Server, served,  # noqa: E402
                                  hard_payload, small_payload, wait_status)

from bundleopt.service.weekly import config_from_mapping, run_week  # noqa: E402

pytestmark = pytest.mark.timeout(300)

ACME, ACME2, GLOBEX, ADMIN = "tok-acme-1111", "tok-acme-2222", "tok-globex-3333", "tok-ops-9999"
TENANT_ENV = {"BUNDLEOPT_API_TOKENS": f"acme:{ACME},acme:{ACME2},globex:{GLOBEX}",
              "BUNDLEOPT_ADMIN_TOKENS": f"ops:{ADMIN}"}


@pytest.fixture(scope="module", params=DB_KINDS)
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp(f"tenants-{request.param}")
    with served(request.param, tmp, workers=1, env=TENANT_ENV) as srv:
        yield srv


def _same_404(theirs: httpx.Response, missing: httpx.Response, their_id: str,
              missing_id: str) -> None:
    """Another tenant's thing is answered exactly like a thing that does not exist."""
    assert theirs.status_code == missing.status_code == 404, (theirs.text, missing.text)
    assert theirs.json()["detail"].replace(their_id, "ID") == \
        missing.json()["detail"].replace(missing_id, "ID")


def test_another_tenants_solve_is_404_for_every_method(server: Server) -> None:
    with server.client(ACME) as a, server.client(GLOBEX) as b, \
            server.client(ACME2) as a2, server.client(ADMIN) as ops:
        sid = a.post("/v1/solves", json=small_payload(),
                     headers={"Idempotency-Key": "acme-key-1"}).json()["id"]
        assert wait_status(a, sid, TERMINAL)["status"] == "optimal"
        digest = a.get(f"/v1/solves/{sid}/details").json()["scenario_hash"]
        missing = str(uuid.uuid4())
        for path in ("/v1/solves/{}", "/v1/solves/{}/details", "/v1/solves/{}/plan"):
            _same_404(b.get(path.format(sid)), b.get(path.format(missing)), sid, missing)
        # For its owner a finished solve's DELETE is 409; for anyone else it does not exist.
        assert a.delete(f"/v1/solves/{sid}").status_code == 409
        _same_404(b.delete(f"/v1/solves/{sid}"), b.delete(f"/v1/solves/{missing}"), sid,
                  missing)
        other_digest = "0" * 64
        _same_404(b.get(f"/v1/scenarios/{digest}"), b.get(f"/v1/scenarios/{other_digest}"),
                  digest, other_digest)
        assert a.get(f"/v1/scenarios/{digest}").status_code == 200
        # Listings and the audit trail show nothing of the other tenant, keys included.
        listed = b.get("/v1/solves", params={"limit": 500}).json()["solves"]
        assert all(s["id"] != sid for s in listed)
        audit = b.get("/v1/audit", params={"limit": 1000}).text
        assert sid not in audit and "acme-key-1" not in audit
        assert sid in a.get("/v1/audit", params={"limit": 1000}).text
        # The same tenant's other token sees it and shares its idempotency keys.
        assert a2.get(f"/v1/solves/{sid}").status_code == 200
        again = a2.post("/v1/solves", json=small_payload(),
                        headers={"Idempotency-Key": "acme-key-1"})
        assert again.status_code == 202 and again.json()["id"] == sid
        # Another tenant's same key is its own solve.
        theirs = b.post("/v1/solves", json=small_payload(),
                        headers={"Idempotency-Key": "acme-key-1"})
        assert theirs.status_code == 202 and theirs.json()["id"] != sid
        # An admin token sees every tenant.
        assert ops.get(f"/v1/solves/{sid}").status_code == 200
        everyone = {s["id"] for s in ops.get("/v1/solves", params={"limit": 500}).json()[
            "solves"]}
        assert {sid, theirs.json()["id"]} <= everyone
        wait_status(b, theirs.json()["id"], TERMINAL)


def test_another_tenant_cannot_cancel_a_running_solve(server: Server) -> None:
    with server.client(ACME) as a, server.client(GLOBEX) as b:
        sid = a.post("/v1/solves", json=hard_payload(21, time_limit=3)).json()["id"]
        wait_status(a, sid, {"running"}, timeout=60)
        assert b.delete(f"/v1/solves/{sid}").status_code == 404
        done = wait_status(a, sid, TERMINAL, timeout=60)
        assert done["status"] in ("optimal", "feasible")   # not cancelled


def test_same_key_with_another_body_is_422_and_the_first_solve_stands(server: Server
                                                                      ) -> None:
    key = f"k-{uuid.uuid4().hex[:8]}"
    with server.client(ACME) as a, server.client(GLOBEX) as b:
        def post(client: httpx.Client, payload: dict[str, Any]) -> httpx.Response:
            return client.post("/v1/solves", json=payload, headers={"Idempotency-Key": key})

        changed = small_payload()
        changed["products"][0]["list_price"] = 10
        with cf.ThreadPoolExecutor(12) as ex:
            racing = list(ex.map(lambda i: post(a if i % 2 else b, small_payload()),
                                 range(12)))
        assert {r.status_code for r in racing} == {202}
        per_tenant = {r.json()["id"] for r in racing[1::2]}, {r.json()["id"] for r in
                                                             racing[0::2]}
        assert len(per_tenant[0]) == len(per_tenant[1]) == 1
        (first,) = per_tenant[0]
        assert per_tenant[0] != per_tenant[1]
        before = a.get(f"/v1/solves/{first}/details").json()
        r = post(a, changed)
        assert r.status_code == 422 and "different body" in r.json()["detail"]
        after = a.get(f"/v1/solves/{first}/details").json()
        assert after["scenario_hash"] == before["scenario_hash"]
        listed = a.get("/v1/solves", params={"limit": 500}).json()["solves"]
        assert sum(s["id"] == first for s in listed) == 1
        wait_status(a, first, TERMINAL)


def test_schedules_are_per_tenant(server: Server) -> None:
    inline = {"scenario": small_payload(), "solver": {"time_limit": 10}}
    body = {"name": "friday", "cron": "0 6 * * FRI", "config": inline}
    with server.client(ACME) as a, server.client(GLOBEX) as b:
        assert a.put("/v1/schedules/friday", json=body).status_code == 200
        assert all(x["name"] != "friday" for x in
                   b.get("/v1/schedules").json()["schedules"])
        assert b.delete("/v1/schedules/friday").status_code == 404
        # The same name in another tenant is another schedule; the first is untouched.
        theirs = b.put("/v1/schedules/friday", json={**body, "cron": "0 7 * * MON"})
        assert theirs.status_code == 200
        (mine,) = [x for x in a.get("/v1/schedules").json()["schedules"]
                   if x["name"] == "friday"]
        assert mine["cron"] == "0 6 * * FRI" and mine["config"] == inline
        assert a.delete("/v1/schedules/friday").status_code == 204
        assert [x["cron"] for x in b.get("/v1/schedules").json()["schedules"]
                if x["name"] == "friday"] == ["0 7 * * MON"]
        audit = b.get("/v1/audit", params={"limit": 1000}).json()["entries"]
        assert all(e["actor"] != a.headers["authorization"] for e in audit)
        assert not [e for e in audit if e["action"] == "unschedule"]   # that was acme's


def test_weekly_plans_are_per_tenant_and_plan_run_is_default(server: Server,
                                                            tmp_path: Path) -> None:
    def config(tag: str) -> Any:
        return config_from_mapping({"name": "shop", "scenario": small_payload(),
                                    "export": str(tmp_path / tag / "{week}")},
                                   "config", base=None)

    week = "2026-W48"
    mine = run_week(config("acme"), week, db_url=server.db_url, tenant="acme")
    assert mine.created and mine.status == "optimal"
    # The same name in another tenant is planned on its own, not "already planned".
    theirs = run_week(config("globex"), week, db_url=server.db_url, tenant="globex")
    assert theirs.created and theirs.solve_id != mine.solve_id
    default = run_week(config("default"), week, db_url=server.db_url, tenant="default")
    assert default.created
    with server.client(ACME) as a, server.client(GLOBEX) as b, \
            server.client(ADMIN) as ops:
        got = a.get(f"/v1/plans/shop/{week}").json()
        assert got["solve_id"] == mine.solve_id and got["rows"]
        assert b.get(f"/v1/plans/shop/{week}").json()["solve_id"] == theirs.solve_id
        assert [p["solve_id"] for p in a.get("/v1/plans", params={"name": "shop"}).json()[
            "plans"]] == [mine.solve_id]
        # Weekly solves belong to their tenant too.
        _same_404(b.get(f"/v1/solves/{mine.solve_id}"),
                  b.get(f"/v1/solves/{default.solve_id}"), mine.solve_id, default.solve_id)
        assert b.get(f"/v1/plans/shop/{shift(week)}").status_code == 404
        admin_sees = {p["solve_id"] for p in ops.get("/v1/plans").json()["plans"]}
        assert {mine.solve_id, theirs.solve_id, default.solve_id} <= admin_sees


def shift(week: str) -> str:
    from bundleopt.service.weekly import shift_week

    return shift_week(week, 1)
