"""``bundleopt sweep``, ``explain`` and ``robustness``: thin shells over bundleopt.study."""
from __future__ import annotations

from pathlib import Path

import click

from formulations.options import BACKENDS

from .format import money
from .options import FLOAT, IN_DIR, OUT_DIR, SEED, check_flags, report_option, write_report_after



@click.command()
@click.argument("scenario_dir", type=IN_DIR)
@click.option("--set", "sets", multiple=True, required=True, metavar="KEY=V1,V2,...",
              help="A setting to vary and its values, e.g. constraints.max_offers=5,10,20 or "
                   "scale.wtp=0.9,1.1. Lists go in brackets: constraints.must_offer=[A,B],[C]. "
                   "Several --set make a grid.")
@click.option("--out", "out_dir", required=True, type=OUT_DIR,
              help="Folder for results.csv, frontier.csv and one folder per variant.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool on this machine; ray: a Ray cluster.")
@click.option("--address", default=None,
              help="Ray cluster to join (e.g. ray://head:10001); default: start a local one.")
@click.option("--workers", type=int, default=None,
              help="Variants solved at once (default: this machine's cores).")
@click.option("--time-limit", type=FLOAT, default=None, help="Seconds per variant.")
@click.option("--backend", type=click.Choice(BACKENDS), default=None,
              help="Solver for every variant (default: scenario.yaml).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@report_option("the frontier and results as charts")
def sweep(scenario_dir: Path, sets, out_dir: Path, executor: str, address, workers, time_limit,
          backend, quiet, make_report) -> None:
    """Solve SCENARIO_DIR once per combination of the --set values.

    Writes OUT/results.csv (one row per variant: the values used, status, objective,
    bound, gap, revenue, profit, units, shoppers' surplus, offers, solve time),
    OUT/frontier.csv (which variants are best on both profit and shoppers' surplus),
    and OUT/<variant>/plan.csv and summary.json as `bundleopt solve` writes them.
    A variant that is infeasible or whose value is not allowed is a row saying so.
    """
    from formulations.loading import load_scenario

    from bundleopt.study.sweep import SolveSettings, Study, parse_grid

    axes = parse_grid(sets)
    check_flags(time_limit=time_limit)
    scenario = load_scenario(scenario_dir)
    study = Study.grid(scenario, axes)

    def progress(done: int, total: int, best) -> None:
        if not quiet:
            b = "—" if best is None else f"{money(best.result.objective)} ({best.name})"
            click.echo(f"  {done}/{total} variants done, best so far {b}", err=True)

    run = study.run(executor, workers=workers, address=address,
                    settings=SolveSettings(backend=backend, time_limit=time_limit),
                    progress=progress)
    run.write(out_dir)
    if not quiet:
        counts = run.results["status"].value_counts().to_dict()
        click.echo(f"{len(run.variants)} variants: "
                   + ", ".join(f"{n} {s}" for s, n in counts.items()))
        click.echo(f"written     {out_dir}/results.csv, frontier.csv, <variant>/")
    if make_report:
        write_report_after(out_dir, quiet)


_EXECUTOR_OPTIONS = [
    click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                 help="local: a process pool on this machine; ray: a Ray cluster."),
    click.option("--address", default=None, help="Ray cluster to join; default: start a local one."),
    click.option("--workers", type=int, default=None, help="Solves at once (default: cores)."),
]


def _executor_options(fn):
    for opt in reversed(_EXECUTOR_OPTIONS):
        fn = opt(fn)
    return fn


@click.command()
@click.argument("scenario_dir", type=IN_DIR)
@click.option("--plan", "plan_dir", required=True, type=IN_DIR,
              help="Folder holding the plan.csv to explain (what `bundleopt solve --out` wrote).")
@click.option("--out", "out_dir", required=True, type=OUT_DIR,
              help="Folder for rule_costs.csv and moves.csv.")
@_executor_options
@click.option("--time-limit", type=FLOAT, default=None, help="Seconds per solve without a rule.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def explain(scenario_dir: Path, plan_dir: Path, out_dir: Path, executor, address, workers,
            time_limit, quiet) -> None:
    """Say what each rule costs and why each price is what it is.

    OUT/rule_costs.csv: for every rule in scenario.yaml's constraints, the best
    objective without it and its cost (that minus the plan's objective).
    OUT/moves.csv: what the plan would earn if one offer moved a price step up or
    down, came off sale, or (for offers not on sale) was added at its best price —
    everything else unchanged — and which rules that move would break.
    """
    from formulations.loading import load_scenario
    from formulations.files import atomic_write_text

    from bundleopt.study.executors import make_executor
    from bundleopt.study.explain import rule_costs
    from bundleopt.study.moves import moves
    from bundleopt.study.plans import read_plan
    from bundleopt.study.sweep import SolveSettings

    check_flags(time_limit=time_limit)
    scenario = load_scenario(scenario_dir)
    plan = read_plan(plan_dir, scenario)
    with make_executor(executor, workers=workers, address=address) as ex:
        costs = rule_costs(scenario, plan, executor=ex,
                           settings=SolveSettings(time_limit=time_limit, explain=False))
        mv = moves(scenario, plan, executor=ex)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "rule_costs.csv", costs.to_csv(index=False))
    atomic_write_text(out_dir / "moves.csv", mv.to_csv(index=False))
    if not quiet:
        for r in costs.itertuples():
            click.echo(f"{r.rule:<28} costs {money(r.cost):>14}   ({r.status})")
        better = mv[mv["delta"] > 0]
        click.echo(f"{len(mv)} moves scored, {len(better)} earn more "
                   f"({(better['breaks'] != '').sum()} of those break a rule)")
        click.echo(f"written     {out_dir}/rule_costs.csv, moves.csv")


@click.command()
@click.argument("scenario_dir", type=IN_DIR)
@click.option("--plan", "plan_dir", required=True, type=IN_DIR,
              help="Folder holding the plan.csv to test (what `bundleopt solve --out` wrote).")
@click.option("--draws", type=int, default=1000, show_default=True, help="How many WTP draws.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Random seed (same seed, same draws).")
@click.option("--wtp-cv", type=FLOAT, default=None,
              help="WTP standard deviation as a share of the WTP, where wtp.csv has no wtp_sd "
                   "(default: 0, i.e. such WTPs are taken as exact).")
@click.option("--out", "out_dir", required=True, type=OUT_DIR, help="Folder for robustness.json.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def robustness(scenario_dir: Path, plan_dir: Path, draws: int, seed: int, wtp_cv, out_dir: Path,
               quiet) -> None:
    """Re-score a plan on random draws of the shoppers' willingness to pay.

    Writes OUT/robustness.json: the objective's mean and 5th/50th/95th percentiles
    over the draws, each product's chance of selling more than its inventory, and
    the share of each segment's shoppers who buy.
    """
    import json

    from formulations.loading import load_scenario
    from formulations.files import atomic_write_text

    from bundleopt.study.plans import read_plan
    from bundleopt.study.robustness import robustness as run

    scenario = load_scenario(scenario_dir)
    plan = read_plan(plan_dir, scenario)
    res = run(scenario, plan, draws=draws, seed=seed, wtp_cv=wtp_cv)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "robustness.json", json.dumps(res, indent=2) + "\n")
    if not quiet:
        click.echo(f"{res['objective_sense']} over {draws} draws: mean {money(res['mean'])}  "
                   f"p5 {money(res['p5'])}  p50 {money(res['p50'])}  p95 {money(res['p95'])}  "
                   f"(plan as estimated: {money(res['plan_objective'])})")
        risky = {p: x for p, x in res["stockout_probability"].items() if x > 0}
        if risky:
            top = sorted(risky.items(), key=lambda kv: -kv[1])[:5]
            click.echo("stockout risk  " + ", ".join(f"{p} {x:.0%}" for p, x in top))
        click.echo(f"written     {out_dir}/robustness.json")
