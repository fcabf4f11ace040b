"""The queue's commands: each `cmd_NAME` runs `agentq NAME` against the queue and returns the exit code."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from desktop import formatting, paths
from desktop.cli.api_commands import ApiCommands
from desktop.cli.coding_commands import CodingCommands, agent_state, coding_text, ledger_text
from desktop.cli.queue_commands import QueueCommands, processing_text
from desktop.config import load_settings
from desktop.errors import TaskStateError, TaskValidationError
from desktop.queue import Task
from desktop.queue.archive import Archive
from desktop.queue.types import UNFINISHED_STATUSES

log = logging.getLogger(__name__)


class Cli(ApiCommands, CodingCommands, QueueCommands):
    """Runs one parsed command against the queue."""

    def cmd_enqueue(self) -> int:
        from desktop.api.tracking import InsertedTasks

        a = self.args
        tracker = InsertedTasks(self.service)
        if a.file:
            if a.file == "-":
                items = list(_json_lines(sys.stdin))
            else:
                with Path(a.file).open(encoding="utf-8") as lines:
                    items = list(_json_lines(lines))
            with tracker.track() as new:
                tasks = self.service.enqueue_many(items)
            self.emit(tasks, lambda: _batch_summary(tasks, new))
            return 0
        if not a.agent:
            raise TaskValidationError("agent", "name an agent, or give --file")
        if a.repo is not None and a.lock_key is not None:
            raise TaskValidationError("repo", "give --repo or --lock-key, not both (a repository's tasks take its lock key)")
        when = a.scheduled_for
        if a.delay is not None:
            when = datetime.now(UTC) + timedelta(seconds=a.delay)
        with tracker.track() as new:
            task = self.service.enqueue(
                a.agent, self.task_payload(), priority=a.priority, scheduled_for=when,
                lock_key=a.lock_key, repo=a.repo, follow_up_of=a.follow_up, unique_key=a.unique_key,
                depends_on=a.depends_on, max_retries=a.max_retries, timeout_s=a.timeout_s,
                task_type=a.task_type, notify_url=a.notify_url, backlog=a.backlog, created_by="cli",
            )
        if task.id in new:
            self.emit([task], lambda: f"enqueued task {task.id} ({task.status.value})")
        else:
            self.emit([task], lambda: (
                f"task {task.id} already has the unique key {task.unique_key!r} ({task.status.value}); "
                "nothing was enqueued"
            ))
        return 0

    def cmd_list(self) -> int:
        a = self.args
        tasks = self.service.list_tasks(status=a.status, agent=a.agent, search=a.search, limit=a.limit)
        waiting = self.service.wait_reasons(tasks)
        listed = [{**formatting.to_jsonable(t), "waiting": waiting.get(t.id)} for t in tasks]
        self.emit(listed, lambda: formatting.task_table(tasks, waiting, wide=a.wide) if tasks else "no tasks")
        return 0

    def cmd_show(self) -> int:
        from desktop.workspaces.review import coding_facts

        task = self.service.get(self.args.id)
        attempts = self.service.attempts(task.id)
        deps = self.service.dependencies(task.id)
        facts, waiting = coding_facts(self.service, task, attempts), self.waiting_reason(task)
        value = {"task": task, "attempts": attempts, "depends_on": deps, **facts, "waiting": waiting}
        self.emit(value, lambda: formatting.task_details(task, attempts, deps, waiting) + coding_text(facts))
        return 0

    def cmd_cancel(self) -> int:
        return self._each(
            self.service.cancel,
            lambda t: f"task {t.id}: {'cancel requested (it is running)' if t.cancel_requested else 'cancelled'}",
        )

    def cmd_pause(self) -> int:
        self.service.pause(self.args.agent)
        self.emit({"paused": True, "agent": self.args.agent},
                  lambda: f"paused {'agent ' + self.args.agent if self.args.agent else 'the queue'}")
        return 0

    def cmd_resume(self) -> int:
        self.service.resume(self.args.agent)
        self.emit({"paused": False, "agent": self.args.agent},
                  lambda: f"resumed {'agent ' + self.args.agent if self.args.agent else 'the queue'}")
        return 0

    def cmd_stats(self) -> int:
        stats, ledger, workers = self.service.stats(), self.service.ledger(), self.service.workers()
        live = sum(w.state == "live" for w in workers)
        value = {**formatting.to_jsonable(stats), "ledger": ledger, "processing": live > 0 and not stats.paused,
                 "live_workers": live}
        self.emit(value, lambda: "\n".join(
            (formatting.stats_text(stats), processing_text(workers, stats.paused))
        ) + ledger_text(ledger))
        return 0

    def cmd_agents(self) -> int:
        a, svc = self.args, self.service
        action = a.action or "list"
        if action == "list":
            agents = svc.list_agents()
            stats = svc.stats().by_agent
            self.emit(agents, lambda: formatting.table(
                ("NAME", "KIND", "STATE", "CONCURRENCY", "PENDING", "RUNNING", "FAILED"),
                (
                    (g.name, g.kind, agent_state(g), g.concurrency,
                     stats.get(g.name, {}).get("pending", 0), stats.get(g.name, {}).get("running", 0),
                     stats.get(g.name, {}).get("failed", 0))
                    for g in agents
                ),
            ) if agents else "no agents; add one with: agentq agents add NAME KIND --config '{...}'")
            return 0
        if action in ("pause", "resume"):
            getattr(svc, action)(a.name)
            self.emit({"agent": a.name, "paused": action == "pause"}, lambda: f"{action}d agent {a.name}")
            return 0
        if action == "show":
            return self.show_agent()
        if action == "remove":
            self._remove_agent(a.name, a.cancel_tasks)
            self.emit({"removed": a.name}, lambda: f"removed agent {a.name}")
            return 0
        fields = {
            k: getattr(a, k)
            for k in ("concurrency", "timeout_s", "max_retries", "retry_base_s", "retry_cap_s", "notify_url",
                      "daily_budget_usd", "escalate_priority", "max_pending")
            if getattr(a, k) is not None
        }
        if fields.get("max_pending") == 0:
            fields["max_pending"] = None  # 0: no limit
        config = self.preset_config(None if action == "add" else svc.get_agent(a.name).config)
        if config is not None:
            fields["config"] = config
        if action == "add":
            agent = svc.add_agent(a.name, a.kind, **fields)
        else:
            if a.kind:
                fields["kind"] = a.kind
            agent = svc.update_agent(a.name, **fields)
        if agent.kind == "command":
            from desktop.agents.injection import injection_warnings

            for warning in injection_warnings(agent.config):
                self.complain(warning, "warning")
        done = "added" if action == "add" else "updated"
        self.emit(agent, lambda: f"{done} agent {agent.name} ({agent.kind})")
        return 0

    def _remove_agent(self, name: str, cancel_tasks: bool) -> None:
        try:
            self.service.remove_agent(name, cancel_tasks=cancel_tasks)
        except TaskStateError as exc:
            count = self.service.count_tasks(status=[s.value for s in UNFINISHED_STATUSES], agent=name)
            if cancel_tasks or not count:
                raise
            raise TaskStateError(
                f"agent {name!r} has {count} unfinished task{'s' if count != 1 else ''}; cancel them first, "
                f"or run: agentq agents remove {name} --cancel-tasks"
            ) from exc

    def cmd_schedules(self) -> int:
        a, svc = self.args, self.service
        action = a.action or "list"
        if action == "list":
            items = svc.list_schedules()
            self.emit(items, lambda: formatting.table(
                ("NAME", "CRON", "TZ", "AGENT", "ENABLED", "NEXT", "LAST"),
                ((s.name, s.cron, s.timezone, s.agent, "yes" if s.enabled else "no", formatting.when(s.next_fire_at),
                  formatting.when(s.last_fired_at)) for s in items),
            ) if items else "no schedules")
            return 0
        if action == "remove":
            svc.remove_schedule(a.name)
            self.emit({"removed": a.name}, lambda: f"removed schedule {a.name}")
            return 0
        if action in ("enable", "disable"):
            schedule = svc.set_schedule_enabled(a.name, action == "enable")
        else:
            schedule = svc.add_schedule(
                a.name, a.cron, a.agent, a.payload, timezone=a.tz, priority=a.priority, lock_key=a.lock_key
            )
        self.emit(schedule, lambda: f"schedule {schedule.name}: next run {formatting.when(schedule.next_fire_at)}")
        return 0

    def cmd_locks(self) -> int:
        locks = self.service.locks()
        self.emit(locks, lambda: formatting.table(
            ("LOCK KEY", "TASK", "AGENT", "WORKER", "AGE"),
            ((lk.key, lk.task_id, lk.agent, lk.worker_id or "-", formatting.age(lk.since)) for lk in locks),
        ) if locks else "no locks held")
        return 0

    def cmd_cleanup(self) -> int:
        archive = Archive(paths.archive_dir()) if self.args.archive else None
        deleted = self.service.cleanup(self.args.older_than, archive=archive)
        done = f"archived (in {archive.folder}) and deleted" if archive else "deleted"
        self.emit({"deleted": deleted, "archived": archive is not None},
                  lambda: f"{done} {deleted} finished tasks older than {timedelta(seconds=self.args.older_than)}")
        return 0

    def cmd_archive(self) -> int:
        a, archive = self.args, Archive(paths.archive_dir())
        if a.action == "export":
            for record in archive.export(since=a.since, agent=a.agent):
                self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
            return 0
        files = archive.files()
        self.emit(files, lambda: formatting.table(
            ("FILE", "TASKS", "BYTES", "WRITTEN"),
            ((f.path.name, f.tasks, f"{f.size:,}", formatting.when(f.created)) for f in files),
        ) + f"\n(in {archive.folder})" if files else (
            f"the archive is empty ({archive.folder}); archive with: agentq cleanup --older-than 30d --archive, "
            'or the setting "archive": true'
        ))
        return 0

    def cmd_metrics(self) -> int:
        self.out.write(formatting.metrics(self.service))
        return 0

    def cmd_worker(self) -> int:
        from desktop.workers.headless import run_worker

        a = self.args
        if self.service.is_paused():
            if a.burst:
                self.complain("the queue is paused, so nothing was run (resume it with: agentq resume)")
                return 1
            log.warning("the queue is paused: waiting until it is resumed (agentq resume)")
        return run_worker(
            self.service, load_settings(), **self._pool_options(),
            agents=_names(a.agents, "agents"),
            task_types=_names(a.task_types, "task-types"), worker_id=a.worker_id, burst=a.burst, grace_s=a.grace,
        )

    def cmd_install_desktop_entry(self) -> int:
        from desktop.desktop_entry import install, uninstall

        if self.args.uninstall:
            self.print("\n".join(f"removed {p}" for p in uninstall()))
        else:
            self.print("\n".join(f"installed {p}" for p in install()))
        return 0


def _batch_summary(tasks: Sequence[Task], new: set[int]) -> str:
    added = sorted(new)
    existing = [t.id for t in tasks if t.id not in new]  # one per line whose unique key was taken
    if not tasks:
        return "nothing to enqueue: the input has no tasks"
    text = f"enqueued {len(added):,} task{'s' if len(added) != 1 else ''}"
    if added:
        text += f" (id{'s' if len(added) != 1 else ''} {formatting.id_ranges(added)})"
    if existing:
        text += f"; {len(existing):,} already existed with the same unique key ({formatting.id_ranges(sorted(set(existing)))})"
    return text


def _names(text: str | None, option: str) -> list[str] | None:
    """A comma-separated option as a list of names (None when not given)."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise TaskValidationError(option, "name at least one, separated by commas")
    return names


def _json_lines(lines: Iterable[str]) -> Iterable[dict[str, Any]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise TaskValidationError(f"line {number}", "is not valid JSON") from exc
        yield item
