"""``bundleopt solve``, ``check`` and ``export``: one scenario, its plan or its model."""
from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path

import click

from formulations.errors import BundleoptError
from formulations.options import BACKENDS

from . import started
from .errors import EXIT_NO_PLAN
from .format import ProgressPrinter, format_summary
from .options import (FLOAT, IN_DIR, INT, OUT_DIR, OUT_FILE, check_flags, report_option,
                      write_report_after)


@click.command()
@click.argument("scenario_dir", type=IN_DIR)
@click.option("--out", "out_dir", required=True, type=OUT_DIR,
              help="Folder for plan.csv and summary.json (created if needed).")
@click.option("--backend", type=click.Choice(BACKENDS), default=None,
              help="Solver: highs (every scenario) or cpsat (first_choice only). "
                   "Default: scenario.yaml, else highs.")
@click.option("--time-limit", type=FLOAT, default=None,
              help="Stop after this many seconds (counted from the command's start) and "
                   "return the best plan found. Default: scenario.yaml's solver.time_limit, "
                   "else no limit.")
@click.option("--mip-gap", type=FLOAT, default=None,
              help="Stop once the plan is provably within this fraction of the best possible. "
                   "Default: scenario.yaml's solver.mip_gap, else 1e-6.")
@click.option("--threads", type=INT, default=None,
              help="Solver threads. Default: scenario.yaml's solver.threads, else the "
                   "solver's own choice (HiGHS decides; CP-SAT uses 8 workers).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@report_option("the plan's tables and charts")
def solve(scenario_dir: Path, out_dir: Path, backend, time_limit, mip_gap, threads, quiet,
          make_report) -> None:
    """Pick the offers and prices that earn the most under the scenario's rules.

    Reads SCENARIO_DIR (scenario.yaml, products.csv, bundles.csv, segments.csv,
    wtp.csv, optional prices.csv, previous_plan.csv, competitors.csv and, for a
    season, periods.csv and receipts.csv) and writes OUT_DIR/plan.csv (what to sell,
    to whom, at what price; per period for a season) and OUT_DIR/summary.json
    (status, objective, proven bound, KPIs, binding rules). Exit status: 0 plan written,
    1 no plan (infeasible or none found in time), 2 bad input.
    """
    from formulations.loading import load_scenario

    from solver.api import solve as run_solve

    check_flags(time_limit=time_limit, mip_gap=mip_gap, threads=threads)
    scenario = load_scenario(scenario_dir)
    printer = ProgressPrinter(quiet)
    # the time limit counts from the command's start: imports and loading count too
    result = run_solve(scenario, backend=backend, time_limit=time_limit, mip_gap=mip_gap,
                       threads=threads, progress=printer, started=started())
    if result.threads_note:
        click.echo(f"note: {result.threads_note}", err=True)
    result.write(out_dir)
    if not quiet:
        click.echo(format_summary(result, out_dir))
    if make_report:
        write_report_after(out_dir, quiet)
    if not result.has_plan:
        sys.exit(EXIT_NO_PLAN)


@click.command()
@click.argument("scenario_dir", type=IN_DIR)
def check(scenario_dir: Path) -> None:
    """Check that a scenario folder is complete and valid, without solving it."""
    from formulations.build import build_model
    from formulations.loading import load_scenario

    sc = load_scenario(scenario_dir)
    built = build_model(sc)
    m = built.model
    click.echo(f"ok: {len(sc.products)} products, {len(sc.bundles)} candidate offers, "
               f"{len(sc.segments)} segments; {sc.pricing} {sc.choice_model}, objective {sc.objective}")
    click.echo(f"rules: {', '.join(sc.constraints.active()) or 'none'}")
    if sc.is_season:
        h = sc.horizon
        click.echo(f"season: {h.periods} periods ({h.labels[0]} … {h.labels[-1]}), salvage {h.salvage:g}; "
                   f"{len(sc.periods)} periods.csv rows, {len(sc.receipts)} receipts")
    if len(sc.competitors):
        click.echo(f"competitors: {len(sc.competitors)} prices")
    per = " per period" if sc.is_season else ""
    arcs = sum(len(s.arcs) for s in built.spaces) if sc.is_season else len(built.space.arcs)
    click.echo(f"model: {len(built.space.points)} price points{per}, {arcs} choice arcs, "
               f"{m.num_cols} variables, {m.num_rows} constraints")
    removed = [f"{n:,} by {why}" for why, n in built.space.pruned.items() if n]
    click.echo("pruned: " + ("; ".join(removed) + " (price points)" if removed else "nothing"))
    for b, why in built.space.no_price.items():
        click.echo(f"warning: must_offer {b} has no price left after {', '.join(why)}")


@click.command()
@click.argument("scenario_dir", type=IN_DIR)
@click.option("--out", "out_file", required=True, type=OUT_FILE,
              help="Model file to write: .lp or .mps.")
def export(scenario_dir: Path, out_file: Path) -> None:
    """Write the scenario's MIP as an LP or MPS file (via Pyomo), for other solvers."""
    from formulations.build import build_model
    from formulations.loading import load_scenario

    if out_file.suffix.lower() not in (".lp", ".mps"):
        raise BundleoptError(f"--out must end in .lp or .mps, got '{out_file.name}'")
    sc = load_scenario(scenario_dir)
    t0 = time.perf_counter()
    pm = build_model(sc).model.to_pyomo()
    # Pyomo writes as it goes: into a sibling first (same suffix, which picks the
    # format), renamed into place whole, so a failed export leaves no half a model
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(f".{out_file.stem}.{secrets.token_hex(6)}{out_file.suffix}")
    try:
        pm.write(str(tmp), io_options={"symbolic_solver_labels": True})
        os.replace(tmp, out_file)
    finally:
        tmp.unlink(missing_ok=True)
    click.echo(f"wrote {out_file} ({time.perf_counter() - t0:.1f}s)")

