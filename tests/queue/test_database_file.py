"""Opening files that are not usable queues: a clear error naming the file, and the file untouched."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event

from desktop.errors import DatabaseFileError
from desktop.queue import TaskQueueService, revisions


@pytest.fixture
def queue_url(db_path: Path) -> str:
    """SQLite only: these tests are about the database file."""
    return f"sqlite:///{db_path}"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_that_is_not_a_database_is_refused_and_left_untouched(db_path: Path) -> None:
    db_path.write_bytes(b"these are my notes, not a database\n" * 200)
    before = _digest(db_path)
    with pytest.raises(DatabaseFileError, match=str(db_path)):
        TaskQueueService.open(f"sqlite:///{db_path}")
    assert _digest(db_path) == before
    assert not Path(f"{db_path}-wal").exists()


def test_a_corrupt_database_is_refused_and_left_untouched(db_path: Path) -> None:
    service = TaskQueueService.open(f"sqlite:///{db_path}")
    service.add_agent("echo", "echo")
    service.enqueue_many([{"agent": "echo", "payload": {"n": i, "pad": "x" * 200}} for i in range(2000)])
    service.close()
    raw = bytearray(db_path.read_bytes())
    page = 4096
    for offset in range(10 * page, 14 * page):  # scribble over a few pages of the tasks table
        raw[offset] = 0xA5
    db_path.write_bytes(bytes(raw))
    before = _digest(db_path)
    with pytest.raises(DatabaseFileError, match="corrupt|not a usable"):
        TaskQueueService.open(f"sqlite:///{db_path}")
    assert _digest(db_path) == before


def test_another_programs_sqlite_database_is_refused(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)")
    conn.execute("INSERT INTO photos (path) VALUES ('holiday.jpg')")
    conn.commit()
    conn.close()
    before = _digest(db_path)
    with pytest.raises(DatabaseFileError, match="another program"):
        TaskQueueService.open(f"sqlite:///{db_path}")
    assert _digest(db_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only files")
def test_a_read_only_database_is_refused(db_path: Path) -> None:
    TaskQueueService.open(f"sqlite:///{db_path}").close()
    db_path.chmod(0o444)
    with pytest.raises(DatabaseFileError, match="read-only"):
        TaskQueueService.open(f"sqlite:///{db_path}")


def test_an_in_memory_database_is_refused_with_a_hint() -> None:
    with pytest.raises(DatabaseFileError, match="sqlite:///"):
        TaskQueueService.open("sqlite://")


def test_a_full_disk_writes_nothing_and_the_queue_recovers(service: TaskQueueService) -> None:
    service.add_agent("echo", "echo")
    service.enqueue("echo", {"n": 0})
    limit = {"pages": 0}

    @event.listens_for(service.engine, "connect")
    def _cap(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        if limit["pages"]:
            dbapi_conn.execute(f"PRAGMA max_page_count = {limit['pages']}")

    with service.engine.connect() as conn:
        limit["pages"] = conn.exec_driver_sql("PRAGMA page_count").scalar() + 1
    service.engine.dispose()
    with pytest.raises(DatabaseFileError, match="full"):
        service.enqueue_many([{"agent": "echo", "payload": "x" * 2000} for _ in range(500)])
    assert service.count_tasks() == 1

    limit["pages"] = 0
    service.engine.dispose()
    service.enqueue("echo", {"n": 1})
    assert service.count_tasks() == 2


def test_opening_twice_keeps_data_and_runs_no_migration_again(db_url: str) -> None:
    first = TaskQueueService.open(db_url)
    first.add_agent("echo", "echo")
    first.enqueue("echo", {"keep": True})
    first.close()
    second = TaskQueueService.open(db_url)
    assert [t.payload for t in second.list_tasks()] == [{"keep": True}]
    second.close()


def test_a_large_file_with_a_broken_header_is_still_refused(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the full-check size only the header and schema are read at open: enough for this."""
    from desktop.queue.backends import sqlite as db

    TaskQueueService.open(f"sqlite:///{db_path}").close()
    monkeypatch.setattr(db, "FULL_CHECK_MAX_BYTES", 0)
    raw = bytearray(db_path.read_bytes())
    raw[:16] = b"not sqlite here!"
    db_path.write_bytes(bytes(raw))
    with pytest.raises(DatabaseFileError, match="not a usable"):
        TaskQueueService.open(f"sqlite:///{db_path}")


@pytest.mark.parametrize("journal", ["WAL", "DELETE"])
def test_a_database_from_a_newer_version_is_refused_before_anything_writes(db_path: Path, journal: str) -> None:
    TaskQueueService.open(f"sqlite:///{db_path}").close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA journal_mode={journal}")
    conn.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    conn.commit()
    conn.close()
    before, stat = db_path.read_bytes(), db_path.stat()
    folder = sorted(p.name for p in db_path.parent.iterdir())
    with pytest.raises(DatabaseFileError) as info:
        TaskQueueService.open(f"sqlite:///{db_path}")
    assert str(info.value).startswith(f"The database {db_path} was created by a newer version of Agent Queue")
    assert f"(revision 0099_from_the_future); this version knows up to {revisions.newest()}" in str(info.value)
    assert db_path.read_bytes() == before and db_path.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in db_path.parent.iterdir()) == folder  # no -wal, no -shm
