r"""WTP uncertainty: draws of the willingness to pay, and the sample average approximation.

Each offer WTP ``w_sb`` is uncertain with standard deviation ``σ_sb``: the ``wtp_sd`` of
``wtp.csv`` where given, else ``cv · |w_sb|`` (coefficient of variation). With per-product
WTP, an offer's ``σ_sb = |1 + κ_b| · sqrt(Σ_i q_ib² σ_si²)`` (components independent).
A draw is ``max(min(0, w_sb), w_sb + σ_sb ε)``, ``ε ~ N(0, 1)`` from
``numpy.random.default_rng(seed)``, one row of a ``draws × pairs`` matrix, so the same seed
gives the same draws. The floor is SCENARIO.md §5's "a draw below 0 counts as 0" for a
non-negative estimate; a negative estimate (a rare buyer under ``mnl``) is floored at its
own value instead, so that with zero spread every draw is the estimate and the plan's
objective is reproduced exactly (docs/semantics.md).

``objective: expected_profit`` with ``robust: {draws: N, seed: S[, wtp_cv: C]}`` is the
sample average approximation (Kleywegt, Shapiro & Homem-de-Mello, "The sample average
approximation method for stochastic discrete optimization", SIAM J. Optim. 12(2), 2002):

.. math::

    \max_{x} \; \frac{1}{N} \sum_{d=1}^{N} \text{profit}(x;\, w^{(d)})
    \;=\; \max_x \text{profit}(x) \text{ on segments } (s, d) \text{ of size } N_s / N
    \text{ with WTP } w^{(d)}_{sb}

i.e. the same choice model on ``S × N`` segments, the plan shared by all draws. The
expansion (:func:`saa_scenario`) is applied before any model is built, so every
formulation, pruning and the plan evaluator see an ordinary ``profit`` scenario.
Pricing must be ``uniform``: a personalized plan may not tell draws apart.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd

from .errors import ParameterError

if TYPE_CHECKING:     # validate.py calls check_robust while scenario.py imports validate
    from .scenario import Scenario

DRAW_SEP = "#"       # segment s, draw d → segment id "s#d"


def _whole(value: Any, least: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= least


#: Largest WTP coefficient of variation: a standard error ten times the estimate already
#: says "we know nothing"; past it the draws overflow into meaningless profits.
MAX_WTP_CV = 10.0


def _spread(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
                             and bool(np.isfinite(value)) and 0 <= value <= MAX_WTP_CV)


#: What each robust setting must be: scenario files (:func:`check_robust`) and the
#: robustness study (``bundleopt.study.robustness``) hold their settings to the same ranges.
ROBUST_RANGES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "draws": ("an integer ≥ 1", lambda v: _whole(v, 1)),
    "seed": ("an integer ≥ 0", lambda v: _whole(v, 0)),
    "wtp_cv": (f"a number ≥ 0 and ≤ {MAX_WTP_CV:g}", _spread),
}


def out_of_range(name: str, value: Any) -> str | None:
    """What robust setting ``name`` must be (e.g. "an integer ≥ 1") if ``value`` is not
    that, else ``None``."""
    want, ok = ROBUST_RANGES[name]
    return None if ok(value) else want


def offer_wtp_sd(scenario: Scenario, cv: float | None = None) -> pd.DataFrame:
    """:meth:`Scenario.offer_wtp` with a column ``sd`` (σ_sb; 0 where unknown and no cv)."""
    w = scenario.offer_wtp()
    cv = 0.0 if cv is None else float(cv)
    raw = scenario.wtp
    sd_col = raw["wtp_sd"] if "wtp_sd" in raw.columns else pd.Series(np.nan, index=raw.index)
    sd_raw = np.where(np.isnan(sd_col.to_numpy(float)), cv * np.abs(raw["wtp"].to_numpy(float)),
                      sd_col.to_numpy(float))
    if scenario.wtp_level == "bundle":
        sd = pd.Series(sd_raw, index=pd.MultiIndex.from_arrays(
            [raw["segment_id"].to_numpy(), raw["bundle_id"].to_numpy()]))
        w["sd"] = sd.reindex(pd.MultiIndex.from_arrays(
            [w["segment_id"].to_numpy(), w["bundle_id"].to_numpy()])).to_numpy(float)
        return w
    per = pd.DataFrame({"segment_id": raw["segment_id"].to_numpy(), "product_id": raw["product_id"].to_numpy(),
                        "var": sd_raw ** 2}).merge(scenario.components, on="product_id")
    per["qv"] = per["quantity"].to_numpy(float) ** 2 * per["var"].to_numpy()
    var = per.groupby(["segment_id", "bundle_id"])["qv"].sum()
    kappa = scenario.bundles["complementarity"].reindex(w["bundle_id"]).to_numpy(float)
    v = var.reindex(pd.MultiIndex.from_arrays([w["segment_id"].to_numpy(), w["bundle_id"].to_numpy()]))
    w["sd"] = np.abs(1.0 + kappa) * np.sqrt(v.to_numpy(float))
    return w


def draw_wtp(w: pd.DataFrame, draws: int, seed: int) -> np.ndarray:
    """``draws × len(w)`` WTP draws (normal, floored at ``min(0, w)``: below 0 counts as 0
    unless the estimate itself is negative)."""
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((draws, len(w)))
    est = w["wtp"].to_numpy(float)[None, :]
    return np.maximum(np.minimum(0.0, est), est + w["sd"].to_numpy(float)[None, :] * eps)


def check_robust(scenario: Scenario) -> tuple[str, str] | None:
    """(setting, why) if ``scenario``'s robust settings cannot be used, else None."""
    r = scenario.robust
    if scenario.objective != "expected_profit":
        return None
    if r is None:
        return "robust", "objective expected_profit needs robust: {draws: N, seed: S}"
    for name in ROBUST_RANGES:
        value = getattr(r, name)
        want = out_of_range(name, value)
        if want is not None:
            return f"robust.{name}", f"expected {want}, found {value!r}"
    if scenario.pricing != "uniform":
        return "pricing", "objective expected_profit needs pricing: uniform (a personalized plan cannot tell draws apart)"
    return None


def saa_scenario(scenario: Scenario) -> Scenario:
    """The ``profit`` scenario on segments (s, d) that ``expected_profit`` optimises.

    Rules naming segments apply to each of their draws (``fairness.coverage``: the
    segment is covered in every draw; previous-plan rows of a segment, to each draw).
    One solve asks for it several times (offer space, first plan, final evaluation), so
    the last expansion is kept: scenarios are never changed in place, only replaced.
    """
    global _last_saa
    last = _last_saa           # one read: another thread may replace the pair meanwhile
    if last is not None and last[0] is scenario:
        return last[1]
    out = _expand(scenario)
    _last_saa = (scenario, out)
    return out


_last_saa: tuple[Scenario, Scenario] | None = None


def _expand(scenario: Scenario) -> Scenario:
    problem = check_robust(scenario)
    if problem:
        raise ParameterError(f"{problem[0]}: {problem[1]}")
    r = scenario.robust
    n = int(r.draws)
    w = offer_wtp_sd(scenario, r.wtp_cv)
    wd = draw_wtp(w, n, int(r.seed))
    seg = scenario.segments
    d_ids = np.arange(1, n + 1).astype(str)
    copy_id = lambda s: (np.repeat(np.asarray(s, dtype=object), n) + DRAW_SEP   # noqa: E731
                         + np.tile(d_ids, len(s)).astype(object))
    segments = pd.DataFrame({"size": np.repeat(seg["size"].to_numpy(float) / n, n),
                             "price_sensitivity": np.repeat(seg["price_sensitivity"].to_numpy(float), n)},
                            index=pd.Index(copy_id(seg.index.to_numpy()), name="segment_id"))
    # draw-major in wd; here row-major per (s, b) then draw, matching copy_id's order
    wtp = pd.DataFrame({"segment_id": copy_id(w["segment_id"].to_numpy()),
                        "bundle_id": np.repeat(w["bundle_id"].to_numpy(dtype=object), n),
                        "wtp": wd.T.reshape(-1),
                        "price_sensitivity": np.repeat(w["beta"].to_numpy(float), n),
                        "wtp_sd": np.nan})
    prev = scenario.previous_plan
    per_seg = prev["segment_id"] != "*"
    prev = pd.concat([prev[~per_seg], pd.DataFrame({
        "bundle_id": np.repeat(prev.loc[per_seg, "bundle_id"].to_numpy(dtype=object), n),
        "segment_id": copy_id(prev.loc[per_seg, "segment_id"].to_numpy()),
        "price": np.repeat(prev.loc[per_seg, "price"].to_numpy(float), n)})], ignore_index=True)
    c = scenario.constraints
    constraints = dataclasses.replace(c, coverage=tuple(copy_id(list(c.coverage))))
    return dataclasses.replace(scenario, segments=segments, wtp=wtp, wtp_level="bundle",
                               previous_plan=prev, objective="profit", robust=None,
                               constraints=constraints)


def collapse_segments(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-segment rows of an SAA scenario (``segment_id`` ``s#d``) summed back per ``s``."""
    orig = frame["segment_id"].astype(str).str.rsplit(DRAW_SEP, n=1).str[0]
    return frame.drop(columns="segment_id").groupby(orig.to_numpy(), sort=False).sum(
        min_count=1).rename_axis("segment_id").reset_index()
