"""Weekly plans: their config (:mod:`.config`), one week's run (:mod:`.runner`), the
export of a stored plan (:mod:`.export`), a week's versions (:mod:`.versions`) and its
review, which gates the export (:mod:`.approval`)."""
from __future__ import annotations

from .config import (Confinement, WeeklyConfig, config_from_mapping, iso_week,
                     load_config, parse_week, shift_week)
from .export import export_plan, export_path
from .runner import (DEFAULT_TIME_LIMIT, WeeklyOutcome, build_scenario, previous_plan,
                     run_week, stored_result)

__all__ = ["Confinement", "DEFAULT_TIME_LIMIT", "WeeklyConfig", "WeeklyOutcome",
           "build_scenario", "config_from_mapping", "export_path", "export_plan", "iso_week",
           "load_config", "parse_week", "previous_plan", "run_week", "shift_week",
           "stored_result"]
