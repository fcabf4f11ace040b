"""The hot path's fast builders make the very objects the dataclasses' own __init__ would."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from desktop.queue import Settlement, TaskQueueService
from desktop.queue.builders import slot_builder
from desktop.queue.types import Task, TaskStatus


def test_a_built_task_equals_the_one_its_init_makes_and_stays_frozen() -> None:
    now = datetime.now(UTC)
    values = {f.name: None for f in dataclasses.fields(Task)}
    values.update(
        id=7, agent="echo", payload={"n": [1, 2]}, priority=5, status=TaskStatus.RUNNING, scheduled_for=now,
        created_at=now, attempts=1, max_retries=3, retry_base_s=1.0, retry_cap_s=60.0, progress=0,
        cancel_requested=False, sort_order=0,
    )
    built = slot_builder(Task)(*values.values())
    made = Task(**values)
    assert built == made and repr(built) == repr(made)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.priority = 1  # type: ignore[misc]


def test_settlement_complete_equals_the_settlement_its_init_makes() -> None:
    fast = Settlement.complete(3, "tok", {"ok": True}, output_tail="out", details={"cost_usd": 0.5})
    assert fast == Settlement(3, "tok", "completed", result={"ok": True}, output_tail="out", details={"cost_usd": 0.5})
    assert Settlement.complete(3, "tok") == Settlement(3, "tok", "completed")


def test_slot_builder_refuses_a_class_with_post_init() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        n: int

        def __post_init__(self) -> None:
            if self.n < 0:
                raise ValueError("n")

    with pytest.raises(TypeError, match="__post_init__"):
        slot_builder(Checked)


def test_a_claimed_task_reads_the_same_as_the_task_read_back(queue: TaskQueueService) -> None:
    """Claims come back as tuples read by position; reads as rows read by name: both the same Task."""
    queue.enqueue("echo", {"prompt": "fix it", "files": ["a.py"]}, priority=4, task_type="code", lock_key="repo:x",
                  timeout_s=90.0, max_retries=2)
    claim = queue.dequeue("w1")
    assert claim is not None
    assert claim.task == queue.get(claim.id)
    assert claim.task.payload == {"prompt": "fix it", "files": ["a.py"]} and claim.task.lock_key == "repo:x"
    assert claim.task.status is TaskStatus.RUNNING and claim.task.lease_owner == "w1"


def test_payloads_stored_by_other_writers_read_as_json_loads_reads_them(queue: TaskQueueService) -> None:
    """The fast reader takes compact JSON whole; spaced or odd text goes the json.loads way."""
    texts = ['{"n":1}', ' { "a" : [1, 2] } ', '"x"', "12", "[]"]
    ids = [queue.enqueue("echo", None).id for _ in texts]
    with queue.engine.begin() as conn:
        for task_id, text in zip(ids, texts, strict=True):
            conn.exec_driver_sql("UPDATE tasks SET payload = %s WHERE id = %s" if conn.dialect.name == "postgresql"
                                 else "UPDATE tasks SET payload = ? WHERE id = ?", (text, task_id))
    claimed = {c.id: c.task.payload for c in queue.dequeue_many("w1", 10)}
    assert [claimed[i] for i in ids] == [json.loads(t) for t in texts]
