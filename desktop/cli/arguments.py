"""The `agentq` command line's arguments: their types and the parser.

`--db`, `--json`, `--create` and `--log-level` work before or after the command's name: each
command's parser takes them too, with defaults that leave the value given before it alone.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import datetime
from typing import Any, NoReturn

from desktop import __version__
from desktop.api.binding import DEFAULT_HOST, DEFAULT_PORT
from desktop.cli.coding_arguments import KINDS_HELP, coding_agent_options, enqueue_options, repo_commands
from desktop.queue import TaskStatus

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_ID = 2**63 - 1  # SQLite's largest integer
RETRYABLE_STATUSES = ("failed", "cancelled", "retrying")
NO_JSON = frozenset({"worker", "serve", "metrics", "install-desktop-entry"})


# -- argument types -------------------------------------------------------------------------------


def duration(text: str) -> float:
    """'90', '90s', '15m', '12h', '30d', '2w' as seconds."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 15m, 12h or 30d")
    return float(match[1]) * _UNITS[match[2]]


def since_time(text: str) -> float:
    """An ISO 8601 date or time (local unless it has an offset), or an age such as 7d: epoch seconds."""
    try:
        return time.time() - duration(text)
    except argparse.ArgumentTypeError:
        pass
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date or time, nor an age such as 7d") from None
    return (value if value.tzinfo else value.astimezone()).timestamp()


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


def priority_number(text: str) -> int:
    return _whole(text, 1, 5, "a priority is 1 (low) to 5 (runs first)")


def max_pending_number(text: str) -> int:
    return _whole(text, 0, MAX_ID, "0 (no limit) or more")


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
    worker.add_argument("--task-types", metavar="TYPES",
                        help="only tasks with one of these task types (enqueue --type), comma-separated")
    worker.add_argument("--worker-id", help="its name in `agentq workers` and the action log (default: host:pid:random)")
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
    enqueue_options(enqueue, task_id)
    enqueue.add_argument("--unique-key", help="no second unfinished task with this key (the first is kept)")
    enqueue.add_argument("--depends-on", type=task_id, action="append", default=[], metavar="ID",
                         help="run only after task ID completed (repeat for several)")
    enqueue.add_argument("--max-retries", type=int, help="retries after the first attempt (default: the agent's)")
    enqueue.add_argument("--timeout", dest="timeout_s", type=duration, help="stop an attempt after this, e.g. 10m")
    enqueue.add_argument("--type", dest="task_type", help="a label of your own for the task")
    enqueue.add_argument("--notify-url", help="webhook told when the task completes or fails for good")
    enqueue.add_argument("--backlog", action="store_true",
                         help="keep it in the backlog: not run until released (agentq release ID)")
    enqueue.add_argument("--file", help="JSON Lines of enqueue arguments ('-' for stdin); all or nothing")

    listing = command("list", "list tasks, newest first")
    listing.add_argument("--status", action="append", choices=[s.value for s in TaskStatus],
                         help="only tasks in this status (repeat for several)")
    listing.add_argument("--agent", help="only this agent's tasks")
    listing.add_argument("--search", help="text in the payload, error, agent, type or lock key; or an id")
    listing.add_argument("--limit", type=positive_int, default=50, help="at most this many (default 50)")
    listing.add_argument("--wide", action="store_true", help="why each task waits, and its last error, in full")

    show = command("show", "a task with its payload, result and every attempt")
    show.add_argument("id", type=task_id, help="task id")

    retry = command("retry", "run failed, cancelled or retrying tasks again now: by id, or all that match")
    retry.add_argument("ids", type=task_id, nargs="*", metavar="ID", help="task ids (or use --status / --agent)")
    retry.add_argument("--status", action="append", choices=RETRYABLE_STATUSES,
                       help="retry every task in this status (repeat for several; default with --agent: failed)")
    retry.add_argument("--agent", help="retry every failed (or --status) task of this agent")
    retry.add_argument("--payload", type=json_value, metavar="JSON", help="retry one task ID with this payload instead")
    command("cancel", "cancel tasks").add_argument("ids", type=task_id, nargs="+", metavar="ID", help="task ids")

    command("run", "run a waiting task next: ready now, priority 5, ahead of every other").add_argument(
        "id", type=task_id, help="task id")
    priority = command("priority", "change the priority of a waiting task")
    priority.add_argument("id", type=task_id, help="task id")
    priority.add_argument("priority", type=priority_number, help="1 (low) to 5 (runs first)")
    move = command("move", "move a waiting task first or last among the ready tasks of its priority")
    move.add_argument("id", type=task_id, help="task id")
    where = move.add_mutually_exclusive_group(required=True)
    where.add_argument("--top", action="store_true", help="first of its priority")
    where.add_argument("--bottom", action="store_true", help="last of its priority")
    for name, text in (("backlog", "keep waiting tasks out of the queue until released"),
                       ("release", "put backlogged tasks back in the queue")):
        command(name, text).add_argument("ids", type=task_id, nargs="+", metavar="ID", help="task ids")
    command("workers", "worker pools: live, gone (not seen for three lease periods) or stopped")

    for name, text in (("pause", "stop new claims (running tasks finish)"), ("resume", "resume claiming")):
        command(name, f"{text}: the whole queue, or one agent").add_argument("--agent", help="only this agent")

    command("stats", "counts, rates and timings")

    agents = command("agents", "list, add, update, remove, pause or resume agents")
    agent_sub = agents.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    agent_sub.add_parser("list", help="every agent with its task counts", parents=[with_json])
    agent_sub.add_parser("show", help="an agent: kind, config (secrets hidden), limits, the timeout in force",
                         parents=[with_json]).add_argument("name", help="agent name")
    for name in ("add", "update"):
        cmd = agent_sub.add_parser(name, help=f"{name} an agent", parents=[with_json])
        cmd.add_argument("name", help="agent name: letters, digits, '_', '.', '-'")
        if name == "add":
            cmd.add_argument("kind", help=KINDS_HELP)
        else:
            cmd.add_argument("--kind", help=KINDS_HELP)
        cmd.add_argument("--config", type=json_value, help="JSON object, e.g. '{\"argv\": [\"echo\", \"{msg}\"]}'")
        cmd.add_argument("--concurrency", type=int, help="its tasks run at once (default 1)")
        cmd.add_argument("--timeout", dest="timeout_s", type=duration, help="default timeout of its tasks, e.g. 30m")
        cmd.add_argument("--max-retries", type=int, help="default retries of its tasks")
        cmd.add_argument("--retry-base", dest="retry_base_s", type=duration, help="first backoff, doubled each retry")
        cmd.add_argument("--retry-cap", dest="retry_cap_s", type=duration, help="longest backoff")
        cmd.add_argument("--notify-url", help="webhook told when its tasks complete or fail for good")
        cmd.add_argument("--escalate-priority", action=argparse.BooleanOptionalAction, default=None,
                         help="each automatic retry of its tasks one priority level higher, up to 5")
        cmd.add_argument("--max-pending", type=max_pending_number, metavar="N",
                         help="refuse an enqueue past N waiting tasks of this agent (0: no limit)")
        coding_agent_options(cmd)
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

    repo_commands(
        command, _Parser, with_json, duration=duration, positive_int=positive_int, task_id=task_id
    )
    command("locks", "lock keys held now, with task and age")
    cleanup = command("cleanup", "delete finished tasks older than a retention period")
    cleanup.add_argument("--older-than", type=duration, required=True, help="e.g. 30d")
    cleanup.add_argument("--archive", action="store_true",
                         help="write them (with their attempts) to the archive folder before deleting them")
    archive = command("archive", "finished tasks that retention archived (gzip JSON Lines in the data folder)")
    archive_sub = archive.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    archive_sub.add_parser("list", help="the archive's files, with their size and tasks", parents=[with_json])
    export = archive_sub.add_parser("export", help="every archived task once, as JSON Lines on stdout",
                                    parents=[without_json])
    export.add_argument("--since", type=since_time, metavar="WHEN",
                        help="only tasks finished since then: an ISO 8601 date or time, or an age such as 7d")
    export.add_argument("--agent", help="only this agent's tasks")
    command("metrics", "counters and gauges in the Prometheus text format")
    desktop_entry = command("install-desktop-entry", "add Agent Queue to the applications menu")
    desktop_entry.add_argument("--uninstall", action="store_true", help="remove it again")
    return parser


def _pool_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--concurrency", type=positive_int, metavar="N", help="tasks run at once (default: the profile's)")
    cmd.add_argument("--poll-interval", "--polling-interval", dest="poll_interval", type=duration, metavar="SECONDS",
                     help="time between polls for work from other processes, e.g. 0.5 or 2s")
