"""Reports of what-if studies (the sweep / explain / robustness commands' output files).

Formats (docs/whatif, issue 10): ``results.csv`` — one row per variant, the swept keys
first (named as given to ``--set``), then ``status, objective, bound, gap, revenue,
profit, units, surplus, offers, solve_seconds, variant``; ``frontier.csv`` — the swept
value, ``objective``, ``surplus``, ``pareto``; ``rule_costs.csv`` — ``rule,
objective_without, cost[, status, plan_breaks]``; ``moves.csv`` — ``bundle_id, audience, price, move,
new_price, objective_after, delta, breaks``; ``robustness.json`` — ``mean, p5, p50,
p95, stockout_probability`` (per product), ``segment_buy_rate`` (per segment)[,
``plan_breaks`` (rule → what the plan breaks)]. A plan that breaks rules is said so
above its figures.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from formulations.errors import InputError

from .files import read_csv, read_json
from .page import Column, Page, esc, money, number, pct, table

RESULT_COLUMNS = ("status", "objective", "bound", "gap", "revenue", "profit", "units", "surplus", "offers",
                  "solve_seconds", "variant")
FRONTIER_COLUMNS = ("objective", "surplus", "pareto")
MOVE_COLUMNS = ("bundle_id", "audience", "price", "move", "new_price", "objective_after", "delta", "breaks")
ROBUST_KEYS = ("mean", "p5", "p50", "p95", "stockout_probability", "segment_buy_rate")
FILES = ("results.csv", "frontier.csv", "rule_costs.csv", "moves.csv", "robustness.json")

MAIN_FILE = "results.csv / rule_costs.csv / moves.csv / robustness.json"


def found(run_dir: Path) -> bool:
    return any((run_dir / f).is_file() for f in FILES)


def add_sections(page: Page, run_dir: Path, currency: str) -> None:
    cur = currency or "currency"
    if (run_dir / "results.csv").is_file() or (run_dir / "frontier.csv").is_file():
        page.section("Sweep: one solve per variant", _sweep(page, run_dir, cur))
    if (run_dir / "rule_costs.csv").is_file():
        page.section("What each rule costs", _rule_costs(page, run_dir, cur),
                     note="cost = the objective without the rule − the plan's objective (what the rule gives up).")
    if (run_dir / "moves.csv").is_file():
        page.section("Why these prices: one move at a time", _moves(run_dir),
                     note="Each row changes one offer only, everything else as planned; delta = objective after − plan's.")
    if (run_dir / "robustness.json").is_file():
        page.section("Robustness to WTP error", _robustness(page, run_dir, cur))


_SURPLUS_HOVER = "%{meta} = %{text}<br>surplus %{x:,.2f}<br>objective %{y:,.2f}<extra></extra>"


def _bool(v) -> bool:
    return str(v).strip().lower() in ("true", "1", "yes")


def _sweep(page: Page, run_dir: Path, cur: str) -> str:
    import plotly.graph_objects as go

    body = ""
    results = None
    if (run_dir / "results.csv").is_file():
        results = read_csv(run_dir / "results.csv", ("status", "objective"),
                           ("objective", "bound", "gap", "revenue", "profit", "units", "surplus", "offers",
                            "solve_seconds"), text=("status", "variant"))
    if (run_dir / "frontier.csv").is_file():
        fr = read_csv(run_dir / "frontier.csv", FRONTIER_COLUMNS, ("objective", "surplus"))
        swept = [c for c in fr.columns if c not in FRONTIER_COLUMNS]
        if not swept:
            raise InputError("frontier.csv", "has no column for the swept value", row=1)
        key = swept[0]
        fr["pareto"] = fr["pareto"].map(_bool)
        x = pd.to_numeric(fr[key], errors="coerce")
        xs = x if x.notna().all() else fr[key].astype(str)
        order = fr.assign(_x=xs).sort_values("_x") if x.notna().all() else fr.assign(_x=xs)
        fig = go.Figure()
        fig.add_scatter(x=order["_x"], y=order["objective"], mode="lines+markers", name="best objective",
                        line=dict(color="#2b6cb0"), meta=key,
                        hovertemplate="%{meta} = %{x}<br>objective %{y:,.2f}<extra></extra>")
        par = order[order["pareto"]]
        fig.add_scatter(x=par["_x"], y=par["objective"], mode="markers", name="Pareto-optimal",
                        marker=dict(size=13, symbol="star", color="#dd6b20"), hoverinfo="skip")
        fig.update_layout(title=f"Objective as {key} varies")
        fig.update_xaxes(title_text=f"{key} (swept value)")
        if x.notna().all() and (x == x.round()).all():
            fig.update_xaxes(dtick=1 if x.max() - x.min() <= 20 else None)
        fig.update_yaxes(title_text=f"objective ({cur})")
        body += page.chart(fig, 400)
        fig2 = go.Figure()
        fig2.add_scatter(x=fr["surplus"], y=fr["objective"], mode="markers", name="variant",
                         text=fr[key].astype(str), marker=dict(size=10, color="#a0aec0"),
                         meta=key, hovertemplate=_SURPLUS_HOVER)
        fig2.add_scatter(x=par["surplus"], y=par["objective"], mode="markers", name="Pareto-optimal",
                         marker=dict(size=13, symbol="star", color="#dd6b20"), text=par[key].astype(str),
                         meta=key, hovertemplate=_SURPLUS_HOVER)
        fig2.update_layout(title="Profit against shoppers' total surplus")
        fig2.update_xaxes(title_text=f"shoppers' total surplus ({cur})")
        fig2.update_yaxes(title_text=f"objective ({cur})")
        body += page.chart(fig2, 400)
    if results is not None:
        swept = [c for c in results.columns if c not in RESULT_COLUMNS]
        cols = [Column(c, c, esc) for c in swept] + [
            Column("status", "Status", esc, numeric=False), Column("objective", "Objective", money),
            Column("gap", "Gap", lambda v: pct(v, 4)), Column("revenue", "Revenue", money),
            Column("profit", "Profit", money), Column("units", "Units", number),
            Column("surplus", "Surplus", money), Column("offers", "Offers", lambda v: number(v, 0)),
            Column("solve_seconds", "Solve s", number), Column("variant", "Variant folder", esc, numeric=False)]
        cols = [c for c in cols if c.key in results]
        body += table(results.to_dict(orient="records"), cols, "results-table")
    return body


def _rule_costs(page: Page, run_dir: Path, cur: str) -> str:
    import plotly.graph_objects as go

    rc = read_csv(run_dir / "rule_costs.csv", ("rule", "objective_without", "cost"), ("objective_without", "cost"),
                  text=("rule", "plan_breaks"))
    if rc.empty:
        return "<p>The scenario imposes no rule.</p>"
    broken = rc["plan_breaks"].fillna("").tolist() if "plan_breaks" in rc else []
    warning = _breaks_warning([b for b in broken if b])
    rc = rc.assign(plan_breaks=broken) if broken else rc
    r = rc.sort_values("cost", ascending=False)
    fig = go.Figure(go.Bar(y=r["rule"], x=r["cost"], orientation="h", marker_color="#e53e3e",
                           customdata=r[["objective_without"]].to_numpy(),
                           hovertemplate="%{y}<br>costs %{x:,.2f}<br>objective without it %{customdata[0]:,.2f}"
                                         "<extra></extra>"))
    fig.update_layout(title="What each rule costs: objective given up by imposing it")
    fig.update_xaxes(title_text=f"cost of the rule ({cur})")
    fig.update_yaxes(title_text="rule", autorange="reversed")
    cols = [Column("rule", "Rule", esc, numeric=False), Column("objective_without", "Objective without it", money),
            Column("cost", "Cost", money)]
    if broken:
        cols.append(Column("plan_breaks", "What the plan breaks", esc, numeric=False))
    return warning + page.chart(fig, max(260, 90 + 30 * len(r))) + table(r.to_dict(orient="records"), cols,
                                                                          "rule-costs-table")


def _breaks_warning(broken: list[str]) -> str:
    """The plan's broken rules, said before any figure about it ("" for a valid plan)."""
    if not broken:
        return ""
    return ('<p class="absent" data-plan-breaks="yes">The plan breaks rules of the scenario: '
            + esc("; ".join(broken)) + ". Every figure here is for a plan the scenario does not allow.</p>")


def _moves(run_dir: Path) -> str:
    mv = read_csv(run_dir / "moves.csv", MOVE_COLUMNS, ("price", "new_price", "objective_after", "delta"),
                  text=("bundle_id", "audience", "move", "breaks"))
    mv["audience"] = mv["audience"].map(lambda a: "everyone" if a == "*" else a)
    cols = [Column("bundle_id", "Offer", esc, numeric=False), Column("audience", "Audience", esc, numeric=False),
            Column("price", "Price", money), Column("move", "Move", esc, numeric=False),
            Column("new_price", "New price", money), Column("objective_after", "Objective after", money),
            Column("delta", "Change", money), Column("breaks", "Rules it would break", esc, numeric=False)]
    return table(mv.to_dict(orient="records"), cols, "moves-table")


def _per_key(v, what: str, key: str) -> pd.Series:
    """A per-product / per-segment figure given as {id: value} or [{id_key: ..., value}]."""
    if isinstance(v, dict):
        return pd.Series(v, dtype=float)
    if isinstance(v, list) and all(isinstance(r, dict) for r in v):
        df = pd.DataFrame(v)
        ids = [c for c in df.columns if c.endswith("_id")]
        vals = [c for c in df.columns if c not in ids]
        if ids and vals:
            return pd.Series(df[vals[0]].to_numpy(float), index=df[ids[0]].astype(str))
    raise InputError("robustness.json", f"'{key}' must map each {what} to a number", field=key)


def _robustness(page: Page, run_dir: Path, cur: str) -> str:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rb = read_json(run_dir / "robustness.json", required=ROBUST_KEYS)
    for k in ("mean", "p5", "p50", "p95"):
        if not isinstance(rb[k], (int, float)):
            raise InputError("robustness.json", f"'{k}' must be a number", field=k)
    breaks = rb.get("plan_breaks") or {}
    if not isinstance(breaks, dict):
        raise InputError("robustness.json", "'plan_breaks' must map each rule to what the plan breaks",
                         field="plan_breaks")
    stock = _per_key(rb["stockout_probability"], "product", "stockout_probability")
    buy = _per_key(rb["segment_buy_rate"], "segment", "segment_buy_rate")
    fig = go.Figure()
    fig.add_scatter(x=[rb["p5"], rb["p95"]], y=["objective", "objective"], mode="lines", name="5 %–95 % range",
                    line=dict(width=14, color="#bee3f8"), hoverinfo="skip")
    for name, key, sym in (("5th percentile", "p5", "line-ns-open"), ("median", "p50", "diamond"),
                           ("mean", "mean", "circle"), ("95th percentile", "p95", "line-ns-open")):
        fig.add_scatter(x=[rb[key]], y=["objective"], mode="markers", name=name,
                        marker=dict(size=16, symbol=sym, line=dict(width=3)),
                        meta=name, hovertemplate="%{meta} %{x:,.2f}<extra></extra>")
    if isinstance(rb.get("plan_objective"), (int, float)):
        fig.add_vline(x=rb["plan_objective"], line_dash="dot", annotation_text="plan as estimated")
    fig.update_layout(title="The plan's objective over WTP draws", legend=dict(orientation="h", y=-0.4, x=0))
    fig.update_xaxes(title_text=f"objective ({cur})")
    fig.update_yaxes(title_text="", showticklabels=False)
    body = _breaks_warning([str(v) for v in breaks.values()]) + page.chart(fig, 300)
    fig2 = make_subplots(rows=1, cols=2, subplot_titles=("Chance of running out, per product",
                                                         "Share of each segment that buys"))
    fig2.add_bar(x=stock.index.astype(str), y=stock.to_numpy(), marker_color="#e53e3e", showlegend=False, row=1, col=1,
                 hovertemplate="%{x}<br>%{y:.1%}<extra></extra>")
    fig2.add_bar(x=buy.index.astype(str), y=buy.to_numpy(), marker_color="#2b6cb0", showlegend=False, row=1, col=2,
                 hovertemplate="%{x}<br>%{y:.1%}<extra></extra>")
    fig2.update_xaxes(title_text="product", row=1, col=1)
    fig2.update_xaxes(title_text="segment", row=1, col=2)
    fig2.update_yaxes(title_text="stock-out probability (%)", tickformat=".0%", row=1, col=1)
    fig2.update_yaxes(title_text="buy rate (% of the segment)", tickformat=".0%", row=1, col=2)
    body += page.chart(fig2, 420)
    rows = [{"stat": n, "value": rb[k]} for n, k in (("mean", "mean"), ("5th percentile", "p5"),
                                                      ("median", "p50"), ("95th percentile", "p95"))]
    body += table(rows, [Column("stat", "Objective", esc, numeric=False), Column("value", f"Value ({cur})", money)],
                  "robustness-table")
    return body
