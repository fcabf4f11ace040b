"""Noticing that another process changed the queue, without polling for work.

On SQLite, ``PRAGMA data_version`` on one long-lived connection changes whenever any other
connection commits: a cheap read with no lock, so a worker can look every few tens of
milliseconds and claim only when something happened.

On PostgreSQL, the service sends ``NOTIFY agentq_tasks`` in every transaction after which a task
may be claimable (enqueue, retry, resume, release, unblocked dependents) or a running task was
asked to cancel; a dedicated connection LISTENs, and `changed()` reads what arrived without
waiting. Workers on every host that use the database hear it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Protocol

from sqlalchemy import Engine

from desktop.queue.queries import CHANNEL

log = logging.getLogger(__name__)

RECONNECT_EVERY_S = 5.0


class ChangeWatcher(Protocol):
    def changed(self) -> bool:
        """True if the database changed since the last call (the first call says True)."""

    def close(self) -> None: ...


class SqliteWatcher:
    def __init__(self, engine: Engine) -> None:
        self._conn: Any = engine.raw_connection()
        self._version: int | None = None

    def changed(self) -> bool:
        version = self._conn.cursor().execute("PRAGMA data_version").fetchone()[0]
        changed, self._version = version != self._version, version
        return changed

    def close(self) -> None:
        self._conn.close()


class PostgresWatcher:
    """LISTENs on its own connection, outside the engine's pool (a pooled connection would carry
    the LISTEN to whoever borrows it next). If the server goes away, `changed()` says True once
    (notifications may have been missed), then False while it reconnects every few seconds: the
    worker's poll interval covers the gap.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Any = None
        self._first = True
        self._next_connect = 0.0
        self._try_connect()

    def _try_connect(self) -> bool:
        try:
            self._connect()
        except Exception as exc:  # noqa: BLE001 - the poll interval is the fallback
            log.warning("cannot LISTEN for new tasks (%s); polling instead", type(exc).__name__)
            return False
        return True

    def _connect(self) -> None:
        self._next_connect = time.monotonic() + RECONNECT_EVERY_S
        pooled = self._engine.raw_connection()
        pooled.detach()  # closing it closes the connection instead of returning it to the pool
        conn = pooled.dbapi_connection
        conn.rollback()  # the pool's ping may have opened a transaction
        conn.autocommit = True
        conn.execute(f"LISTEN {CHANNEL}")
        self._conn = conn

    def changed(self) -> bool:
        first, self._first = self._first, False
        if self._conn is None:
            if time.monotonic() < self._next_connect or not self._try_connect():
                return first
            return True  # whatever happened while it was not listening
        try:
            # libpq reads what the socket holds and never blocks here.
            pgconn = self._conn.pgconn
            pgconn.consume_input()
            heard = False
            while pgconn.notifies() is not None:
                heard = True
            return heard or first
        except Exception as exc:  # noqa: BLE001 - the connection broke; listen again later
            log.warning("lost the LISTEN connection (%s); reconnecting", type(exc).__name__)
            self.close()
            return True

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):  # already broken
                conn.close()


class NeverWatcher:
    """For databases without a cheap change signal: the worker falls back to its poll interval."""

    def changed(self) -> bool:
        return False

    def close(self) -> None:
        pass


def watcher_for(engine: Engine) -> ChangeWatcher:
    if engine.dialect.name == "sqlite":
        return SqliteWatcher(engine)
    if engine.dialect.name == "postgresql":
        return PostgresWatcher(engine)
    return NeverWatcher()
