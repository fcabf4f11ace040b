"""Repositories and workspaces for coding tasks; a task's repository and follow-up; daily budgets.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

- `repos`: the repositories tasks work on (a local clone, or a URL cloned once), with their mode
  (worktree or in place), how many tasks may work on one at once, base branch, setup command,
  copied files and what to do after a successful run (commit, push, open a pull request).
- `workspaces`: the folder each task worked in, whether the app created it (only those are ever
  removed), its branch, base commit, PORT and change summary. Rows outlive their tasks.
- `tasks.repo` (indexed) and `tasks.follow_up_of`; `agents.daily_budget_usd`, and the reason and
  end of a pause the app made (`pause_reason`, `paused_until`).
- An index of the attempts that reported a cost or tokens, for the ledger and the budgets.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_LEDGER = "cost_usd IS NOT NULL OR input_tokens IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "repos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=2000), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("local_path", sa.String(length=1000), nullable=False),
        sa.Column("lock_key", sa.String(length=500), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("max_parallel", sa.Integer(), nullable=False),
        sa.Column("base_branch", sa.String(length=200), nullable=True),
        sa.Column("setup_command", sa.Text(), nullable=True),
        sa.Column("copy_patterns", sa.Text(), nullable=False),
        sa.Column("push", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("open_pr", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("commit_uncommitted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("cloned", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("lock_key"),
    )
    op.create_table(
        "workspaces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", _ID, nullable=False),
        sa.Column("repo", sa.String(length=100), nullable=False),
        sa.Column("repo_path", sa.String(length=1000), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("branch", sa.String(length=500), nullable=False),
        sa.Column("base", sa.String(length=500), nullable=False),
        sa.Column("base_commit", sa.String(length=64), nullable=True),
        sa.Column("created", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("copied", sa.Text(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("prepared_at", sa.Float(precision=53), nullable=True),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("removed_at", sa.Float(precision=53), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_workspaces_task_id", "workspaces", ["task_id"])
    op.add_column("tasks", sa.Column("repo", sa.String(length=100), nullable=True))
    op.add_column("tasks", sa.Column("follow_up_of", _ID, nullable=True))
    op.create_index(
        "ix_tasks_repo", "tasks", ["repo"],
        sqlite_where=sa.text("repo IS NOT NULL"), postgresql_where=sa.text("repo IS NOT NULL"),
    )
    op.add_column("agents", sa.Column("daily_budget_usd", sa.Float(precision=53), nullable=True))
    op.add_column("agents", sa.Column("pause_reason", sa.String(length=500), nullable=True))
    op.add_column("agents", sa.Column("paused_until", sa.Float(precision=53), nullable=True))
    op.create_index(
        "ix_task_attempts_ledger", "task_attempts", ["finished_at"],
        sqlite_where=sa.text(_LEDGER), postgresql_where=sa.text(_LEDGER),
    )


def downgrade() -> None:
    op.drop_index("ix_task_attempts_ledger", table_name="task_attempts")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("paused_until")
        batch.drop_column("pause_reason")
        batch.drop_column("daily_budget_usd")
    op.drop_index("ix_tasks_repo", table_name="tasks")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of tasks would drop its triggers.
    op.execute("ALTER TABLE tasks DROP COLUMN follow_up_of")
    op.execute("ALTER TABLE tasks DROP COLUMN repo")
    op.drop_index("ix_workspaces_task_id", table_name="workspaces")
    op.drop_table("workspaces")
    op.drop_table("repos")
