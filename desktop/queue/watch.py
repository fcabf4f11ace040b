"""Noticing that another process changed the queue, without polling for work.

On SQLite, ``PRAGMA data_version`` on one long-lived connection changes whenever any other
connection commits: a cheap read with no lock, so a worker can look every few tens of
milliseconds and claim only when something happened.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Engine


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


class NeverWatcher:
    """For databases without a cheap change signal: the worker falls back to its poll interval."""

    def changed(self) -> bool:
        return False

    def close(self) -> None:
        pass


def watcher_for(engine: Engine) -> ChangeWatcher:
    return SqliteWatcher(engine) if engine.dialect.name == "sqlite" else NeverWatcher()
