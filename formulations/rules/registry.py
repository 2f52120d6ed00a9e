"""The catalogue itself: which rules exist, in the order their rows are added."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from ..checks import suggest
from .base import Rule

if TYPE_CHECKING:
    from ..scenario import Scenario

_RULES: dict[str, Rule] = {}
R = TypeVar("R", Rule, type)


def register(rule: R) -> R:
    """Add a rule (an instance, or a class to instantiate) to the catalogue.

    From then on ``scenario.yaml`` accepts ``constraints.<rule.key>``, validation,
    pruning, every formulation and the plan evaluator use it. Usable as a class
    decorator; returns its argument.
    """
    inst = rule() if isinstance(rule, type) else rule
    for other in _RULES.values():
        if other.key == inst.key or other.field == inst.field:
            raise ValueError(f"a rule {inst.key!r} (field {inst.field!r}) is already registered")
    _RULES[inst.key] = inst
    return rule


def unregister(key: str) -> None:
    """Remove a rule from the catalogue (tests registering a toy rule clean up so)."""
    _RULES.pop(key, None)


def all_rules() -> list[Rule]:
    return list(_RULES.values())


def get_rule(key: str) -> Rule:
    """The rule with scenario.yaml key ``key`` (``fairness.coverage``) or field name
    (``coverage``)."""
    rule = _RULES.get(key) or rule_for_field(key)
    if rule is not None:
        return rule
    raise KeyError(f"no rule {key!r}" + suggest(key, list(_RULES)))


def rule_for_field(name: str) -> Rule | None:
    return next((r for r in _RULES.values() if r.field == name), None)


def active_rules(scenario: "Scenario") -> list[Rule]:
    """The rules ``scenario`` imposes, in catalogue order."""
    return [r for r in _RULES.values() if r.is_on(r.value(scenario))]


def nest_by_key(values: dict[str, Any]) -> dict[str, Any]:
    """``{"fairness.coverage": v}`` → ``{"fairness": {"coverage": v}}`` (YAML layout)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        *sections, leaf = key.split(".")
        node = out
        for sec in sections:
            node = node.setdefault(sec, {})
        node[leaf] = value
    return out
