"""Small helpers shared by the engine's tests."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, text

from desktop.queue import Claim, TaskQueueService, TaskStatus


def at(epoch: float) -> datetime:
    """An epoch time from the fake clock as the aware datetime the service returns."""
    return datetime.fromtimestamp(epoch, UTC)


def claim(service: TaskQueueService, task_id: int, worker: str = "w1", **options: float) -> Claim:
    """Claim the next task and check that it is `task_id` and carries a lease."""
    claimed = service.dequeue(worker, **options)  # type: ignore[arg-type]
    assert claimed is not None and claimed.id == task_id
    assert claimed.token and claimed.task.lease_owner == worker
    return claimed


def token(claimed: Claim) -> str:
    return claimed.token


SEED_NOW = 1_800_000_000.0


def seed_revision_0002(conn: Connection) -> None:
    """Fill a database at revision 0002 with raw SQL (the service speaks only the newest schema):
    one task in every status, each with a lock key and a finished attempt; the running one also
    has its running attempt row with an output tail, as 0002 kept it; a dependency; a schedule."""
    conn.execute(
        text(
            "INSERT INTO agents (name, kind, config, concurrency, paused, created_at, updated_at) "
            "VALUES ('coder', 'command', '{\"argv\": [\"true\"]}', 2, false, :now, :now)"
        ),
        {"now": SEED_NOW},
    )
    for n, status in enumerate(s.value for s in TaskStatus):
        running = status == "running"
        conn.execute(
            text(
                "INSERT INTO tasks (id, agent, payload, priority, status, scheduled_for, created_at, started_at, "
                "attempts, max_retries, retry_base_s, retry_cap_s, progress, cancel_requested, lock_key, "
                "last_error, result, lease_owner, lease_token, lease_expires_at) VALUES (:id, 'coder', :payload, "
                ":priority, :status, :now, :now, :started, 1, 3, 60, 3600, 0, false, :key, :error, :result, "
                ":owner, :token, :expires)"
            ),
            {
                "id": n + 1, "payload": f'{{"n": {n}}}', "priority": n % 5 + 1, "status": status, "now": SEED_NOW,
                "started": SEED_NOW if running else None, "key": f"repo-{n}", "error": f"error {n}",
                "result": f'"result {n}"', "owner": "old-worker" if running else None,
                "token": "old-token" if running else None, "expires": SEED_NOW + 3600 if running else None,
            },
        )
        conn.execute(
            text(
                "INSERT INTO task_attempts (task_id, number, worker_id, started_at, outcome, error) "
                "VALUES (:id, 1, 'w', :now, 'failed', :error)"
            ),
            {"id": n + 1, "now": SEED_NOW, "error": f"attempt error {n}"},
        )
        if running:
            conn.execute(
                text(
                    "INSERT INTO task_attempts (task_id, number, worker_id, started_at, outcome, output_tail) "
                    "VALUES (:id, 2, 'old-worker', :now, 'running', 'halfway there')"
                ),
                {"id": n + 1, "now": SEED_NOW},
            )
    conn.execute(text("INSERT INTO task_dependencies (task_id, depends_on_id) VALUES (2, 1)"))
    conn.execute(
        text(
            "INSERT INTO schedules (name, cron, timezone, agent, payload, priority, enabled, next_fire_at, created_at) "
            "VALUES ('nightly', '0 2 * * *', 'UTC', 'coder', 'null', 3, true, :next, :now)"
        ),
        {"now": SEED_NOW, "next": SEED_NOW + 3600},
    )


def check_upgraded_from_0002(service: TaskQueueService) -> None:
    """What must hold after seed_revision_0002 and an upgrade to head."""
    tasks = sorted(service.list_tasks(limit=100), key=lambda t: t.id)
    assert [t.status for t in tasks] == list(TaskStatus)
    for n, task in enumerate(tasks):
        assert (task.payload, task.priority, task.lock_key) == ({"n": n}, n % 5 + 1, f"repo-{n}")
        assert (task.last_error, task.result) == (f"error {n}", f"result {n}")
        attempts = service.attempts(task.id)
        assert attempts[0].error == f"attempt error {n}" and attempts[0].outcome == "failed"
        if task.status is TaskStatus.RUNNING:
            # Its running attempt moved onto the task row, its output tail with it.
            assert [(a.number, a.outcome, a.output_tail) for a in attempts[1:]] == [(2, "running", "halfway there")]
        else:
            assert len(attempts) == 1
    stats = service.stats()
    assert stats.by_status == {s.value: 1 for s in TaskStatus}
    assert stats.by_agent == {"coder": {s.value: 1 for s in TaskStatus}}
    # The attempt ledger starts from the attempts kept: one failed attempt per task.
    assert (stats.attempts, stats.processed, stats.failed) == ({"failed": 7}, 7, 7)
    running = next(t for t in tasks if t.status is TaskStatus.RUNNING)
    assert [(lock.key, lock.task_id, lock.capacity) for lock in service.locks()] == [(running.lock_key, running.id, 1)]
    assert service.dependencies(2) == [1]
    assert [s.name for s in service.list_schedules()] == ["nightly"]
    # The old worker's lease still works, and its attempt is written once, as number 2.
    done = service.complete(running.id, "old-token", {"ok": True})
    assert done.status is TaskStatus.COMPLETED and service.locks() == []
    assert [(a.number, a.outcome, a.output_tail) for a in service.attempts(running.id)][1:] == [
        (2, "completed", "halfway there")
    ]
    assert service.stats().attempts == {"failed": 7, "completed": 1}
    # The counts the claim uses started right: the agent (concurrency 2) had one running task.
    service.update_agent("coder", concurrency=1)
    fresh = service.enqueue("coder", priority=5)
    claimed = service.dequeue("new-worker")
    assert claimed is not None and claimed.id == fresh.id
    assert service.dequeue("new-worker") is None  # at its concurrency
    service.complete(claimed.id, claimed.token)
