"""The solve queue, kept in the database so that nothing accepted is ever lost.

A solve row is the queue entry. A worker *claims* one queued row by turning it into
``running`` with its own name and a lease (``lease_until``); while it works it renews
the lease (heartbeat) and writes progress. A worker that dies — ``kill -9`` included —
stops renewing, and :func:`requeue_stale` puts its solve back in the queue once the
lease has expired (or at once, when the owning process is known to be dead). Claims are
atomic: ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, a single conditional
``UPDATE … RETURNING`` on SQLite (whose writers are serialised anyway).

Tenants are served in turn: the next solve claimed is the oldest queued one of the
tenant whose latest solve started longest ago (never started first), so a burst of
one tenant delays each other tenant by at most one solve per worker.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, and_, false, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from formulations.errors import InputError

from .db import jsonable
from .models import TERMINAL, Audit, Instance, Plan, ScenarioRow, Solve, utcnow

log = logging.getLogger("bundleopt.queue")
#: After its worker died this many times while the service lived, a solve is failed.
MAX_ATTEMPTS = 3
#: An instance (:mod:`.instances`) not heard from for this long is taken for dead: five
#: missed heartbeats, slack for a busy database.
INSTANCE_DEAD_SECONDS = 10.0
#: How long after its heartbeats resume an instance's workers have to renew the leases
#: that lapsed while the database was away (they retry every second).
RESUME_GRACE_SECONDS = 5.0
ACTIVE = ("queued", "running")


class QuotaExceeded(Exception):
    """The tenant already has its cap of queued and running solves (answered with 429)."""


def scenario_hash(payload: dict[str, Any]) -> str:
    """Content hash of a scenario payload (canonical JSON, so key order is irrelevant)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def worker_name(role: str = "worker") -> str:
    """``host:pid:role:random`` — unique per process start, host and pid readable."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}:{uuid.uuid4().hex[:8]}"


def store_scenario(session: Session, payload: dict[str, Any], n_offers: int,
                   n_segments: int, digest: str | None = None) -> str:
    """Insert the scenario unless its content is already stored; return its hash."""
    digest = digest or scenario_hash(payload)
    if session.get(ScenarioRow, digest) is None:
        try:
            with session.begin_nested():
                session.add(ScenarioRow(hash=digest, payload=payload, n_offers=n_offers,
                                        n_segments=n_segments))
        except IntegrityError:  # stored concurrently by another request: same content
            pass
    return digest


def enqueue(session: Session, *, payload: dict[str, Any], n_offers: int, n_segments: int,
            options: dict[str, Any], actor: str, tenant: str,
            idempotency_key: str | None = None, source: str = "api",
            status: str = "queued", max_active: int | None = None,
            digest: str | None = None) -> tuple[Solve, bool]:
    """Record a solve of ``tenant`` (and commit); returns ``(solve, created)``.
    ``digest``: the payload's :func:`scenario_hash`, when the caller has it.

    With an idempotency key the tenant already used for the same payload, the earlier
    solve is returned and nothing is added, also when two such requests race; for a
    different payload, InputError (422) and the first solve stands. Past ``max_active``
    queued + running solves of the tenant, :class:`QuotaExceeded`.
    """
    digest = digest or scenario_hash(payload)
    if idempotency_key is not None:
        existing = by_key(session, idempotency_key, tenant=tenant)
        if existing is not None:
            return same_body(existing, digest), False
    if max_active is not None:
        if session.bind.dialect.name == "postgresql":
            # Serialise this tenant's submissions so the cap cannot be raced past.
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                            {"k": int(hashlib.sha256(tenant.encode()).hexdigest()[:15], 16)})
        active = active_count(session, tenant=tenant)
        if active >= max_active:
            session.rollback()
            raise QuotaExceeded(active)
    store_scenario(session, payload, n_offers, n_segments, digest)
    solve = Solve(id=str(uuid.uuid4()), scenario_hash=digest, status=status, tenant=tenant,
                  options=jsonable(options), submitted_by=actor,
                  idempotency_key=idempotency_key, source=source, attempts=0, crashes=0,
                  cancel_requested=False, created_at=utcnow())
    session.add(solve)
    session.add(Audit(actor=actor, tenant=tenant, action="submit", target=solve.id,
                      detail={"scenario": digest, "idempotency_key": idempotency_key,
                              "source": source, "options": jsonable(options)}))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = (by_key(session, idempotency_key, tenant=tenant) if idempotency_key
                    else None)
        if existing is None:
            raise
        return same_body(existing, digest), False
    return solve, True


def same_body(existing: Solve, digest: str) -> Solve:
    """``existing`` if it was submitted with the body of hash ``digest``, else 422."""
    if existing.scenario_hash != digest:
        raise InputError("Idempotency-Key", "was used before with a different body; the "
                         f"first solve ({existing.id}) stands")
    return existing


def by_key(session: Session, key: str, *, tenant: str) -> Solve | None:
    """The tenant's solve submitted with idempotency key ``key``, if any."""
    return session.scalars(select(Solve).where(Solve.tenant == tenant,
                                               Solve.idempotency_key == key)).first()


def active_count(session: Session, *, tenant: str) -> int:
    """Queued + running solves of ``tenant``."""
    return int(session.scalar(select(func.count()).select_from(Solve).where(
        Solve.tenant == tenant, Solve.status.in_(ACTIVE))) or 0)


def _next_queued() -> Any:
    """The id of the queued solve to run next: tenants in turn, each in arrival order."""
    served = aliased(Solve)
    last_start = (select(func.max(served.started_at)).where(served.tenant == Solve.tenant)
                  .scalar_subquery())
    return (select(Solve.id).where(Solve.status == "queued")
            .order_by(last_start.asc().nulls_first(), Solve.created_at, Solve.id).limit(1))


def claim(engine: Engine, worker: str, lease_seconds: float,
          instance: str | None = None) -> str | None:
    """Atomically take the next queued solve (see :func:`_next_queued`) for ``worker`` of
    ``instance`` (:mod:`.instances`); its id, or ``None``."""
    now = utcnow()
    values = dict(status="running", worker=worker, instance=instance,
                  lease_until=now + timedelta(seconds=lease_seconds), started_at=now,
                  attempts=Solve.attempts + 1, progress=None)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            row = conn.execute(_next_queued().with_for_update(skip_locked=True,
                                                              of=Solve)).first()
            if row is None:
                return None
            conn.execute(update(Solve).where(Solve.id == row[0]).values(**values))
            return str(row[0])
        nxt = _next_queued().scalar_subquery()
        row = conn.execute(update(Solve).where(Solve.id == nxt, Solve.status == "queued")
                           .values(**values).returning(Solve.id)).first()
        return str(row[0]) if row else None


def tenant_of(engine: Engine, solve_id: str) -> str | None:
    """The tenant of a solve (for the logs), ``None`` if there is no such solve."""
    with engine.connect() as conn:
        return conn.execute(select(Solve.tenant).where(Solve.id == solve_id)).scalar()


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
    # Handing back is not an attempt: the claim that counted it is undone.
    """Give a running solve back to the queue (the worker is shutting down)."""
    with engine.begin() as conn:
        conn.execute(update(Solve).where(Solve.id == solve_id, Solve.worker == worker,
                                         Solve.status == "running")
                     .values(status="queued", worker=None, instance=None,
                             lease_until=None, attempts=Solve.attempts - 1))


def requeue_stale(engine: Engine, dead_workers: list[str] | None = None, *,
                  service_restart: bool = False) -> int:
    """Re-queue running solves whose lease expired or whose worker is known dead.

    A solve whose worker has died :data:`MAX_ATTEMPTS` times while its instance lived is
    failed instead, so a scenario that kills its worker cannot take the service down in
    a loop. A solve lost with its whole instance (:func:`gone_instances`: a machine or
    node lost, ``kill -9`` of a ``serve`` or ``worker``; the instance's missing heartbeat
    tells), or whose instance's heartbeats too stopped while its lease lapsed (the
    database was away), is re-queued without counting, and so is every one with ``service_restart``
    (this instance's previous run died). ``attempts`` counts the runs that count: one
    re-queued without counting, like one handed back (:func:`release`), gives its attempt back.
    """
    now = utcnow()
    lost = or_(Solve.lease_until < now, Solve.worker.in_(dead_workers or []))
    # Solves run by `plan run` are not queue entries: the next run of that week solves
    # again, so a dead run's solve is just closed.
    # An instance whose heartbeats only just resumed after a gap (the database was
    # away) gets a moment for its workers to renew their leases or store what they
    # finished meanwhile, before its lapsed solves are taken back.
    just_back = (select(Instance.id).where(
        Instance.id == Solve.instance, Instance.beating_since > Solve.lease_until,
        Instance.beating_since > now - timedelta(seconds=RESUME_GRACE_SECONDS)).exists())
    stale = and_(Solve.status == "running", Solve.source != "weekly", lost, ~just_back)
    with engine.begin() as conn:
        conn.execute(update(Solve).where(Solve.status == "running", Solve.source == "weekly",
                                         lost)
                     .values(status="failed", finished_at=now, lease_until=None,
                             error="the plan run solving this stopped before it finished"))
        lost_instances = gone_instances(conn, [str(i) for i in conn.execute(
            select(Solve.instance).where(stale, Solve.instance.is_not(None)).distinct()
        ).scalars()])
        # ... or whose instance lives but could not beat when the lease lapsed (the
        # database was away): a new run of its heartbeats began after the lease's end.
        resumed = (select(Instance.id).where(Instance.id == Solve.instance,
                                             Instance.beating_since > Solve.lease_until)
                   .exists())
        blameless = or_(Solve.instance.in_(lost_instances) if lost_instances else false(),
                        resumed)
        back = dict(status="queued", worker=None, instance=None, lease_until=None)
        # Like a hand-back, a loss that is not the solve's fault is not one of its attempts.
        res = conn.execute(update(Solve).where(stale, blameless)
                           .values(**back, attempts=Solve.attempts - 1))
        requeued = int(res.rowcount or 0)
        if requeued:
            log.info("re-queued %d solves of instances gone without a heartbeat (not "
                     "counted against them)", requeued)
        if not service_restart:
            conn.execute(update(Solve).where(stale, Solve.crashes + 1 >= MAX_ATTEMPTS)
                         .values(status="failed", finished_at=now, lease_until=None,
                                 crashes=Solve.crashes + 1,
                                 error=f"the worker died {MAX_ATTEMPTS} times running this "
                                 "solve"))
        res = conn.execute(update(Solve).where(stale).values(
            **back, crashes=Solve.crashes + (0 if service_restart else 1),
            attempts=Solve.attempts - (1 if service_restart else 0)))
        # Queued solves whose cancellation was requested need no worker at all.
        conn.execute(update(Solve).where(Solve.status == "queued", Solve.cancel_requested)
                     .values(status="cancelled", finished_at=now))
        return requeued + int(res.rowcount or 0)


def gone_instances(conn: Any, candidates: list[str]) -> list[str]:
    """Those of the instance ids ``candidates`` (:mod:`.instances`) that are gone:
    stopped, a process of this host that no longer exists, or silent for
    :data:`INSTANCE_DEAD_SECONDS`. An id with no row (from before instances) is not."""
    if not candidates:
        return []
    cutoff = utcnow() - timedelta(seconds=INSTANCE_DEAD_SECONDS)
    host = socket.gethostname()
    rows = conn.execute(select(Instance.id, Instance.host, Instance.stopped_at,
                               Instance.heartbeat_at).where(Instance.id.in_(candidates))
                        ).all()
    return [str(i) for i, h, stop, at in rows
            if stop is not None or at < cutoff or (h == host and owner_dead(str(i)))]


def local_pid(owner: str | None) -> int | None:
    """The pid in ``owner`` (a :func:`worker_name`) when it names a process of this host."""
    parts = (owner or "").split(":")
    if len(parts) >= 2 and parts[0] == socket.gethostname() and parts[1].isdigit():
        return int(parts[1])
    return None


def owner_dead(owner: str | None) -> bool:
    """Whether ``owner`` (``host:pid:…``) is a process on this host that no longer exists."""
    pid = local_pid(owner)
    return pid is not None and not _pid_alive(pid)


def dead_local_workers(engine: Engine) -> list[str]:
    """Owners of running solves that are processes on this host that no longer exist."""
    with engine.connect() as conn:
        owners = conn.execute(select(Solve.worker).where(Solve.status == "running")
                              .distinct()).scalars().all()
    return [o for o in owners if owner_dead(o)]


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


def cancel(session: Session, solve_id: str, *, actor: str, tenant: str) -> Solve | None:
    """Cancel the tenant's queued solve at once, or ask the worker of a running one to stop.

    Returns the solve as it now is (``None`` if the tenant has no such solve); finished
    solves are unchanged. The serve supervisor kills a worker that has not stopped a
    second after the request.
    """
    now = utcnow()
    mine = (Solve.id == solve_id, Solve.tenant == tenant)
    session.execute(update(Solve).where(*mine, Solve.status == "queued")
                    .values(status="cancelled", cancel_requested=True,
                            cancel_requested_at=now, finished_at=now))
    session.execute(update(Solve).where(*mine, Solve.status == "running",
                                        Solve.cancel_requested.is_(False))
                    .values(cancel_requested=True, cancel_requested_at=now))
    solve = session.get(Solve, solve_id, populate_existing=True)
    if solve is not None and solve.tenant != tenant:
        solve = None
    if solve is not None:
        session.add(Audit(actor=actor, tenant=tenant, action="cancel", target=solve_id,
                          detail={"status": solve.status}))
    session.commit()
    return solve


def overdue_cancels(engine: Engine, grace_seconds: float) -> list[tuple[str, str]]:
    """``(solve id, worker)`` of running solves asked to stop more than ``grace`` s ago."""
    before = utcnow() - timedelta(seconds=grace_seconds)
    with engine.connect() as conn:
        rows = conn.execute(select(Solve.id, Solve.worker).where(
            Solve.status == "running", Solve.cancel_requested,
            Solve.cancel_requested_at < before)).all()
    return [(str(i), str(w)) for i, w in rows if w]

