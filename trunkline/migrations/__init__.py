"""Alembic migrations for Trunkline (applied by trunkline.db.migrate)."""
