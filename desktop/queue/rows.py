"""Turning database rows into the plain values of desktop.queue.types."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from json.scanner import make_scanner
from typing import Any

from desktop.queue.builders import slot_builder
from desktop.queue.types import Agent, Attempt, Claim, Repo, Schedule, Task, TaskStatus, WorkspaceRecord

Row = Mapping[Any, Any]  # a row by column name: a dict from the driver, or SQLAlchemy's RowMapping
_STATUS = {s.value: s for s in TaskStatus}
_at = datetime.fromtimestamp


def to_datetime(value: float | None) -> datetime | None:
    return None if value is None else _at(value, UTC)


# json.loads without its Python wrappers and whitespace regexes (typeshed mistypes the decoder argument)
_scan = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _json(text: str | None) -> Any:
    """Stored JSON text as a value. On a worker's hot path: most results and many payloads are
    null, and the rest are compact JSON as json_text wrote them, which the scanner reads whole;
    anything else (spaces around it, a broken text) goes through json.loads and its errors."""
    if text is None or text == "null":
        return None
    try:
        value, end = _scan(text, 0)
    except (StopIteration, ValueError):
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


TASK_COLUMNS = (  # Task's fields, in order: the columns a claim returns (see task_from_values)
    "id", "agent", "payload", "priority", "status", "scheduled_for", "created_at", "attempts", "max_retries",
    "retry_base_s", "retry_cap_s", "task_type", "lock_key", "unique_key", "timeout_s", "result", "last_error",
    "progress", "progress_message", "started_at", "finished_at", "lease_owner", "lease_expires_at",
    "cancel_requested", "created_by", "notify_url", "repo", "follow_up_of", "sort_order",
)
if tuple(f.name for f in fields(Task)) != TASK_COLUMNS:  # a field added to Task must be added here too
    raise ImportError("desktop.queue.rows: TASK_COLUMNS no longer matches desktop.queue.types.Task")
_TASK_WIDTH = len(TASK_COLUMNS)
_build_task = slot_builder(Task)  # building a Task is the costliest Python on a worker's hot path


def task_from_values(values: Sequence[Any]) -> Task:
    """The Task of a row's values in TASK_COLUMNS order (any values after those are ignored)."""
    (
        id_, agent, payload, priority, status, scheduled_for, created_at, attempts, max_retries, retry_base_s,
        retry_cap_s, task_type, lock_key, unique_key, timeout_s, result, last_error, progress, progress_message,
        started_at, finished_at, lease_owner, lease_expires_at, cancel_requested, created_by, notify_url, repo,
        follow_up_of, sort_order,
    ) = values[:_TASK_WIDTH]
    return _build_task(
        id_, agent, _json(payload), priority, _STATUS[status], _at(scheduled_for, UTC), _at(created_at, UTC),
        attempts, max_retries, retry_base_s, retry_cap_s, task_type, lock_key, unique_key, timeout_s, _json(result),
        last_error, progress, progress_message,
        None if started_at is None else _at(started_at, UTC),
        None if finished_at is None else _at(finished_at, UTC),
        lease_owner,
        None if lease_expires_at is None else _at(lease_expires_at, UTC),
        bool(cancel_requested), created_by, notify_url, repo, follow_up_of, sort_order,
    )


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
