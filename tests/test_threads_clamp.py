"""More solver threads than cores: the API and CLI use the cores and say so (the
service refuses such a solve with 422: tests/test_service_hostile.py)."""
from __future__ import annotations

import sys
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_service_support import small_payload  # noqa: E402

from formulations.loading import scenario_from_tables, write_scenario  # noqa: E402
from solver.api import solve  # noqa: E402
from bundleopt.cli import main  # noqa: E402
from solver.machine import clamp_threads, machine_cores  # noqa: E402


def test_clamp_threads() -> None:
    cores = machine_cores()
    assert clamp_threads(None) == (None, None) and clamp_threads(cores) == (cores, None)
    used, note = clamp_threads(cores + 1)
    assert used == cores and str(cores + 1) in note and f"used {cores}" in note


def test_the_api_and_cli_clamp_a_thread_bomb_and_say_so(tmp_path: Path) -> None:
    scenario = scenario_from_tables(small_payload())
    result = solve(scenario, threads=100_000)
    assert result.status == "optimal"
    assert any("threads 100000" in n for n in result.summary["notes"])
    write_scenario(scenario, tmp_path / "sc")
    run = CliRunner().invoke(main, ["solve", str(tmp_path / "sc"), "--out",
                                    str(tmp_path / "out"), "--threads", "100000"])
    assert run.exit_code == 0, run.output
    assert "threads 100000 is more than this machine's" in run.output
