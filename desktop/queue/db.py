"""Opening the database: the engine of the URL's backend, migrations, and errors a user can act on."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url

from alembic import command
from desktop.errors import DatabaseFileError
from desktop.queue.backends import WRITE, backend_for
from desktop.queue.disk import disk_error
from desktop.queue.revisions import migrations_dir, refuse_unknown, script

log = logging.getLogger(__name__)

__all__ = [
    "WRITE", "alembic_config", "create_queue_engine", "display_url", "migrations_dir", "queue_url", "storage_error",
    "upgrade",
]

_UNREACHABLE = (  # libpq and psycopg, when a server cannot be reached or the connection broke
    "connection failed", "connection to server", "closed the connection", "connection is lost",
    "terminating connection",
)


def queue_url(url: str | URL) -> URL:
    """`url` as a URL object; ``postgresql://`` and ``postgres://`` get the psycopg (3) driver,
    the one Agent Queue installs, instead of SQLAlchemy's default psycopg2."""
    if isinstance(url, str) and url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    url = make_url(url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url


def display_url(url: str | URL) -> str:
    """The URL with its password replaced by ``***``: the only form to log or show."""
    return make_url(url).render_as_string(hide_password=True)


def create_queue_engine(url: str | URL, *, pool_size: int = 8) -> Engine:
    """An engine for the queue, set up by the URL's backend (see desktop.queue.backends)."""
    url = queue_url(url)
    return backend_for(url).create_engine(url, pool_size=pool_size)


def alembic_config(url: str | URL | None = None) -> Config:
    """An alembic Config that needs no alembic.ini: the script folder is found from the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    if url is not None:
        cfg.set_main_option(
            "sqlalchemy.url", make_url(url).render_as_string(hide_password=False).replace("%", "%%")
        )
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run pending migrations in one write transaction (safe to run again if it was killed)."""
    cfg = alembic_config()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
        conn.rollback()
    refuse_unknown(current, display_url(engine.url))  # SQLite files were checked before connecting
    if set(current) == set(script().get_heads()) and revision == "head":
        return
    with engine.execution_options(**{WRITE: True}).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    log.info("database migrated from %s to %s", current or "empty", revision)


def storage_error(exc: Exception, where: str) -> DatabaseFileError | None:
    """A message a user can act on for an environment error (disk full, read-only, corrupt,
    unreachable server), or None for anything else. `where` must be a display_url."""
    message = str(getattr(exc, "orig", exc))
    disk = disk_error(exc, where, _sqlite_folder(where))
    if disk is not None:
        return disk
    if "readonly" in message or "read-only" in message:
        return DatabaseFileError(f"The database {where} is read-only; nothing was written.")
    if "malformed" in message or "not a database" in message:
        return DatabaseFileError(f"The database {where} is corrupt ({message}). Restore a backup.")
    if "locked" in message:
        return DatabaseFileError(
            f"The database {where} stayed locked by another program for too long; try again."
        )
    # libpq's messages name the host, port, user and database, never the password.
    if any(phrase in message for phrase in _UNREACHABLE):
        return DatabaseFileError(
            f"Cannot reach the database server of {where} ({message.strip()}). Check that the server "
            "runs and accepts connections from this machine, and the user name and password."
        )
    return None


def _sqlite_folder(where: str) -> Path | None:
    """The folder of a SQLite database URL (to look at its free space), else None."""
    try:
        url = make_url(where)
    except Exception:  # noqa: BLE001 - not a URL: nothing to look at
        return None
    return Path(url.database).expanduser().resolve().parent if url.get_backend_name() == "sqlite" and url.database else None
