"""Another local user, created for the test, is refused the database, settings, logs, task logs and
secrets that Agent Queue wrote under the usual umask 022, while a file left readable is not."""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop import paths, secrets
from desktop.config import PROFILES, save_settings
from desktop.logs import LogFolderError, setup_logging
from desktop.private_files import private_database_file, private_dir, private_file
from desktop.queue import TaskQueueService


@pytest.fixture(scope="module")
def other_user() -> Iterator[pwd.struct_passwd]:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("creating a throwaway user needs root")
    if shutil.which("useradd") is None or shutil.which("userdel") is None:
        pytest.skip("no useradd/userdel on this machine")
    name = f"agentq-t{os.getpid()}"
    made = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True, text=True, check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"useradd refused: {made.stderr.strip()}")
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A 0755 folder anyone may enter, like a home folder, holding Agent Queue's three folders."""
    base = Path(tempfile.mkdtemp(prefix="agentq-home-", dir="/tmp"))
    os.chmod(base, 0o755)
    for name in ("AGENTQ_DATA_DIR", "AGENTQ_CONFIG_DIR", "AGENTQ_LOG_DIR"):
        monkeypatch.setenv(name, str(base / name.lower()))
    monkeypatch.setenv(secrets.STORE_ENV, "file")
    previous = os.umask(0o022)
    yield base
    os.umask(previous)
    shutil.rmtree(base)


def as_user(user: pwd.struct_passwd, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), user=user.pw_uid, group=user.pw_gid, extra_groups=[], capture_output=True, text=True, check=False
    )


@pytest.fixture
def written(home: Path, restore_logging: None) -> Iterator[list[Path]]:
    """What a running session of Agent Queue has on disk (its database open, so -wal and -shm
    exist): the files."""
    db = private_database_file(paths.data_dir() / "queue.db")
    service = TaskQueueService.open(f"sqlite:///{db}")
    try:
        service.add_agent("echo", "echo", {})
        service.enqueue("echo", {"note": "private"})
        task_log = private_file(private_dir(paths.data_dir() / "task-logs") / "task-1.log")
        task_log.write_text("output\n")
        settings = save_settings(PROFILES["development"])
        log = setup_logging(log_dir=paths.log_dir(), stderr=False)
        logging.getLogger("test").warning("a line for the log")
        secrets.save({"agent/x/headers.Authorization": "Bearer s3cret"})
        files = [db, db.with_name("queue.db-wal"), db.with_name("queue.db-shm"), task_log, settings, log,
                 paths.config_dir() / secrets.FILE_NAME]
        assert all(path.exists() for path in files)
        yield files
    finally:
        service.close()


def test_another_user_is_refused_every_file(other_user: pwd.struct_passwd, home: Path, written: list[Path]) -> None:
    readable = home / "readme.txt"  # the control: the same user may read what is meant for all
    readable.write_text("hello")
    assert as_user(other_user, "cat", str(readable)).stdout == "hello"

    files = written
    for folder in (paths.data_dir(), paths.config_dir(), paths.log_dir()):
        listed = as_user(other_user, "ls", str(folder))
        assert listed.returncode != 0 and "Permission denied" in listed.stderr, folder
    for path in files:
        read = as_user(other_user, "cat", str(path))
        assert read.returncode != 0 and "Permission denied" in read.stderr, path

    # Even with the folders opened up by hand, the files themselves stay closed.
    for folder in {p.parent for p in files}:
        os.chmod(folder, 0o755)
    for path in files:
        read = as_user(other_user, "cat", str(path))
        assert read.returncode != 0 and "Permission denied" in read.stderr, path


def test_a_log_folder_that_cannot_be_written_is_named(other_user: pwd.struct_passwd, home: Path) -> None:
    folder = home / "logs-of-root"
    folder.mkdir(mode=0o755)  # root's: the other user may enter it, not write to it
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the other user, in a copy of this process (its Python is in a folder it cannot read)
        os.close(reader)
        try:
            os.setgroups([])
            os.setgid(other_user.pw_gid)
            os.setuid(other_user.pw_uid)
            setup_logging(log_dir=folder / "agentq", stderr=False)
            message = "no error"
        except LogFolderError as exc:
            message = str(exc)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the test
            message = f"unexpected {type(exc).__name__}: {exc}"
        os.write(writer, message.encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(child, 0)
    assert message.startswith(f"Cannot write the log folder {folder / 'agentq'} (Permission denied)"), message
    assert "AGENTQ_LOG_DIR" in message
