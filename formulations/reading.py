"""Reading scenarios: a directory of files (docs/scenario.md §7) or JSON tables.

Both forms go through the same steps: every table becomes a frame of stripped
strings, the header is checked against the known columns, columns are converted to
numbers one at a time (blank → NaN, anything else that is not a number is an error),
and the typed :class:`Scenario` is then handed to
:func:`formulations.validate.validate_scenario` for every range, uniqueness and
reference rule. So a bad value gets the same one-line message whichever way it came,
naming the file (``products.csv``; for JSON the table, ``products``), the row (files:
the spreadsheet row, header = row 1; JSON: the 1-based record number) and the field.

Column rules (deliberately strict, so a typo never silently drops data): every
required column must be present; an unknown column is an error (with the closest
known name suggested), except in ``previous_plan.csv``, which is a ``plan.csv`` from
an earlier run and carries KPI columns we do not read. A header cell that is blank
and whose column is blank throughout (a trailing comma) is ignored. Blank rows are
skipped but still counted, so row numbers match what a spreadsheet shows.
In ``bundles.csv`` the per-offer columns ``complementarity``, ``min_price`` and
``max_price`` may be given on every row of an offer or only on some (blank = not
restated); values given for the same offer must agree.
"""
from __future__ import annotations

import csv
import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import yaml

from . import schema
from .checks import Sources, suggest
from .errors import InputError
from .files import parse_capped
from .options import SolverOptions
from .rules import all_rules, nest_by_key
from .scenario import MAX_PERIODS, Constraints, Horizon, RobustOptions, Scenario
from .validate import validate_scenario
from .yaml12 import Yaml12Loader

SETTINGS_FILE = "scenario.yaml"
TABLES = ("products", "bundles", "segments", "wtp", "prices", "previous_plan", "periods",
          "receipts", "competitors")
REQUIRED_TABLES = ("products", "bundles", "segments", "wtp")
SCENARIO_FILES = (SETTINGS_FILE,) + tuple(f"{t}.csv" for t in TABLES)

# table -> (required columns, optional columns, numeric columns)
_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "products": (("product_id", "unit_cost", "list_price"), ("inventory", "name"),
                 ("unit_cost", "list_price", "inventory")),
    "bundles": (("bundle_id", "product_id", "quantity"),
                ("complementarity", "min_price", "max_price"),
                ("quantity", "complementarity", "min_price", "max_price")),
    "segments": (("segment_id", "size"), ("price_sensitivity", "switching_cost"),
                 ("size", "price_sensitivity", "switching_cost")),
    # one of bundle_id / product_id is required too (checked separately)
    "wtp": (("segment_id", "wtp"), ("bundle_id", "product_id", "price_sensitivity", "wtp_sd"),
            ("wtp", "price_sensitivity", "wtp_sd")),
    "prices": (("bundle_id", "price"), (), ("price",)),
    "previous_plan": (("bundle_id", "segment_id", "price"), (), ("price",)),
    "periods": (("period", "segment_id", "size"), (), ("size",)),
    "receipts": (("period", "product_id", "units"), (), ("units",)),
    # one of bundle_id / product_id per row (checked in validate.py)
    "competitors": (("price",), ("bundle_id", "product_id", "period"), ("price",)),
}
_OPEN_COLUMNS = ("previous_plan",)   # tables whose extra columns are ignored


# ============================================================ settings (YAML / JSON)
def settings_schema() -> dict[str, Any]:
    """scenario.yaml's keys: a nested dict is a section, a callable parses a leaf.

    ``constraints`` comes from the rule catalogue, so a newly registered rule's key is
    accepted at once.
    """
    rules = nest_by_key({rule.yaml_key: rule.parse for rule in all_rules()})
    return {
        "pricing": schema.text,
        "choice_model": schema.text,
        "objective": schema.text,
        "price_ladder": {"discounts": schema.discounts},
        **rules,
        "horizon": {"periods": schema.periods, "salvage": schema.number},
        "solver": {"backend": schema.text, "time_limit": schema.number,
                   "mip_gap": schema.number, "threads": schema.integer},
        "robust": {"draws": schema.integer, "seed": schema.integer, "wtp_cv": schema.number},
    }


def _leaf_paths(schema: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Every key of the schema -> its full dotted path (keys are unique across sections)."""
    out: dict[str, str] = {}
    for key, rule in schema.items():
        out[key] = prefix + key
        if isinstance(rule, dict):
            out.update(_leaf_paths(rule, prefix + key + "."))
    return out


def _unknown_key_hint(key: str, section: dict[str, Any]) -> str:
    # a valid key put in the wrong section (coverage directly under constraints)
    paths = _leaf_paths(settings_schema())
    if key in paths:
        return f" (it belongs at '{paths[key]}')"
    return suggest(key, section)


def _walk(mapping: Any, schema: dict[str, Any], prefix: str, src: str,
          out: dict[str, Any]) -> None:
    if mapping is None:
        return
    if not isinstance(mapping, dict):
        raise InputError(src, f"expected a mapping of keys, found {mapping!r}",
                         field=prefix.rstrip(".") or None)
    for key, value in mapping.items():
        if not isinstance(key, str) or key not in schema:
            where = f" in '{prefix.rstrip('.')}'" if prefix else ""
            raise InputError(src, f"unknown key {str(key)!r}{where}"
                             + _unknown_key_hint(str(key), schema), field=prefix + str(key))
        rule = schema[key]
        if isinstance(rule, dict):
            _walk(value, rule, prefix + key + ".", src, out)
        else:
            out[prefix + key] = rule(value, prefix + key, src)


def _settings(mapping: Any, src: str) -> dict[str, Any]:
    """Scenario keyword arguments from the parsed scenario.yaml / JSON ``scenario``."""
    flat: dict[str, Any] = {}
    _walk(mapping, settings_schema(), "", src, flat)
    kw: dict[str, Any] = {}
    for key in ("pricing", "choice_model", "objective"):
        if flat.get(key) is not None:
            kw[key] = flat[key]
    if "price_ladder.discounts" in flat:
        kw["discounts"] = flat["price_ladder.discounts"]
    kw["constraints"] = Constraints.of(**{r.field: flat[r.yaml_key] for r in all_rules()
                                          if r.yaml_key in flat})
    o = {k.split(".", 1)[1]: v for k, v in flat.items() if k.startswith("solver.")}
    if o.get("backend") is None:
        o.pop("backend", None)
    kw["solver"] = SolverOptions(**o)
    r = {k.split(".", 1)[1]: v for k, v in flat.items() if k.startswith("robust.") and v is not None}
    if r:
        kw["robust"] = RobustOptions(**r)
    if any(k.startswith("horizon.") for k in flat):
        kw["horizon"] = _horizon(flat, src)
    return kw


def _horizon(flat: dict[str, Any], src: str) -> Horizon:
    """``horizon:`` as a :class:`Horizon` (a count becomes labels ``1…P``; the labels'
    own checks are in :mod:`formulations.validate`)."""
    periods = flat.get("horizon.periods")
    if periods is None:
        raise InputError(src, "a horizon needs 'periods' (a number or a list of labels)",
                         field="horizon.periods")
    if isinstance(periods, int):
        if not 1 <= periods <= MAX_PERIODS:
            raise InputError(src, f"expected 1 to {MAX_PERIODS} periods, found {periods}",
                             field="horizon.periods")
        periods = tuple(str(t) for t in range(1, periods + 1))
    salvage = flat.get("horizon.salvage")
    return Horizon(periods, 0.0 if salvage is None else salvage)


class _StrictLoader(Yaml12Loader):
    """The YAML 1.2-number loader, refusing a key given twice (PyYAML silently keeps the last)."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, (str, int, float, bool)):
            continue        # unhashable keys are reported later as unknown keys
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(SETTINGS_FILE, "not UTF-8 text") from None
    try:
        return parse_capped(lambda t: yaml.load(t, Loader=_StrictLoader), text, SETTINGS_FILE)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        start = getattr(e, "context_mark", None)
        if start is not None and mark is not None and start.line != mark.line:
            line += f" (in the part that starts at line {start.line + 1})"
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InputError(SETTINGS_FILE, f"YAML does not parse{line}: {problem}") from None


# ============================================================ tables as text
@dataclass
class _Raw:
    """A table as stripped text, with the file row (or record number) of each row."""

    name: str                        # products.csv / products
    frame: pd.DataFrame              # all columns str, values stripped
    rows: np.ndarray                 # row number shown to the user, per frame row
    header_row: Callable[[str], int | None]

    def error(self, pos: int | None, column: str | None, problem: str) -> InputError:
        return InputError(self.name, problem,
                          row=None if pos is None else int(self.rows[pos]), field=column)


def _read_csv(path: Path, name: str) -> _Raw:
    try:
        # header=None keeps duplicate header names visible (pandas would rename them)
        raw = pd.read_csv(path, header=None, dtype=str, keep_default_na=False,
                          skip_blank_lines=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise InputError(name, "the file is empty (expected a header row)") from None
    except UnicodeDecodeError:
        raise InputError(name, "not UTF-8 text") from None
    except (pd.errors.ParserError, csv.Error) as e:
        m = re.search(r"line (\d+)", str(e))
        raise InputError(name, f"malformed CSV: {str(e).strip().splitlines()[-1]}",
                         row=int(m.group(1)) if m else None) from None
    raw = raw.fillna("")
    header = [h.strip() for h in raw.iloc[0].tolist()]
    body = raw.iloc[1:].apply(lambda col: col.str.strip())
    body.columns = range(len(header))
    rows = np.arange(2, len(raw) + 1)
    # a blank header over a blank column is a trailing comma, not a column
    keep = [j for j, h in enumerate(header) if h or (body[j] != "").any()]
    for j, h in enumerate(header):
        if j in keep and not h:
            raise InputError(name, f"column {j + 1} has no name", row=1)
    seen: set[str] = set()
    for j in keep:
        if header[j] in seen:
            raise InputError(name, f"column '{header[j]}' appears twice", row=1,
                             field=header[j])
        seen.add(header[j])
    body = body[keep]
    body.columns = [header[j] for j in keep]
    filled = (body != "").any(axis=1).to_numpy(bool) if len(keep) else np.zeros(len(body), bool)
    return _Raw(name, body[filled].reset_index(drop=True), rows[filled], lambda col: 1)


def _cell(value: Any, table: str, pos: int, key: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"   # then rejected where a number is expected
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else repr(float(value))   # repr round-trips exactly
    if isinstance(value, str):
        return value.strip()
    raise InputError(table, f"expected a single value, found {type(value).__name__}",
                     row=pos + 1, field=key)


def _records(records: Any, table: str) -> _Raw:
    if not isinstance(records, list):
        raise InputError(table, f"expected a list of records, found {type(records).__name__}")
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise InputError(table, f"expected a record (object), found {r!r}", row=i + 1)
    keys = list(dict.fromkeys(k for r in records for k in r))
    for k in keys:
        if not isinstance(k, str):
            raise InputError(table, f"field names must be text, found {k!r}")
    # a cell is converted individually: JSON tables are request-sized
    data = {k: [_cell(r.get(k), table, i, k) for i, r in enumerate(records)] for k in keys}
    frame = pd.DataFrame({k: pd.Series(v, dtype=str) for k, v in data.items()},
                         index=pd.RangeIndex(len(records)))

    def header_row(col: str) -> int | None:
        return next((i + 1 for i, r in enumerate(records) if col in r), None)

    return _Raw(table, frame, np.arange(1, len(records) + 1), header_row)


def _check_header(t: _Raw, key: str) -> None:
    required, optional, _ = _COLUMNS[key]
    known = required + optional
    if key not in _OPEN_COLUMNS:
        for col in t.frame.columns:
            if col not in known:
                hint = suggest(col, known)
                if ";" in col or "\t" in col:
                    hint = " (the header looks semicolon- or tab-separated; use commas)"
                raise InputError(t.name, f"unknown column '{col}'" + hint
                                 + f"; expected columns: {', '.join(known)}",
                                 row=t.header_row(col), field=col)
    if len(t.frame.columns) == 0 and len(t.frame) == 0:
        return   # an empty JSON table has no keys at all: nothing is missing from it
    for col in required:
        if col not in t.frame.columns:
            raise InputError(t.name, f"missing column '{col}'", row=t.header_row(col),
                             field=col)


def _col_text(t: _Raw, col: str) -> pd.Series:
    if col not in t.frame.columns:
        return pd.Series([""] * len(t.frame), dtype=str)
    return t.frame[col].astype(str)


def _col_number(t: _Raw, col: str) -> np.ndarray:
    """Column as floats, blank → NaN; text that is not a finite number is an error."""
    if col not in t.frame.columns:
        return np.full(len(t.frame), np.nan)
    text = t.frame[col].astype(str)
    x = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ((text != "").to_numpy(bool) & np.isnan(x)) | np.isinf(x)
    hits = np.flatnonzero(bad)
    if len(hits):
        pos = int(hits[0])
        raise t.error(pos, col, f"expected a number, found {text.iloc[pos]!r}")
    return x


# ============================================================ assembling a scenario
def _table_names(suffix: str) -> dict[str, str]:
    names = {t: t + suffix for t in TABLES}
    names["components"] = names["bundles"]
    return names


def _empty(key: str, name: str, first_row: int) -> _Raw:
    required = _COLUMNS[key][0] + (("bundle_id",) if key == "wtp" else ())
    frame = pd.DataFrame({c: pd.Series(dtype=str) for c in required})
    return _Raw(name, frame, np.zeros(0, dtype=int),
                lambda col: 1 if name.endswith(".csv") else None)


def _build(raws: Mapping[str, _Raw], settings: Any, settings_src: str, *,
           suffix: str, first_row: int, name: str) -> Scenario:
    """The one path from text tables and settings to a validated Scenario."""
    kw = _settings(settings, settings_src)
    for key in TABLES:
        _check_header(raws[key], key)

    p = raws["products"]
    products = pd.DataFrame({"unit_cost": _col_number(p, "unit_cost"),
                             "list_price": _col_number(p, "list_price"),
                             "inventory": _col_number(p, "inventory"),
                             "name": _col_text(p, "name").to_numpy(str)},
                            index=pd.Index(_col_text(p, "product_id"), name="product_id"))

    b = raws["bundles"]
    bid = _col_text(b, "bundle_id")
    components = pd.DataFrame({"bundle_id": bid, "product_id": _col_text(b, "product_id"),
                               "quantity": _col_number(b, "quantity")})
    per_offer = {col: _agreed(b, bid, col) for col in ("complementarity", "min_price",
                                                       "max_price")}
    order = pd.unique(bid.to_numpy())
    first_pos = pd.Series(np.arange(len(bid))).groupby(bid.to_numpy(), sort=False).first()
    bundles = pd.DataFrame({col: v.reindex(order).to_numpy(float)
                            for col, v in per_offer.items()},
                           index=pd.Index(order, dtype=str, name="bundle_id"))
    bundles["complementarity"] = bundles["complementarity"].fillna(0.0)

    g = raws["segments"]
    segments = pd.DataFrame({"size": _col_number(g, "size"),
                             "price_sensitivity": _col_number(g, "price_sensitivity"),
                             "switching_cost": _col_number(g, "switching_cost")},
                            index=pd.Index(_col_text(g, "segment_id"), name="segment_id"))

    w = raws["wtp"]
    has_b, has_p = "bundle_id" in w.frame.columns, "product_id" in w.frame.columns
    if len(w.frame.columns) == 0 and len(w.frame) == 0:
        has_b = True   # an empty JSON list: no WTP at all, per offer by default
    if has_b == has_p:
        problem = ("has both 'bundle_id' and 'product_id' columns; give WTP per offer or "
                   "per product, not both" if has_b else
                   "needs a 'bundle_id' column (WTP per offer) or a 'product_id' column "
                   "(WTP per product)")
        col = "product_id" if has_b else "bundle_id"
        raise InputError(w.name, problem, row=w.header_row(col), field=col)
    level_col = "bundle_id" if has_b else "product_id"
    wtp = pd.DataFrame({"segment_id": _col_text(w, "segment_id"),
                        level_col: _col_text(w, level_col),
                        "wtp": _col_number(w, "wtp"),
                        "price_sensitivity": _col_number(w, "price_sensitivity"),
                        "wtp_sd": _col_number(w, "wtp_sd")})

    pr = raws["prices"]
    prices = pd.DataFrame({"bundle_id": _col_text(pr, "bundle_id"),
                           "price": _col_number(pr, "price")})
    pp = raws["previous_plan"]
    previous = pd.DataFrame({"bundle_id": _col_text(pp, "bundle_id"),
                             "segment_id": _col_text(pp, "segment_id"),
                             "price": _col_number(pp, "price")})
    if "period" in pp.frame.columns and len(previous):
        # a season's plan.csv: what is on the shelf now is its last period (written last)
        period = _col_text(pp, "period").to_numpy(str)
        last = period == period[-1]
        previous = previous[last].reset_index(drop=True)
        raws = {**raws, "previous_plan": dataclasses.replace(pp, rows=pp.rows[last])}
    pe, rc, co = raws["periods"], raws["receipts"], raws["competitors"]
    periods = pd.DataFrame({"period": _col_text(pe, "period").to_numpy(object),
                            "segment_id": _col_text(pe, "segment_id").to_numpy(object),
                            "size": _col_number(pe, "size")})
    receipts = pd.DataFrame({"period": _col_text(rc, "period").to_numpy(object),
                             "product_id": _col_text(rc, "product_id").to_numpy(object),
                             "units": _col_number(rc, "units")})
    competitors = pd.DataFrame({"bundle_id": _col_text(co, "bundle_id").to_numpy(object),
                                "product_id": _col_text(co, "product_id").to_numpy(object),
                                "price": _col_number(co, "price"),
                                "period": _col_text(co, "period").to_numpy(object)})

    scenario = Scenario(products=products, components=components, bundles=bundles,
                        segments=segments, wtp=wtp, wtp_level="bundle" if has_b else "product",
                        prices=prices, previous_plan=previous, periods=periods,
                        receipts=receipts, competitors=competitors, name=name, **kw)
    rows = {key: raws[key].rows for key in TABLES}
    rows["components"] = b.rows
    rows["bundles"] = b.rows[first_pos.reindex(order).to_numpy(int)] if len(order) else b.rows
    sources = Sources(settings=settings_src, tables=_table_names(suffix),
                      first_row=first_row, rows=rows)
    return validate_scenario(scenario, settings_src, sources=sources)


def _agreed(b: _Raw, bid: pd.Series, col: str) -> pd.Series:
    """Per-offer value of a column that may be repeated on each of the offer's rows."""
    x = pd.Series(_col_number(b, col))
    stated = x.notna().to_numpy(bool)
    first = x[stated].groupby(bid[stated].to_numpy(), sort=False).first()
    ref = first.reindex(bid.to_numpy()).to_numpy(float)
    hits = np.flatnonzero(stated & (x.to_numpy(float) != ref))
    if len(hits):
        pos = int(hits[0])
        first_row = b.rows[int(np.flatnonzero(stated & (bid == bid.iloc[pos]).to_numpy(bool))[0])]
        raise b.error(pos, col, f"{col} {x.iloc[pos]:g} for offer {bid.iloc[pos]!r} disagrees "
                      f"with {ref[pos]:g} given in row {first_row}")
    return first


# ============================================================ public API
def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate a scenario directory (docs/scenario.md §7).

    ``scenario.yaml``, ``products.csv``, ``bundles.csv``, ``segments.csv`` and
    ``wtp.csv`` are required; ``prices.csv`` and ``previous_plan.csv`` are optional
    (absent = empty). The scenario's ``name`` is the directory's name. Any problem
    raises :class:`~formulations.errors.InputError` with one line naming the file,
    row and field (see the module docstring for the column rules).
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError(str(root), "not a scenario directory (it does not exist or is a file)")
    settings_path = root / SETTINGS_FILE
    if not settings_path.is_file():
        raise InputError(SETTINGS_FILE, f"missing file (expected {settings_path})")
    settings = _read_yaml(settings_path)
    raws: dict[str, _Raw] = {}
    for key in TABLES:
        name = f"{key}.csv"
        file = root / name
        if file.is_file():
            raws[key] = _read_csv(file, name)
        elif key in REQUIRED_TABLES:
            raise InputError(name, f"missing file (expected {file})")
        else:
            raws[key] = _empty(key, name, 2)
    return _build(raws, settings, SETTINGS_FILE, suffix=".csv", first_row=2,
                  name=root.resolve().name)


def scenario_from_tables(payload: Mapping[str, Any], *, name: str = "scenario") -> Scenario:
    """Build and validate a scenario from its JSON form (docs/service.md).

    ``payload`` has ``scenario`` (the scenario.yaml keys; optional) and the tables
    ``products``, ``bundles``, ``segments``, ``wtp`` (required) and ``prices``,
    ``previous_plan`` (optional), each a list of records. Errors name the table, the
    1-based record number and the field; unknown top-level keys are errors.
    """
    if not isinstance(payload, Mapping):
        raise InputError("payload", f"expected a JSON object, found {type(payload).__name__}")
    allowed = ("scenario",) + TABLES
    for key in payload:
        if key not in allowed:
            raise InputError("payload", f"unknown key {key!r}" + suggest(str(key), allowed)
                             + f"; expected keys: {', '.join(allowed)}", field=str(key))
    raws: dict[str, _Raw] = {}
    for key in TABLES:
        if key in payload and payload[key] is not None:
            raws[key] = _records(payload[key], key)
        elif key in REQUIRED_TABLES:
            raise InputError("payload", f"missing table '{key}'", field=key)
        else:
            raws[key] = _empty(key, key, 1)
    return _build(raws, payload.get("scenario"), "scenario", suffix="", first_row=1,
                  name=name)
