"""What a new user hit, checked the way they would see it: the real ``bundleopt``
command (and the example generator script) in a child process."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_time_limit import hard_scenario  # noqa: E402

from formulations import write_scenario  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "grocery_week"
CLI = [sys.executable, "-c", "import sys; from bundleopt.cli import main; sys.exit(main())"]


def _run(args: list[str], umask: int = 0o022, timeout: float = 300) -> subprocess.CompletedProcess:
    def set_umask() -> None:
        os.umask(umask)

    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=set_umask)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_solve_output_follows_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    out = tmp_path / "out"
    r = _run(CLI + ["solve", str(EXAMPLE), "--out", str(out), "-q"], umask=umask)
    assert r.returncode == 0, r.stderr
    assert _mode(out / "plan.csv") == mode and _mode(out / "summary.json") == mode


def test_time_limit_zero_names_the_flag(tmp_path: Path) -> None:
    r = _run(CLI + ["solve", str(EXAMPLE), "--out", str(tmp_path / "o"), "--time-limit", "0"])
    assert r.returncode == 2
    assert r.stderr.strip() == "error: --time-limit must be a number of seconds > 0. Got 0.0 instead."
    assert not (tmp_path / "o").exists()


def test_time_limited_result_says_the_time_limit_stopped_it(tmp_path: Path) -> None:
    write_scenario(hard_scenario("mnl"), tmp_path / "hard")
    out = tmp_path / "out"
    r = _run(CLI + ["solve", str(tmp_path / "hard"), "--out", str(out), "--time-limit", "1"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] in ("feasible", "no_solution")
    assert summary["stopped_by"] == "time_limit"
    assert any("stopped by the time limit" in n for n in summary["notes"])
    if summary["status"] == "feasible":
        assert r.returncode == 0
        assert "stopped by the time limit before proving it optimal" in r.stdout.splitlines()[0]
    else:
        assert r.returncode == 1 and "no plan found within the time limit" in r.stdout


def test_check_prints_readable_text() -> None:
    r = _run(CLI + ["check", str(EXAMPLE)])
    assert r.returncode == 0, r.stderr
    assert "{" not in r.stdout and "'" not in r.stdout
    lines = r.stdout.splitlines()
    assert lines[0].startswith("ok: 30 products")
    assert any(ln.startswith("rules: min_margin, max_offers") for ln in lines)
    assert any(ln.startswith("pruned: ") and "by min_margin" in ln for ln in lines)


def test_help_states_the_defaults() -> None:
    r = _run(CLI + ["solve", "--help"])
    text = " ".join(r.stdout.split())
    assert "--time-limit FLOAT" in text and "Default: scenario.yaml's solver.time_limit, else no limit." in text
    assert "Default: scenario.yaml's solver.threads" in text


def test_example_generator_one_line_error_and_says_what_it_wrote(tmp_path: Path) -> None:
    script = [sys.executable, str(ROOT / "examples" / "make_grocery_example.py")]
    r = _run(script + [str(tmp_path / "ex")])
    assert r.returncode == 0, r.stderr
    assert [ln.split(" (")[0] for ln in r.stdout.splitlines()] == [
        f"wrote {tmp_path / 'ex' / 'grocery_week'}/", f"wrote {tmp_path / 'ex' / 'grocery_personal'}/"]
    assert _mode(tmp_path / "ex" / "grocery_week") == 0o755
    (tmp_path / "file").write_text("")
    r = _run(script + [str(tmp_path / "file")])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines() == [f"error: {tmp_path / 'file' / 'grocery_week'}: cannot write: "
                                     f"{tmp_path / 'file'} is a file, not a folder"]
