"""How the command line prints money, shares, progress and a solve's summary."""
from __future__ import annotations

import threading
from pathlib import Path

import click


def money(v: float | None) -> str:
    return "—" if v is None else f"{v:,.2f}"


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


class ProgressPrinter:
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
        click.echo(f"  {p.elapsed:7.1f}s  best plan {money(p.objective):>14}  "
                   f"bound {money(p.bound):>14}", err=True)


def format_summary(result, out_dir: Path | None = None) -> str:
    """A short, readable table of what the solve found."""
    s = result.summary
    lines = [f"status      {result.status}" + (f"  (gap {result.gap:.4%})" if result.gap else "")]
    if s.get("stopped_by") == "time_limit" and result.has_plan:
        lines[0] += "  — stopped by the time limit before proving it optimal"
    if result.has_plan:
        k = s["kpis"]
        lines += [
            f"objective   {money(result.objective)}  ({s['objective_sense']}; bound {money(result.bound)})",
            f"revenue     {money(k['revenue'])}   profit {money(k['profit'])}   "
            f"margin {pct(k['margin'])}   units {k['units']:,.1f}",
            f"offers      {k['offers_on_sale']} on sale, {len(result.plan)} plan rows",
            f"binding     {', '.join(s['binding_constraints']) or 'none'}",
        ]
        if s.get("horizon"):
            lines.append(f"season      {len(s['horizon']['periods'])} periods; salvage value "
                         f"{money(s.get('salvage_value'))} of the stock left")
            sq = s.get("status_quo") or {}
            if sq.get("objective") is not None:
                lines.append(f"status quo  {money(sq['objective'])} holding {sq['source']} all season "
                             f"({sq['label']}); this plan {money(sq.get('plan_minus_status_quo'))} more")
        lines += _plan_rows(result.plan.sort_values("expected_profit", ascending=False).head(TOP_ROWS))
        if len(result.plan) > TOP_ROWS:
            lines.append(f"... {len(result.plan) - TOP_ROWS} more rows in plan.csv")
    else:
        why = result.no_plan_message
        lines.append(why if why.startswith("no plan") else f"no plan: {why}")
        if result.status == "infeasible":
            lines += [f"  {n}" for n in s.get("notes", [])]
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
    wp = max([6] + [len(str(p)) for p in top["period"]]) + 2 if "period" in top else 0
    out = ["", f"{'#':>3}  " + (f"{'period':<{wp}}" if wp else "") + f"{'segment':<{ws}}{'price':>10}" + (f"{'list':>10}{'off':>7}" if has_list else "")
           + f"{'units':>12}{'profit':>14}  offer"]
    for i, r in enumerate(top.itertuples(), 1):
        offer = str(r.bundle_id)
        parts = getattr(r, "components", None)
        if isinstance(parts, str) and parts.replace(" + ", "+") != offer:
            offer += f"  ({parts})"
        out.append(f"{i:>3}  " + (f"{str(r.period):<{wp}}" if wp else "") + f"{str(r.segment_id):<{ws}}{r.price:>10,.2f}"
                   + (f"{r.list_price:>10,.2f}{pct(r.discount):>7}" if has_list else "")
                   + f"{r.expected_units:>12,.1f}{r.expected_profit:>14,.2f}  {offer}")
    return out


