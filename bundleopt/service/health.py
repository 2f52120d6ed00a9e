"""The health probe: a thread that writes the health row every
:data:`HEALTH_PROBE_SECONDS`, so ``/healthz`` answers from its outcome at once.

``/healthz`` never touches the database itself, so its answer never waits behind
request threads, writers or a slow disk; a database that cannot take a write shows
within :data:`HEALTH_STALE_SECONDS`. The thread lives as long as the app's lifespan:
:meth:`HealthProbe.stop` (on shutdown) ends it and waits for it, so no probe of a
database that is gone outlives the app that owned it.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from sqlalchemy import Engine

from .db import check_writable, lock_timed_out

log = logging.getLogger("bundleopt.serve")
HEALTH_TIMEOUT_MS = 800
HEALTH_PROBE_SECONDS = 0.5
HEALTH_STALE_SECONDS = 3.0


class HealthProbe:
    """Probes the database in its own thread between :meth:`start` and :meth:`stop`."""

    def __init__(self, engine: Engine, on_error: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.on_error = on_error    # counts a failed probe (the metrics' database errors)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ok_at: float | None = None
        self._error: str | None = None
        self._first = threading.Event()

    def start(self) -> None:
        """Start probing (again, after a :meth:`stop`); a no-op while running."""
        with self._lock:
            if self._thread is not None:
                return
            self._stop = threading.Event()
            # a new lifespan answers from its own probes, never from the last one's
            # (a database replaced in between showed "ok" for up to HEALTH_STALE_SECONDS)
            self._ok_at, self._error, self._first = None, None, threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,),
                                            name="health-probe", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """End the probing thread and wait for it (a probe under way finishes first)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None:
            thread.join(timeout)
        self.engine.dispose()

    def _run(self, stop: threading.Event) -> None:
        said: str | None = None     # the trouble last logged: one line per outage
        while not stop.is_set():
            try:
                check_writable(self.engine)
                ok, error = True, None
                if said is not None and not stop.is_set():
                    log.info("health probe: the database takes writes again")
                said = None
            except Exception as err:
                # A lock not granted in time means busy, not broken: the last write still
                # stands, and only HEALTH_STALE_SECONDS without one turn /healthz degraded
                # (one 0.8 s wait behind 100 clients' writes did, in CI). Full, corrupt or
                # unreachable is reported at once.
                ok, error = False, None if lock_timed_out(err) else type(err).__name__
                if self.on_error is not None and error is not None:
                    self.on_error()     # busy is not an error (see above)
                trouble = error or "its lock was busy"
                if not stop.is_set() and trouble != said:   # a shutdown racing it is not news
                    log.warning("health probe: the database cannot take a write (%s)",
                                trouble)
                    said = trouble
            with self._lock:
                if ok:
                    self._ok_at = time.monotonic()
                self._error = error
            self._first.set()
            stop.wait(HEALTH_PROBE_SECONDS)

    def probed(self) -> bool:
        """Whether the first probe has finished."""
        return self._first.is_set()

    def problem(self) -> str | None:
        """Why the service is degraded, or ``None`` when it is healthy."""
        with self._lock:
            ok_at, error = self._ok_at, self._error
        if ok_at is not None and error is None and \
                time.monotonic() - ok_at < HEALTH_STALE_SECONDS:
            return None
        if error is not None:
            return "the database cannot take a write"
        return "the database did not take a write in time"
