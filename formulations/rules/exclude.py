"""``exclude: [ids]`` — these offers are never on sale.

Pruned: the offers are removed from the offer space before anything else.
"""
from __future__ import annotations

from .base import IdListRule
from .registry import register


class Exclude(IdListRule):
    key = field = "exclude"

    def excluded_offers(self, scenario) -> set[str]:
        return set(self.value(scenario))

    def check(self, scenario, view) -> None:
        on = set(self.value(scenario)) & set(view.plan["bundle_id"])
        if on:
            view.violations.append(f"exclude: {sorted(on)} on sale")


register(Exclude())
