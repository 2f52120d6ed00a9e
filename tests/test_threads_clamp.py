"""More solver threads than cores: the API and CLI use the cores and say so (the
service refuses such a solve with 422: tests/test_service_hostile.py). One function,
``solver.machine.solve_threads``, decides the threads a solve gets."""
from __future__ import annotations

import sys
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_service_support import small_payload  # noqa: E402

from formulations.loading import scenario_from_tables, write_scenario  # noqa: E402
from solver.api import solve  # noqa: E402
from bundleopt.cli import main  # noqa: E402
from solver.backends import get_backend  # noqa: E402
from solver.machine import machine_cores, solve_threads  # noqa: E402


def test_solve_threads_caps_at_the_cores_and_defaults_to_the_backend() -> None:
    cores = machine_cores()
    assert solve_threads(cores) == (cores, None) and solve_threads(1, default=8) == (1, None)
    # unset (None or 0): the backend's default as is, or the solver's own choice
    assert solve_threads(None) == (None, None) and solve_threads(0) == (None, None)
    assert solve_threads(None, default=8) == (8, None) and solve_threads(0, default=8) == (8, None)
    used, note = solve_threads(cores + 1, default=8)
    assert used == cores and str(cores + 1) in note and f"used {cores}" in note


def test_each_backend_declares_its_default_threads() -> None:
    assert get_backend("cpsat").default_threads == 8        # CP-SAT's workers, as documented
    assert get_backend("highs").default_threads is None     # HiGHS decides


def test_the_api_and_cli_clamp_a_thread_bomb_and_say_so(tmp_path: Path) -> None:
    scenario = scenario_from_tables(small_payload())
    result = solve(scenario, threads=100_000)
    assert result.status == "optimal"
    assert any("threads 100000" in n for n in result.summary["notes"])
    assert result.threads_note is not None and "threads 100000" in result.threads_note
    assert solve(scenario, threads=1).threads_note is None
    write_scenario(scenario, tmp_path / "sc")
    run = CliRunner().invoke(main, ["solve", str(tmp_path / "sc"), "--out",
                                    str(tmp_path / "out"), "--threads", "100000"])
    assert run.exit_code == 0, run.output
    # said once: the CLI prints the API's note, it does not decide the threads again
    assert run.output.count("threads 100000 is more than this machine's") == 1
