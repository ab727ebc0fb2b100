"""Schema migrations (Alembic) for the tables registered on `trunkline.data.db.Base`.

These functions act on the models imported so far; the server imports every area's models
through `trunkline.app.schema` first, which re-exports them.
"""
import logging
import os

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, inspect

from trunkline.data.db import DEFAULT_URL, Base, make_engine

log = logging.getLogger("trunkline.data.schema")


MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        path = url[len("sqlite:///"):]
        if path and os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic Config for Trunkline's migrations, bound to a connection (preferred) or URL."""
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS_DIR)
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.path.join(MIGRATIONS_DIR, "versions"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(url: str = DEFAULT_URL, engine: Engine | None = None) -> Engine:
    """Bring the database at `url` to the newest schema (Alembic upgrade head); returns the engine.

    Tables of area models that no revision covers yet are created as a safety net
    (logged as a warning), so a server never starts with a table missing.
    """
    _ensure_sqlite_dir(url)
    engine = engine or make_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    with engine.begin() as conn:
        have = set(inspect(conn).get_table_names())
        missing = [t for t in Base.metadata.sorted_tables if t.name not in have]
        if missing:
            log.warning("tables without a migration, created directly: %s", ", ".join(t.name for t in missing))
            Base.metadata.create_all(conn, tables=missing)
    return engine


def make_revision(url: str, message: str) -> object:
    """Autogenerate a new Alembic revision over all loadable models against the database at `url`."""
    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
        return command.revision(alembic_config(conn), message=message, autogenerate=True)


def schema_diff(engine: Engine) -> list:
    """Differences between the models and the live schema (empty list when migrations cover all)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)
