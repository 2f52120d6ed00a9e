"""The report of a fit: fit_report.json plus the scenario files it wrote beside it."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .files import read_csv, read_json
from .page import Column, Page, absent, esc, kpis, number, paragraph, pct, short, table

MAX_HEAT_LABELS = 60      # offers named on the heat map's axis (hover names the rest)
MAX_HEAT_TEXT = 300       # cells that print their WTP

MAIN_FILE = "fit_report.json"


def found(run_dir: Path) -> bool:
    return (run_dir / "fit_report.json").is_file()


def _names(run_dir: Path) -> dict[str, str]:
    """product_id → name from products.csv's optional name column."""
    path = run_dir / "products.csv"
    if not path.is_file():
        return {}
    p = read_csv(path, ("product_id",), text=("product_id", "name"))
    if "name" not in p:
        return {}
    return {str(i): str(n) for i, n in zip(p["product_id"], p["name"]) if isinstance(n, str) and n}


def add_sections(page: Page, run_dir: Path, currency: str) -> None:
    rep = read_json(run_dir / "fit_report.json", required=("segments",))
    cur = currency or "currency"
    names = _names(run_dir)
    segs = pd.DataFrame(rep.get("segments") or [])
    ho = rep.get("holdout") or None
    data = rep.get("data") or {}
    model = (ho or {}).get("model") or {}
    page.section("Headline", kpis([
        ("Segments", str(len(segs)), (rep.get("segmentation") or {}).get("method", "") or "customer segments"),
        ("Customers", number(data.get("customers"), 0), "in the data"),
        ("Exposures", number(data.get("exposures"), 0), "chances to buy, at a price"),
        ("Held-out log-loss", "—" if not ho else f"{model.get('log_loss'):.4f}", "lower is better"),
        ("Held-out AUC", "—" if not ho or model.get("auc") is None else f"{model['auc']:.4f}", "higher is better"),
        ("Mined bundles", str(len(rep.get("bundles") or [])), "candidate offers from baskets"),
    ]), note=f"source {data.get('source', '?')}; horizon {number(rep.get('horizon_days'))} days; "
             f"segment size = {rep.get('size_method', '?')}.")
    page.section("Segments", _segments(page, segs))
    page.section("Segment profiles", _profiles(segs))
    page.section("Willingness to pay per segment and offer", _wtp(page, run_dir, rep, names, cur))
    page.section("Held-out calibration", _calibration(page, ho))
    page.section("Held-out scores against the baselines", _scores(page, ho))
    if "k_search" in rep:
        page.section("How many segments", _k_search(page, rep))
    page.section("Mined bundles", _bundles(page, rep, names))
    if rep.get("season"):
        page.section("Shoppers over the season", _season(page, rep["season"]),
                     note=f"{rep['season'].get('method', '')}. Unit: {rep['season'].get('unit', 'shoppers')}.")


def _segments(page: Page, segs: pd.DataFrame) -> str:
    import plotly.graph_objects as go

    if segs.empty:
        return "<p>No segments in this fit report.</p>"
    fig = go.Figure(go.Bar(x=segs["segment_id"], y=segs["size"], marker_color="#2b6cb0",
                           customdata=segs[["customers"]].to_numpy() if "customers" in segs else None,
                           hovertemplate="segment %{x}<br>size %{y:,.2f}"
                                         + ("<br>customers %{customdata[0]:,}" if "customers" in segs else "")
                                         + "<extra></extra>"))
    fig.update_layout(title="Segment size: expected shopping occasions in the horizon")
    fig.update_xaxes(title_text="segment", type="category")
    fig.update_yaxes(title_text="shoppers in the horizon (occasions)")
    cols = [Column("segment_id", "Segment", esc, numeric=False), Column("customers", "Customers", lambda v: number(v, 0)),
            Column("occasions", "Occasions", lambda v: number(v, 0)), Column("size", "Size", lambda v: number(v, 6)),
            Column("price_sensitivity", "Price sensitivity β", lambda v: number(v, 8)),
            Column("price_sensitivity_status", "β status", esc, numeric=False)]
    cols = [c for c in cols if c.key in segs]
    return page.chart(fig, 360) + table(segs.to_dict(orient="records"), cols, "segments-table")


def _profiles(segs: pd.DataFrame) -> str:
    if "profile" not in segs or segs["profile"].isna().all():
        return absent("Segment profiles (what characterises each segment)")
    prof = pd.DataFrame([p or {} for p in segs["profile"]], index=segs["segment_id"])
    rows = [{"feature": f, **{str(s): prof.at[s, f] for s in prof.index}} for f in prof.columns]
    cols = [Column("feature", "Feature", esc, numeric=False)] + [
        Column(str(s), f"segment {s}", lambda v: number(v, 4) if isinstance(v, (int, float)) else esc(v))
        for s in prof.index]
    return table(rows, cols, "profiles-table")


def _wtp(page: Page, run_dir: Path, rep: dict, names: dict, cur: str) -> str:
    import plotly.graph_objects as go

    path = run_dir / "wtp.csv"
    if path.is_file():
        w = read_csv(path, ("segment_id", "wtp"), ("wtp",), text=("segment_id", "bundle_id", "product_id"))
        key = "bundle_id" if "bundle_id" in w else "product_id"
        w = w.rename(columns={key: "offer"})
        source = "wtp.csv (what the solve uses, mined bundles included)"
    elif rep.get("estimates"):
        w = pd.DataFrame(rep["estimates"]).rename(columns={"offer_id": "offer"})
        source = "fit_report.json estimates"
    else:
        return "<p>No WTP in this folder.</p>"
    w["label"] = [_offer_name(o, names) for o in w["offer"]]
    grid = w.pivot_table(index="label", columns="segment_id", values="wtp", aggfunc="first", sort=False)
    many = len(grid.index) > MAX_HEAT_LABELS
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), y=[short(c, 50) for c in grid.index],
                               x=[str(s) for s in grid.columns], colorscale="Blues",
                               colorbar=dict(title=f"WTP ({cur})"), xgap=2, ygap=1,
                               texttemplate="%{z:,.2f}" if grid.size <= MAX_HEAT_TEXT else None,
                               hovertemplate="segment %{x}<br>%{y}<br>WTP %{z:,.2f}<extra></extra>"))
    fig.update_layout(title="Willingness to pay (blank: the segment never buys that offer)", margin=dict(t=100))
    fig.update_xaxes(title_text="segment", type="category", side="top")
    fig.update_yaxes(title_text="offer" + (f" ({len(grid.index)} offers: hover for names)" if many else ""),
                     type="category", autorange="reversed", showticklabels=not many)
    height = 700 if many else 160 + 24 * len(grid.index)
    return paragraph(f"From {source}.") + page.chart(fig, height)


def _offer_name(offer: str, names: dict) -> str:
    offer = str(offer)
    if offer.startswith("B:"):
        return " + ".join(names.get(p, p) for p in offer[2:].split("+"))
    return names.get(offer, offer)


def _calibration(page: Page, ho: dict | None) -> str:
    import plotly.graph_objects as go

    if not ho:
        return "<p>This fit held nothing out (no held-out data).</p>"
    cal = ho.get("calibration")
    if not cal:
        return absent("Held-out calibration by decile")
    c = pd.DataFrame(cal)
    top = float(max(c["predicted"].max(), c["observed"].max(), 1e-9)) * 1.05
    fig = go.Figure()
    fig.add_scatter(x=[0, top], y=[0, top], mode="lines", name="perfect calibration",
                    line=dict(dash="dash", color="#a0aec0"), hoverinfo="skip")
    fig.add_scatter(x=c["predicted"], y=c["observed"], mode="lines+markers", name="model, by decile",
                    marker=dict(size=9, color="#2b6cb0"), customdata=c[["decile", "n"]].to_numpy(),
                    hovertemplate="decile %{customdata[0]}<br>predicted %{x:.2%}<br>observed %{y:.2%}"
                                  "<br>%{customdata[1]:,} exposures<extra></extra>")
    fig.update_layout(title="Predicted against observed purchase rate on held-out data")
    fig.update_xaxes(title_text="predicted purchase rate (%)", tickformat=".0%", range=[0, top])
    fig.update_yaxes(title_text="observed purchase rate (%)", tickformat=".0%", range=[0, top])
    cols = [Column("decile", "Decile", lambda v: number(v, 0)), Column("predicted", "Predicted", lambda v: pct(v, 4)),
            Column("observed", "Observed", lambda v: pct(v, 4)), Column("n", "Exposures", lambda v: number(v, 0))]
    return page.chart(fig, 440) + table(c.to_dict(orient="records"), cols, "calibration-table")


def _scores(page: Page, ho: dict | None) -> str:
    from plotly.subplots import make_subplots

    if not ho:
        return "<p>This fit held nothing out (no held-out data).</p>"
    rows = [{"name": "fitted model", **ho["model"]}] + [
        {"name": {"offer_rate": "baseline: offer's rate",
                  "segment_offer_rate": "baseline: segment × offer rate"}.get(k, k), **v}
        for k, v in (ho.get("baselines") or {}).items()]
    df = pd.DataFrame(rows)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Log-loss (lower is better)", "AUC (higher is better)"))
    colors = ["#2b6cb0"] + ["#a0aec0"] * (len(df) - 1)
    fig.add_bar(x=df["name"], y=df["log_loss"], marker_color=colors, showlegend=False, row=1, col=1,
                hovertemplate="%{x}<br>log-loss %{y:.4f}<extra></extra>")
    fig.add_bar(x=df["name"], y=df["auc"], marker_color=colors, showlegend=False, row=1, col=2,
                hovertemplate="%{x}<br>AUC %{y:.4f}<extra></extra>")
    fig.update_xaxes(title_text="model")
    fig.update_yaxes(title_text="log-loss (nats)", row=1, col=1)
    fig.update_yaxes(title_text="AUC (0.5 = chance)", row=1, col=2)
    fig.update_layout(bargap=0.45)
    cols = [Column("name", "Model", esc, numeric=False), Column("log_loss", "Log-loss", lambda v: number(v, 6)),
            Column("auc", "AUC", lambda v: number(v, 6))]
    note = paragraph(f"{number(ho.get('n_exposures'), 0)} held-out exposures, "
                     f"{number(ho.get('n_purchases'), 0)} purchases. The baselines ignore the price: beating "
                     "the segment × offer rate shows the price response is real.")
    return note + page.chart(fig, 420) + table(rows, cols, "scores-table")


def _k_search(page: Page, rep: dict) -> str:
    import plotly.graph_objects as go

    ks = rep.get("k_search") or []
    if not ks:
        return absent("The search over the number of segments")
    df = pd.DataFrame([{"k": r["k"], "validation": (r.get("validation") or {}).get("log_loss"),
                        "test": (r.get("test") or {}).get("log_loss"), "wtp_spread": r.get("wtp_spread")}
                       for r in ks])
    fig = go.Figure()
    fig.add_scatter(x=df["k"], y=df["validation"], mode="lines+markers", name="validation log-loss")
    fig.add_scatter(x=df["k"], y=df["test"], mode="lines+markers", name="test log-loss")
    if rep.get("chosen_k") is not None:
        fig.add_vline(x=rep["chosen_k"], line_dash="dot", annotation_text=f"chosen K = {rep['chosen_k']}")
    fig.update_layout(title="Held-out log-loss by number of segments")
    fig.update_xaxes(title_text="number of segments K", dtick=1)
    fig.update_yaxes(title_text="log-loss (nats per exposure)")
    rows = [{"k": r["k"], "v_ll": (r.get("validation") or {}).get("log_loss"), "v_auc": (r.get("validation") or {}).get("auc"),
             "t_ll": (r.get("test") or {}).get("log_loss"), "t_auc": (r.get("test") or {}).get("auc"),
             "wtp_spread": r.get("wtp_spread")} for r in ks]
    six = lambda v: number(v, 6)                     # noqa: E731
    cols = [Column("k", "K", lambda v: number(v, 0)), Column("v_ll", "Validation log-loss", six),
            Column("v_auc", "Validation AUC", six), Column("t_ll", "Test log-loss", six),
            Column("t_auc", "Test AUC", six), Column("wtp_spread", "WTP spread", lambda v: number(v, 4))]
    return page.chart(fig, 380) + table(rows, cols, "k-search-table")


def _season(page: Page, season: dict) -> str:
    """Shoppers per segment and period: the data's periods, the forecast (periods.csv), the backtest."""
    import plotly.graph_objects as go

    hist, fc = season.get("history") or {}, season.get("forecast") or {}
    fig = go.Figure()
    for i, (seg, ys) in enumerate((hist.get("occasions") or {}).items()):
        color = PALETTE[i % len(PALETTE)]
        fig.add_scatter(x=hist["period_start"], y=ys, mode="lines+markers", name=f"{seg} (data)",
                        line=dict(color=color), hovertemplate=f"{esc(seg)}<br>period from %{{x}}<br>"
                                                              "%{y:,.0f} shoppers<extra></extra>")
        size = (fc.get("size") or {}).get(seg)
        if size is not None:
            fig.add_scatter(x=fc["from"], y=[size] * len(fc["from"]), mode="lines+markers",
                            name=f"{seg} (forecast)", line=dict(color=color, dash="dash"),
                            hovertemplate=f"{esc(seg)}<br>period from %{{x}}<br>forecast %{{y:,.1f}}<extra></extra>")
    fig.update_layout(title=f"Shoppers per period of {season.get('period_days')} days: the data and the "
                            f"{season.get('periods')} periods forecast (periods.csv)")
    fig.update_xaxes(title_text="first day of the period")
    fig.update_yaxes(title_text="shoppers (occasions) per period")
    bt = season.get("backtest") or {}
    if "wape" not in bt:
        return page.chart(fig, 420) + paragraph(f"Backtest skipped: {bt.get('skipped', 'not in this report')}.")
    rows = [{"segment_id": "all segments", "ses": bt["wape"]["ses"], "naive": bt["wape"]["naive_last_value"]}] + [
        {"segment_id": r["segment_id"], "ses": r["wape"]["ses"], "naive": r["wape"]["naive_last_value"]}
        for r in bt.get("segments") or []]
    cols = [Column("segment_id", "Segment", esc, numeric=False),
            Column("ses", "WAPE, exponential smoothing", lambda v: pct(v, 1)),
            Column("naive", "WAPE, naive last value", lambda v: pct(v, 1))]
    note = paragraph(f"Backtest: fitted on the first {bt.get('fitted_on_periods')} periods of the data, scored on "
                     f"its last {bt.get('holdout_periods')}; WAPE = Σ|actual − forecast| / Σ actual (lower is "
                     f"better); alpha {number(season.get('alpha'))} on all the data "
                     f"({number(bt.get('alpha'))} in the backtest).")
    return page.chart(fig, 420) + note + table(rows, cols, "season-backtest-table")


PALETTE = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#718096", "#b7791f")


def _bundles(page: Page, rep: dict, names: dict) -> str:
    import plotly.graph_objects as go

    b = pd.DataFrame(rep.get("bundles") or [])
    if b.empty:
        return "<p>No bundle was mined from the baskets (none passed the support and lift floors).</p>"
    b["name"] = [" + ".join(names.get(str(p), str(p)) for p in ps) for ps in b["products"]]
    fig = go.Figure(go.Scatter(x=b["support"], y=b["lift"], mode="markers+text" if len(b) <= 15 else "markers",
                               text=b["name"], textposition="top center", cliponaxis=False,
                               marker=dict(size=11, color="#dd6b20"),
                               hovertemplate="%{text}<br>support %{x:.3%}<br>lift %{y:.2f}<extra></extra>"))
    fig.update_layout(title="Mined bundles: how often bought together (support) and how much above chance (lift)")
    fig.update_xaxes(title_text="support (% of baskets)", tickformat=".1%")
    fig.update_yaxes(title_text="lift (× independence)")
    cols = [Column("name", "Bundle", esc, numeric=False), Column("bundle_id", "Offer id", esc, numeric=False),
            Column("baskets", "Baskets", lambda v: number(v, 0)), Column("support", "Support", lambda v: pct(v, 4)),
            Column("lift", "Lift", lambda v: number(v, 4)),
            Column("wtp_uplift", "WTP uplift", lambda v: number(v, 2)),
            Column("complementarity", "Complementarity", lambda v: number(v, 4))]
    cols = [c for c in cols if c.key in b]
    return page.chart(fig, 400) + table(b.to_dict(orient="records"), cols, "bundles-table")
