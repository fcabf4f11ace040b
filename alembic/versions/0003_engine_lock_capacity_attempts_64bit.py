"""Lock keys with a capacity, running counts kept by triggers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

The partial unique index that allowed one running task per lock key gives way to the lock_keys
table (capacity, running, ceiling; see models.LockKeyRow) and to triggers on tasks that keep the
running counts of lock keys and agents, created by the database's backend.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from desktop.queue.backends import backend_for

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
    op.add_column("agents", sa.Column("running", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.drop_index("ux_tasks_running_lock", table_name="tasks")
    # The counts as they are (one running task per key at most: the index just dropped said so).
    op.execute(
        "UPDATE agents SET running = "
        "(SELECT count(*) FROM tasks WHERE tasks.status = 'running' AND tasks.agent = agents.name)"
    )
    op.execute(
        "INSERT INTO lock_keys (key, capacity, running, ceiling) "
        "SELECT lock_key, 1, count(*), 1 FROM tasks "
        "WHERE status = 'running' AND lock_key IS NOT NULL GROUP BY lock_key"
    )
    backend_for(op.get_bind()).create_running_counts(op.get_bind())


def downgrade() -> None:
    bind = op.get_bind()
    backend_for(bind).drop_running_counts(bind)
    op.create_index(
        "ux_tasks_running_lock", "tasks", ["lock_key"], unique=True,
        sqlite_where=sa.text("status = 'running' AND lock_key IS NOT NULL"),
        postgresql_where=sa.text("status = 'running' AND lock_key IS NOT NULL"),
    )
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("running")
    op.drop_table("lock_keys")
