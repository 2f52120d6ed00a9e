"""The solver service: ``bundleopt serve`` (SERVICE.md) and weekly plans (``plan run``).

Modules: ``app`` (FastAPI), ``auth`` (bearer tokens), ``limits`` (settings, size
limits), ``db``/``models`` (SQLAlchemy, Alembic migrations in ``solver/migrations``),
``queue`` (the DB-backed solve queue), ``worker`` (solver processes), ``weekly`` and
``schedules`` (weekly plans and their cron schedules), ``cli`` (click commands).
"""
