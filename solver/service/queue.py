"""The solve queue, kept in the database so that nothing accepted is ever lost.

A solve row is the queue entry. A worker *claims* one queued row by turning it into
``running`` with its own name and a lease (``lease_until``); while it works it renews
the lease (heartbeat) and writes progress. A worker that dies — ``kill -9`` included —
stops renewing, and :func:`requeue_stale` puts its solve back in the queue once the
lease has expired (or at once, when the owning process is known to be dead). Claims are
atomic: ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, a single conditional
``UPDATE … RETURNING`` on SQLite (whose writers are serialised anyway).
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .db import jsonable
from .models import TERMINAL, Audit, Plan, ScenarioRow, Solve, utcnow

#: After this many claims that never finished (worker crashes), a solve is failed.
MAX_ATTEMPTS = 3


def scenario_hash(payload: dict[str, Any]) -> str:
    """Content hash of a scenario payload (canonical JSON, so key order is irrelevant)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def worker_name(role: str = "worker") -> str:
    """``host:pid:role:random`` — unique per process start, host and pid readable."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}:{uuid.uuid4().hex[:8]}"


def store_scenario(session: Session, payload: dict[str, Any], n_offers: int,
                   n_segments: int) -> str:
    """Insert the scenario unless its content is already stored; return its hash."""
    digest = scenario_hash(payload)
    if session.get(ScenarioRow, digest) is None:
        try:
            with session.begin_nested():
                session.add(ScenarioRow(hash=digest, payload=payload, n_offers=n_offers,
                                        n_segments=n_segments))
        except IntegrityError:  # stored concurrently by another request: same content
            pass
    return digest


def enqueue(session: Session, *, payload: dict[str, Any], n_offers: int, n_segments: int,
            options: dict[str, Any], actor: str, idempotency_key: str | None = None,
            source: str = "api", status: str = "queued") -> tuple[Solve, bool]:
    """Record a solve (and commit); returns ``(solve, created)``.

    With an idempotency key already used by ``actor``, the earlier solve is returned and
    nothing is added, also when two such requests race.
    """
    if idempotency_key is not None:
        existing = _by_key(session, actor, idempotency_key)
        if existing is not None:
            return existing, False
    digest = store_scenario(session, payload, n_offers, n_segments)
    solve = Solve(id=str(uuid.uuid4()), scenario_hash=digest, status=status,
                  options=jsonable(options), submitted_by=actor,
                  idempotency_key=idempotency_key, source=source, attempts=0,
                  cancel_requested=False, created_at=utcnow())
    session.add(solve)
    session.add(Audit(actor=actor, action="submit", target=solve.id,
                      detail={"scenario": digest, "idempotency_key": idempotency_key,
                              "source": source, "options": jsonable(options)}))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = _by_key(session, actor, idempotency_key) if idempotency_key else None
        if existing is None:
            raise
        return existing, False
    return solve, True


def _by_key(session: Session, actor: str, key: str) -> Solve | None:
    return session.scalars(select(Solve).where(Solve.submitted_by == actor,
                                               Solve.idempotency_key == key)).first()


def claim(engine: Engine, worker: str, lease_seconds: float) -> str | None:
    """Atomically take the oldest queued solve for ``worker``; its id, or ``None``."""
    now = utcnow()
    values = dict(status="running", worker=worker, lease_until=now + timedelta(
        seconds=lease_seconds), started_at=now, attempts=Solve.attempts + 1, progress=None)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            row = conn.execute(select(Solve.id).where(Solve.status == "queued")
                               .order_by(Solve.created_at).limit(1)
                               .with_for_update(skip_locked=True)).first()
            if row is None:
                return None
            conn.execute(update(Solve).where(Solve.id == row[0]).values(**values))
            return str(row[0])
        oldest = (select(Solve.id).where(Solve.status == "queued")
                  .order_by(Solve.created_at).limit(1).scalar_subquery())
        row = conn.execute(update(Solve).where(Solve.id == oldest, Solve.status == "queued")
                           .values(**values).returning(Solve.id)).first()
        return str(row[0]) if row else None


def heartbeat(engine: Engine, solve_id: str, worker: str, lease_seconds: float,
              progress: dict[str, Any] | None) -> bool | None:
    """Renew the lease and store progress; returns whether cancellation was requested.

    ``None`` means the solve is no longer ours (re-queued after a lost lease, or
    cancelled while queued): the worker should drop it without writing a result.
    """
    values: dict[str, Any] = {"lease_until": utcnow() + timedelta(seconds=lease_seconds)}
    if progress is not None:
        values["progress"] = jsonable(progress)
    with engine.begin() as conn:
        res = conn.execute(update(Solve).where(Solve.id == solve_id, Solve.worker == worker,
                                               Solve.status == "running").values(**values))
        if res.rowcount == 0:
            return None
        return bool(conn.execute(select(Solve.cancel_requested)
                                 .where(Solve.id == solve_id)).scalar())


def finish(engine: Engine, solve_id: str, worker: str, *, status: str,
           fields: dict[str, Any], plan_rows: list[dict[str, Any]] | None) -> bool:
    """Record the outcome (and plan) if ``worker`` still owns the solve; returns whether it did."""
    assert status in TERMINAL
    fields = {k: (jsonable(v) if k in ("summary", "versions", "progress") else v)
              for k, v in fields.items()}
    with engine.begin() as conn:
        res = conn.execute(update(Solve).where(Solve.id == solve_id, Solve.worker == worker,
                                               Solve.status == "running")
                           .values(status=status, finished_at=utcnow(), lease_until=None,
                                   **fields))
        if res.rowcount == 0:
            return False
        if plan_rows is not None:
            conn.execute(Plan.__table__.insert().values(
                solve_id=solve_id, rows=jsonable(plan_rows), n_rows=len(plan_rows),
                created_at=utcnow()))
    return True


def release(engine: Engine, solve_id: str, worker: str) -> None:
    """Give a running solve back to the queue (the worker is shutting down)."""
    with engine.begin() as conn:
        conn.execute(update(Solve).where(Solve.id == solve_id, Solve.worker == worker,
                                         Solve.status == "running")
                     .values(status="queued", worker=None, lease_until=None,
                             attempts=Solve.attempts - 1))


def requeue_stale(engine: Engine, dead_workers: list[str] | None = None) -> int:
    """Re-queue running solves whose lease expired or whose worker is known dead.

    A solve that has already been claimed :data:`MAX_ATTEMPTS` times is failed instead,
    so a scenario that kills its worker cannot take the service down in a loop.
    """
    now = utcnow()
    lost = or_(Solve.lease_until < now, Solve.worker.in_(dead_workers or []))
    # Solves run by `plan run` are not queue entries: the next run of that week solves
    # again, so a dead run's solve is just closed.
    stale = and_(Solve.source != "weekly", lost)
    with engine.begin() as conn:
        conn.execute(update(Solve).where(Solve.status == "running", Solve.source == "weekly",
                                         lost)
                     .values(status="failed", finished_at=now, lease_until=None,
                             error="the plan run solving this stopped before it finished"))
        conn.execute(update(Solve).where(Solve.status == "running", stale,
                                         Solve.attempts >= MAX_ATTEMPTS)
                     .values(status="failed", finished_at=now, lease_until=None,
                             error=f"the worker died {MAX_ATTEMPTS} times running this solve"))
        res = conn.execute(update(Solve).where(Solve.status == "running", stale)
                           .values(status="queued", worker=None, lease_until=None))
        # Queued solves whose cancellation was requested need no worker at all.
        conn.execute(update(Solve).where(Solve.status == "queued", Solve.cancel_requested)
                     .values(status="cancelled", finished_at=now))
        return int(res.rowcount or 0)


def dead_local_workers(engine: Engine) -> list[str]:
    """Owners of running solves that are processes on this host that no longer exist."""
    host = socket.gethostname()
    with engine.connect() as conn:
        owners = conn.execute(select(Solve.worker).where(Solve.status == "running")
                              .distinct()).scalars().all()
    dead = []
    for owner in owners:
        parts = (owner or "").split(":")
        if len(parts) >= 2 and parts[0] == host and parts[1].isdigit():
            if not _pid_alive(int(parts[1])):
                dead.append(owner)
    return dead


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) counts as dead.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def cancel(session: Session, solve_id: str, actor: str) -> Solve | None:
    """Cancel a queued solve at once, or ask the worker of a running one to stop.

    Returns the solve as it now is (``None`` if unknown); finished solves are unchanged.
    """
    now = utcnow()
    session.execute(update(Solve).where(Solve.id == solve_id, Solve.status == "queued")
                    .values(status="cancelled", cancel_requested=True, finished_at=now))
    session.execute(update(Solve).where(Solve.id == solve_id, Solve.status == "running")
                    .values(cancel_requested=True))
    solve = session.get(Solve, solve_id, populate_existing=True)
    if solve is not None:
        session.add(Audit(actor=actor, action="cancel", target=solve_id,
                          detail={"status": solve.status}))
    session.commit()
    return solve


def counts(session: Session) -> dict[str, int]:
    """Number of solves per status (for /healthz and the docs' monitoring example)."""
    from sqlalchemy import func

    rows = session.execute(select(Solve.status, func.count()).group_by(Solve.status)).all()
    return {str(s): int(n) for s, n in rows}


