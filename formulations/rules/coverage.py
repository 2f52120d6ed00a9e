"""``fairness.coverage: all | [segment ids]`` — each named segment is offered at least
one offer priced at or below its WTP.

Rows: ``Σ_{a = (s, j): p_j ≤ w_sb} x_j ≥ 1`` for each named segment. Pruning keeps
points that earn nothing (a cheap offer may be what covers a segment). Binds per
segment covered by exactly one offer (``fairness.coverage:<segment_id>``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..linear import Terms
from ..money import MONEY_DECIMALS
from ..schema import ids_or_all
from .base import IdListRule
from .registry import register
from .strict import strict_ids_or_all


class Coverage(IdListRule):
    key = "fairness.coverage"
    field = "coverage"
    what = "segment"
    keeps_unprofitable_points = True

    def parse(self, value, key, src):
        return ids_or_all(value, key, src)

    def parse_set(self, value):
        return strict_ids_or_all(value)

    def normalise(self, value, scenario):
        if isinstance(value, str) and value == "all":
            return tuple(scenario.segments.index)
        return super().normalise(value, scenario)

    def add_rows(self, rows) -> None:
        space = rows.space
        code = {sid: i for i, sid in enumerate(space.segment_ids)}
        covered = [code[s] for s in self.value(space.scenario)]
        row_of = {s: r for r, s in enumerate(covered)}
        pairs = space.affordable                  # p ≤ w_sb, whatever the competitors
        ok = pairs[pairs["s"].isin(covered).to_numpy()]
        rows.model.add_constraints("coverage", pd.DataFrame({"segment": space.segment_ids[covered]}), [
            Terms(rows.offer, np.array([row_of[s] for s in ok["s"].to_numpy()], dtype=np.int64),
                  ok["j"].to_numpy(), np.ones(len(ok)))], lo=1.0)

    def start_segments(self, layout):
        return layout.segment_codes(self.value(layout.space.scenario))

    def search_check(self, layout):
        covered = layout.segment_codes(self.value(layout.space.scenario))
        if not len(covered):
            return None

        def holds(state) -> bool:
            a = state.arcs_on[layout.arc_surplus[state.arcs_on] >= 0]   # within WTP
            return np.isin(covered, layout.arc_segment[a]).all()
        return holds

    def check(self, scenario, view) -> None:
        seen = view.seen
        within = np.round(seen["wtp"].to_numpy(float) - seen["price"].to_numpy(float),
                          MONEY_DECIMALS) >= 0
        counts = seen[within].groupby("segment_id").size()
        for s in self.value(scenario):
            if counts.get(s, 0) == 0:
                view.violations.append(f"{self.key}: segment {s} sees no offer within its WTP")
            elif counts.get(s, 0) == 1:
                view.binding.append(f"{self.key}:{s}")


register(Coverage())
