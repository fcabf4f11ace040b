"""Turning database rows into the plain values of desktop.queue.types."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from desktop.queue.types import Agent, Attempt, Claim, Repo, Schedule, Task, TaskStatus, WorkspaceRecord

Row = Mapping[Any, Any]  # a row by column name: a dict from the driver, or SQLAlchemy's RowMapping
_STATUS = {s.value: s for s in TaskStatus}
_at = datetime.fromtimestamp


def to_datetime(value: float | None) -> datetime | None:
    return None if value is None else _at(value, UTC)


def _json(text: str | None) -> Any:
    # Most results and many payloads are null: skip the parser for them (a worker's hot path).
    return None if text is None or text == "null" else json.loads(text)


# Building a Task is the costliest Python on a worker's hot path. A frozen dataclass's generated
# __init__ calls object.__setattr__ once per field; setting the slots through their descriptors does
# the same in about half the time. Task has no __post_init__, so the object is the one its __init__
# would make (tests compare the two).
TASK_COLUMNS = (  # Task's fields, in order: the columns a claim returns (see task_from_values)
    "id", "agent", "payload", "priority", "status", "scheduled_for", "created_at", "attempts", "max_retries",
    "retry_base_s", "retry_cap_s", "task_type", "lock_key", "unique_key", "timeout_s", "result", "last_error",
    "progress", "progress_message", "started_at", "finished_at", "lease_owner", "lease_expires_at",
    "cancel_requested", "created_by", "notify_url", "repo", "follow_up_of", "sort_order",
)
if tuple(f.name for f in fields(Task)) != TASK_COLUMNS:  # a field added to Task must be added here too
    raise ImportError("desktop.queue.rows: TASK_COLUMNS no longer matches desktop.queue.types.Task")
_TASK_SLOTS = tuple(getattr(Task, name).__set__ for name in TASK_COLUMNS)
_new_task = object.__new__


def _utc(value: float) -> datetime:
    return _at(value, UTC)


def _utc_or_none(value: float | None) -> datetime | None:
    return None if value is None else _at(value, UTC)


# The columns stored otherwise than Task holds them, by position, and how to convert each.
_CONVERSIONS = tuple(
    (TASK_COLUMNS.index(name), convert)
    for name, convert in (
        ("payload", _json), ("status", _STATUS.__getitem__), ("scheduled_for", _utc), ("created_at", _utc),
        ("result", _json), ("started_at", _utc_or_none), ("finished_at", _utc_or_none),
        ("lease_expires_at", _utc_or_none), ("cancel_requested", bool),
    )
)


def task_from_values(values: Sequence[Any]) -> Task:
    """The Task of a row's values in TASK_COLUMNS order (any values after those are ignored)."""
    converted = list(values)
    for index, convert in _CONVERSIONS:
        converted[index] = convert(converted[index])
    task = _new_task(Task)
    for set_slot, value in zip(_TASK_SLOTS, converted):  # noqa: B905 - `values` may go on (see claim_from_values)
        set_slot(task, value)
    return task


def task_from_row(row: Row) -> Task:
    return task_from_values([row[name] for name in TASK_COLUMNS])


def claim_from_values(values: Sequence[Any]) -> Claim:
    """The Claim of a claimed row's values: TASK_COLUMNS, then the lease token."""
    return Claim(task_from_values(values), values[-1])


def agent_from_row(row: Row) -> Agent:
    return Agent(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        config=json.loads(row["config"]),
        concurrency=row["concurrency"],
        timeout_s=row["timeout_s"],
        max_retries=row["max_retries"],
        retry_base_s=row["retry_base_s"],
        retry_cap_s=row["retry_cap_s"],
        paused=bool(row["paused"]),
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
        updated_at=datetime.fromtimestamp(row["updated_at"], UTC),
        notify_url=row["notify_url"],
        daily_budget_usd=row["daily_budget_usd"],
        pause_reason=row["pause_reason"],
        paused_until=to_datetime(row["paused_until"]),
        escalate_priority=bool(row["escalate_priority"]),
        max_pending=row["max_pending"],
    )


def schedule_from_row(row: Row) -> Schedule:
    return Schedule(
        id=row["id"],
        name=row["name"],
        cron=row["cron"],
        timezone=row["timezone"],
        agent=row["agent"],
        payload=_json(row["payload"]),
        priority=row["priority"],
        lock_key=row["lock_key"],
        task_type=row["task_type"],
        enabled=bool(row["enabled"]),
        next_fire_at=datetime.fromtimestamp(row["next_fire_at"], UTC),
        last_fired_at=to_datetime(row["last_fired_at"]),
    )


def attempt_from_row(row: Row) -> Attempt:
    return Attempt(
        id=row["id"],
        task_id=row["task_id"],
        number=row["number"],
        worker_id=row["worker_id"],
        started_at=datetime.fromtimestamp(row["started_at"], UTC),
        finished_at=to_datetime(row["finished_at"]),
        duration_ms=row["duration_ms"],
        outcome=row["outcome"],
        error=row["error"],
        traceback=row["traceback"],
        output_tail=row["output_tail"],
        cost_usd=row["cost_usd"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cached_tokens=row["cached_tokens"],
        details=_json(row["details"]) or {},
        host=row["host"],
        pid=row["pid"],
    )


def running_attempt(task: Row, number: int) -> Attempt:
    """The attempt a running task is on: it lives on the task row until it ends."""
    return Attempt(
        id=None,
        task_id=task["id"],
        number=number,
        worker_id=task["lease_owner"] or "",
        started_at=datetime.fromtimestamp(task["started_at"] or task["created_at"], UTC),
        finished_at=None,
        duration_ms=None,
        outcome="running",
        error=None,
        traceback=None,
        output_tail=task["output_tail"],
        host=task["lease_host"],
        pid=task["lease_pid"],
    )


def repo_from_row(row: Row) -> Repo:
    return Repo(
        id=row["id"],
        name=row["name"],
        source=row["source"],
        url=row["url"],
        local_path=row["local_path"],
        lock_key=row["lock_key"],
        mode=row["mode"],
        max_parallel=row["max_parallel"],
        base_branch=row["base_branch"],
        setup_command=row["setup_command"],
        copy_patterns=tuple(json.loads(row["copy_patterns"] or "[]")),
        push=bool(row["push"]),
        open_pr=bool(row["open_pr"]),
        commit_uncommitted=bool(row["commit_uncommitted"]),
        cloned=bool(row["cloned"]),
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
    )


def workspace_from_row(row: Row) -> WorkspaceRecord:
    return WorkspaceRecord(
        id=row["id"],
        task_id=row["task_id"],
        repo=row["repo"],
        repo_path=row["repo_path"],
        path=row["path"],
        branch=row["branch"],
        base=row["base"],
        base_commit=row["base_commit"],
        created=bool(row["created"]),
        copied=tuple(json.loads(row["copied"] or "[]")),
        port=row["port"],
        prepared_at=to_datetime(row["prepared_at"]),
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
        removed_at=to_datetime(row["removed_at"]),
        summary=_json(row["summary"]),
    )
