"""Mid-size uniform first-choice scenarios for the benchmark.

Tens of products, every product sold alone plus random 2–3 item bundles up to the
requested number of candidates, ~10 segments, a 7-point ladder, a margin floor and
binding inventory, drawn by the project's one generator
(:func:`formulations.synthetic.synthetic_scenario`). WTPs are continuous random
numbers, so first-choice ties have probability zero and the textbook MIP (which lets the
seller break ties) has the same optimum as bundleopt's.
"""
from __future__ import annotations

import numpy as np

from formulations.scenario import Scenario
from formulations.synthetic import synthetic_scenario


def midsize_scenario(n_candidates: int, seed: int, *, n_segments: int = 10,
                     min_margin: float = 0.15, n_products: int | None = None,
                     discounts: tuple[float, ...] | None = None,
                  choice_model: str = "first_choice") -> Scenario:
    """A uniform first-choice profit scenario with ``n_candidates`` offers
    (``n_products`` products, default candidates / 3 within [10, 60]; ``discounts``
    the ladder, default the scenario default of 7 points)."""
    return synthetic_scenario(
        n_candidates, seed=seed, n_segments=n_segments,
        n_products=n_products if n_products is not None else int(np.clip(n_candidates // 3, 10, 60)),
        discounts=discounts, wtp_level="product", choice_model=choice_model,
        short_share=0.35, constraints={"min_margin": min_margin, "inventory": True},
        name=f"midsize-{n_candidates}-{seed}")
