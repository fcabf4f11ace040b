"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Written out in full (not create_all) so that later model changes never alter this step.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

READY = "status IN ('pending', 'retrying')"

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=100), nullable=False),
    sa.Column('config', sa.Text(), nullable=False),
    sa.Column('concurrency', sa.Integer(), nullable=False),
    sa.Column('timeout_s', sa.Float(precision=53), nullable=True),
    sa.Column('max_retries', sa.Integer(), nullable=True),
    sa.Column('retry_base_s', sa.Float(precision=53), nullable=True),
    sa.Column('retry_cap_s', sa.Float(precision=53), nullable=True),
    sa.Column('paused', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', sa.Float(precision=53), nullable=False),
    sa.Column('updated_at', sa.Float(precision=53), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('queue_state',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('tasks',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('agent', sa.String(length=100), nullable=False),
    sa.Column('task_type', sa.String(length=100), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('scheduled_for', sa.Float(precision=53), nullable=False),
    sa.Column('created_at', sa.Float(precision=53), nullable=False),
    sa.Column('started_at', sa.Float(precision=53), nullable=True),
    sa.Column('finished_at', sa.Float(precision=53), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_retries', sa.Integer(), nullable=False),
    sa.Column('retry_base_s', sa.Float(precision=53), nullable=False),
    sa.Column('retry_cap_s', sa.Float(precision=53), nullable=False),
    sa.Column('lock_key', sa.String(length=500), nullable=True),
    sa.Column('unique_key', sa.String(length=500), nullable=True),
    sa.Column('timeout_s', sa.Float(precision=53), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('progress_message', sa.String(length=500), nullable=True),
    sa.Column('lease_owner', sa.String(length=200), nullable=True),
    sa.Column('lease_token', sa.String(length=64), nullable=True),
    sa.Column('lease_expires_at', sa.Float(precision=53), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index(
            'ix_tasks_ready', [sa.text('priority DESC'), 'scheduled_for', 'id'], unique=False,
            sqlite_where=sa.text(READY), postgresql_where=sa.text(READY),
        )
        batch_op.create_index('ix_tasks_agent_id', ['agent', 'id'], unique=False)
        batch_op.create_index('ix_tasks_finished_at', ['finished_at'], unique=False)
        batch_op.create_index('ix_tasks_running', ['agent', 'lease_expires_at'], unique=False, sqlite_where=sa.text("status = 'running'"), postgresql_where=sa.text("status = 'running'"))
        batch_op.create_index('ix_tasks_status_agent', ['status', 'agent'], unique=False)
        batch_op.create_index('ix_tasks_status_id', ['status', 'id'], unique=False)
        batch_op.create_index('ux_tasks_running_lock', ['lock_key'], unique=True, sqlite_where=sa.text("status = 'running' AND lock_key IS NOT NULL"), postgresql_where=sa.text("status = 'running' AND lock_key IS NOT NULL"))
        batch_op.create_index('ux_tasks_unfinished_unique', ['unique_key'], unique=True, sqlite_where=sa.text("status IN ('pending', 'blocked', 'running', 'retrying') AND unique_key IS NOT NULL"), postgresql_where=sa.text("status IN ('pending', 'blocked', 'running', 'retrying') AND unique_key IS NOT NULL"))

    op.create_table('task_attempts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.String(length=200), nullable=False),
    sa.Column('started_at', sa.Float(precision=53), nullable=False),
    sa.Column('finished_at', sa.Float(precision=53), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('traceback', sa.Text(), nullable=True),
    sa.Column('output_tail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('task_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_attempts_task_id'), ['task_id'], unique=False)

    op.create_table('task_dependencies',
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('depends_on_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['depends_on_id'], ['tasks.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_id', 'depends_on_id')
    )
    with op.batch_alter_table('task_dependencies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_dependencies_depends_on_id'), ['depends_on_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('task_dependencies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_dependencies_depends_on_id'))

    op.drop_table('task_dependencies')
    with op.batch_alter_table('task_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_attempts_task_id'))

    op.drop_table('task_attempts')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ux_tasks_unfinished_unique', sqlite_where=sa.text("status IN ('pending', 'blocked', 'running', 'retrying') AND unique_key IS NOT NULL"), postgresql_where=sa.text("status IN ('pending', 'blocked', 'running', 'retrying') AND unique_key IS NOT NULL"))
        batch_op.drop_index('ux_tasks_running_lock', sqlite_where=sa.text("status = 'running' AND lock_key IS NOT NULL"), postgresql_where=sa.text("status = 'running' AND lock_key IS NOT NULL"))
        batch_op.drop_index('ix_tasks_status_id')
        batch_op.drop_index('ix_tasks_status_agent')
        batch_op.drop_index('ix_tasks_running', sqlite_where=sa.text("status = 'running'"), postgresql_where=sa.text("status = 'running'"))
        batch_op.drop_index('ix_tasks_finished_at')
        batch_op.drop_index('ix_tasks_agent_id')
        batch_op.drop_index('ix_tasks_ready')

    op.drop_table('tasks')
    op.drop_table('queue_state')
    op.drop_table('agents')
