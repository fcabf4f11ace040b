"""Retention that archives: finished tasks go to gzip JSON Lines files, flushed, before their rows
are deleted; the archive lists and exports them once each (on SQLite and PostgreSQL)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from desktop.queue import TaskQueueService, TaskStatus
from desktop.queue.archive import Archive
from tests.conftest import FakeClock

DAY = 86_400.0


def finish(service: TaskQueueService, agent: str, *, fail: bool = False) -> int:
    task = service.enqueue(agent, {"agent": agent}, max_retries=0)
    claim = service.dequeue("w1", agents=[agent])
    assert claim is not None and claim.id == task.id
    if fail:
        service.fail(task.id, claim.token, "boom", traceback="Traceback: boom")
    else:
        service.complete(task.id, claim.token, {"ok": agent})
    return task.id


@pytest.fixture
def queue(service: TaskQueueService) -> TaskQueueService:
    service.add_agent("alpha", "echo", concurrency=5)
    service.add_agent("beta", "echo", concurrency=5)
    return service


def test_cleanup_with_an_archive_writes_tasks_and_attempts_before_deleting_them(
    queue: TaskQueueService, clock: FakeClock, tmp_path: Path
) -> None:
    old_ok, old_failed = finish(queue, "alpha"), finish(queue, "beta", fail=True)
    clock.advance(40 * DAY)
    recent = finish(queue, "alpha")
    waiting = queue.enqueue("alpha").id
    archive = Archive(tmp_path / "archive")

    assert queue.cleanup(30 * DAY, archive=archive) == 2

    assert {t.id for t in queue.list_tasks()} == {recent, waiting}
    [file] = archive.files()
    assert file.tasks == 2 and file.path.name.endswith(".jsonl.gz")
    with gzip.open(file.path, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    by_id = {r["id"]: r for r in records}
    assert by_id[old_ok]["task"]["result"] == {"ok": "alpha"} and by_id[old_ok]["task"]["status"] == "completed"
    assert [a["outcome"] for a in by_id[old_failed]["attempts"]] == ["failed"]
    assert by_id[old_failed]["attempts"][0]["traceback"] == "Traceback: boom"
    assert "lease_token" not in by_id[old_ok]["task"]
    assert [r["id"] for r in archive.export(agent="beta")] == [old_failed]


def test_a_crash_between_the_archive_and_the_delete_loses_nothing_and_export_has_each_task_once(
    queue: TaskQueueService, clock: FakeClock, tmp_path: Path
) -> None:
    ids = [finish(queue, "alpha") for _ in range(3)]
    clock.advance(40 * DAY)
    archive = Archive(tmp_path / "archive")
    # The cleaner's first steps, then "a crash": the file is written and flushed, no row deleted.
    with queue.store.read() as conn:
        archive.write(archive.records(conn, ids[:2]), clock.now)
    (archive.folder / "tasks-crashed-before-the-rename.jsonl.gz.part").write_bytes(b"half a file")
    assert queue.count_tasks() == 3

    clock.advance(1)
    assert queue.cleanup(30 * DAY, archive=archive) == 3  # the next pass archives them again

    assert sorted(f.tasks for f in archive.files()) == [2, 3]
    exported = list(archive.export())
    assert [r["id"] for r in exported] == ids
    assert all(r["archived_at"] == clock.now for r in exported)  # the last archived line of each
    assert list(archive.export(since=clock.now)) == []  # they finished 40 days ago


def test_an_archive_that_cannot_be_written_deletes_nothing(
    queue: TaskQueueService, clock: FakeClock, tmp_path: Path
) -> None:
    finish(queue, "alpha")
    clock.advance(40 * DAY)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive folder should be")

    with pytest.raises(OSError):
        queue.cleanup(30 * DAY, archive=Archive(blocker / "archive"))

    assert [t.status for t in queue.list_tasks()] == [TaskStatus.COMPLETED]
