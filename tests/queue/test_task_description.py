"""One description of a new task (TASK_FIELDS) drives enqueue, enqueue_many and validation; the
keyset reader pages in any order."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.queue import SORT_COLUMNS, TASK_FIELDS, TaskQueueService, TaskValidationError, repo_lock_key
from desktop.queue.new_task import REQUIRED


def test_the_fields_say_their_type_default_and_help() -> None:
    names = [f.name for f in TASK_FIELDS]
    assert names[:2] == ["agent", "payload"] and len(names) == len(set(names))
    assert {"priority", "scheduled_for", "lock_key", "depends_on", "timeout_s", "notify_url"} <= set(names)
    for field in TASK_FIELDS:
        assert field.type in {"str", "int", "float", "json", "datetime", "url", "ids", "bool"}
        assert field.help and not field.help.endswith(".")
    assert next(f for f in TASK_FIELDS if f.name == "agent").default is REQUIRED
    assert next(f for f in TASK_FIELDS if f.name == "priority").default == 3


def test_every_field_is_accepted_by_enqueue_and_enqueue_many(queue: TaskQueueService, tmp_path: Path) -> None:
    dep = queue.enqueue("echo")
    queue.add_repo("app", source=str(tmp_path), local_path=str(tmp_path))
    parent = queue.enqueue("echo", repo="app")
    values = {
        "payload": {"x": 1}, "priority": 5, "scheduled_for": "2030-01-01T00:00:00+00:00", "max_retries": 2,
        "lock_key": "k", "unique_key": "u", "depends_on": [dep.id], "task_type": "t", "timeout_s": 9.0,
        "retry_base_s": 1.0, "retry_cap_s": 2.0, "created_by": "me", "notify_url": "http://127.0.0.1:9/x",
        "backlog": True,
    }
    on_repo = {"repo": str(tmp_path), "follow_up_of": parent.id}  # a repository's tasks take its lock key
    assert set(values) | set(on_repo) | {"agent"} == {f.name for f in TASK_FIELDS}, "a new field needs a value here"
    one = queue.enqueue("echo", **values)
    [many] = queue.enqueue_many([{"agent": "echo", **values, "unique_key": "v"}])
    for task in (one, many):
        assert (task.payload, task.priority, task.max_retries, task.lock_key, task.task_type) == ({"x": 1}, 5, 2, "k", "t")
        assert (task.timeout_s, task.retry_base_s, task.retry_cap_s, task.created_by) == (9.0, 1.0, 2.0, "me")
        assert queue.dependencies(task.id) == [dep.id] and task.status.value == "backlogged"
    follow = queue.enqueue("echo", **{**values, "lock_key": None, "unique_key": "w", **on_repo})
    [follow_many] = queue.enqueue_many([{"agent": "echo", **values, "lock_key": None, "unique_key": "x", **on_repo}])
    for task in (follow, follow_many):
        assert (task.repo, task.follow_up_of, task.lock_key) == ("app", parent.id, repo_lock_key(tmp_path))
        assert sorted(queue.dependencies(task.id)) == [dep.id, parent.id]


def test_unknown_and_missing_fields_are_refused_by_name(queue: TaskQueueService) -> None:
    with pytest.raises(TaskValidationError) as caught:
        queue.enqueue("echo", colour="red")
    assert caught.value.field == "colour" and "not an enqueue argument" in caught.value.rule
    with pytest.raises(TaskValidationError) as caught:
        queue.enqueue_many([{"agent": "echo"}, {"payload": 1}])
    assert caught.value.field == "items[1].agent" and caught.value.rule == "is required"
    assert queue.count_tasks() == 0


@pytest.mark.parametrize(("sort", "descending"), [("priority", False), ("priority", True), ("created_at", True)])
def test_keyset_pages_cover_every_task_once_in_order(
    queue: TaskQueueService, sort: str, descending: bool
) -> None:
    for n in range(23):
        queue.enqueue("echo", {"n": n}, priority=n % 5 + 1, task_type="even" if n % 2 == 0 else "odd")
    seen, after, pages = [], None, 0
    while True:
        page = queue.page(sort=sort, descending=descending, after=after, limit=5)
        seen.extend(page.tasks)
        pages += 1
        after = page.last_key
        if page.complete:
            break
    assert pages == 5 and len(seen) == 23 and len({t.id for t in seen}) == 23
    keys = [(getattr(t, sort) if sort != "created_at" else t.created_at.timestamp(), t.id) for t in seen]
    assert keys == sorted(keys, reverse=descending)
    assert sort in SORT_COLUMNS


def test_a_page_is_filtered_like_list_tasks_and_an_unknown_sort_is_refused(queue: TaskQueueService) -> None:
    tasks = [queue.enqueue("echo", {"n": n}) for n in range(4)]
    queue.cancel(tasks[1].id)
    page = queue.page("cancelled", sort="id", descending=False)
    assert [t.id for t in page.tasks] == [tasks[1].id] and page.complete
    assert queue.get_many([tasks[0].id, 10**12]) == {tasks[0].id: queue.get(tasks[0].id)}
    with pytest.raises(TaskValidationError) as caught:
        queue.page(sort="payload")
    assert caught.value.field == "sort"
