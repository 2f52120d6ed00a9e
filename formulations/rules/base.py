"""What a merchandiser rule is: one class holding everything about it.

A rule (a key under ``constraints`` in ``scenario.yaml``) says, in one place:

* ``key`` — its dotted path under ``constraints`` (``fairness.max_price_spread``), and
  ``field`` — its name on :class:`~formulations.scenario.Constraints` and in
  :meth:`Scenario.with_constraints <formulations.scenario.Scenario.with_constraints>`;
* ``parse`` — its schema: the YAML/JSON value to a Python value (kind only);
* ``normalise`` / ``validate`` — its value made canonical, then checked, with a
  one-line :class:`~formulations.errors.InputError` naming ``constraints.<key>``;
* ``to_yaml`` — how it is written back (``None`` = left out);
* pruning — offers it removes (``excluded_offers``), offers it pins on sale
  (``pinned_offers``), prices it forbids (``allows``, applied at ``prune_stage``
  ``"offer"`` — per offer — or ``"audience"`` — per offer and audience), and whether
  it needs points that earn nothing kept (``keeps_unprofitable_points``);
* ``add_rows`` — the rows it adds to every formulation, on the offer variables ``x``
  and the choice model's demand variables (:class:`RowContext`);
* ``check`` — how the plan evaluator checks a plan against it and names it in
  ``summary.json``'s ``binding_constraints`` when it binds;
* ``search_check`` — how the first plan's search checks the plans it visits, on the
  arrays of :mod:`.search` (vectorised: thousands of plans a second);
* ``parse_set`` — a study's ``--set constraints.<key>=value`` read as the rule's value;
* seasons (docs/scenario.md, "Seasons"): a season model is one copy of the one-period
  model per period, each with every rule's ``add_rows`` — except a rule with
  ``per_period = False`` (``inventory``: one cumulative row per product and period, not
  the whole stock in each period) — and then ``add_season_rows`` for the rows that
  link periods (:class:`SeasonContext`); ``check_season`` checks a season plan across
  periods (``check`` sees one period at a time). ``section`` is the scenario.yaml
  section of the rule's key (``constraints``, or ``markdown`` for the markdown rules).

Every hook has a do-nothing default, so a rule writes only what it does. Rules read
their value with :meth:`Rule.value`; a value of ``off`` (``None``, ``False`` or ``()``)
means the scenario does not impose the rule, and no hook of it is called.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from ..checks import Sources, check_setting_flag, check_setting_ids, check_setting_number
from ..errors import InputError
from ..schema import flag, ids, integer, number
from .strict import finite_number, strict_flag, strict_ids, strict_integer

if TYPE_CHECKING:      # annotations only: rules are imported by the scenario module
    from ..linear import LinearModel, VarFamily
    from ..offers import OfferSpace
    from ..scenario import Scenario
    from .search import SearchCheck, SearchLayout

PRICE_TOL = 1e-9       # slack of every price rule (docs/semantics.md)


@dataclass
class RowContext:
    """What a rule's rows are written on: the model, its offer space, ``x`` (one per
    price point), the demand variables ``d`` (one per arc) and ``D`` per arc, so that
    ``D_a d_a`` is the expected number of sales on arc ``a``."""

    model: "LinearModel"
    space: "OfferSpace"
    offer: "VarFamily"
    demand: "VarFamily"
    per_arc: np.ndarray


@dataclass
class SeasonContext:
    """What a rule's cross-period rows are written on (:meth:`Rule.add_season_rows`).

    Every period has the same price points (``space.points``, numbered ``j``), so point
    ``j`` of period ``t`` is column ``offer.cols(t * n_points + j)``; the arcs differ by
    period: period ``t``'s arcs are ``spaces[t].arcs``, members ``arc_start[t] + a`` of
    ``demand``, with ``per_arc`` (``D_a``) laid out the same way. ``history``: per point,
    the previous prices of its (audience, offer) — ``previous_plan.csv`` rows matched as
    ``price_change`` matches them (same segment, or ``*`` on either side).
    """

    model: "LinearModel"
    scenario: "Scenario"
    spaces: list
    labels: tuple
    offer: "VarFamily"
    demand: "VarFamily"
    per_arc: np.ndarray
    arc_start: np.ndarray

    @property
    def space(self) -> "OfferSpace":
        return self.spaces[0]

    @property
    def n_periods(self) -> int:
        return len(self.labels)

    @property
    def n_points(self) -> int:
        return len(self.space.points)


@dataclass
class SeasonView:
    """A season plan as the evaluator sees it, for cross-period rule checks.

    ``plan``: ``period, bundle_id, segment_id, price`` rows; ``labels``: the periods in
    order; ``stock``: per product and period ``product_id, period, units`` (units sold
    that period), ``inventory``, ``receipts`` (arriving that period) — for products with
    a finite inventory.
    """

    plan: pd.DataFrame
    labels: tuple
    stock: pd.DataFrame
    violations: list[str] = field(default_factory=list)
    binding: list[str] = field(default_factory=list)


@dataclass
class PlanView:
    """A plan as the evaluator sees it, for rule checks.

    ``plan``: ``bundle_id, segment_id, price`` rows; ``seen``: one row per (segment,
    offer seen) with ``segment_id, bundle_id, price, wtp``; ``products``: per product
    ``product_id, units, inventory``; ``units``: total expected units; ``neighbours``:
    the ladder neighbours of each price on sale, laid out like ``plan`` (for price
    rules: is a rule what stops the price moving?). ``plan`` and ``neighbours`` carry
    the offer's ``cost`` too.
    """

    plan: pd.DataFrame
    neighbours: pd.DataFrame
    seen: pd.DataFrame
    products: pd.DataFrame
    units: float
    violations: list[str] = field(default_factory=list)
    binding: list[str] = field(default_factory=list)


class Rule:
    """Base class of the catalogue's rules; see the module docstring."""

    key: ClassVar[str]
    field: ClassVar[str]
    section: ClassVar[str] = "constraints"
    per_period: ClassVar[bool] = True         # rows copied into each period of a season
    off: ClassVar[Any] = None
    prune_stage: ClassVar[str | None] = None          # "offer" | "audience" | None
    keeps_unprofitable_points: ClassVar[bool] = False
    # how dear the search check is (0 a count, 1 a matrix product, 3 a Python loop):
    # the search runs cheap checks first, so most plans that break a rule cost little
    search_cost: ClassVar[int] = 1

    # ------------------------------------------------------------------ value
    @property
    def yaml_key(self) -> str:
        return f"{self.section}.{self.key}"

    def value(self, scenario: "Scenario") -> Any:
        return scenario.constraints.get(self.field)

    def is_on(self, value: Any) -> bool:
        return not (value is None or value is False or (isinstance(value, tuple) and not value))

    # ---------------------------------------------------------- schema, checks
    def parse(self, value: Any, key: str, src: str) -> Any:
        return number(value, key, src)

    def normalise(self, value: Any, scenario: "Scenario") -> Any:
        return value

    def validate(self, value: Any, scenario: "Scenario", src: Sources) -> None:
        """Raise a one-line InputError (field ``constraints.<key>``) if ``value`` is bad."""

    def to_yaml(self, value: Any) -> Any:
        return value.item() if isinstance(value, np.generic) else value

    def parse_set(self, value: Any) -> Any:
        """A study's value for the rule (``--set``: YAML-parsed; or a Python value given
        to ``Study``), checked for kind only; ``ValueError`` saying what was expected.
        By default the scenario.yaml schema (:meth:`parse`); the kinds below are stricter
        (a study stops on ``max_offers=1.5`` before anything runs)."""
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, float):
                finite_number(v)        # NaN and infinities are no rule's value
        try:
            return self.parse(value, self.yaml_key, "--set")
        except InputError as e:
            raise ValueError(e.problem) from None

    # ---------------------------------------------------------------- pruning
    def excluded_offers(self, scenario: "Scenario") -> set[str]:
        return set()

    def pinned_offers(self, scenario: "Scenario") -> set[str]:
        return set()

    def allows(self, scenario: "Scenario", prices: pd.DataFrame) -> np.ndarray | None:
        """Which of ``prices`` (``bundle_id, segment_id, price, cost``; segment ``*`` =
        everyone) the rule permits; ``None`` = it forbids no price here."""
        return None

    # ------------------------------------------------------------------- rows
    def add_rows(self, rows: RowContext) -> None:
        """Add the rule's constraint families to ``rows.model``."""

    def add_season_rows(self, rows: SeasonContext) -> None:
        """Add the rule's rows that link the periods of a season (none by default)."""

    # -------------------------------------------------------------- evaluator
    def check_season(self, scenario: "Scenario", view: SeasonView) -> None:
        """Check a season plan across periods, like :meth:`check` (nothing by default)."""

    def check(self, scenario: "Scenario", view: PlanView) -> None:
        """Append to ``view.violations`` what the plan breaks and to ``view.binding``
        the rule's name (``key`` or ``key:which``) where it holds with no slack."""

    # ---------------------------------------------------------- first plan's search
    def search_check(self, layout: "SearchLayout") -> "SearchCheck | None":
        """How the first plan's search tells whether a plan it visits keeps the rule: a
        function of a :class:`~formulations.rules.search.SearchState`, built once per
        search (work out codes and tables here, not in the function). ``None``: nothing
        to check — the rule only prunes the offer space, or (a rule with rows but no
        check) the search may visit plans that break it, and then finds none: the
        evaluator's check of its final plan rejects it."""
        return None

    def start_offers(self, layout: "SearchLayout") -> np.ndarray:
        """Codes of the offers the search's first plan puts on sale, in this order (each
        at its best-valued point), because the rule needs them on sale."""
        return np.zeros(0, np.int64)

    def start_segments(self, layout: "SearchLayout") -> np.ndarray:
        """Codes of the segments the search's first plan offers something within their
        WTP, because the rule needs them to be able to buy."""
        return np.zeros(0, np.int64)


class FlagRule(Rule):
    """A rule switched on with ``true``."""

    off: ClassVar[Any] = False

    def parse(self, value: Any, key: str, src: str) -> Any:
        return flag(value, key, src)

    def validate(self, value: Any, scenario: "Scenario", src: Sources) -> None:
        check_setting_flag(value, self.yaml_key, src)

    def to_yaml(self, value: Any) -> Any:
        return True

    def parse_set(self, value: Any) -> Any:
        return strict_flag(value)


class IdListRule(Rule):
    """A rule given as a list of ids of ``what`` (``offer`` or ``segment``)."""

    off: ClassVar[Any] = ()
    what: ClassVar[str] = "offer"

    def parse(self, value: Any, key: str, src: str) -> Any:
        return ids(value, key, src)

    def normalise(self, value: Any, scenario: "Scenario") -> Any:
        return tuple(value) if isinstance(value, list) else value

    def known(self, scenario: "Scenario") -> pd.Index:
        return scenario.bundles.index if self.what == "offer" else scenario.segments.index

    def validate(self, value: Any, scenario: "Scenario", src: Sources) -> None:
        check_setting_ids(value, self.yaml_key, self.known(scenario), self.what, src)

    def to_yaml(self, value: Any) -> Any:
        return list(value)

    def parse_set(self, value: Any) -> Any:
        return strict_ids(value)


class CapRule(Rule):
    """A rule given as a whole-number cap ``K ≥ 0``."""

    def parse(self, value: Any, key: str, src: str) -> Any:
        return integer(value, key, src)

    def parse_set(self, value: Any) -> Any:
        return strict_integer(value)

    def validate(self, value: Any, scenario: "Scenario", src: Sources) -> None:
        check_setting_number(value, self.yaml_key, src, lo=0.0, integer=True)


class PriceRule(Rule):
    """A rule that only forbids prices: pruned before any model sees them, so it adds
    no rows. The evaluator finds a plan price it forbids, and calls the rule binding
    when it cut a ladder neighbour of a price on sale."""

    prune_stage: ClassVar[str | None] = "offer"

    def check(self, scenario: "Scenario", view: PlanView) -> None:
        ok = self.allows(scenario, view.plan)
        if ok is not None and not ok.all():
            view.violations.append(f"{self.key} broken for "
                                   f"{view.plan['bundle_id'][~ok].tolist()}")
        near = self.allows(scenario, view.neighbours)
        if near is not None and not near.all():
            view.binding.append(self.key)
