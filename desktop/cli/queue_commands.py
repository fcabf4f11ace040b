"""The queue operations' commands (a mixin of Cli): run now, priority, move, backlog and release,
retry by id, by filter or with an edited payload, and the worker roster."""

from __future__ import annotations

from desktop import formatting
from desktop.cli.base import CliBase
from desktop.errors import TaskValidationError
from desktop.queue import Worker


class QueueCommands(CliBase):
    """run, priority, move, backlog, release, retry and workers; they use Cli's service and output."""

    def cmd_run(self) -> int:
        task = self.service.run_now(self.args.id)
        self.emit(task, lambda: f"task {task.id} runs next (pending, priority {task.priority}, at the top)")
        return 0

    def cmd_priority(self) -> int:
        task = self.service.set_priority(self.args.id, self.args.priority)
        self.emit(task, lambda: f"task {task.id} now has priority {task.priority} ({task.status.value})")
        return 0

    def cmd_move(self) -> int:
        task = self.service.move(self.args.id, top=self.args.top)
        where = "first" if self.args.top else "last"
        self.emit(task, lambda: f"task {task.id} is {where} among the ready tasks of priority {task.priority}")
        return 0

    def cmd_backlog(self) -> int:
        return self._each(self.service.backlog, lambda t: f"task {t.id} is backlogged: it waits until released")

    def cmd_release(self) -> int:
        return self._each(self.service.release_backlogged, lambda t: f"task {t.id} is {t.status.value} again")

    def cmd_retry(self) -> int:
        a = self.args
        if a.payload is not None:
            if len(a.ids) != 1 or a.status or a.agent:
                raise TaskValidationError("payload", "retries one task: give exactly one ID with --payload")
            task = self.service.retry(a.ids[0], payload=a.payload)
            self.emit([task], lambda: f"task {task.id} is {task.status.value} again, with the new payload")
            return 0
        if a.ids:
            if a.status or a.agent:
                raise TaskValidationError("status", "give task ids, or --status / --agent to match tasks, not both")
            return self._each(self.service.retry, lambda t: f"task {t.id} is {t.status.value} again")
        if not a.status and not a.agent:
            raise TaskValidationError("ids", "name the tasks to retry, or match them with --status and/or --agent")
        report = self.service.retry_matching(a.status or ["failed"], a.agent)
        for task_id, why in report.refused.items():
            self.complain(f"task {task_id} was not retried: {why}")
        done = report.retried
        self.emit(done, lambda: (
            f"retried {len(done)} task{'s' if len(done) != 1 else ''}"
            + (f" ({formatting.id_ranges([t.id for t in done])})" if done else "")
        ))
        return 1 if report.refused else 0

    def cmd_workers(self) -> int:
        workers = self.service.workers()
        self.emit(workers, lambda: workers_table(workers) if workers else (
            "no workers seen in the last day; start one with: agentq worker"
        ))
        return 0


def workers_table(workers: list[Worker]) -> str:
    return formatting.table(
        ("WORKER", "STATE", "HOST", "PID", "STARTED", "LAST SEEN", "CONCURRENCY", "RUNNING", "COMPLETED", "FAILED"),
        (
            (w.id, w.state, w.host, w.pid, formatting.when(w.started_at), f"{formatting.age(w.last_seen_at)} ago",
             w.concurrency, w.running, w.completed, w.failed)
            for w in workers
        ),
    )


def processing_text(workers: list[Worker], paused: bool) -> str:
    """Whether anything is processing: a live worker exists, and the queue is not paused."""
    live = [w for w in workers if w.state == "live"]
    if not live:
        return "Processing: no live worker, so nothing runs (start one with: agentq worker)"
    running = sum(w.running for w in live)
    text = f"Processing: {len(live)} live worker{'s' if len(live) != 1 else ''}, {running} task(s) running now"
    return text + ("; the queue is paused, so they claim nothing new (agentq resume)" if paused else "")
