"""Periodic passes are due at start, whatever the clock's origin (e.g. a machine just booted)."""

from __future__ import annotations

import pytest

from desktop.workers.timers import Every


@pytest.mark.parametrize("boot_offset", [0.0, 1.0, 59.0, 1e7])
def test_a_pass_is_due_at_the_first_call_then_once_per_period(boot_offset: float) -> None:
    every = Every(3600.0)
    assert every.due(boot_offset)  # seconds since boot: runs now, not an hour after boot
    assert not every.due(boot_offset + 1.0)
    assert not every.due(boot_offset + 3599.0)
    assert every.due(boot_offset + 3600.0)
    assert not every.due(boot_offset + 3601.0)
