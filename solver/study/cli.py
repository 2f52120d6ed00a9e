"""``bundleopt sweep``, ``explain`` and ``robustness``: thin shells over solver.study."""
from __future__ import annotations

from pathlib import Path

import click

_DIR = click.Path(file_okay=False, path_type=Path)


def _money(v) -> str:
    return "—" if v is None else f"{v:,.2f}"


@click.command()
@click.argument("scenario_dir", type=_DIR)
@click.option("--set", "sets", multiple=True, required=True, metavar="KEY=V1,V2,...",
              help="A setting to vary and its values, e.g. constraints.max_offers=5,10,20 or "
                   "scale.wtp=0.9,1.1. Lists go in brackets: constraints.must_offer=[A,B],[C]. "
                   "Several --set make a grid.")
@click.option("--out", "out_dir", required=True, type=_DIR,
              help="Folder for results.csv, frontier.csv and one folder per variant.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool on this machine; ray: a Ray cluster.")
@click.option("--address", default=None,
              help="Ray cluster to join (e.g. ray://head:10001); default: start a local one.")
@click.option("--workers", type=int, default=None,
              help="Variants solved at once (default: this machine's cores).")
@click.option("--time-limit", type=float, default=None, help="Seconds per variant.")
@click.option("--backend", type=click.Choice(["highs", "cpsat"]), default=None,
              help="Solver for every variant (default: scenario.yaml).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def sweep(scenario_dir: Path, sets, out_dir: Path, executor: str, address, workers, time_limit,
          backend, quiet) -> None:
    """Solve SCENARIO_DIR once per combination of the --set values.

    Writes OUT/results.csv (one row per variant: the values used, status, objective,
    bound, gap, revenue, profit, units, shoppers' surplus, offers, solve time),
    OUT/frontier.csv (which variants are best on both profit and shoppers' surplus),
    and OUT/<variant>/plan.csv and summary.json as `bundleopt solve` writes them.
    A variant that is infeasible or whose value is not allowed is a row saying so.
    """
    from formulations.loading import load_scenario
    from solver.api import _check_options

    from .sweep import SolveSettings, Study, parse_grid

    axes = parse_grid(sets)
    _check_options(time_limit, None, None)
    scenario = load_scenario(scenario_dir)
    study = Study.grid(scenario, axes)

    def progress(done: int, total: int, best) -> None:
        if not quiet:
            b = "—" if best is None else f"{_money(best.result.objective)} ({best.name})"
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
