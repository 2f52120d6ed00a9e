"""Benchmark: the web app's pages (/app/) with 1,000 runs in the database and weekly plans
of 1,000 rows, timed at the server.

    python benchmarks/bench_review_pages.py [--db URL] [--runs 1000] [--rows 1000]
                                            [--repeat 30] [--out benchmarks/results_review_pages.md]

It fills a fresh database (default: a SQLite file in a temporary directory) with
``--runs`` solves: a fifth of them weekly plans of four plan names, each week's plan
``--rows`` rows long (every offer on sale at a random point of its ladder, evaluated
with ``evaluate_plan`` on one stored scenario of ``--rows`` offers and 3 segments), the
rest API solves of every status with small plans. Then, in process, it signs in and
requests each page ``--repeat`` times — the plan, compare and review pages cycling
through distinct weeks, so a week's charts are built afresh on its first view — and
times each request inside the ASGI app (from the request's arrival to the last byte
of the answer), which is the server's own time with no network or client in it. It
prints the median and 95th percentile per page and writes them as a markdown table.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

TOKEN = "bench-review-token"


def scenario_payload(n: int, rng: np.random.Generator) -> dict[str, Any]:
    products = [{"product_id": f"P{i}", "name": f"Product {i}",
                 "unit_cost": round(float(rng.uniform(1, 5)), 2),
                 "list_price": round(float(rng.uniform(6, 15)), 2)} for i in range(n)]
    segments = [{"segment_id": s, "size": float(rng.integers(200, 2000))}
                for s in ("young", "family", "senior")]
    return {"scenario": {"pricing": "uniform", "choice_model": "first_choice",
                         "constraints": {"min_margin": 0.1}},
            "products": products,
            "bundles": [{"bundle_id": f"B{i}", "product_id": f"P{i}", "quantity": 1}
                        for i in range(n)],
            "segments": segments,
            "wtp": [{"segment_id": s["segment_id"], "bundle_id": f"B{i}",
                     "wtp": round(float(rng.uniform(4, 16)), 2)}
                    for s in segments for i in range(n)]}


def fill(url: str, n_runs: int, n_rows: int, seed: int = 0) -> list[tuple[str, str]]:
    """Fill the database; the (name, week) of every weekly plan."""
    from formulations.evaluate import evaluate_plan
    from formulations.loading import scenario_from_tables
    from formulations.offers import ladder
    from solver.run_folder import money_rounded_plan, readable_plan

    from bundleopt.service.db import jsonable, make_engine, session_factory, upgrade
    from bundleopt.service.models import (Audit, Plan, ScenarioRow, Schedule, Solve,
                                          WeeklyPlan, utcnow)

    rng = np.random.default_rng(seed)
    engine = make_engine(url)
    upgrade(engine)
    payload = scenario_payload(n_rows, rng)
    scenario = scenario_from_tables(payload)
    lad = ladder(scenario).sort_values(["bundle_id", "price"])
    points = lad.groupby("bundle_id", sort=False)["price"].apply(np.array)
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    n_weekly = n_runs // 5
    names = [f"store-{i}" for i in range(4)]
    weeks: list[tuple[str, str]] = []
    t0 = utcnow() - timedelta(days=400)
    with session_factory(engine)() as s:
        s.add(ScenarioRow(hash=digest, payload=payload, n_offers=n_rows, n_segments=3))
        s.commit()
        for k in range(n_runs):
            sid = str(uuid.uuid4())
            created = t0 + timedelta(hours=k)
            weekly = k < n_weekly
            status = "optimal" if weekly else ["optimal", "feasible", "infeasible",
                                                "failed", "cancelled"][k % 5]
            if weekly:
                pick = [float(rng.choice(points[b])) for b in scenario.bundles.index]
                plan = pd.DataFrame({"bundle_id": scenario.bundles.index.astype(str),
                                     "segment_id": "*", "price": pick})
                ev = evaluate_plan(scenario, plan)
                rows = jsonable(money_rounded_plan(readable_plan(scenario, ev.plan))
                                .to_dict(orient="records"))
                kpis = {"revenue": ev.revenue, "profit": ev.profit, "margin": ev.margin,
                        "units": ev.units, "offers_on_sale": n_rows}
                objective, binding = ev.objective, sorted(set(ev.binding))
            else:
                rows = [{"bundle_id": f"B{i}", "segment_id": "*", "price": 9.5,
                         "expected_units": 10.0, "expected_revenue": 95.0,
                         "expected_profit": 40.0} for i in range(10)] \
                    if status in ("optimal", "feasible") else []
                kpis, objective, binding = {"profit": 100.0}, 100.0, []
            summary = {"status": status, "objective": objective if rows else None,
                       "bound": objective * 1.01 if rows else None, "gap": 0.0099,
                       "kpis": kpis, "binding_constraints": binding,
                       "conflicting_constraints": ["min_margin"] if status == "infeasible"
                       else [], "time_limit": 60, "mip_gap_target": 1e-4,
                       "constraints_imposed": ["min_margin"], "backend": "highs",
                       "model": {"formulation": "first_choice"}}
            s.add(Solve(id=sid, tenant="acme", scenario_hash=digest, status=status,
                        options={}, submitted_by="bench", source="weekly" if weekly
                        else "api", created_at=created, started_at=created,
                        finished_at=created, objective=summary["objective"],
                        bound=summary["bound"], gap=0.0099 if rows else None,
                        backend="highs", summary=summary))
            s.flush()
            if rows:
                s.add(Plan(solve_id=sid, rows=rows, n_rows=len(rows)))
            if weekly:
                name = names[k % len(names)]
                week_no = k // len(names)
                week = f"{2024 + week_no // 52}-W{week_no % 52 + 1:02d}"
                s.add(WeeklyPlan(tenant="acme", name=name, week=week, status="done",
                                 solve_id=sid, created_at=created, finished_at=created,
                                 review="proposed"))
                weeks.append((name, week))
            if k % 50 == 0:
                s.add(Audit(tenant="acme", actor="token:bench", action="submit",
                            target=sid))
                s.commit()
        for name in names:
            s.add(Schedule(tenant="acme", name=name, cron="0 6 * * FRI", config="inline",
                           config_inline={"name": name}, created_by="bench",
                           next_run_at=utcnow()))
        s.commit()
    engine.dispose()
    return weeks


class Timed:
    """ASGI wrapper: the server's time for each request, arrival to last byte."""

    def __init__(self, app: Any) -> None:
        self.app, self.last = app, 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        start = time.perf_counter()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last = time.perf_counter() - start

        await self.app(scope, receive, timed_send)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", default=None)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--out", default=str(HERE / "results_review_pages.md"))
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    from bundleopt.service import web
    from bundleopt.service.app import create_app
    from bundleopt.service.db import make_engine
    from bundleopt.service.limits import ServiceSettings

    url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='bench-review-')}/bench.db"
    t = time.perf_counter()
    weeks = fill(url, args.runs, args.rows)
    print(f"filled {args.runs} runs ({len(weeks)} weekly plans of {args.rows} rows) "
          f"in {time.perf_counter() - t:.0f} s")
    engine = make_engine(url)
    app = create_app(ServiceSettings(db_url=url, tokens=[f"acme:{TOKEN}"]), engine,
                     migrate=False)
    web.warm()        # as `bundleopt serve` does once its app is built
    timed = Timed(app)
    results = []
    load_before = os.getloadavg()
    with TestClient(timed, base_url="http://127.0.0.1") as c:
        r = c.get("/app/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
        c.post("/app/login", data={"token": TOKEN, "csrf": csrf})
        r = c.get("/app/runs")
        csrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
        later = weeks[len(weeks) // 2:]
        solve_ids = re.findall(r'/app/solves/([0-9a-f-]{36})', r.text)
        pages: list[tuple[str, Any]] = [
            ("Runs, page 1", lambda i: ("GET", "/app/runs")),
            ("Runs, page 10", lambda i: ("GET", "/app/runs?page=10")),
            ("Runs, filtered by plan name", lambda i: ("GET", "/app/runs?name=store-1")),
            ("Runs, filtered by status", lambda i: ("GET", "/app/runs?status=infeasible")),
            ("A plan (1,000 rows, charts built on first view)",
             lambda i: ("GET", "/app/plans/{}/{}".format(*later[i % len(later)]))),
            ("A plan again (charts cached)",
             lambda i: ("GET", "/app/plans/{}/{}".format(*later[0]))),
            ("A run by id", lambda i: ("GET", f"/app/solves/{solve_ids[i % len(solve_ids)]}")),
            ("Compare (two 1,000-row weeks)",
             lambda i: ("GET", "/app/compare?name={}&week={}".format(*later[i % len(later)]))),
            ("Review (1,000 rows with ladders)",
             lambda i: ("GET", "/app/plans/{}/{}/review".format(*later[i % len(later)]))),
            ("Review: check an override (re-evaluate 1,000 rows)",
             lambda i: ("POST", "/app/plans/{}/{}/review".format(*later[i % len(later)]))),
            ("Schedules", lambda i: ("GET", "/app/schedules")),
            ("Audit", lambda i: ("GET", "/app/audit")),
        ]
        for label, req in pages:
            times = []
            for i in range(args.repeat):
                method, path = req(i)
                if method == "GET":
                    resp = c.get(path)
                else:
                    resp = c.post(path, data={"csrf": csrf, "base": "0", "p0": "off",
                                              "action": "check"})
                assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])
                times.append(timed.last * 1000)
            arr = np.array(times)
            results.append((label, float(np.median(arr)), float(np.percentile(arr, 95)),
                            float(arr.max())))
            print(f"{label:55s} p50 {results[-1][1]:7.1f} ms   p95 {results[-1][2]:7.1f} ms")
    engine.dispose()
    load_after = os.getloadavg()
    shown = lambda load: ", ".join(f"{x:.2f}" for x in load)   # noqa: E731
    lines = [f"# Web app pages: {args.runs} runs, weekly plans of {args.rows} rows",
             "", f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}; database {url.split(':')[0]}; "
             f"{args.repeat} requests per page, timed inside the server (ASGI). "
             f"Load average (1, 5, 15 min) before the requests {shown(load_before)}, "
             f"after {shown(load_after)} — the cores are shared with other jobs, so "
             "a load above 2 means the pages waited for a core part of the time.", "",
             "| page | p50 (ms) | p95 (ms) | max (ms) |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {a} | {b:.1f} | {c:.1f} | {d:.1f} |" for a, b, c, d in results]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
