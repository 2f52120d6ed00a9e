"""Hostile input: every value bounded, no client-named server file, nothing quoted.

A real ``serve`` over HTTP (SQLite, and PostgreSQL when configured) gets what an
attacker with a valid token would send: lone surrogates, NUL and control characters in
ids, infinities, 1e308 and NaN, thread bombs, odd ids in URLs, and weekly configs that
probe the server's files (``/etc/shadow``, ``../`` escapes, symlinks out of the allowed
roots, paths inside inline configs, ``demand.args --out``). Every answer must be a
deliberate 4xx that quotes no file, and the service must keep answering everyone.
"""
from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_service_support import (DB_KINDS, TERMINAL, TOKENS, Server,  # noqa: E402
                                  served, small_payload, wait_status)

from formulations.loading import scenario_from_tables, write_scenario  # noqa: E402
from solver.machine import machine_cores  # noqa: E402

pytestmark = pytest.mark.timeout(300)
SECRET_DIR = "/etc"
SECRET = "/etc/shadow"
FILE_CONTENT_MARKERS = ("root:", "daemon:", "nologin")


@pytest.fixture(scope="module", params=DB_KINDS)
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp(f"hostile-{request.param}")
    roots = tmp / "roots"
    (roots / "store").mkdir(parents=True)
    write_scenario(scenario_from_tables(small_payload()), roots / "store" / "scenario")
    (roots / "store" / "weekly.yaml").write_text("name: store\nscenario: scenario\n")
    (roots / "store" / "shadow-link.yaml").symlink_to(SECRET)
    (roots / "store" / "etc-link").symlink_to(SECRET_DIR)
    (tmp / "exports").mkdir()
    (tmp / "exports" / "out-link").symlink_to(tmp)
    with served(request.param, tmp, workers=1, env={
            "BUNDLEOPT_CONFIG_ROOTS": str(roots), "BUNDLEOPT_EXPORT_ROOT": str(tmp / "exports"),
            "BUNDLEOPT_MAX_BODY_BYTES": "300000"}) as srv:
        yield srv


@pytest.fixture()
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def _with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    p = copy.deepcopy(small_payload())
    change(p)
    return p


BAD_PAYLOADS = [
    ("surrogate product id", _with(lambda p: p["products"][0].update(product_id="\ud800")),
     "products", "product_id"),
    ("surrogate bundle id", _with(lambda p: [r.update(bundle_id="S\udfff") for r in
                                             p["bundles"] + p["wtp"]]), "bundles", "bundle_id"),
    ("surrogate segment id", _with(lambda p: p["segments"][0].update(segment_id="\udc00x")),
     "segments", "segment_id"),
    ("NUL in an id", _with(lambda p: p["products"][0].update(product_id="P\u00001")),
     "products", "product_id"),
    ("bell in an id", _with(lambda p: p["segments"][0].update(segment_id="young\u0007")),
     "segments", "segment_id"),
    ("escape in an id", _with(lambda p: p["bundles"][0].update(bundle_id="\u001b[31mS1")),
     "bundles", "bundle_id"),
    ("huge id", _with(lambda p: p["products"][0].update(product_id="P" * 5000)),
     "products", "product_id"),
    ("surrogate in a name", _with(lambda p: p["products"][0].update(name="milk\ud83d")),
     "products", "name"),
    ("surrogate in a field name", _with(lambda p: p["products"][0].update({"\ud800": 1})),
     "products", None),
    ("surrogate in scenario settings", _with(lambda p: p["scenario"].update(
        objective="\ud800")), "scenario", "objective"),
    ("1e308 segment size", _with(lambda p: p["segments"][0].update(size=1e308)),
     "segments", "size"),
    ("-1e308 unit cost", _with(lambda p: p["products"][0].update(unit_cost=-1e308)),
     "products", "unit_cost"),
    ("1e12 list price", _with(lambda p: p["products"][0].update(list_price=1e12)),
     "products", "list_price"),
    ("1e300 inventory", _with(lambda p: p["products"][0].update(inventory=1e300)),
     "products", "inventory"),
    ("1e200 wtp", _with(lambda p: p["wtp"][0].update(wtp=1e200)), "wtp", "wtp"),
    ("1e300 max_offers", _with(lambda p: p["scenario"]["constraints"].update(
        max_offers=1e300)), "scenario", "constraints.max_offers"),
    ("threads bomb", _with(lambda p: p["scenario"].update(solver={"threads": 100000})),
     "scenario", "solver.threads"),
    ("threads one above the cores", _with(lambda p: p["scenario"].update(
        solver={"threads": machine_cores() + 1})), "scenario", "solver.threads"),
]


@pytest.mark.parametrize("what, payload, table, field", BAD_PAYLOADS,
                         ids=[b[0] for b in BAD_PAYLOADS])
def test_unbounded_or_invalid_values_are_422(client: httpx.Client, what: str,
                                             payload: dict[str, Any], table: str,
                                             field: str | None) -> None:
    # json.dumps escapes a lone surrogate as \ud800: exactly what an attacker sends.
    r = client.post("/v1/solves", content=json.dumps(payload),
                    headers={"content-type": "application/json"})
    assert r.status_code == 422, (what, r.status_code, r.text[:300])
    body = r.json()
    assert body["table"] == table
    if field is not None:
        assert body["field"] == field


@pytest.mark.parametrize("raw", [
    b'{"products": [{"product_id": "P1", "unit_cost": 1e400, "list_price": 9}]}',
    b'{"products": [{"product_id": "P1", "unit_cost": NaN, "list_price": 9}]}',
    b'{"products": [{"product_id": "P1", "unit_cost": -Infinity, "list_price": 9}]}',
    b'{"products": [{"product_id": "P1", "unit_cost": ' + b"9" * 5000 + b'}]}',
    b'{"products": [{"product_id": "\\ud800"}]}',
    b'{"products": [{"product_id": "\xff\xfe"}]}',
])
def test_raw_json_infinities_and_bad_text_are_422(client: httpx.Client, raw: bytes) -> None:
    r = client.post("/v1/solves", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text


def test_threads_within_the_cores_are_accepted(client: httpx.Client) -> None:
    p = _with(lambda p: p["scenario"].update(solver={"threads": machine_cores()}))
    r = client.post("/v1/solves", json=p)
    assert r.status_code == 202
    assert wait_status(client, r.json()["id"], TERMINAL)["status"] == "optimal"


@pytest.mark.parametrize("key", ["é-key", "a" * 256, "tab\tkey", "two words"])
def test_bad_idempotency_keys_are_422(client: httpx.Client, key: str) -> None:
    r = client.post("/v1/solves", json=small_payload(),
                    headers={"Idempotency-Key": key.encode("utf-8")})
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/solves/%ED%A0%80"), ("GET", "/v1/solves/%00"), ("GET", "/v1/solves/" + "a" * 5000),
    ("GET", "/v1/solves/%FF%FE/plan"), ("DELETE", "/v1/solves/%00"),
    ("GET", "/v1/solves/..%2F..%2Fetc%2Fpasswd/details"), ("GET", "/v1/scenarios/%00"),
    ("GET", "/v1/scenarios/" + "f" * 64), ("GET", "/v1/plans/%00/2026-W01"),
    ("GET", "/v1/plans/x/%ED%A0%80"), ("DELETE", "/v1/schedules/%00"),
    ("DELETE", "/v1/schedules/%ED%A0%80"), ("GET", "/v1/plans?name=%00"),
    ("GET", "/v1/plans?name=%ED%A0%80"), ("GET", "/v1/solves?status=%00"),
    ("GET", "/v1/solves?status=%ED%A0%80"), ("GET", "/v1/solves?%ED%A0%80=1"),
])
def test_odd_ids_in_urls_are_4xx(client: httpx.Client, method: str, path: str) -> None:
    r = client.request(method, path)
    if r.status_code == 200:   # a filter that matches nothing is an empty listing
        assert "?" in path and r.json() in ({"plans": []}, {"solves": []}), r.text
        return
    assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:200])
    r.json()   # a JSON answer, whatever went in


@pytest.mark.parametrize("body", [
    '{"name": "x\\ud800", "cron": "0 6 * * 5", "config": {"scenario": "s"}}',
    '{"name": "x", "cron": "0 6 * * 5\\u0000", "config": {"scenario": "s"}}',
    '{"name": "x", "cron": "0 6 * * 5", "config": {"\\ud800": 1}}',
    '{"name": "x", "cron": "0 6 * * 5", "config": {"scenario": "s\\u0000/../x"}}',
    '{"name": "x", "cron": "0 6 * * 5", "config": "\\u0000/etc/shadow"}',
    '{"name": "x", "cron": "0 6 * * 5", "config": "/etc/\\ud800"}',
    '{"name": "x", "cron": "0 6 * * 5", "config": {"scenario": "\\udfff"}}',
    '{"name": "x", "cron": "0 6 * * 5", "config": {"demand": {"data": "d\\ud800"}}}',
    '{"name": "x", "cron": "0 6 * * 5", "config": {"scenario": {"products": 1e400}}}',
    '{"name": "x", "cron": "0 6 * * 5", "config": {"max_price_change": 1e308}}',
])
def test_hostile_schedule_bodies_are_422(client: httpx.Client, body: str) -> None:
    r = client.put("/v1/schedules/x", content=body.encode(),
                   headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert "/etc" not in r.text


def test_the_service_still_answers_everyone_after_the_barrage(server: Server) -> None:
    for token in TOKENS:
        with server.client(token) as c:
            listed = c.get("/v1/solves", params={"limit": 500})
            assert listed.status_code == 200
            for s in listed.json()["solves"][:20]:
                assert c.get(f"/v1/solves/{s['id']}/details").status_code == 200
            assert c.get("/v1/audit").status_code == 200
            assert c.get("/v1/plans").status_code == 200


# ------------------------------------------------------------------ server paths
def _probe_configs(roots: Path) -> list[tuple[str, Any]]:
    inline = {"scenario": "scenario"}
    return [
        ("absolute secret", SECRET), ("passwd", "/etc/passwd"),
        ("missing outside", "/etc/no-such-file.yaml"),
        ("dotdot escape", str(roots / "store" / ".." / ".." / ".." / ".." / "etc" / "shadow")),
        ("relative escape", "../../../../../../etc/shadow"),
        ("symlink file out of the root", str(roots / "store" / "shadow-link.yaml")),
        ("symlink dir out of the root", str(roots / "store" / "etc-link" / "passwd")),
        ("a directory", str(roots / "store")),
        ("inline scenario outside", {**inline, "scenario": SECRET_DIR}),
        ("inline dotdot scenario", {**inline, "scenario": "../../../../../etc"}),
        ("inline scenario through symlink", {**inline, "scenario": "store/etc-link"}),
        ("inline demand data outside", {"demand": {"data": "/etc"}}),
        ("inline demand data dotdot", {"demand": {"data": "store/../../../etc"}}),
        ("demand.args --out", {"demand": {"data": "store", "args": ["--out", "/tmp/pwn"]}}),
        ("demand.args --out=", {"demand": {"data": "store", "args": ["--out=/tmp/pwn"]}}),
        ("demand.args positional", {"demand": {"data": "store", "args": ["/etc/passwd"]}}),
        ("demand.args short", {"demand": {"data": "store", "args": ["-o", "/tmp/pwn"]}}),
        ("export absolute", {"scenario": "store/scenario", "export": "/tmp/pwn/{week}"}),
        ("export dotdot", {"scenario": "store/scenario", "export": "../../{week}"}),
        ("export through symlink", {"scenario": "store/scenario",
                                    "export": "../out-link/{week}"}),
        ("export {0} pattern", {"scenario": "store/scenario", "export": "x/{0}"}),
        ("export attribute pattern", {"scenario": "store/scenario",
                                      "export": "{name.__class__}"}),
        ("negative time limit", {"scenario": "store/scenario",
                                 "solver": {"time_limit": -5}}),
        ("unknown key", {"scenario": "store/scenario", "root": "x"}),
    ]


def test_schedules_cannot_name_server_files(server: Server, client: httpx.Client) -> None:
    roots = server.cwd / "roots"
    answers = {}
    for what, config in _probe_configs(roots):
        r = client.put("/v1/schedules/probe", json={"name": "probe", "cron": "0 6 * * 5",
                                                     "config": config})
        assert r.status_code == 422, (what, r.status_code, r.text)
        text = r.text
        answers[what] = r.json()["detail"]
        for marker in (*FILE_CONTENT_MARKERS, SECRET, "/etc", "pwn", str(roots),
                       str(server.cwd)):
            assert marker not in text, (what, marker, text)
    # No oracle: an existing secret and a missing file outside get the same answer.
    assert answers["absolute secret"] == answers["missing outside"] == answers["passwd"]
    assert answers["symlink file out of the root"] == answers["absolute secret"]
    assert client.get("/v1/schedules").json()["schedules"] == [] or all(
        s["name"] != "probe" for s in client.get("/v1/schedules").json()["schedules"])


def test_configs_inside_the_roots_work_and_export_under_the_export_root(
        server: Server, client: httpx.Client) -> None:
    roots = server.cwd / "roots"
    ok = client.put("/v1/schedules/by-file", json={
        "name": "by-file", "cron": "0 6 * * 5", "config": str(roots / "store" / "weekly.yaml")})
    assert ok.status_code == 200, ok.text
    inline = {"name": "inline-shop", "scenario": small_payload(), "export": "{name}/{week}",
              "solver": {"time_limit": 20}}
    r = client.put("/v1/schedules/inline", json={"name": "inline", "cron": "0 6 * * 5",
                                                  "config": inline})
    assert r.status_code == 200, r.text
    assert r.json()["config"] == inline
    # Running it as serve does (a `plan run --schedule` child with serve's environment).
    from bundleopt.service import schedules
    from bundleopt.service.db import make_engine, session_factory
    from bundleopt.service.models import Schedule

    engine = make_engine(server.db_url)
    with session_factory(engine)() as s:
        sched = s.scalars(__import__("sqlalchemy").select(Schedule).where(
            Schedule.name == "inline")).one()
        run = schedules.ScheduleRun(schedule_id=sched.id, scheduled_for=sched.next_run_at,
                                    week="2026-W48", status="running", owner="test")
        s.add(run)
        s.commit()
        run_id, tenant = run.id, sched.tenant
    env = {"BUNDLEOPT_CONFIG_ROOTS": str(roots),
           "BUNDLEOPT_EXPORT_ROOT": str(server.cwd / "exports")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        assert schedules.execute_run(engine, server.db_url, run_id, "test") == "done"
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    engine.dispose()
    exported = server.cwd / "exports" / tenant / "inline-shop" / "2026-W48"
    assert (exported / "plan.csv").is_file() and (exported / "summary.json").is_file()


def test_a_client_that_hangs_up_mid_body_is_one_info_line(server: Server) -> None:
    """A body cut short (Content-Length promises more than arrives, then the socket
    closes) is the client's doing: one INFO line in the log, no traceback."""
    import socket
    import time

    before = server.log.stat().st_size
    head = (f"POST /v1/solves HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {TOKENS[0]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: 100000\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + b'{"products": [{"product_id": "P1", ')
        time.sleep(0.3)      # the server is reading the body by now
    end = time.monotonic() + 10
    while time.monotonic() < end:
        with open(server.log, "rb") as fh:
            fh.seek(before)
            written = fh.read().decode("utf-8", "replace")
        if "disconnected" in written:
            break
        time.sleep(0.2)
    time.sleep(0.5)          # anything logged after the line (a traceback) arrives too
    with open(server.log, "rb") as fh:
        fh.seek(before)
        written = fh.read().decode("utf-8", "replace")
    lines = [x for x in written.splitlines() if "disconnected" in x]
    assert len(lines) == 1 and "/v1/solves" in lines[0], written[-2000:]
    assert "Traceback" not in written and "Exception in ASGI" not in written, written[-2000:]
    with server.client() as c:                       # and it goes on serving
        assert c.get("/v1/solves").status_code == 200
