"""``bundleopt serve`` and ``bundleopt plan run``: the service and one weekly plan."""
from __future__ import annotations

import logging
import os
import sys
import threading
from datetime import date, timedelta
from typing import Any

import click

from formulations.errors import BundleoptError

from . import started
from .format import format_summary
from .options import IN_FILE, INT, OUT_DIR, FiniteFloat


def _db_error(err: Exception, url: str) -> BundleoptError:
    from bundleopt.service.db import describe_url

    shown = describe_url(url)
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return BundleoptError(f"cannot open {shown}: {first}")


#: ``--log-format`` of serve and worker (bundleopt.service.logs.LOG_FORMATS; not imported
#: here so that loading the CLI does not load the service).
LOG_FORMATS = ("text", "json")
log_format_option = click.option(
    "--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True,
    help="Log lines as text, or as JSON lines carrying the solve id and tenant.")
grace_option = click.option(
    "--grace", "grace", type=FiniteFloat(lo=0), default=0.0, show_default=True,
    metavar="SECONDS", help="On SIGTERM/SIGINT, how long running solves may go on to "
    "finish before they are stopped and handed back to the queue.")


def open_database(engine: Any, url: str, role: str) -> Any:
    """Migrate the database of ``engine``, put the solves of this host's dead workers back
    in the queue and register this process as an instance of ``role``; its heartbeat
    (started). A database that cannot be opened, or a SQLite file another host uses, is
    one error line."""
    from sqlalchemy.exc import SQLAlchemyError

    from bundleopt.service import instances, queue
    from bundleopt.service.db import describe_url, upgrade

    try:
        upgrade(engine)
        ident = instances.register(engine, role, describe_url(url))
        # Solves of workers that died with a previous run of this instance go back
        # first; the instance died, not because of them: that costs them no attempt.
        requeued = queue.requeue_stale(engine, queue.dead_local_workers(engine),
                                       service_restart=True)
    except SQLAlchemyError as err:
        engine.dispose()
        raise _db_error(err, url) from None
    if requeued:
        logging.getLogger("bundleopt.serve").info("re-queued %d interrupted solves", requeued)
    return instances.InstanceHeartbeat(engine, ident).start()


def supervise(pool: Any, engine: Any, stop: threading.Event) -> None:
    """Until ``stop``: kill workers that ignore a cancel, replace dead ones, and put
    back in the queue the solves of dead workers and of lapsed leases (any instance's:
    that is how a lost node's solves come back)."""
    from bundleopt.service import queue
    from bundleopt.service.logs import Failing

    ticks = Failing(logging.getLogger("bundleopt.serve"), "supervisor tick")
    while not stop.wait(0.5):
        try:
            pool.check()        # first: it needs no database
            pool.enforce_cancels(engine)
            queue.requeue_stale(engine, queue.dead_local_workers(engine))
            ticks.ok()
        except Exception as err:
            ticks.failed(err)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--db", "db_url", default=None, metavar="URL",
              help="SQLAlchemy URL; default sqlite:///bundleopt.db in the working directory.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(0, 64),
              help="Solver worker processes; 0 for an API-only instance (solves run on "
                   "`bundleopt worker` nodes sharing the database).")
@click.option("--scheduler/--no-scheduler", default=True, show_default=True,
              help="Run the stored weekly-plan schedules.")
@grace_option
@log_format_option
def serve(host: str, port: int, db_url: str | None, workers: int, scheduler: bool,
          grace: float, log_format: str) -> None:
    """Run the solver service (docs/service.md): HTTP API, solve workers and schedules."""
    import uvicorn

    from bundleopt.service import queue, web
    from bundleopt.service.app import create_app
    from bundleopt.service.auth import ADMIN_ENV_VAR, ENV_VAR, TokenCheck, tokens_from_env
    from bundleopt.service.db import describe_url, make_engines, normalize_url
    from bundleopt.service.limits import ServiceSettings
    from bundleopt.service.logs import setup_logging
    from bundleopt.service.schedules import Scheduler
    from bundleopt.service.worker import WorkerPool, WorkerSettings

    setup_logging(log_format)
    tokens, admins = tokens_from_env(), tokens_from_env(var=ADMIN_ENV_VAR)
    if not tokens and not admins:
        raise BundleoptError(f"{ENV_VAR} is empty: set it to one or more comma-separated "
                             "API tokens (tenant:token or token)")
    TokenCheck(tokens, admins)   # refuses a malformed entry before anything starts
    url = normalize_url(db_url)
    settings = ServiceSettings.from_env(url, tokens, admins)
    engine, read_engine = make_engines(url)
    beating = open_database(engine, url, "serve")
    say = logging.getLogger("bundleopt.serve")
    say.info("database %s; %s; listening on %s:%d", describe_url(url),
             f"{workers} worker process{'' if workers == 1 else 'es'}" if workers
             else "no workers (API only)", host, port)
    pool = WorkerPool(WorkerSettings(db_url=url, lease_seconds=settings.lease_seconds,
                                     parent_pid=os.getpid(), grace_seconds=grace,
                                     log_format=log_format, instance=beating.ident),
                      workers)
    pool.start()
    stop = threading.Event()
    threading.Thread(target=supervise, args=(pool, engine, stop), name="supervisor",
                     daemon=True).start()
    sched = Scheduler(engine, url, queue.worker_name("scheduler")) if scheduler else None
    if sched:
        sched.start()

    def shutdown() -> None:
        stop.set()
        if sched:
            sched.stop()
        pool.stop()   # workers finish within --grace or hand their solves back
        beating.stop()

    app = create_app(settings, engine, read_engine=read_engine, migrate=False,
                     on_shutdown=shutdown)
    web.warm()   # the pages' libraries loaded and kept out of the GC's way
    try:
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info",
                                      log_config=None, timeout_graceful_shutdown=5)).run()
    finally:
        shutdown()   # startup failed (port taken...): do not leave workers behind


def _week_arg(value: str | None) -> str:
    from bundleopt.service.weekly.config import iso_week

    today = date.today()
    if value in (None, "next"):
        return iso_week(today + timedelta(weeks=1))
    if value == "this":
        return iso_week(today)
    return value


@click.group("plan")
def plan() -> None:
    """Weekly assortment plans."""


@plan.command("run")
@click.argument("config", type=IN_FILE, required=False)
@click.option("--week", default=None, metavar="YYYY-Www|this|next",
              help="ISO week to plan (default: next week).")
@click.option("--db", "db_url", default=None, metavar="URL",
              help="SQLAlchemy URL; default sqlite:///bundleopt.db in the working directory.")
@click.option("--refit/--no-refit", default=None,
              help="Re-fit demand from the config's data (default: if configured).")
@click.option("--out", default=None, type=OUT_DIR,
              help="Export directory (default: the config's `export`).")
@click.option("--tenant", default="default", show_default=True,
              help="Tenant the week is stored under (as the service's API sees it).")
@click.option("--sales", default=None, type=IN_FILE, metavar="SALES.csv",
              help="Season configs: units sold since the season's start (week or period, "
                   "product_id, units); stored, and the season re-planned from them.")
@click.option("--schedule", "schedule_id", default=None, type=INT, hidden=True,
              help="Run a stored schedule's config, confined to the allowed roots "
                   "(how serve runs schedules).")
@click.option("--queue-as", "queue_as", default=None, hidden=True,
              help="With --schedule: queue the week's solve for the fleet's workers, the "
                   "week held by this scheduler, instead of solving here.")
def plan_run(config: str | None, week: str | None, db_url: str | None, refit: bool | None,
             out: str | None, tenant: str, sales: str | None, schedule_id: int | None,
             queue_as: str | None) -> None:
    """Plan one week: build, solve against last week's plan, store, export. Idempotent
    (a season config re-plans a finished week as a new version of its plan).

    Prints the same summary as `bundleopt solve`. Exit status: 0 plan stored (now or
    before), 1 no plan, 2 bad config or data.
    """
    from sqlalchemy.exc import SQLAlchemyError


    from bundleopt.service.auth import TENANT_RE
    from bundleopt.service.db import normalize_url
    from bundleopt.service.weekly import run_week

    if not TENANT_RE.match(tenant):
        raise BundleoptError("--tenant: 1-64 letters, digits, '_', '.' or '-'")
    if (config is None) == (schedule_id is None):
        raise BundleoptError("plan run: give a CONFIG file")
    url = normalize_url(db_url)
    try:
        if schedule_id is not None:
            cfg, tenant = _schedule_config(url, schedule_id)
        else:
            cfg = config
        if queue_as is not None:
            if schedule_id is None:
                raise BundleoptError("--queue-as: only with --schedule")
            click.echo(_queue_week(cfg, _week_arg(week), url, tenant, queue_as, refit))
            return
        outcome = run_week(cfg, _week_arg(week), db_url=url, refit=refit, out=out,
                           tenant=tenant, sales=sales, started=started())
    except SQLAlchemyError as err:
        raise _db_error(err, url) from None
    if outcome.result is not None:
        click.echo(format_summary(outcome.result))
    click.echo(outcome.message)
    code = 0 if outcome.status in ("optimal", "feasible", "done") else 1
    if outcome.leftover:
        # A native solver thread is still running: do not wait for it at exit.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _queue_week(cfg: Any, week: str, url: str, tenant: str, owner: str,
                refit: bool | None) -> str:
    from bundleopt.service.db import make_engine, upgrade
    from bundleopt.service.weekly.queued import enqueue_week

    engine = make_engine(url)
    try:
        upgrade(engine)
        return enqueue_week(cfg, week, engine=engine, tenant=tenant, owner=owner,
                            refit=refit).message
    finally:
        engine.dispose()


def _schedule_config(url: str, schedule_id: int) -> tuple[Any, str]:
    from bundleopt.service.db import make_engine, session_factory
    from bundleopt.service.models import Schedule
    from bundleopt.service.schedules import schedule_config
    from bundleopt.service.weekly import Confinement

    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            sched = s.get(Schedule, schedule_id)
            if sched is None:
                raise BundleoptError(f"--schedule: no schedule {schedule_id}")
            return schedule_config(sched, Confinement.from_env()), sched.tenant
    finally:
        engine.dispose()
