"""Shoppers per segment and period ahead: simple exponential smoothing, and its backtest.

``bundleopt fit --periods N`` writes ``periods.csv`` (SCENARIO.md §8): N_st, the shoppers
of segment s in each of the N periods after the data. A *shopper* is a shopping
occasion, the unit of ``segments.csv`` ``size`` (a visit for transactions, a distinct
customer and day for exposures; :mod:`demand.fit`).

**History.** Periods of ``D`` whole days are counted back from the data's last date:
period T is the last D days, T − 1 the D days before, and so on; the oldest days that
do not fill a period are left out. y_ts = occasions of segment s's customers in
period t (a day with no occasion counts as 0).

**Method: simple exponential smoothing (SES)**, Hyndman & Athanasopoulos, *Forecasting:
Principles and Practice* (3rd ed., 2021), §8.1::

    ℓ_t = α y_t + (1 − α) ℓ_{t−1},      ŷ_{T+h|T} = ℓ_T   for every h ≥ 1

so the one-step forecast of period t is ŷ_t = (1 − α)^{t−1} ℓ_0 + Σ_{j<t} α (1 − α)^{t−1−j} y_j.
As in FPP §8.1 ("Optimisation"), α and ℓ_0 minimise the sum of squared one-step
errors Σ_t (y_t − ŷ_t)²: for a given α that sum is quadratic in ℓ_0, so ℓ_0 has a
closed form (clipped at 0: a count's level is never negative), and α is the best of
the grid 0, 0.01, …, 1.

*Segments.* One α for all segments, chosen on the total y_t = Σ_s y_ts (the least
noisy series); each segment gets its own least-squares ℓ_0 and its own level. With
one α the forecast is linear in the series, so the segments' forecasts add up to the
forecast of the total (exactly, unless a segment's ℓ_0 was clipped).

*Why SES.* A few months of data (Ta-Feng: 13 weeks) identify no yearly season
(seasonal naive and Holt–Winters need a year or more), and a trend fitted to a dozen
points and carried over a season is a guess the plan would bank on. SES follows
level shifts at the speed the data says (α) and says nothing more: its forecast is
flat. The backtest measures whether it beats the naive last-value forecast.

**Backtest.** The last ``HOLDOUT`` (4) periods of the data are held out; SES is fitted
on the periods before them, and both it and the naive forecast (every held-out period
= the last period before them) are scored by the weighted absolute percentage error

    WAPE = Σ |actual − forecast| / Σ actual

per segment (over its 4 periods) and overall (over every segment × period cell).
With fewer than ``HOLDOUT + 1`` whole periods the backtest is skipped and the report
says why; the forecast itself needs one whole period.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

HOLDOUT = 4                               # periods the backtest holds out
ALPHAS = np.linspace(0.0, 1.0, 101)       # the grid of smoothing parameters
METHOD = ("simple exponential smoothing (Hyndman & Athanasopoulos, Forecasting: Principles and "
          "Practice, 3rd ed., section 8.1): one smoothing parameter alpha for all segments, chosen with "
          "each segment's initial level by least squares of one-step errors on the total; "
          "forecast = each segment's last smoothed level, flat over the horizon")


@dataclass
class SES:
    """A fitted SES: α, each series' initial and last level (the flat forecast)."""

    alpha: float
    initial: np.ndarray       # ℓ_0 per series
    level: np.ndarray         # ℓ_T per series

    def forecast(self, horizon: int) -> np.ndarray:
        """``horizon`` × series: ŷ_{T+h|T} = ℓ_T for h = 1 … horizon."""
        return np.tile(self.level, (horizon, 1))


def _levels(y: np.ndarray, alpha: float) -> np.ndarray:
    """``ℓ_t = α y_t + (1 − α) ℓ_{t−1}`` from ``ℓ_0 = 0``, per column: an IIR filter."""
    # imported here: scipy.signal takes 0.7 s to import, and every CLI command imports
    # this module (bundleopt plan run re-plans a season within its time limit)
    from scipy.signal import lfilter

    return lfilter([alpha], [1.0, alpha - 1.0], y, axis=0)


def _smooth(y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """For T × S ``y``: the one-step forecasts with ℓ_0 = 0 (T × S) and (1 − α)^{t−1}, t = 1 … T.

    ``ŷ_t = a_t ℓ_0 + b_t``; ``b`` is the level after periods 1 … t − 1 from a zero start
    (an IIR filter, vectorised over the series by :func:`scipy.signal.lfilter`).
    """
    T = y.shape[0]
    levels = _levels(y, alpha)                                       # ℓ_t from ℓ_0 = 0
    b = np.vstack([np.zeros((1, y.shape[1])), levels[:-1]])
    a = (1.0 - alpha) ** np.arange(T)
    return b, a


def _initial(y: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Least-squares ℓ_0 per series (clipped at 0): argmin Σ_t (y_t − b_t − a_t ℓ_0)²."""
    return np.maximum((a @ (y - b)) / (a @ a), 0.0)


def fit_ses(y: np.ndarray, alpha: float | None = None) -> SES:
    """SES on the columns of ``y`` (T × S, T ≥ 1): α given, or chosen on the row sums (module docstring)."""
    y = np.asarray(y, dtype=float)
    if y.ndim != 2 or y.shape[0] < 1:
        raise ValueError("fit_ses needs a periods x series array with at least one period")
    if alpha is None:
        total = y.sum(axis=1, keepdims=True)
        sse = np.empty(len(ALPHAS))
        for i, al in enumerate(ALPHAS):          # a loop over 101 candidates, each one vectorised
            b, a = _smooth(total, al)
            sse[i] = float(np.sum((total - b - a[:, None] * _initial(total, b, a)) ** 2))
        # Ties (e.g. a constant series) go to the smallest SSE's first α, within rounding.
        alpha = float(ALPHAS[int(np.flatnonzero(sse <= sse.min() * (1 + 1e-12) + 1e-12)[0])])
    b, a = _smooth(y, alpha)
    l0 = _initial(y, b, a)
    # ℓ_T = (1 − α)^T ℓ_0 + (the level of periods 1 … T from a zero start)
    level = (1.0 - alpha) ** y.shape[0] * l0 + _levels(y, alpha)[-1]
    return SES(alpha=alpha, initial=l0, level=level)


def wape(actual: np.ndarray, forecast: np.ndarray) -> float | None:
    """Σ|actual − forecast| / Σ actual over all cells (``None`` when nothing was actual)."""
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    total = float(actual.sum())
    return None if total <= 0 else float(np.abs(actual - forecast).sum() / total)


def period_history(days: np.ndarray, segment: np.ndarray, n_segments: int, period_days: int,
                   last_day: np.datetime64) -> tuple[np.ndarray, np.ndarray]:
    """Occasions per whole period (oldest first) and segment: T × S counts, and each period's first day.

    ``days``: one date per occasion; ``segment``: its segment code (< 0: none, left out).
    Periods end at ``last_day`` (module docstring).
    """
    d = np.asarray(days).astype("datetime64[D]")
    last = np.datetime64(last_day, "D")
    first = d.min() if len(d) else last
    n_periods = int((last - first).astype(int) + 1) // period_days
    back = (last - d).astype(int) // period_days                    # 0 = the last period
    keep = (back < n_periods) & (segment >= 0)
    t = n_periods - 1 - back[keep]
    counts = np.bincount(t * n_segments + segment[keep], minlength=n_periods * n_segments)
    starts = last - (np.arange(n_periods)[::-1] + 1) * period_days + 1
    return counts.reshape(n_periods, n_segments).astype(float), starts.astype("datetime64[D]")


def backtest(y: np.ndarray, segment_ids: list[str], holdout: int = HOLDOUT) -> dict:
    """WAPE of SES and of the naive last value on the last ``holdout`` periods of ``y`` (T × S)."""
    T = y.shape[0]
    if T < holdout + 1:
        return {"skipped": f"the data holds {T} whole period(s); the backtest needs at least {holdout + 1} "
                           f"({holdout} held out and at least one to fit on)", "holdout_periods": holdout}
    train, test = y[:-holdout], y[-holdout:]
    ses = fit_ses(train)
    f_ses = ses.forecast(holdout)
    f_naive = np.tile(train[-1], (holdout, 1))
    return {
        "holdout_periods": holdout,
        "fitted_on_periods": T - holdout,
        "alpha": ses.alpha,
        "wape": {"ses": wape(test, f_ses), "naive_last_value": wape(test, f_naive)},
        "segments": [{"segment_id": s, "actual": test[:, k].tolist(), "ses": f_ses[:, k].tolist(),
                      "naive_last_value": f_naive[:, k].tolist(),
                      "wape": {"ses": wape(test[:, k], f_ses[:, k]),
                               "naive_last_value": wape(test[:, k], f_naive[:, k])}}
                     for k, s in enumerate(segment_ids)],
    }


def season_forecast(days: np.ndarray, segment: np.ndarray, segment_ids: list[str], periods: int,
                    period_days: int, last_day: np.datetime64) -> tuple[pd.DataFrame, dict]:
    """``periods.csv`` (``period, segment_id, size``) for the ``periods`` periods after ``last_day``,
    and the report's ``season`` entry (history, α, forecast dates, backtest).

    Raises ``ValueError`` when the data does not fill one whole period.
    """
    S = len(segment_ids)
    y, starts = period_history(days, segment, S, period_days, last_day)
    if y.shape[0] < 1:
        raise ValueError(f"the data's dates span less than one period of {period_days} days: "
                         "nothing to forecast from")
    ses = fit_ses(y)
    fc = ses.forecast(periods)
    table = pd.DataFrame({"period": np.repeat(np.arange(1, periods + 1), S),
                          "segment_id": np.tile(np.asarray(segment_ids, dtype=object), periods),
                          "size": fc.ravel().round(6)})
    last = np.datetime64(last_day, "D")
    ahead = last + 1 + np.arange(periods) * period_days
    report = {
        "method": METHOD,
        "unit": "shopping occasions per period (the unit of segments.csv size)",
        "period_days": period_days,
        "periods": periods,
        "alpha": ses.alpha,
        "history": {"period_start": [str(d) for d in starts], "last_day": str(last),
                    "occasions": {s: y[:, k].tolist() for k, s in enumerate(segment_ids)}},
        "forecast": {"period": list(range(1, periods + 1)),
                     "from": [str(d) for d in ahead], "to": [str(d + period_days - 1) for d in ahead],
                     "size": {s: float(round(ses.level[k], 6)) for k, s in enumerate(segment_ids)}},
        "backtest": backtest(y, segment_ids),
    }
    return table, report
