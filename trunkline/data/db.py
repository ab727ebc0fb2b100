"""Database setup: the declarative Base every area's models use, engines and sessions.

Areas define their tables in their own modules (data/models.py, acd/models.py, ivr/models.py)
on this `Base`; this module owns connection handling. `trunkline.app.schema` imports them all.
"""
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

DEFAULT_URL = "sqlite:///var/trunkline.db"


class Base(DeclarativeBase):
    """Declarative base for all Trunkline tables."""


def make_engine(url: str = DEFAULT_URL, **kw: Any) -> Engine:
    """Create an SQLAlchemy engine for a database URL (SQLite file by default)."""
    if url.startswith("sqlite"):
        kw.setdefault("connect_args", {"check_same_thread": False, "timeout": 15})
    elif url.startswith("postgresql"):
        kw.setdefault("pool_pre_ping", True)  # survive a server restart
        kw.setdefault("connect_args", {"connect_timeout": 5})
    return create_engine(url, future=True, **kw)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to `engine`."""
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


@contextmanager
def session_scope(factory: Callable[[], Session]) -> Iterator[Session]:
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


def find_model(tablename: str) -> type[Base] | None:
    """The mapped class for a table name among the models imported so far, or None."""
    for mapper in Base.registry.mappers:
        if getattr(mapper.class_, "__tablename__", None) == tablename:
            return mapper.class_
    return None
