"""What-if studies on hostile input: bounded sizes, refused and flagged plans, files that
keep what a stopped study did, money in cents. No Ray here (test_whatif.py has it);
every study runs in this process or a small local pool.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cli import write_dir  # noqa: E402

from formulations.errors import ParameterError  # noqa: E402
from formulations.loading import load_scenario  # noqa: E402
from bundleopt.cli import main  # noqa: E402
from bundleopt.study import robustness as robustness_mod  # noqa: E402
from bundleopt.study.robustness import MAX_DRAW_CELLS, MAX_DRAWS, robustness  # noqa: E402


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(r, *words: str) -> None:
    """Exit 2, one ``error:`` line naming ``words``, no traceback."""
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert r.exception is None or isinstance(r.exception, SystemExit)


@pytest.fixture()
def tiny_plan(tmp_path):
    scen = write_dir(tmp_path / "tiny")
    assert invoke("solve", scen, "--out", tmp_path / "plan", "-q").exit_code == 0
    return scen, tmp_path / "plan"


# ------------------------------------------------------------------ robustness size
def test_draws_past_the_cap_are_refused_before_anything_is_drawn(tiny_plan, tmp_path, monkeypatch):
    scen, plan_dir = tiny_plan
    sc = load_scenario(scen)
    plan = pd.read_csv(plan_dir / "plan.csv", dtype={"bundle_id": str, "segment_id": str})

    def no_drawing(*a, **k):
        raise AssertionError("drew WTPs for a study it should have refused")

    assert robustness(sc, plan, draws=250, seed=0)["draws"] == 250
    monkeypatch.setattr(robustness_mod, "MAX_DRAW_CELLS", 1000)    # 4 offers seen: 250 draws fit
    assert robustness(sc, plan, draws=250, seed=0)["draws"] == 250
    monkeypatch.setattr(robustness_mod, "draw_wtp", no_drawing)
    with pytest.raises(ParameterError, match="at most 1,000,000"):
        robustness(sc, plan, draws=MAX_DRAWS + 1, seed=0)
    with pytest.raises(ParameterError, match="251 draws × 4 offers seen = 1,004 .* use at most 250 draws"):
        robustness(sc, plan, draws=251, seed=0)
    for draws in (100_000_000, 3_000_000, 0, -5, 251):
        r = invoke("robustness", scen, "--plan", plan_dir, "--draws", draws, "--out", tmp_path / "rob")
        one_error_line(r, "--draws")
        assert not (tmp_path / "rob").exists()
    assert MAX_DRAWS * 8 * 6 <= 2**30 and MAX_DRAW_CELLS * 8 * 6 <= 2**30   # under 1 GiB at peak
