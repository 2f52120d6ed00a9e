"""``bundleopt report RUN_DIR [--out FILE]``: one HTML page of a solve, a fit or a study."""
from __future__ import annotations

from pathlib import Path

import click

from .options import IN_DIR, OUT_FILE


@click.command("report")
@click.argument("run_dir", type=IN_DIR)
@click.option("--out", "out_file", default=None, type=OUT_FILE,
              help="HTML file to write. Default: RUN_DIR/report.html.")
@click.option("--currency", default="", help="Currency shown on chart axes, e.g. NT$ or EUR.")
def report(run_dir: Path, out_file: Path | None, currency: str) -> None:
    """Write one HTML page with charts of a solve, a fit or a what-if study.

    RUN_DIR is what `solve --out`, `fit --out`, `sweep --out`, `explain --out` or
    `robustness --out` wrote. The page is a single file that opens from disk in any
    browser, with no network: plan table, price against list price, profit by offer,
    segments, stock use, binding rules, price changes; for a fit, segments, WTP heat
    map, held-out calibration and scores, mined bundles; for a study, its frontier,
    rule costs, moves and profit distribution.
    """
    from bundleopt.report import write_report

    path = write_report(run_dir, out_file, currency)
    click.echo(f"wrote {path}")

