"""What-if studies over the solve API: sweeps (local or Ray), frontiers, what each rule
costs, move-by-move explanations of a plan, and robustness to WTP error.
See docs/whatif.md."""
from .executors import LocalExecutor, RayExecutor, make_executor
from .frontier import frontier, pareto_mask, profit_curve
from .sweep import SolveSettings, Study, StudyRun

__all__ = ["LocalExecutor", "RayExecutor", "SolveSettings", "Study", "StudyRun", "frontier",
           "make_executor", "pareto_mask", "profit_curve"]
