"""Shared fixtures: every test gets a real SQLite file in its own temporary folder.

The queue engine's tests also run against PostgreSQL: `service` and `queue_url` are parametrised
over both backends. The PostgreSQL server is the one AGENTQ_TEST_POSTGRES_URL names (its user needs
the CREATEDB privilege), else a throwaway cluster started by scripts/postgres-test-cluster.sh when
PostgreSQL is installed; without either, those tests are skipped, saying how to enable them. Each
PostgreSQL test gets a database of its own, copied from a migrated template.
"""

from __future__ import annotations

import faulthandler
import glob
import itertools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from desktop.queue import RetryPolicy, TaskQueueService
from desktop.queue.db import queue_url as as_queue_url

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SCRIPT = REPO / "scripts" / "postgres-test-cluster.sh"
NO_POSTGRES = (
    "no PostgreSQL: install it (sudo bash scripts/system-deps.sh) to run these, or set "
    "AGENTQ_TEST_POSTGRES_URL to a server whose user may CREATE DATABASE"
)
_database_numbers = itertools.count(1)
HANG_MARGIN_S = 60.0  # past a test's own timeout: it is stuck where pytest-timeout cannot reach
_REAL_STDERR = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgresql: runs against a PostgreSQL server")
    config.stash[_REAL_STDERR] = os.dup(2)  # output capture is suspended here: this is the terminal's


def pytest_unconfigure(config: pytest.Config) -> None:
    os.close(config.stash[_REAL_STDERR])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """End the run, printing every thread's stack, when a test outlives its timeout by a minute.

    pytest-timeout's SIGALRM cannot stop a test blocked in a C call that never returns to Python
    (nor one that holds the GIL); without this, such a test would hold CI until CI's own limit,
    and say nothing about where. faulthandler's watchdog is a C thread: it needs no GIL.
    """
    marker = item.get_closest_marker("timeout")
    limit = float(marker.args[0] if marker and marker.args else item.config.getini("timeout")) + HANG_MARGIN_S
    faulthandler.dump_traceback_later(limit, exit=True, file=item.config.stash[_REAL_STDERR])
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


class FakeClock:
    """A clock tests move by hand, so backoffs and leases need no sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the real user's data, log and config folders."""
    home = tmp_path_factory.mktemp("home")
    for name in ("AGENTQ_DATA_DIR", "AGENTQ_LOG_DIR", "AGENTQ_CONFIG_DIR"):
        monkeypatch.setenv(name, str(home / name.lower()))
    monkeypatch.delenv("AGENTQ_DATABASE_URL", raising=False)
    monkeypatch.setenv("AGENTQ_SECRET_STORE", "file")  # never the real user's keyring


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "queue.db"


@pytest.fixture
def db_url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"


@pytest.fixture
def cli_env(tmp_path: Path, db_url: str) -> dict[str, str]:
    """The environment of an `agentq` process: its own folders, short leases, no backoff."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_text(json.dumps({"lease_s": 2.0, "retry_base_s": 0.0, "poll_interval_s": 0.1}))
    return {
        **os.environ,
        "AGENTQ_DATABASE_URL": db_url,
        "AGENTQ_CONFIG_DIR": str(config),
        "AGENTQ_DATA_DIR": str(tmp_path / "data"),
        "AGENTQ_LOG_DIR": str(tmp_path / "logs"),
        "AGENTQ_ENV": "test",
    }


@pytest.fixture
def env(cli_env: dict[str, str]) -> dict[str, str]:
    """The same environment, under the name the CLI and API tests use."""
    return cli_env


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- PostgreSQL ---------------------------------------------------------------------------------


def postgres_installed() -> bool:
    return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which("initdb"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[URL]:
    """The URL of a PostgreSQL database whose user may create databases (skips without one)."""
    if os.environ.get("AGENTQ_TEST_POSTGRES_URL"):
        yield as_queue_url(os.environ["AGENTQ_TEST_POSTGRES_URL"])
        return
    if not postgres_installed():
        pytest.skip(NO_POSTGRES)
    # Not pytest's tmp_path: the server runs as another user, who must be able to reach it.
    folder = tempfile.mkdtemp(prefix="agentq-pg-", dir="/tmp" if os.geteuid() == 0 else None)
    try:
        started = subprocess.run(
            ["bash", str(CLUSTER_SCRIPT), "start", folder, "--no-fsync"],
            capture_output=True, text=True, timeout=120, check=False,
        )
        if started.returncode != 0:  # installed but broken: an error, never a silent skip
            logs = "".join(log.read_text(errors="replace") for log in Path(folder).glob("*.log"))
            pytest.fail(f"scripts/postgres-test-cluster.sh could not start a cluster:\n{started.stderr}{logs}")
        yield make_url(started.stdout.strip())
    finally:
        subprocess.run(["bash", str(CLUSTER_SCRIPT), "stop", folder], capture_output=True, timeout=120, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def _admin(url: URL) -> Any:
    import psycopg

    return psycopg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database,
        autocommit=True,
    )


@pytest.fixture(scope="session")
def postgres_template(postgres_server: URL) -> Iterator[str]:
    """A database migrated to head, copied for each test (much faster than migrating each)."""
    name = f"agentq_template_{os.getpid()}"
    with _admin(postgres_server) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    TaskQueueService.open(postgres_server.set(database=name)).close()
    yield name
    with _admin(postgres_server) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def postgres_url(postgres_server: URL, postgres_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test, dropped afterwards. The URL includes
    the password, so spawned processes can open it."""
    name = f"agentq_test_{os.getpid()}_{next(_database_numbers)}"
    with _admin(postgres_server) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {postgres_template}")
    yield postgres_server.set(database=name).render_as_string(hide_password=False)
    with _admin(postgres_server) as admin:  # FORCE: a killed worker process may have left a session
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def queue_url(request: pytest.FixtureRequest, db_path: Path) -> str:
    """The URL of an empty queue, once on a SQLite file and once on a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{db_path}"
    return request.getfixturevalue("postgres_url")


STATUSES = ("pending", "blocked", "running", "retrying", "completed", "failed", "cancelled")  # task_counts'


def assert_running_counts_agree(service: TaskQueueService) -> None:
    """The counts the claim and the statistics rely on (kept by triggers) equal the tasks."""
    with service.engine.connect() as conn:
        actual = {
            (agent, status): count
            for agent, status, count in conn.execute(
                text("SELECT agent, status, count(*) FROM tasks WHERE status != 'backlogged' GROUP BY agent, status")
            )
        }
        kept = {
            (row.agent, status): row._mapping[status]
            for row in conn.execute(text("SELECT * FROM task_counts"))
            for status in STATUSES
            if row._mapping[status]
        }
        keys = conn.execute(
            text(
                "SELECT t.lock_key, coalesce(max(k.running), 0), count(*) FROM tasks AS t "
                "LEFT JOIN lock_keys AS k ON k.key = t.lock_key "
                "WHERE t.status = 'running' AND t.lock_key IS NOT NULL GROUP BY t.lock_key"
            )
        ).all()
        idle = conn.execute(
            text(
                "SELECT key, running FROM lock_keys AS k WHERE running <> 0 AND NOT EXISTS "
                "(SELECT 1 FROM tasks AS t WHERE t.lock_key = k.key AND t.status = 'running')"
            )
        ).all()
    assert kept == actual
    assert [(key, counted) for key, counted, running in keys if counted != running] == []
    assert idle == []
    assert_attempt_totals_cover_the_attempts(service)


def assert_attempt_totals_cover_the_attempts(service: TaskQueueService) -> None:
    """The attempt ledger counts at least the attempts kept, per agent, repository and outcome
    (exactly them, until cleanup or a delete removes some: the totals never go down)."""
    with service.engine.connect() as conn:
        kept = conn.execute(text(
            "SELECT t.agent, coalesce(t.repo, ''), a.outcome, count(*) FROM task_attempts AS a "
            "JOIN tasks AS t ON t.id = a.task_id GROUP BY t.agent, coalesce(t.repo, ''), a.outcome"
        )).all()
        totals = {
            (agent, repo, outcome): int(count)
            for agent, repo, outcome, count in conn.execute(text(
                "SELECT agent, repo, outcome, sum(attempts) FROM attempt_totals GROUP BY agent, repo, outcome"
            ))
        }
    assert [(key, n) for *key, n in kept if totals.get(tuple(key), 0) < n] == []


@pytest.fixture
def service(queue_url: str, clock: FakeClock) -> Iterator[TaskQueueService]:
    """A service on a fresh database (SQLite, then PostgreSQL), with a fake clock and jitter-free
    retries. Afterwards, the conformance check every engine test gets: the running counts agree.

    The engine on its own: agents of any kind, payloads unchecked by kinds (the kinds' rules,
    which open() applies by default, have tests of their own)."""
    svc = TaskQueueService.open(
        queue_url, clock=clock, retry_policy=RetryPolicy(jitter=0.0), validate_agent=None, payload_rules=None,
        keep_secrets=None,
    )
    yield svc
    try:
        assert_running_counts_agree(svc)
    finally:
        svc.close()
