"""Weekly plan configurations: reading, checking, and holding their paths to allowed roots.

Config (YAML, or the same keys as a JSON object in a schedule; paths relative to the
config file)::

    name: store-42              # key of the stored weeks (default: the file's stem)
    scenario: base_scenario     # scenario directory (SCENARIO.md), or the scenario itself
                                # in the JSON form of a solve (inline configs)
    demand:                     # optional: re-fit WTP from the latest data each week
      data: data                # DATA.md directory, fitted in-process (demand.fit)
      args: [--segments, '3']   # `bundleopt fit` options; never where it writes
    max_price_change: 0.10      # optional: sets price_change.max_relative
    export: plans/{name}/{week} # optional: where plan.csv and summary.json go
    solver: {backend: highs, time_limit: 120}   # optional; else scenario.yaml's, else 300 s
    approval: required          # optional: export a week only once it is approved
                                # (weekly/approval.py); default none: export at once

From the CLI (the operator's own files) paths are free. A config that came from a
client of the service is *confined* (:class:`Confinement`): the config file and every
path inside it must resolve (symlinks followed) inside the operator's allowed roots,
exports go under the operator's export root (one directory per tenant), and no error
quotes a path the client named.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
import string
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from formulations.errors import InputError, ParameterError
from formulations.files import parse_capped
from formulations.options import BACKENDS, OPTION_RANGES, option_problem
from formulations.yaml12 import load_yaml

WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,128}")
CONFIG_KEYS = ("name", "scenario", "demand", "max_price_change", "export", "solver", "season",
               "approval")
APPROVALS = ("none", "required")
SOLVER_KEYS = ("backend", "time_limit", "mip_gap", "threads")
DEFAULT_EXPORT = "plans/{name}/{week}"
#: `bundleopt fit` options a config may set (``demand.args``), with their types. Options
#: that choose where fit reads or writes (``--out``...) are not among them.
FIT_ARGS: dict[str, tuple[str, type]] = {
    "--segments": ("segments", str), "--horizon-days": ("horizon_days", float),
    "--max-bundles": ("max_bundles", int), "--max-products": ("max_products", int),
    "--features": ("features", str), "--holdout-from": ("holdout_from", str),
    "--holdout-fraction": ("holdout_fraction", float),
    "--min-support": ("min_support", float), "--min-lift": ("min_lift", float),
    "--min-obs": ("min_obs", int), "--seed": ("seed", int)}
FIT_FLAGS = ("--quiet",)


@dataclass(frozen=True)
class Confinement:
    """The directories the operator allowed: configs and their files, and exports."""

    roots: tuple[Path, ...] = ()
    export_root: Path | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> "Confinement":
        return cls(tuple(Path(r) for r in settings.config_roots),
                   Path(settings.export_root) if settings.export_root else None)

    @classmethod
    def from_env(cls) -> "Confinement":
        from ..limits import ServiceSettings

        return cls.from_settings(ServiceSettings.from_env("", []))

    def readable(self, path: Path, source: str, field: str) -> Path:
        """``path`` resolved, if inside a root; else InputError that does not quote it.

        A path that cannot even be resolved (NUL, lone surrogates) gets the same answer
        as one outside the roots."""
        refused = InputError(source, "must be inside the directories the operator allowed "
                             "(BUNDLEOPT_CONFIG_ROOTS)" if self.roots else
                             "must be given inline: the operator allowed no directories "
                             "(BUNDLEOPT_CONFIG_ROOTS)", field=field)
        try:
            resolved = Path(path).resolve()
            str(resolved).encode("utf-8")
        except (ValueError, OSError, UnicodeError):
            raise refused from None
        if not any(resolved.is_relative_to(r.resolve()) for r in self.roots):
            raise refused
        return resolved

    def export_dir(self, tenant: str, source: str) -> Path | None:
        """The tenant's own directory under the export root (``None``: no exports)."""
        if self.export_root is None:
            return None
        return self.export_root.resolve() / tenant


@dataclass(frozen=True)
class WeeklyConfig:
    """A parsed weekly plan configuration.

    ``source`` is what errors name (the file, or ``config`` for a client's config);
    ``scenario_tables`` holds an inline scenario; ``fit_options`` the FitOptions fields
    set by ``demand.args``; ``export`` an absolute path pattern, or ``None``: not exported.
    """

    source: str
    path: Path | None
    name: str
    scenario: Path | None
    scenario_tables: dict[str, Any] | None
    demand_data: Path | None
    fit_options: dict[str, Any]
    max_price_change: float | None
    export: str | None
    solver: dict[str, Any]
    confined: bool = False
    approval: str = "none"
    season: bool = False              # ``season:`` given: weeks re-plan the season (.season)
    season_start: str | None = None


def parse_week(week: str) -> date:
    """Monday of an ISO week ``YYYY-Www``; ParameterError if it is not one."""
    m = WEEK_RE.match(week or "")
    if not m:
        raise ParameterError(f"--week: {week!r} is not an ISO week like 2026-W48")
    try:
        return date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise ParameterError(f"--week: {week} does not exist "
                             f"(year {m.group(1)} has no week {m.group(2)})") from None


def iso_week(day: date) -> str:
    """The ISO week ``YYYY-Www`` containing ``day``."""
    y, w, _ = day.isocalendar()
    return f"{y:04d}-W{w:02d}"


def shift_week(week: str, weeks: int) -> str:
    """The ISO week ``weeks`` after ``week`` (negative: before)."""
    return iso_week(parse_week(week) + timedelta(weeks=weeks))


def checked_week(week: str, source: str, field: str) -> str:
    """``week`` if it is an ISO week that exists, else InputError naming ``field``."""
    try:
        parse_week(week)
    except ParameterError:
        raise InputError(source, f"{week[:20]!r} is not an ISO week like "
                         "2026-W49", field=field) from None
    return week


def season_start(raw: Any, source: str) -> str | None:
    """The config's ``season:`` value checked: ``{start: WEEK}`` (``start`` optional)."""
    if not isinstance(raw, dict) or set(raw) - {"start"}:
        raise InputError(source, "expected {start: YYYY-Www}", field="season")
    start = raw.get("start")
    if start is None:
        return None
    if not isinstance(start, str):
        raise InputError(source, "expected an ISO week like 2026-W49", field="season.start")
    return checked_week(start, source, "season.start")


def load_config(path: str | os.PathLike[str], confinement: Confinement | None = None,
                tenant: str | None = None) -> WeeklyConfig:
    """Read and check a weekly config file; InputError names the file (or, confined,
    just ``config``) and the key."""
    p = Path(path)
    src = "config" if confinement is not None else str(p)
    if confinement is not None:
        p = confinement.readable(p, src, "config")
    try:
        raw = parse_capped(load_yaml, p.read_text(), src)
    except FileNotFoundError:
        raise InputError(src, "file not found") from None
    except IsADirectoryError:
        raise InputError(src, "is a directory, not a config file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(src, f"cannot read: {type(err).__name__}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise InputError(src, f"not valid YAML: {getattr(err, 'problem', None) or 'syntax'}",
                         row=mark.line + 1 if mark else None) from None
    return config_from_mapping(raw, src, base=p.resolve().parent, default_name=p.stem,
                               path=p.resolve(), confinement=confinement, tenant=tenant)


def config_from_mapping(raw: Any, source: str, *, base: Path | None,
                        default_name: str | None = None, path: Path | None = None,
                        confinement: Confinement | None = None,
                        tenant: str | None = None) -> WeeklyConfig:
    """Check a config's keys; relative paths are taken from ``base`` (inline, confined
    configs: from the first allowed root)."""
    if not isinstance(raw, dict):
        raise InputError(source, "expected a mapping of config keys")
    for key in raw:
        if key not in CONFIG_KEYS:
            shown = key if isinstance(key, str) and re.fullmatch(r"\w{1,40}", key) else "?"
            raise InputError(source, f"unknown key; expected one of {', '.join(CONFIG_KEYS)}",
                             field=shown)
    if base is None and confinement is not None and confinement.roots:
        base = confinement.roots[0]

    def where(value: Any, field: str) -> Path:
        if not isinstance(value, str) or not value or "\x00" in value:
            raise InputError(source, "expected a directory path", field=field)
        if base is None:
            if confinement is not None:
                return confinement.readable(Path(value), source, field)  # refuses
            return Path(value).resolve()
        full = base / value
        return (confinement.readable(full, source, field) if confinement is not None
                else full)

    name = raw.get("name", default_name)
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InputError(source, "must be 1-128 letters, digits, '_', '.' or '-'",
                         field="name")
    scenario, tables = raw.get("scenario"), None
    demand = raw.get("demand")
    if scenario is None and demand is None:
        raise InputError(source, "give a scenario directory or demand data", field="scenario")
    if isinstance(scenario, dict):
        tables, scenario = scenario, None
    elif scenario is not None:
        scenario = where(scenario, "scenario")
    data, fit_options = None, {}
    if demand is not None:
        if not isinstance(demand, dict) or set(demand) - {"data", "args"} \
                or not isinstance(demand.get("data"), str):
            raise InputError(source, "expected {data: DIR, args: [...]}", field="demand")
        data = where(demand["data"], "demand.data")
        fit_options = fit_options_from_args(demand.get("args", []), source)
    mpc = raw.get("max_price_change")
    if mpc is not None and (isinstance(mpc, bool) or not isinstance(mpc, (int, float))
                            or not math.isfinite(mpc) or not 0 <= mpc <= 10):
        raise InputError(source, "expected a number from 0 to 10", field="max_price_change")
    export = _export_pattern(raw.get("export", DEFAULT_EXPORT), name, source)
    if confinement is not None:
        if tenant is None:   # a client's config exports under its tenant's directory only
            raise TypeError("config_from_mapping: a confined config needs its tenant")
        root = confinement.export_dir(tenant, source)
        export = _confined_export(root, export, name, source) if root is not None else None
    elif base is not None:
        export = str(base / export)
    solver = _solver(raw.get("solver"), source, confined=confinement is not None)
    approval = raw.get("approval", "none")
    if approval not in APPROVALS:
        raise InputError(source, "expected none or required", field="approval")
    season = "season" in raw
    start = season_start(raw["season"] or {}, source) if season else None
    return WeeklyConfig(source=source, path=path, name=name, scenario=scenario,
                        scenario_tables=tables, demand_data=data, fit_options=fit_options,
                        max_price_change=float(mpc) if mpc is not None else None,
                        export=export, solver=solver, confined=confinement is not None,
                        approval=approval, season=season, season_start=start)


def _export_pattern(export: Any, name: str, source: str) -> str:
    if not isinstance(export, str) or not export or "\x00" in export:
        raise InputError(source, "expected a path pattern", field="export")
    try:
        fields = [(f, conv, spec) for _, f, spec, conv in string.Formatter().parse(export)
                  if f is not None]
    except ValueError:
        fields = [("?", None, None)]
    if any(f not in ("name", "week") or conv or spec for f, conv, spec in fields):
        raise InputError(source, "expected a path pattern whose only fields are {name} "
                         "and {week}", field="export")
    return export


def _confined_export(root: Path, pattern: str, name: str, source: str) -> str:
    """The pattern under the tenant's export directory; refused if it would leave it."""
    probe = (root / pattern.format(name=name, week="2026-W01")).resolve()
    if Path(pattern).is_absolute() or not probe.is_relative_to(root):
        raise InputError(source, "must be a relative path that stays inside the export "
                         "directory the operator allowed (BUNDLEOPT_EXPORT_ROOT)",
                         field="export")
    return str(root / pattern)


def _solver(solver: Any, source: str, confined: bool) -> dict[str, Any]:
    solver = solver or {}
    if not isinstance(solver, dict) or set(solver) - set(SOLVER_KEYS):
        raise InputError(source, "expected {backend, time_limit, mip_gap, threads}",
                         field="solver")
    backend = solver.get("backend")
    if backend is not None and backend not in BACKENDS:
        raise InputError(source, f"expected {' or '.join(BACKENDS)}", field="solver.backend")
    for name in OPTION_RANGES:       # the options' ranges are written once, in formulations
        problem = option_problem(name, solver.get(name))
        if problem is not None:
            raise InputError(source, f"expected {problem}", field=f"solver.{name}")
    if confined:
        from ..limits import check_threads

        check_threads(solver.get("threads"))      # nothing to check when not given
    return dict(solver)


def fit_options_from_args(args: Any, source: str) -> dict[str, Any]:
    """FitOptions fields from ``demand.args`` (``--name value`` or ``--name=value``).

    Only the modelling options of ``bundleopt fit`` are accepted: anything that would
    choose where fit reads or writes (``--out``...) is refused.
    """
    if not isinstance(args, list):
        raise InputError(source, "expected a list of arguments", field="demand.args")
    args = [str(a) for a in args]
    fields = {f.name: f.type for f in dataclasses.fields(_fit_options_type())}
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        opt, eq, value = arg.partition("=")
        if opt in FIT_FLAGS and not eq:
            i += 1
            continue
        if opt not in FIT_ARGS:
            shown = opt[:40] if re.fullmatch(r"-{1,2}[A-Za-z][\w-]*", opt) else "an argument"
            raise InputError(source, f"{shown} is not allowed here; allowed: "
                             f"{', '.join([*FIT_ARGS, *FIT_FLAGS])}", field="demand.args")
        if not eq:
            if i + 1 >= len(args):
                raise InputError(source, f"{opt} needs a value", field="demand.args")
            value = args[i + 1]
            i += 1
        i += 1
        attr, kind = FIT_ARGS[opt]
        try:
            out[attr] = kind(value)
        except ValueError:
            raise InputError(source, f"{opt} expects a {kind.__name__}",
                             field="demand.args") from None
        if attr == "segments" and out[attr] not in ("auto", "given"):
            try:
                out[attr] = int(out[attr])
            except ValueError:
                raise InputError(source, "--segments expects auto, given or a number",
                                 field="demand.args") from None
    assert set(out) <= set(fields)
    return out


def _fit_options_type() -> type:
    from demand.fit import FitOptions

    return FitOptions
