"""What every part of the queue shares: the database (engine and backend), short transactions,
the clock, and the retry policy in force."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

from sqlalchemy import Connection, Engine

from desktop.queue import validation as check
from desktop.queue.backends import Backend, backend_for, driver
from desktop.queue.db import display_url, storage_error
from desktop.queue.retry import RetryPolicy


class Store:
    """The queue's database and shared settings. Thread-safe.

    Every operation is one short transaction, on a connection of its own from the engine's pool:
    never a connection shared between threads. Transactions are begun and ended on the driver
    (SQLAlchemy's own begin and commit cost more than a short claim does); Core statements run in
    them as usual.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], float] = time.time,
        retry_policy: RetryPolicy = RetryPolicy(),
        max_payload_bytes: int = check.MAX_PAYLOAD_BYTES,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.engine = engine
        self.backend: Backend = backend_for(engine)
        self.clock = clock
        self.rand = rand
        self.max_payload_bytes = max_payload_bytes
        self._policy = retry_policy
        self._policy_lock = threading.Lock()
        # Hot paths talk to the driver directly, so its own errors are translated as well.
        self._storage_errors = self.backend.storage_errors(engine)
        self.url = display_url(engine.url)  # with any password hidden

    @property
    def retry_policy(self) -> RetryPolicy:
        """The policy for new tasks' defaults and for jitter. An immutable value: an operation
        reads it once, so a change made meanwhile never mixes two policies in one decision."""
        return self._policy

    def set_retry_policy(self, policy: RetryPolicy) -> None:
        if not isinstance(policy, RetryPolicy):
            raise TypeError("retry_policy: must be a RetryPolicy")
        with self._policy_lock:
            self._policy = policy

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE); committed when the block ends."""
        with self._transaction(write=True) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot on SQLite."""
        with self._transaction(write=False) as conn:
            yield conn

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                dbapi_conn = driver(conn)
                self.backend.begin(conn, write=write)
                try:
                    yield conn
                except BaseException:
                    dbapi_conn.rollback()
                    raise
                dbapi_conn.commit()
        except self._storage_errors as exc:
            raise_storage_error(exc, self.url)

    def notify(self, conn: Connection) -> None:
        """Wake workers in other processes when `conn` commits (see Backend.notify)."""
        self.backend.notify(conn)

    def close(self) -> None:
        self.engine.dispose()


def raise_storage_error(exc: Exception, where: str) -> NoReturn:
    """Raise environment errors as messages a user can act on; re-raise the rest."""
    error = storage_error(exc, where)
    if error is None:
        raise exc
    raise error from exc
