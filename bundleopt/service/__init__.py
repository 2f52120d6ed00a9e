"""The solver service: ``bundleopt serve`` (SERVICE.md) and weekly plans (``plan run``).

Modules: ``app`` (FastAPI), ``auth`` (bearer tokens), ``limits`` (settings, size
limits), ``db``/``models`` (SQLAlchemy, Alembic migrations in ``bundleopt/service/migrations``),
``queue`` (the DB-backed solve queue, tenants served in turn), ``worker`` (solver
processes that cannot be poisoned), ``weekly`` (a package: a plan's ``config`` and the
roots it is held to, one week's ``runner``, the ``export``), ``schedules`` (cron
schedules of weekly plans), ``cli`` (click commands). Tenants and quotas: ``auth``
and ``limits``.
"""
