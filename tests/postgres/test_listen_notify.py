"""LISTEN/NOTIFY: a worker hears about work committed by another connection (or host) at once."""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import text

from desktop.config import PROFILES
from desktop.queue import TaskQueueService, TaskStatus
from desktop.queue.backends.postgresql import CHANNEL, PostgresWatcher
from tests.waiting import first_pass_done, last_report, wait_until


@pytest.fixture
def pair(postgres_url: str) -> Iterator[tuple[TaskQueueService, TaskQueueService]]:
    """A listening side and a writing side, each with its own engine (as on two hosts)."""
    listener, writer = TaskQueueService.open(postgres_url), TaskQueueService.open(postgres_url)
    writer.add_agent("echo", "echo", concurrency=10)
    yield listener, writer
    listener.close()
    writer.close()


def seconds_until_changed(watcher: PostgresWatcher, act: Callable[[], object], limit_s: float = 2.0) -> float:
    assert not watcher.changed(), "nothing happened yet"
    start = time.perf_counter()
    act()
    while time.perf_counter() - start < limit_s:
        if watcher.changed():
            return time.perf_counter() - start
        time.sleep(0.001)  # the resolution of the delay measured
    raise AssertionError(f"the watcher heard nothing within {limit_s} s")


def test_an_enqueue_on_another_connection_wakes_the_watcher_within_100_ms(pair) -> None:
    listener, writer = pair
    watcher = listener.watcher()
    assert isinstance(watcher, PostgresWatcher)
    assert watcher.changed(), "the first call always says True"
    delays = [seconds_until_changed(watcher, lambda: writer.enqueue("echo")) for _ in range(20)]
    watcher.close()
    assert statistics.median(delays) < 0.1, delays
    assert max(delays) < 0.5, delays


@pytest.mark.parametrize("action", ["retry", "resume", "release", "cancel a running task", "unblock"])
def test_other_changes_that_make_work_or_stop_it_notify_too(pair, action: str) -> None:
    listener, writer = pair
    task = writer.enqueue("echo")
    claimed = writer.dequeue("w")
    assert claimed is not None
    token = claimed.token
    child = writer.enqueue("echo", depends_on=[task.id])
    watcher = listener.watcher()
    watcher.changed()
    acts: dict[str, Callable[[], object]] = {
        "retry": lambda: (writer.fail(task.id, token, "x", retryable=False), watcher.changed(), writer.retry(task.id)),
        "resume": lambda: (writer.pause("echo"), writer.resume("echo")),
        "release": lambda: writer.release(task.id, token),
        "cancel a running task": lambda: writer.cancel(task.id),
        "unblock": lambda: writer.complete(task.id, token),
    }
    assert seconds_until_changed(watcher, acts[action]) < 0.5
    watcher.close()
    assert child.status is TaskStatus.BLOCKED


def test_claims_and_heartbeats_do_not_wake_anyone(pair) -> None:
    listener, writer = pair
    writer.enqueue("echo")
    watcher = listener.watcher()
    watcher.changed()
    task = writer.dequeue("w")
    assert task is not None
    writer.heartbeat(task.id, task.token)
    # PostgreSQL delivers notifications in commit order: one sent after the claim and the heartbeat
    # arrives after anything they sent, so once it is here, all they sent is here too.
    with writer.engine.begin() as conn:
        conn.execute(text("SELECT pg_notify(:channel, 'marker')"), {"channel": CHANNEL})
    heard: list[str] = []

    def marker_heard() -> bool:
        pgconn = watcher._conn.pgconn  # the watcher's own LISTEN connection, read here directly
        pgconn.consume_input()
        while (note := pgconn.notifies()) is not None:
            heard.append(note.extra.decode())
        return "marker" in heard

    wait_until(marker_heard, 5, "the marker notification arrived")
    assert heard == ["marker"]
    watcher.close()


def test_the_watcher_listens_again_after_losing_its_connection(pair) -> None:
    listener, writer = pair
    watcher = listener.watcher()
    watcher.changed()
    with writer.engine.begin() as conn:
        killed = conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        ).scalars().all()
    assert killed == [True]
    # It says True once: notifications may have been missed.
    wait_until(watcher.changed, 5, "the watcher noticed its lost connection")
    watcher._next_connect = 0.0  # reconnect now instead of in a few seconds
    assert watcher.changed()
    assert seconds_until_changed(watcher, lambda: writer.enqueue("echo")) < 0.5
    watcher.close()


def test_a_worker_pool_picks_up_tasks_enqueued_elsewhere_without_waiting_for_its_poll(
    qtbot: QtBot, pair, tmp_path
) -> None:
    from desktop.workers.pool import WorkerPool

    listener, writer = pair
    # The dispatcher still looks every 2 s (its heartbeat); LISTEN must beat that by far.
    settings = dataclasses.replace(PROFILES["test"], poll_interval_s=30.0, lease_s=30.0)
    pool = WorkerPool(listener, settings, output_dir=tmp_path / "logs")
    pool.start()
    try:
        qtbot.waitUntil(lambda: first_pass_done(listener, pool.worker_id), timeout=10_000)  # it idles now
        for n in range(3):
            start = time.monotonic()
            task = writer.enqueue("echo", {"n": n})
            qtbot.waitUntil(lambda t=task: writer.get(t.id).status is TaskStatus.COMPLETED, timeout=5_000)
            assert time.monotonic() - start < 0.5
            seen = last_report(listener, pool.worker_id)  # then wait for the dispatcher to idle again:
            qtbot.waitUntil(lambda s=seen: last_report(listener, pool.worker_id) != s, timeout=10_000)  # its next beat
    finally:
        pool.stop(grace_s=0)


def test_a_connection_cut_while_idle_is_replaced_before_use(pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server restart or a firewall drops idle connections: the next call still works."""
    from desktop.queue.backends import postgresql as db

    listener, writer = pair
    listener.count_tasks()  # a pooled connection, now idle
    with writer.engine.begin() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
    writer_task = writer.enqueue("echo")
    assert listener.get(writer_task.id).id == writer_task.id
