"""Opening the database: engine settings, SQLite done right, start-up checks and migrations."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import QueuePool

from alembic import command
from desktop.errors import DatabaseFileError
from desktop.paths import resource_dir

log = logging.getLogger(__name__)

MIN_SQLITE = (3, 35, 0)  # UPDATE ... RETURNING
BUSY_TIMEOUT_MS = 30_000
FULL_CHECK_MAX_BYTES = 64 * 1024 * 1024
WRITE = "agentq_write"  # execution option: start the transaction with BEGIN IMMEDIATE
MIGRATION_LOCK = 0x61677131  # PostgreSQL advisory lock key taken while migrating ("agq1")
PING_AFTER_IDLE_S = 5.0  # a server connection unused this long is checked before use
_UNREACHABLE = (  # libpq and psycopg, when a server cannot be reached or the connection broke
    "connection failed", "connection to server", "closed the connection", "connection is lost",
    "terminating connection",
)


def migrations_dir() -> Path:
    return resource_dir("alembic")


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


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
    """An engine for the queue; on SQLite, one with WAL, a busy timeout and explicit BEGINs.

    pysqlite's own transaction handling emits no BEGIN before a SELECT and starts writes as
    deferred transactions, which fail at once with SQLITE_BUSY_SNAPSHOT under concurrency. So the
    driver is put in autocommit mode and every transaction is begun here: ``BEGIN IMMEDIATE`` for
    writes (it waits on the busy timeout for the write lock) and a plain ``BEGIN`` for reads.
    ``synchronous=NORMAL`` in WAL mode survives a crash of the app or the OS process; only a power
    cut can lose the last commits.

    On PostgreSQL the isolation level is pinned to READ COMMITTED whatever the server's default:
    the claim's locking (queries.py) is written for it, and stricter levels would only add
    serialisation failures.
    """
    url = queue_url(url)
    if not is_sqlite(url):
        server = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=4 * pool_size,
            isolation_level="READ COMMITTED",
            connect_args={"application_name": "agentq"} if url.get_backend_name() == "postgresql" else {},
        )
        _ping_when_idle(server)
        return server
    path = _sqlite_path(url)
    check_sqlite_file(path)
    engine = create_engine(
        url,
        poolclass=QueuePool,
        pool_size=pool_size,
        max_overflow=4 * pool_size,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            f"busy_timeout={BUSY_TIMEOUT_MS}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(WRITE, False)
        # Straight to the driver: the same as conn.exec_driver_sql, at a tenth of the cost.
        conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use, as pool_pre_ping does, but only after it sat idle.

    A ping is a round trip to the server: on every checkout it costs a quarter of a busy worker's
    throughput. A connection used moments ago is alive; one idle for a while may have been cut by
    a server restart, a firewall or idle_session_timeout, and is replaced before anyone sees it.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", time.monotonic()) < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError(f"dropped an idle connection that no longer answers: {exc}") from exc


def _sqlite_path(url: URL) -> Path:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        raise DatabaseFileError(
            "The queue needs a database file shared by its workers; an in-memory SQLite database "
            "cannot be shared. Use a URL such as sqlite:///path/to/queue.db."
        )
    return Path(database).expanduser().resolve()


def check_sqlite_file(path: Path) -> None:
    """Refuse a file that SQLite cannot use, before anything writes to it.

    Raises DatabaseFileError naming the file for: an old SQLite library, a folder that cannot be
    written, a read-only file, a file that is not a database or is corrupt, and a SQLite database
    that belongs to another program. The file is left exactly as it was.

    `PRAGMA quick_check` reads the whole file, so it runs on files up to FULL_CHECK_MAX_BYTES
    (0.3 s at 184 MB when cached, 2.7 s from a cold disk). Larger files get the header and schema
    checked here; damage deeper inside surfaces, with the same clear message, when a query first
    reads the broken page.
    """
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise DatabaseFileError(
            f"SQLite {sqlite3.sqlite_version} is too old: Agent Queue needs 3.35 or newer "
            "(for UPDATE ... RETURNING). Install a newer Python or SQLite library."
        )
    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True, exist_ok=True)
    if not os.access(folder, os.W_OK):
        raise DatabaseFileError(
            f"Cannot write to the folder {folder}, which holds the database {path.name}. "
            "Choose a database location you can write to."
        )
    if not path.exists() or path.stat().st_size == 0:
        return
    if not os.access(path, os.W_OK):
        raise DatabaseFileError(
            f"The database file {path} is read-only. Make it writable, or open another database."
        )
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            full = path.stat().st_size <= FULL_CHECK_MAX_BYTES
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")] if full else ["ok"]
            # Reading the schema checks the header and the schema pages, whatever the size.
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise DatabaseFileError(
            f"The file {path} is not a usable Agent Queue database ({exc}). It was left untouched; "
            "move it aside or restore a backup, then start again to create a new one."
        ) from exc
    if problems != ["ok"]:
        raise DatabaseFileError(
            f"The database {path} is corrupt ({problems[0]}). It was left untouched; restore a "
            "backup, or move it aside to start with an empty queue."
        )
    if tables and "alembic_version" not in tables:
        raise DatabaseFileError(
            f"The file {path} is a SQLite database of another program (it has the tables "
            f"{', '.join(sorted(tables)[:5])}). It was left untouched; choose another file."
        )


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
    script = ScriptDirectory.from_config(cfg)
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
        conn.rollback()
    if set(current) == set(script.get_heads()) and revision == "head":
        return
    with engine.execution_options(**{WRITE: True}).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    log.info("database migrated from %s to %s", current or "empty", revision)


def serialize_migrations(conn: Connection) -> None:
    """Make processes that migrate at the same moment take turns (alembic's env.py calls this).

    SQLite's BEGIN IMMEDIATE already does. On PostgreSQL a transaction-scoped advisory lock does:
    whoever waited finds the schema at head and has nothing left to do.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")


def storage_error(exc: Exception, where: str) -> DatabaseFileError | None:
    """A message a user can act on for an environment error (disk full, read-only, corrupt,
    unreachable server), or None for anything else. `where` must be a display_url."""
    message = str(getattr(exc, "orig", exc))
    if "disk is full" in message or "No space left on device" in message:
        return DatabaseFileError(
            f"The disk holding {where} is full; nothing was written. Free some space and try again."
        )
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
