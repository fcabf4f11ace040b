"""Status colours and the short texts tables show: the only colours the window hard-codes.

Each colour is mid-toned so it reads on the light and the dark palette alike.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from PySide6.QtGui import QColor

from desktop.queue.types import TaskStatus

STATUS_COLOURS: dict[str, QColor] = {
    TaskStatus.PENDING.value: QColor("#7f8c8d"),
    TaskStatus.BLOCKED.value: QColor("#9b6bd3"),
    TaskStatus.RUNNING.value: QColor("#2f80ed"),
    TaskStatus.RETRYING.value: QColor("#e08a00"),
    TaskStatus.COMPLETED.value: QColor("#2e9e50"),
    TaskStatus.FAILED.value: QColor("#d64545"),
    TaskStatus.CANCELLED.value: QColor("#8a8a8a"),
}
ERROR_COLOUR = QColor("#d64545")
COMPLETED_COLOUR = STATUS_COLOURS[TaskStatus.COMPLETED.value]
FAILED_COLOUR = STATUS_COLOURS[TaskStatus.FAILED.value]
PAUSED_COLOUR = QColor("#e08a00")


def when(value: datetime | None) -> str:
    """A local time to the second, or an empty cell."""
    return "" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def short_when(value: datetime | None, today: date | None = None) -> str:
    """For table cells: the time alone for today, 'Nov 20 13:47' this year, else the date."""
    if value is None:
        return ""
    local = value.astimezone()
    today = today or date.today()
    if local.date() == today:
        return local.strftime("%H:%M:%S")
    if local.year == today.year:
        return local.strftime("%b %d %H:%M")
    return local.strftime("%Y-%m-%d")


def seconds_text(value: float | None) -> str:
    """A duration for people: 0.25 s, 12.0 s, 3 m 05 s, 2 h 10 m."""
    if value is None:
        return "–"
    if value < 60:
        return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"


def duration_between(start: datetime | None, end: datetime | None, *, running: bool = False) -> str:
    if start is None:
        return ""
    if end is None:
        if not running:
            return ""
        end = datetime.now(UTC)
    return seconds_text(max(0.0, (end - start).total_seconds()))


def one_line(text: str | None, width: int = 120) -> str:
    """The first non-blank line of `text`, cut to `width` characters."""
    if not text:
        return ""
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= width else line[: width - 1] + "…"
    return ""


def compact_json(value: Any, width: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= width else text[: width - 1] + "…"


def pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)
