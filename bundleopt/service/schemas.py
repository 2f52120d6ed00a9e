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
                   "`scenario` holds the scenario.yaml keys, `horizon` and `markdown` "
                   "included). A season (SCENARIO.md §8) adds `periods`, `receipts` and "
                   "`competitors`; `segments` may carry `switching_cost`.",
    "required": ["products", "bundles", "segments", "wtp"],
    "additionalProperties": False,
    "properties": {"scenario": {"type": ["object", "null"]},
                   **{k: TABLE_SCHEMA for k in ("products", "bundles", "segments", "wtp")},
                   **{k: OPTIONAL_TABLE_SCHEMA for k in ("prices", "previous_plan", "periods",
                                                         "receipts", "competitors")}},
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


class ReviewState(BaseModel):
    review: str = Field("proposed", description="proposed, approved, rejected or exported")
    approval_required: bool = False
    approved_version: int | None = None
    reviewed_by: str | None = None
    reviewed_at: str | None = None
    review_comment: str | None = None


class WeeklyOut(ReviewState):
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
    version: int | None = Field(None, description="the version whose rows these are (0: "
                                "the optimizer's); none while the week has no plan")
    overridden: bool | None = None
    rows: list[dict[str, Any]]


class SalesIn(BaseModel):
    rows: list[dict[str, Any]] = Field(max_length=100_000, description=(
        "units sold since the season's start: {week (or period), product_id, units}; "
        "replaces the plan's sales stored before"))


class SalesOut(BaseModel):
    name: str
    rows: int
    by: str = Field(description="week or period: what the rows are keyed by")


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
    last_run: dict[str, Any] | None = None


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


class OverrideRowIn(BaseModel):
    bundle_id: str = Field(min_length=1, max_length=256)
    segment_id: str = Field("*", min_length=1, max_length=256,
                            description="the segment the price is for; * = everyone")
    price: float | None = Field(description="a point of the offer's price ladder; null "
                                "takes the offer off sale for these shoppers")
    period: str | None = Field(None, min_length=1, max_length=64, description=(
        "a season week's plan: the period the price is for (required there)"))


class OverrideIn(BaseModel):
    rows: list[OverrideRowIn] = Field(min_length=1, max_length=10_000)
    dry_run: bool = Field(False, description="evaluate and answer, save nothing")
    base_version: int | None = Field(None, ge=0, le=2**31 - 1,
                                     description="the version to change (default: latest)")
    comment: str | None = Field(None, max_length=2000)


class VersionOut(BaseModel):
    version: int
    overridden: bool
    status: str
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    kpis: dict[str, Any]
    binding_constraints: list[str]
    created_by: str | None = None
    created_at: str | None = None
    comment: str | None = None
    changes: list[dict[str, Any]] = []
    base_version: int | None = None
    n_rows: int
    rows: list[dict[str, Any]] | None = None


class VersionList(ReviewState):
    versions: list[VersionOut]


class OverrideOut(BaseModel):
    saved: bool
    version: VersionOut
    violations: list[str]


class ApproveIn(BaseModel):
    version: int | None = Field(None, ge=0, le=2**31 - 1,
                                description="the version to approve (default: latest)")
    comment: str | None = Field(None, max_length=2000)


class RejectIn(BaseModel):
    comment: str = Field(min_length=1, max_length=2000)


class ReviewOut(ReviewState):
    name: str
    week: str
    export_dir: str | None = None


class ScheduleRunOut(BaseModel):
    schedule: str
    week: str
    run_id: int
    status: str
