r"""A proven upper bound for a season: each period's segment relaxation, with the stock priced.

Drop what links the segments within a period (uniform prices, ``max_offers``, fairness,
…) and what links the periods apart from the stock (the markdown rules,
``price_change``): each segment ``s`` of each period ``t`` then picks its own assortment
and prices, as in :mod:`solver.relaxation`. Keep the stock as a Lagrangian term: with
prices ``μ_iτ ≥ 0`` on the cumulative stock rows (units of product ``i`` sold in periods
``1…τ`` at most the stock plus the receipts up to ``τ``, ``H_iτ``), a sale of offer ``b``
in period ``t`` is charged ``q_ib Σ_{τ ≥ t} μ_iτ`` and

.. math::

    L(μ) = C + \textstyle\sum_t \sum_s N_{st}\, z^*_{st}\bigl(v − σ c q − \text{charge}_t\bigr)
           + \sum_{i,τ} μ_{iτ} H_{iτ}  \;\ge\;  \text{every feasible plan's value},

where ``v − σ c q`` is a sale's value less the salvage its units would have earned, ``C``
the salvage of all the stock (:func:`formulations.season.salvage_terms`) and ``z*`` a
segment's best value per shopper on its own: the best arc under first choice, the MNL
assortment fixed point under MNL (:func:`solver.relaxation.mnl_best_values`, competitors'
attractions included). A feasible plan's units stay within ``H`` (the evaluator's slack,
:func:`~formulations.rules.inventory.allowed_units`), so the added term is ≥ 0 for it and
each segment earns at most ``z*``. Every ``μ ≥ 0`` gives a proven bound (``μ = 0`` drops
the stock). ``μ`` comes from column generation on the dual of ``min_μ L(μ)``: the
choice-based LP (Liu & van Ryzin 2008; Bront, Méndez-Díaz & Vulcano 2009 for latent
classes) over the choices found so far — a share of each, at most 1 per group, the stock
rows — whose stock duals are the next ``μ``; each group's best choice at that ``μ`` is
the next column, and ``L`` at it the next bound. It stops when no choice would enter
(the LP's value is then ``min L``); the least ``L`` seen is the bound.

It is the season's counterpart of the one-period relaxation, and for the same reason:
under MNL the season MIP's own bound stays near its LP relaxation's (gaps of 98 % at
20/60/8 × 4, ``benchmarks/results_season.md``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from formulations.competitors import outside_attraction
from formulations.evaluate import EXP_CAP, capped_attraction
from formulations.rules.inventory import allowed_units, season_stock
from formulations.season import salvage_terms

from .deadline import Deadline
from .relaxation import mnl_best_values

ROUNDS = 60                 # column generation rounds at most
CONVERGED = 1e-6            # stop when the best L is within this of the master's value
# Of a solve's time left, the most the rounds may take: 100/400/20 x 8 under MNL (395k
# arcs) converges in 8 rounds, 3.3 s; 40/150/10 x 4 in 0.2 s.
SHARE = 0.1
_BISECTIONS = 50            # the MNL value to 2^-50 of the segment's best value
_ROUND_OFF = 1 + 1e-9       # float round-off in the sums, far below this margin


@dataclass
class _Arcs:
    """Every period's arcs in one array, grouped by (period, segment) = ``g``."""

    g: np.ndarray               # group: t * n_seg + s
    t: np.ndarray
    b: np.ndarray
    value: np.ndarray           # per sale, less the salvage its units would earn
    attraction: np.ndarray | None   # MNL
    size: np.ndarray            # N per group
    group_period: np.ndarray    # t per group
    outside: np.ndarray | None  # MNL: O per group
    per_offer: sp.csr_matrix | None     # offers × limited products
    allowed: np.ndarray | None  # periods × limited products
    constant: float
    n_offers: int


@dataclass
class _Choice:
    """Each group's own best choice at stock prices ``μ``: ``L(μ)``, the charged best
    value per shopper ``z``, and what the choice earns (uncharged) and takes per shopper."""

    bound: float
    z: np.ndarray
    earns: np.ndarray           # per group
    takes: np.ndarray           # groups × limited products


def season_relaxation_bound(built, until: Deadline | None = None) -> float | None:
    """The bound above for the season model ``built`` (``None`` without arcs), after at
    most :data:`ROUNDS` rounds, none started after ``until``."""
    return season_relaxation(built, until)[0]


def season_relaxation(built, until: Deadline | None = None) -> tuple[float | None, np.ndarray | None]:
    """The bound and the stock prices ``μ`` (periods × limited products) it was found at;
    no round starts after :data:`SHARE` of the time ``until`` leaves."""
    arcs = _season_arcs(built)
    if arcs is None:
        return None, None
    if until is not None and until.limited:
        until = Deadline(SHARE * until.remaining())
    m = 0 if arcs.allowed is None else arcs.allowed.shape[1]
    mu = best_mu = np.zeros((len(built.spaces), m))
    choice = _choose(arcs, mu)
    best = choice.bound
    if not m:
        return best, best_mu
    duals = np.full(len(arcs.size), -np.inf)       # no master yet: every choice enters
    group_of, earns, takes = [], [], []
    for _ in range(ROUNDS):
        if until is not None and until.expired():
            break
        # the columns that would enter the master: reduced cost N z − π > 0 at its duals
        new = np.flatnonzero((choice.earns > 0)
                             & (arcs.size * choice.z > duals + 1e-9 * max(1.0, abs(best))))
        if not len(new):
            break                   # the master LP is optimal: L(μ) is the dual's optimum
        group_of.append(new)
        earns.append(choice.earns[new])
        takes.append(choice.takes[new])
        duals, mu, value = _master(arcs, np.concatenate(group_of), np.concatenate(earns),
                                   np.vstack(takes))
        if mu is None:
            break
        choice = _choose(arcs, mu)
        if choice.bound < best:
            best, best_mu = choice.bound, mu
        if best <= value * (1 + CONVERGED) + CONVERGED:
            # min L lies between the master's value and the best L: nothing left to gain
            # (without this, columns with reduced costs of round-off size keep entering)
            break
    return best, best_mu


def bid_prices(built, mu: np.ndarray) -> np.ndarray:
    """What a unit of each product is worth kept in each period at stock prices ``μ``
    (periods × the season's products; 0 for products without a limit): the charge on a
    sale, ``Σ_{τ ≥ t} μ_iτ`` — the bid prices of network revenue management."""
    scenario = built.season
    limited = np.isfinite(scenario.products["inventory"].to_numpy(float))
    out = np.zeros((len(built.spaces), len(limited)))
    if mu.size:
        # season_stock's columns are the limited products in products order
        out[:, limited] = _kept_from(mu)
    return out


def _kept_from(mu: np.ndarray) -> np.ndarray:
    """Per period ``t`` and limited product, ``Σ_{τ ≥ t} μ_iτ``: a sale in period ``t``
    counts in the stock rows of periods ``t…P``."""
    return np.cumsum(mu[::-1], axis=0)[::-1]


def _master(arcs: _Arcs, group: np.ndarray, earns: np.ndarray,
            takes: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
    """The restricted master LP (the choice-based LP of Liu & van Ryzin 2008 over the
    columns so far; Bront, Méndez-Díaz & Vulcano 2009 for latent classes): a share
    ``w ≥ 0`` of each column, ``Σ w ≤ 1`` per group, the stock rows. Its duals: per group,
    and ``μ`` (periods × limited products), and its value with the constant ``C`` (a
    lower end of ``min L``); ``μ`` is ``None`` if HiGHS does not solve it."""
    n_groups, (P, m) = len(arcs.size), arcs.allowed.shape
    n = len(group)
    per_shopper = arcs.size[group]
    one = sp.csr_matrix((np.ones(n), (group, np.arange(n))), shape=(n_groups, n))
    # a column of period t counts in the stock rows of periods t…P
    t = arcs.group_period[group]
    use = sp.coo_matrix(takes * per_shopper[:, None])                      # columns × products
    sold_in = t[use.row]
    rows = [(tau * m + use.col[on], use.row[on], use.data[on])
            for tau, on in ((tau, sold_in <= tau) for tau in range(P))]
    r, c, d = (np.concatenate([x[k] for x in rows]) for k in range(3))
    stock = sp.csr_matrix((d, (r, c)), shape=(P * m, n))
    lp = linprog(-(per_shopper * earns), A_ub=sp.vstack([one, stock]).tocsr(),
                 b_ub=np.r_[np.ones(n_groups), arcs.allowed.ravel()], bounds=(0, None),
                 method="highs-ds")
    if lp.status != 0:
        return np.zeros(n_groups), None, -np.inf
    # a ≤ row of a minimisation has a marginal ≤ 0; its price in the maximisation is −that
    price = np.maximum(-np.asarray(lp.ineqlin.marginals), 0.0)
    return price[:n_groups], price[n_groups:].reshape(P, m), arcs.constant - float(lp.fun)


def _season_arcs(built) -> _Arcs | None:
    scenario, spaces = built.season, built.spaces
    if not sum(len(space.arcs) for space in spaces):
        return None
    mnl = scenario.choice_model == "mnl"
    n_seg = len(spaces[0].size)
    constant, salvage_per_sale = salvage_terms(scenario, spaces[0])
    parts = []
    for t, space in enumerate(spaces):
        arcs = space.arcs
        b = arcs["b"].to_numpy()
        value = arcs["value"].to_numpy(float)
        if salvage_per_sale is not None:
            value = value - salvage_per_sale[b]
        a = (capped_attraction(arcs["beta"].to_numpy(float), arcs["wtp"].to_numpy(float),
                               arcs["price"].to_numpy(float)) if mnl else None)
        parts.append((t * n_seg + arcs["s"].to_numpy(), np.full(len(b), t), b, value, a))
    g, t, b, value = (np.concatenate([p[k] for p in parts]) for k in range(4))
    a = np.concatenate([p[4] for p in parts]) if mnl else None
    order = np.lexsort((b, g))
    stock = season_stock(scenario, spaces[0])
    per_offer, allowed = (None, None) if stock is None else (stock[0], allowed_units(stock[1]))
    return _Arcs(g[order], t[order], b[order], value[order], None if a is None else a[order],
                 np.concatenate([space.size for space in spaces]).astype(float),
                 np.repeat(np.arange(len(spaces)), n_seg),
                 np.concatenate([outside_attraction(space.scenario, EXP_CAP) for space in spaces])
                 if mnl else None,
                 per_offer, allowed, constant, len(spaces[0].bundle_ids))


def _choose(arcs: _Arcs, mu: np.ndarray) -> _Choice:
    """Each group's best choice with each sale charged its units at ``μ`` (first choice:
    its best arc; MNL: its best assortment), and ``L(μ)``."""
    value = arcs.value
    if mu.size:
        charge_by_period = (arcs.per_offer @ _kept_from(mu).T).T           # periods × offers
        value = value - charge_by_period[arcs.t, arcs.b]
    n_groups = len(arcs.size)
    if arcs.attraction is None:
        z = np.zeros(n_groups)
        np.maximum.at(z, arcs.g, value)
        # each group's first arc of its best value, if it earns anything
        pick = np.flatnonzero((value >= z[arcs.g]) & (z[arcs.g] > 0))
        pick = pick[np.r_[True, arcs.g[pick][1:] != arcs.g[pick][:-1]]] if len(pick) else pick
        share = np.ones(len(pick))
    else:
        z = mnl_best_values(arcs.g, arcs.b, arcs.attraction, value, n_groups, arcs.outside,
                            _BISECTIONS)
        pick, share = _mnl_assortment(arcs, value, z)
    total = arcs.constant + float(arcs.size @ z)
    if mu.size:
        total += float((mu * arcs.allowed).sum())
    earns = np.bincount(arcs.g[pick], weights=share * arcs.value[pick], minlength=n_groups)
    takes = np.zeros((n_groups, 0 if arcs.per_offer is None else arcs.per_offer.shape[1]))
    if takes.shape[1] and len(pick):
        takes = np.asarray((sp.csr_matrix((share, (arcs.g[pick], arcs.b[pick])),
                                          shape=(n_groups, arcs.n_offers)) @ arcs.per_offer).todense())
    return _Choice(total * _ROUND_OFF if total > 0 else total, z, earns, takes)


def _mnl_assortment(arcs: _Arcs, value: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The arcs of each group's best assortment at its value ``z`` (per offer, the price
    of most ``a (v − z)``, if not negative) and their shares ``a / (1 + O + Σ a)``."""
    gain = arcs.attraction * (value - z[arcs.g])
    key = arcs.g.astype(np.int64) * arcs.n_offers + arcs.b
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    top = np.maximum.reduceat(gain, starts)
    # ≥ 0, not > 0: an attraction near the cap puts z* within round-off of that point's
    # value, and the bisection's upper end can reach it (a column without it earned 3.17
    # per shopper where z was 19.89, and column generation stalled)
    pick = np.flatnonzero((gain >= np.repeat(top, np.diff(np.r_[starts, len(key)]))) & (gain >= 0))
    pick = pick[np.r_[True, key[pick][1:] != key[pick][:-1]]] if len(pick) else pick
    seen = np.bincount(arcs.g[pick], weights=arcs.attraction[pick], minlength=len(arcs.size))
    return pick, arcs.attraction[pick] / (1.0 + arcs.outside[arcs.g[pick]] + seen[arcs.g[pick]])
