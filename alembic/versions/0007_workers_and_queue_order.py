"""The worker roster, a manual order within a priority, and per-agent backpressure and escalation.

Revision ID: 0007
Revises: 0005 (the lead re-chains at merge)
Create Date: 2026-12-02

- `workers`: one row per worker pool (its id, host, pid, start, last heartbeat, concurrency,
  tasks running now, completed and failed counts, lease period, stop time), kept by its heartbeats.
- `tasks.sort_order`: the manual order within a priority (move to top / bottom, run now); the
  ready index and the claim order become priority DESC, sort_order, scheduled_for, id.
- `agents.escalate_priority` (each automatic retry one priority level higher, up to 5) and
  `agents.max_pending` (at most this many waiting tasks; enqueueing past it is refused).
- The `backlogged` status needs no column: it is a value of tasks.status (never ready). The
  unique-key index now covers every unfinished status, backlogged included.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_READY = "status IN ('pending', 'retrying')"
_UNIQUE_OLD = "status IN ('pending', 'blocked', 'running', 'retrying') AND unique_key IS NOT NULL"
_UNIQUE_NEW = "status NOT IN ('completed', 'failed', 'cancelled') AND unique_key IS NOT NULL"  # backlogged too


def _unique_index(where: str) -> None:
    op.drop_index("ux_tasks_unfinished_unique", table_name="tasks")
    op.create_index(
        "ux_tasks_unfinished_unique", "tasks", ["unique_key"], unique=True,
        sqlite_where=sa.text(where), postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.Float(precision=53), nullable=False),
        sa.Column("last_seen_at", sa.Float(precision=53), nullable=False),
        sa.Column("stopped_at", sa.Float(precision=53), nullable=True),
        sa.Column("lease_s", sa.Float(precision=53), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("running", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("completed", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("failed", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.add_column("tasks", sa.Column("sort_order", sa.BigInteger(), server_default=sa.text("0"), nullable=False))
    op.drop_index("ix_tasks_ready", table_name="tasks")
    op.create_index(
        "ix_tasks_ready", "tasks", [sa.text("priority DESC"), "sort_order", "scheduled_for", "id"],
        sqlite_where=sa.text(_READY), postgresql_where=sa.text(_READY),
    )
    op.add_column("agents", sa.Column("escalate_priority", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("agents", sa.Column("max_pending", sa.Integer(), nullable=True))
    _unique_index(_UNIQUE_NEW)


def downgrade() -> None:
    op.execute("UPDATE tasks SET status = 'pending' WHERE status = 'backlogged'")
    _unique_index(_UNIQUE_OLD)
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("max_pending")
        batch.drop_column("escalate_priority")
    op.drop_index("ix_tasks_ready", table_name="tasks")
    op.create_index(
        "ix_tasks_ready", "tasks", [sa.text("priority DESC"), "scheduled_for", "id"],
        sqlite_where=sa.text(_READY), postgresql_where=sa.text(_READY),
    )
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of tasks would drop its triggers.
    op.execute("ALTER TABLE tasks DROP COLUMN sort_order")
    op.drop_table("workers")
