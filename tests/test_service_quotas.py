"""Per-tenant quotas through a real ``serve``: active-solve cap, request rate, body memory.

Past each, the answer is ``429`` with ``Retry-After``, and only the tenant that went
past it is refused: another tenant's requests keep being served.
"""
from __future__ import annotations

import concurrent.futures as cf
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_service_support import (DB_KINDS, TERMINAL, TOKENS, Server,  # noqa: E402
                                  served, hard_payload, small_payload, wait_status)

pytestmark = pytest.mark.timeout(300)
MAX_BODY = 100_000


@pytest.fixture(scope="module", params=DB_KINDS)
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp(f"quotas-{request.param}")
    # Body memory: one tenant may have two maximal bodies in flight, everyone three.
    with served(request.param, tmp, workers=1, env={
            "BUNDLEOPT_MAX_ACTIVE_PER_TENANT": "3", "BUNDLEOPT_MAX_BODY_BYTES": str(MAX_BODY),
            "BUNDLEOPT_TENANT_BODY_MEMORY": str(2 * 10 * MAX_BODY),
            "BUNDLEOPT_BODY_MEMORY": str(3 * 10 * MAX_BODY),
            "BUNDLEOPT_RATE_PER_SECOND": "1000", "BUNDLEOPT_RATE_BURST": "1000"}) as srv:
        yield srv


def _retry_after(r: httpx.Response) -> int:
    assert r.status_code == 429, r.text
    return int(r.headers["retry-after"])


def test_queued_plus_running_cap_is_429_with_retry_after(server: Server) -> None:
    with server.client(TOKENS[0]) as a, server.client(TOKENS[1]) as b:
        ids = []
        for seed in range(3):
            r = a.post("/v1/solves", json=hard_payload(seed, time_limit=30))
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
        over = a.post("/v1/solves", json=small_payload())
        assert _retry_after(over) >= 1 and "cap is 3" in over.json()["detail"]
        # Another tenant is not affected.
        theirs = b.post("/v1/solves", json=small_payload())
        assert theirs.status_code == 202
        for i in ids:
            a.delete(f"/v1/solves/{i}")
        for i in ids:
            wait_status(a, i, TERMINAL, timeout=30)
        # Below the cap again: accepted.
        again = a.post("/v1/solves", json=small_payload())
        assert again.status_code == 202
        wait_status(a, again.json()["id"], TERMINAL)
        wait_status(b, theirs.json()["id"], TERMINAL)


def test_concurrent_large_bodies_are_capped_per_tenant(server: Server) -> None:
    """Two slow maximal uploads of one tenant hold its body memory: a third is refused at
    once; another tenant still gets one in."""
    release = threading.Event()
    started = threading.Barrier(3)

    def slow_body() -> Iterator[bytes]:
        yield b"{"
        started.wait(timeout=30)
        release.wait(timeout=30)
        yield b" " * (MAX_BODY - 2) + b"}"

    def upload(token: str) -> httpx.Response:
        with httpx.Client(base_url=server.base, timeout=60) as c:
            return c.post("/v1/solves", content=slow_body(), headers={
                "Authorization": f"Bearer {token}", "Content-Length": str(MAX_BODY),
                "content-type": "application/json"})

    with cf.ThreadPoolExecutor(2) as ex:
        slow = [ex.submit(upload, TOKENS[0]) for _ in range(2)]
        started.wait(timeout=30)
        time.sleep(0.3)   # both requests are past the gate, their bodies half sent
        with httpx.Client(base_url=server.base, timeout=30) as c:
            third = c.post("/v1/solves", json=small_payload(), headers={
                "Authorization": f"Bearer {TOKENS[0]}"})
            other = c.post("/v1/solves", json=small_payload(), headers={
                "Authorization": f"Bearer {TOKENS[1]}"})
        release.set()
        answers = [f.result() for f in slow]
    assert _retry_after(third) >= 1
    assert other.status_code == 202, other.text
    assert [a.status_code for a in answers] == [422, 422]   # read in full, then judged
    with server.client(TOKENS[0]) as a:
        assert a.post("/v1/solves", json=small_payload()).status_code == 202


def test_request_rate_is_limited_per_tenant(tmp_path: Path) -> None:
    with served("sqlite", tmp_path, workers=1, env={"BUNDLEOPT_RATE_PER_SECOND": "5",
                                                    "BUNDLEOPT_RATE_BURST": "10"}) as srv:
        with srv.client(TOKENS[0]) as a, srv.client(TOKENS[1]) as b:
            answers = [a.get("/v1/solves").status_code for _ in range(30)]
            assert answers[:10] == [200] * 10 and 429 in answers
            r = a.get("/v1/solves")
            assert _retry_after(r) >= 1
            assert b.get("/v1/solves").status_code == 200   # another tenant is served
            time.sleep(1.2)
            assert a.get("/v1/solves").status_code == 200   # the bucket refills
            assert httpx.get(srv.base + "/healthz").status_code == 200  # never limited
