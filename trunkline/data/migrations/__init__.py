"""Alembic migrations for Trunkline (applied by trunkline.data.schema.migrate)."""
