"""Scenarios and their MIP formulations (no solver imported here)."""
from .errors import BundleoptError, CapabilityError, DataError, InputError, ParameterError
from .options import SolverOptions
from .reading import load_scenario, scenario_from_tables
from .scenario import Constraints, Scenario
from .validate import validate_scenario
from .writing import scenario_to_tables, write_scenario

__all__ = [
    "BundleoptError", "CapabilityError", "Constraints", "DataError", "InputError",
    "ParameterError", "Scenario", "SolverOptions", "load_scenario", "scenario_from_tables",
    "scenario_to_tables", "validate_scenario", "write_scenario",
]
