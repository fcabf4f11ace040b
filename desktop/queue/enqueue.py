"""Adding tasks: one or many in a transaction, with defaults from the agent and the retry policy."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from desktop.errors import QueueFullError, TaskValidationError
from desktop.queue import validation as check
from desktop.queue.events import Signal
from desktop.queue.new_task import NewTask, new_task, new_tasks
from desktop.queue.reads import backlogged_counts
from desktop.queue.repos import task_repos
from desktop.queue.rows import task_from_row
from desktop.queue.store import Store
from desktop.queue.tables import FINISHED, C, D, G, T
from desktop.queue.types import Repo, Task, TaskStatus

# A kind's check of a new task's payload: (payload, the task's repository name or None) -> None,
# raising TaskValidationError (e.g. on "payload.prompt"). PayloadRules gives it for a kind's name.
PayloadCheck = Callable[[Any, str | None], None]
PayloadRules = Callable[[str], PayloadCheck | None]
NOTIFY_AGENT = "agentq-notify"  # the http agent that delivers completion webhooks
_NOTIFY_CONFIG = {"url": "{url}", "method": "POST", "body_key": "body", "timeout_s": 10}


class Enqueuer:
    """Validates and writes new tasks.

    Signals:
        enqueued: sent with the list of new tasks after they are committed, so an in-process
            worker pool can claim them at once instead of waiting for its next poll.
    """

    def __init__(self, store: Store, payload_rules: PayloadRules | None = None) -> None:
        self.store = store
        self.payload_rules = payload_rules
        self.enqueued: Signal[list[Task]] = Signal()

    def enqueue(self, agent: str, payload: Any = None, **fields: Any) -> Task:
        """Add a task; `fields` are those of new_task.TASK_FIELDS. Settings left as None come
        from the agent, then from the retry policy.

        If `unique_key` matches an unfinished task, that task is returned and nothing is written.
        """
        item = new_task({"agent": agent, "payload": payload, **fields}, max_payload_bytes=self.store.max_payload_bytes)
        return self._insert([item], batch=False)[0]

    def enqueue_many(self, items: Iterable[Mapping[str, Any]]) -> list[Task]:
        """Add many tasks in one transaction: all are validated first, then all or none are written."""
        return self._insert(new_tasks(items, max_payload_bytes=self.store.max_payload_bytes), batch=True)

    def _insert(self, items: Sequence[NewTask], *, batch: bool) -> list[Task]:
        if not items:
            return []
        try:
            with self.store.write() as conn:
                tasks, inserted = self.insert_in(conn, items, batch=batch)
        except IntegrityError:
            # On PostgreSQL another connection committed the same unique key (or deleted a
            # dependency) after we looked: look again, and return its task as SQLite would.
            with self.store.write() as conn:
                tasks, inserted = self.insert_in(conn, items, batch=batch)
        if inserted:
            self.enqueued.send(inserted)
        return tasks

    def insert_in(
        self, conn: Connection, items: Sequence[NewTask], *, batch: bool = False
    ) -> tuple[list[Task], list[Task]]:
        """Insert validated tasks in the caller's write transaction (see enqueue for the rules).

        Returns the task for each item (an existing one for a known unique key) and the new ones.
        With `batch`, errors name the item (``items[3].agent``), as enqueue_many's validation does.
        The caller sends `enqueued` after its commit.
        """
        now = self.store.clock()
        policy = self.store.retry_policy
        agents = {
            r.name: r
            for r in conn.execute(
                select(
                    G.c.name, G.c.kind, G.c.timeout_s, G.c.max_retries, G.c.retry_base_s, G.c.retry_cap_s,
                    G.c.notify_url, G.c.max_pending,
                )
                .where(G.c.name.in_({i.agent for i in items}))
                .with_for_update(read=True, key_share=True)  # remove_agent waits for us
            )
        }
        room = _pending_room(conn, [a for a in agents.values() if a.max_pending is not None])
        repos = task_repos(conn, items, batch=batch)
        payload_checks: dict[str, PayloadCheck | None] = {}
        dep_status = _dependency_statuses(conn, {d for i in items for d in i.depends_on})
        existing = _unfinished_by_unique_key(conn, {i.unique_key for i in items if i.unique_key})
        results: list[Task | int] = []  # a Task that already existed, or an index into rows
        rows: list[dict[str, Any]] = []
        pending_unique: dict[str, int] = {}
        for index, item in enumerate(items):
            prefix = f"items[{index}]." if batch else ""
            agent = agents.get(item.agent)
            if agent is None:
                raise TaskValidationError(prefix + "agent", f"there is no agent named {item.agent!r}")
            repo = repos[index]
            if self.payload_rules is not None:
                if agent.kind not in payload_checks:
                    payload_checks[agent.kind] = self.payload_rules(agent.kind)
                _check_payload(payload_checks[agent.kind], item, repo, prefix)
            key = item.unique_key
            if key is not None and key in existing:
                results.append(existing[key])
                continue
            if key is not None and key in pending_unique:
                results.append(pending_unique[key])
                continue
            status = _initial_status(prefix, item.depends_on, dep_status)
            if item.backlog:
                status = TaskStatus.BACKLOGGED.value
            if item.agent in room:
                room[item.agent] -= 1
                if room[item.agent] < 0:
                    raise QueueFullError(
                        prefix + "agent",
                        f"agent {item.agent!r} already has its limit of {agent.max_pending} waiting tasks "
                        "(max_pending); nothing was enqueued. Wait for some to run, or raise the limit "
                        f"(agentq agents update {item.agent} --max-pending N)",
                    )
            if key is not None:
                pending_unique[key] = len(rows)
            results.append(len(rows))
            rows.append(item.row(agent, policy, status=status, now=now))
            if repo is not None:
                rows[-1].update(repo=repo.name, lock_key=repo.lock_key)
        if any(row["notify_url"] for row in rows):
            _ensure_notify_agent(conn, now)
        ids = self.store.backend.insert_tasks(conn, rows)
        defaults = {c.name: None for c in T.c}
        inserted = [task_from_row({**defaults, **row, "id": task_id}) for row, task_id in zip(rows, ids, strict=True)]
        deps = [
            {"task_id": inserted[entry].id, "depends_on_id": dep}
            for entry, item in zip(results, items, strict=True)
            if isinstance(entry, int)
            for dep in item.depends_on
        ]
        if deps:
            conn.execute(insert(D), deps)
        if inserted:
            self.store.notify(conn)
        return [inserted[e] if isinstance(e, int) else e for e in results], inserted

    def check_payload(self, kind: str, payload: Any, repo: str | None) -> None:
        """The agent kind's own rules for a payload, as at enqueue (a retry with a new payload)."""
        check_payload = None if self.payload_rules is None else self.payload_rules(kind)
        if check_payload is not None:
            check_payload(payload, repo)


def _pending_room(conn: Connection, limited: Sequence[Any]) -> dict[str, int]:
    """How many more waiting tasks (pending, blocked, retrying, backlogged) each agent with a
    max_pending may take. Its agent row is locked first (FOR NO KEY UPDATE on PostgreSQL; SQLite's
    write lock already excludes every other writer), so concurrent enqueues of the agent count one
    after the other and never pass the limit together."""
    if not limited:
        return {}
    names = sorted(a.name for a in limited)
    conn.execute(select(G.c.id).where(G.c.name.in_(names)).order_by(G.c.name).with_for_update(key_share=True)).all()
    waiting = {name: 0 for name in names}
    for name, count in conn.execute(
        select(C.c.agent, C.c.pending + C.c.blocked + C.c.retrying).where(C.c.agent.in_(names))
    ):
        waiting[name] += int(count)
    for _status, name, count in backlogged_counts(conn, names):
        waiting[name] += count
    return {a.name: a.max_pending - waiting[a.name] for a in limited}


def _check_payload(check_payload: PayloadCheck | None, item: NewTask, repo: Repo | None, prefix: str) -> None:
    """The agent kind's own rules for a payload (e.g. a coding agent's prompt), errors prefixed."""
    if check_payload is None:
        return
    try:
        check_payload(json.loads(item.values["payload"]), None if repo is None else repo.name)
    except TaskValidationError as exc:
        raise TaskValidationError(prefix + exc.field, exc.rule) from None


def _ensure_notify_agent(conn: Connection, now: float) -> None:
    """Create the built-in agent that delivers webhooks, before any task needs it delivered (so
    settling a task never writes agents)."""
    if conn.execute(select(G.c.id).where(G.c.name == NOTIFY_AGENT)).first() is not None:
        return
    try:
        with conn.begin_nested():  # another enqueue may create it at the same moment
            conn.execute(
                insert(G).values(
                    name=NOTIFY_AGENT, kind="http", config=check.agent_config(_NOTIFY_CONFIG), concurrency=4,
                    max_retries=8, retry_base_s=10.0, retry_cap_s=600.0, created_at=now, updated_at=now,
                )
            )
    except IntegrityError:
        pass


def _dependency_statuses(conn: Connection, ids: set[int]) -> dict[int, str]:
    """Statuses of the tasks `ids`, share-locked: a dependency that fails for good meanwhile
    waits for this transaction, then cancels the new dependents it can now see."""
    if not ids:
        return {}
    rows = conn.execute(select(T.c.id, T.c.status).where(T.c.id.in_(ids)).order_by(T.c.id).with_for_update(read=True))
    return {task_id: status for task_id, status in rows}


def _unfinished_by_unique_key(conn: Connection, keys: set[str | None]) -> dict[str, Task]:
    if not keys:
        return {}
    rows = conn.execute(select(T).where(T.c.unique_key.in_(keys), T.c.status.not_in(FINISHED)))
    return {r.unique_key: task_from_row(r._mapping) for r in rows}


def _initial_status(prefix: str, depends_on: tuple[int, ...], statuses: dict[int, str]) -> str:
    waiting = False
    for dep in depends_on:
        status = statuses.get(dep)
        if status is None:
            raise TaskValidationError(prefix + "depends_on", f"task {dep} does not exist")
        if status in (TaskStatus.FAILED.value, TaskStatus.CANCELLED.value):
            raise TaskValidationError(prefix + "depends_on", f"task {dep} is {status}, so this task could never run")
        waiting = waiting or status != TaskStatus.COMPLETED.value
    return TaskStatus.BLOCKED.value if waiting else TaskStatus.PENDING.value
