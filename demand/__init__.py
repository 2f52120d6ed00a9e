"""Learn segments and willingness to pay from a retailer's data (see docs/data.md).

Data flows ``data`` (load, clean) -> ``exposures`` / ``stats`` (sufficient statistics)
/ ``features`` -> ``segmentation`` and ``selection`` (K chosen on held-out purchases)
-> ``wtp`` (with its bootstrap) and ``bundles`` -> ``fit`` (writes a scenario
directory; its options, their defaults and ranges are in ``options``). ``status_quo``
compares a solved plan with the status quo under the fitted model. ``simulate``
generates data with a known truth for the tests.
"""
from .data import DemandData, load_data
from .fit import FitResult, fit_scenario
from .segmentation import CustomerSegmenter
from .features import CustomerFeatureEncoder
from .wtp import PriceLogit

__all__ = ["DemandData", "load_data", "FitResult", "fit_scenario", "CustomerSegmenter",
           "CustomerFeatureEncoder", "PriceLogit"]
