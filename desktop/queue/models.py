"""The schema, as SQLAlchemy 2.x ORM models. Alembic migrations are written from these.

Times are stored as UTC epoch seconds (a double): comparisons and averages are plain arithmetic on
SQLite and PostgreSQL alike, and the service turns them into timezone-aware datetimes. Payloads and
results are stored as JSON text that the service serialises once, while validating their size.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Timestamp = Float(53)
# Task (and attempt) ids: 64-bit everywhere. On SQLite only INTEGER PRIMARY KEY is the 64-bit rowid
# that AUTOINCREMENT needs, so the type is INTEGER there and BIGINT elsewhere.
Id = BigInteger().with_variant(Integer(), "sqlite")

READY = "status IN ('pending', 'retrying')"
RUNNING = "status = 'running'"
NOT_RUNNING = "status != 'running'"
UNFINISHED = "status NOT IN ('completed', 'failed', 'cancelled')"  # backlogged tasks too
LEDGER = "cost_usd IS NOT NULL OR input_tokens IS NOT NULL"


class Base(DeclarativeBase):
    pass


class AgentRow(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(100))
    config: Mapped[str] = mapped_column(Text, default="{}")
    concurrency: Mapped[int] = mapped_column(Integer, default=1)
    timeout_s: Mapped[float | None] = mapped_column(Float(53))
    max_retries: Mapped[int | None] = mapped_column(Integer)
    retry_base_s: Mapped[float | None] = mapped_column(Float(53))
    retry_cap_s: Mapped[float | None] = mapped_column(Float(53))
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    notify_url: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[float] = mapped_column(Timestamp)
    updated_at: Mapped[float] = mapped_column(Timestamp)
    # A spending limit per local day (US dollars), and why and until when the agent is paused when
    # something other than a user paused it (budgets.py lifts such a pause at `paused_until`).
    daily_budget_usd: Mapped[float | None] = mapped_column(Float(53))
    pause_reason: Mapped[str | None] = mapped_column(String(500))
    paused_until: Mapped[float | None] = mapped_column(Timestamp)
    # Each automatic retry one priority level higher (up to 5); at most `max_pending` waiting tasks
    # (pending, blocked, retrying or backlogged): enqueueing past it is refused (backpressure).
    escalate_priority: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    max_pending: Mapped[int | None] = mapped_column(Integer)


class TaskRow(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    agent: Mapped[str] = mapped_column(String(100))
    task_type: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text, default="null")
    priority: Mapped[int] = mapped_column(Integer, default=3)
    status: Mapped[str] = mapped_column(String(16))
    scheduled_for: Mapped[float] = mapped_column(Timestamp)
    created_at: Mapped[float] = mapped_column(Timestamp)
    started_at: Mapped[float | None] = mapped_column(Timestamp)
    finished_at: Mapped[float | None] = mapped_column(Timestamp)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_retries: Mapped[int] = mapped_column(Integer)
    retry_base_s: Mapped[float] = mapped_column(Float(53))
    retry_cap_s: Mapped[float] = mapped_column(Float(53))
    lock_key: Mapped[str | None] = mapped_column(String(500))
    unique_key: Mapped[str | None] = mapped_column(String(500))
    timeout_s: Mapped[float | None] = mapped_column(Float(53))
    result: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    progress_message: Mapped[str | None] = mapped_column(String(500))
    # The running attempt lives on the row (its attempt row is written once, when it ends):
    # who runs it, where, since started_at, and the tail of its output so far.
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_token: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[float | None] = mapped_column(Timestamp)
    lease_host: Mapped[str | None] = mapped_column(String(200))
    lease_pid: Mapped[int | None] = mapped_column(Integer)
    output_tail: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    created_by: Mapped[str | None] = mapped_column(String(200))
    notify_url: Mapped[str | None] = mapped_column(String(2000))
    # The registered repository it works on (repos.name), and the task whose workspace and
    # session a follow-up continues.
    repo: Mapped[str | None] = mapped_column(String(100))
    follow_up_of: Mapped[int | None] = mapped_column(Id)
    # The manual order within a priority (lower first; 0 unless moved to the top or bottom).
    sort_order: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))

    __table_args__ = (
        # Claim order: the scan stops at the first eligible row, whatever the finished rows.
        Index(
            "ix_tasks_ready",
            text("priority DESC"),
            "sort_order",
            "scheduled_for",
            "id",
            sqlite_where=text(READY),
            postgresql_where=text(READY),
        ),
        # Concurrency counts, lock checks and lease recovery only look at running rows.
        Index(
            "ix_tasks_running",
            "agent",
            "lease_expires_at",
            sqlite_where=text(RUNNING),
            postgresql_where=text(RUNNING),
        ),
        # The database itself refuses a second unfinished task with the same unique key.
        Index(
            "ux_tasks_unfinished_unique",
            "unique_key",
            unique=True,
            sqlite_where=text(f"{UNFINISHED} AND unique_key IS NOT NULL"),
            postgresql_where=text(f"{UNFINISHED} AND unique_key IS NOT NULL"),
        ),
        # Tasks of a status, newest first. Running rows are left out (ix_tasks_running has them),
        # so a claim and a completion each touch this index once; a query uses it when it says
        # `status != 'running'` (reads.filtered does).
        Index(
            "ix_tasks_status_id",
            "status",
            "id",
            sqlite_where=text(NOT_RUNNING),
            postgresql_where=text(NOT_RUNNING),
        ),
        Index("ix_tasks_agent_id", "agent", "id"),
        # Finished tasks by time (retention, statistics): unfinished rows, finished_at NULL, stay out.
        Index(
            "ix_tasks_finished_at",
            "finished_at",
            sqlite_where=text("finished_at IS NOT NULL"),
            postgresql_where=text("finished_at IS NOT NULL"),
        ),
        # A repository's tasks (removing a repository, the ledger per repository).
        Index(
            "ix_tasks_repo",
            "repo",
            sqlite_where=text("repo IS NOT NULL"),
            postgresql_where=text("repo IS NOT NULL"),
        ),
        # Ids are never reused, even after the newest tasks are cleaned up.
        {"sqlite_autoincrement": True},
    )


class AttemptRow(Base):
    __tablename__ = "task_attempts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(Id, ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    worker_id: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[float] = mapped_column(Timestamp)
    finished_at: Mapped[float | None] = mapped_column(Timestamp)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    output_tail: Mapped[str | None] = mapped_column(Text)
    # What the action reported (TaskContext.report): sums in columns, the rest as JSON text.
    cost_usd: Mapped[float | None] = mapped_column(Float(53))
    input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    cached_tokens: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(200))
    pid: Mapped[int | None] = mapped_column(Integer)  # the program's process (group), when it had one

    __table_args__ = (
        # Daily budgets read only the attempts that reported a cost or tokens: coding agents',
        # not every attempt.
        Index(
            "ix_task_attempts_ledger",
            "finished_at",
            sqlite_where=text(LEDGER),
            postgresql_where=text(LEDGER),
        ),
        # Attempts of the last hour (per-minute chart, last-hour rates), however their tasks ended.
        Index("ix_task_attempts_finished_at", "finished_at"),
    )


class DependencyRow(Base):
    __tablename__ = "task_dependencies"

    task_id: Mapped[int] = mapped_column(Id, ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    depends_on_id: Mapped[int] = mapped_column(
        Id, ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TaskCountRow(Base):
    """How many tasks each agent has in each status, kept by triggers on tasks (created by the
    backend in migration 0003) whatever writes them: the claim reads `running` to keep an agent
    within its concurrency, and statistics read the rest, without counting rows. One row per
    agent name, also after the agent is removed (its finished tasks stay in the history)."""

    __tablename__ = "task_counts"

    agent: Mapped[str] = mapped_column(String(100), primary_key=True)
    pending: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    blocked: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    running: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    retrying: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    completed: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    failed: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    cancelled: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class LockKeyRow(Base):
    """A lock key's capacity (how many of its tasks may run at once) and how many run now.

    `running` is kept by triggers on tasks (created by the backend in migration 0003), whatever
    writes the task: it counts up when a task with this key becomes running, down when it stops.
    The database refuses a task that would run above the capacity: `ceiling` is always
    max(capacity, running), so CHECK (running <= ceiling) fails for any step past the capacity,
    while tasks already running when the capacity was lowered keep running. A missing row is a key
    of capacity 1 with nothing running.
    """

    __tablename__ = "lock_keys"

    key: Mapped[str] = mapped_column(String(500), primary_key=True)
    capacity: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    running: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    ceiling: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __table_args__ = (
        CheckConstraint("capacity >= 1", name="ck_lock_keys_capacity"),
        CheckConstraint("running >= 0", name="ck_lock_keys_running"),
        CheckConstraint("running <= ceiling AND ceiling >= capacity", name="ck_lock_keys_ceiling"),
    )


class QueueStateRow(Base):
    """Small key/value settings shared by every process, such as the global pause flag."""

    __tablename__ = "queue_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ScheduleRow(Base):
    """A recurring task: a cron expression in a time zone, and the task to enqueue at each fire."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    agent: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text, default="null")
    priority: Mapped[int] = mapped_column(Integer, default=3)
    lock_key: Mapped[str | None] = mapped_column(String(500))
    task_type: Mapped[str | None] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    next_fire_at: Mapped[float] = mapped_column(Timestamp, index=True)
    last_fired_at: Mapped[float | None] = mapped_column(Timestamp)
    created_at: Mapped[float] = mapped_column(Timestamp)


class HookRow(Base):
    """An inbound webhook: a request to /hooks/NAME becomes a task of `agent` (desktop/queue/hooks.py).

    `fields` maps payload keys to dotted paths into the request's JSON body; `payload` holds
    constants; `repo_path` the path of a repository to lock on (one task per repository).
    `secret_source` says where the signing secret lives ("env:VAR" or "file"), never the secret.
    """

    __tablename__ = "hooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    agent: Mapped[str] = mapped_column(String(100))
    priority: Mapped[int] = mapped_column(Integer, default=3)
    fields: Mapped[str] = mapped_column(Text, default="{}")
    payload: Mapped[str] = mapped_column(Text, default="{}")
    repo_path: Mapped[str | None] = mapped_column(String(500))
    secret_source: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[float] = mapped_column(Timestamp)


class RepoRow(Base):
    """A repository tasks work on: a local clone the user gave, or a URL the app cloned once.

    `lock_key` (repo_lock_key of the source) is the lock key of its tasks, with a capacity of
    `max_parallel` in worktree mode and 1 in place. `copy_patterns` is a JSON list of globs.
    """

    __tablename__ = "repos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    source: Mapped[str] = mapped_column(String(2000))
    url: Mapped[str | None] = mapped_column(String(2000))
    local_path: Mapped[str] = mapped_column(String(1000))
    lock_key: Mapped[str] = mapped_column(String(500), unique=True)
    mode: Mapped[str] = mapped_column(String(16))
    max_parallel: Mapped[int] = mapped_column(Integer)
    base_branch: Mapped[str | None] = mapped_column(String(200))
    setup_command: Mapped[str | None] = mapped_column(Text)
    copy_patterns: Mapped[str] = mapped_column(Text, default="[]")
    push: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    open_pr: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    commit_uncommitted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    cloned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[float] = mapped_column(Timestamp)


class WorkspaceRow(Base):
    """Where one task works: a worktree (`created` by the app: the only kind prune may remove) or
    a folder it did not make (the repository in place, its parent's worktree for a follow-up).

    Kept after its task is deleted, so a worktree the app made is never forgotten. `summary` is
    the change summary of the task's last attempt (JSON), `port` the PORT it was given.
    """

    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(Id, index=True)
    repo: Mapped[str] = mapped_column(String(100))
    repo_path: Mapped[str] = mapped_column(String(1000))  # the clone it was made from
    path: Mapped[str] = mapped_column(String(1000))
    branch: Mapped[str] = mapped_column(String(500))
    base: Mapped[str] = mapped_column(String(500))
    base_commit: Mapped[str | None] = mapped_column(String(64))
    created: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    copied: Mapped[str] = mapped_column(Text, default="[]")
    port: Mapped[int | None] = mapped_column(Integer)
    prepared_at: Mapped[float | None] = mapped_column(Timestamp)
    created_at: Mapped[float] = mapped_column(Timestamp)
    removed_at: Mapped[float | None] = mapped_column(Timestamp)
    summary: Mapped[str | None] = mapped_column(Text)


class AttemptTotalRow(Base):
    """Running totals of ended attempts per hour, agent, repository ('' for none) and outcome.

    A trigger on task_attempts (made by the backend in migration 0006) adds each attempt as its
    row is written, in the same transaction. Rows are never decreased nor deleted: retention and
    `cleanup` remove attempts, not these totals, so counters read from them never go down.
    `bucket` is the hour's start (epoch seconds), `last_at` the latest attempt end in it.
    """

    __tablename__ = "attempt_totals"

    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    agent: Mapped[str] = mapped_column(String(100), primary_key=True)
    repo: Mapped[str] = mapped_column(String(100), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    attempts: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    duration_ms: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    cost_usd: Mapped[float] = mapped_column(Float(53), default=0.0, server_default=text("0"))
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    last_at: Mapped[float] = mapped_column(Timestamp)


class WorkerRow(Base):
    """A worker pool, as its heartbeats keep it: seen within three lease periods means live.

    `running`, `completed` and `failed` are what the pool reported at its last heartbeat (its
    counts since it started). `stopped_at` is set when it stops cleanly.
    """

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[float] = mapped_column(Timestamp)
    last_seen_at: Mapped[float] = mapped_column(Timestamp)
    stopped_at: Mapped[float | None] = mapped_column(Timestamp)
    lease_s: Mapped[float] = mapped_column(Float(53))
    concurrency: Mapped[int] = mapped_column(Integer)
    running: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    completed: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    failed: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
