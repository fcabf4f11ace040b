"""Recurring schedules, and completion webhooks on agents and tasks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("cron", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("lock_key", sa.String(length=500), nullable=True),
        sa.Column("task_type", sa.String(length=100), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("next_fire_at", sa.Float(precision=53), nullable=False),
        sa.Column("last_fired_at", sa.Float(precision=53), nullable=True),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index("ix_schedules_next_fire_at", "schedules", ["next_fire_at"])
    # Plain ADD COLUMNs: a batch copy of the tasks table would rewrite every row.
    op.add_column("agents", sa.Column("notify_url", sa.String(length=2000), nullable=True))
    op.add_column("tasks", sa.Column("notify_url", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("notify_url")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("notify_url")
    op.drop_index("ix_schedules_next_fire_at", table_name="schedules")
    op.drop_table("schedules")
