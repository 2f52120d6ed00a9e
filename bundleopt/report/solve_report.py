"""The report of one solve: plan.csv + summary.json, as a merchandiser signs a plan off."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from solver.run_folder import PLAN_FILE, SUMMARY_FILE
from solver.status import no_plan_message

from .files import read_csv, read_json
from .page import Column, Page, esc, is_missing, kpis, money, number, pct, short, table
from .season_report import add_season_sections, is_season

PLAN_REQUIRED = ("bundle_id", "segment_id", "price", "expected_units", "expected_revenue", "expected_profit")
PLAN_NUMERIC = ("price", "expected_units", "expected_revenue", "expected_profit", "list_price",
                "discount", "margin", "previous_price")
MAX_BARS = 40             # offers drawn in a bar chart; the table always lists every row
#: What a status with a plan means; one without a plan says why (solver.status.no_plan_message)
STATUS_WORDS = {
    "optimal": "proven best plan under the rules",
    "feasible": "a valid plan, not proven best",
}

MAIN_FILE = SUMMARY_FILE


def found(run_dir: Path) -> bool:
    return (run_dir / SUMMARY_FILE).is_file()


def read(run_dir: Path) -> tuple[dict, pd.DataFrame | None]:
    summary = read_json(run_dir / SUMMARY_FILE, required=("status",))
    plan = None
    if (run_dir / PLAN_FILE).is_file():
        plan = read_csv(run_dir / PLAN_FILE, PLAN_REQUIRED, PLAN_NUMERIC,
                        text=("period", "bundle_id", "segment_id", "components"))
    return summary, plan


def add_sections(page: Page, run_dir: Path, currency: str) -> None:
    summary, plan = read(run_dir)
    add_plan_sections(page, summary, plan, currency)


def plan_frame(rows: list[dict]) -> pd.DataFrame:
    """plan.csv's rows held as records (the service stores them so) as :func:`read` reads
    the file: numbers numeric, ids and components text."""
    plan = pd.DataFrame(rows)
    for col in PLAN_NUMERIC:
        if col in plan:
            plan[col] = pd.to_numeric(plan[col], errors="coerce")
    for col in ("period", "bundle_id", "segment_id", "components"):
        if col in plan:
            plan[col] = plan[col].astype(str)
    return plan


def add_plan_sections(page: Page, summary: dict, plan: pd.DataFrame | None,
                      currency: str, plan_table: bool = True) -> None:
    """The report's sections of a summary and plan already read (a run folder's, or a
    plan the service stored: its web app shows these same charts, with its own plan
    table — ``plan_table=False`` leaves the report's out)."""
    cur = currency or "currency"
    page.section("Headline", _headline(summary, plan), note=_time_sentence(summary))
    if plan is None or plan.empty:
        conflict = summary.get("conflicting_constraints") or []
        page.section("Plan", f"<p>No plan in this folder (status {esc(summary['status'])})."
                     + (f" The rules that conflict: {esc(', '.join(conflict))}." if conflict else "") + "</p>")
        return
    plan = plan.reset_index(drop=True)
    plan["offer"] = [_offer_label(r) for r in plan.itertuples()]
    plan["audience"] = plan["segment_id"].map(lambda s: "everyone" if s == "*" else s)
    if plan_table:
        page.section("Plan", _plan_table(plan), note=f"{len(plan)} rows, as in plan.csv; money in "
                     + (currency or "the scenario's currency") + ".")
    season = is_season(summary) and "period" in plan
    if season:          # a row per period: the price path replaces the per-row bar charts
        add_season_sections(page, summary, plan, cur)
    else:
        top = plan.nlargest(MAX_BARS, "expected_profit").sort_index() if len(plan) > MAX_BARS else plan
        cut = f"The {MAX_BARS} rows with the most profit of {len(plan)}; the plan table has them all." \
            if len(plan) > MAX_BARS else ""
        page.section("Price against list price", page.chart(_price_chart(top, cur), _bar_height(len(top))), note=cut)
        page.section("Profit by offer", page.chart(_profit_chart(top, cur), _bar_height(len(top), 1)), note=cut)
    if summary.get("segments"):
        page.section("Segments: purchases and shoppers' surplus", page.chart(_segment_chart(summary, cur), 420),
                     note="Surplus: what shoppers would have paid (their WTP) above the price, summed over the segment.")
    if summary.get("products"):
        page.section("Inventory use", *_inventory(page, summary))
    page.section("Rules", _rules(page, summary))
    if "previous_price" in plan:
        first = plan[plan["period"] == plan["period"].iloc[0]] if season else plan
        page.section("Price changes against the previous plan" + (" (first period)" if season else ""),
                     _changes(page, first, summary, cur))


# ------------------------------------------------------------------ headline
def _headline(s: dict, plan) -> str:
    k = s.get("kpis") or {}
    sense = s.get("objective_sense", "profit")
    gap = s.get("gap")
    items = [
        ("Status", s["status"], STATUS_WORDS.get(s["status"]) or no_plan_message(s["status"], s)),
        ("Objective", money(s.get("objective")), f"{sense}; proven bound {money(s.get('bound'))}"),
        ("Revenue", money(k.get("revenue")), "expected sales value"),
        ("Profit", money(k.get("profit")), "revenue less cost of goods"),
        ("Margin", pct(k.get("margin")), "profit / revenue"),
        ("Units", number(k.get("units")), "expected units sold"),
        ("Offers on sale", number(k.get("offers_on_sale"), 0), f"{0 if plan is None else len(plan)} plan rows"),
        ("Gap", "—" if gap is None else pct(gap, 4), "how far the plan could be from the best possible"),
    ]
    facts = [f"{s.get('pricing', '')} pricing", f"{s.get('choice_model', '')} choice model",
             f"backend {s.get('backend', '')}", f"scenario {s.get('scenario', '')}"]
    return kpis(items) + f'<p class="note">{esc(", ".join(f for f in facts if f.split()[-1]))}</p>'


def _time_sentence(s: dict) -> str:
    limit, secs = s.get("time_limit"), s.get("solve_seconds")
    took = f"build {number(s.get('build_seconds'))} s, solve {number(secs)} s"
    if s.get("cancelled"):
        return f"The solve was cancelled ({took})."
    if limit is None:
        return f"No time limit was set ({took})."
    if s.get("stopped_by") == "time_limit":
        what = "no plan was found" if s["status"] == "no_solution" else \
            f"the best plan found is within {pct(s.get('gap'), 4)} of the proven bound"
        return f"The time limit of {number(limit)} s stopped the solve: {what} ({took})."
    return f"The time limit of {number(limit)} s was not reached ({took})."


# ------------------------------------------------------------------ plan
def _offer_label(r) -> str:
    parts = getattr(r, "components", None)
    return str(r.bundle_id) if is_missing(parts) or parts == r.bundle_id else f"{parts}"


def _offer_cell(r: dict) -> str:
    label = r["offer"]
    if label.replace(" + ", "+") == r["bundle_id"]:
        return esc(label)
    return f'{esc(label)}<br><span class="offer-id">{esc(r["bundle_id"])}</span>'


def _plan_table(plan: pd.DataFrame) -> str:
    rows = plan.to_dict(orient="records")
    for i, r in enumerate(rows, 1):
        r["n"] = i
        r["offer_cell"] = r
    cols = [Column("n", "#", str)]
    if "period" in plan:
        cols.append(Column("period", "Period", esc, numeric=False))
    cols += [Column("offer_cell", "Offer (components)", _offer_cell, numeric=False),
             Column("audience", "Audience", esc, numeric=False), Column("price", "Price", money)]
    if "list_price" in plan:
        cols.append(Column("list_price", "List price", money))
    if "discount" in plan:
        cols.append(Column("discount", "Discount", pct))
    if "previous_price" in plan:
        cols.append(Column("previous_price", "Previous price", money))
    cols += [Column("expected_units", "Units", number), Column("expected_revenue", "Revenue", money),
             Column("expected_profit", "Profit", money)]
    if "margin" in plan:
        cols.append(Column("margin", "Margin", pct))
    return table(rows, cols, "plan-table")


def _row_labels(plan: pd.DataFrame) -> list[str]:
    uniform = (plan["segment_id"] == "*").all()
    return [short(o) if uniform else f"{short(o, 48)} · {a}" for o, a in zip(plan["offer"], plan["audience"])]


def _bar_height(n: int, series: int = 2) -> int:
    return max(260, 90 + n * (14 + 8 * series))


def _price_chart(plan: pd.DataFrame, cur: str):
    import plotly.graph_objects as go

    labels = _row_labels(plan)
    fig = go.Figure()
    if "list_price" in plan:
        fig.add_bar(y=labels, x=plan["list_price"], name="list price", orientation="h", marker_color="#a0aec0",
                    hovertemplate="%{y}<br>list price %{x:,.2f}<extra></extra>")
    disc = plan["discount"] if "discount" in plan else pd.Series([None] * len(plan))
    fig.add_bar(y=labels, x=plan["price"], name="plan price", orientation="h", marker_color="#2b6cb0",
                customdata=[pct(d) for d in disc],
                hovertemplate="%{y}<br>price %{x:,.2f} (%{customdata} off)<extra></extra>")
    fig.update_layout(barmode="group", title="Plan price and list price per offer",
                      legend=dict(orientation="h", y=-0.15, yanchor="top", x=0))
    fig.update_xaxes(title_text=f"price ({cur})")
    fig.update_yaxes(title_text="offer", autorange="reversed")
    return fig


def _profit_chart(plan: pd.DataFrame, cur: str):
    import plotly.graph_objects as go

    p = plan.assign(label=_row_labels(plan)).sort_values("expected_profit", ascending=False)
    fig = go.Figure(go.Bar(y=p["label"], x=p["expected_profit"], orientation="h", marker_color="#38a169",
                           customdata=p[["expected_units", "expected_revenue"]].to_numpy(),
                           hovertemplate="%{y}<br>profit %{x:,.2f}<br>units %{customdata[0]:,.2f}"
                                         "<br>revenue %{customdata[1]:,.2f}<extra></extra>"))
    fig.update_layout(title="Expected profit by offer (largest first)")
    fig.update_xaxes(title_text=f"expected profit ({cur})")
    fig.update_yaxes(title_text="offer", autorange="reversed")
    return fig


def _segment_chart(s: dict, cur: str):
    from plotly.subplots import make_subplots

    seg = pd.DataFrame(s["segments"])
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Shoppers and expected purchases", "Shoppers' surplus"))
    fig.add_bar(x=seg["segment_id"], y=seg["size"], name="shoppers (segment size)", marker_color="#a0aec0",
                row=1, col=1)
    fig.add_bar(x=seg["segment_id"], y=seg["expected_purchases"], name="expected purchases",
                marker_color="#2b6cb0", row=1, col=1)
    fig.add_bar(x=seg["segment_id"], y=seg["surplus"], name="surplus", marker_color="#dd6b20", row=1, col=2)
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.25, x=0))
    fig.update_xaxes(title_text="segment")
    fig.update_yaxes(title_text="shoppers / purchases (units)", row=1, col=1)
    fig.update_yaxes(title_text=f"surplus ({cur})", row=1, col=2)
    return fig


def _inventory(page: Page, s: dict) -> tuple[str, str]:
    import plotly.graph_objects as go

    p = pd.DataFrame(s["products"])
    p["inventory"] = pd.to_numeric(p["inventory"], errors="coerce")
    names = p["name"] if "name" in p else pd.Series([""] * len(p))
    p["label"] = [short(n if isinstance(n, str) and n else pid, 40) for n, pid in zip(names, p["product_id"])]
    limited = p[p["inventory"].notna()]
    sold_unlimited = p[p["inventory"].isna() & (p["units"] > 0)]
    note = (f"{len(limited)} products have limited stock; {len(sold_unlimited)} more sell with no stock limit "
            "(not drawn).")
    if limited.empty:
        return "<p>No product has a stock limit in this scenario.</p>", ""
    limited = limited.sort_values("utilisation", ascending=False)
    fig = go.Figure()
    fig.add_bar(y=limited["label"], x=limited["inventory"], name="stock", orientation="h", marker_color="#cbd5e0",
                hovertemplate="%{y}<br>stock %{x:,.2f}<extra></extra>")
    fig.add_bar(y=limited["label"], x=limited["units"], name="expected units sold", orientation="h",
                marker_color="#805ad5", customdata=[pct(u) for u in limited["utilisation"]],
                hovertemplate="%{y}<br>units %{x:,.2f} (%{customdata} of stock)<extra></extra>")
    fig.update_layout(barmode="overlay", title="Expected units sold against stock (products with a stock limit)",
                      legend=dict(orientation="h", y=-0.15, yanchor="top", x=0))
    fig.update_xaxes(title_text="units")
    fig.update_yaxes(title_text="product", autorange="reversed")
    return page.chart(fig, _bar_height(len(limited), 1)), note


def _rules(page: Page, s: dict) -> str:
    import plotly.graph_objects as go

    imposed = s.get("constraints_imposed")
    binding = s.get("binding_constraints") or []
    rule_of = [b.split(":", 1)[0] for b in binding]
    counts = pd.Series(rule_of, dtype=object).value_counts()
    rules = list(dict.fromkeys(list(imposed or []) + list(counts.index)))
    if not rules:
        return "<p>The scenario imposes no rules.</p>"
    tags = "".join(f'<span class="tag{" bind" if r in counts else ""}">{esc(r)}'
                   f'{" — binds" + (f" ×{counts[r]}" if counts.get(r, 0) > 1 else "") if r in counts else ""}</span>'
                   for r in rules)
    detail = "".join(f"<li>{esc(b)}</li>" for b in binding)
    body = (f"<p>Rules imposed (red: binding — the plan is at its limit, so relaxing it could earn more):</p>"
            f"<p>{tags}</p>")
    if imposed is None:
        body += '<p class="note">This summary.json does not list the rules imposed; only binding ones are shown.</p>'
    if len(counts):
        rules = list(counts.index)
        fig = go.Figure(go.Bar(x=[counts[r] for r in rules], y=rules, orientation="h", marker_color="#e53e3e",
                               hovertemplate="%{y}: binds in %{x} places<extra></extra>"))
        fig.update_layout(title="Binding rules: in how many places each is at its limit")
        fig.update_xaxes(title_text="places where the rule is at its limit (count)", dtick=1)
        fig.update_yaxes(title_text="rule", autorange="reversed")
        body += page.chart(fig, _bar_height(len(rules), 1)) + f"<details><summary>binding, in detail</summary><ul>{detail}</ul></details>"
    return body


def _changes(page: Page, plan: pd.DataFrame, s: dict, cur: str) -> str:
    import plotly.graph_objects as go

    both = plan[plan["previous_price"].notna()].copy()
    new = plan[plan["previous_price"].isna()]
    dropped = s.get("previous_plan_dropped") or []
    body = (f"<p>On sale before: {len(both)} of these rows; new: {len(new)}"
            + (f"; no longer on sale: {len(dropped)} previous rows" if "previous_plan_dropped" in s else "")
            + ".</p>")
    if len(both):
        both["change"] = both["price"] / both["previous_price"] - 1.0
        if len(both) > MAX_BARS:
            body += f'<p class="note">The {MAX_BARS} largest changes of {len(both)} are drawn.</p>'
            both = both.loc[both["change"].abs().nlargest(MAX_BARS).index].sort_index()
        labels = _row_labels(both)
        fig = go.Figure(go.Bar(y=labels, x=both["change"], orientation="h",
                               marker_color=["#38a169" if c >= 0 else "#e53e3e" for c in both["change"]],
                               customdata=both[["previous_price", "price"]].to_numpy(),
                               hovertemplate="%{y}<br>%{customdata[0]:,.2f} → %{customdata[1]:,.2f} "
                                             "(%{x:+.1%})<extra></extra>"))
        fig.update_layout(title="Price change per offer against the previous plan", bargap=0.5)
        fig.update_xaxes(title_text="price change (% of the previous price)", tickformat="+.0%",
                         zeroline=True, zerolinecolor="#4a5568")
        fig.update_yaxes(title_text="offer", autorange="reversed")
        body += page.chart(fig, _bar_height(len(both), 1))
    if dropped:
        body += table([{**d, "audience": "everyone" if d.get("segment_id") == "*" else d.get("segment_id")}
                       for d in dropped],
                      [Column("components", "Offer no longer on sale", esc, numeric=False),
                       Column("bundle_id", "Offer id", esc, numeric=False),
                       Column("audience", "Audience", esc, numeric=False),
                       Column("price", "Previous price", money)], "dropped-table")
    return body
