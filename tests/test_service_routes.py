"""Routes tested alone, in process (FastAPI's TestClient over a real SQLite database):
schedules checked when saved, cron messages that name the bad field, a route router
mounted on its own, and a health probe that ends with the app's lifespan."""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_service_support import small_payload  # noqa: E402

from formulations.errors import InputError  # noqa: E402
from bundleopt.service.app import create_app  # noqa: E402
from bundleopt.service.cron import check_cron  # noqa: E402
from bundleopt.service.db import make_engine, upgrade  # noqa: E402
from bundleopt.service.health import HEALTH_PROBE_SECONDS  # noqa: E402
from bundleopt.service.limits import ServiceSettings  # noqa: E402

pytestmark = pytest.mark.timeout(120)
TOKEN = "tok-routes-5e1f"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _app(tmp_path: Path, **settings: Any) -> FastAPI:
    url = f"sqlite:///{tmp_path / 'routes.db'}"
    engine = make_engine(url)
    upgrade(engine)
    return create_app(ServiceSettings(db_url=url, tokens=[f"acme:{TOKEN}"], **settings),
                      engine, migrate=False)


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(_app(tmp_path), headers=AUTH) as c:
        yield c


def _schedule(name: str = "friday", **config: Any) -> dict[str, Any]:
    return {"name": name, "cron": "0 6 * * FRI",
            "config": {"scenario": small_payload(), **config}}


def _names(client: TestClient) -> list[str]:
    return [s["name"] for s in client.get("/v1/schedules").json()["schedules"]]


# ------------------------------------------------- inline scenarios checked at save
@pytest.mark.parametrize("change, table, row, field", [
    (lambda p: p.update(products="/etc/passwd"), "products", None, None),
    (lambda p: p["products"][0].update(unit_cost=-4), "products", 1, "unit_cost"),
    (lambda p: p["wtp"][0].update(bundle_id="NOPE"), "wtp", 1, "bundle_id"),
    (lambda p: p["segments"][0].update(size=1e308), "segments", 1, "size"),
    (lambda p: p.pop("wtp"), "payload", None, "wtp"),
])
def test_an_inline_scenario_is_checked_when_the_schedule_is_saved(
        client: TestClient, change: Any, table: str, row: int | None,
        field: str | None) -> None:
    body = _schedule()
    change(body["config"]["scenario"])
    r = client.put("/v1/schedules/friday", json=body)
    assert r.status_code == 422, r.text
    answer = r.json()
    assert answer["table"] == table and answer["detail"].startswith(table)
    assert answer["row"] == row and answer["field"] == field
    assert "/etc" not in r.text                     # the client's path is not echoed
    assert client.post("/v1/schedules", json=body).status_code == 422
    assert _names(client) == []                     # nothing was stored


def test_a_valid_inline_scenario_is_saved(client: TestClient) -> None:
    r = client.put("/v1/schedules/friday", json=_schedule())
    assert r.status_code == 200, r.text
    assert r.json()["config"]["scenario"] == small_payload()
    assert _names(client) == ["friday"]


def test_an_inline_scenario_too_large_for_a_solve_is_too_large_for_a_schedule(
        tmp_path: Path) -> None:
    with TestClient(_app(tmp_path, max_cells=5), headers=AUTH) as c:
        r = c.put("/v1/schedules/friday", json=_schedule())   # 1 x 1 x 7 cells
        assert r.status_code == 413 and "too large" in r.json()["detail"]


# ------------------------------------------------------------- names and crons
def test_a_body_naming_another_schedule_than_the_path_is_422(client: TestClient) -> None:
    r = client.put("/v1/schedules/a", json=_schedule("b"))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "name" and "'b'" in r.json()["detail"]
    assert _names(client) == []
    assert client.put("/v1/schedules/a", json=_schedule("a")).status_code == 200
    assert _names(client) == ["a"]


@pytest.mark.parametrize("cron, words", [
    ("*/0 * * * *", ("minute", "'*/0'", "step of 0")),
    ("0 */0 * * *", ("hour", "step of 0")),
    ("61 6 * * *", ("minute", "61", "0-59")),
    ("0 24 * * *", ("hour", "24", "0-23")),
    ("0 6 0 * *", ("day-of-month", "1-31")),
    ("0 6 * 13 *", ("month", "13", "1-12")),
    ("0 6 * * FRIDAY", ("day-of-week", "'FRIDAY'", "number or name")),
    ("0 6 * * 5/x", ("day-of-week", "step", "whole number")),
    ("0 6 * *", ("5 fields", "found 4")),
    ("fridays at six", ("5 fields", "found 3")),
])
def test_a_bad_cron_is_refused_naming_the_field_and_why(client: TestClient, cron: str,
                                                        words: tuple[str, ...]) -> None:
    with pytest.raises(InputError) as err:
        check_cron(cron)
    assert err.value.field == "cron"
    for word in words:
        assert word in str(err.value), (cron, word, str(err.value))
    r = client.put("/v1/schedules/friday", json={**_schedule(), "cron": cron})
    assert r.status_code == 422 and r.json()["field"] == "cron"
    assert r.json()["detail"] == str(err.value)


@pytest.mark.parametrize("cron", ["0 6 * * FRI", "*/15 * * * *", "0 6 1,15 * *",
                                  "30 5 * JAN-MAR MON-FRI", "0 6 * * 5#2", "0 0 L * *"])
def test_valid_crons_pass(cron: str) -> None:
    check_cron(cron)


# ------------------------------------------------------------ a route on its own
def test_a_router_is_usable_on_its_own(tmp_path: Path) -> None:
    from bundleopt.service.routes import schedules

    full = _app(tmp_path)
    alone = FastAPI()
    alone.state.service = full.state.service       # what the routes read: app.state
    alone.include_router(schedules.router)
    with TestClient(alone, headers=AUTH) as c:
        r = c.put("/v1/schedules/solo", json=_schedule("solo"))
        assert r.status_code == 200, r.text
        assert [s["name"] for s in c.get("/v1/schedules").json()["schedules"]] == ["solo"]
        assert c.get("/v1/solves").status_code == 404   # only the schedules are here


# ------------------------------------------------------------------ health probe
def test_the_health_probe_ends_with_the_apps_lifespan(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture
                                                      ) -> None:
    app = _app(tmp_path)
    with TestClient(app) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
    caplog.set_level(logging.WARNING, logger="bundleopt.serve")
    # The database goes away after shutdown (a test's tmp dir is removed): a probe still
    # running would now fail and log, at exit or in the middle of other tests.
    for f in tmp_path.glob("routes.db*"):
        f.unlink()
    (tmp_path / "routes.db").mkdir()
    time.sleep(4 * HEALTH_PROBE_SECONDS)
    assert [r.getMessage() for r in caplog.records if "health probe" in r.getMessage()] == []
    # It starts again with the next lifespan of the same app (schemathesis runs one per
    # test) and sees the database as it now is.
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 503
    assert any("health probe" in r.getMessage() for r in caplog.records)
