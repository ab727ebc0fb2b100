"""Alembic environment: runs against the connection handed in by trunkline.data.schema, or a URL.

The target metadata is `Base.metadata` as the caller loaded it (`trunkline.app.schema` imports
every area's models)."""
from alembic import context

from trunkline.data.db import DEFAULT_URL, Base, make_engine

config = context.config
target_metadata = Base.metadata


def _run(connection):
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    conn = config.attributes.get("connection")
    if conn is not None:
        _run(conn)
    else:
        with make_engine(config.get_main_option("sqlalchemy.url") or DEFAULT_URL).begin() as c:
            _run(c)
