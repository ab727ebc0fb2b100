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
        kw.setdefault("connect_args", {"check_same_thread": False})
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
