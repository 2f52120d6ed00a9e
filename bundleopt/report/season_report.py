"""A season's pages of the solve report: prices over the periods, the stock running down,
profit per period, what is left and its salvage value, and the status quo held all
season (summary.json's ``status_quo``, a model estimate)."""
from __future__ import annotations

import pandas as pd

from .page import Column, Page, esc, kpis, money, number, short, table

MAX_LINES = 20      # offers / products drawn as lines; the tables list them all


def is_season(summary: dict) -> bool:
    return bool(summary.get("horizon"))


def add_season_sections(page: Page, summary: dict, plan: pd.DataFrame, cur: str) -> None:
    """The season sections (``plan`` has ``period``, ``offer`` and ``audience`` columns)."""
    labels = [str(t) for t in summary["horizon"]["periods"]]
    page.section("Season: price path per offer", *_price_path(page, plan, labels, cur))
    page.section("Season: profit per period", page.chart(_profit_per_period(summary, cur), 380),
                 note="Expected profit of the plan in each period; the status quo holds today's "
                      "prices all season (a model estimate).")
    stock = pd.DataFrame(summary.get("stock_by_period") or [])
    if len(stock):
        page.section("Season: stock run-down", *_stock_rundown(page, summary, stock, labels))
    page.section("Season: what is left", _left(summary))
    if summary.get("status_quo"):
        page.section("Season: against the status quo (model estimate)", _status_quo(summary))


def _price_path(page: Page, plan: pd.DataFrame, labels: list[str], cur: str) -> tuple[str, str]:
    import plotly.graph_objects as go

    plan = plan.assign(period=plan["period"].astype(str),
                       line=[o if a == "everyone" else f"{o} · {a}" for o, a in zip(plan["offer"], plan["audience"])])
    profit = plan.groupby("line", sort=False)["expected_profit"].sum().sort_values(ascending=False)
    shown = list(profit.index[:MAX_LINES])
    prices = plan.pivot_table(index="line", columns="period", values="price", aggfunc="first")
    prices = prices.reindex(index=shown, columns=labels)
    fig = go.Figure()
    for line, row in prices.iterrows():
        # a step per period; off sale is a gap in the line
        fig.add_scatter(x=labels, y=[None if pd.isna(v) else float(v) for v in row], name=short(line, 48),
                        mode="lines+markers", line_shape="hv", connectgaps=False, meta=line,
                        hovertemplate="%{meta}<br>period %{x}: %{y:,.2f}<extra></extra>")
    fig.update_layout(title="Price per offer and period (gaps: off sale)",
                      legend=dict(orientation="h", y=-0.2, yanchor="top", x=0))
    fig.update_xaxes(title_text="period", type="category", categoryorder="array", categoryarray=labels)
    fig.update_yaxes(title_text=f"price ({cur})")
    note = (f"The {MAX_LINES} offers with the most profit over the season of {len(profit)}; the plan "
            "table has every row." if len(profit) > MAX_LINES else "")
    return page.chart(fig, 460 + 18 * min(len(shown), MAX_LINES) // 2), note


def _profit_per_period(s: dict, cur: str):
    import plotly.graph_objects as go

    per = pd.DataFrame(s.get("periods") or [])
    fig = go.Figure()
    if len(per):
        fig.add_bar(x=per["period"].astype(str), y=per["profit"], name="this plan", marker_color="#2b6cb0",
                    hovertemplate="period %{x}<br>profit %{y:,.2f}<extra></extra>")
    sq = pd.DataFrame((s.get("status_quo") or {}).get("periods") or [])
    if len(sq):
        fig.add_bar(x=sq["period"].astype(str), y=sq["profit"], name="status quo (model estimate)",
                    marker_color="#a0aec0", hovertemplate="period %{x}<br>profit %{y:,.2f}<extra></extra>")
    fig.update_layout(barmode="group", title="Expected profit per period",
                      legend=dict(orientation="h", y=-0.2, yanchor="top", x=0))
    fig.update_xaxes(title_text="period", type="category")
    fig.update_yaxes(title_text=f"expected profit ({cur})")
    return fig


def _stock_rundown(page: Page, s: dict, stock: pd.DataFrame, labels: list[str]) -> tuple[str, str]:
    import plotly.graph_objects as go

    prod = pd.DataFrame(s.get("products") or [])
    names = dict(zip(prod["product_id"], prod.get("name", prod["product_id"]))) if len(prod) else {}
    start = dict(zip(prod["product_id"], prod["inventory"])) if len(prod) else {}
    total = stock.groupby("product_id", sort=False)["units"].sum().sort_values(ascending=False)
    shown = list(total.index[:MAX_LINES])
    x = ["start"] + labels
    fig = go.Figure()
    for pid in shown:
        rows = stock[stock["product_id"] == pid]
        rows = rows.set_index(rows["period"].astype(str)).reindex(labels)
        have = float(start.get(pid, float("nan")))
        label = names.get(pid) or pid
        fig.add_scatter(x=x, y=[have] + [float(v) for v in rows["left"]], name=short(label, 40),
                        mode="lines+markers", meta=str(label),
                        hovertemplate="%{meta}<br>%{x}: %{y:,.2f} in stock<extra></extra>")
    fig.update_layout(title="Stock on hand at the end of each period (start: the stock before period 1)",
                      legend=dict(orientation="h", y=-0.2, yanchor="top", x=0))
    fig.update_xaxes(title_text="period", type="category", categoryorder="array", categoryarray=x)
    fig.update_yaxes(title_text="units in stock", rangemode="tozero")
    note = "Receipts arrive at the start of their period. " + (
        f"The {MAX_LINES} products selling most of {len(total)} with a stock limit." if len(total) > MAX_LINES
        else f"{len(total)} products with a stock limit.")
    return page.chart(fig, 460), note


def _left(s: dict) -> str:
    left = s.get("stock_left") or []
    salvage = s.get("salvage_value")
    sigma = (s.get("horizon") or {}).get("salvage")
    head = (f"<p>Stock left at the end of the season: {number(sum(r['left'] for r in left))} units, "
            f"worth {money(salvage)} at salvage (σ = {number(sigma, 4)} × unit cost).</p>")
    if not left:
        return head + "<p>No product has a stock limit in this scenario.</p>"
    return head + table(left, [Column("product_id", "Product", esc, numeric=False),
                               Column("left", "Units left", number),
                               Column("salvage_value", "Salvage value", money)], "left-table")


def _status_quo(s: dict) -> str:
    sq = s["status_quo"]
    diff = sq.get("plan_minus_status_quo")
    body = kpis([
        ("This plan", money(s.get("objective")), f"{s.get('objective_sense', 'profit')} + salvage over the season"),
        ("Status quo", money(sq.get("objective")), f"holding {sq.get('source')} all season"),
        ("Difference", money(diff), "this plan less the status quo"),
        ("Status quo salvage", money(sq.get("salvage_value")), "value of its stock left"),
    ])
    body += (f"<p class=\"note\">A {esc(sq.get('label'))}: the status quo is scored by the same season "
             "model; where it would sell more than the stock, sales stop when stock runs out, period "
             "by period (offers sharing a product are cut alike; a shopper who finds an offer sold out "
             "buys nothing).</p>")
    outs = sq.get("stock_outs") or []
    if outs:
        first = pd.DataFrame(outs).drop_duplicates("product_id")
        body += "<p>Under the status quo, stock runs out: " + esc(", ".join(
            f"{p} in {t}" for p, t in zip(first["product_id"], first["period"]))) + ".</p>"
    if sq.get("breaks_rules"):
        body += "<p>The status quo breaks rules of the scenario: " + esc("; ".join(sq["breaks_rules"][:5])) + \
            (" …" if len(sq["breaks_rules"]) > 5 else "") + "</p>"
    per = pd.DataFrame(s.get("periods") or [])
    sqp = pd.DataFrame(sq.get("periods") or [])
    if len(per) and len(sqp):
        rows = [{"period": str(a), "plan": p, "sq": q, "diff": p - q, "sold_out": n}
                for a, p, q, n in zip(per["period"], per["objective"], sqp["objective"], sqp["sold_out"])]
        body += table(rows, [Column("period", "Period", esc, numeric=False),
                             Column("plan", "This plan", money), Column("sq", "Status quo", money),
                             Column("diff", "Difference", money),
                             Column("sold_out", "Products sold out (status quo)", lambda v: number(v, 0))],
                      "status-quo-table", caption="Objective per period (salvage counted once, at the end)")
    return body
