r"""The merchandiser's rules (SCENARIO.md §6), shared by every choice model.

Each rule is written on the offer variables ``x_j`` (point ``j`` on sale) and the demand
variables ``d_a`` of the choice model (``y_a`` first-choice purchase, ``π_a`` MNL share),
with ``D_a = N_s`` so that ``D_a d_a`` is the expected number of sales on arc ``a``.
Rules that only remove prices (``min_margin``, ``min_price``/``max_price``,
``price_change``) and ``exclude`` were already applied by pruning in
:mod:`formulations.offers`. Every constant is per row — there is no global big-M:

* ``must_offer``      ``Σ_{j ∈ b} x_j ≥ 1``
* ``max_offers``      uniform ``Σ_j x_j ≤ K``; personalized ``Σ_{j∈J_sb} x_j ≤ o_b``,
                      ``Σ_b o_b ≤ K``, ``o_b`` binary
* ``max_offers_per_segment``  ``Σ_{j ∈ J_s} x_j ≤ K`` (uniform: ``Σ_j x_j ≤ K``)
* ``inventory``       ``Σ_a D_a q_{i b(a)} d_a ≤ Q_i``
* ``no_arbitrage``    for a multi-item offer ``b`` with component offers ``c_i`` (one per
  product ``i``, each combination), per audience ``g``, with ``M = max_j p_{gb}``:
  ``Σ_{J_gb} p_j x_j − Σ_i q_ib Σ_{J_{g c_i}} p_j x_j + M Σ_i Σ_{J_{g c_i}} x_j ≤ M m``
  (``m`` products): when all components are on sale this is ``p_b ≤ Σ q p_c``; when one
  is not, it is implied by ``p_b ≤ M``.
* ``fairness.max_price_spread δ`` (personalized) with a reference price ``r_b ∈ [0, M_b]``:
  ``Σ_{J_sb} p_j x_j ≤ (1+δ) r_b`` and ``r_b − Σ_{J_sb} p_j x_j + M_b Σ_{J_sb} x_j ≤ M_b``
  — every seen price lies in ``[r_b, (1+δ) r_b]``, which is max ≤ (1+δ)·min.
* ``fairness.coverage``  ``Σ_{a = (s,j): p_j ≤ w_sb} x_j ≥ 1`` for each named segment.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from .linear import LinearModel, Terms, VarFamily, group_rows
from .offers import OfferSpace


def add_offer_variables(model: LinearModel, space: OfferSpace) -> VarFamily:
    """``x_j`` for every price point, and one price per (audience, offer)."""
    pts = space.points
    seg = pts["seg"].to_numpy()
    keys = pd.DataFrame({
        "bundle": space.bundle_ids[pts["b"].to_numpy()],
        "segment": np.where(seg < 0, "*", space.segment_ids[np.maximum(seg, 0)]),
        "price": pts["price"].to_numpy()})
    offer = model.add_vars("on_sale", keys, lb=0.0, ub=1.0, integer=True)
    groups, first = group_rows(pts, ["seg", "b"])
    gkeys = pd.DataFrame({"bundle": space.bundle_ids[first["b"].to_numpy()],
                          "segment": keys["segment"].to_numpy()[first.index.to_numpy()]})
    n = len(pts)
    model.add_constraints("one_price", gkeys, [Terms(offer, groups, np.arange(n), np.ones(n))], hi=1.0)
    return offer


def add_side_constraints(model: LinearModel, space: OfferSpace, offer: VarFamily,
                         demand: VarFamily, per_arc: np.ndarray) -> None:
    c = space.scenario.constraints
    pts, arcs = space.points, space.arcs
    n = len(pts)
    b_of = pts["b"].to_numpy()
    seg_of = pts["seg"].to_numpy()
    price = pts["price"].to_numpy()
    everyone = np.arange(n)

    if c.must_offer:
        code = {bid: i for i, bid in enumerate(space.bundle_ids)}
        pinned = [code[bid] for bid in c.must_offer if bid in code]
        row_of = {b: r for r, b in enumerate(pinned)}
        sel = np.flatnonzero(np.isin(b_of, pinned))
        model.add_constraints("must_offer", pd.DataFrame({"bundle": space.bundle_ids[pinned]}), [
            Terms(offer, np.array([row_of[b] for b in b_of[sel]], dtype=np.int64), sel, np.ones(len(sel)))],
            lo=1.0)

    caps = [k for k in (c.max_offers, None if space.personalized else c.max_offers_per_segment)
            if k is not None]
    if caps and not space.personalized:
        model.add_constraints("max_offers", pd.DataFrame({"all": ["*"]}), [
            Terms(offer, np.zeros(n, np.int64), everyone, np.ones(n))], hi=float(min(caps)))
    if c.max_offers is not None and space.personalized:
        _max_offers_personalized(model, space, offer, c.max_offers)
    if c.max_offers_per_segment is not None and space.personalized:
        model.add_constraints("max_offers_per_segment", pd.DataFrame({"segment": space.segment_ids}), [
            Terms(offer, seg_of, everyone, np.ones(n))], hi=float(c.max_offers_per_segment))

    if c.inventory:
        _inventory(model, space, demand, per_arc)
    if c.no_arbitrage:
        _no_arbitrage(model, space, offer)
    if c.max_price_spread is not None and space.personalized:
        _price_spread(model, space, offer, c.max_price_spread)
    if c.coverage:
        code = {sid: i for i, sid in enumerate(space.segment_ids)}
        covered = [code[s] for s in c.coverage]
        row_of = {s: r for r, s in enumerate(covered)}
        ok = arcs[(arcs["surplus"].to_numpy() >= 0) & arcs["s"].isin(covered).to_numpy()]
        model.add_constraints("coverage", pd.DataFrame({"segment": space.segment_ids[covered]}), [
            Terms(offer, np.array([row_of[s] for s in ok["s"].to_numpy()], dtype=np.int64),
                  ok["j"].to_numpy(), np.ones(len(ok)))], lo=1.0)


def _max_offers_personalized(model, space, offer, k):
    pts = space.points
    used = np.unique(pts["b"].to_numpy())
    on = model.add_vars("offer_used", pd.DataFrame({"bundle": space.bundle_ids[used]}),
                        lb=0.0, ub=1.0, integer=True)
    pos = {b: i for i, b in enumerate(used)}
    grp, first = group_rows(pts, ["seg", "b"])
    m = len(first)
    model.add_constraints("offer_used_link", pd.DataFrame({
        "bundle": space.bundle_ids[first["b"].to_numpy()],
        "segment": space.segment_ids[first["seg"].to_numpy()]}), [
        Terms(offer, grp, np.arange(len(pts)), np.ones(len(pts))),
        Terms(on, np.arange(m), np.array([pos[b] for b in first["b"].to_numpy()]), -np.ones(m))], hi=0.0)
    model.add_constraints("max_offers", pd.DataFrame({"all": ["*"]}), [
        Terms(on, np.zeros(len(used), np.int64), np.arange(len(used)), np.ones(len(used)))], hi=float(k))


def _inventory(model, space, demand, per_arc):
    inv = space.scenario.products["inventory"]
    limited = inv[np.isfinite(inv.to_numpy(float))]
    if limited.empty:
        return
    comp = space.components[space.components["product_id"].isin(limited.index)]
    arcs = space.arcs.reset_index(drop=True)
    use = pd.DataFrame({"a": np.arange(len(arcs)), "b": arcs["b"].to_numpy()}).merge(comp, on="b")
    prod = pd.Index(limited.index)
    rows = prod.get_indexer(use["product_id"])
    coef = per_arc[use["a"].to_numpy()] * use["quantity"].to_numpy(float)
    model.add_constraints("inventory", pd.DataFrame({"product": prod.to_numpy()}), [
        Terms(demand, rows, use["a"].to_numpy(), coef)], hi=limited.to_numpy(float))


def component_offers(space: OfferSpace) -> dict[int, list[list[int]]]:
    """For each multi-item offer ``b``: one list of candidate component offers per product."""
    comp = space.components
    tot = comp.groupby("b")["quantity"].sum()
    nparts = comp.groupby("b")["product_id"].count()
    single = comp[(comp["b"].map(nparts) == 1) & (comp["quantity"] == 1)]
    by_product = single.groupby("product_id")["b"].apply(list).to_dict()
    out = {}
    for b in tot.index[tot.to_numpy() >= 2]:
        parts = comp[comp["b"] == b]
        lists = [by_product.get(p, []) for p in parts["product_id"]]
        if all(lists):
            out[int(b)] = [[int(x) for x in lst] for lst in lists]
    return out


def _no_arbitrage(model, space, offer):
    pts = space.points
    b_of, seg_of, price = pts["b"].to_numpy(), pts["seg"].to_numpy(), pts["price"].to_numpy()
    at = pts.groupby(["seg", "b"], sort=False).indices           # (g, b) -> point positions
    comp = space.components
    rows, idx, coef, lo_hi, keys = [], [], [], [], []
    for b, lists in component_offers(space).items():
        qty = comp[comp["b"] == b]["quantity"].to_numpy(float)
        for g in np.unique(seg_of[b_of == b]):
            jb = at.get((g, b))
            if jb is None:
                continue
            big_m = price[jb].max()
            for combo in itertools.product(*lists):
                parts = [at.get((g, cb)) for cb in combo]
                if any(p is None for p in parts):
                    continue                      # a component never on sale here: no rule
                r = len(keys)
                keys.append((space.bundle_ids[b], "*" if g < 0 else space.segment_ids[g],
                             "+".join(space.bundle_ids[list(combo)])))
                rows.append(np.full(len(jb), r)); idx.append(jb); coef.append(price[jb])
                for q, jc in zip(qty, parts):
                    rows.append(np.full(len(jc), r)); idx.append(jc)
                    coef.append(big_m - q * price[jc])
                lo_hi.append(big_m * len(parts))
    if not keys:
        return
    model.add_constraints("no_arbitrage", pd.DataFrame(keys, columns=["bundle", "segment", "components"]), [
        Terms(offer, np.concatenate(rows), np.concatenate(idx), np.concatenate(coef))],
        hi=np.array(lo_hi))


def _price_spread(model, space, offer, delta):
    pts = space.points
    b_of, price = pts["b"].to_numpy(), pts["price"].to_numpy()
    shared = [b for b in np.unique(b_of) if len(np.unique(pts["seg"].to_numpy()[b_of == b])) > 1]
    if not shared:
        return
    big_m = np.array([price[b_of == b].max() for b in shared])
    ref = model.add_vars("reference_price", pd.DataFrame({"bundle": space.bundle_ids[shared]}),
                         lb=0.0, ub=big_m, unit=0.01)
    sel = np.flatnonzero(np.isin(b_of, shared))
    sub = pts.iloc[sel]
    grp, first = group_rows(sub, ["seg", "b"])
    m = len(first)
    pos = {b: i for i, b in enumerate(shared)}
    ref_idx = np.array([pos[b] for b in first["b"].to_numpy()])
    keys = pd.DataFrame({"bundle": space.bundle_ids[first["b"].to_numpy()],
                         "segment": space.segment_ids[first["seg"].to_numpy()]})
    model.add_constraints("price_spread_upper", keys, [
        Terms(offer, grp, sel, price[sel]),
        Terms(ref, np.arange(m), ref_idx, np.full(m, -(1.0 + delta)))], hi=0.0)
    model.add_constraints("price_spread_lower", keys, [
        Terms(ref, np.arange(m), ref_idx, np.ones(m)),
        Terms(offer, grp, sel, big_m[[pos[b] for b in sub["b"].to_numpy()]] - price[sel])],
        hi=big_m[ref_idx])
