"""The shapes of the API: request and response models, the scenario body's JSON schema,
and the shapes of ids and names in paths (anything else cannot exist: 404 before the
database is asked)."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

SOLVE_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
WEEK_RE = re.compile(r"^\d{4}-W\d{2}$")
KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")

TABLE_SCHEMA = {"type": "array", "items": {"type": "object"}}
OPTIONAL_TABLE_SCHEMA = {"type": ["array", "null"], "items": {"type": "object"}}
#: The body of ``POST /v1/solves``, published as is: the handler reads the raw body
#: itself (bounded, validated with messages naming table, row and field).
SCENARIO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A scenario in the JSON form of SERVICE.md (tables as lists of records; "
                   "`scenario` holds the scenario.yaml keys).",
    "required": ["products", "bundles", "segments", "wtp"],
    "additionalProperties": False,
    "properties": {"scenario": {"type": ["object", "null"]},
                   **{k: TABLE_SCHEMA for k in ("products", "bundles", "segments", "wtp")},
                   **{k: OPTIONAL_TABLE_SCHEMA for k in ("prices", "previous_plan")}},
}


class SolveRef(BaseModel):
    id: str
    status: str


class SolveOut(BaseModel):
    id: str
    status: str
    summary: dict[str, Any]
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None


class SolveDetail(SolveOut):
    scenario_hash: str
    options: dict[str, Any]
    submitted_by: str
    source: str
    attempts: int
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    backend: str | None = None
    build_seconds: float | None = None
    solve_seconds: float | None = None
    versions: dict[str, Any] | None = None
    log: str | None = None


class SolveList(BaseModel):
    solves: list[SolveOut]


class Rows(BaseModel):
    rows: list[dict[str, Any]]


class WeeklyOut(BaseModel):
    name: str
    week: str
    status: str
    solve_id: str | None = None
    previous_week: str | None = None
    export_dir: str | None = None
    error: str | None = None
    finished_at: str | None = None


class WeeklyList(BaseModel):
    plans: list[WeeklyOut]


class WeeklyPlanOut(WeeklyOut):
    rows: list[dict[str, Any]]


class ScheduleIn(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")
    cron: str = Field(min_length=1, max_length=128,
                      description="5-field cron expression, UTC (e.g. '0 6 * * FRI')")
    config: str | dict[str, Any] = Field(
        description="the weekly plan config itself (an object with the YAML's keys; "
                    "`scenario` may be a scenario in the JSON form of a solve), or the "
                    "path of a config file inside the directories the operator allowed")
    week_offset: int = Field(1, ge=-1, le=8, description="plan the ISO week this many "
                             "weeks after the run's date")
    enabled: bool = True


class ScheduleOut(BaseModel):
    name: str
    cron: str
    config: str | dict[str, Any]
    week_offset: int
    enabled: bool
    created_by: str
    next_run_at: str | None = None


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]


class AuditOut(BaseModel):
    at: str
    actor: str
    action: str
    target: str | None = None
    detail: dict[str, Any] | None = None


class AuditList(BaseModel):
    entries: list[AuditOut]
