"""``bundleopt fit`` and ``bundleopt simulate-data`` as click commands.

User mistakes raise the :mod:`formulations.errors` hierarchy, which the group prints
as one line (exit 2).
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from formulations.errors import ParameterError

from demand.fit import FitOptions, fit_scenario
from demand.simulate import simulate_data as _simulate

from .options import (FLOAT, IN_DIR, INT, OUT_DIR, SEED, FiniteFloat, report_option,
                      write_report_after)


def _segments(value: str) -> str | int:
    if value in ("auto", "given"):
        return value
    try:
        k = int(value)
    except ValueError:
        raise ParameterError(f"--segments must be 'auto', 'given' or a number >= 1, got {value!r}") from None
    return k


@click.command("fit")
@click.argument("data_dir", type=IN_DIR)
@click.option("--out", "out_dir", required=True, type=OUT_DIR,
              help="Scenario directory to write (plus customer_segments.csv, fit_report.json).")
@click.option("--segments", default="auto", show_default=True,
              help="K (cluster into K), 'given' (customers.csv segment_id) or 'auto' "
                   "(given if the column exists, else K and features chosen on the validation slice).")
@click.option("--horizon-days", default=7.0, show_default=True, type=FLOAT,
              help="Planning horizon; segment size = expected shopping occasions in it.")
@click.option("--max-bundles", default=10, show_default=True, type=INT,
              help="Cap on candidate bundles mined from baskets.")
@click.option("--max-products", default=30, show_default=True, type=INT,
              help="Transactions only: model the N products bought in most visits "
                   "(among products.csv's, if given).")
@click.option("--features", default="auto", show_default=True,
              type=click.Choice(["auto", "customers", "behaviour", "both", "latent"]),
              help="Segments from customers.csv columns, behaviour (recency, frequency, spend, "
                   "category mix), both, or latent (latent-class logit on purchases at prices). "
                   "auto: try each of customers/behaviour/both the data has and keep what predicts "
                   "the validation days best; latent when there is neither.")
@click.option("--holdout-from", default=None, help="First held-out date (default: last 20% of days).")
@click.option("--holdout-fraction", default=0.2, show_default=True, type=FLOAT,
              help="Share of days (or rows, without dates) held out when --holdout-from is not given.")
@click.option("--min-baskets", default=30, show_default=True, type=INT,
              help="Bundle mining: least number of baskets holding the whole bundle.")
@click.option("--min-support", default=0.0, show_default=True, type=FLOAT,
              help="Bundle mining: also a least share of baskets (0 = only --min-baskets).")
@click.option("--min-lift", default=1.2, show_default=True, type=FLOAT,
              help="Bundle mining: least lift (support over independence).")
@click.option("--min-obs", default=30, show_default=True, type=INT,
              help="Exposures a (segment, offer) needs to be estimated on its own, not shrunk.")
@click.option("--validation-days", default=14, show_default=True, type=INT,
              help="Last training days that choose K and the features (held out from the fit part).")
@click.option("--k-max", default=8, show_default=True, type=INT, help="Largest K tried.")
@click.option("--bootstrap", default=200, show_default=True, type=INT,
              help="Customer-bootstrap replicates for the WTP standard errors (wtp.csv wtp_sd); 0 = none.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--quiet", is_flag=True, help="No progress lines.")
@report_option("segments, WTP, held-out checks")
def fit(data_dir: str, out_dir: str, segments: str, horizon_days: float, max_bundles: int,
        max_products: int, features: str, holdout_from: str | None, holdout_fraction: float,
        min_baskets: int, min_support: float, min_lift: float, min_obs: int, validation_days: int,
        k_max: int, bootstrap: int, seed: int, quiet: bool,
        make_report: bool = False) -> None:
    """Learn segments and willingness to pay from DATA_DIR and write a scenario."""
    opts = FitOptions(segments=_segments(segments), horizon_days=horizon_days, max_bundles=max_bundles,
                      max_products=max_products, features=features, holdout_from=holdout_from,
                      holdout_fraction=holdout_fraction, min_baskets=min_baskets, min_support=min_support,
                      min_lift=min_lift, min_obs=min_obs, validation_days=validation_days, k_max=k_max,
                      bootstrap=bootstrap, seed=seed)
    progress = (lambda m: None) if quiet else (lambda m: click.echo(m, err=True))
    result = fit_scenario(data_dir, out_dir, opts, progress)
    rep = result.report
    line = (f"wrote {out_dir}: {len(result.scenario.segments)} segments (K chosen: {rep['chosen_k']}), "
            f"{len(result.scenario.bundles)} offers ({len(rep['bundles'])} mined bundles)")
    ho = rep.get("holdout")
    if ho:
        base = ho["baselines"]["segment_offer_rate"]
        line += (f"; held-out log-loss {ho['model']['log_loss']:.4f} (no-price baseline "
                 f"{base['log_loss']:.4f}), AUC {_fmt(ho['model']['auc'])} (baseline {_fmt(base['auc'])})")
    click.echo(line)
    if make_report:
        write_report_after(Path(out_dir))


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


@click.command("simulate-data")
@click.option("--out", "out_dir", required=True, type=OUT_DIR,
              help="Data directory to write (with truth.json and truth_segments.csv).")
@click.option("--customers", "n_customers", default=2000, show_default=True, type=INT)
@click.option("--segments", "n_segments", default=3, show_default=True, type=INT)
@click.option("--products", "n_products", default=5, show_default=True, type=INT)
@click.option("--days", "n_days", default=56, show_default=True, type=INT)
@click.option("--visits-per-week", default=1.0, show_default=True,
              type=FiniteFloat(0, True, 1000))
@click.option("--kind", default="exposures", show_default=True, type=click.Choice(["exposures", "transactions"]),
              help="A price-test log (exposures.csv) or purchases only (transactions.csv).")
@click.option("--complements", default=0, show_default=True, type=INT,
              help="Transactions: number of product pairs bought together more than independence.")
@click.option("--seed", default=0, show_default=True, type=SEED)
def simulate_data(out_dir: str, n_customers: int, n_segments: int, n_products: int, n_days: int,
                          visits_per_week: float, kind: str, complements: int, seed: int) -> None:
    """Write synthetic demand data whose true segments and WTP are known."""
    files, truth = _simulate(out_dir, n_customers=n_customers, n_segments=n_segments,
                                 n_products=n_products, n_days=n_days, visits_per_week=visits_per_week,
                                 kind=kind, complements=complements, seed=seed)
    click.echo(f"wrote {out_dir}: " + ", ".join(f"{len(v)} {k}" for k, v in files.items())
               + f"; truth shares {json.dumps({k: round(v, 3) for k, v in truth.shares.items()})}")

