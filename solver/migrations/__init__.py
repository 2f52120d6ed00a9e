"""Alembic migrations of the service database (run by ``solver.service.db.upgrade``)."""
