"""Reading and writing scenarios, under the names callers have always imported.

Reading lives in :mod:`formulations.reading` (files and JSON tables → a validated
:class:`~formulations.scenario.Scenario`), writing in :mod:`formulations.writing`.
"""
from __future__ import annotations

from .reading import (REQUIRED_TABLES, SCENARIO_FILES, SETTINGS_FILE, TABLES, load_scenario,
                      scenario_from_tables, settings_schema)
from .writing import scenario_settings, scenario_to_tables, write_scenario

__all__ = ["REQUIRED_TABLES", "SCENARIO_FILES", "SETTINGS_FILE", "TABLES", "load_scenario",
           "scenario_from_tables", "scenario_settings", "scenario_to_tables", "settings_schema",
           "write_scenario"]
