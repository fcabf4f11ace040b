"""Bad input is refused with a TaskValidationError naming the field and the rule; nothing is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from desktop.queue import (
    NotFoundError,
    TaskQueueService,
    TaskStateError,
    TaskStatus,
    TaskValidationError,
)
from desktop.queue.models import TaskRow


def refused(call: Any, field: str, *rule_words: str) -> TaskValidationError:
    """Run `call`, expecting a TaskValidationError on `field` whose rule mentions `rule_words`."""
    with pytest.raises(TaskValidationError) as info:
        call()
    error = info.value
    assert isinstance(error, ValueError)
    assert error.field == field
    assert str(error).startswith(f"{field}: ")
    for word in rule_words:
        assert word in error.rule, f"{word!r} not in {error.rule!r}"
    return error


# -- enqueue --------------------------------------------------------------------------------------


NAIVE = datetime(2027, 1, 1, 12, 0)

BAD_ENQUEUE: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    ("priority-0", {"priority": 0}, "priority", ("integer from 1 to 5",)),
    ("priority-6", {"priority": 6}, "priority", ("integer from 1 to 5",)),
    ("priority-str", {"priority": "3"}, "priority", ("integer from 1 to 5",)),
    ("priority-float", {"priority": 2.5}, "priority", ("integer from 1 to 5",)),
    ("priority-bool", {"priority": True}, "priority", ("integer from 1 to 5",)),
    ("payload-object", {"payload": {"x": object()}}, "payload", ("JSON-serialisable",)),
    ("payload-nan", {"payload": [float("nan")]}, "payload", ("JSON-serialisable",)),
    ("payload-too-big", {"payload": "x" * (1 << 20)}, "payload", ("limit is 1,048,576 bytes",)),
    ("naive-datetime", {"scheduled_for": NAIVE}, "scheduled_for", ("timezone-aware",)),
    ("bad-iso", {"scheduled_for": "next tuesday"}, "scheduled_for", ("ISO 8601",)),
    ("date-only", {"scheduled_for": "2027-01-01"}, "scheduled_for", ("timezone-aware",)),
    ("scheduled-int", {"scheduled_for": 1_800_000_000}, "scheduled_for", ("datetime",)),
    ("max-retries-negative", {"max_retries": -1}, "max_retries", ("0 or more",)),
    ("max-retries-float", {"max_retries": 1.5}, "max_retries", ("whole number",)),
    ("timeout-negative", {"timeout_s": -5}, "timeout_s", ("more than 0",)),
    ("timeout-zero", {"timeout_s": 0}, "timeout_s", ("more than 0",)),
    ("timeout-inf", {"timeout_s": float("inf")}, "timeout_s", ("seconds",)),
    ("retry-base-negative", {"retry_base_s": -1}, "retry_base_s", ("0 or more",)),
    ("lock-key-empty", {"lock_key": ""}, "lock_key", ("non-empty",)),
    ("lock-key-blank", {"lock_key": "   "}, "lock_key", ("non-empty",)),
    ("lock-key-501", {"lock_key": "k" * 501}, "lock_key", ("at most 500",)),
    ("unique-key-501", {"unique_key": "u" * 501}, "unique_key", ("at most 500",)),
    ("depends-on-missing", {"depends_on": [4242]}, "depends_on", ("task 4242 does not exist",)),
    ("depends-on-not-ids", {"depends_on": ["1"]}, "depends_on", ("task ids",)),
    ("task-type-too-long", {"task_type": "t" * 101}, "task_type", ("at most 100",)),
]


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [case[1:] for case in BAD_ENQUEUE],
    ids=[case[0] for case in BAD_ENQUEUE],
)
def test_bad_enqueue_argument_is_refused_and_nothing_written(
    queue: TaskQueueService, kwargs: dict[str, Any], field: str, words: tuple[str, ...]
) -> None:
    refused(lambda: queue.enqueue("echo", **kwargs), field, *words)
    assert queue.count_tasks() == 0


def test_unknown_agent_is_refused(queue: TaskQueueService) -> None:
    refused(lambda: queue.enqueue("ghost", {"a": 1}), "agent", "ghost")
    refused(lambda: queue.enqueue("", {"a": 1}), "agent")
    assert queue.count_tasks() == 0


def test_payload_at_the_size_limit_is_accepted(queue: TaskQueueService) -> None:
    payload = "x" * ((1 << 20) - 2)  # plus two quotes: exactly 1 MiB of JSON
    assert queue.enqueue("echo", payload).payload == payload


def test_the_payload_limit_can_be_lowered(db_url: str) -> None:
    with TaskQueueService.open(db_url, max_payload_bytes=10) as service:
        service.add_agent("echo", "echo")
        refused(lambda: service.enqueue("echo", "more than ten bytes"), "payload", "limit is 10 bytes")
        assert service.count_tasks() == 0


@pytest.mark.parametrize(
    "value",
    [
        "2027-03-01T12:00:00+02:00",
        "2027-03-01T10:00:00Z",
        datetime(2027, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
        datetime(2027, 3, 1, 5, 0, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_aware_scheduled_for_comes_back_as_utc(queue: TaskQueueService, value: datetime | str) -> None:
    task = queue.enqueue("echo", scheduled_for=value)
    expected = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
    for seen in (task.scheduled_for, queue.get(task.id).scheduled_for):
        assert seen == expected
        assert seen.utcoffset() == timedelta(0)
        assert seen.tzinfo is UTC


def test_created_by_up_to_its_column_length_is_accepted(queue: TaskQueueService) -> None:
    longest = TaskRow.__table__.c.created_by.type.length
    assert queue.enqueue("echo", created_by="c" * longest).created_by == "c" * longest
    refused(lambda: queue.enqueue("echo", created_by="c" * (longest + 1)), "created_by", f"at most {longest}")
    assert queue.count_tasks() == 1


# -- enqueue_many ---------------------------------------------------------------------------------


def test_enqueue_many_with_one_bad_item_writes_none(queue: TaskQueueService) -> None:
    items = [
        {"agent": "echo", "payload": 1},
        {"agent": "echo", "payload": 2, "priority": 9},
        {"agent": "echo", "payload": 3},
    ]
    refused(lambda: queue.enqueue_many(items), "items[1].priority", "integer from 1 to 5")
    assert queue.count_tasks() == 0


def test_enqueue_many_with_an_unknown_agent_writes_none(queue: TaskQueueService) -> None:
    items = [{"agent": "echo"}, {"agent": "echo"}, {"agent": "ghost"}]
    refused(lambda: queue.enqueue_many(items), "items[2].agent", "ghost")
    assert queue.count_tasks() == 0


def test_enqueue_many_with_a_missing_dependency_writes_none(queue: TaskQueueService) -> None:
    items = [{"agent": "echo"}, {"agent": "echo", "depends_on": [777]}]
    refused(lambda: queue.enqueue_many(items), "items[1].depends_on", "777")
    assert queue.count_tasks() == 0


def test_enqueue_many_of_one_item_names_the_item_for_database_checks(queue: TaskQueueService) -> None:
    refused(lambda: queue.enqueue_many([{"agent": "ghost"}]), "items[0].agent", "ghost")


def test_enqueue_many_of_one_item_names_the_item_for_argument_checks(queue: TaskQueueService) -> None:
    refused(lambda: queue.enqueue_many([{"agent": "echo", "priority": 0}]), "items[0].priority")


def test_enqueue_many_with_an_unknown_key_writes_none(queue: TaskQueueService) -> None:
    items = [{"agent": "echo"}, {"agent": "echo", "priorty": 5}]
    refused(lambda: queue.enqueue_many(items), "items[1].priorty", "not an enqueue argument")
    assert queue.count_tasks() == 0


def test_enqueue_many_item_must_be_a_mapping_with_an_agent(queue: TaskQueueService) -> None:
    refused(lambda: queue.enqueue_many([{"agent": "echo"}, ["echo"]]), "items[1]", "mapping")
    refused(lambda: queue.enqueue_many([{"payload": 1}]), "items[0].agent", "required")
    assert queue.count_tasks() == 0


def test_enqueue_many_of_nothing_writes_nothing(queue: TaskQueueService) -> None:
    assert queue.enqueue_many([]) == []
    assert queue.count_tasks() == 0


def test_enqueue_many_writes_every_good_item_in_order(queue: TaskQueueService) -> None:
    tasks = queue.enqueue_many([{"agent": "echo", "payload": n, "priority": 1 + n % 5} for n in range(5)])
    assert [t.payload for t in tasks] == [0, 1, 2, 3, 4]
    assert [t.priority for t in tasks] == [1, 2, 3, 4, 5]
    assert [t.id for t in tasks] == sorted(t.id for t in tasks)
    assert tasks == [queue.get(t.id) for t in tasks]  # what enqueue_many returns is what was stored
    assert queue.count_tasks() == 5


def test_enqueue_returns_the_stored_task(queue: TaskQueueService) -> None:
    task = queue.enqueue(
        "echo", {"text": "é", "n": [1, 2]}, priority=4, lock_key="k", unique_key="u",
        task_type="build", created_by="tester", timeout_s=9,
        scheduled_for=datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert task == queue.get(task.id)
    assert (task.payload, task.priority, task.lock_key, task.unique_key) == ({"text": "é", "n": [1, 2]}, 4, "k", "u")
    assert (task.task_type, task.created_by, task.timeout_s) == ("build", "tester", 9.0)


# -- agents ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "-leading-dash", "has space", "a" * 101, "ünïcode", 5, None])
def test_bad_agent_name_is_refused(service: TaskQueueService, name: Any) -> None:
    refused(lambda: service.add_agent(name, "echo"), "name", "letters, digits")
    assert service.list_agents() == []


def test_good_agent_names_are_accepted(service: TaskQueueService) -> None:
    for name in ("a", "Agent_1", "claude.code-2", "x" * 100):
        service.add_agent(name, "echo")
    assert len(service.list_agents()) == 4


def test_duplicate_agent_name_is_refused(service: TaskQueueService) -> None:
    first = service.add_agent("echo", "echo", {"a": 1})
    refused(lambda: service.add_agent("echo", "shell"), "name", "already exists")
    assert service.list_agents() == [first]


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_bad_concurrency_is_refused(service: TaskQueueService, value: Any) -> None:
    refused(lambda: service.add_agent("echo", "echo", concurrency=value), "concurrency", "1 or more")
    assert service.list_agents() == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": ""}, "kind"),
        ({"config": ["not", "a", "dict"]}, "config"),
        ({"config": {"x": object()}}, "config"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"max_retries": -1}, "max_retries"),
        ({"retry_base_s": -1}, "retry_base_s"),
    ],
)
def test_bad_agent_settings_are_refused(service: TaskQueueService, kwargs: dict[str, Any], field: str) -> None:
    settings = {"kind": "echo", **kwargs}
    refused(lambda: service.add_agent("echo", **settings), field)
    assert service.list_agents() == []


def test_add_and_get_agent(service: TaskQueueService) -> None:
    added = service.add_agent(
        "builder", "shell", {"cmd": "make"}, concurrency=2, timeout_s=30, max_retries=1, retry_base_s=5
    )
    got = service.get_agent("builder")
    assert got == added
    assert (got.kind, got.config, got.concurrency, got.timeout_s, got.max_retries, got.retry_base_s) == (
        "shell", {"cmd": "make"}, 2, 30.0, 1, 5.0,
    )
    assert got.retry_cap_s is None and got.paused is False


def test_get_unknown_agent_is_not_found(service: TaskQueueService) -> None:
    with pytest.raises(NotFoundError, match="ghost"):
        service.get_agent("ghost")
    with pytest.raises(LookupError):
        service.get_agent("ghost")


def test_update_agent_changes_settings(service: TaskQueueService) -> None:
    service.add_agent("echo", "echo", {"a": 1})
    updated = service.update_agent("echo", concurrency=3, config={"b": 2}, max_retries=0, paused=True)
    assert updated == service.get_agent("echo")
    assert (updated.concurrency, updated.config, updated.max_retries, updated.paused) == (3, {"b": 2}, 0, True)
    assert updated.kind == "echo"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"timeout_s": -1}, "timeout_s"),
        ({"kind": "  "}, "kind"),
        ({"created_at": 0}, "created_at"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_update_agent_validates(service: TaskQueueService, changes: dict[str, Any], field: str) -> None:
    before = service.add_agent("echo", "echo")
    refused(lambda: service.update_agent("echo", **changes), field)
    assert service.get_agent("echo") == before


def test_update_unknown_agent_is_not_found(service: TaskQueueService) -> None:
    with pytest.raises(NotFoundError):
        service.update_agent("ghost", concurrency=2)


def test_agent_validator_hook_sees_kind_and_config(db_url: str) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def validate(kind: str, config: dict[str, Any]) -> None:
        seen.append((kind, config))
        if "cmd" not in config:
            raise TaskValidationError("config", "needs a 'cmd'")

    with TaskQueueService.open(db_url, validate_agent=validate) as service:
        service.add_agent("sh", "shell", {"cmd": "ls"})
        refused(lambda: service.update_agent("sh", config={}), "config", "cmd")
        service.update_agent("sh", kind="bash")
        assert seen == [("shell", {"cmd": "ls"}), ("shell", {}), ("bash", {"cmd": "ls"})]
        assert service.get_agent("sh").config == {"cmd": "ls"}


def test_remove_agent_refuses_while_it_has_unfinished_tasks(queue: TaskQueueService) -> None:
    task = queue.enqueue("echo")
    with pytest.raises(TaskStateError, match="unfinished"):
        queue.remove_agent("echo")
    assert queue.get_agent("echo").name == "echo"
    assert queue.get(task.id).status is TaskStatus.PENDING


def test_remove_agent_with_cancel_tasks_cancels_them(queue: TaskQueueService) -> None:
    pending = queue.enqueue("echo")
    later = queue.enqueue("echo", depends_on=[pending.id])
    done = queue.enqueue("echo")
    claimed = queue.dequeue("w1")
    assert claimed is not None and claimed.id == pending.id
    queue.fail(pending.id, claimed.token, "boom")
    second = queue.dequeue("w1")
    assert second is not None and second.id == done.id
    queue.complete(done.id, second.token)

    queue.remove_agent("echo", cancel_tasks=True)

    with pytest.raises(NotFoundError):
        queue.get_agent("echo")
    for task_id in (pending.id, later.id):
        assert queue.get(task_id).status is TaskStatus.CANCELLED
    assert queue.get(done.id).status is TaskStatus.COMPLETED  # history keeps the agent's name
    assert queue.get(done.id).agent == "echo"


def test_remove_agent_refuses_while_a_task_runs(queue: TaskQueueService) -> None:
    task = queue.enqueue("echo")
    queue.dequeue("w1")
    with pytest.raises(TaskStateError, match="running"):
        queue.remove_agent("echo", cancel_tasks=True)
    assert queue.get(task.id).status is TaskStatus.RUNNING
    assert queue.get_agent("echo").name == "echo"


def test_remove_agent_without_tasks_and_unknown_agent(service: TaskQueueService) -> None:
    service.add_agent("echo", "echo")
    service.remove_agent("echo")
    assert service.list_agents() == []
    with pytest.raises(NotFoundError):
        service.remove_agent("echo")


# -- the bad input of issue 14, through the Python API ----------------------------------------------


def _nested(levels: int) -> list[Any]:
    outer: list[Any] = []
    inner = outer
    for _ in range(levels):
        inner.append([])
        inner = inner[0]
    return outer


ISSUE_14_PYTHON: list[tuple[str, Any, str]] = [
    ("payload-nested-10000", lambda q: q.enqueue("echo", _nested(10_000)), "payload"),
    ("payload-lone-surrogate", lambda q: q.enqueue("echo", {"text": "\ud800"}), "payload"),
    ("max-retries-10e20", lambda q: q.enqueue("echo", max_retries=10**20), "max_retries"),
    ("retry-10e30", lambda q: q.retry(10**30), "task_id"),
    ("cancel-10e30", lambda q: q.cancel(10**30), "task_id"),
    ("delete-10e30", lambda q: q.delete_tasks([10**30]), "ids"),
    ("at-9999-minus-12", lambda q: q.enqueue("echo", scheduled_for="9999-12-31T23:00:00-12:00"), "scheduled_for"),
    ("at-year-1-plus-5", lambda q: q.enqueue("echo", scheduled_for="0001-01-01T00:30:00+05:00"), "scheduled_for"),
    ("cron-30-february", lambda q: q.add_schedule("feb", "0 0 30 2 *", "echo"), "cron"),
    ("cron-six-fields", lambda q: q.add_schedule("six", "* * * * * *", "echo"), "cron"),
    ("cron-seven-fields", lambda q: q.add_schedule("seven", "* * * * * * *", "echo"), "cron"),
    ("agent-name-newline", lambda q: q.add_agent("abc\n", "echo"), "name"),
    ("lock-key-newline", lambda q: q.enqueue("echo", lock_key="repo\nother"), "lock_key"),
    ("lock-key-nul", lambda q: q.enqueue("echo", lock_key="repo\x00"), "lock_key"),
    ("unique-key-nul", lambda q: q.enqueue("echo", unique_key="u\x00"), "unique_key"),
    ("lock-capacity-key-nul", lambda q: q.set_lock_capacity("k\x00", 2), "key"),
    ("retry-base-1e308", lambda q: q.enqueue("echo", retry_base_s=1e308), "retry_base_s"),
    ("agent-retry-base-1e308", lambda q: q.add_agent("slow", "echo", retry_base_s=1e308), "retry_base_s"),
    ("agent-kind-bogus", lambda q: q.add_agent("bogus", "bogus"), "kind"),
    ("agent-argv-a-string", lambda q: q.add_agent("sh", "command", {"argv": "echo hi"}), "config.argv"),
]


@pytest.mark.parametrize(("call", "field"), [c[1:] for c in ISSUE_14_PYTHON], ids=[c[0] for c in ISSUE_14_PYTHON])
def test_issue_14_bad_input_through_the_python_api_names_the_field_and_writes_nothing(
    db_url: str, call: Any, field: str
) -> None:
    """TaskQueueService.open() with no validator given checks agents as the CLI does."""
    with TaskQueueService.open(db_url) as queue:
        queue.add_agent("echo", "echo")
        done = queue.enqueue("echo")
        refused(lambda: call(queue), field)
        assert [t.id for t in queue.list_tasks()] == [done.id]
        assert [a.name for a in queue.list_agents()] == ["echo"]
        assert queue.list_schedules() == [] and queue.locks() == []
