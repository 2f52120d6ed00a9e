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
    """Write plan.csv and summary.json of a stored solve into the week's directory
    (no review: the solve's own plan; weekly/approval.py exports a week's versions)."""
    where = export_path(cfg, week, out)
    if where is None:
        return None
    plan = s.scalars(select(Plan).where(Plan.solve_id == solve_id)).one()
    solve = s.get(Solve, solve_id)
    summary = dict(solve.summary or {})
    summary.update(week=week, plan=cfg.name, solve_id=solve_id)
    return write_export(where, plan.rows, summary, source=cfg.source,
                        show_path=not cfg.confined)


def write_export(where: str, rows: list[dict[str, Any]], summary: dict[str, Any], *,
                 source: str, show_path: bool) -> str:
    """Write ``rows`` as plan.csv and ``summary`` as summary.json into ``where``,
    atomically; refuses to replace a directory that is not a plan export."""
    target = Path(where)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = fresh_dir(target.parent, f".{target.name}.tmp-")
    try:
        pd.DataFrame(rows).to_csv(tmp / "plan.csv", index=False)
        (tmp / "summary.json").write_text(json.dumps(jsonable(summary), indent=2))
        if target.exists():
            if not target.is_dir() or any(p.name not in EXPORT_FILES
                                          for p in target.iterdir()):
                shown = str(target) if show_path else "the export directory"
                raise InputError(source, f"{shown} exists and is not a plan export; "
                                 "refusing to overwrite it", field="export")
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)
