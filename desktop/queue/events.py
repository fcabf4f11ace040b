"""A tiny observer, so the queue core can announce events without importing Qt.

The worker pool's bridge re-emits these as Qt signals for the window.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Signal(Generic[T]):
    """Callbacks called, in the sender's thread, with one value. A failing callback is logged."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[T], None]] = []
        self._lock = threading.Lock()

    def connect(self, callback: Callable[[T], None]) -> None:
        with self._lock:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable[[T], None]) -> None:
        with self._lock:
            self._callbacks.remove(callback)

    def send(self, value: T) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(value)
            except Exception:
                log.exception("a listener of %r failed", callback)
