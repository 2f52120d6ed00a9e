"""What a study may change in a scenario, and how a change is read and applied.

A change is ``KEY = value``. ``KEY`` is a ``scenario.yaml`` path (``objective``,
``constraints.max_offers``, ``constraints.fairness.max_price_spread``,
``price_ladder.discounts``, ``robust.draws``, …) or a data scaling (``scale.wtp``, ``scale.unit_cost``,
``scale.inventory``, ``scale.size``, ``scale.competitor_price``: multiply that column
by the value). Values are
YAML scalars; a list is written in brackets (``[A, B]``).

Two kinds of bad input are told apart on purpose: a value of the wrong *type*
(``max_offers=abc``) or an unknown key is the user's typo and stops the study before
anything runs (:class:`~formulations.errors.ParameterError`); a value of the right type
that the scenario's validation rejects (``max_offers=-1``) is a legitimate variant whose
row says ``invalid`` with the validator's message.

The rules' keys are the rule catalogue's: ``constraints.<key>`` of every registered rule
(a rule added later included), each value read by the rule's own ``parse_set``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import numpy as np
import yaml

from formulations.errors import InputError, ParameterError
from formulations.files import parse_capped
from formulations.rules import Rule, all_rules
from formulations.rules.strict import finite_number, strict_integer, strict_number
from formulations.scenario import RobustOptions, Scenario
from formulations.validate import suggest
from formulations.yaml12 import load_yaml


def _text(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected text, found {v!r}")
    return v


def _discounts(v: Any) -> tuple[float, ...]:
    if not isinstance(v, (list, tuple)):
        raise ValueError(f"expected a list of numbers in brackets, found {v!r}")
    return tuple(float(finite_number(x)) for x in v)


def _factor(v: Any) -> float:
    if v is None:
        raise ValueError("expected a number, found nothing")
    return float(finite_number(v))


# study key -> (parser, how it is applied); the rules' keys (constraints.<rule key>) are
# the rule catalogue's, each rule parsing its own value (Rule.parse_set): see _rule_key
KEYS: dict[str, tuple[Callable[[Any], Any], tuple[str, str]]] = {
    "pricing": (_text, ("setting", "pricing")),
    "choice_model": (_text, ("setting", "choice_model")),
    "objective": (_text, ("setting", "objective")),
    "price_ladder.discounts": (_discounts, ("setting", "discounts")),
    "robust.draws": (strict_integer, ("robust", "draws")),
    "robust.seed": (strict_integer, ("robust", "seed")),
    "robust.wtp_cv": (strict_number, ("robust", "wtp_cv")),
    "scale.wtp": (_factor, ("scale", "wtp")),
    "scale.unit_cost": (_factor, ("scale", "unit_cost")),
    "scale.inventory": (_factor, ("scale", "inventory")),
    "scale.size": (_factor, ("scale", "size")),
    "scale.competitor_price": (_factor, ("scale", "competitor_price")),
}
_RULES = "constraints."


def _rule_key(key: str) -> Rule | None:
    """The rule a ``constraints.<rule key>`` (or ``markdown.<rule key>``) study key names
    (any registered rule)."""
    return next((r for r in all_rules() if r.yaml_key == key), None)


def _known_keys() -> list[str]:
    return list(KEYS) + [r.yaml_key for r in all_rules()]


def _spec(key: str) -> tuple[Callable[[Any], Any], tuple[str, str]]:
    """How the value of a known study key is parsed and applied."""
    rule = _rule_key(key)
    return (rule.parse_set, ("constraint", rule.field)) if rule is not None else KEYS[key]


def check_key(key: str) -> str:
    """The key itself, or a ParameterError naming the closest known key."""
    if key in KEYS or _rule_key(key) is not None:
        return key
    # a constraint written without its section (max_offers → constraints.max_offers)
    known = _known_keys()
    for full in known:
        if full.endswith("." + key) and full.startswith(_RULES):
            raise ParameterError(f"--set: unknown key {key!r} (did you mean '{full}'?)")
    raise ParameterError(f"--set: unknown key {key!r}" + suggest(key, known)
                         + "; keys are scenario.yaml paths or scale.wtp|unit_cost|inventory|size|competitor_price")


def parse_value(key: str, value: Any) -> Any:
    """A value (already YAML-parsed) checked for the key's type."""
    parser = _spec(check_key(key))[0]
    try:
        return parser(value)
    except ValueError as e:
        raise ParameterError(f"--set {key}: {e}") from None


def split_values(text: str) -> list[str]:
    """``"1,2,[A,B],[C]"`` → ``["1", "2", "[A,B]", "[C]"]``: commas inside brackets stay."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth < 0:
                raise ValueError("a ']' without its '['")
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise ValueError("a '[' without its ']'")
    out.append("".join(cur).strip())
    return out


def parse_set(option: str) -> tuple[str, list[Any]]:
    """One ``--set KEY=V1,V2,...`` option → (key, typed values); ParameterError if bad."""
    key, eq, rest = option.partition("=")
    key = key.strip()
    if not eq or not key:
        raise ParameterError(f"--set {option!r}: expected KEY=VALUE[,VALUE...]")
    check_key(key)
    try:
        texts = split_values(rest)
    except ValueError as e:
        raise ParameterError(f"--set {key}: {e}") from None
    values = []
    for t in texts:
        if t == "":
            raise ParameterError(f"--set {key}: an empty value in {rest!r}")
        try:
            raw = parse_capped(load_yaml, t, f"--set {key}")
        except yaml.YAMLError:
            raise ParameterError(f"--set {key}: cannot read {t!r} as a YAML value") from None
        values.append(parse_value(key, raw))
    return key, values


def apply_changes(scenario: Scenario, changes: Mapping[str, Any]) -> Scenario:
    """The scenario with every change applied, re-validated (InputError if rejected)."""
    settings: dict[str, Any] = {}
    constraints: dict[str, Any] = {}
    tables: dict[str, Any] = {}
    robust: dict[str, Any] = {}
    for key, value in changes.items():
        kind, name = _spec(check_key(key))[1]
        if kind == "setting":
            settings[name] = value
        elif kind == "constraint":
            constraints[name] = value
        elif kind == "robust":
            robust[name] = value
        else:
            tables.update(_scaled(scenario, name, float(value), tables))
    if robust:
        settings["robust"] = dataclasses.replace(scenario.robust or RobustOptions(), **robust)
    out = scenario
    if settings or tables:
        out = out.replace(**settings, **tables)
    if constraints:
        out = out.with_constraints(**constraints)
    return out


def _scaled(scenario: Scenario, what: str, factor: float, done: dict) -> dict:
    """The table ``scale.<what>`` changes, its column multiplied by ``factor``; a product
    beyond a float's range is the variant's error, not a warning and infinities."""
    try:
        with np.errstate(over="raise", invalid="raise"):
            return _multiplied(scenario, what, factor, done)
    except FloatingPointError:
        raise InputError(f"scale.{what}", f"× {factor:g} makes a value too large for a "
                                          "floating-point number") from None


def _multiplied(scenario: Scenario, what: str, factor: float, done: dict) -> dict:
    if what == "wtp":
        wtp = done.get("wtp", scenario.wtp).copy()
        wtp["wtp"] = wtp["wtp"].to_numpy(float) * factor
        if "wtp_sd" in wtp.columns:     # the standard error scales with the estimate
            wtp["wtp_sd"] = wtp["wtp_sd"].to_numpy(float) * abs(factor)
        return {"wtp": wtp}
    if what == "size":          # a season's sizes per period (periods.csv) too
        seg = done.get("segments", scenario.segments).copy()
        seg["size"] = seg["size"].to_numpy(float) * factor
        per = done.get("periods", scenario.periods).copy()
        per["size"] = per["size"].to_numpy(float) * factor
        return {"segments": seg, "periods": per}
    if what == "competitor_price":
        comp = done.get("competitors", scenario.competitors).copy()
        comp["price"] = comp["price"].to_numpy(float) * factor
        return {"competitors": comp}
    prod = done.get("products", scenario.products).copy()
    prod[what] = prod[what].to_numpy(float) * factor       # NaN (unlimited) stays NaN
    return {"products": prod}


def show(value: Any) -> Any:
    """A value as written in results.csv: scalars as they are, lists in YAML brackets."""
    if isinstance(value, (list, tuple)):
        return yaml.safe_dump(list(value), default_flow_style=True).strip()
    if isinstance(value, np.generic):
        return value.item()
    return value
