"""Run-ahead: how many tasks a pass claims beyond the free slots, and when to give them back.

When recent tasks were short, a pass claims more than the free slots, about RUN_AHEAD_S of work per
slot (at most MAX_RUN_AHEAD tasks), so that one commit settles and claims many of them instead of
two. Tasks that take RUN_AHEAD_S or longer get none: a claim is then exactly one task per free
slot. A claimed task still waiting for a slot after GIVE_BACK_AFTER_S (the slots got stuck on long
tasks) is given back to the queue as unstarted, and no more are claimed ahead until tasks end
again. `RunAhead` keeps the running mean of the recent tasks' durations that all this depends on.
"""

from __future__ import annotations

import threading

RUN_AHEAD_S = 0.005
MAX_RUN_AHEAD = 256
GIVE_BACK_AFTER_S = 1.0
DURATION_WEIGHT = 0.2  # of the last task's duration in the running mean


class RunAhead:
    """The recent actions' mean duration (None: none ended yet), and what follows from it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # slots report their durations concurrently
        self._mean_s: float | None = None

    def ended(self, duration_s: float) -> None:
        """An action took `duration_s`: fold it into the running mean."""
        with self._lock:
            mean = self._mean_s
            self._mean_s = duration_s if mean is None else mean + DURATION_WEIGHT * (duration_s - mean)

    def forget(self) -> None:
        """Claim no more ahead until an action ends again (claimed tasks were given back)."""
        with self._lock:
            self._mean_s = None

    def extra(self, concurrency: int) -> int:
        """How many tasks to claim beyond the free slots: about RUN_AHEAD_S of work per slot at
        the recent mean; none until a task has ended, or when they take longer."""
        mean = self._mean_s
        if mean is None or mean >= RUN_AHEAD_S:
            return 0
        return min(MAX_RUN_AHEAD, int(concurrency * RUN_AHEAD_S / max(mean, 1e-6)))

    @staticmethod
    def stale(claimed: float, now: float) -> bool:
        """Whether a task claimed at `claimed` has waited too long for a slot (give it back)."""
        return now - claimed >= GIVE_BACK_AFTER_S
