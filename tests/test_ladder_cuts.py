"""The ladder-lifted ranking rows (formulations/ladder_cuts.py) against brute force.

Uniform first-choice scenarios of brute-force size already solve with these rows by
default (test_bruteforce.py); here they are forced on for personalized pricing too,
where they are valid but not the default, and the default choice per shape is checked.
"""
from __future__ import annotations

import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from random_scenarios import random_scenario  # noqa: E402
from test_bruteforce import MIXES, check_against_brute_force  # noqa: E402

import formulations.build as build  # noqa: E402
from solver.api import solve  # noqa: E402


def _rng(*parts) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("|".join(map(str, ("ladder",) + parts)).encode()))


@pytest.mark.parametrize("mix", sorted(MIXES))
@pytest.mark.parametrize("objective", ["profit", "revenue"])
def test_ladder_rows_personalized_match_brute_force(monkeypatch, mix, objective):
    monkeypatch.setattr(build, "ladder_rows_pay", lambda space, backend: True)
    sc = random_scenario(_rng(mix, objective), pricing="personalized", objective=objective,
                         constraints=MIXES[mix])
    check_against_brute_force(sc)


@pytest.mark.parametrize("seed", range(4))
def test_ladder_rows_on_forced_ties(monkeypatch, seed):
    monkeypatch.setattr(build, "ladder_rows_pay", lambda space, backend: True)
    sc = random_scenario(_rng("ties", seed), pricing=("uniform", "personalized")[seed % 2],
                         ties=True, wtp_level="bundle")
    check_against_brute_force(sc)


def test_summary_names_the_formulation_chosen_per_shape():
    names = {}
    for pricing in ("uniform", "personalized"):
        for model in ("first_choice", "mnl"):
            sc = random_scenario(_rng(pricing, model), pricing=pricing, choice_model=model)
            names[pricing, model] = solve(sc).summary["model"]["formulation"]
    assert names == {("uniform", "first_choice"): "first_choice_ladder_uniform",
                     ("personalized", "first_choice"): "first_choice_personalized",
                     ("uniform", "mnl"): "mnl_uniform",
                     ("personalized", "mnl"): "mnl_personalized"}
    # CP-SAT did better without the ladder rows at every size measured (ladder_cuts.py)
    sc = random_scenario(_rng("uniform", "first_choice"), pricing="uniform")
    assert solve(sc, backend="cpsat").summary["model"]["formulation"] == "first_choice_uniform"
