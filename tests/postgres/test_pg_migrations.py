"""The same alembic migrations build, tear down and rebuild the schema on PostgreSQL."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
from collections.abc import Iterator
from itertools import count

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url

from alembic import command
from desktop.errors import DatabaseFileError
from desktop.queue import TaskQueueService
from desktop.queue.db import WRITE, alembic_config, create_queue_engine, upgrade
from desktop.queue.models import Base
from tests.conftest import REPO, _admin, assert_running_counts_agree
from tests.queue.helpers import check_upgraded_from_0002, seed_revision_0002

_numbers = count(1)


@pytest.fixture
def empty_url(postgres_server: URL) -> Iterator[str]:
    """A database with no tables at all."""
    name = f"agentq_empty_{os.getpid()}_{next(_numbers)}"
    with _admin(postgres_server) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield postgres_server.set(database=name).render_as_string(hide_password=False)
    with _admin(postgres_server) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_every_migration_downgrades_and_upgrades_again(empty_url: str) -> None:
    engine = create_queue_engine(empty_url)
    cfg = alembic_config()
    for target, step in (("head", command.upgrade), ("base", command.downgrade), ("head", command.upgrade)):
        with engine.execution_options(**{WRITE: True}).begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, target)
    assert {"tasks", "agents", "schedules", "task_attempts"} <= set(inspect(engine).get_table_names())
    engine.dispose()
    with TaskQueueService.open(empty_url) as service:
        service.add_agent("echo", "echo")
        assert service.get_agent("echo").paused is False  # the boolean server defaults work
        assert service.add_schedule("s", "* * * * *", "echo").enabled is True


def test_upgrading_from_0002_keeps_every_task_and_makes_ids_64_bit(empty_url: str) -> None:
    engine = create_queue_engine(empty_url)
    upgrade(engine, "0002")
    with engine.begin() as conn:
        seed_revision_0002(conn)
        conn.execute(text("SELECT setval(pg_get_serial_sequence('tasks', 'id'), (SELECT max(id) FROM tasks))"))
    engine.dispose()
    with TaskQueueService.open(empty_url) as service:
        check_upgraded_from_0002(service)
        assert_running_counts_agree(service)
        types = {
            (table, column): inspect(service.engine).get_columns(table)
            for table, column in (("tasks", "id"), ("task_attempts", "task_id"), ("task_dependencies", "depends_on_id"))
        }
        for (table, column), columns in types.items():
            assert str(next(c for c in columns if c["name"] == column)["type"]) == "BIGINT", (table, column)
        with service.engine.begin() as conn:  # ids past 2**31 (a busy queue gets there)
            conn.execute(text("SELECT setval(pg_get_serial_sequence('tasks', 'id'), 5000000000)"))
        big = service.enqueue("coder")
        assert big.id > 2**32 and service.get(big.id).id == big.id
        assert [t.id for t in service.list_tasks(search=str(big.id))] == [big.id]
        claimed = service.dequeue("w")
        assert claimed is not None
        service.complete(claimed.id, claimed.token)


def test_alembic_upgrade_head_from_the_repository_logs_no_password(empty_url: str) -> None:
    env = {**os.environ, "AGENTQ_DATABASE_URL": empty_url}
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=REPO, env=env, check=True,
        capture_output=True, text=True,
    )
    assert (make_url(empty_url).password or "") not in done.stdout + done.stderr
    engine = create_queue_engine(empty_url)
    assert {"tasks", "agents", "schedules", "alembic_version"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_the_models_match_the_migrations(postgres_url: str) -> None:
    engine = create_queue_engine(postgres_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_server_default": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def _open(url: str) -> None:
    TaskQueueService.open(url).close()


def test_processes_opening_a_new_database_at_once_migrate_it_once(empty_url: str) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(empty_url,)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * 4
    with TaskQueueService.open(empty_url) as service:
        assert service.list_agents() == []


def test_a_database_from_a_newer_version_is_refused_and_left_as_it_was(empty_url: str) -> None:
    TaskQueueService.open(empty_url).close()
    engine = create_queue_engine(empty_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(DatabaseFileError, match=r"newer version of Agent Queue \(revision 0099\); this version knows up to"):
        TaskQueueService.open(empty_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0099"
    engine.dispose()
