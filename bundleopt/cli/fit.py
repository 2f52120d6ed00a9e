"""``bundleopt fit`` and ``bundleopt simulate-data`` as click commands.

User mistakes raise the :mod:`formulations.errors` hierarchy, which the group prints
as one line (exit 2).
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from formulations.errors import ParameterError

from demand.fit import FitOptions, fit_scenario
from demand.options import SIMULATION_RANGES, choices, expected, whole_numbers
from demand.simulate import simulate_data as _simulate

from .options import (FLOAT, IN_DIR, INT, OUT_DIR, SEED, report_option,
                      write_report_after)


#: FitOptions field -> the help of its flag; the default and the range come from FitOptions.
FIT_HELP = {
    "segments": "K (cluster into K), 'given' (customers.csv segment_id) or 'auto' "
                "(given if the column exists, else K and features chosen on the validation slice).",
    "horizon_days": "Planning horizon; segment size = expected shopping occasions in it.",
    "max_bundles": "Cap on candidate bundles mined from baskets.",
    "max_products": "Transactions only: model the N products bought in most visits "
                    "(among products.csv's, if given).",
    "features": "Segments from customers.csv columns, behaviour (recency, frequency, spend, "
                "category mix), both, or latent (latent-class logit on purchases at prices). "
                "auto: try each of customers/behaviour/both the data has and keep what predicts "
                "the validation days best; latent when there is neither.",
    "holdout_from": "First held-out date (default: the last --holdout-fraction of days).",
    "holdout_fraction": "Share of days (or rows, without dates) held out when --holdout-from is not given.",
    "min_baskets": "Bundle mining: least number of baskets holding the whole bundle.",
    "min_support": "Bundle mining: also a least share of baskets (0 = only --min-baskets).",
    "min_lift": "Bundle mining: least lift (support over independence).",
    "min_obs": "Exposures a (segment, offer) needs to be estimated on its own, not shrunk.",
    "validation_days": "Last training days that choose K and the features (held out from the fit part).",
    "k_max": "Largest K tried.",
    "bootstrap": "Customer-bootstrap replicates for the WTP standard errors (wtp.csv wtp_sd); 0 = none.",
    "seed": "Seed of the split (without dates), the clustering and the bootstrap.",
    "periods": "Also forecast each segment's shoppers in each of this many periods after the data's "
               "last date (exponential smoothing): writes periods.csv and horizon: in scenario.yaml.",
    "period_days": "Days in a period with --periods (equal to --horizon-days: a segment's size is then "
                   "its shoppers per period).",
}
#: simulate_data keyword -> (flag, help); defaults and ranges come from demand.simulate.
SIMULATE_HELP = {
    "n_customers": ("--customers", "Customers to simulate."),
    "n_segments": ("--segments", "True segments."),
    "n_products": ("--products", "Products."),
    "n_days": ("--days", "Days of data."),
    "visits_per_week": ("--visits-per-week", "Visits per customer and week (Poisson)."),
    "kind": ("--kind", "A price-test log (exposures.csv) or purchases only (transactions.csv)."),
    "complements": ("--complements", "Transactions: number of product pairs bought together more "
                                     "than independence."),
    "seed": ("--seed", "Seed of everything drawn."),
}


def _option(flag: str, name: str, default: Any, help: str, allowed: list | None) -> Callable:
    """A click option whose default and range are the library's (``allowed``: its constraints)."""
    values = choices(allowed) if allowed else None
    if values:
        kind: Any = click.Choice(values)
    else:
        # the command line's own number types: finite, YAML 1.2 / JSON syntax, one error line
        kind = (SEED if name == "seed" else INT if isinstance(default, int) or whole_numbers(allowed or [])
                else FLOAT if isinstance(default, float) else str)
        words = expected(allowed) if allowed and kind is not str else None
        if words not in (None, "a number", "an integer"):      # a range worth showing
            help = f"{help} ({words})"
    return click.option(flag, name, default=default, show_default=default is not None, type=kind, help=help)


def _fit_options(command: Callable) -> Callable:
    """One flag per FIT_HELP entry, named after its field (``k_max`` is ``--k-max``)."""
    defaults = {f.name: f.default for f in dataclasses.fields(FitOptions)}
    for name, help in reversed(FIT_HELP.items()):
        # --segments is text ('auto', 'given' or K): FitOptions checks it once converted.
        allowed = None if name == "segments" else FitOptions.ranges[name]
        command = _option("--" + name.replace("_", "-"), name, defaults[name], help, allowed)(command)
    return command


def _simulate_options(command: Callable) -> Callable:
    params = inspect.signature(_simulate).parameters
    for name, (flag, help) in reversed(SIMULATE_HELP.items()):
        command = _option(flag, name, params[name].default, help, SIMULATION_RANGES.get(name))(command)
    return command


def _segments(value: str) -> str | int:
    """``--segments 3`` is K = 3; anything else FitOptions checks as it is."""
    try:
        return int(value)
    except ValueError:
        return value


@contextmanager
def _options_named_as_flags() -> Iterator[None]:
    """Errors name options by their field (``The 'k_max' option``); a command shows its flag.

    The one place a library option's name becomes the flag that set it, read from the
    running command's own options (``n_customers`` is ``--customers``).
    """
    flags = {p.name: p.opts[0] for p in click.get_current_context().command.params
             if isinstance(p, click.Option)}
    try:
        yield
    except ParameterError as err:
        text = re.sub(r"\b[Tt]he '(\w+)' option", lambda m: flags.get(m[1], m[0]), str(err))
        if text == str(err):
            raise
        raise ParameterError(text) from None


@click.command("fit")
@click.argument("data_dir", type=IN_DIR)
@click.option("--out", "out_dir", required=True, type=OUT_DIR,
              help="Scenario directory to write (plus customer_segments.csv, fit_report.json).")
@_fit_options
@click.option("--quiet", is_flag=True, help="No progress lines.")
@report_option("segments, WTP, held-out checks")
def fit(data_dir: str, out_dir: str, quiet: bool, make_report: bool = False, **options: Any) -> None:
    """Learn segments and willingness to pay from DATA_DIR and write a scenario."""
    opts = FitOptions(**{**options, "segments": _segments(options["segments"])})
    progress = (lambda m: None) if quiet else (lambda m: click.echo(m, err=True))
    with _options_named_as_flags():
        result = fit_scenario(data_dir, out_dir, opts, progress)
    rep = result.report
    line = (f"wrote {out_dir}: {len(result.scenario.segments)} segments (K chosen: {rep['chosen_k']}), "
            f"{len(result.scenario.bundles)} offers ({len(rep['bundles'])} mined bundles)")
    ho = rep.get("holdout")
    if ho:
        base = ho["baselines"]["segment_offer_rate"]
        line += (f"; held-out log-loss {ho['model']['log_loss']:.4f} (no-price baseline "
                 f"{base['log_loss']:.4f}), AUC {_fmt(ho['model']['auc'])} (baseline {_fmt(base['auc'])})")
    season = rep.get("season")
    if season:
        bt = season["backtest"]
        line += (f"; periods.csv: {season['periods']} periods of {season['period_days']} days, backtest WAPE "
                 + (f"{_fmt_pct(bt['wape']['ses'])} (naive last value {_fmt_pct(bt['wape']['naive_last_value'])})"
                    if "wape" in bt else "skipped (too few periods)"))
    click.echo(line)
    if make_report:
        write_report_after(Path(out_dir))


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _fmt_pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


@click.command("simulate-data")
@click.option("--out", "out_dir", required=True, type=OUT_DIR,
              help="Data directory to write (with truth.json and truth_segments.csv).")
@_simulate_options
def simulate_data(out_dir: str, **options: Any) -> None:
    """Write synthetic demand data whose true segments and WTP are known."""
    with _options_named_as_flags():
        files, truth = _simulate(out_dir, **options)
    click.echo(f"wrote {out_dir}: " + ", ".join(f"{len(v)} {k}" for k, v in files.items())
               + f"; truth shares {json.dumps({k: round(v, 3) for k, v in truth.shares.items()})}")
