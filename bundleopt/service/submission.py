"""Checking a scenario a client sent, the same way wherever it arrives: the body of a
solve, or the inline scenario of a schedule's weekly config.

Every value is bounded first (:func:`~.limits.check_payload_values`), the size is capped
before any work is spent on it (``413``), then the scenario is validated; a mistake is an
:class:`~formulations.errors.InputError` naming the table, row and field (``422``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException

from formulations.errors import BundleoptError, InputError

from .limits import (ServiceSettings, check_payload_values, check_threads, parse_json,
                     scenario_cells, service_time_limit)


@dataclass(frozen=True)
class Submission:
    """A checked solve request: the payload as parsed, the solver options the service
    will use, and the number of offers."""

    payload: dict[str, Any]
    options: dict[str, Any]
    n_offers: int


def checked_scenario(payload: Any, settings: ServiceSettings) -> Any:
    """The ``Scenario`` of a client's payload; 422 (InputError) or 413 if it is not one."""
    if not isinstance(payload, dict):
        raise InputError("payload", "expected a JSON object with the scenario tables")
    check_payload_values(payload)
    cells = scenario_cells(payload)
    if cells > settings.max_cells:
        raise HTTPException(413, f"scenario too large: {cells} offer × segment × price "
                            f"cells, the limit is {settings.max_cells}")
    scenario = _parse(payload)
    check_threads(scenario.solver.threads)
    return scenario


def submission(body: bytes, settings: ServiceSettings) -> Submission:
    """A solve request's body checked (a retry is checked like the first request: a
    broken body is never "accepted")."""
    try:
        payload = parse_json(body)
    except ValueError as err:
        raise HTTPException(422, f"body is not valid JSON: {err}") from None
    scenario = checked_scenario(payload, settings)
    o = scenario.solver
    options = {"backend": o.backend,
               "time_limit": service_time_limit(o.time_limit, settings.default_time_limit,
                                                settings.max_time_limit),
               "mip_gap": o.mip_gap, "threads": o.threads}
    n_offers = len({str(r.get("bundle_id")) for r in payload["bundles"]})
    return Submission(payload, options, n_offers)


def _parse(payload: dict[str, Any]) -> Any:
    from formulations.loading import scenario_from_tables

    try:
        return scenario_from_tables(payload)
    except BundleoptError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as err:
        # Input the loader did not anticipate; still the user's input, not a crash.
        raise InputError("payload", f"not a valid scenario ({type(err).__name__}: {err})"
                         ) from None
