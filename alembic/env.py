"""Alembic environment: runs on the connection the app passes in, or on the configured URL."""

from __future__ import annotations

import os

from sqlalchemy import Connection

from alembic import context
from desktop.queue.models import Base

config = context.config
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    from desktop.queue.backends import backend_for

    backend = backend_for(connection)
    backend.migration_lock(connection)
    context.configure(connection=connection, target_metadata=target_metadata, **backend.alembic_options())
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    # `alembic upgrade head` from the repository: open the database through the app's own engine,
    # so SQLite gets the same checks, pragmas and BEGIN IMMEDIATE.
    from desktop.queue.db import WRITE, create_queue_engine

    url = os.environ.get("AGENTQ_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        from desktop.paths import default_database_url

        url = default_database_url()
    engine = create_queue_engine(url)
    try:
        with engine.execution_options(**{WRITE: True}).begin() as conn:
            run_on(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    main()
