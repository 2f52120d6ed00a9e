"""bundleopt's applications: the command line, reports, what-if studies and the service.

They sit on the top floor, above the solve engine (:mod:`solver`), demand learning
(:mod:`demand`) and the model (:mod:`formulations`); nothing below imports them.
``docs/architecture.md`` draws the house.
"""
from __future__ import annotations
