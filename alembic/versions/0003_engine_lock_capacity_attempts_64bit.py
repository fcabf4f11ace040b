"""Lock keys with a capacity, running counts kept by triggers, attempts written once with details.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

- The partial unique index that allowed one running task per lock key gives way to the lock_keys
  table (capacity, running, ceiling; see models.LockKeyRow), and task_counts (per agent, how many
  tasks in each status) replaces counting rows; triggers on tasks, created by the database's
  backend, keep both. The (status, agent) index, which only statistics used, goes; the
  (status, id) index leaves running rows out, and the finished_at index unfinished ones.
- A running attempt lives on its task row (lease_host, lease_pid, output_tail); its attempt row is
  written when it ends, with what the action reported (cost, tokens, details, host, pid). Running
  attempt rows of older versions move onto their tasks.
- Task and attempt ids are 64-bit on PostgreSQL too (they always were on SQLite).
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from desktop.queue.backends import backend_for

STATUSES = ("pending", "blocked", "running", "retrying", "completed", "failed", "cancelled")

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lock_keys",
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("capacity", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("running", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("ceiling", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint("capacity >= 1", name="ck_lock_keys_capacity"),
        sa.CheckConstraint("running >= 0", name="ck_lock_keys_running"),
        sa.CheckConstraint("running <= ceiling AND ceiling >= capacity", name="ck_lock_keys_ceiling"),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "task_counts",
        sa.Column("agent", sa.String(length=100), nullable=False),
        *(sa.Column(status, sa.Integer(), server_default=sa.text("0"), nullable=False) for status in STATUSES),
        sa.PrimaryKeyConstraint("agent"),
    )
    op.drop_index("ux_tasks_running_lock", table_name="tasks")
    op.drop_index("ix_tasks_status_agent", table_name="tasks")
    op.drop_index("ix_tasks_status_id", table_name="tasks")
    op.create_index(
        "ix_tasks_status_id", "tasks", ["status", "id"],
        sqlite_where=sa.text("status != 'running'"), postgresql_where=sa.text("status != 'running'"),
    )
    op.drop_index("ix_tasks_finished_at", table_name="tasks")
    op.create_index(
        "ix_tasks_finished_at", "tasks", ["finished_at"],
        sqlite_where=sa.text("finished_at IS NOT NULL"), postgresql_where=sa.text("finished_at IS NOT NULL"),
    )
    # The counts as they are (one running task per key at most: the index just dropped said so).
    sums = ", ".join(f"sum(CASE WHEN status = '{status}' THEN 1 ELSE 0 END)" for status in STATUSES)
    op.execute(f"INSERT INTO task_counts (agent, {', '.join(STATUSES)}) SELECT agent, {sums} FROM tasks GROUP BY agent")
    op.execute(
        "INSERT INTO lock_keys (key, capacity, running, ceiling) "
        "SELECT lock_key, 1, count(*), 1 FROM tasks "
        "WHERE status = 'running' AND lock_key IS NOT NULL GROUP BY lock_key"
    )
    backend_for(op.get_bind()).create_running_counts(op.get_bind())

    # Plain ADD COLUMNs: a batch copy of the tasks table would rewrite every row.
    op.add_column("tasks", sa.Column("lease_host", sa.String(length=200), nullable=True))
    op.add_column("tasks", sa.Column("lease_pid", sa.Integer(), nullable=True))
    op.add_column("tasks", sa.Column("output_tail", sa.Text(), nullable=True))
    for column in (
        sa.Column("cost_usd", sa.Float(precision=53), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("cached_tokens", sa.BigInteger(), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("host", sa.String(length=200), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
    ):
        op.add_column("task_attempts", column)
    op.execute(
        "UPDATE tasks SET output_tail = (SELECT a.output_tail FROM task_attempts AS a "
        "WHERE a.task_id = tasks.id AND a.outcome = 'running' ORDER BY a.number DESC LIMIT 1) "
        "WHERE status = 'running'"
    )
    op.execute("DELETE FROM task_attempts WHERE outcome = 'running'")
    backend_for(op.get_bind()).widen_task_ids(op.get_bind(), bits=64)


def downgrade() -> None:
    # Running attempts get their rows back, as the older versions expect.
    op.execute(
        "INSERT INTO task_attempts (task_id, number, worker_id, started_at, outcome, output_tail) "
        "SELECT t.id, coalesce((SELECT max(a.number) FROM task_attempts AS a WHERE a.task_id = t.id), 0) + 1, "
        "coalesce(t.lease_owner, ''), coalesce(t.started_at, t.created_at), 'running', t.output_tail "
        "FROM tasks AS t WHERE t.status = 'running'"
    )
    bind = op.get_bind()
    backend_for(bind).widen_task_ids(bind, bits=32)
    backend_for(bind).drop_running_counts(bind)
    with op.batch_alter_table("task_attempts") as batch:
        for name in ("pid", "host", "details", "cached_tokens", "output_tokens", "input_tokens", "cost_usd"):
            batch.drop_column(name)
    with op.batch_alter_table("tasks") as batch:
        for name in ("output_tail", "lease_pid", "lease_host"):
            batch.drop_column(name)
    op.drop_index("ix_tasks_status_id", table_name="tasks")
    op.create_index("ix_tasks_status_id", "tasks", ["status", "id"])
    op.drop_index("ix_tasks_finished_at", table_name="tasks")
    op.create_index("ix_tasks_finished_at", "tasks", ["finished_at"])
    op.create_index("ix_tasks_status_agent", "tasks", ["status", "agent"])
    op.create_index(
        "ux_tasks_running_lock", "tasks", ["lock_key"], unique=True,
        sqlite_where=sa.text("status = 'running' AND lock_key IS NOT NULL"),
        postgresql_where=sa.text("status = 'running' AND lock_key IS NOT NULL"),
    )
    op.drop_table("task_counts")
    op.drop_table("lock_keys")
