"""The files the web app serves itself (no CDN): its stylesheet and plotly.js, taken
from the installed plotly package (what ``bundleopt report`` embeds in its pages)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent / "static"


@lru_cache(maxsize=None)
def _css() -> tuple[bytes, str]:
    from bundleopt.report.page import CSS

    return CSS.encode() + (HERE / "app.css").read_bytes(), "text/css; charset=utf-8"


@lru_cache(maxsize=None)
def _plotly() -> tuple[bytes, str]:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode(), "text/javascript; charset=utf-8"


STATIC: dict[str, Callable[[], tuple[bytes, str]]] = {"app.css": _css,
                                                      "plotly.min.js": _plotly}
