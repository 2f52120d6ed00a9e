r"""``markdown.min_gap: g`` — two price changes ``t1 < t2`` of one offer and audience
(as :mod:`.max_changes` counts them) satisfy ``t2 − t1 ≥ g``.

Rows (seasons), per (audience, offer) and window of ``g`` consecutive periods
``[t, t + g − 1]``: ``Σ_{t'} c_{t'g} ≤ 1``. Changes before the horizon are not known
(a previous plan says a price, not when it was set), so the gap starts in period 1.
"""
from __future__ import annotations

import numpy as np

from ..checks import check_setting_number
from ..linear import Terms
from .base import CapRule
from .last_price import changes, layout, season_history
from .max_changes import changed
from .registry import register


class MinGap(CapRule):
    key = field = "min_gap"
    section = "markdown"

    def validate(self, value, scenario, src) -> None:
        check_setting_number(value, self.yaml_key, src, lo=1.0, integer=True)

    def add_season_rows(self, rows) -> None:
        g = int(self.value(rows.scenario))
        lay = layout(rows)
        G, P = lay.n_groups, lay.n_periods
        if g < 2 or P < 2:
            return
        starts = np.arange(P - 1)                      # windows [t, min(t+g, P) − 1]
        width = np.minimum(starts + g, P) - starts
        row_w = np.repeat(np.arange(len(starts)), width)
        t = np.concatenate([np.arange(s, s + w) for s, w in zip(starts, width)])
        n_rows = len(starts) * G
        row = (row_w[:, None] * G + np.arange(G)[None, :]).ravel()
        idx = (t[:, None] * G + np.arange(G)[None, :]).ravel()
        keys = lay.keys(tuple(rows.labels[s] for s in starts), lay.group_keys)
        c = changes(rows)
        rows.model.add_constraints("min_gap", keys, [Terms(c, row, idx, np.ones(len(row)))],
                                   hi=np.ones(n_rows))

    def check_season(self, scenario, view) -> None:
        g = int(self.value(scenario))
        h = season_history(view.plan, view.labels, scenario)
        h = h[changed(h)]
        gaps = h.groupby(["bundle_id", "segment_id"])["t"].diff()
        if (gaps < g).any():
            view.violations.append(f"{self.yaml_key} broken for "
                                   f"{sorted(set(h['bundle_id'][(gaps < g).to_numpy()]))}")


register(MinGap())
