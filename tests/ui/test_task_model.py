"""TaskTableModel passes Qt's model checks and applies live changes row by row."""

from __future__ import annotations

from desktop.queue import TaskQueueService, TaskStatus
from desktop.ui.jobs import Jobs
from desktop.ui.task_columns import HISTORY_COLUMNS
from desktop.ui.task_model import TaskTableModel
from desktop.ui.task_queries import SortOrder, TaskFilter


def _loaded_model(qtbot, queue: TaskQueueService, **kwargs) -> TaskTableModel:
    jobs = Jobs()
    model = TaskTableModel(queue, jobs, HISTORY_COLUMNS, page_size=10, **kwargs)
    with qtbot.waitSignal(model.page_loaded, timeout=5000):
        model.refresh()
    return model


def test_the_model_passes_qt_model_checks(qtbot, qtmodeltester, queue: TaskQueueService) -> None:
    queue.add_agent("a", "echo")
    queue.enqueue_many([{"agent": "a", "payload": {"n": i}} for i in range(25)])
    model = _loaded_model(qtbot, queue)
    assert model.rowCount() == 10 and model.canFetchMore()
    qtmodeltester.check(model, force_py=True)
    qtbot.waitUntil(lambda: not model.loading)  # the page the checker asked for, checked as it arrives
    assert model.rowCount() == 20
    model.jobs.close()


def test_live_changes_update_insert_and_remove_rows(qtbot, queue: TaskQueueService) -> None:
    queue.add_agent("a", "echo")
    tasks = queue.enqueue_many([{"agent": "a", "payload": {"n": i}} for i in range(5)])
    model = _loaded_model(qtbot, queue, flt=TaskFilter(("pending",)), order=SortOrder("id", False))
    assert [model.task_at(r).id for r in range(5)] == [t.id for t in tasks]
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))

    claimed = queue.dequeue("w")  # the first task starts: it leaves the "pending" filter
    assert claimed is not None
    model.apply_task(claimed.task)
    assert model.row_of(claimed.id) is None and model.rowCount() == 4

    extra = queue.enqueue("a", {"n": 99})  # a new pending task goes to the end of this id order
    model.apply_task(extra)
    assert model.task_at(model.rowCount() - 1).id == extra.id

    queue.cancel(tasks[2].id)
    with qtbot.waitSignal(model.rowsRemoved, timeout=5000):
        model.sync_head()  # the database says it is cancelled now
    assert model.row_of(tasks[2].id) is None
    model.update_progress(tasks[1].id, 40, "forty")
    assert model.task_at(model.row_of(tasks[1].id)).progress == 40
    assert not resets
    assert all(model.task_at(r).status is TaskStatus.PENDING for r in range(model.rowCount()))
    model.jobs.close()
