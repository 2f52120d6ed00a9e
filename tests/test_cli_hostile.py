"""Hostile input on every command: each mistake is one ``error:`` line naming the option
(or the file), exit status 2, no traceback and nothing written.

The commands and their options are discovered from the click group, so a command or
option added later is walked too; nothing here lists them by hand.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import click
import pytest
from click.testing import CliRunner

from formulations.errors import InputError
from formulations.files import MAX_NESTING, parse_capped

from bundleopt.cli import main
from bundleopt.cli.options import FiniteFloat, PathType, WholeNumber

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cli import write_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def commands(group: click.Group = main,
             path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every runnable command under ``group``, with the words that start it."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            yield from commands(cmd, path + (name,))
        elif cmd is not None:
            yield path + (name,), cmd


COMMANDS = dict(commands())


def params(kind: type) -> list[tuple[str, str]]:
    """(command, param name) for every parameter whose type is a ``kind``."""
    return [(" ".join(words), p.name) for words, cmd in COMMANDS.items()
            for p in cmd.params if isinstance(p.type, kind)]


def named(param: click.Parameter) -> str:
    """How the error line names ``param``: its longest flag, or an argument's metavar."""
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return param.name.upper()


def _param(command: str, name: str) -> click.Parameter:
    return next(p for p in COMMANDS[tuple(command.split())].params if p.name == name)


def valid_value(param: click.Parameter, tmp: Path) -> str:
    """A value that passes ``param``'s type, so only the value under test can be refused."""
    t = param.type
    if isinstance(t, PathType):
        if t.output:
            return str(tmp / f"new-{param.name}" / ("x.lp" if not t.folder else ""))
        if t.folder:
            return str(tmp / "scn" if (tmp / "scn").is_dir() else write_dir(tmp / "scn"))
        (tmp / "FILE").write_text("")
        return str(tmp / "FILE")
    if isinstance(t, click.Choice):
        return str(t.choices[0])
    return "x=1" if t is click.STRING else "1"


def command_line(command: str, name: str, value: str, tmp: Path) -> list[str]:
    """``command`` with ``value`` for ``name`` and valid values for every other required
    parameter; the value under test comes first, so click reaches it first."""
    cmd = COMMANDS[tuple(command.split())]
    under_test = _param(command, name)
    words, args = list(command.split()), []

    def put(p: click.Parameter, v: str) -> None:
        if isinstance(p, click.Option):
            words.extend([p.opts[0], v])
        else:
            args.append(v)

    put(under_test, value)
    for p in cmd.params:
        if p is not under_test and (p.required or isinstance(p, click.Argument)):
            put(p, valid_value(p, tmp))
    return words + args


def files_under(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def assert_refused(r, option: str) -> None:
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 2, (r.stderr, r.exception)
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert option in lines[0], r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def bad_paths(t: PathType, tmp: Path) -> dict[str, str]:
    """The unusable paths of the review: unwritable, an existing thing of the wrong
    kind (a file where a folder is needed, a folder where a file is), a device, and a
    path through a file. An input must also exist."""
    (tmp / "FILE").write_text("")
    (tmp / "FOLDER").mkdir(exist_ok=True)
    return {"unwritable /proc/x": "/proc/x",
            "wrong kind": str(tmp / ("FILE" if t.folder else "FOLDER")),
            "device": "/dev/null",
            "through a file": str(tmp / "FILE" / "sub")}


PATH_PARAMS = params(PathType)


def test_the_walk_finds_every_path_and_number_option() -> None:
    """No path or float option escapes the shared types (a new one would, with click's)."""
    assert {"solve", "export", "fit", "simulate-data", "report", "sweep", "explain",
            "robustness", "plan run"} <= {c for c, _ in PATH_PARAMS}
    for words, cmd in COMMANDS.items():
        for p in cmd.params:
            assert not isinstance(p.type, (click.Path, click.types.FloatParamType)), (words, p.name)
            if p.name.startswith("out"):
                assert isinstance(p.type, PathType) and p.type.output, (words, p.name)


@pytest.mark.parametrize("command, name", PATH_PARAMS)
def test_every_path_option_refuses_unusable_paths(tmp_path: Path, command: str, name: str) -> None:
    param = _param(command, name)
    for case, value in bad_paths(param.type, tmp_path).items():
        argv = command_line(command, name, value, tmp_path)
        before = files_under(tmp_path)
        r = CliRunner().invoke(main, argv)
        assert_refused(r, named(param))
        assert files_under(tmp_path) == before, (case, files_under(tmp_path) - before)
        assert not Path("/proc/x").exists()


@pytest.mark.parametrize("args", [
    ["solve", "{scn}", "--out", "/dev/null"],
    ["solve", "{scn}", "--out", "{tmp}/FILE/sub"],
    ["solve", "{scn}", "--out", "{tmp}/FILE"],
    ["report", "{scn}", "--out", "{tmp}/FILE/x.html"],
    ["sweep", "{scn}", "--set", "scale.wtp=1", "--out", "/proc/x"],
    ["fit", "{scn}", "--out", "/proc/x"],
])
def test_the_reviews_paths_through_the_real_program(tmp_path: Path, args: list[str]) -> None:
    scn = write_dir(tmp_path / "scn")
    (tmp_path / "FILE").write_text("")
    before = files_under(tmp_path)
    r = subprocess.run([sys.executable, "-m", "bundleopt",
                        *[a.format(scn=scn, tmp=tmp_path) for a in args]],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--out" in lines[0], r.stderr
    assert r.stdout == "" and files_under(tmp_path) == before


def test_an_output_file_may_replace_a_file(tmp_path: Path) -> None:
    (tmp_path / "old.html").write_text("old")
    (tmp_path / "model.lp").write_text("old")
    for command, name in params(PathType):
        t = _param(command, name).type
        if t.output and not t.folder:
            target = tmp_path / ("model.lp" if command == "export" else "old.html")
            assert t.convert(str(target), None, None) == target


# ================================================== click's own usage errors
@pytest.mark.parametrize("command", [" ".join(w) for w in COMMANDS])
def test_a_missing_required_parameter_is_one_line(tmp_path: Path, command: str) -> None:
    required = [p for p in COMMANDS[tuple(command.split())].params if p.required]
    if not required:
        pytest.skip("nothing required")
    r = CliRunner().invoke(main, command.split())
    assert_refused(r, named(required[0]))


@pytest.mark.parametrize("command, name", params(click.Choice))
def test_a_bad_choice_is_one_line_naming_the_option(tmp_path: Path, command: str, name: str) -> None:
    r = CliRunner().invoke(main, command_line(command, name, "no-such-choice", tmp_path))
    assert_refused(r, named(_param(command, name)))


@pytest.mark.parametrize("args, named_", [
    (["solve", "--tme-limit", "3"], "--tme-limit"),
    (["no-such-command"], "no-such-command"),
    (["--bogus"], "--bogus"),
    (["plan", "run", "--bogus"], "--bogus"),
])
def test_unknown_options_and_commands_are_one_line(args: list[str], named_: str) -> None:
    assert_refused(CliRunner().invoke(main, args), named_)


# ================================================== numbers
NOT_FINITE = ["nan", "NaN", "inf", "-inf", ".inf", "Infinity", "1e309", "-1e400", "1_000", "0x10", ""]


@pytest.mark.parametrize("command, name", params(FiniteFloat) + params(WholeNumber))
def test_every_number_option_refuses_nan_infinity_and_overflow(tmp_path: Path, command: str,
                                                                name: str) -> None:
    whole = isinstance(_param(command, name).type, WholeNumber)
    for value in NOT_FINITE + (["1.5", "1e19"] if whole else []):
        r = CliRunner().invoke(main, command_line(command, name, value, tmp_path))
        assert_refused(r, named(_param(command, name)))
        assert not any(tmp_path.rglob("new-*")), value


def test_numbers_are_read_as_yaml_and_json_write_them() -> None:
    f, i = FiniteFloat(), WholeNumber()
    assert [f.convert(v, None, None) for v in ["1e-3", "1e308", ".5", "-2", " 3 ", "1E+2"]] \
        == [1e-3, 1e308, 0.5, -2.0, 3.0, 100.0]
    assert [i.convert(v, None, None) for v in ["7", "1e3", "-0", "9223372036854775807"]] \
        == [7, 1000, 0, 2**63 - 1]


def test_a_tiny_gap_in_e_notation_solves(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["solve", str(write_dir(tmp_path / "scn")), "--out",
                                  str(tmp_path / "out"), "--mip-gap", "1e-3", "-q"])
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "out" / "plan.csv").is_file()


# ================================================== nesting
def _nested_yaml(depth: int) -> str:
    return "".join("  " * i + "k:\n" for i in range(depth - 1)) + "  " * (depth - 1) + "k: 1\n"


def test_the_nesting_cap_is_exact_and_counts_aliases() -> None:
    import yaml

    assert parse_capped(json.loads, "[" * MAX_NESTING + "]" * MAX_NESTING, "f")
    assert parse_capped(yaml.safe_load, _nested_yaml(MAX_NESTING), "f")
    chain = "a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, MAX_NESTING + 1))
    for parse, text in [(json.loads, "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1)),
                        (json.loads, "[" * 100_000 + "]" * 100_000),
                        (yaml.safe_load, _nested_yaml(MAX_NESTING + 1)),
                        (yaml.safe_load, _nested_yaml(500)),
                        (yaml.safe_load, chain),             # 65 deep through aliases
                        (yaml.safe_load, "a: &a [*a]\n")]:   # a list holding itself
        with pytest.raises(InputError, match=f"f: nested more than {MAX_NESTING} levels deep"):
            parse_capped(parse, text, "f")


def test_check_refuses_a_scenario_yaml_nested_500_deep(tmp_path: Path) -> None:
    scn = write_dir(tmp_path / "scn", {"scenario.yaml": "pricing: uniform\nnotes:\n"
                                       + "".join("  " * (i + 1) + "k:\n" for i in range(500))})
    r = CliRunner().invoke(main, ["check", str(scn)])
    assert_refused(r, "scenario.yaml")
    assert "nested more than" in r.stderr


def test_report_refuses_a_summary_json_nested_100000_deep(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text('{"status": "optimal", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    r = CliRunner().invoke(main, ["report", str(run)])
    assert_refused(r, "summary.json")
    assert "nested more than" in r.stderr and not (run / "report.html").exists()


def test_plan_run_refuses_a_config_nested_too_deep(tmp_path: Path) -> None:
    (tmp_path / "week.yaml").write_text("name: w\nx:\n" + "".join(
        "  " + line + "\n" for line in _nested_yaml(300).splitlines()))
    r = CliRunner().invoke(main, ["plan", "run", str(tmp_path / "week.yaml"),
                                  "--db", f"sqlite:///{tmp_path / 'w.db'}"])
    assert_refused(r, "week.yaml")
    assert "nested more than" in r.stderr and not (tmp_path / "w.db").exists()


# ================================================== atomic export, docs
def test_a_failed_export_leaves_no_half_model(tmp_path: Path, monkeypatch) -> None:
    import formulations.build as build

    class HalfWriter:
        def write(self, filename: str, io_options: dict) -> None:
            Path(filename).write_text("\\* half a model")
            raise OSError(28, "No space left on device")

    class Built:
        class model:
            @staticmethod
            def to_pyomo() -> HalfWriter:
                return HalfWriter()

    monkeypatch.setattr(build, "build_model", lambda sc: Built())
    r = CliRunner().invoke(main, ["export", str(write_dir(tmp_path / "scn")), "--out",
                                  str(tmp_path / "m.lp")])
    assert r.exit_code != 0
    assert not (tmp_path / "m.lp").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["scn"]


def test_serve_help_cites_the_repos_own_doc() -> None:
    r = CliRunner().invoke(main, ["serve", "--help"])
    assert r.exit_code == 0
    assert "docs/service.md" in r.stdout and "SERVICE.md" not in r.stdout
    assert (ROOT / "docs" / "service.md").is_file()


def test_seeds_and_simulated_visits_refuse_what_numpy_would_die_on(tmp_path: Path) -> None:
    seeds = [(c, n) for c, n in params(WholeNumber) if n == "seed"]
    assert {c for c, _ in seeds} >= {"fit", "simulate-data", "robustness"}
    for command, name in seeds:
        r = CliRunner().invoke(main, command_line(command, name, "-1", tmp_path))
        assert_refused(r, "--seed")
    for value in ["0", "-1", "1e300"]:
        r = CliRunner().invoke(main, command_line("simulate-data", "visits_per_week", value, tmp_path))
        assert_refused(r, "--visits-per-week")
    assert not any(tmp_path.rglob("new-*"))
