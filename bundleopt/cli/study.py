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
@click.option("--yes", "confirmed", is_flag=True,
              help="Run a sweep of more than 500 variants (each is a full solve).")
@report_option("the frontier and results as charts")
def sweep(scenario_dir: Path, sets, out_dir: Path, executor: str, address, workers, time_limit,
          backend, quiet, confirmed, make_report) -> None:
    """Solve SCENARIO_DIR once per combination of the --set values.

    Writes OUT/results.csv (one row per variant: the values used, status, objective,
    bound, gap, revenue, profit, units, shoppers' surplus, offers, solve time),
    OUT/frontier.csv (which variants are best on both profit and shoppers' surplus),
    and OUT/<variant>/plan.csv and summary.json as `bundleopt solve` writes them.
    A variant that is infeasible or whose value is not allowed is a row saying so.
    Each variant's row and folder are written as it finishes. More than 500
    variants need --yes.
    """
    import math

    from formulations.loading import load_scenario

    from bundleopt.study.executors import make_executor
    from bundleopt.study.sweep import SolveSettings, Study, check_size, parse_grid

    axes = parse_grid(sets)
    check_flags(time_limit=time_limit)
    check_size(math.prod(len(v) for v in axes.values()), confirmed)
    ex = make_executor(executor, workers=workers, address=address)
    _note(ex, quiet)
    scenario = load_scenario(scenario_dir)
    study = Study.grid(scenario, axes)
    if not quiet:
        click.echo(f"solving {len(study.variants)} variants; {out_dir}/results.csv gains a row as each "
                   "finishes", err=True)

    def progress(done: int, total: int, best) -> None:
        if not quiet:
            b = "—" if best is None else f"{money(best.result.objective)} ({best.name})"
            click.echo(f"  {done}/{total} variants done, best so far {b}", err=True)

    run = study.run(ex, settings=SolveSettings(backend=backend, time_limit=time_limit),
                    progress=progress, out_dir=out_dir)
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

    from bundleopt.study.executors import make_executor
    from bundleopt.study.explain import rule_costs
    from bundleopt.study.files import write_csv
    from bundleopt.study.moves import moves
    from bundleopt.study.plans import read_plan, refuse_season
    from bundleopt.study.sweep import SolveSettings

    check_flags(time_limit=time_limit)
    scenario = load_scenario(scenario_dir)
    refuse_season(scenario, "explain")
    plan = read_plan(plan_dir, scenario)
    ex = make_executor(executor, workers=workers, address=address)
    _note(ex, quiet)
    with ex:
        costs = rule_costs(scenario, plan, executor=ex,
                           settings=SolveSettings(time_limit=time_limit, explain=False))
        mv = moves(scenario, plan, executor=ex)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / "rule_costs.csv", costs)
    write_csv(out_dir / "moves.csv", mv)
    if not quiet:
        _say_breaks(dict(zip(costs["rule"], costs["plan_breaks"])))
        for r in costs[costs["status"] != "not_solved"].itertuples():
            cost = None if r.cost != r.cost else r.cost          # NaN: no cost (the solve failed)
            click.echo(f"{r.rule:<28} costs {money(cost):>14}   ({r.status})")
        better = mv[mv["delta"] > 0]
        click.echo(f"{len(mv)} moves scored, {len(better)} earn more "
                   f"({(better['breaks'] != '').sum()} of those break a rule)")
        click.echo(f"written     {out_dir}/rule_costs.csv, moves.csv")


def _say_breaks(broken: dict) -> None:
    """The plan's broken rules, before any figure about it (nothing for a valid plan)."""
    from bundleopt.study.plans import breaks_sentence

    line = breaks_sentence([v for v in broken.values() if v])
    if line:
        click.echo(line)


def _note(ex, quiet: bool) -> None:
    """The executor's word on what it changed (workers capped at the cores)."""
    note = getattr(ex, "note", None)
    if note and not quiet:
        click.echo(f"note: {note}", err=True)


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
    from formulations.loading import load_scenario

    from bundleopt.study.files import write_json
    from bundleopt.study.plans import read_plan, refuse_season
    from bundleopt.study.robustness import check_draws, robustness as run

    check_draws(draws)                      # before reading anything; the plan's width later
    scenario = load_scenario(scenario_dir)
    refuse_season(scenario, "robustness")
    plan = read_plan(plan_dir, scenario)
    res = run(scenario, plan, draws=draws, seed=seed, wtp_cv=wtp_cv)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "robustness.json", res)
    if not quiet:
        _say_breaks(res["plan_breaks"])
        click.echo(f"{res['objective_sense']} over {draws} draws: mean {money(res['mean'])}  "
                   f"p5 {money(res['p5'])}  p50 {money(res['p50'])}  p95 {money(res['p95'])}  "
                   f"(plan as estimated: {money(res['plan_objective'])})")
        risky = {p: x for p, x in res["stockout_probability"].items() if x > 0}
        if risky:
            top = sorted(risky.items(), key=lambda kv: -kv[1])[:5]
            click.echo("stockout risk  " + ", ".join(f"{p} {x:.0%}" for p, x in top))
        click.echo(f"written     {out_dir}/robustness.json")
