"""The columns task tables can show: title, cell text, and the database key each one sorts by."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt

from desktop.queue import Task, TaskStatus
from desktop.ui.status_style import compact_json, duration_between, one_line
from desktop.ui.status_style import short_when as when


@dataclass(frozen=True, slots=True)
class Column:
    """One column: `sort` names a key of task_queries.SORT_EXPRESSIONS, or None (not sortable)."""

    key: str
    title: str
    text: Callable[[Task], str]
    sort: str | None = None
    align_right: bool = False
    tooltip: str = ""

    @property
    def alignment(self) -> Qt.AlignmentFlag:
        horizontal = Qt.AlignmentFlag.AlignRight if self.align_right else Qt.AlignmentFlag.AlignLeft
        return horizontal | Qt.AlignmentFlag.AlignVCenter


def _status(task: Task) -> str:
    if task.cancel_requested and task.status is TaskStatus.RUNNING:
        return "running (cancelling)"
    return task.status.value


def _attempts(task: Task) -> str:
    return f"{task.attempts} / {task.max_retries + 1}"


def _next_attempt(task: Task) -> str:
    return when(task.scheduled_for) if task.status is TaskStatus.RETRYING else ""


def _progress(task: Task) -> str:
    if task.status is not TaskStatus.RUNNING:
        return ""
    return f"{task.progress} %" if task.progress > 0 else "running"


COLUMNS: dict[str, Column] = {
    c.key: c
    for c in (
        Column("id", "ID", lambda t: str(t.id), "id", align_right=True),
        Column("status", "Status", _status, "status"),
        Column("agent", "Agent", lambda t: t.agent, "agent"),
        Column("task_type", "Type", lambda t: t.task_type or "", "task_type"),
        Column("priority", "Priority", lambda t: str(t.priority), "priority", align_right=True,
               tooltip="1 (low) to 5 (runs first)"),
        Column("attempts", "Attempts", _attempts, "attempts", align_right=True,
               tooltip="attempts made / attempts allowed"),
        Column("progress", "Progress", _progress),
        Column("message", "Message", lambda t: one_line(t.progress_message)),
        Column("created_at", "Created", lambda t: when(t.created_at), "created_at"),
        Column("scheduled_for", "Scheduled", lambda t: when(t.scheduled_for), "scheduled_for"),
        Column("next_attempt", "Next attempt", _next_attempt, "scheduled_for",
               tooltip="when a retrying task runs again"),
        Column("started_at", "Started", lambda t: when(t.started_at), "started_at"),
        Column("finished_at", "Finished", lambda t: when(t.finished_at), "finished_at"),
        Column("duration", "Duration",
               lambda t: duration_between(t.started_at, t.finished_at, running=t.status is TaskStatus.RUNNING),
               align_right=True),
        Column("lock_key", "Lock key", lambda t: t.lock_key or ""),
        Column("payload", "Payload", lambda t: compact_json(t.payload)),
        Column("last_error", "Last error", lambda t: one_line(t.last_error)),
        # Filled by the model from TaskQueueService.wait_reasons (not a field of the task).
        Column("waiting", "Waiting", lambda t: "", tooltip="why a pending, blocked or retrying task is not running"),
    )
}

HISTORY_COLUMNS = (
    "id", "status", "agent", "task_type", "priority", "attempts", "waiting", "created_at", "started_at",
    "finished_at", "duration", "payload", "last_error", "lock_key",
)
FAILED_COLUMNS = ("id", "status", "agent", "attempts", "next_attempt", "waiting", "finished_at", "last_error")
RUNNING_COLUMNS = ("id", "agent", "progress", "message", "started_at", "duration", "lock_key", "payload")
