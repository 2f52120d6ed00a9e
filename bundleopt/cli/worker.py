"""``bundleopt worker``: a solve-only node of the service — worker processes on the
shared database, no HTTP and no scheduler (docs/service.md, "Running a fleet")."""
from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

import click

from .options import WholeNumber
from .service import grace_option, log_format_option, open_database, supervise


@click.command("worker")
@click.option("--db", "db_url", required=True, metavar="URL",
              help="SQLAlchemy URL of the database the API instances use.")
@click.option("--processes", default=2, show_default=True, type=WholeNumber(lo=1),
              help="Solver worker processes; each runs one solve at a time.")
@grace_option
@log_format_option
def worker(db_url: str, processes: int, grace: float, log_format: str) -> None:
    """Run solve workers only, on the database `bundleopt serve` instances share.

    Stops on SIGTERM or SIGINT: no new solve is taken at once; a running one may finish
    within --grace seconds, else it is handed back to the queue for another worker.
    """
    from bundleopt.service.db import describe_url, make_engine, normalize_url
    from bundleopt.service.limits import ServiceSettings
    from bundleopt.service.logs import setup_logging
    from bundleopt.service.worker import WorkerPool, WorkerSettings

    url = normalize_url(db_url)     # a bad URL: one line, before anything starts
    setup_logging(log_format)
    lease = ServiceSettings.from_env(url, [], []).lease_seconds
    engine = make_engine(url)
    try:
        beating = open_database(engine, url, "worker")
        pool = WorkerPool(WorkerSettings(db_url=url, lease_seconds=lease,
                                         parent_pid=os.getpid(), grace_seconds=grace,
                                         log_format=log_format, instance=beating.ident),
                          processes)
        logging.getLogger("bundleopt.worker").info(
            "database %s; %d worker process%s (no HTTP, no scheduler)", describe_url(url),
            processes, "" if processes == 1 else "es")
        try:
            _run_until_signalled(pool, engine)
        finally:
            beating.stop()
    finally:
        engine.dispose()


def _run_until_signalled(pool: Any, engine: Any) -> None:
    """Start the pool, supervise it until SIGTERM/SIGINT, then stop it within the grace."""
    stop = threading.Event()

    def on_signal(_sig: int, _frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    pool.start()
    try:
        supervise(pool, engine, stop)
    finally:
        say = logging.getLogger("bundleopt.worker")
        say.info("stopping: no new solves; running ones finish within the grace or go "
                 "back to the queue")
        pool.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        say.info("stopped")
