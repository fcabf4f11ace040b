"""Plain, immutable values the queue hands out: safe to pass between threads and processes."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from desktop.queue.builders import slot_builder


class TaskStatus(str, enum.Enum):
    """Where a task is in its life; the values are what the database stores."""

    PENDING = "pending"  # ready, or waiting for its scheduled_for
    BLOCKED = "blocked"  # waiting for its dependencies to complete
    BACKLOGGED = "backlogged"  # kept, but not ready until a user releases it
    RUNNING = "running"
    RETRYING = "retrying"  # an attempt failed; waiting for the backoff to pass
    COMPLETED = "completed"
    FAILED = "failed"  # retries exhausted, or a permanent error
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value

    @property
    def is_finished(self) -> bool:
        return self in FINISHED_STATUSES


FINISHED_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})
UNFINISHED_STATUSES = frozenset(set(TaskStatus) - FINISHED_STATUSES)
READY_STATUSES = (TaskStatus.PENDING.value, TaskStatus.RETRYING.value)


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent definition: what kind of action runs its tasks and with which limits."""

    id: int
    name: str
    kind: str
    config: dict[str, Any]
    concurrency: int
    timeout_s: float | None
    max_retries: int | None
    retry_base_s: float | None
    retry_cap_s: float | None
    paused: bool
    created_at: datetime
    updated_at: datetime
    notify_url: str | None = None
    daily_budget_usd: float | None = None  # at most this much spent per local day, else paused
    pause_reason: str | None = None  # why the app paused it (a user's pause has none)
    paused_until: datetime | None = None  # when the app lifts that pause
    escalate_priority: bool = False  # each automatic retry one priority level higher, up to 5
    max_pending: int | None = None  # at most this many waiting tasks; enqueueing past it is refused


@dataclass(frozen=True, slots=True)
class Task:
    """A snapshot of one task row. `attempts` counts the attempts of the current retry run."""

    id: int
    agent: str
    payload: Any
    priority: int
    status: TaskStatus
    scheduled_for: datetime
    created_at: datetime
    attempts: int
    max_retries: int
    retry_base_s: float
    retry_cap_s: float
    task_type: str | None = None
    lock_key: str | None = None
    unique_key: str | None = None
    timeout_s: float | None = None
    result: Any = None
    last_error: str | None = None
    progress: int = 0
    progress_message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    lease_owner: str | None = None  # the worker running it
    lease_expires_at: datetime | None = None
    cancel_requested: bool = False
    created_by: str | None = None
    notify_url: str | None = None
    repo: str | None = None  # the registered repository it works on (its name)
    follow_up_of: int | None = None  # the task whose workspace and session it continues
    sort_order: int = 0  # the manual order within a priority: lower runs first


@dataclass(frozen=True, slots=True)
class Claim:
    """A task claimed by a worker, with the lease token that settles it.

    The token is a fencing token: every later call about this attempt (heartbeat, complete, fail,
    release) must carry it, and is refused once the lease has passed to someone else. Only the
    claiming worker holds it; the `Task` shown to agents and the window does not carry it.
    """

    task: Task
    token: str

    @property
    def id(self) -> int:
        return self.task.id


OUTCOMES = ("completed", "failed", "released", "unstarted", "parked")


@dataclass(frozen=True, slots=True)
class Settlement:
    """How a worker ends an attempt it holds (see TaskQueueService.settle_many).

    completed: `result` is stored. failed: retried after the backoff unless `retryable` is False
    or its retries are used up. released: given back unfinished, the attempt not counted (a
    worker shutting down). unstarted: given back before its action began (claimed ahead, see the
    pool's run-ahead): pending again, nothing counted and no attempt logged, since none was made.
    parked: the program stopped at a usage limit; the task runs again at
    `until` (epoch seconds), the attempt not counted against its retries. `details` are what the
    action reported about the attempt (cost_usd, input_tokens, output_tokens, cached_tokens and
    any other JSON values), saved with it however it ends.
    """

    task_id: int
    token: str
    outcome: str
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    retryable: bool = True
    output_tail: str | None = None
    until: float | None = None
    details: Mapping[str, Any] | None = None

    @classmethod
    def complete(
        cls, task_id: int, token: str, result: Any = None, *, output_tail: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Settlement:
        # The one settlement per task of a worker's hot path: built without the frozen __init__.
        return _build_settlement(task_id, token, "completed", result, None, None, True, output_tail, None, details)

    @classmethod
    def fail(
        cls, task_id: int, token: str, error: str, *, traceback: str | None = None, retryable: bool = True,
        output_tail: str | None = None, details: Mapping[str, Any] | None = None,
    ) -> Settlement:
        return cls(
            task_id, token, "failed", error=error, traceback=traceback, retryable=retryable,
            output_tail=output_tail, details=details,
        )

    @classmethod
    def release(
        cls, task_id: int, token: str, reason: str = "worker shut down", *, output_tail: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Settlement:
        return cls(task_id, token, "released", error=reason, output_tail=output_tail, details=details)

    @classmethod
    def unstarted(cls, task_id: int, token: str) -> Settlement:
        return cls(task_id, token, "unstarted")

    @classmethod
    def park(
        cls, task_id: int, token: str, until: float, message: str, *, output_tail: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Settlement:
        return cls(task_id, token, "parked", error=message, until=until, output_tail=output_tail, details=details)


_build_settlement = slot_builder(Settlement)


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of tasks, and the key to pass as `after` for the next page (None if it is empty
    and it was the first)."""

    tasks: list[Task]
    last_key: tuple[Any, int] | None
    complete: bool  # no more rows after this page


@dataclass(frozen=True, slots=True)
class Schedule:
    """A recurring task: enqueued at each fire time of `cron` in `timezone`."""

    id: int
    name: str
    cron: str
    timezone: str
    agent: str
    payload: Any
    priority: int
    lock_key: str | None
    task_type: str | None
    enabled: bool
    next_fire_at: datetime
    last_fired_at: datetime | None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One row of the action log: a single try at running a task."""

    id: int | None  # None while the attempt runs: its row is written when it ends
    task_id: int
    number: int
    worker_id: str
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    outcome: str  # running, completed, failed, lost, cancelled, interrupted, parked
    error: str | None
    traceback: str | None
    output_tail: str | None
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    details: dict[str, Any] = field(default_factory=dict)  # the rest of what the action reported
    host: str | None = None
    pid: int | None = None  # the program's process (group), when the action ran one


@dataclass(frozen=True, slots=True)
class LockInfo:
    """A lock key held now by a running task; `capacity` tasks of the key may run at once."""

    key: str
    task_id: int
    agent: str
    worker_id: str | None
    since: datetime | None
    lease_expires_at: datetime | None
    capacity: int = 1


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Counts and rates for the window, the CLI and the HTTP API.

    `by_status` and `by_agent` count tasks as they are now. `attempts` counts ended attempts by
    outcome over all time, from the attempt ledger: a failure stays counted after a retry
    succeeds, and cleanup lowers nothing. Wait and run times cover tasks finished in the last
    hour; the success rate and throughput the attempts that ended in it.
    """

    by_status: dict[str, int]
    by_agent: dict[str, dict[str, int]]
    avg_wait_s: float | None
    avg_run_s: float | None
    success_rate: float | None
    throughput_last_minute: int
    throughput_last_hour: int
    last_finished_at: datetime | None  # when the last attempt ended
    paused: bool = False
    total: int = field(default=0)
    attempts: dict[str, int] = field(default_factory=dict)

    @property
    def succeeded(self) -> int:
        return self.attempts.get("completed", 0)

    @property
    def failed(self) -> int:
        """Attempts that failed, timed out or lost their worker (each retry's failure counts)."""
        return self.attempts.get("failed", 0) + self.attempts.get("lost", 0)

    @property
    def processed(self) -> int:
        return self.succeeded + self.failed

    @property
    def overall_success_rate(self) -> float | None:
        return self.succeeded / self.processed if self.processed else None


@dataclass(frozen=True, slots=True)
class Worker:
    """A worker pool as the roster knows it. `state` is live (seen within three lease periods),
    gone (not seen since: it died or hangs) or stopped (it stopped cleanly)."""

    id: str
    host: str
    pid: int
    started_at: datetime
    last_seen_at: datetime
    stopped_at: datetime | None
    concurrency: int
    running: int
    completed: int
    failed: int
    state: str


REPO_MODES = ("worktree", "in-place")


@dataclass(frozen=True, slots=True)
class Repo:
    """A repository tasks work on.

    `source` is what the user gave (a URL, or the clone's absolute path), `local_path` the clone
    tasks start from (the user's own, or the app's clone of `url`, `cloned` True). In ``worktree``
    mode each task gets its own worktree and branch and up to `max_parallel` run at once; in
    ``in-place`` mode tasks run in `local_path` itself, one at a time. `lock_key` is its tasks'.
    """

    id: int
    name: str
    source: str
    url: str | None
    local_path: str
    lock_key: str
    mode: str
    max_parallel: int
    base_branch: str | None
    setup_command: str | None
    copy_patterns: tuple[str, ...]
    push: bool
    open_pr: bool
    commit_uncommitted: bool
    cloned: bool
    created_at: datetime

    @property
    def capacity(self) -> int:
        """How many of its tasks may run at once: its lock key's capacity."""
        return self.max_parallel if self.mode == "worktree" else 1


@dataclass(frozen=True, slots=True)
class WorkspaceRecord:
    """The folder a task worked in, as the database remembers it (see models.WorkspaceRow)."""

    id: int
    task_id: int
    repo: str
    repo_path: str
    path: str
    branch: str
    base: str
    base_commit: str | None
    created: bool
    copied: tuple[str, ...]
    port: int | None
    prepared_at: datetime | None
    created_at: datetime
    removed_at: datetime | None
    summary: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """Cost and tokens of the attempts of one agent, repository or day; for an agent or a
    repository, also the cost of today and of the ledger's days (the last 7, today included)."""

    key: str
    attempts: int
    cost_usd: float
    input_tokens: int
    output_tokens: int
    today_usd: float = 0.0
    week_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class Ledger:
    """What coding agents cost: per agent and per repository (all time), per local day."""

    by_agent: list[LedgerLine]
    by_repo: list[LedgerLine]
    by_day: list[LedgerLine]
