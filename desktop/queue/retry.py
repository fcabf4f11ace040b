"""The retry policy: how many times a task is retried and how long each wait is."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_RETRIES = 3
DEFAULT_BASE_S = 60.0
DEFAULT_CAP_S = 3600.0
DEFAULT_JITTER = 0.1


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter and a cap.

    The wait before retry *n* (n = 1 after the first failed attempt) is
    ``min(cap_s, base_s * 2 ** (n - 1))`` scaled by a random factor in ``[1 - jitter, 1 + jitter]``.
    With the defaults that is about 1 min, 2 min, 4 min, and at most ``max_retries + 1`` attempts.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    base_s: float = DEFAULT_BASE_S
    cap_s: float = DEFAULT_CAP_S
    jitter: float = DEFAULT_JITTER

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries: must be 0 or more")
        if self.base_s < 0 or self.cap_s < 0:
            raise ValueError("base_s, cap_s: must be 0 or more")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter: must be at least 0 and below 1")

    def delay_s(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry `retry_number` (1-based)."""
        raw = min(self.cap_s, self.base_s * 2 ** max(0, retry_number - 1))
        return raw * (1 - self.jitter + 2 * self.jitter * rand())

    def should_retry(self, attempts: int) -> bool:
        """Whether a task that has failed `attempts` times gets another try."""
        return attempts <= self.max_retries
