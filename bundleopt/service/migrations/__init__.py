"""Alembic migrations of the service database (run by ``bundleopt.service.db.upgrade``)."""
