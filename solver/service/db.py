"""Database URLs, engines and migrations.

SQLite (the default, a file in the working directory) and PostgreSQL behave the same
for the service. SQLite is shared by the API process and the worker processes, so its
connections use WAL, a long busy timeout and ``BEGIN IMMEDIATE`` transactions: every
transaction takes the write lock up front and waits for it, instead of failing with
"database is locked" when two processes upgrade a read to a write at once.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from formulations.errors import ParameterError

DEFAULT_URL = "sqlite:///bundleopt.db"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# Arbitrary constant key for the PostgreSQL advisory lock that serialises migrations.
_MIGRATION_LOCK = 482_915_007


def normalize_url(url: str | None) -> str:
    """The SQLAlchemy URL to use: default SQLite file, ``postgresql://`` → psycopg 3."""
    if not url:
        return DEFAULT_URL
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with a long text
        raise ParameterError(f"--db: {url!r} is not a database URL ({exc})") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ParameterError(f"--db: unsupported database {parsed.get_backend_name()!r}; "
                             "use sqlite:///FILE or postgresql://...")
    return url


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (normalised), configured for multi-process use."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False},
                               **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Take transaction control from pysqlite so BEGIN IMMEDIATE below is ours.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent, safe to run concurrently)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars made Python and NaN/inf made ``None`` (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
