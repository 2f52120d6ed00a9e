"""Markup in names, ids, rules and --currency never becomes markup in a report's charts.

Plotly renders a subset of HTML (``<a href>``, ``<b>``, ``<i>``, ``<br>``) in chart text,
so every string of every figure must reach it escaped. Checked two ways: every figure's
JSON as embedded in the page (no raw ``<`` outside our own hover templates, the user's
text present escaped), and in a real Chromium (no ``<a>`` element in any chart's SVG,
the text shown character for character).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import browser  # noqa: E402,F401  (the fixture)

from bundleopt.cli import main  # noqa: E402

LINK = '<a href="//c.example">Coupon</a>'         # short enough not to be cut on an axis
CUR = '<a href="https://pay.example/">EUR</a>'
SEG = "<i>young</i> & co"
OFFER = "<b>AB</b>"

# The tiny two-product scenario of test_report.py, every id and name hostile.
SCENARIO = {
    "scenario.yaml": "pricing: personalized\nchoice_model: first_choice\nobjective: profit\n"
                     "price_ladder: {discounts: [0.0, 0.1]}\nconstraints:\n  min_margin: 0.1\n",
    "products.csv": f"product_id,unit_cost,list_price,inventory,name\nP1,4,10,300,\"{LINK.replace(chr(34), chr(34) * 2)}\"\n"
                    "P2,1.5,3,400,<script>alert(1)</script>\n",
    "bundles.csv": f"bundle_id,product_id,quantity\nA,P1,1\nB,P2,1\n{OFFER},P1,1\n{OFFER},P2,2\n",
    "segments.csv": f"segment_id,size\n{SEG},100\nold,50\n",
    "wtp.csv": f"segment_id,bundle_id,wtp\n{SEG},A,10\n{SEG},{OFFER},15\nold,B,6\nold,{OFFER},12\n",
    "previous_plan.csv": f"bundle_id,segment_id,price\nA,{SEG},10\n{OFFER},old,16\n",
}


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def write_files(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def figures(html: str) -> list[dict]:
    """Every chart's figure as the page hands it to Plotly.newPlot (data, layout)."""
    dec = json.JSONDecoder()
    out = []
    for m in re.finditer(r'Plotly\.newPlot\(\s*"chart\d+",\s*', html):
        data, end = dec.raw_decode(html, m.end())
        rest = html[end:].lstrip()[1:].lstrip()
        layout, _ = dec.raw_decode(rest)
        out.append({"data": data, "layout": layout})
    return out


def strings(v, key=None):
    """(key, string) for every string in a figure."""
    if isinstance(v, str):
        yield key, v
    elif isinstance(v, dict):
        for k, x in v.items():
            yield from strings(x, k)
    elif isinstance(v, list):
        for x in v:
            yield from strings(x, key)


def assert_plain(html: str, must_show: list[str]) -> None:
    figs = figures(html)
    assert figs
    found = set()
    for fig in figs:
        for key, s in strings(fig):
            if key in ("hovertemplate", "texttemplate"):
                # our markup only: no user text is ever pasted into a template
                assert "coupon" not in s.lower() and "<a" not in s and "<i>" not in s, s
                continue
            assert "<" not in s and ">" not in s, (key, s)
            found |= {t for t in must_show if t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in s}
    assert found == set(must_show), set(must_show) - found




def assert_no_link_in_charts(browser, report: Path, shown: str) -> None:
    opened = browser.open(report)
    page = opened.page
    assert opened.errors == [], opened.errors
    assert page.locator(".js-plotly-plot").count() >= 1
    assert page.locator(".js-plotly-plot a, .js-plotly-plot svg a").count() == 0
    assert page.locator(".js-plotly-plot b, .js-plotly-plot i, .js-plotly-plot script").count() == 0
    text = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot svg text')]"
                         ".map(t => t.textContent).join('\\n')")
    assert shown in text, text[:2000]
    # hover the first point of every chart: the label is the text as typed, no element in it
    hovers = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => {
        const heat = gd.data[0].type === 'heatmap';
        Plotly.Fx.hover(gd, [{curveNumber: 0, pointNumber: heat ? [0, 0] : 0}]);
        const h = gd.querySelector('.hoverlayer');
        return [h.textContent, h.querySelectorAll('a, b, i, script').length]; })""")
    assert all(n == 0 for _, n in hovers), hovers
    assert any(("<" in t and ">" in t) for t, _ in hovers), hovers
    page.close()


def test_solve_report_charts_are_plain_text(browser, tmp_path: Path) -> None:
    scen = write_files(tmp_path / "scn", SCENARIO)
    out = tmp_path / "out"
    r = invoke("solve", scen, "--out", out, "-q")
    assert r.exit_code == 0, r.output
    plan = pd.read_csv(out / "plan.csv", dtype=str)
    assert OFFER in set(plan["bundle_id"]) and SEG in set(plan["segment_id"])
    r = invoke("report", out, "--currency", CUR)
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text()
    # the product name reaches the inventory chart, ids the offer charts, the currency the axes
    assert_plain(html, [LINK, SEG, CUR, "<script>alert(1)</script>"])
    assert_no_link_in_charts(browser, out / "report.html", "price (" + CUR + ")")


def test_fit_report_charts_are_plain_text(browser, tmp_path: Path) -> None:
    fit = write_files(tmp_path / "fit", {
        "fit_report.json": json.dumps({
            "segments": [{"segment_id": SEG, "size": 10.0, "customers": 5}, {"segment_id": "old", "size": 4.0,
                                                                              "customers": 2}],
            "bundles": [{"products": ["P1", "P2"], "bundle_id": "B:P1+P2", "support": 0.2, "lift": 1.5,
                         "baskets": 3}],
            "data": {"source": "<b>shop</b>"}}),
        "products.csv": SCENARIO["products.csv"],
        "wtp.csv": f"segment_id,bundle_id,wtp\n{SEG},P1,10\nold,B:P1+P2,12\n"})
    r = invoke("report", fit, "--currency", CUR)
    assert r.exit_code == 0, r.output
    html = (fit / "report.html").read_text()
    assert_plain(html, [LINK, SEG, CUR])
    assert_no_link_in_charts(browser, fit / "report.html", SEG)


def test_study_report_charts_are_plain_text(browser, tmp_path: Path) -> None:
    run = tmp_path / "study"
    run.mkdir()
    key = "<a href='https://x.example/'>cap</a>"
    pd.DataFrame({key: [1, 2], "objective": [10.0, 12.0], "surplus": [3.0, 2.0],
                  "pareto": [True, True]}).to_csv(run / "frontier.csv", index=False)
    pd.DataFrame({"rule": [LINK, "max_offers"], "objective_without": [12.0, 11.0],
                  "cost": [2.0, 1.0]}).to_csv(run / "rule_costs.csv", index=False)
    (run / "robustness.json").write_text(json.dumps({
        "mean": 10.0, "p5": 8.0, "p50": 10.0, "p95": 12.0, "plan_objective": 10.5,
        "stockout_probability": {LINK: 0.5}, "segment_buy_rate": {SEG: 0.25}}))
    r = invoke("report", run, "--currency", CUR)
    assert r.exit_code == 0, r.output
    html = (run / "report.html").read_text()
    assert_plain(html, [key, LINK, SEG, CUR])
    assert_no_link_in_charts(browser, run / "report.html", LINK)


def test_a_chart_is_the_figure_plotly_py_would_style_and_validate() -> None:
    """Page.chart styles and serialises a figure's plain dict without plotly.py (for
    speed); what reaches Plotly.newPlot must be what plotly.py's own update_layout /
    update_xaxes on a validated figure gives — subplots (a second axis pair), a margin
    the figure sets itself, hover templates, markup escaped."""
    import numpy as np
    import plotly.graph_objects as go
    import plotly.io as pio
    from plotly.subplots import make_subplots

    from bundleopt.report.page import FONT, PALETTE, Page, plain

    fig = make_subplots(rows=1, cols=2, subplot_titles=(LINK, "surplus"))
    fig.add_bar(x=[SEG, "old"], y=np.array([3.0, 4.5]), name=OFFER, row=1, col=1,
                hovertemplate="%{x}<br>%{y:,.2f}<extra></extra>", marker_color="#2b6cb0")
    fig.add_bar(x=[SEG, "old"], y=[1, 2], name="b", row=1, col=2)
    fig.update_layout(title=CUR, margin=dict(t=80), barmode="group")
    fig.update_yaxes(title_text="units", row=1, col=2)
    got = figures(Page(title="t").chart(fig, 333))[0]

    # The way the report styled charts before: plotly.py on a validated figure.
    ref = go.Figure(fig)
    for trace in ref.data:
        trace.x = [plain(x) for x in trace.x]
        trace.name = plain(trace.name)
    ref.layout.annotations[0].text = plain(ref.layout.annotations[0].text)
    ref.layout.title.text = plain(ref.layout.title.text)
    margin = {k: v for k, v in dict(l=10, r=10, t=50, b=10).items()
              if ref.layout.margin[k] is None}
    ref.update_layout(template="plotly_white", margin=margin, font=dict(family=FONT, size=13),
                      colorway=PALETTE, hoverlabel=dict(namelength=-1), height=333)
    ref.update_xaxes(automargin=True)
    ref.update_yaxes(automargin=True)
    want = json.loads(pio.to_json(ref))
    assert got == want
    assert got["layout"]["margin"] == {"t": 80, "l": 10, "r": 10, "b": 10}
    assert got["layout"]["xaxis2"]["automargin"] is True
    assert LINK not in json.dumps(got)                    # escaped, not live markup
