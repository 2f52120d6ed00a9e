"""Scenarios and their MIP formulations (no solver imported here)."""
from .errors import BundleoptError, CapabilityError, DataError, InputError, ParameterError
from .loading import load_scenario, scenario_from_tables, scenario_to_tables, write_scenario
from .scenario import Constraints, Scenario, SolverOptions
from .validate import validate_scenario

__all__ = [
    "BundleoptError", "CapabilityError", "Constraints", "DataError", "InputError",
    "ParameterError", "Scenario", "SolverOptions", "load_scenario", "scenario_from_tables",
    "scenario_to_tables", "validate_scenario", "write_scenario",
]
