"""The attempt ledger: running totals of ended attempts that cleanup never lowers.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

- `attempt_totals`: per hour, agent, repository ('' for none) and outcome, how many attempts
  ended, their time, cost and tokens (see models.AttemptTotalRow). Filled from the attempts kept
  so far, then kept by a trigger on task_attempts (made by the backend), in the transaction that
  writes each attempt. Statistics, /metrics counters and the cost per agent and repository read
  it, so a retry no longer erases an earlier failure and `cleanup` lowers no counter.
- An index of attempts by end time: the last hour's per-minute chart and rates.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from desktop.queue.backends import backend_for

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attempt_totals",
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("agent", sa.String(length=100), nullable=False),
        sa.Column("repo", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("cost_usd", sa.Float(precision=53), server_default=sa.text("0"), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "agent", "repo", "outcome"),
    )
    op.create_index("ix_task_attempts_finished_at", "task_attempts", ["finished_at"])
    backend_for(op.get_bind()).create_attempt_totals(op.get_bind())


def downgrade() -> None:
    backend_for(op.get_bind()).drop_attempt_totals(op.get_bind())
    op.drop_index("ix_task_attempts_finished_at", table_name="task_attempts")
    op.drop_table("attempt_totals")
