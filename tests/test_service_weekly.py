"""Weekly plans (``plan run``) and their schedules, on SQLite and PostgreSQL."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bruteforce import brute_force, evaluate_plan_frame  # noqa: E402
from test_service_support import (DB_KINDS, PYTHON, ROOT, WorkerNode,  # noqa: E402
                                  database)

from formulations.errors import BundleoptError, InputError, ParameterError  # noqa: E402
from formulations.loading import (load_scenario, scenario_from_tables,  # noqa: E402
                                  write_scenario)
from solver.api import solve  # noqa: E402
from bundleopt.service import schedules  # noqa: E402
from bundleopt.service.db import make_engine, session_factory, upgrade  # noqa: E402
from bundleopt.service.models import (DEFAULT_TENANT, Plan, ScenarioRow,  # noqa: E402
                                      ScheduleRun, Solve, WeeklyPlan, utcnow)
from bundleopt.service.weekly import load_config, parse_week, run_week, shift_week  # noqa: E402

pytestmark = pytest.mark.timeout(240)
EPS = 0.05


def _payload(scale: float) -> dict[str, Any]:
    """Three products, their singles and one pair; WTP scaled by ``scale``."""
    wtp = {("A", "S1"): 10, ("A", "S2"): 6, ("A", "S3"): 3, ("A", "B12"): 15,
           ("B", "S1"): 7, ("B", "S2"): 9, ("B", "S3"): 8, ("B", "B12"): 14}
    return {
        "scenario": {"pricing": "uniform", "choice_model": "first_choice"},
        "products": [{"product_id": p, "unit_cost": c, "list_price": l}
                     for p, c, l in (("P1", 3, 10), ("P2", 2, 9), ("P3", 2, 8))],
        "bundles": [{"bundle_id": "S1", "product_id": "P1", "quantity": 1},
                    {"bundle_id": "S2", "product_id": "P2", "quantity": 1},
                    {"bundle_id": "S3", "product_id": "P3", "quantity": 1},
                    {"bundle_id": "B12", "product_id": "P1", "quantity": 1},
                    {"bundle_id": "B12", "product_id": "P2", "quantity": 1}],
        "segments": [{"segment_id": "A", "size": 500}, {"segment_id": "B", "size": 300}],
        "wtp": [{"segment_id": s, "bundle_id": b, "wtp": round(w * scale, 2)}
                for (s, b), w in wtp.items()],
    }


def _config(tmp: Path, extra: str = "") -> Path:
    write_scenario(scenario_from_tables(_payload(1.0)), tmp / "scenario")
    cfg = tmp / "weekly.yaml"
    cfg.write_text("name: store-7\nscenario: scenario\n"
                   f"max_price_change: {EPS}\nexport: out/{{week}}\n"
                   "solver: {time_limit: 30}\n" + extra)
    return cfg


def _plan_run(cfg: Path, week: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "bundleopt", "plan", "run", str(cfg), "--week",
                           week, "--db", url], capture_output=True, text=True, cwd=cfg.parent,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def _count(url: str, model: Any, *where: Any) -> int:
    engine = make_engine(url)
    with session_factory(engine)() as s:
        n = s.scalar(select(func.count()).select_from(model).where(*where))
    engine.dispose()
    return int(n)


@pytest.mark.parametrize("kind", DB_KINDS)
def test_week_twice_is_one_plan_and_next_week_keeps_price_change(kind: str,
                                                                 tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    with database(kind, tmp_path) as url:
        first = _plan_run(cfg, "2026-W48", url)
        assert first.returncode == 0, first.stderr
        plan_csv = tmp_path / "out" / "2026-W48" / "plan.csv"
        week1 = pd.read_csv(plan_csv)
        assert len(week1) > 0
        stamp = plan_csv.stat().st_mtime_ns

        again = _plan_run(cfg, "2026-W48", url)
        assert again.returncode == 0, again.stderr
        assert "already planned" in again.stdout
        assert _count(url, WeeklyPlan, WeeklyPlan.week == "2026-W48") == 1
        assert _count(url, Solve, Solve.source == "weekly") == 1
        assert _count(url, Plan) == 1
        assert plan_csv.stat().st_mtime_ns == stamp   # the export was not rewritten

        # Demand falls 25%: left alone, the optimum would cut prices by more than EPS.
        write_scenario(scenario_from_tables(_payload(0.75)), tmp_path / "scenario")
        free = solve(load_scenario(tmp_path / "scenario"))
        common = free.plan.merge(week1, on=["bundle_id", "segment_id"])
        assert ((common["price_x"] - common["price_y"]).abs()
                > EPS * common["price_y"] + 1e-9).any()

        outcome = run_week(cfg, "2026-W49", db_url=url, tenant=DEFAULT_TENANT)
        assert outcome.created and outcome.previous_week == "2026-W48"
        assert outcome.status in ("optimal", "infeasible")
        engine = make_engine(url)
        with session_factory(engine)() as s:
            stored = s.get(Solve, outcome.solve_id)
            scenario = scenario_from_tables(s.get(ScenarioRow, stored.scenario_hash).payload)
        engine.dispose()
        # The stored week-2 scenario carries week 1's plan as previous_plan.
        prev = scenario.previous_plan.sort_values("bundle_id").reset_index(drop=True)
        assert prev[["bundle_id", "price"]].equals(
            week1[["bundle_id", "price"]].astype({"bundle_id": str})
            .sort_values("bundle_id").reset_index(drop=True))
        best, _ = brute_force(scenario)
        if best is None:
            assert outcome.status == "infeasible"
            return
        week2 = pd.read_csv(tmp_path / "out" / "2026-W49" / "plan.csv")
        both = week2.merge(week1, on=["bundle_id", "segment_id"], suffixes=("", "_old"))
        assert ((both["price"] - both["price_old"]).abs()
                <= EPS * both["price_old"] + 1e-6).all()
        feasible, objective, _ = evaluate_plan_frame(scenario, week2)
        assert feasible and objective == pytest.approx(best, rel=1e-6)


def test_plan_run_reports_bad_config_and_week_in_one_line(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    r = _plan_run(cfg, "2026-W60", url)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "2026-W60" in r.stderr
    (tmp_path / "bad.yaml").write_text("name: x\nscenario: scenario\nsolver: {speed: 3}\n")
    r = _plan_run(tmp_path / "bad.yaml", "2026-W48", url)
    assert r.returncode == 2 and "field 'solver'" in r.stderr and "Traceback" not in r.stderr
    with pytest.raises(InputError, match="unknown key"):
        (tmp_path / "typo.yaml").write_text("name: x\nscenaro: s\n")
        load_config(tmp_path / "typo.yaml")
    with pytest.raises(ParameterError):
        parse_week("2026-48")
    assert shift_week("2026-W01", -1) == "2025-W52" and shift_week("2026-W53", 1) == "2027-W01"


def _allow(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    """The operator allows ``tmp`` for configs and ``tmp/exports`` for exports (the env
    reaches the `plan run --schedule` children too)."""
    monkeypatch.setenv("BUNDLEOPT_CONFIG_ROOTS", str(tmp))
    monkeypatch.setenv("BUNDLEOPT_EXPORT_ROOT", str(tmp / "exports"))


def test_schedule_occurrences_are_claimed_once(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _allow(monkeypatch, tmp_path)
    cfg = _config(tmp_path)
    url = f"sqlite:///{tmp_path / 's.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as s:
        sched = schedules.upsert(s, {"name": "fri", "cron": "0 6 * * FRI", "config": str(cfg),
                                     "week_offset": 1}, "token:test", tenant="default")
        with pytest.raises(InputError, match="cron"):
            schedules.upsert(s, {"name": "bad", "cron": "every friday", "config": str(cfg)},
                             "token:test", tenant="default")
        s.rollback()
        first_due = sched.next_run_at
    assert first_due.weekday() == 4 and first_due.hour == 6
    at = first_due.replace(second=30)
    claimed = schedules.claim_due(engine, "scheduler-A", now=at)
    assert len(claimed) == 1
    # A second scheduler, or the same one after a restart, finds nothing to do.
    assert schedules.claim_due(engine, "scheduler-B", now=at) == []
    assert schedules.claim_due(engine, "scheduler-C", now=at.replace(minute=1)) == []
    with session_factory(engine)() as s:
        run = s.get(ScheduleRun, claimed[0])
        week = run.week
    assert week == shift_week(f"{at.isocalendar()[0]}-W{at.isocalendar()[1]:02d}", 1)
    # The occurrence's solve goes through the queue: a `bundleopt worker` node solves it.
    node = WorkerNode(url, tmp_path, processes=1).start()
    try:
        assert schedules.execute_run(engine, url, claimed[0], "scheduler-A") == "done"
    finally:
        node.stop()
    assert _count(url, WeeklyPlan, WeeklyPlan.week == week, WeeklyPlan.status == "done") == 1
    with session_factory(engine)() as s:
        w = s.scalars(select(WeeklyPlan).where(WeeklyPlan.week == week)).one()
        solved = s.get(Solve, w.solve_id)
        assert solved.source == "schedule" and ":worker:" in solved.worker
        assert int(solved.worker.split(":")[1]) != os.getpid()
    # A service-run config exports under the export root, in the tenant's own directory.
    assert (tmp_path / "exports" / "default" / "out" / week / "plan.csv").is_file()
    # Three weeks of downtime: one catch-up run, not three.
    later = at + timedelta(weeks=3, hours=1)
    assert len(schedules.claim_due(engine, "scheduler-A", now=later)) == 1
    assert schedules.claim_due(engine, "scheduler-B", now=later) == []
    engine.dispose()


def _scheduled(tmp_path: Path, name: str) -> tuple[str, Any, int, Any]:
    """A SQLite database with schedule ``name`` over ``_config`` and one claimed run:
    ``(url, engine, run id, the schedule's checked config)``."""
    from bundleopt.service.weekly import Confinement

    cfg_file = _config(tmp_path)
    url = f"sqlite:///{tmp_path / f'{name}.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as s:
        sched = schedules.upsert(s, {"name": name, "cron": "0 6 * * FRI",
                                     "config": str(cfg_file)}, "token:test", tenant="default")
        at = sched.next_run_at
        cfg = schedules.schedule_config(sched, Confinement.from_env())
    (run_id,) = schedules.claim_due(engine, "scheduler-A", now=at)
    return url, engine, run_id, cfg


def test_a_queued_week_outlives_its_scheduler(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Scheduler A queues the week's solve and dies before it ends; scheduler B takes
    the run over and keeps that solve (none built twice); a worker node solves it and
    B closes the week."""
    from bundleopt.service.weekly import queued

    _allow(monkeypatch, tmp_path)
    url, engine, run_id, cfg = _scheduled(tmp_path, "fri")
    with session_factory(engine)() as s:
        week = s.get(ScheduleRun, run_id).week
    first = queued.enqueue_week(cfg, week, engine=engine, tenant="default",
                                owner="scheduler-A")
    assert first.solve_id and not first.adopted
    # A dies: the week's and the run's leases lapse.
    past = utcnow() - timedelta(seconds=1)
    with session_factory(engine)() as s:
        s.execute(WeeklyPlan.__table__.update().values(lease_until=past))
        s.execute(ScheduleRun.__table__.update().values(lease_until=past))
        s.commit()
    assert schedules.claim_due(engine, "scheduler-B") == [run_id]
    node = WorkerNode(url, tmp_path, processes=1).start()
    try:
        assert schedules.execute_run(engine, url, run_id, "scheduler-B") == "done"
    finally:
        node.stop()
    assert _count(url, Solve, Solve.source == "schedule") == 1
    with session_factory(engine)() as s:
        w = s.scalars(select(WeeklyPlan).where(WeeklyPlan.week == week)).one()
        assert (w.status, w.solve_id, w.owner) == ("done", first.solve_id, "scheduler-B")
        assert s.get(ScheduleRun, run_id).status == "done"
    assert (tmp_path / "exports" / "default" / "out" / week / "plan.csv").is_file()
    engine.dispose()


def test_a_queued_week_whose_solve_ends_without_a_plan_is_failed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bundleopt.service import queue
    from bundleopt.service.weekly import queued

    _allow(monkeypatch, tmp_path)
    url, engine, run_id, cfg = _scheduled(tmp_path, "mon")
    with session_factory(engine)() as s:
        week = s.get(ScheduleRun, run_id).week
    solve_id = queued.enqueue_week(cfg, week, engine=engine, tenant="default",
                                   owner="scheduler-A").solve_id
    with session_factory(engine)() as s:
        queue.cancel(s, solve_id, actor="token:admin", tenant="default")
    status, message = queued.await_week(engine, cfg, week, solve_id, tenant="default",
                                        owner="scheduler-A")
    assert status == "failed" and "cancelled" in message
    with session_factory(engine)() as s:
        w = s.scalars(select(WeeklyPlan).where(WeeklyPlan.week == week)).one()
        assert w.status == "failed" and "cancelled" in w.error
    assert not (tmp_path / "exports" / "default" / "out" / week).exists()
    engine.dispose()


def test_abandoned_schedule_run_is_taken_over_after_its_lease(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _allow(monkeypatch, tmp_path)
    cfg = _config(tmp_path)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as s:
        at = schedules.upsert(s, {"name": "mon", "cron": "30 5 * * MON", "config": str(cfg)},
                              "token:test", tenant="default").next_run_at
    (run_id,) = schedules.claim_due(engine, "dead-scheduler", now=at)
    # The claimer died without finishing: within its lease nobody touches the run ...
    soon = at + timedelta(seconds=schedules.RUN_LEASE_SECONDS / 2)
    assert schedules.claim_due(engine, "new-scheduler", now=soon) == []
    late = at + timedelta(seconds=schedules.RUN_LEASE_SECONDS + 1)
    assert schedules.claim_due(engine, "new-scheduler", now=late) == [run_id]
    engine.dispose()


@pytest.mark.slow
def test_plan_run_refits_demand_from_the_latest_data(tmp_path: Path) -> None:
    sim = subprocess.run([PYTHON, "-m", "bundleopt", "simulate-data", "--out",
                          str(tmp_path / "data"), "--customers", "300", "--days", "21",
                          "--products", "4", "--segments", "2"], capture_output=True,
                         text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert sim.returncode == 0, sim.stderr
    cfg = tmp_path / "refit.yaml"
    cfg.write_text("name: refit\ndemand:\n  data: data\n  args: [--segments, '2', --quiet]\n"
                   "solver: {time_limit: 20}\n")
    url = f"sqlite:///{tmp_path / 'r.db'}"
    outcome = run_week(cfg, "2026-W48", db_url=url, tenant=DEFAULT_TENANT)
    assert outcome.created and outcome.status in ("optimal", "feasible")
    engine = make_engine(url)
    with session_factory(engine)() as s:
        payload = s.get(ScenarioRow, s.get(Solve, outcome.solve_id).scenario_hash).payload
    engine.dispose()
    # The solved scenario is the fitted one: two learnt segments over the data's products.
    assert len(payload["segments"]) == 2
    products = pd.read_csv(tmp_path / "data" / "products.csv")
    assert {p["product_id"] for p in payload["products"]} <= set(products["product_id"])
    assert (tmp_path / "plans" / "refit" / "2026-W48" / "plan.csv").is_file()


def test_schedules_can_be_confined_to_a_config_dir(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    upgrade(engine)
    monkeypatch.setenv(schedules.CONFIG_DIR_ENV, str(tmp_path / "elsewhere"))
    with session_factory(engine)() as s:
        with pytest.raises(InputError, match="must be inside"):
            schedules.upsert(s, {"name": "x", "cron": "0 6 * * 5", "config": str(cfg)}, "t",
                             tenant="default")
    monkeypatch.setenv(schedules.CONFIG_DIR_ENV, str(tmp_path))
    with session_factory(engine)() as s:
        assert schedules.upsert(s, {"name": "x", "cron": "0 6 * * 5", "config": str(cfg)},
                                "t", tenant="default").config == str(cfg.resolve())
    engine.dispose()


@pytest.mark.parametrize("extra, field", [
    ("export: out/{0}\n", "export"),
    ("export: 'out/{week!r}'\n", "export"),
    ("solver: {time_limit: -5}\n", "solver.time_limit"),
    ("solver: {time_limit: .nan}\n", "solver.time_limit"),
    ("solver: {mip_gap: 2}\n", "solver.mip_gap"),
    ("solver: {backend: gurobi}\n", "solver.backend"),
    ("max_price_change: 1e308\n", "max_price_change"),
    ("demand: {data: data, args: [--out, /tmp/elsewhere]}\n", "demand.args"),
    ("demand: {data: data, args: ['--out=/tmp/elsewhere']}\n", "demand.args"),
    ("demand: {data: data, args: [--segments]}\n", "demand.args"),
])
def test_weekly_config_mistakes_are_refused_naming_the_field(tmp_path: Path, extra: str,
                                                             field: str) -> None:
    (tmp_path / "data").mkdir()
    cfg = tmp_path / "weekly.yaml"
    cfg.write_text("name: store-7\nscenario: scenario\n" + extra)
    with pytest.raises(InputError, match=f"field '{field}'"):
        load_config(cfg)


@pytest.mark.parametrize("extra", ["export: out/{0}\n", "solver: {time_limit: -5}\n"])
def test_weekly_config_mistakes_are_one_line_and_exit_2(tmp_path: Path, extra: str) -> None:
    write_scenario(scenario_from_tables(_payload(1.0)), tmp_path / "scenario")
    cfg = tmp_path / "weekly.yaml"
    cfg.write_text("name: store-7\nscenario: scenario\n" + extra)
    r = _plan_run(cfg, "2026-W48", f"sqlite:///{tmp_path / 'm.db'}")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_a_killed_plan_runs_week_is_taken_over_at_once(tmp_path: Path) -> None:
    """A `plan run` killed mid-week (its process gone) does not lock the week for the
    rest of its lease: the next run takes it over and plans it."""
    cfg = _config(tmp_path)
    url = f"sqlite:///{tmp_path / 'k.db'}"
    dead = subprocess.Popen([PYTHON, "-c", "pass"])
    dead.wait()
    engine = make_engine(url)
    upgrade(engine)
    from bundleopt.service.queue import worker_name

    owner = worker_name("weekly").split(":")
    owner[1] = str(dead.pid)
    with session_factory(engine)() as s:
        s.add(WeeklyPlan(tenant="default", name="store-7", week="2026-W48", status="running",
                         owner=":".join(owner),
                         lease_until=utcnow() + timedelta(minutes=30)))
        s.commit()
    engine.dispose()
    outcome = run_week(cfg, "2026-W48", db_url=url, tenant=DEFAULT_TENANT)
    assert outcome.created and outcome.status == "optimal"
    # A live owner's week is left alone.
    live = ":".join([owner[0], str(os.getpid()), *owner[2:]])
    engine = make_engine(url)
    with session_factory(engine)() as s:
        s.add(WeeklyPlan(tenant="default", name="store-7", week="2026-W49", status="running",
                         owner=live, lease_until=utcnow() + timedelta(minutes=30)))
        s.commit()
    engine.dispose()
    with pytest.raises(BundleoptError, match="being planned"):
        run_week(cfg, "2026-W49", db_url=url, tenant=DEFAULT_TENANT)


def test_plan_run_prints_the_solve_summary_and_exports_follow_the_umask(
        tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    url = f"sqlite:///{tmp_path / 'u.db'}"
    r = subprocess.run(["sh", "-c", f"umask 022 && exec {PYTHON} -m bundleopt plan run "
                        f"{cfg} --week 2026-W48 --db {url}"], capture_output=True, text=True,
                       cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    for line in ("status      optimal", "objective", "offers", "profit"):
        assert line in r.stdout
    out = tmp_path / "out" / "2026-W48"
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert {stat.S_IMODE((out / f).stat().st_mode) for f in ("plan.csv", "summary.json")} \
        == {0o644}
    again = _plan_run(cfg, "2026-W48", url)
    assert "status      optimal" in again.stdout and "already planned" in again.stdout


def test_the_shipped_example_weekly_config_runs_from_the_project_root(tmp_path: Path) -> None:
    (example,) = ROOT.glob("examples/*weekly.yaml")
    r = subprocess.run([PYTHON, "-m", "bundleopt", "plan", "run",
                        str(example.relative_to(ROOT)), "--week", "2026-W48", "--db",
                        f"sqlite:///{tmp_path / 'e.db'}", "--out", str(tmp_path / "w48")],
                       capture_output=True, text=True, cwd=ROOT,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert "status      optimal" in r.stdout
    assert (tmp_path / "w48" / "plan.csv").is_file()
