"""Private folders and files on a real file system, under the common umask 022: the data, config and
log folders, settings, logs and their rotations, task logs and SQLite's -wal and -shm files."""

from __future__ import annotations

import dataclasses
import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop import paths
from desktop.agents import TaskContext
from desktop.config import PROFILES, load_settings, save_settings
from desktop.logs import LogFolderError, setup_logging
from desktop.private_files import (
    private_database_file,
    private_dir,
    private_file,
    tighten,
    write_private_text,
)
from desktop.queue import TaskQueueService
from tests.agents.agent_helpers import make_task


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_new_folders_are_0700_from_the_first_missing_one(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c"
    assert private_dir(target) == target
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", target)] == [0o700] * 3


def test_folders_and_files_we_own_are_tightened_others_left_alone(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    (loose / "f").write_text("x")
    os.chmod(loose / "f", 0o664)
    private_dir(loose)
    private_file(loose / "f")
    assert mode(loose) == 0o700 and mode(loose / "f") == 0o600
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp
    private_dir(shared)
    assert mode(shared) == 0o1777
    if os.geteuid() == 0:  # a file another user owns is theirs to decide
        theirs = tmp_path / "theirs"
        theirs.write_text("x")
        os.chmod(theirs, 0o644)
        os.chown(theirs, 65534, 65534)
        assert tighten(theirs) is False and mode(theirs) == 0o644


def test_a_task_log_is_created_0600_on_its_first_line_and_kept_on_later_appends(tmp_path: Path) -> None:
    folder = private_dir(tmp_path / "task-logs")
    path = folder / "task-7.log"
    ctx = TaskContext(task=make_task(None), log_path=path)
    ctx.log("line")
    ctx.log("more")
    assert mode(path) == 0o600 and mode(path.parent) == 0o700 and path.read_text() == "line\nmore\n"


def test_write_private_text_replaces_atomically_with_0600(tmp_path: Path) -> None:
    path = tmp_path / "new" / "settings.json"
    write_private_text(path, "one")
    os.chmod(path, 0o644)
    write_private_text(path, "two")
    assert path.read_text() == "two" and mode(path) == 0o600 and mode(path.parent) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temporary left


def test_the_data_config_and_log_folders_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AGENTQ_DATA_DIR", "AGENTQ_CONFIG_DIR", "AGENTQ_LOG_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "home" / name.lower()))
    (tmp_path / "home").mkdir(mode=0o755)
    existing = tmp_path / "home" / "agentq_log_dir"
    existing.mkdir(mode=0o755)  # made by an older version
    for folder in (paths.data_dir(), paths.config_dir(), paths.log_dir()):
        assert folder.is_dir() and mode(folder) == 0o700


def test_settings_are_saved_0600(tmp_path: Path) -> None:
    path = tmp_path / "config" / "settings.json"
    save_settings(dataclasses.replace(PROFILES["development"], concurrency=7), path)
    assert mode(path) == 0o600 and load_settings(path=path).concurrency == 7


def test_log_files_and_their_rotations_are_0600(tmp_path: Path, restore_logging: None) -> None:
    folder = tmp_path / "logs"
    folder.mkdir(mode=0o755)
    old = folder / "agentq.log.2"
    old.write_text("from an older version\n")
    os.chmod(old, 0o644)
    path = setup_logging(log_dir=folder, stderr=False)
    logging.getLogger("test").warning("hello")
    [handler] = [h for h in logging.getLogger().handlers if getattr(h, "baseFilename", None) == str(path)]
    handler.doRollover()  # type: ignore[attr-defined]
    logging.getLogger("test").warning("after the rotation")
    assert mode(folder) == 0o700
    rotated = ("agentq.log", "agentq.log.1", "agentq.log.3")  # the old .2 moved up one
    assert {p.name: mode(p) for p in folder.iterdir()} == dict.fromkeys(rotated, 0o600)
    assert "after the rotation" in path.read_text()


def test_an_unusable_log_folder_is_named_with_what_to_do(tmp_path: Path, restore_logging: None) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(LogFolderError) as info:
        setup_logging(log_dir=blocker / "logs", stderr=False)
    message = str(info.value)
    assert str(blocker / "logs") in message and "AGENTQ_LOG_DIR" in message


def test_sqlite_gives_wal_and_shm_the_database_files_mode(tmp_path: Path) -> None:
    db = private_database_file(tmp_path / "queue.db")
    service = TaskQueueService.open(f"sqlite:///{db}")
    try:
        service.add_agent("echo", "echo", {})
        service.enqueue("echo", {"n": 1})
        files = {p.name: mode(p) for p in tmp_path.iterdir()}
    finally:
        service.close()
    assert files["queue.db-wal"] == files["queue.db-shm"] == files["queue.db"] == 0o600


def test_the_queue_makes_its_database_private_where_sqlite_alone_would_not(tmp_path: Path) -> None:
    """SQLite alone creates 0644 files under umask 022 (the control); TaskQueueService.open makes
    the file 0600 before SQLite opens it, so its -wal and -shm are 0600 too."""
    previous = os.umask(0o022)
    try:
        plain = sqlite3.connect(tmp_path / "plain.db")
        plain.execute("PRAGMA journal_mode=WAL")
        plain.execute("CREATE TABLE t (x)")
        plain.commit()
        assert mode(tmp_path / "plain.db") == mode(tmp_path / "plain.db-wal") == 0o644
        plain.close()
        service = TaskQueueService.open(f"sqlite:///{tmp_path / 'queue.db'}")
        try:
            service.add_agent("echo", "echo", {})
            assert mode(tmp_path / "queue.db") == mode(tmp_path / "queue.db-wal") == mode(tmp_path / "queue.db-shm")
            assert mode(tmp_path / "queue.db") == 0o600
        finally:
            service.close()
    finally:
        os.umask(previous)


def test_existing_loose_database_files_are_tightened(tmp_path: Path) -> None:
    db = tmp_path / "queue.db"
    TaskQueueService.open(f"sqlite:///{db}").close()
    for path in (db, tmp_path / "queue.db-wal", tmp_path / "queue.db-shm"):
        if path.exists():
            os.chmod(path, 0o644)
    private_database_file(db)
    assert all(mode(p) == 0o600 for p in tmp_path.iterdir())
