"""Alembic owns the schema: upgrades keep every row, and `alembic upgrade head` works from the repo."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from desktop.queue import TaskQueueService, TaskStatus
from desktop.queue.db import alembic_config, create_queue_engine, upgrade
from tests.conftest import assert_running_counts_agree
from tests.queue.helpers import check_upgraded_from_0002, seed_revision_0002

REPO = Path(__file__).resolve().parents[2]
FIRST_REVISION = "0001"  # the test seeds this schema, then upgrades to head
NOW = 1_800_000_000.0


def _seed_first_schema(db_path: Path) -> None:
    """Create the first revision's schema and fill it with raw SQL: one task in every status.

    Raw SQL (not the service) because the service always speaks the newest schema.
    """
    engine = create_queue_engine(f"sqlite:///{db_path}")
    upgrade(engine, FIRST_REVISION)
    engine.dispose()
    conn = sqlite3.connect(db_path)
    conn.execute(
        "INSERT INTO agents (name, kind, config, concurrency, paused, created_at, updated_at) "
        "VALUES ('coder', 'command', '{\"argv\": [\"true\"]}', 2, 0, ?, ?)",
        (NOW, NOW),
    )
    for n, status in enumerate(s.value for s in TaskStatus):
        conn.execute(
            "INSERT INTO tasks (id, agent, payload, priority, status, scheduled_for, created_at, "
            "attempts, max_retries, retry_base_s, retry_cap_s, progress, cancel_requested, "
            "lock_key, last_error, result) VALUES (?, 'coder', ?, ?, ?, ?, ?, 1, 3, 60, 3600, 0, 0, ?, ?, ?)",
            (n + 1, f'{{"n": {n}}}', n % 5 + 1, status, NOW, NOW, f"repo-{n}", f"error {n}", f'"result {n}"'),
        )
        conn.execute(
            "INSERT INTO task_attempts (task_id, number, worker_id, started_at, outcome, error) "
            "VALUES (?, 1, 'w', ?, 'failed', ?)",
            (n + 1, NOW, f"attempt error {n}"),
        )
    conn.execute("INSERT INTO task_dependencies (task_id, depends_on_id) VALUES (2, 1)")
    conn.commit()
    conn.close()


def test_upgrading_a_database_with_data_in_every_status_loses_nothing(db_path: Path) -> None:
    _seed_first_schema(db_path)
    service = TaskQueueService.open(f"sqlite:///{db_path}")
    try:
        tasks = sorted(service.list_tasks(limit=100), key=lambda t: t.id)
        assert [t.status for t in tasks] == list(TaskStatus)
        for n, task in enumerate(tasks):
            assert task.payload == {"n": n}
            assert task.priority == n % 5 + 1
            assert task.lock_key == f"repo-{n}"
            assert task.last_error == f"error {n}"
            assert task.result == f"result {n}"
            running = [None] if task.status is TaskStatus.RUNNING else []  # its current attempt
            assert [a.error for a in service.attempts(task.id)] == [f"attempt error {n}", *running]
        assert service.dependencies(2) == [1]
        assert service.get_agent("coder").config == {"argv": ["true"]}
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        with service.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head
    finally:
        service.close()


def test_upgrading_from_0002_with_a_task_in_every_status_keeps_them_all_and_their_counts(db_path: Path) -> None:
    engine = create_queue_engine(f"sqlite:///{db_path}")
    upgrade(engine, "0002")
    with engine.begin() as conn:
        seed_revision_0002(conn)
    engine.dispose()
    with TaskQueueService.open(f"sqlite:///{db_path}") as service:
        check_upgraded_from_0002(service)
        assert_running_counts_agree(service)


def test_alembic_upgrade_head_works_from_the_repository(db_path: Path) -> None:
    env = {**os.environ, "AGENTQ_DATABASE_URL": f"sqlite:///{db_path}"}
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=REPO, env=env, check=True,
        capture_output=True,
    )
    conn = sqlite3.connect(db_path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert {"agents", "tasks", "task_attempts", "task_dependencies", "queue_state"} <= tables


def test_every_migration_downgrades_and_upgrades_again(db_path: Path) -> None:
    from alembic import command

    engine = create_queue_engine(f"sqlite:///{db_path}")
    upgrade(engine)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    upgrade(engine)
    engine.dispose()
    service = TaskQueueService.open(f"sqlite:///{db_path}")
    service.add_agent("echo", "echo")
    assert service.enqueue("echo").status is TaskStatus.PENDING
    service.close()
