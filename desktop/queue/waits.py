"""Why a task waits: for pending, blocked and retrying tasks, what keeps each one from running.

Computed for a page of tasks at once, in one read transaction of a few queries: the unfinished
dependencies of the blocked ones, the queue's and their agents' pauses (with the reason and end a
usage limit or a daily budget gave them), when a later or parked run is due, their agents'
running counts against their concurrency, and their lock keys' holders against their capacity.
The window, `agentq show` and `agentq list` all say it in these words.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, select

from desktop.queue.store import Store
from desktop.queue.tables import A, C, D, G, K, S, T
from desktop.queue.types import Task, TaskStatus

WAITING = (TaskStatus.PENDING, TaskStatus.BLOCKED, TaskStatus.RETRYING)
SHOWN_IDS = 3  # task ids named in one reason before "and N more"
REPO_KEY_PREFIXES = ("path:", "repo:")  # what lock_keys.repo_lock_key makes


def wait_reasons(store: Store, tasks: Iterable[Task]) -> dict[int, str]:
    """By task id, why each waiting task among `tasks` is not running (tasks that run or have
    finished are left out). Several reasons are joined with "; ", the one to lift first first."""
    waiting = [t for t in tasks if t.status in WAITING]
    if not waiting:
        return {}
    now = store.clock()
    with store.read() as conn:
        facts = _Facts(conn, waiting)
    return {task.id: "; ".join(_reasons(task, facts, now)) for task in waiting}


class _Facts:
    """What the reasons are made of, read once for the whole page."""

    def __init__(self, conn: Connection, tasks: list[Task]) -> None:
        agents = sorted({t.agent for t in tasks})
        keys = sorted({t.lock_key for t in tasks if t.lock_key is not None})
        blocked = [t.id for t in tasks if t.status is TaskStatus.BLOCKED]
        retrying = [t.id for t in tasks if t.status is TaskStatus.RETRYING]
        self.queue_paused = conn.execute(select(S.c.value).where(S.c.key == "paused")).scalar() == "1"
        self.agents: dict[str, Any] = {
            row.name: row
            for row in conn.execute(
                select(G.c.name, G.c.paused, G.c.pause_reason, G.c.paused_until, G.c.concurrency,
                       func.coalesce(C.c.running, 0).label("running"))
                .outerjoin(C, C.c.agent == G.c.name).where(G.c.name.in_(agents))
            )
        }
        self.waits_for: dict[int, list[tuple[int, str]]] = defaultdict(list)
        if blocked:
            for task_id, parent, status in conn.execute(
                select(D.c.task_id, T.c.id, T.c.status).join(T, T.c.id == D.c.depends_on_id)
                .where(D.c.task_id.in_(blocked), T.c.status != TaskStatus.COMPLETED.value)
                .order_by(D.c.task_id, T.c.id)
            ):
                self.waits_for[task_id].append((parent, status))
        self.parked: set[int] = set()
        if retrying:
            last = select(A.c.task_id, func.max(A.c.number).label("number")).where(A.c.task_id.in_(retrying))
            last_numbers = last.group_by(A.c.task_id).subquery()
            self.parked = set(conn.execute(
                select(A.c.task_id).join(last_numbers, (A.c.task_id == last_numbers.c.task_id)
                                         & (A.c.number == last_numbers.c.number))
                .where(A.c.outcome == "parked")
            ).scalars())
        self.capacity: dict[str, int] = {}
        self.holders: dict[str, list[int]] = defaultdict(list)
        if keys:
            self.capacity = {key: int(capacity) for key, capacity in conn.execute(
                select(K.c.key, K.c.capacity).where(K.c.key.in_(keys)))}
            for key, task_id in conn.execute(
                select(T.c.lock_key, T.c.id)
                .where(T.c.status == TaskStatus.RUNNING.value, T.c.lock_key.in_(keys)).order_by(T.c.id)
            ):
                self.holders[key].append(task_id)


def _reasons(task: Task, facts: _Facts, now: float) -> list[str]:
    reasons: list[str] = []
    if task.status is TaskStatus.BLOCKED:
        parents = facts.waits_for.get(task.id, [])
        reasons.append(
            "waiting for " + _listed([f"task #{parent} ({status})" for parent, status in parents])
            if parents else "blocked by its dependencies"
        )
    if facts.queue_paused:
        reasons.append("the queue is paused (agentq resume)")
    agent = facts.agents.get(task.agent)
    if agent is None:
        reasons.append(f"agent {task.agent} does not exist")
    elif agent.paused:
        reason = f"agent {task.agent} is paused"
        if agent.pause_reason:
            reason += f": {agent.pause_reason}"
        elif agent.paused_until is not None:
            reason += f" until {moment(agent.paused_until, now)}"
        reasons.append(reason)
    due = task.scheduled_for.timestamp()
    if due > now and task.status is not TaskStatus.BLOCKED:
        if task.id in facts.parked:
            reasons.append(f"usage limit: runs again at {moment(due, now)}")
        elif task.status is TaskStatus.RETRYING:
            reasons.append(f"retry {task.attempts + 1} of {task.max_retries + 1} at {moment(due, now)}")
        else:
            reasons.append(f"scheduled for {moment(due, now)}")
    if reasons:
        return reasons
    # Due, nothing paused: what is full.
    if agent is not None and agent.running >= agent.concurrency:
        reasons.append(f"agent {task.agent} at its limit ({agent.running}/{agent.concurrency} running)")
    if task.lock_key is not None:
        holders = facts.holders.get(task.lock_key, [])
        capacity = facts.capacity.get(task.lock_key, 1)
        if len(holders) >= capacity:
            named = _listed([f"#{h}" for h in holders])
            repo = task.repo or _repository(task.lock_key)
            if repo is not None and capacity > 1:
                reasons.append(f"repository {repo}: {len(holders)} of {capacity} worktrees busy ({named})")
            elif repo is not None:
                reasons.append(f"repository {repo} busy with {named}")
            else:
                reasons.append(f"lock {task.lock_key} held by {named}" + (f" ({capacity} at once)" if capacity > 1 else ""))
    return reasons or ["ready: the next free worker slot takes it"]


def _repository(lock_key: str) -> str | None:
    """The repository a lock key made by repo_lock_key stands for (its path or host/path)."""
    for prefix in REPO_KEY_PREFIXES:
        if lock_key.startswith(prefix):
            return lock_key[len(prefix):]
    return None


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN_IDS])
    return shown + (f" and {len(items) - SHOWN_IDS} more" if len(items) > SHOWN_IDS else "")


def moment(at: float, now: float) -> str:
    """A time to come, in local time and from now: ``14:05:10 (in 3 min)``; the date too when it
    is not today."""
    local, today = time.localtime(at), time.localtime(now)
    same_day = (local.tm_year, local.tm_yday) == (today.tm_year, today.tm_yday)
    shown = time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M", local)
    return f"{shown} (in {_span(at - now)})"


def _span(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"
