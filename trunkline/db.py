"""Database setup: the declarative Base every area's models use, engines and sessions.

Areas define their tables in their own modules (acd/models.py, ivr/models.py,
fax/models.py, ...) on this `Base`; this module owns connection handling.
"""
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase, sessionmaker

DEFAULT_URL = "sqlite:///var/trunkline.db"


class Base(DeclarativeBase):
    """Declarative base for all Trunkline tables."""


def make_engine(url=DEFAULT_URL, **kw):
    """Create an SQLAlchemy engine for a database URL (SQLite file by default)."""
    if url.startswith("sqlite"):
        kw.setdefault("connect_args", {"check_same_thread": False, "timeout": 15})
    elif url.startswith("postgresql"):
        kw.setdefault("pool_pre_ping", True)  # survive a server restart
        kw.setdefault("connect_args", {"connect_timeout": 5})
    return create_engine(url, future=True, **kw)


def make_session_factory(engine):
    """A session factory bound to `engine`."""
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


@contextmanager
def session_scope(factory):
    """A transactional scope: commit on success, roll back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


# ---------------------------------------------------------------- model registry

import importlib
import logging
import os
import secrets

log = logging.getLogger("trunkline.db")

#: modules whose import defines tables on `Base`; missing ones are skipped
MODEL_MODULES = (
    "trunkline.models",
    "trunkline.sms_models",
    "trunkline.acd.models",
    "trunkline.ivr.models",
    "trunkline.fax.models",
    "trunkline.media.models",
    "trunkline.drivers.models",
)


def load_models():
    """Import every area's model module that exists; returns the list of module names loaded."""
    loaded = []
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that area has no models module (yet)
            raise
        loaded.append(name)
    return loaded


def find_model(tablename):
    """The mapped class for a table name across all loaded areas, or None."""
    load_models()
    for mapper in Base.registry.mappers:
        if getattr(mapper.class_, "__tablename__", None) == tablename:
            return mapper.class_
    return None


# ---------------------------------------------------------------- migrations

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")


def _ensure_sqlite_dir(url):
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        path = url[len("sqlite:///"):]
        if path and os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)


def alembic_config(connection=None, url=None):
    """An Alembic Config for Trunkline's migrations, bound to a connection (preferred) or URL."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS_DIR)
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.path.join(MIGRATIONS_DIR, "versions"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(url=DEFAULT_URL, engine=None):
    """Bring the database at `url` to the newest schema (Alembic upgrade head); returns the engine.

    Tables of area models that no revision covers yet are created as a safety net
    (logged as a warning), so a server never starts with a table missing.
    """
    from alembic import command
    from sqlalchemy import inspect

    _ensure_sqlite_dir(url)
    load_models()
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


def make_revision(url, message):
    """Autogenerate a new Alembic revision over all loadable models against the database at `url`."""
    from alembic import command

    load_models()
    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
        return command.revision(alembic_config(conn), message=message, autogenerate=True)


def schema_diff(engine):
    """Differences between the models and the live schema (empty list when migrations cover all)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    load_models()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)


# ---------------------------------------------------------------- first run

def bootstrap(factory, out=print):
    """On first run create user 'admin' with a random password printed once through `out`.

    Returns the generated password, or None when any user already exists.
    Never uses a default password; only the scrypt hash is stored.
    """
    from sqlalchemy import func, select
    from werkzeug.security import generate_password_hash

    from trunkline.models import AuditLog, User

    with session_scope(factory) as s:
        if s.scalar(select(func.count()).select_from(User)):
            return None
        password = secrets.token_urlsafe(12)
        s.add(User(username="admin", password_hash=generate_password_hash(password), role="admin"))
        s.add(AuditLog(username="system", action="bootstrap", target="user:admin",
                       detail="first-run admin created"))
    out(f"trunkline: first-run admin account created: user 'admin', password '{password}' "
        "(shown once; change it in the web admin)")
    return password
