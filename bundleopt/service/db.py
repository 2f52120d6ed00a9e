"""Database URLs, engines and migrations.

SQLite (the default, a file in the working directory) and PostgreSQL behave the same
for the service. SQLite is shared by the API process and the worker processes, so its
connections use WAL and a busy timeout, and there are two kinds of engine:

- the *write* engine's transactions are ``BEGIN IMMEDIATE``: they take the write lock up
  front and wait for it, instead of failing with "database is locked" when two processes
  upgrade a read to a write at once. Callers keep them short (prepare first, then write).
- the *read* engine's transactions are plain (deferred) ``BEGIN`` on ``query_only``
  connections: under WAL they read a snapshot and never wait for a writer.

On PostgreSQL both are one engine. Pools are sized to the request threads
(:data:`REQUEST_THREADS`), so a request never waits for a connection.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from formulations.files import json_safe
from formulations.errors import ParameterError

DEFAULT_URL = "sqlite:///bundleopt.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Arbitrary constant key for the PostgreSQL advisory lock that serialises migrations.
_MIGRATION_LOCK = 482_915_007
#: Threads serving requests in the API process (anyio's pool is set to this); each may
#: hold one connection of each engine at a time.
REQUEST_THREADS = 40


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


def make_engine(url: str | None = None, *, read_only: bool = False, pool_size: int = 5,
                busy_ms: int = 30_000, **kwargs: Any) -> Engine:
    """An engine for ``url`` (normalised), configured for multi-process use.

    ``read_only`` gives SQLite's snapshot-reading engine (see the module docstring);
    ``pool_size`` is the connections it keeps, 0 for none (each use opens a new one);
    ``busy_ms`` how long a statement waits for a lock before failing.
    """
    url = normalize_url(url)
    if pool_size == 0:
        kwargs.setdefault("poolclass", NullPool)
    else:
        kwargs.setdefault("pool_size", pool_size)
        kwargs.setdefault("max_overflow", max(4, pool_size // 4))
        kwargs.setdefault("pool_timeout", busy_ms / 1000)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": busy_ms / 1000,
                                                  "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Take transaction control from pysqlite so the BEGIN below is ours.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
            cur.execute("PRAGMA foreign_keys=ON")
            if read_only:
                cur.execute("PRAGMA query_only=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    if pool_size:
        kwargs.setdefault("pool_pre_ping", True)
    ms = int(busy_ms)
    kwargs.setdefault("connect_args", {"connect_timeout": max(1, ms // 1000),
                                       "options": f"-c lock_timeout={ms}"})
    return create_engine(url, **kwargs)


def make_engines(url: str | None, pool_size: int = REQUEST_THREADS) -> tuple[Engine, Engine]:
    """``(write, read)`` engines for the API process; one shared engine on PostgreSQL."""
    write = make_engine(url, pool_size=pool_size)
    if write.dialect.name != "sqlite":
        return write, write
    return write, make_engine(url, read_only=True, pool_size=pool_size)


def health_engine(url: str | None, busy_ms: int) -> Engine:
    """The engine of the health probe: a new connection for every probe.

    A pooled SQLite connection that was writing while the file was overwritten keeps
    committing from its own page cache, while every other connection gets "file is not
    a database" (seen in CI: /healthz said ok for 6 s as solves got 503). A fresh
    connection sees the file as a new client would.
    """
    return make_engine(url, pool_size=0, busy_ms=busy_ms)


def check_writable(engine: Engine) -> None:
    """Rewrite the health row; raises if the database cannot take a write right now."""
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    from .models import Health, utcnow

    with engine.begin() as conn:
        if conn.execute(update(Health).where(Health.id == 1).values(at=utcnow())).rowcount:
            return
    try:
        with engine.begin() as conn:
            conn.execute(Health.__table__.insert().values(id=1, at=utcnow()))
    except IntegrityError:   # inserted concurrently: the database took that write
        pass


def lock_timed_out(err: BaseException) -> bool:
    """Whether ``err`` is a lock not granted within the busy timeout: the database is
    busy, not broken (SQLite's "database is locked"; PostgreSQL's lock_not_available,
    raised by the ``lock_timeout`` that :func:`make_engine` sets)."""
    orig = getattr(err, "orig", err)
    return getattr(orig, "sqlstate", None) == "55P03" or "database is locked" in str(orig)


def describe_url(url: str) -> str:
    """The URL as it may be logged or shown: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the database"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent, safe to run concurrently)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        raw = conn.connection.driver_connection if sqlite else None
        if raw is not None:
            # Table rebuilds (batch migrations) drop tables others refer to; SQLite only
            # accepts this pragma outside a transaction.
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                if not sqlite:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                 {"k": _MIGRATION_LOCK})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def jsonable(value: Any) -> Any:
    """``value`` as strict JSON for storage: the shared conversion, anything else as text."""
    return json_safe(value, other=str)
