"""The ``bundleopt`` command line: a thin shell over the Python API."""
from __future__ import annotations

import sys
import threading
import time

_STARTED = time.monotonic()     # --time-limit counts from here: loading counts too
from pathlib import Path

import click

from formulations.errors import BundleoptError

EXIT_OK, EXIT_NO_PLAN, EXIT_BAD_INPUT = 0, 1, 2


# Commands of the demand and service parts, imported only when used so that
# `bundleopt solve` does not pay for FastAPI, SQLAlchemy and scikit-learn.
LAZY_COMMANDS = {
    "fit": ("demand.cli", "fit"),
    "simulate-data": ("demand.cli", "simulate_data"),
    "serve": ("solver.service.cli", "serve"),
    "plan": ("solver.service.cli", "plan"),
    "report": ("solver.report.cli", "report"),
    "sweep": ("solver.study.cli", "sweep"),
    "explain": ("solver.study.cli", "explain"),
    "robustness": ("solver.study.cli", "robustness"),
}


class _Group(click.Group):
    """Loads the lazy commands; turns every user error into one line and exit status 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, name: str):
        if name in LAZY_COMMANDS:
            import importlib

            module, attr = LAZY_COMMANDS[name]
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)

    def main(self, *args, **kwargs):
        # --time-limit counts from the command's start. A process's first command started
        # when this module was imported (imports and loading count); a later one in the
        # same process (tests, notebooks) starts now, not when the module was imported.
        global _STARTED
        if _Group._invoked:
            _STARTED = time.monotonic()
        _Group._invoked = True
        return super().main(*args, **kwargs)

    _invoked = False

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BundleoptError as err:
            click.echo(f"error: {err}", err=True)
            ctx.exit(getattr(err, "exit_code", EXIT_BAD_INPUT))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bundleopt")
def main() -> None:
    """Decide which bundles to sell, to whom, and at what price.

    \b
    Typical week:
      bundleopt fit DATA_DIR --out SCENARIO_DIR     learn segments and willingness to pay
      bundleopt solve SCENARIO_DIR --out OUT_DIR    pick offers and prices (plan.csv)
      bundleopt serve                               run the solver service
    """


class _ProgressPrinter:
    """Prints incumbent, bound and elapsed time, but only once a solve is slow (> 2 s)."""

    def __init__(self, quiet: bool, every: float = 1.0, after: float = 2.0) -> None:
        self.quiet, self.every, self.after = quiet, every, after
        self.last = 0.0
        self.latest = None
        self.lock = threading.Lock()

    def __call__(self, p) -> None:
        with self.lock:
            self.latest = p
            if self.quiet or p.elapsed < self.after or p.elapsed - self.last < self.every:
                return
            self.last = p.elapsed
        click.echo(f"  {p.elapsed:7.1f}s  best plan {_money(p.objective):>14}  "
                   f"bound {_money(p.bound):>14}", err=True)


def _money(v) -> str:
    return "—" if v is None else f"{v:,.2f}"


def _pct(v) -> str:
    return "—" if v is None else f"{v:.1%}"


@main.command()
@click.argument("scenario_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for plan.csv and summary.json (created if needed).")
@click.option("--backend", type=click.Choice(["highs", "cpsat"]), default=None,
              help="Solver: highs (every scenario) or cpsat (first_choice only). "
                   "Default: scenario.yaml, else highs.")
@click.option("--time-limit", type=float, default=None,
              help="Stop after this many seconds (counted from the command's start) and "
                   "return the best plan found. Default: scenario.yaml's solver.time_limit, "
                   "else no limit.")
@click.option("--mip-gap", type=float, default=None,
              help="Stop once the plan is provably within this fraction of the best possible. "
                   "Default: scenario.yaml's solver.mip_gap, else 1e-6.")
@click.option("--threads", type=int, default=None,
              help="Solver threads. Default: scenario.yaml's solver.threads, else the "
                   "solver's own choice (HiGHS decides; CP-SAT uses 8 workers).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option("--report", "make_report", is_flag=True,
              help="Also write OUT_DIR/report.html: the plan's tables and charts, opens in a browser.")
def solve(scenario_dir: Path, out_dir: Path, backend, time_limit, mip_gap, threads, quiet,
          make_report) -> None:
    """Pick the offers and prices that earn the most under the scenario's rules.

    Reads SCENARIO_DIR (scenario.yaml, products.csv, bundles.csv, segments.csv,
    wtp.csv, optional prices.csv and previous_plan.csv) and writes OUT_DIR/plan.csv
    (what to sell, to whom, at what price) and OUT_DIR/summary.json (status,
    objective, proven bound, KPIs, binding rules). Exit status: 0 plan written,
    1 no plan (infeasible or none found in time), 2 bad input.
    """
    from formulations.loading import load_scenario

    from .api import solve as run_solve
    from .machine import clamp_threads

    check_flags(time_limit=time_limit, mip_gap=mip_gap, threads=threads)
    scenario = load_scenario(scenario_dir)
    _, threads_note = clamp_threads(threads if threads is not None else scenario.solver.threads)
    if threads_note:
        click.echo(f"note: {threads_note}", err=True)
    printer = _ProgressPrinter(quiet)
    # the time limit counts from the command's start: imports and loading count too
    result = run_solve(scenario, backend=backend, time_limit=time_limit, mip_gap=mip_gap,
                       threads=threads, progress=printer, started=_STARTED)
    result.write(out_dir)
    if not quiet:
        click.echo(format_summary(result, out_dir))
    if make_report:
        from .report.cli import write_after

        write_after(out_dir, quiet)
    if not result.has_plan:
        sys.exit(EXIT_NO_PLAN)


def check_flags(**values) -> None:
    """Out-of-range flags are named as typed (``--time-limit``), before anything is read."""
    from formulations.errors import ParameterError
    from formulations.options import option_problem

    for name, value in values.items():
        problem = option_problem(name, value)
        if problem is not None:
            flag = "--" + name.replace("_", "-")
            raise ParameterError(f"{flag} must be {problem}. Got {value!r} instead.")


def format_summary(result, out_dir: Path | None = None) -> str:
    """A short, readable table of what the solve found."""
    s = result.summary
    lines = [f"status      {result.status}" + (f"  (gap {result.gap:.4%})" if result.gap else "")]
    if s.get("stopped_by") == "time_limit" and result.has_plan:
        lines[0] += "  — stopped by the time limit before proving it optimal"
    if result.has_plan:
        k = s["kpis"]
        lines += [
            f"objective   {_money(result.objective)}  ({s['objective_sense']}; bound {_money(result.bound)})",
            f"revenue     {_money(k['revenue'])}   profit {_money(k['profit'])}   "
            f"margin {_pct(k['margin'])}   units {k['units']:,.1f}",
            f"offers      {k['offers_on_sale']} on sale, {len(result.plan)} plan rows",
            f"binding     {', '.join(s['binding_constraints']) or 'none'}",
        ]
        lines += _plan_rows(result.plan.sort_values("expected_profit", ascending=False).head(TOP_ROWS))
        if len(result.plan) > TOP_ROWS:
            lines.append(f"... {len(result.plan) - TOP_ROWS} more rows in plan.csv")
    elif result.status == "infeasible":
        conflict = s.get("conflicting_constraints") or []
        lines.append("no plan: the rules cannot all hold" +
                     (f" — conflict between {', '.join(conflict)}" if conflict else ""))
        for n in s.get("notes", []):
            lines.append(f"  {n}")
    else:
        lines.append("no plan found within the time limit")
    lines.append(f"time        build {result.build_seconds:.2f}s, solve {result.solve_seconds:.2f}s "
                 f"({result.backend})")
    if out_dir is not None:
        lines.append(f"written     {out_dir}/" + ("plan.csv, " if result.has_plan else "") + "summary.json")
    return "\n".join(lines)


TOP_ROWS = 8


def _plan_rows(top) -> list[str]:
    """The top plan rows, numbered; each offer's full id (and components) last, never cut."""
    ws = max([7] + [len(str(s)) for s in top["segment_id"]]) + 2
    has_list = "list_price" in top
    out = ["", f"{'#':>3}  {'segment':<{ws}}{'price':>10}" + (f"{'list':>10}{'off':>7}" if has_list else "")
           + f"{'units':>12}{'profit':>14}  offer"]
    for i, r in enumerate(top.itertuples(), 1):
        offer = str(r.bundle_id)
        parts = getattr(r, "components", None)
        if isinstance(parts, str) and parts.replace(" + ", "+") != offer:
            offer += f"  ({parts})"
        out.append(f"{i:>3}  {str(r.segment_id):<{ws}}{r.price:>10,.2f}"
                   + (f"{r.list_price:>10,.2f}{_pct(r.discount):>7}" if has_list else "")
                   + f"{r.expected_units:>12,.1f}{r.expected_profit:>14,.2f}  {offer}")
    return out


@main.command()
@click.argument("scenario_dir", type=click.Path(file_okay=False, path_type=Path))
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
    click.echo(f"model: {len(built.space.points)} price points, {len(built.space.arcs)} choice arcs, "
               f"{m.num_cols} variables, {m.num_rows} constraints")
    removed = [f"{n:,} by {why}" for why, n in built.space.pruned.items() if n]
    click.echo("pruned: " + ("; ".join(removed) + " (price points)" if removed else "nothing"))
    for b, why in built.space.no_price.items():
        click.echo(f"warning: must_offer {b} has no price left after {', '.join(why)}")


@main.command()
@click.argument("scenario_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
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
    pm.write(str(out_file), io_options={"symbolic_solver_labels": True})
    click.echo(f"wrote {out_file} ({time.perf_counter() - t0:.1f}s)")


if __name__ == "__main__":
    main()
