"""The dispatcher's view of a database outage: how long it has lasted and how long to wait next.

A full disk or a lost server makes every pass fail. The dispatcher keeps the ended attempts in
memory and tries again after a back-off that starts at DATABASE_BACKOFF_S[0] and doubles up to
DATABASE_BACKOFF_S[1]; once the outage has lasted longer than settings.database_retry_s the pool
gives up (`give_up_message` says why). `Outage` holds that count and the time it began, on the
dispatcher's clock; only the dispatcher thread uses it.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

DATABASE_BACKOFF_S = (0.1, 5.0)  # after a database error: the first wait, doubled each time up to the second


class Outage:
    """The passes that failed in a row because of the database, and since when."""

    def __init__(self) -> None:
        self._since: float | None = None  # the database has failed every pass since then
        self._failures = 0

    def failed(self, now: float) -> float:
        """Count a failed pass at `now`; return how long the outage has lasted."""
        self._since = now if self._since is None else self._since
        self._failures += 1
        return now - self._since

    def backoff_s(self) -> float:
        """How long to wait before the next pass."""
        return min(DATABASE_BACKOFF_S[0] * 2.0 ** min(self._failures - 1, 16), DATABASE_BACKOFF_S[1])

    def passed(self, now: float) -> None:
        """A pass worked: the outage, if there was one, is over."""
        if self._since is not None:
            log.warning("dispatcher: the database works again after %.1f s", now - self._since)
        self._since, self._failures = None, 0


def give_up_message(exc: Exception, seconds: float, retry_s: float, held: int) -> str:
    """Why a pool stopped after the database failed for `seconds` (`held`: the tasks it held)."""
    return (
        f"the database kept failing for {seconds:.0f} s (database_retry_s is "
        f"{retry_s:g} s): {str(exc).rstrip('.')}; this worker stopped, and the "
        f"{held} tasks it held go back to the queue when their leases expire"
    )
