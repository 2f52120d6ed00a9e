"""A small labelled linear-model container, built from arrays, emitted two ways.

Formulations declare *families* of variables and constraints, each keyed by an
id-frame (one row per member, e.g. ``segment_id, bundle_id, price``) and written as
sparse coordinate terms, in the style of linopy / pyoframe. One definition then goes

* to a single sparse matrix (:meth:`LinearModel.to_arrays`) — the fast path that the
  backends hand to HiGHS or CP-SAT, built in vectorised numpy; and
* to a Pyomo ``ConcreteModel`` (:meth:`LinearModel.to_pyomo`) with one indexed ``Var``
  and ``Constraint`` per family over sparse index sets — the readable, exportable path
  (``bundleopt export``, LP/MPS files, other solvers), built per element and so slow.

Because both come from the same terms they cannot drift apart; tests solve both.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp


@dataclass
class VarFamily:
    name: str
    keys: pd.DataFrame          # one row per variable: its labels
    offset: int                 # position of the first member in the model's columns
    lb: np.ndarray
    ub: np.ndarray
    integer: bool
    # CP-SAT works in integers: a value of this family is ``unit × integer``. ``None``
    # means the family cannot be represented exactly in integers (e.g. probabilities).
    unit: float | None = 1.0

    @property
    def size(self) -> int:
        return len(self.keys)

    def cols(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Model column numbers of members ``idx`` (all members if ``None``)."""
        if idx is None:
            return np.arange(self.offset, self.offset + self.size)
        return self.offset + np.asarray(idx, dtype=np.int64)


@dataclass
class Terms:
    """Coefficients ``coef`` of variables ``var.cols(idx)`` in rows ``row`` of a family."""

    var: VarFamily
    row: np.ndarray
    idx: np.ndarray
    coef: np.ndarray


@dataclass
class ConFamily:
    name: str
    keys: pd.DataFrame
    offset: int
    lo: np.ndarray
    hi: np.ndarray
    terms: list[Terms] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.keys)


def _arr(v, n: int) -> np.ndarray:
    out = np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()
    return out


class LinearModel:
    """A mixed-integer linear model ``max/min c·x s.t. lo ≤ A x ≤ hi, lb ≤ x ≤ ub``."""

    def __init__(self, name: str, sense: str = "max") -> None:
        if sense not in ("max", "min"):
            raise ValueError(f"sense must be 'max' or 'min', got {sense!r}")
        self.name, self.sense = name, sense
        self.vars: dict[str, VarFamily] = {}
        self.cons: dict[str, ConFamily] = {}
        self.objective: list[Terms] = []
        # Whether the MIP solver should presolve this model: False where its reductions
        # were seen to be numerically unsafe (MNL) or to cost more than they save
        self.presolve = True
        self.notes: list[str] = []          # modelling approximations, for the summary
        # The model relaxes the scenario's problem (MNL segments past e^20, formulations.mnl):
        # its bound is a bound, but its optimum is the scenario's only if the plan's exact
        # value meets that bound
        self.relaxed = False
        self._ncols = 0
        self._nrows = 0

    # ---------------------------------------------------------------- building
    def add_vars(self, name: str, keys: pd.DataFrame, *, lb=0.0, ub=1.0,
                 integer: bool = False, unit: float | None = 1.0) -> VarFamily:
        keys = keys.reset_index(drop=True)
        n = len(keys)
        fam = VarFamily(name, keys, self._ncols, _arr(lb, n), _arr(ub, n), integer, unit)
        self.vars[name] = fam
        self._ncols += n
        return fam

    def add_constraints(self, name: str, keys: pd.DataFrame, terms: Sequence[Terms], *,
                        lo=-np.inf, hi=np.inf) -> ConFamily:
        """Add ``lo ≤ Σ terms ≤ hi``, one row per row of ``keys``."""
        keys = keys.reset_index(drop=True)
        n = len(keys)
        for t in terms:
            if len(t.row) and (t.row.min() < 0 or t.row.max() >= n):
                raise ValueError(f"constraint family {name!r}: term rows outside 0..{n - 1}")
        fam = ConFamily(name, keys, self._nrows, _arr(lo, n), _arr(hi, n), list(terms))
        self.cons[name] = fam
        self._nrows += n
        return fam

    def add_objective(self, var: VarFamily, idx: np.ndarray, coef: np.ndarray) -> None:
        self.objective.append(Terms(var, np.zeros(len(idx), dtype=np.int64),
                                    np.asarray(idx, dtype=np.int64), np.asarray(coef, float)))

    @property
    def num_cols(self) -> int:
        return self._ncols

    @property
    def num_terms(self) -> int:
        """The constraint terms added: the matrix's non-zeros before zeros are dropped and
        repeats summed (an upper bound of ``to_arrays().A.nnz``, without building it)."""
        return sum(len(t.coef) for con in self.cons.values() for t in con.terms)

    @property
    def num_rows(self) -> int:
        return self._nrows

    # ----------------------------------------------------------- fast emitter
    def to_arrays(self) -> "MatrixForm":
        """The whole model as one sparse matrix (CSC) plus bounds — no Python loops
        over members, only over families."""
        # filled in place, in 32-bit indices where they fit: a season at 200/1000/50 x 8
        # has 29 M non-zeros, and the lists of pieces and their concatenation took
        # 2.7-6 s of a 10 s limit
        n = self.num_terms
        index = np.int32 if max(self._nrows, self._ncols) < 2 ** 31 - 1 else np.int64
        r, c, v = np.empty(n, index), np.empty(n, index), np.empty(n)
        at = 0
        for con in self.cons.values():
            for t in con.terms:
                end = at + len(t.coef)
                np.add(np.asarray(t.row), con.offset, out=r[at:end], casting="unsafe")
                np.add(np.asarray(t.idx), t.var.offset, out=c[at:end], casting="unsafe")
                v[at:end] = t.coef
                at = end
        if not v.all():
            keep = v != 0.0
            r, c, v = r[keep], c[keep], v[keep]
        A = sp.coo_matrix((v, (r, c)), shape=(self._nrows, self._ncols)).tocsc()
        A.sum_duplicates()
        cost = np.zeros(self._ncols)
        for t in self.objective:
            np.add.at(cost, t.var.cols(t.idx), t.coef)
        fams = list(self.vars.values())
        lb = np.concatenate([f.lb for f in fams]) if fams else np.zeros(0)
        ub = np.concatenate([f.ub for f in fams]) if fams else np.zeros(0)
        integer = np.concatenate([np.full(f.size, f.integer) for f in fams]) if fams else np.zeros(0, bool)
        unit = np.concatenate([np.full(f.size, np.nan if f.unit is None else f.unit)
                               for f in fams]) if fams else np.zeros(0)
        cons = list(self.cons.values())
        lo = np.concatenate([f.lo for f in cons]) if cons else np.zeros(0)
        hi = np.concatenate([f.hi for f in cons]) if cons else np.zeros(0)
        return MatrixForm(self.sense, cost, A, lo, hi, lb, ub, integer, unit, self.presolve)

    def values(self, x: np.ndarray, family: str) -> np.ndarray:
        f = self.vars[family]
        return np.asarray(x)[f.offset:f.offset + f.size]

    # --------------------------------------------------------- Pyomo emitter
    def to_pyomo(self):
        """The same model as a Pyomo ``ConcreteModel``.

        Each variable family becomes ``Var(set)`` over the sparse set of its key tuples
        and each constraint family ``Constraint(set)`` over its own rows, so LP/MPS
        exports carry readable names such as ``buy[young,S1,9.5]``.
        """
        import pyomo.environ as pyo

        m = pyo.ConcreteModel(name=self.name)
        pvars: dict[str, tuple[list, object]] = {}
        for f in self.vars.values():
            labels = _labels(f.keys)
            setobj = pyo.Set(initialize=labels, dimen=None, ordered=True)
            m.add_component(f"{f.name}_index", setobj)
            domain = pyo.Binary if (f.integer and np.all(f.lb >= 0) and np.all(f.ub <= 1)) else (
                pyo.Integers if f.integer else pyo.Reals)
            bounds = {lab: (None if not np.isfinite(lo) else float(lo),
                            None if not np.isfinite(hi) else float(hi))
                      for lab, lo, hi in zip(labels, f.lb, f.ub)}
            var = pyo.Var(setobj, domain=domain, bounds=lambda _m, *k, _b=bounds: _b[k if len(k) > 1 else k[0]])
            m.add_component(f.name, var)
            pvars[f.name] = (labels, var)

        for con in self.cons.values():
            labels = _labels(con.keys)
            per_row: list[list[tuple[float, object]]] = [[] for _ in range(con.size)]
            for t in con.terms:
                vlabels, var = pvars[t.var.name]
                for r, i, a in zip(t.row.tolist(), t.idx.tolist(), np.asarray(t.coef).tolist()):
                    per_row[r].append((a, var[vlabels[i]]))
            setobj = pyo.Set(initialize=list(range(con.size)), ordered=True)
            m.add_component(f"{con.name}_index", setobj)

            def rule(_m, r, _rows=per_row, _lo=con.lo, _hi=con.hi):
                lo = None if not np.isfinite(_lo[r]) else float(_lo[r])
                hi = None if not np.isfinite(_hi[r]) else float(_hi[r])
                if not _rows[r]:
                    # an empty row is 0: fine, or a rule that cannot hold (must_offer
                    # of an offer with no price left) — keep the latter visible
                    if (lo is not None and lo > 1e-9) or (hi is not None and hi < -1e-9):
                        return pyo.Constraint.Infeasible
                    return pyo.Constraint.Skip
                expr = sum(a * v for a, v in _rows[r])
                if lo is not None and hi is not None and lo == hi:
                    return expr == lo
                return (lo, expr, hi)

            m.add_component(con.name, pyo.Constraint(setobj, rule=rule))

        obj_terms = []
        for t in self.objective:
            vlabels, var = pvars[t.var.name]
            obj_terms += [(a, var[vlabels[i]]) for i, a in zip(t.idx.tolist(), np.asarray(t.coef).tolist())]
        m.objective = pyo.Objective(expr=sum(a * v for a, v in obj_terms),
                                    sense=pyo.maximize if self.sense == "max" else pyo.minimize)
        return m


def group_rows(frame: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Row number of each member's group (in order of first appearance), and the first
    member of every group — the two halves of a "one row per group" constraint family."""
    return frame.groupby(by, sort=False).ngroup().to_numpy(), frame.drop_duplicates(by)


def _labels(keys: pd.DataFrame) -> list:
    if keys.shape[1] == 1:
        return [str(v) for v in keys.iloc[:, 0].tolist()]
    cols = [keys[c].astype(str).tolist() for c in keys.columns]
    return list(zip(*cols))


@dataclass
class MatrixForm:
    """``sense c·x  s.t.  lo ≤ A x ≤ hi,  lb ≤ x ≤ ub,  x_j integer where integer[j]``."""

    sense: str
    cost: np.ndarray
    A: sp.csc_matrix
    lo: np.ndarray
    hi: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    integer: np.ndarray
    unit: np.ndarray            # CP-SAT granularity per column (NaN: not integral)
    presolve: bool = True

    @property
    def shape(self) -> tuple[int, int]:
        return self.A.shape


def stack_periods(models: Sequence[LinearModel], labels: Sequence[str], name: str) -> LinearModel:
    """One model holding ``models`` side by side, one per period: each family of the
    same name becomes one family whose keys start with a ``period`` column (so that
    ``on_sale`` of a season is one family, and exports read ``on_sale[2,A,*,9.5]``).
    Nothing links the copies yet; the season's own rows do that."""
    out = LinearModel(name, sense=models[0].sense)
    out.presolve = all(m.presolve for m in models)
    out.notes = list(dict.fromkeys(n for m in models for n in m.notes))
    out.relaxed = any(m.relaxed for m in models)
    var_start: dict[tuple[int, str], int] = {}
    fams: dict[str, VarFamily] = {}
    for fname in dict.fromkeys(f for m in models for f in m.vars):
        parts = [(t, m.vars[fname]) for t, m in enumerate(models) if fname in m.vars]
        at = 0
        for t, f in parts:
            var_start[(t, fname)] = at
            at += f.size
        first = parts[0][1]
        fams[fname] = out.add_vars(
            fname, _with_period([(labels[t], f.keys) for t, f in parts]),
            lb=np.concatenate([f.lb for _, f in parts]), ub=np.concatenate([f.ub for _, f in parts]),
            integer=first.integer, unit=first.unit)

    def moved(t: int, term: Terms, row_at: int) -> Terms:
        return Terms(fams[term.var.name], np.asarray(term.row, np.int64) + row_at,
                     np.asarray(term.idx, np.int64) + var_start[(t, term.var.name)], term.coef)

    for cname in dict.fromkeys(c for m in models for c in m.cons):
        parts = [(t, m.cons[cname]) for t, m in enumerate(models) if cname in m.cons]
        terms, at = [], 0
        for t, c in parts:
            terms += [moved(t, term, at) for term in c.terms]
            at += c.size
        out.add_constraints(cname, _with_period([(labels[t], c.keys) for t, c in parts]), terms,
                            lo=np.concatenate([c.lo for _, c in parts]),
                            hi=np.concatenate([c.hi for _, c in parts]))
    for t, m in enumerate(models):
        for term in m.objective:
            out.objective.append(moved(t, term, 0))
    return out


def _with_period(parts: list[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    frames = [k.reset_index(drop=True).assign(period=label) for label, k in parts]
    keys = pd.concat(frames, ignore_index=True)
    return keys[["period"] + [c for c in keys.columns if c != "period"]]
