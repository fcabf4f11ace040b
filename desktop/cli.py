"""The `agentq` command line: everything the window does, headless, and the HTTP API server.

`agentq` alone opens the window. Errors are one line on stderr with a non-zero exit code:
2 for input that breaks a rule (usage errors included), 1 for anything else. `--db`, `--json`,
`--create` and `--log-level` work before or after the command's name.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TextIO

from sqlalchemy.engine import make_url

from desktop import __version__, formatting
from desktop.api.binding import DEFAULT_HOST, DEFAULT_PORT
from desktop.config import load_settings
from desktop.errors import AgentQueueError, NotFoundError, TaskStateError, TaskValidationError
from desktop.queue import Task, TaskQueueService, TaskStatus, repo_lock_key

log = logging.getLogger(__name__)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_ID = 2**63 - 1  # SQLite's largest integer
NO_JSON = frozenset({"worker", "serve", "metrics", "install-desktop-entry"})
ENV_LOG_LEVEL = "LOG_LEVEL"  # read by the long-running commands, as their users expect
LONG_RUNNING = frozenset({"worker", "serve"})


# -- argument types -------------------------------------------------------------------------------


def duration(text: str) -> float:
    """'90', '90s', '15m', '12h', '30d', '2w' as seconds."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 15m, 12h or 30d")
    return float(match[1]) * _UNITS[match[2]]


def json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({type(exc).__name__}: {str(exc)[:100]})") from exc


def _whole(text: str, low: int, high: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{text} is out of range: {what}")
    return value


def task_id(text: str) -> int:
    return _whole(text, 1, MAX_ID, "a task id is a whole number from 1")


def positive_int(text: str) -> int:
    return _whole(text, 1, MAX_ID, "must be 1 or more")


def port_number(text: str) -> int:
    return _whole(text, 0, 65_535, "a port is 0 (any free port) to 65535")


def log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a log level: use DEBUG, INFO, WARNING or ERROR")
    return level


def hook_field(text: str) -> tuple[str, str]:
    key, sep, path = text.partition("=")
    if not sep or not key.strip() or not path.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=PATH, e.g. prompt=issue.title")
    return key.strip(), path.strip()


# -- the parser -----------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (with a pointer to --help), like every other agentq error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


_DB_HELP = "database URL or SQLite file path (default: AGENTQ_DATABASE_URL, the settings, or the user data folder)"
_CREATE_HELP = "create the folder of a --db file that does not exist yet (a mistyped path is refused without it)"
_LOG_HELP = "DEBUG, INFO, WARNING or ERROR (worker and serve also read LOG_LEVEL)"


def _common(*, json_output: bool) -> _Parser:
    """The options every command takes after its name too. SUPPRESS: one not given after the
    command keeps the value given before it."""
    common = _Parser(add_help=False)
    common.add_argument("--db", metavar="URL", default=argparse.SUPPRESS, help=_DB_HELP)
    common.add_argument("--create", action="store_true", default=argparse.SUPPRESS, help=_CREATE_HELP)
    common.add_argument("--log-level", type=log_level, default=argparse.SUPPRESS, metavar="LEVEL", help=_LOG_HELP)
    if json_output:
        common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="agentq", description="Agent Queue: a durable queue of work for local agents.")
    parser.add_argument("--version", action="version", version=f"agentq {__version__}")
    parser.add_argument("--db", metavar="URL", help=_DB_HELP)
    parser.add_argument("--create", action="store_true", help=_CREATE_HELP)
    parser.add_argument("--log-level", type=log_level, default=None, metavar="LEVEL", help=_LOG_HELP)
    parser.add_argument("--json", action="store_true", help="print JSON (the commands that have output)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    with_json, without_json = _common(json_output=True), _common(json_output=False)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        common = without_json if name in NO_JSON else with_json
        return sub.add_parser(name, help=text, description=text, parents=[common])

    worker = command("worker", "run tasks until stopped (SIGTERM/SIGINT stop gracefully)")
    _pool_options(worker)
    worker.add_argument("--agents", help="only these agents, comma-separated")
    worker.add_argument("--worker-id", help="name shown in the action log (default: host:pid:random)")
    worker.add_argument("--burst", action="store_true",
                        help="run what is there, then exit (exit 1 with a message if the queue is paused)")
    worker.add_argument("--grace", type=duration, help="time running tasks get to finish on shutdown, e.g. 30s")

    serve = command("serve", "run the HTTP API (and a worker pool) until SIGTERM/SIGINT")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST}, loopback)")
    serve.add_argument("--port", type=port_number, default=DEFAULT_PORT,
                       help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    serve.add_argument("--allow-remote", action="store_true",
                       help="allow a --host other machines can reach (the token still guards every endpoint)")
    serve.add_argument("--no-worker", action="store_true", help="serve the API only; run no tasks in this process")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="let web pages from this origin call the API (repeat for several; default none)")
    _pool_options(serve)

    token = command("token", "print the API's bearer token (made at first use)")
    token.add_argument("--rotate", action="store_true", help="replace it with a new one (the old one stops working)")

    enqueue = command("enqueue", "add a task, or many from a JSON Lines file or stdin")
    enqueue.add_argument("agent", nargs="?", help="agent name (omit with --file)")
    enqueue.add_argument("--payload", type=json_value, default=None, help="JSON payload")
    enqueue.add_argument("--priority", type=int, default=3, help="1 (low) to 5 (runs first); default 3")
    enqueue.add_argument("--at", dest="scheduled_for", help="run at this ISO 8601 time (with offset)")
    enqueue.add_argument("--in", dest="delay", type=duration, help="run after this delay, e.g. 10m")
    enqueue.add_argument("--lock-key", help="at most one running task per lock key")
    enqueue.add_argument("--repo", help="lock on this repository (URL or path): one task per repo")
    enqueue.add_argument("--unique-key", help="no second unfinished task with this key (the first is kept)")
    enqueue.add_argument("--depends-on", type=task_id, action="append", default=[], metavar="ID",
                         help="run only after task ID completed (repeat for several)")
    enqueue.add_argument("--max-retries", type=int, help="retries after the first attempt (default: the agent's)")
    enqueue.add_argument("--timeout", dest="timeout_s", type=duration, help="stop an attempt after this, e.g. 10m")
    enqueue.add_argument("--type", dest="task_type", help="a label of your own for the task")
    enqueue.add_argument("--notify-url", help="webhook told when the task completes or fails for good")
    enqueue.add_argument("--file", help="JSON Lines of enqueue arguments ('-' for stdin); all or nothing")

    listing = command("list", "list tasks, newest first")
    listing.add_argument("--status", action="append", choices=[s.value for s in TaskStatus],
                         help="only tasks in this status (repeat for several)")
    listing.add_argument("--agent", help="only this agent's tasks")
    listing.add_argument("--search", help="text in the payload, error, agent, type or lock key; or an id")
    listing.add_argument("--limit", type=positive_int, default=50, help="at most this many (default 50)")

    show = command("show", "a task with its payload, result and every attempt")
    show.add_argument("id", type=task_id, help="task id")

    for name, text in (("retry", "run failed, cancelled or retrying tasks again now"), ("cancel", "cancel tasks")):
        command(name, text).add_argument("ids", type=task_id, nargs="+", metavar="ID", help="task ids")

    for name, text in (("pause", "stop new claims (running tasks finish)"), ("resume", "resume claiming")):
        command(name, f"{text}: the whole queue, or one agent").add_argument("--agent", help="only this agent")

    command("stats", "counts, rates and timings")

    agents = command("agents", "list, add, update, remove, pause or resume agents")
    agent_sub = agents.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    agent_sub.add_parser("list", help="every agent with its task counts", parents=[with_json])
    for name in ("add", "update"):
        cmd = agent_sub.add_parser(name, help=f"{name} an agent", parents=[with_json])
        cmd.add_argument("name", help="agent name: letters, digits, '_', '.', '-'")
        if name == "add":
            cmd.add_argument("kind", help="command, http, python, echo, sleep, fail, or a plugin's")
        else:
            cmd.add_argument("--kind", help="command, http, python, echo, sleep, fail, or a plugin's")
        cmd.add_argument("--config", type=json_value, help="JSON object, e.g. '{\"argv\": [\"echo\", \"{msg}\"]}'")
        cmd.add_argument("--concurrency", type=int, help="its tasks run at once (default 1)")
        cmd.add_argument("--timeout", dest="timeout_s", type=duration, help="default timeout of its tasks, e.g. 30m")
        cmd.add_argument("--max-retries", type=int, help="default retries of its tasks")
        cmd.add_argument("--retry-base", dest="retry_base_s", type=duration, help="first backoff, doubled each retry")
        cmd.add_argument("--retry-cap", dest="retry_cap_s", type=duration, help="longest backoff")
        cmd.add_argument("--notify-url", help="webhook told when its tasks complete or fail for good")
    remove = agent_sub.add_parser("remove", help="delete an agent (its history stays)", parents=[with_json])
    remove.add_argument("name", help="agent name")
    remove.add_argument("--cancel-tasks", action="store_true", help="cancel its unfinished tasks first")
    for name in ("pause", "resume"):
        agent_sub.add_parser(name, help=f"{name} one agent", parents=[with_json]).add_argument(
            "name", help="agent name"
        )

    schedules = command("schedules", "recurring tasks (cron)")
    sched_sub = schedules.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    sched_sub.add_parser("list", help="every schedule with its next run", parents=[with_json])
    add = sched_sub.add_parser("add", help="add a schedule", parents=[with_json])
    add.add_argument("name", help="schedule name")
    add.add_argument("cron", help="five fields, e.g. '*/15 * * * *'")
    add.add_argument("agent", help="agent that runs the tasks")
    add.add_argument("--payload", type=json_value, help="JSON payload of each task")
    add.add_argument("--tz", default="UTC", help="time zone, e.g. Europe/Paris (default UTC)")
    add.add_argument("--priority", type=int, default=3, help="1 (low) to 5; default 3")
    add.add_argument("--lock-key", help="at most one running task per lock key")
    for name in ("remove", "enable", "disable"):
        sched_sub.add_parser(name, help=f"{name} a schedule", parents=[with_json]).add_argument(
            "name", help="schedule name"
        )

    hooks = command("hooks", "inbound webhooks of the HTTP API: POST /hooks/NAME becomes a task")
    hook_sub = hooks.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    hook_sub.add_parser("list", help="every hook (secrets are never shown)", parents=[with_json])
    hook_add = hook_sub.add_parser("add", help="add a hook", parents=[with_json])
    hook_add.add_argument("name", help="hook name, the last part of its URL")
    hook_add.add_argument("agent", help="agent that runs the tasks")
    hook_add.add_argument("--priority", type=int, default=3, help="1 (low) to 5; default 3")
    hook_add.add_argument("--field", type=hook_field, action="append", default=[], metavar="KEY=PATH",
                          help="payload KEY from a dotted PATH into the JSON body, e.g. prompt=issue.title")
    hook_add.add_argument("--payload", type=json_value, metavar="JSON", help="JSON object of constant payload keys")
    hook_add.add_argument("--repo-field", metavar="PATH",
                          help="lock on the repository at this PATH of the body (one task per repository at a time)")
    secret = hook_add.add_mutually_exclusive_group()
    secret.add_argument("--secret-env", metavar="VAR",
                        help="verify X-Hub-Signature-256 with the secret in this environment variable of the server")
    secret.add_argument("--generate-secret", action="store_true",
                        help="make a secret for X-Hub-Signature-256 (printed once) and keep it in the config folder")
    hook_sub.add_parser("remove", help="delete a hook", parents=[with_json]).add_argument("name", help="hook name")

    command("locks", "lock keys held now, with task and age")
    cleanup = command("cleanup", "delete finished tasks older than a retention period")
    cleanup.add_argument("--older-than", type=duration, required=True, help="e.g. 30d")
    command("metrics", "counters and gauges in the Prometheus text format")
    desktop_entry = command("install-desktop-entry", "add Agent Queue to the applications menu")
    desktop_entry.add_argument("--uninstall", action="store_true", help="remove it again")
    return parser


def _pool_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--concurrency", type=positive_int, metavar="N", help="tasks run at once (default: the profile's)")
    cmd.add_argument("--poll-interval", "--polling-interval", dest="poll_interval", type=duration, metavar="SECONDS",
                     help="time between polls for work from other processes, e.g. 0.5 or 2s")


# -- commands -------------------------------------------------------------------------------------


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
        if text:
            print(text, file=self.out)

    def emit(self, value: Any, text: Callable[[], str]) -> None:
        self.print(formatting.dumps(value) if self.args.json else text())

    @staticmethod
    def complain(message: str, kind: str = "error") -> None:
        print(f"agentq: {kind}: {message}", file=sys.stderr)

    def cmd_enqueue(self) -> int:
        from desktop.api.tracking import InsertedTasks

        a = self.args
        tracker = InsertedTasks(self.service)
        if a.file:
            items = list(_json_lines(sys.stdin if a.file == "-" else Path(a.file).open(encoding="utf-8")))
            with tracker.track() as new:
                tasks = self.service.enqueue_many(items)
            self.emit(tasks, lambda: _batch_summary(tasks, new))
            return 0
        if not a.agent:
            raise TaskValidationError("agent", "name an agent, or give --file")
        if a.repo is not None and a.lock_key is not None:
            raise TaskValidationError("repo", "give --repo or --lock-key, not both (--repo is a lock key)")
        when = a.scheduled_for
        if a.delay is not None:
            when = datetime.now(UTC) + timedelta(seconds=a.delay)
        with tracker.track() as new:
            task = self.service.enqueue(
                a.agent, a.payload, priority=a.priority, scheduled_for=when,
                lock_key=repo_lock_key(a.repo) if a.repo is not None else a.lock_key, unique_key=a.unique_key,
                depends_on=a.depends_on, max_retries=a.max_retries, timeout_s=a.timeout_s,
                task_type=a.task_type, notify_url=a.notify_url, created_by="cli",
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
        self.emit(tasks, lambda: formatting.task_table(tasks) if tasks else "no tasks")
        return 0

    def cmd_show(self) -> int:
        task = self.service.get(self.args.id)
        attempts = self.service.attempts(task.id)
        deps = self.service.dependencies(task.id)
        value = {"task": task, "attempts": attempts, "depends_on": deps}
        self.emit(value, lambda: formatting.task_details(task, attempts, deps))
        return 0

    def _each(self, action: Callable[[int], Task], describe: Callable[[Task], str]) -> int:
        """Apply `action` to every id given; refusals go to stderr, one line each, and exit 1."""
        done: list[Task] = []
        refused = 0
        for number in dict.fromkeys(self.args.ids):
            try:
                done.append(action(number))
            except (NotFoundError, TaskStateError) as exc:
                self.complain(str(exc))
                refused += 1
        self.emit(done, lambda: "\n".join(describe(t) for t in done))
        return 1 if refused else 0

    def cmd_retry(self) -> int:
        return self._each(self.service.retry, lambda t: f"task {t.id} is {t.status.value} again")

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
            self.emit({"agent": a.name, "paused": action == "pause"}, lambda: f"{action}d agent {a.name}")
            return 0
        if action == "remove":
            self._remove_agent(a.name, a.cancel_tasks)
            self.emit({"removed": a.name}, lambda: f"removed agent {a.name}")
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
            unfinished = ("pending", "blocked", "retrying", "running")
            count = self.service.count_tasks(status=unfinished, agent=name)
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

    def cmd_hooks(self) -> int:
        from desktop.api.credentials import HookSecrets
        from desktop.queue import hooks

        a, engine, stored = self.args, self.service.engine, HookSecrets()
        action = a.action or "list"
        if action == "list":
            items = hooks.list_hooks(engine)
            self.emit(items, lambda: formatting.table(
                ("NAME", "AGENT", "PRI", "FIELDS", "CONSTANTS", "LOCKS ON", "SIGNED WITH"),
                ((h.name, h.agent, h.priority, ", ".join(f"{k}={v}" for k, v in h.fields.items()) or "-",
                  ", ".join(h.payload) or "-", h.repo_path or "-", _secret_text(h.secret_source)) for h in items),
            ) if items else "no hooks; add one with: agentq hooks add NAME AGENT --field prompt=issue.title")
            return 0
        if action == "remove":
            hooks.remove_hook(engine, a.name)
            stored.remove(a.name)
            self.emit({"removed": a.name}, lambda: f"removed hook {a.name}")
            return 0
        source = f"env:{a.secret_env}" if a.secret_env else hooks.SECRET_FILE if a.generate_secret else None
        hook = hooks.add_hook(
            engine, a.name, a.agent, priority=a.priority, fields=dict(a.field), payload=a.payload,
            repo_path=a.repo_field, secret_source=source,
        )
        secret = None
        if a.generate_secret:
            try:
                secret = stored.generate(hook.name)
            except BaseException:
                hooks.remove_hook(engine, hook.name)
                raise

        def text() -> str:
            lines = [f"added hook {hook.name}: POST /hooks/{hook.name} enqueues a task of agent {hook.agent}"]
            if secret:
                lines.append(f"secret (shown only now; set it as the sender's webhook secret): {secret}")
            elif source is None:
                lines.append("no secret: callers send the API token (agentq token) as Authorization: Bearer")
            return "\n".join(lines)

        self.emit({"hook": hook, "secret": secret}, text)
        return 0

    def cmd_token(self) -> int:
        from desktop.api.credentials import TokenStore

        store = TokenStore()
        token = store.rotate() if self.args.rotate else store.current()
        self.emit({"token": token, "path": str(store.path)}, lambda: token)
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
        self.emit({"deleted": deleted},
                  lambda: f"deleted {deleted} finished tasks older than {timedelta(seconds=self.args.older_than)}")
        return 0

    def cmd_metrics(self) -> int:
        self.out.write(formatting.metrics(self.service))
        return 0

    def _pool_options(self) -> dict[str, Any]:
        a = self.args
        return {"concurrency": a.concurrency, "poll_interval_s": a.poll_interval}

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
            agents=[n.strip() for n in a.agents.split(",")] if a.agents else None,
            worker_id=a.worker_id, burst=a.burst, grace_s=a.grace,
        )

    def cmd_serve(self) -> int:
        from desktop.api.binding import check_host, listen, url_of
        from desktop.api.server import serve_forever

        a = self.args
        warning = check_host(a.host, allow_remote=a.allow_remote)
        if warning:
            self.complain(warning, "warning")
            log.warning("%s", warning)
        settings = load_settings()
        sock = listen(a.host, a.port)  # before anything slow: a busy port is reported at once
        service = self.service
        pool = None
        if not a.no_worker:
            from PySide6.QtCore import QCoreApplication

            from desktop.workers.headless import create_pool

            qt = QCoreApplication.instance() or QCoreApplication([])  # noqa: F841 - lives while the pool runs
            pool = create_pool(service, settings, **self._pool_options())
            pool.start()
        url = url_of(sock)
        print(f"Agent Queue API on {url} (docs: {url}/docs; token: agentq token)", file=self.out, flush=True)
        try:
            serve_forever(service, settings, sock, pool=pool, cors_origins=a.cors_origin)
        finally:
            if pool is not None:
                pool.stop()
        return 0

    def cmd_install_desktop_entry(self) -> int:
        from desktop.desktop_entry import install, uninstall

        if self.args.uninstall:
            self.print("\n".join(f"removed {p}" for p in uninstall()))
        else:
            self.print("\n".join(f"installed {p}" for p in install()))
        return 0


def _secret_text(source: str | None) -> str:
    if source is None:
        return "bearer token"
    return "generated secret" if source == "file" else f"secret in ${source.removeprefix('env:')}"


def _batch_summary(tasks: Sequence[Task], new: set[int]) -> str:
    added = sorted(new)
    existing = [t.id for t in tasks if t.id not in new]  # one per line whose unique key was taken
    if not tasks:
        return "nothing to enqueue: the input has no tasks"
    text = f"enqueued {len(added):,} task{'s' if len(added) != 1 else ''}"
    if added:
        text += f" (id{'s' if len(added) != 1 else ''} {_id_ranges(added)})"
    if existing:
        text += f"; {len(existing):,} already existed with the same unique key ({_id_ranges(sorted(set(existing)))})"
    return text


def _id_ranges(ids: Sequence[int], most: int = 5) -> str:
    """1, 2, 3, 7 -> '1–3, 7' (at most `most` runs, then '…')."""
    runs: list[list[int]] = []
    for number in ids:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    parts = [str(a) if a == b else f"{a}–{b}" for a, b in runs[:most]]
    return ", ".join(parts) + (", …" if len(runs) > most else "")


def _json_lines(lines: Iterable[str]) -> Iterable[dict[str, Any]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise TaskValidationError(f"line {number}", "is not valid JSON") from exc
        yield item


# -- entry point ----------------------------------------------------------------------------------


def database_option(db: str | None, create: bool) -> str | None:
    """--db as a URL: a plain path means a SQLite file. A folder that does not exist needs `create`."""
    if db is None:
        return None
    if "://" not in db:
        if not db.strip():
            raise TaskValidationError("db", "must be a database URL or a file path, not empty")
        db = f"sqlite:///{Path(db).expanduser().resolve()}"
    try:
        url = make_url(db)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's parse errors vary
        raise TaskValidationError("db", "is not a database URL such as sqlite:///path/queue.db") from exc
    if url.get_backend_name() == "sqlite" and url.database and not url.database.startswith(("file:", ":memory:")):
        folder = Path(url.database).expanduser().resolve().parent
        if not folder.exists():
            if not create:
                raise TaskValidationError(
                    "db", f"the folder {folder} does not exist; check the path, or pass --create to create it"
                )
            folder.mkdir(parents=True)
    return db


def _level(args: argparse.Namespace, default: str) -> str:
    if args.log_level:
        return args.log_level
    from_env = os.environ.get(ENV_LOG_LEVEL) if args.command in LONG_RUNNING else None
    if from_env:
        try:
            return log_level(from_env)
        except argparse.ArgumentTypeError as exc:
            raise TaskValidationError(ENV_LOG_LEVEL, str(exc)) from None
    return default


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.json and args.command in NO_JSON:
        parser.error(f"--json: agentq {args.command} has no JSON output")
    from desktop.logs import setup_logging

    try:
        args.db = database_option(args.db, args.create)
        settings = load_settings()
        setup_logging(_level(args, settings.log_level), stderr=args.command in LONG_RUNNING)
    except TaskValidationError as exc:
        print(f"agentq: error: {exc}", file=sys.stderr)
        return 2
    except (AgentQueueError, OSError) as exc:
        print(f"agentq: error: {exc}", file=sys.stderr)
        return 1
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
