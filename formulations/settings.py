"""The scenario's model settings and their allowed values (docs/scenario.md)."""
from __future__ import annotations

DEFAULT_DISCOUNTS: tuple[float, ...] = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30)
PRICINGS = ("uniform", "personalized")
CHOICE_MODELS = ("first_choice", "mnl")
OBJECTIVES = ("profit", "revenue", "expected_profit")
MAX_PERIODS = 104           # two years of weeks: the longest horizon a scenario may have
