"""The page every report shares: one self-contained HTML file, tables and Plotly charts.

Plotly (plotly.py) draws the charts: its figures are plain JSON rendered by plotly.js,
which is embedded once in the page (``get_plotlyjs()``), so the file opens from disk
with no server and no network; the charts stay interactive (hover shows exact values,
zoom, hide series) — what a merchandiser checking a plan wants. Why Plotly rather than
Vega-Altair or matplotlib: see docs/report.md.

Chart text is plain text: Plotly renders a subset of HTML (``<a href>``, ``<b>``, ``<br>``)
in every label, title, legend, hover text and axis title, so a product named
``<a href=…>Click for coupon</a>`` would become a link. :meth:`Page.chart` passes every
figure through :func:`plain_dict` (``&``, ``<``, ``>`` as entities, which Plotly shows as
the characters) — the one place, so no chart can forget it. Only hover and text
*templates* keep their markup (``<br>``); they are ours, and data reaches them through
``%{…}`` (``%{meta}`` for a name), already escaped.

Tables print numbers exactly as the file they come from holds them (money to cents,
shares as percentages of the file's fraction), so a report never disagrees with its
files.
"""
from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Sequence

import numpy as np

PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "modeBarButtonsToRemove": ["sendDataToCloud", "lasso2d", "select2d"]}
PALETTE = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#718096", "#d69e2e"]
FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"
MAX_LABEL = 60            # chart tick labels only; tables always show full names


def esc(v: Any) -> str:
    return "" if is_missing(v) else html.escape(str(v))


def plain(text: Any) -> str:
    """``text`` as Plotly should show it, character for character (see the module docstring)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_OUR_MARKUP = frozenset({"hovertemplate", "texttemplate", "template"})   # written here, not data


def _plain_all(v: Any, key: str | None = None) -> Any:
    if key in _OUR_MARKUP:
        return v
    if isinstance(v, str):
        return plain(v)
    if isinstance(v, dict):
        return {k: _plain_all(x, k) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain_all(x) for x in v]
    if isinstance(v, np.ndarray) and v.dtype.kind in "OUS":
        return np.array([_plain_all(x) for x in v.ravel().tolist()], dtype=object).reshape(v.shape)
    return v


def plain_dict(fig) -> dict:
    """``fig`` as a plain dict (``data``, ``layout``; its template left out) whose every
    string — data, names, titles, axis titles, legends, annotations — is plain text,
    templates aside (see the module docstring). :meth:`Page.chart` styles and serialises
    the dict as it is: building and validating a second figure from it (and the template
    within) would be most of a chart's cost, and the figure was validated when built."""
    d = fig.to_dict()
    d["layout"].pop("template", None)
    return _plain_all(d)


@lru_cache(maxsize=None)
def _template(name: str) -> dict:
    import plotly.io as pio

    return pio.templates[name].to_plotly_json()


_AXIS = re.compile(r"^[xy]axis\d*$")


def styled(d: dict, height: int | None = None) -> dict:
    """The figure dict ``d`` with the look every chart shares (what
    ``update_layout(template=…, margin=…, font=…, colorway=…, hoverlabel=…)``,
    ``update_xaxes(automargin=True)`` and ``update_yaxes(automargin=True)`` do to a
    figure, done on its dict): a margin of 10 px (50 at the top) on the sides the figure
    leaves unset, the page's font and palette, full trace names on hover, every axis
    sized to its labels. ``d`` is changed in place and returned."""
    lay = d.setdefault("layout", {})
    lay["template"] = _template("plotly_white")
    margin = lay.setdefault("margin", {})
    for k, v in (("l", 10), ("r", 10), ("t", 50), ("b", 10)):
        if margin.get(k) is None:
            margin[k] = v
    lay.setdefault("font", {}).update(family=FONT, size=13)
    lay["colorway"] = list(PALETTE)
    lay.setdefault("hoverlabel", {})["namelength"] = -1
    if height:
        lay["height"] = height
    for axis in ("xaxis", "yaxis", *(k for k in lay if _AXIS.match(k))):
        lay.setdefault(axis, {})["automargin"] = True
    return d


def is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v == "")


def money(v: Any) -> str:
    """Money as the files hold it: cents, thousands separated."""
    return "—" if is_missing(v) else f"{float(v):,.2f}"


def number(v: Any, decimals: int = 2) -> str:
    """A count or quantity, with at most ``decimals`` decimals and no trailing zeros."""
    if is_missing(v):
        return "—"
    s = f"{float(v):,.{decimals}f}"
    s = s.rstrip("0").rstrip(".") if "." in s else s
    return "0" if s == "-0" else s


def pct(v: Any, decimals: int = 2) -> str:
    """A fraction (0.1) as a percentage (10.00 %); 4-decimal fractions print exactly."""
    return "—" if is_missing(v) else f"{100 * float(v):.{decimals}f}%"


def short(label: str, width: int = MAX_LABEL) -> str:
    label = str(label)
    return label if len(label) <= width else label[: width - 1] + "…"


@dataclass
class Column:
    key: str
    title: str
    fmt: Any = esc                 # value -> text
    numeric: bool = True


@dataclass
class Page:
    """A report being assembled: sections of HTML, charts added as Plotly figures."""

    title: str
    subtitle: str = ""
    sections: list[str] = field(default_factory=list)
    _charts: int = 0

    def section(self, title: str, body: str, note: str = "") -> None:
        anchor = f"s{len(self.sections)}"
        self.sections.append(f'<section id="{anchor}"><h2>{esc(title)}</h2>'
                             + (f'<p class="note">{esc(note)}</p>' if note else "") + body + "</section>")

    def chart(self, fig, height: int | None = None) -> str:
        """HTML for one figure (plotly.js itself is in the page head, once): its text
        plain (:func:`plain_dict`), the shared look (:func:`styled`)."""
        import plotly.io as pio

        self._charts += 1
        d = styled(plain_dict(fig), height)
        return '<div class="chart">' + pio.to_html(d, validate=False, full_html=False,
                                                   include_plotlyjs=False, config=PLOT_CONFIG,
                                                   div_id=f"chart{self._charts}") + "</div>"

    def render(self) -> str:
        from plotly.offline import get_plotlyjs

        nav = "".join(f'<a href="#s{i}">{esc(_title_of(s))}</a>' for i, s in enumerate(self.sections))
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{esc(self.title)}</title>"
                f"<style>{CSS}</style><script type=\"text/javascript\">{get_plotlyjs()}</script></head><body>"
                f"<header><h1>{esc(self.title)}</h1><p class=\"sub\">{esc(self.subtitle)}</p>"
                f"<nav>{nav}</nav></header><main>{''.join(self.sections)}</main></body></html>\n")


def _title_of(section_html: str) -> str:
    start = section_html.index("<h2>") + 4
    return html.unescape(section_html[start: section_html.index("</h2>")])


def table(rows: Sequence[dict], columns: Sequence[Column], table_id: str, caption: str = "") -> str:
    """An HTML table; every cell carries ``data-col`` so tests can read it back."""
    head = "".join(f'<th class="{"num" if c.numeric else "txt"}">{esc(c.title)}</th>' for c in columns)
    body = []
    for r in rows:
        cells = "".join(f'<td class="{"num" if c.numeric else "txt"}" data-col="{esc(c.key)}">{c.fmt(r.get(c.key))}</td>'
                        for c in columns)
        body.append(f"<tr>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<div class="tablewrap"><table id="{esc(table_id)}">{cap}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def kpis(items: Iterable[tuple[str, str, str]]) -> str:
    """Headline figures: (label, value, explanation) cards."""
    cards = "".join(f'<div class="kpi"><div class="label">{esc(k)}</div><div class="value" data-kpi="{esc(k)}">'
                    f'{esc(v)}</div><div class="expl">{esc(e)}</div></div>' for k, v, e in items)
    return f'<div class="kpis">{cards}</div>'


def absent(what: str) -> str:
    return f'<p class="absent">{esc(what)}: not in this fit report.</p>'


def paragraph(text: str) -> str:
    return f"<p>{esc(text)}</p>"


CSS = """
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a202c;background:#f7fafc;font-size:14px}
header{background:#1a365d;color:#fff;padding:18px 28px 10px}
header h1{margin:0 0 4px;font-size:22px}
header .sub{margin:0 0 10px;color:#cbd5e0}
nav a{color:#bee3f8;margin-right:16px;text-decoration:none;font-size:13px}
main{padding:10px 28px 40px;max-width:1400px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:14px 18px;margin:16px 0}
h2{font-size:17px;margin:0 0 10px;color:#1a365d}
.note{color:#4a5568;margin:0 0 10px}
.absent{color:#975a16;background:#fffaf0;border:1px solid #fbd38d;border-radius:6px;padding:8px 12px}
.kpis{display:flex;flex-wrap:wrap;gap:12px}
.kpi{flex:1 1 170px;border:1px solid #e2e8f0;border-radius:8px;padding:10px 12px;background:#f8fafc}
.kpi .label{font-size:12px;color:#4a5568;text-transform:uppercase;letter-spacing:.04em}
.kpi .value{font-size:20px;font-weight:600;margin:4px 0}
.kpi .expl{font-size:12px;color:#4a5568}
.tablewrap{overflow-x:auto;max-height:640px;overflow-y:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
caption{text-align:left;color:#4a5568;padding:4px 0}
th{position:sticky;top:0;background:#edf2f7;text-align:left;padding:6px 8px;border-bottom:2px solid #cbd5e0;white-space:nowrap}
td{padding:5px 8px;border-bottom:1px solid #edf2f7;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:hover td{background:#f7fafc}
.offer-id{color:#718096;font-size:12px}
.chart{margin:8px 0 4px}
.tag{display:inline-block;border-radius:10px;padding:1px 8px;margin:2px;font-size:12px;background:#edf2f7}
.tag.bind{background:#fed7d7;color:#822727}
"""
