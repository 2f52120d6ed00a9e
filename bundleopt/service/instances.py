"""The instances of a fleet: every ``serve`` and ``worker`` process, with a heartbeat.

An instance registers when it starts (:func:`register`: id, host, pid, role, start),
rewrites its ``heartbeat_at`` every :data:`HEARTBEAT_SECONDS` from a thread of its own
(:class:`InstanceHeartbeat`) and sets ``stopped_at`` when it stops cleanly. It serves two
purposes:

- **SQLite is one machine's database.** Two hosts writing one SQLite file (over a
  network file system) corrupt it; an instance starting on a SQLite file that a live
  instance of *another* host uses is refused (:class:`SharedSQLite`, one line, exit 2).
  Several processes of one host are what SQLite's locking is made for.
- **Why a lease lapsed.** Each running solve names the instance whose worker claimed it
  (``solves.instance``). An instance is *gone* when it stopped, when it is a process of
  this host that no longer exists, or when it has not beaten for
  :data:`DEAD_AFTER_SECONDS` (:func:`..queue.gone_instances`). A solve lost with its
  instance (a machine lost, ``kill -9`` of a node) is re-queued without counting
  against it (:func:`..queue.requeue_stale`):
  only a worker that died while its instance lived may mean the scenario kills workers.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

from sqlalchemy import Engine, case, select, update

from formulations.errors import BundleoptError

from .models import Instance, utcnow
from .queue import INSTANCE_DEAD_SECONDS, worker_name

log = logging.getLogger("bundleopt.instances")

HEARTBEAT_SECONDS = 2.0
#: An instance not heard from for this long is taken for dead (:func:`..queue.gone_instances`).
DEAD_AFTER_SECONDS = INSTANCE_DEAD_SECONDS
ROLES = ("serve", "worker")


class SharedSQLite(BundleoptError):
    """A second host would write the same SQLite file (one line, exit status 2)."""


def instance_name(role: str) -> str:
    """``host:pid:role:random``, like the workers' names (``queue.worker_name``)."""
    return worker_name(role)


def register(engine: Engine, role: str, url_shown: str = "the database") -> str:
    """Record this process as an instance of ``role``; its id.

    On SQLite, refuses (:class:`SharedSQLite`) when a live instance of another host uses
    the file; the check and the insert are one write transaction, so two hosts starting
    at once cannot both pass it.
    """
    assert role in ROLES
    host, now = socket.gethostname(), utcnow()
    ident = instance_name(role)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            other = conn.execute(select(Instance.host, Instance.pid, Instance.role).where(
                Instance.stopped_at.is_(None), Instance.host != host,
                Instance.heartbeat_at >= now - timedelta(seconds=DEAD_AFTER_SECONDS))
                .limit(1)).first()
            if other is not None:
                raise SharedSQLite(
                    f"--db: {url_shown} is in use by a bundleopt {other.role} on host "
                    f"{other.host!r} (pid {other.pid}); a SQLite file serves one machine — "
                    "give every host of a fleet the same PostgreSQL URL")
        conn.execute(Instance.__table__.insert().values(
            id=ident, host=host, pid=os.getpid(), role=role, started_at=now,
            heartbeat_at=now, beating_since=now, stopped_at=None))
    return ident


def beat(engine: Engine, ident: str) -> None:
    """Rewrite the instance's heartbeat; after a gap of :data:`DEAD_AFTER_SECONDS` (the
    database was away), a new run of beats starts (``beating_since``)."""
    now = utcnow()
    gap = Instance.heartbeat_at < now - timedelta(seconds=DEAD_AFTER_SECONDS)
    with engine.begin() as conn:
        conn.execute(update(Instance).where(Instance.id == ident).values(
            heartbeat_at=now, beating_since=case((gap, now), else_=Instance.beating_since)))


def stopped(engine: Engine, ident: str) -> None:
    """Mark the instance stopped cleanly."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(update(Instance).where(Instance.id == ident)
                     .values(heartbeat_at=now, stopped_at=now))


class InstanceHeartbeat:
    """The thread that keeps an instance's heartbeat, from :meth:`start` to :meth:`stop`.

    A beat that fails (database down) is logged once per outage and retried; the
    instance goes on, and its beats resume with the database.
    """

    def __init__(self, engine: Engine, ident: str) -> None:
        self.engine, self.ident = engine, ident
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="instance-heartbeat",
                                        daemon=True)

    def start(self) -> "InstanceHeartbeat":
        self._thread.start()
        return self

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                beat(self.engine, self.ident)
                if failing:
                    log.info("instance heartbeat: the database answers again")
                failing = False
            except Exception as err:
                if not failing:
                    log.warning("instance heartbeat failed (%s); retrying",
                                type(err).__name__)
                failing = True

    def stop(self) -> None:
        """End the thread and mark the instance stopped (best effort: the database may
        be gone, then the missing heartbeat says it)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        try:
            stopped(self.engine, self.ident)
        except Exception as err:
            log.warning("could not mark instance %s stopped (%s)", self.ident,
                        type(err).__name__)
