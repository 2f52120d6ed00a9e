"""Money as the model sees it: cents for prices, micro-units for comparisons."""
from __future__ import annotations

import numpy as np

# Money is compared at a micro-unit: surpluses or prices equal to 6 decimals are ties.
MONEY_DECIMALS = 6


def to_cents(x) -> np.ndarray:
    """Round money to the nearest cent, halves up (24.105 → 24.11), immune to float noise
    such as 32.14 × 0.75 = 24.104999…"""
    return np.floor(np.asarray(x, dtype=float) * 100.0 + 0.5 + 1e-7) / 100.0
