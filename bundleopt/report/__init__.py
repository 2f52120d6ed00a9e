"""``bundleopt report``: one self-contained HTML page for whatever a run folder holds.

A folder can hold a solve (``summary.json`` [+ ``plan.csv``]), a fit
(``fit_report.json`` + the scenario it wrote), and what-if study outputs
(``results.csv``, ``frontier.csv``, ``rule_costs.csv``, ``moves.csv``,
``robustness.json``); the report has a part for each it finds. Everything it shows is
read from those files, so a report can be made again later from the folder alone.
"""
from __future__ import annotations

from pathlib import Path

from formulations.errors import InputError

from formulations.files import atomic_write_text
from solver.run_folder import PLAN_FILE, REPORT_FILE, SUMMARY_FILE
from . import fit_report, solve_report, study_report
from .page import Page

REPORT_NAME = REPORT_FILE
KINDS = (("solve", solve_report), ("fit", fit_report), ("study", study_report))


def detect(run_dir: str | Path) -> list[str]:
    """The kinds of output ``run_dir`` holds: ``solve``, ``fit``, ``study`` (maybe several)."""
    d = Path(run_dir)
    if not d.is_dir():
        raise InputError(str(run_dir), "is not a folder")
    kinds = [name for name, mod in KINDS if mod.found(d)]
    if "solve" not in kinds and (d / PLAN_FILE).is_file():
        raise InputError(f"{d}/{SUMMARY_FILE}", "missing: a solve's folder holds it next to plan.csv")
    if not kinds:
        raise InputError(str(run_dir), "holds nothing to report on: no summary.json (solve), fit_report.json "
                                       "(fit), results.csv / frontier.csv (sweep), rule_costs.csv / moves.csv "
                                       "(explain) or robustness.json")
    return kinds


def build_report(run_dir: str | Path, currency: str = "") -> str:
    """The report's HTML (plotly.js inlined once; no network needed to open it)."""
    d = Path(run_dir)
    kinds = detect(d)
    titles = {"solve": "Plan", "fit": "Demand fit", "study": "What-if study"}
    page = Page(title=" · ".join(titles[k] for k in kinds) + f" — {d.resolve().name}",
                subtitle=f"bundleopt report of {d.resolve()}")
    for name, mod in KINDS:
        if name in kinds:
            try:
                mod.add_sections(page, d, currency)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
                if isinstance(e, InputError):
                    raise
                # a file that parses but does not hold what its command writes (edited by hand?)
                raise InputError(f"{d.name}/{mod.MAIN_FILE}", f"unexpected content ({type(e).__name__}: {e})") from None
    return page.render()


def write_report(run_dir: str | Path, out: str | Path | None = None, currency: str = "") -> Path:
    """Write the report (default ``RUN_DIR/report.html``) atomically; nothing is written on error."""
    text = build_report(run_dir, currency)
    target = Path(out) if out is not None else Path(run_dir) / REPORT_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, text)
    return target
