"""Time limits and cancellation stop a long solve early, with an honest status and bound.

The scenario (personalized, 150 candidate offers × 8 segments, offer caps) takes far
longer than the limits used here: measured on a 2-core box, HiGHS needs ~20 s to prove
the MNL version optimal and ~3 s for the first-choice version, against limits of 1 s.
Times are compared only with generous bounds (``limit × 1.5 + build + 1 s``): this
checks that the mechanism works, not how fast anything is.

Every solve runs in a child process. A solve stopped early must also let its process
exit cleanly — a solver thread left running would abort the interpreter at exit — and
that is only observable from outside.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from formulations.scenario import Constraints, Scenario
from formulations.validate import validate_scenario

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
TIME_LIMIT = 1.0
REL = 1e-6


def hard_scenario(choice_model: str = "mnl", *, n_offers: int = 150, n_segments: int = 8,
                  seed: int = 7) -> Scenario:
    """A personalized scenario with offer caps that does not solve within a second.

    40 products sold alone plus random 2–3 item bundles; every segment has a WTP for
    every offer (reference price × U(0.7, 1.3)); default 7-point ladder.
    """
    rng = np.random.default_rng(seed)
    n_products = 40
    pids = np.array([f"P{i:03d}" for i in range(n_products)])
    list_price = np.round(rng.uniform(2, 20, n_products), 2)
    products = pd.DataFrame({"unit_cost": np.round(list_price * rng.uniform(0.4, 0.7, n_products), 2),
                             "list_price": list_price, "inventory": np.nan},
                            index=pd.Index(pids, name="product_id"))
    parts = [[p] for p in pids]
    while len(parts) < n_offers:                  # ~110 draws: a loop over offers is fine
        k = int(rng.integers(2, 4))
        combo = sorted(rng.choice(pids, k, replace=False).tolist())
        if combo not in parts:
            parts.append(combo)
    bids = np.array(["+".join(c) for c in parts])
    lengths = np.array([len(c) for c in parts])
    comps = pd.DataFrame({"bundle_id": np.repeat(bids, lengths),
                          "product_id": np.concatenate(parts), "quantity": 1})
    bundles = pd.DataFrame({"complementarity": 0.0, "min_price": np.nan, "max_price": np.nan},
                           index=pd.Index(bids, name="bundle_id"))
    sids = np.array([f"s{i}" for i in range(n_segments)])
    segments = pd.DataFrame({"size": np.round(rng.uniform(100, 1000, n_segments)),
                             "price_sensitivity": rng.uniform(0.3, 1.2, n_segments)},
                            index=pd.Index(sids, name="segment_id"))
    ref = (comps["product_id"].map(products["list_price"]).groupby(comps["bundle_id"]).sum()
           .reindex(bids).to_numpy())
    s, b = np.divmod(np.arange(n_segments * len(bids)), len(bids))
    wtp = pd.DataFrame({"segment_id": sids[s], "bundle_id": bids[b],
                        "wtp": np.round(ref[b] * rng.uniform(0.7, 1.3, len(b)), 2),
                        "price_sensitivity": np.nan})
    sc = Scenario(products=products, components=comps, bundles=bundles, segments=segments,
                  wtp=wtp, pricing="personalized", choice_model=choice_model, name="hard",
                  constraints=Constraints(max_offers=20, max_offers_per_segment=5))
    return validate_scenario(sc, "hard")


CHILD = """
import json, sys, threading, time
sys.path[:0] = [{here!r}, {root!r}]
from test_time_limit import hard_scenario
from solver.api import solve

def run(sc, **kw):
    snaps = []
    t0 = time.perf_counter()
    r = solve(sc, progress=snaps.append, **kw)
    return {{"status": r.status, "objective": r.objective, "bound": r.bound,
             "summary_bound": r.summary["bound"], "build_seconds": r.build_seconds,
             "elapsed": time.perf_counter() - t0, "cancelled": r.cancelled,
             "plan_rows": len(r.plan), "violations": r.summary["violations"],
             "progress": [[p.elapsed, p.objective, p.bound] for p in snaps]}}

out = {{}}
{body}
print(json.dumps(out))
"""


def _child(body: str) -> tuple[dict, int, str]:
    code = CHILD.format(here=str(HERE), root=str(ROOT), body=body)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"child printed no result (exit {r.returncode}): {r.stderr[-2000:]}"
    return json.loads(lines[-1]), r.returncode, r.stderr


def _assert_stopped_honestly(res: dict, limit: float) -> None:
    assert res["status"] in ("feasible", "no_solution"), res["status"]
    assert res["elapsed"] <= limit * 1.5 + res["build_seconds"] + 1.0, res["elapsed"]
    if res["status"] == "feasible":
        assert res["objective"] is not None
        assert res["violations"] == []
        for bound in (res["bound"], res["summary_bound"]):
            assert bound is None or bound >= res["objective"] * (1 - REL) - REL, res
    else:
        assert res["objective"] is None and res["plan_rows"] == 0


def _assert_progress_consistent(progress: list) -> None:
    times = [p[0] for p in progress]
    assert times == sorted(times)
    for _, obj, bound in progress:
        if obj is not None and bound is not None:
            assert bound >= obj * (1 - REL) - REL, (obj, bound)


def test_highs_time_limit_stops_mnl_solve() -> None:
    res, code, err = _child(f"out['r'] = run(hard_scenario('mnl'), time_limit={TIME_LIMIT})")
    r = res["r"]
    _assert_stopped_honestly(r, TIME_LIMIT)
    _assert_progress_consistent(r["progress"])
    assert code == 0, f"process did not exit cleanly (status {code}): {err[-500:]}"


def test_cancel_event_stops_highs_early() -> None:
    body = """
ev = threading.Event()
threading.Timer(0.5, ev.set).start()
out['r'] = run(hard_scenario('mnl'), cancel=ev)
"""
    res, code, err = _child(body)
    r = res["r"]
    assert r["cancelled"] is True
    # without the cancel this solve runs ~20 s; 0.5 s + build + a few seconds is "early"
    _assert_stopped_honestly(r, 0.5)
    _assert_progress_consistent(r["progress"])
    assert code == 0, f"process did not exit cleanly (status {code}): {err[-500:]}"


def simple_plan(sc: Scenario) -> pd.DataFrame:
    """A feasible plan: each segment is shown, at its list price, the offer within its
    WTP that earns most per sale. Its profit is a lower bound on the optimum."""
    ref, cost = sc.reference_prices(), sc.offer_costs()
    w = sc.wtp.assign(price=ref.reindex(sc.wtp["bundle_id"]).to_numpy(),
                      margin=(ref - cost).reindex(sc.wtp["bundle_id"]).to_numpy())
    w = w[w["wtp"] >= w["price"]].sort_values("margin", ascending=False)
    return w.drop_duplicates("segment_id")[["bundle_id", "segment_id", "price"]]


def test_cpsat_time_limit_and_bound_are_valid() -> None:
    body = f"""
from formulations.evaluate import evaluate_plan
from test_time_limit import simple_plan
sc = hard_scenario('first_choice')
ev = evaluate_plan(sc, simple_plan(sc))
out['lower'] = ev.objective if not ev.violations else None
out['r'] = run(sc, backend='cpsat', time_limit={TIME_LIMIT})
"""
    res, code, err = _child(body)
    lower, r = res["lower"], res["r"]
    assert lower is not None and lower > 0
    # a proven bound of a maximisation can never be below a plan that is feasible
    for bound in (r["bound"], r["summary_bound"]):
        assert bound is None or bound >= lower * (1 - REL), (bound, lower)
    if r["status"] == "feasible":
        assert r["objective"] <= r["bound"] * (1 + REL) + REL
    _assert_stopped_honestly(r, TIME_LIMIT)
    assert code == 0, f"process did not exit cleanly (status {code}): {err[-500:]}"


def test_cli_time_limit_exit_status_and_files(tmp_path: Path) -> None:
    from formulations import write_scenario

    scen, out = tmp_path / "hard", tmp_path / "out"
    write_scenario(hard_scenario("mnl"), scen)
    r = subprocess.run([sys.executable, "-m", "solver.cli", "solve", str(scen), "--out", str(out),
                        "--time-limit", str(TIME_LIMIT), "--quiet"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] in ("feasible", "no_solution")
    assert (out / "plan.csv").exists() == (summary["status"] == "feasible")
    assert r.returncode == (0 if summary["status"] == "feasible" else 1), (r.returncode, r.stderr[-500:])
    assert "terminate called" not in r.stderr
