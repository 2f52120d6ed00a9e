"""Exporting a stored weekly plan: plan.csv and summary.json, atomically, umask-respecting.

The files are written into a fresh sibling directory which is then renamed into place,
so a reader sees the old export or the new one, never half of one. The directory gets
the permissions any tool would create it with (0777 less the umask): scheduled plans
are for other people and jobs to read.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from formulations.errors import InputError
from formulations.files import fresh_dir

from ..db import jsonable
from ..models import Plan, Solve

EXPORT_FILES = ("plan.csv", "summary.json")


def export_path(cfg: Any, week: str, out: Any) -> str | None:
    """Where ``week`` of ``cfg`` is exported (``None``: this config exports nothing)."""
    if out is not None:
        return str(Path(out).resolve())
    return cfg.export.format(name=cfg.name, week=week) if cfg.export else None


def export_plan(s: Any, cfg: Any, week: str, solve_id: str | None, out: Any) -> str | None:
    """Write plan.csv and summary.json of a stored solve into the week's directory."""
    where = export_path(cfg, week, out)
    if where is None:
        return None
    target = Path(where)
    plan = s.scalars(select(Plan).where(Plan.solve_id == solve_id)).one()
    solve = s.get(Solve, solve_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = fresh_dir(target.parent, f".{target.name}.tmp-")
    try:
        pd.DataFrame(plan.rows).to_csv(tmp / "plan.csv", index=False)
        summary = dict(solve.summary or {})
        summary.update(week=week, plan=cfg.name, solve_id=solve_id)
        (tmp / "summary.json").write_text(json.dumps(jsonable(summary), indent=2))
        if target.exists():
            if not target.is_dir() or any(p.name not in EXPORT_FILES
                                          for p in target.iterdir()):
                shown = "the export directory" if cfg.confined else str(target)
                raise InputError(cfg.source, f"{shown} exists and is not a plan export; "
                                 "refusing to overwrite it", field="export")
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)
