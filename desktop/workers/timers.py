"""Periodic passes that are due at once: the first run happens at start, not one period later.

`time.monotonic()` counts from an arbitrary point (on Linux, the machine's boot), so "last run at
0.0" means "ran at boot": on a machine up for less than a period the first pass would wait. An
`Every` has no last run until it has run.
"""

from __future__ import annotations


class Every:
    """Due at the first call of `due`, then once `interval_s` has passed since the last run."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last: float | None = None

    def due(self, now: float) -> bool:
        """True (and counted as run at `now`) when the pass should run now."""
        if self._last is not None and now - self._last < self.interval_s:
            return False
        self._last = now
        return True
