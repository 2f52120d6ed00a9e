"""A :class:`formulations.linear.MatrixForm` handed to HiGHS through highspy's numpy
``passModel`` overload, for the benchmark scripts that time or probe HiGHS directly.
No side effects on import: scripts that run another code tree first on ``sys.path``
(``study_markdown_rows.py``) import it too."""
from __future__ import annotations

import numpy as np


def pass_form(h, form, integral: bool = True) -> None:
    """Hand a MatrixForm to the ``highspy.Highs`` ``h`` with the numpy ``passModel``
    overload; ``integral=False`` drops integrality (its LP relaxation)."""
    import highspy

    A = form.A.tocsc()
    h.passModel(A.shape[1], A.shape[0], A.nnz, 1, -1 if form.sense == "max" else 1, 0.0,
                form.cost, form.lb, form.ub,
                np.where(np.isfinite(form.lo), form.lo, -highspy.kHighsInf),
                np.where(np.isfinite(form.hi), form.hi, highspy.kHighsInf),
                A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data,
                (form.integer if integral else np.zeros(A.shape[1], bool)).astype(np.int32))
