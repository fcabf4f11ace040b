"""The `agentq` command line: everything the window does, headless.

`agentq` alone opens the window. Errors are one line on stderr with a non-zero exit code:
2 for input that breaks a rule, 1 for anything else.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TextIO

from desktop import __version__, formatting
from desktop.config import load_settings
from desktop.errors import AgentQueueError, TaskValidationError
from desktop.queue import TaskQueueService, repo_lock_key

log = logging.getLogger(__name__)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def duration(text: str) -> float:
    """'90', '90s', '15m', '12h', '30d', '2w' as seconds."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 15m, 12h or 30d")
    return float(match[1]) * _UNITS[match[2]]


def json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc})") from exc


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (with a pointer to --help), like every other agentq error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="agentq", description="Agent Queue: a durable queue of work for local agents.")
    parser.add_argument("--version", action="version", version=f"agentq {__version__}")
    parser.add_argument("--db", metavar="URL", help="database URL (default: AGENTQ_DATABASE_URL or the user data folder)")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    worker = sub.add_parser("worker", help="run tasks until stopped (SIGTERM/SIGINT stop gracefully)")
    worker.add_argument("--concurrency", type=int, help="tasks run at once (default: the profile's)")
    worker.add_argument("--agents", help="only these agents, comma-separated")
    worker.add_argument("--worker-id", help="name shown in the action log (default: host:pid:random)")
    worker.add_argument("--poll-interval", type=float, help="seconds between polls for work from other processes")
    worker.add_argument("--burst", action="store_true", help="exit once nothing is left to run")
    worker.add_argument("--grace", type=float, help="seconds running tasks get to finish on shutdown")

    enqueue = sub.add_parser("enqueue", help="add a task, or many from a JSON Lines file or stdin")
    enqueue.add_argument("agent", nargs="?", help="agent name (omit with --file)")
    enqueue.add_argument("--payload", type=json_value, default=None, help="JSON payload")
    enqueue.add_argument("--priority", type=int, default=3, help="1 (low) to 5 (runs first); default 3")
    enqueue.add_argument("--at", dest="scheduled_for", help="run at this ISO 8601 time (with offset)")
    enqueue.add_argument("--in", dest="delay", type=duration, help="run after this delay, e.g. 10m")
    enqueue.add_argument("--lock-key", help="at most one running task per lock key")
    enqueue.add_argument("--repo", help="lock on this repository (URL or path): one task per repo")
    enqueue.add_argument("--unique-key", help="no second unfinished task with this key")
    enqueue.add_argument("--depends-on", type=int, action="append", default=[], metavar="ID")
    enqueue.add_argument("--max-retries", type=int)
    enqueue.add_argument("--timeout", dest="timeout_s", type=duration)
    enqueue.add_argument("--type", dest="task_type")
    enqueue.add_argument("--notify-url", help="webhook told when the task completes or fails for good")
    enqueue.add_argument("--file", help="JSON Lines of enqueue arguments ('-' for stdin); all or nothing")
    enqueue.add_argument("--json", action="store_true")

    listing = sub.add_parser("list", help="list tasks, newest first")
    listing.add_argument("--status", action="append", help="repeat for several")
    listing.add_argument("--agent")
    listing.add_argument("--search")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")

    show = sub.add_parser("show", help="a task with its payload, result and every attempt")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")

    for name, text in (("retry", "run failed, cancelled or retrying tasks again now"), ("cancel", "cancel tasks")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("ids", type=int, nargs="+", metavar="ID")
        cmd.add_argument("--json", action="store_true")

    for name, text in (("pause", "stop new claims (running tasks finish)"), ("resume", "resume claiming")):
        cmd = sub.add_parser(name, help=f"{text}: the whole queue, or one agent")
        cmd.add_argument("--agent")

    stats = sub.add_parser("stats", help="counts, rates and timings")
    stats.add_argument("--json", action="store_true")

    agents = sub.add_parser("agents", help="list, add, update, remove, pause or resume agents")
    agents.add_argument("--json", action="store_true")
    agent_sub = agents.add_subparsers(dest="action", metavar="ACTION")
    agent_sub.add_parser("list")
    for name in ("add", "update"):
        cmd = agent_sub.add_parser(name)
        cmd.add_argument("name")
        if name == "add":
            cmd.add_argument("kind", help="command, http, python, echo, sleep, fail, or a plugin's")
        else:
            cmd.add_argument("--kind")
        cmd.add_argument("--config", type=json_value, help="JSON object")
        cmd.add_argument("--concurrency", type=int)
        cmd.add_argument("--timeout", dest="timeout_s", type=duration)
        cmd.add_argument("--max-retries", type=int)
        cmd.add_argument("--retry-base", dest="retry_base_s", type=duration)
        cmd.add_argument("--retry-cap", dest="retry_cap_s", type=duration)
        cmd.add_argument("--notify-url")
    remove = agent_sub.add_parser("remove")
    remove.add_argument("name")
    remove.add_argument("--cancel-tasks", action="store_true", help="cancel its unfinished tasks first")
    for name in ("pause", "resume"):
        agent_sub.add_parser(name).add_argument("name")

    schedules = sub.add_parser("schedules", help="recurring tasks (cron)")
    schedules.add_argument("--json", action="store_true")
    sched_sub = schedules.add_subparsers(dest="action", metavar="ACTION")
    sched_sub.add_parser("list")
    add = sched_sub.add_parser("add")
    add.add_argument("name")
    add.add_argument("cron", help="five fields, e.g. '*/15 * * * *'")
    add.add_argument("agent")
    add.add_argument("--payload", type=json_value)
    add.add_argument("--tz", default="UTC", help="time zone, e.g. Europe/Paris (default UTC)")
    add.add_argument("--priority", type=int, default=3)
    add.add_argument("--lock-key")
    for name in ("remove", "enable", "disable"):
        sched_sub.add_parser(name).add_argument("name")

    locks = sub.add_parser("locks", help="lock keys held now, with task and age")
    locks.add_argument("--json", action="store_true")

    cleanup = sub.add_parser("cleanup", help="delete finished tasks older than a retention period")
    cleanup.add_argument("--older-than", type=duration, required=True, help="e.g. 30d")

    sub.add_parser("metrics", help="counters and gauges in the Prometheus text format")
    desktop_entry = sub.add_parser("install-desktop-entry", help="add Agent Queue to the applications menu")
    desktop_entry.add_argument("--uninstall", action="store_true")
    return parser


class Cli:
    """Runs one parsed command against the queue."""

    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.args = args
        self.out = out
        self._service: TaskQueueService | None = None

    @property
    def service(self) -> TaskQueueService:
        if self._service is None:
            from desktop.bootstrap import open_queue

            self._service = open_queue(self.args.db)
        return self._service

    def close(self) -> None:
        if self._service is not None:
            self._service.close()

    def print(self, text: str) -> None:
        print(text, file=self.out)

    def emit(self, value: Any, text: Callable[[], str]) -> None:
        self.print(formatting.dumps(value) if getattr(self.args, "json", False) else text())

    # -- commands ---------------------------------------------------------------------------

    def cmd_enqueue(self) -> int:
        a = self.args
        if a.file:
            if a.file == "-":
                items = list(_json_lines(sys.stdin))
            else:
                with Path(a.file).open(encoding="utf-8") as lines:
                    items = list(_json_lines(lines))
            tasks = self.service.enqueue_many(items)
        else:
            if not a.agent:
                raise TaskValidationError("agent", "name an agent, or give --file")
            when = a.scheduled_for
            if a.delay is not None:
                when = datetime.now(UTC) + timedelta(seconds=a.delay)
            tasks = [
                self.service.enqueue(
                    a.agent, a.payload, priority=a.priority, scheduled_for=when,
                    lock_key=repo_lock_key(a.repo) if a.repo else a.lock_key, unique_key=a.unique_key,
                    depends_on=a.depends_on, max_retries=a.max_retries, timeout_s=a.timeout_s,
                    task_type=a.task_type, notify_url=a.notify_url, created_by="cli",
                )
            ]
        self.emit(tasks, lambda: "\n".join(f"enqueued task {t.id} ({t.status.value})" for t in tasks))
        return 0

    def cmd_list(self) -> int:
        a = self.args
        tasks = self.service.list_tasks(status=a.status, agent=a.agent, search=a.search, limit=a.limit)
        self.emit(tasks, lambda: formatting.task_table(tasks) if tasks else "no tasks")
        return 0

    def cmd_show(self) -> int:
        task = self.service.get(self.args.id)
        attempts = self.service.attempts(task.id)
        deps = self.service.dependencies(task.id)
        value = {"task": task, "attempts": attempts, "depends_on": deps}
        self.emit(value, lambda: formatting.task_details(task, attempts, deps))
        return 0

    def cmd_retry(self) -> int:
        tasks = [self.service.retry(task_id) for task_id in self.args.ids]
        self.emit(tasks, lambda: "\n".join(f"task {t.id} is {t.status.value} again" for t in tasks))
        return 0

    def cmd_cancel(self) -> int:
        tasks = self.service.cancel_many(self.args.ids)
        skipped = sorted(set(self.args.ids) - {t.id for t in tasks})

        def text() -> str:
            lines = [
                f"task {t.id}: {'cancel requested (it is running)' if t.cancel_requested else 'cancelled'}"
                for t in tasks
            ]
            lines += [f"task {i}: already finished, nothing to cancel" for i in skipped]
            return "\n".join(lines)

        self.emit(tasks, text)
        return 0 if not skipped else 1

    def cmd_pause(self) -> int:
        self.service.pause(self.args.agent)
        self.print(f"paused {'agent ' + self.args.agent if self.args.agent else 'the queue'}")
        return 0

    def cmd_resume(self) -> int:
        self.service.resume(self.args.agent)
        self.print(f"resumed {'agent ' + self.args.agent if self.args.agent else 'the queue'}")
        return 0

    def cmd_stats(self) -> int:
        stats = self.service.stats()
        self.emit(stats, lambda: formatting.stats_text(stats))
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
                    (g.name, g.kind, "paused" if g.paused else "active", g.concurrency,
                     stats.get(g.name, {}).get("pending", 0), stats.get(g.name, {}).get("running", 0),
                     stats.get(g.name, {}).get("failed", 0))
                    for g in agents
                ),
            ) if agents else "no agents; add one with: agentq agents add NAME KIND --config '{...}'")
            return 0
        if action in ("pause", "resume"):
            getattr(svc, action)(a.name)
            self.print(f"{action}d agent {a.name}")
            return 0
        if action == "remove":
            svc.remove_agent(a.name, cancel_tasks=a.cancel_tasks)
            self.print(f"removed agent {a.name}")
            return 0
        fields = {
            k: getattr(a, k)
            for k in ("config", "concurrency", "timeout_s", "max_retries", "retry_base_s", "retry_cap_s", "notify_url")
            if getattr(a, k) is not None
        }
        if action == "add":
            agent = svc.add_agent(a.name, a.kind, **fields)
        else:
            if a.kind:
                fields["kind"] = a.kind
            agent = svc.update_agent(a.name, **fields)
        done = "added" if action == "add" else "updated"
        self.emit(agent, lambda: f"{done} agent {agent.name} ({agent.kind})")
        return 0

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
            self.print(f"removed schedule {a.name}")
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
        deleted = self.service.cleanup(self.args.older_than)
        self.print(f"deleted {deleted} finished tasks older than {timedelta(seconds=self.args.older_than)}")
        return 0

    def cmd_metrics(self) -> int:
        self.out.write(formatting.metrics(self.service))
        return 0

    def cmd_worker(self) -> int:
        from desktop.workers.headless import run_worker

        a = self.args
        settings = load_settings()
        return run_worker(
            self.service, settings, concurrency=a.concurrency, poll_interval_s=a.poll_interval,
            agents=[n.strip() for n in a.agents.split(",")] if a.agents else None,
            worker_id=a.worker_id, burst=a.burst, grace_s=a.grace,
        )

    def cmd_install_desktop_entry(self) -> int:
        from desktop.desktop_entry import install, uninstall

        if self.args.uninstall:
            self.print("\n".join(f"removed {p}" for p in uninstall()))
        else:
            self.print("\n".join(f"installed {p}" for p in install()))
        return 0


def _json_lines(lines: Iterable[str]) -> Iterable[dict[str, Any]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskValidationError(f"line {number}", f"is not valid JSON ({exc.msg})") from exc
        yield item


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from desktop.logs import setup_logging

    try:
        settings = load_settings()
        level = args.log_level or settings.log_level
        setup_logging(level, stderr=args.command == "worker")
    except (AgentQueueError, OSError) as exc:
        print(f"agentq: error: {exc}", file=sys.stderr)
        return 2
    if args.command is None:
        from desktop.ui.app import run_app

        return run_app(database=args.db)
    cli = Cli(args, out or sys.stdout)
    handler = getattr(cli, "cmd_" + args.command.replace("-", "_"))
    if hasattr(signal, "SIGPIPE"):  # `agentq list | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        return handler()
    except TaskValidationError as exc:
        print(f"agentq: error: {exc}", file=sys.stderr)
        return 2
    except AgentQueueError as exc:
        print(f"agentq: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"agentq: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback in the log
        log.exception("agentq %s failed", args.command)
        print(f"agentq: error: {type(exc).__name__}: {exc} (details in the log file)", file=sys.stderr)
        return 1
    finally:
        cli.close()
