"""Learn segments and willingness to pay from a retailer's data (see docs/data.md).

Data flows ``data`` (load, clean) -> ``exposures`` / ``features`` -> ``segmentation``
-> ``wtp`` and ``bundles`` -> ``fit`` (writes a scenario directory). ``simulate``
generates data with a known truth for the tests.
"""
from .data import DemandData, load_data
from .fit import FitResult, fit_scenario
from .segmentation import CustomerSegmenter
from .features import CustomerFeatureEncoder
from .wtp import PriceLogit

__all__ = ["DemandData", "load_data", "FitResult", "fit_scenario", "CustomerSegmenter",
           "CustomerFeatureEncoder", "PriceLogit"]
