"""Rendering the web app's pages: the Jinja2 templates (autoescaped: every name, id and
comment is shown as text), number formats, and the report's charts for a plan.

The charts are :mod:`bundleopt.report.solve_report`'s own sections (the same pictures
as ``bundleopt report``); their inline scripts get the request's CSP nonce. A version
of a plan never changes once stored, so its sections are built once and kept (by solve
and version) in a small cache.
"""
from __future__ import annotations

import gc
import math
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from .security import NONCE_KEY

TEMPLATES = Path(__file__).resolve().parent / "templates"
ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                         trim_blocks=True, lstrip_blocks=True)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def money(v: Any) -> str:
    return "—" if _missing(v) or isinstance(v, str) else f"{float(v):,.2f}"


def pct(v: Any, decimals: int = 1) -> str:
    return "—" if _missing(v) or isinstance(v, str) else f"{100 * float(v):.{decimals}f}%"


def signed_pct(v: Any) -> str:
    return "—" if _missing(v) or isinstance(v, str) else f"{100 * float(v):+.1f}%"


def num(v: Any) -> str:
    if _missing(v) or isinstance(v, str):
        return "—" if _missing(v) else v
    return f"{float(v):,.2f}".rstrip("0").rstrip(".")


def when(v: Any) -> str:
    return v.strftime("%Y-%m-%d %H:%M UTC") if v is not None else "—"


ENV.filters.update(money=money, pct=pct, signed_pct=signed_pct, num=num, when=when)


def page(request: Request, template: str, code: int = 200, **ctx: Any) -> HTMLResponse:
    """The rendered template; ``who`` and ``csrf`` come from the request's session."""
    state = request.scope.get("bundleopt.web", {})
    html = ENV.get_template(template).render(
        nonce=request.scope.get(NONCE_KEY, ""), who=state.get("who"),
        csrf=state.get("csrf", ""), path=request.url.path, **ctx)
    return HTMLResponse(html, status_code=code)


# ------------------------------------------------------------------------- charts
_CACHE: OrderedDict[tuple[str, int], str] = OrderedDict()
_LOCK = threading.Lock()
CACHE_SIZE = 64


def report_sections(key: tuple[str, int], summary: dict[str, Any],
                    rows: list[dict[str, Any]], nonce: str) -> str:
    """The report's sections (charts, rules, price changes) of a plan, as HTML whose
    scripts carry ``nonce``. ``key`` (solve id, version) names an immutable plan."""
    with _LOCK:
        html = _CACHE.get(key)
        if html is not None:
            _CACHE.move_to_end(key)
    if html is None:
        html = _build(summary, rows)
        with _LOCK:
            _CACHE[key] = html
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
    # Every script tag in it is the report's own (data reaches charts as escaped JSON).
    return html.replace("<script", f'<script nonce="{nonce}"')


def _build(summary: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    from bundleopt.report.page import Page
    from bundleopt.report.solve_report import PLAN_REQUIRED, add_plan_sections, plan_frame

    if any(col not in rows[0] for col in PLAN_REQUIRED):
        return '<p class="note">No charts: this plan lacks the expected figures.</p>'
    page = Page(title="plan")
    add_plan_sections(page, summary, plan_frame(rows), "", plan_table=False)
    # The headline and plan table are the app's own (above); the rest is the report's.
    return "".join(page.sections[1:])


def warm() -> None:
    """Get a serving process ready for the pages: import what the charts and plan
    evaluation use, compile the templates, then move everything alive into the
    permanent GC generation (:func:`gc.freeze`).

    Why freeze: those modules are a heap of ~10^5 long-lived objects (plotly.py's
    classes, pandas, SQLAlchemy) that every full collection would walk again, and a
    page of a 1,000-row plan allocates enough to set one off now and then — a pause of
    tens of milliseconds in whichever request it lands. Frozen, they are skipped.
    Called by ``bundleopt serve`` once the app is built (it owns the process)."""
    import plotly.graph_objects  # noqa: F401
    import plotly.io  # noqa: F401

    import formulations.evaluate  # noqa: F401
    import solver.run_folder  # noqa: F401
    from bundleopt.report import page as report_page
    from bundleopt.report import solve_report  # noqa: F401

    report_page.styled({"layout": {}})          # loads the chart template once
    for name in ENV.list_templates():
        ENV.get_template(name)
    gc.collect()
    gc.freeze()
