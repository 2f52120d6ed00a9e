"""``--set`` values and scenario.yaml numbers are read as YAML 1.2 reads them; NaN,
infinities and overflow are refused in one line (issue 22, items 3 and 7)."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bundleopt.cli import main
from bundleopt.study.changes import apply_changes, parse_set
from formulations.errors import BundleoptError, InputError, ParameterError
from formulations.loading import load_scenario
from formulations.robust import out_of_range
from formulations.yaml12 import load_yaml

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "grocery_week"


@pytest.mark.parametrize("text, value", [("1e-3", 1e-3), ("1e308", 1e308), ("-2E+5", -2e5),
                                         ("1.0e+308", 1e308), ("0.5", 0.5), ("7", 7)])
def test_yaml_12_numbers_are_numbers(text: str, value: float) -> None:
    assert load_yaml(text) == value
    assert parse_set(f"scale.wtp={text}") == ("scale.wtp", [value])


@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf", "1e309"])
def test_set_refuses_nan_infinity_and_overflow(text: str) -> None:
    for key in ("scale.wtp", "robust.wtp_cv", "constraints.min_margin"):
        with pytest.raises(ParameterError, match=f"--set {key}: expected a finite number"):
            parse_set(f"{key}={text}")


def test_a_scale_that_overflows_is_the_variants_error_not_a_warning() -> None:
    base = load_scenario(EXAMPLE)
    with pytest.warns(None) if False else _no_warnings():
        with pytest.raises(InputError, match="scale.wtp: × 1e\\+308 makes a value too large"):
            apply_changes(base, {"scale.wtp": 1e308})


def test_deep_brackets_in_set_are_one_line() -> None:
    deep = "[" * 30_000 + "]" * 30_000
    with pytest.raises(BundleoptError, match="nested more than 64 levels"):
        parse_set(f"constraints.must_offer={deep}")
    r = CliRunner().invoke(main, ["sweep", str(EXAMPLE), "--out", "/tmp/never-written-deep",
                                  "--set", f"constraints.must_offer={deep}"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert not Path("/tmp/never-written-deep").exists()


def test_wtp_cv_has_a_ceiling() -> None:
    assert out_of_range("wtp_cv", 10.0) is None
    assert out_of_range("wtp_cv", 1e308) == "a number ≥ 0 and ≤ 10"


def test_scenario_yaml_reads_exponent_numbers(tmp_path: Path) -> None:
    import shutil

    scn = tmp_path / "scn"
    shutil.copytree(EXAMPLE, scn)
    text = (scn / "scenario.yaml").read_text()
    assert "min_margin: 0.15" in text
    (scn / "scenario.yaml").write_text(text.replace("min_margin: 0.15", "min_margin: 15e-2"))
    assert load_scenario(scn).constraints.min_margin == pytest.approx(0.15)


class _no_warnings:
    """Fails if anything inside warns (a numpy overflow warning is what we replaced)."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings(record=True)
        self.caught = self._cm.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)
        assert not self.caught, [str(w.message) for w in self.caught]
        return False
