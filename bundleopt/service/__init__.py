"""The solver service: ``bundleopt serve`` (SERVICE.md) and weekly plans (``plan run``).

Modules: ``app`` (``create_app``: wires the routers, middleware, error handlers and
lifespan), ``routes`` (one APIRouter per resource: solves, plans, schedules, audit,
health), ``deps`` (what routes share, on ``app.state``: sessions, the caller),
``schemas`` (request and response models), ``views`` (rows as the API shows them),
``handlers`` (error answers), ``health`` (the background health probe), ``metrics``
(``/metrics``: Prometheus figures),
``submission`` (checking a client's scenario), ``queries`` (per-tenant reads, and the
separately named ``*_all_tenants`` ones for admins), ``auth`` (bearer tokens,
tenants), ``limits`` (settings, size limits, quotas), ``db``/``models`` (SQLAlchemy,
Alembic migrations in ``bundleopt/service/migrations``), ``queue`` (the DB-backed solve
queue, tenants served in turn), ``worker`` (solver processes that cannot be poisoned), ``logs`` (text or JSON log
lines),
``weekly`` (a package: a plan's ``config`` and the roots it is held to, one week's
``runner``, the ``export``), ``schedules`` and ``cron`` (cron schedules of weekly
plans). The click commands are in ``bundleopt.cli.service`` and ``bundleopt.cli.worker``.
"""
