"""TaskQueueService: the durable task queue every part of Agent Queue stands on.

The service is a facade. The work is done by small objects it composes, each owning one role:

    Enqueuer   adding tasks (enqueue.py), described by new_task.TASK_FIELDS
    Leases     claiming under a lease, heartbeats, settling attempts (leases.py)
    Settler    what an attempt's end does to its task, shared with the Rescuer (settling.py)
    Control    cancel, retry (one, or all that match), delete, pause and resume (control.py)
    QueueOrder run now, priority, move to top or bottom, backlog and release (ordering.py)
    Reads      tasks, pages, the action log, statistics (reads.py; the attempt ledger: totals.py)
    wait_reasons   why waiting tasks are not running (waits.py)
    Locks      lock key capacities and holders (locks.py)
    Agents     agent definitions (agents.py)
    Schedules  cron schedules (schedules.py)
    Rescuer, Cleaner, Scheduler   the maintenance passes a worker pool drives (maintenance.py)
    Roster     the worker pools, kept by their heartbeats (roster.py)
    Repos      repositories tasks work on, and a task's repo at enqueue (repos.py)
    WorkspaceRecords   the folders tasks worked in, their ports and change summaries (workspace_records.py)
    Budgets    agents' daily budgets (a maintenance pass too) and the cost ledger (budgets.py)

They share a Store (store.py): the engine and its Backend (backends/: everything that differs
between SQLite and PostgreSQL), the clock and the retry policy. Every operation is one short
transaction; values returned are frozen dataclasses, safe to hand to other threads.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from desktop.errors import AgentQueueError
from desktop.queue import totals
from desktop.queue import validation as check
from desktop.queue.agents import Agents, AgentValidator, SecretKeeper
from desktop.queue.archive import Archive
from desktop.queue.backends import ChangeWatcher
from desktop.queue.budgets import Budgets, ledger
from desktop.queue.control import _UNCHANGED, Control, RetryReport
from desktop.queue.db import create_queue_engine, display_url, upgrade
from desktop.queue.enqueue import NOTIFY_AGENT, Enqueuer, PayloadRules
from desktop.queue.events import Signal
from desktop.queue.leases import DEFAULT_LEASE_S, HOST, Leases, Settled
from desktop.queue.locks import Locks
from desktop.queue.maintenance import Cleaner, Programs, Rescuer, Scheduler
from desktop.queue.ordering import QueueOrder
from desktop.queue.reads import Reads
from desktop.queue.repos import Repos
from desktop.queue.retry import RetryPolicy
from desktop.queue.roster import Beat, Roster
from desktop.queue.schedules import Schedules
from desktop.queue.settling import Settler
from desktop.queue.store import Store, raise_storage_error
from desktop.queue.types import (
    Agent,
    Attempt,
    Claim,
    Ledger,
    LockInfo,
    QueueStats,
    Repo,
    Schedule,
    Settlement,
    Task,
    TaskPage,
    Worker,
    WorkspaceRecord,
)
from desktop.queue.waits import wait_reasons
from desktop.queue.workspace_records import WorkspaceRecords

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_LEASE_S", "NOTIFY_AGENT", "TaskQueueService"]


class TaskQueueService:
    """The queue's API: agents, tasks, claiming with leases, retries, locks and statistics.

    Thread-safe. Signals:
        enqueued: sent with the list of new tasks after they are committed, so an in-process
            worker pool can claim them at once instead of waiting for its next poll.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], float] = time.time,
        retry_policy: RetryPolicy = RetryPolicy(),
        max_payload_bytes: int = check.MAX_PAYLOAD_BYTES,
        validate_agent: AgentValidator | None = None,
        payload_rules: PayloadRules | None = None,
        keep_secrets: SecretKeeper | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.store = Store(
            engine, clock=clock, retry_policy=retry_policy, max_payload_bytes=max_payload_bytes, rand=rand
        )
        self.enqueuer = Enqueuer(self.store, payload_rules)
        self.settler = Settler(self.store, self.enqueuer)
        self.leases = Leases(self.store, self.settler)
        self.control = Control(self.store, self.settler)
        self.order = QueueOrder(self.store)
        self.roster = Roster(self.store)
        self.reads = Reads(self.store)
        self.lock_keys = Locks(self.store)
        self.agents = Agents(self.store, self.settler, validate_agent, keep_secrets)
        self.schedules = Schedules(self.store, self.agents)
        self.rescuer = Rescuer(self.store, self.settler)
        self.scheduler = Scheduler(self.store, self.enqueuer)
        self.repos = Repos(self.store)
        self.workspaces = WorkspaceRecords(self.store)
        self.budgets = Budgets(self.store)

    @classmethod
    def open(cls, url: str | URL, **options: Any) -> TaskQueueService:
        """Open (creating or migrating) the queue database at `url`, e.g. ``sqlite:///queue.db``
        or ``postgresql+psycopg://user:password@host/dbname``.

        Agents and payloads are checked by the installed agent kinds' rules, as the CLI and the
        window check them, and agents' secrets (http header values, URL passwords) are kept in the
        system keyring or a private file, unless `validate_agent` / `payload_rules` /
        `keep_secrets` are given (None: no check, secrets stored as given).
        """
        if not {"validate_agent", "payload_rules", "keep_secrets"} <= set(options):
            # The kinds sit above the queue (they import its types), so they are imported here.
            from desktop.agents.registry import payload_rules, validate_agent
            from desktop.secrets import KEEPER

            options.setdefault("validate_agent", validate_agent)
            options.setdefault("payload_rules", payload_rules)
            options.setdefault("keep_secrets", KEEPER)
        engine = create_queue_engine(url)
        try:
            upgrade(engine)
        except OperationalError as exc:
            engine.dispose()
            raise_storage_error(exc, display_url(engine.url))
        service = cls(engine, **options)
        try:
            moved = service.agents.move_secrets_out()
        except AgentQueueError as exc:  # e.g. a keyring that refuses: the queue opens all the same
            log.warning("could not move agents' secrets out of the database: %s", exc)
        else:
            if moved:
                log.warning("moved the secrets of agents %s out of the database", ", ".join(moved))
        return service

    # -- the service itself -----------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self.store.engine

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self.store.url

    @property
    def clock(self) -> Callable[[], float]:
        """The service's time source (epoch seconds); tests set a fake one."""
        return self.store.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self.store.clock = clock

    @property
    def enqueued(self) -> Signal[list[Task]]:
        return self.enqueuer.enqueued

    @property
    def retry_policy(self) -> RetryPolicy:
        """The policy in force for new tasks' defaults and for jitter (see set_retry_policy)."""
        return self.store.retry_policy

    def set_retry_policy(self, policy: RetryPolicy) -> None:
        """Use another retry policy from now on (safe while workers run: it is swapped whole)."""
        self.store.set_retry_policy(policy)

    def watcher(self) -> ChangeWatcher:
        """Something that tells, cheaply, whether another process changed the queue."""
        return self.store.backend.watcher(self.store.engine)

    def cleaner(self, older_than: timedelta | float, *, archive: Archive | None = None) -> Cleaner:
        """The retention pass that deletes tasks finished more than `older_than` ago (writing
        them to `archive` first, when given)."""
        return Cleaner(self.store, older_than, archive=archive)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> TaskQueueService:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- enqueue (Enqueuer) -------------------------------------------------------------------------

    def enqueue(self, agent: str, payload: Any = None, **fields: Any) -> Task:
        """Add a task. `fields` are new_task.TASK_FIELDS (priority, scheduled_for, lock_key, ...)."""
        return self.enqueuer.enqueue(agent, payload, **fields)

    def enqueue_many(self, items: Iterable[Mapping[str, Any]]) -> list[Task]:
        """Add many tasks in one transaction: all are validated first, then all or none are written."""
        return self.enqueuer.enqueue_many(items)

    # -- workers (Leases) ---------------------------------------------------------------------------

    def dequeue_many(
        self,
        worker_id: str,
        limit: int,
        *,
        agents: Iterable[str] | None = None,
        task_types: Iterable[str] | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> list[Claim]:
        """Claim up to `limit` runnable tasks in one transaction, in claim order (see Leases)."""
        return self.leases.dequeue_many(worker_id, limit, agents=agents, task_types=task_types, lease_s=lease_s)

    def dequeue(
        self,
        worker_id: str,
        *,
        agents: Iterable[str] | None = None,
        task_types: Iterable[str] | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> Claim | None:
        """Claim the next runnable task, or None (see Leases.dequeue_many)."""
        return self.leases.dequeue(worker_id, agents=agents, task_types=task_types, lease_s=lease_s)

    def heartbeat(
        self,
        task_id: int,
        token: str,
        *,
        lease_s: float = DEFAULT_LEASE_S,
        progress: int | None = None,
        message: str | None = None,
        output_tail: str | None = None,
    ) -> bool:
        """Renew a lease and record progress; True if a cancel was requested."""
        return self.leases.heartbeat(
            task_id, token, lease_s=lease_s, progress=progress, message=message, output_tail=output_tail
        )

    def record_process(self, task_id: int, token: str, *, pid: int, host: str = HOST) -> None:
        """Record the process (group) running an attempt, and its host; saved with the attempt."""
        self.leases.record_process(task_id, token, pid=pid, host=host)

    def settle_many(self, settlements: Sequence[Settlement], *, tasks: bool = True) -> list[Settled]:
        """End many attempts in one transaction; for each, its task (or, with `tasks` False, its
        id) or the error that refused it (see Leases.settle_many)."""
        return self.leases.settle_many(settlements, tasks=tasks)

    def settle_and_claim(
        self,
        settlements: Sequence[Settlement],
        worker_id: str,
        limit: int,
        *,
        agents: Iterable[str] | None = None,
        task_types: Iterable[str] | None = None,
        lease_s: float = DEFAULT_LEASE_S,
        tasks: bool = True,
    ) -> tuple[list[Settled], list[Claim]]:
        """settle_many then dequeue_many in one transaction (a worker pool's pass)."""
        return self.leases.settle_and_claim(
            settlements, worker_id, limit, agents=agents, task_types=task_types, lease_s=lease_s, tasks=tasks
        )

    def complete(
        self,
        task_id: int,
        token: str,
        result: Any = None,
        *,
        output_tail: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Task:
        """Mark a claimed task completed and release dependents whose dependencies are all done."""
        return self.leases.settle(Settlement.complete(task_id, token, result, output_tail=output_tail, details=details))

    def fail(
        self,
        task_id: int,
        token: str,
        error: str,
        *,
        traceback: str | None = None,
        retryable: bool = True,
        output_tail: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Task:
        """Record a failed attempt: retry after a backoff, or fail for good.

        The task fails for good when `retryable` is False or its retries are used up; it becomes
        cancelled instead if a cancel was requested while it ran. Dependents of a task that fails
        for good are cancelled.
        """
        return self.leases.settle(
            Settlement.fail(
                task_id, token, error, traceback=traceback, retryable=retryable, output_tail=output_tail,
                details=details,
            )
        )

    def release(
        self,
        task_id: int,
        token: str,
        reason: str = "worker shut down",
        *,
        output_tail: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Task:
        """Give a claimed task back without counting the attempt (used on graceful shutdown):
        pending again at once, the attempt logged as ``interrupted``."""
        return self.leases.settle(Settlement.release(task_id, token, reason, output_tail=output_tail, details=details))

    def park(
        self,
        task_id: int,
        token: str,
        until: float,
        message: str,
        *,
        output_tail: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Task:
        """The program stopped at a usage limit: the task waits (retrying) until `until` (epoch
        seconds), the attempt (outcome ``parked``) not counted against its retries."""
        return self.leases.settle(
            Settlement.park(task_id, token, until, message, output_tail=output_tail, details=details)
        )

    def cancel_requests(self, worker_id: str) -> list[int]:
        return self.leases.cancel_requests(worker_id)

    # -- the worker roster (Roster) -------------------------------------------------------------------

    def worker_beat(self, beat: Beat) -> None:
        """A worker pool is alive, with these counts (see Roster)."""
        self.roster.beat(beat)

    def worker_stopped(self, worker_id: str) -> None:
        self.roster.stopped(worker_id)

    def workers(self) -> list[Worker]:
        """Worker pools seen in the last day; `state` live, gone or stopped."""
        return self.roster.workers()

    # -- maintenance (Rescuer, Cleaner, Scheduler) ---------------------------------------------------

    def recover_expired_leases(self, programs: Programs | None = None) -> list[int]:
        """Put back tasks whose lease expired (their worker died or hung); returns their ids.
        With `programs`, one whose old program still runs on this host waits for it (Rescuer)."""
        return self.rescuer.run_once(self.store.clock(), programs)

    def cleanup(self, older_than: timedelta | float, *, batch: int = 5_000, archive: Archive | None = None) -> int:
        """Delete finished tasks (and their attempts) that finished more than `older_than` ago,
        after writing them to `archive` when given (see archive.py)."""
        return Cleaner(self.store, older_than, batch=batch, archive=archive).run_once(self.store.clock())

    def fire_due_schedules(self) -> list[Task]:
        """Enqueue one task for each enabled schedule that is due; returns the new tasks."""
        return self.scheduler.run_once(self.store.clock())

    # -- acting on tasks and the queue (Control) ----------------------------------------------------

    # Ids are checked here, once for every role: one past what the database holds is a
    # TaskValidationError naming the field, never an OverflowError from the driver.

    def cancel(self, task_id: int) -> Task:
        return self.control.cancel(_id(task_id))

    def cancel_many(self, ids: Iterable[int]) -> list[Task]:
        return self.control.cancel_many(check.task_ids("ids", ids))

    def retry(self, task_id: int, *, payload: Any = _UNCHANGED) -> Task:
        return self.control.retry(_id(task_id), payload=payload)

    def retry_matching(self, status: str | Iterable[str] = "failed", agent: str | None = None) -> RetryReport:
        """Retry every task in `status` (failed, cancelled or retrying) of `agent` (or of all)."""
        return self.control.retry_matching(status, agent)

    def delete_tasks(self, ids: Iterable[int]) -> int:
        return self.control.delete_tasks(check.task_ids("ids", ids))

    # -- the order of waiting tasks (QueueOrder) -----------------------------------------------------

    def run_now(self, task_id: int) -> Task:
        """Ready now, at priority 5 and ahead of every other ready task (see QueueOrder)."""
        return self.order.run_now(task_id)

    def set_priority(self, task_id: int, priority: int) -> Task:
        return self.order.set_priority(task_id, priority)

    def move(self, task_id: int, *, top: bool) -> Task:
        """First (`top`) or last among the ready tasks of its priority."""
        return self.order.move(task_id, top=top)

    def backlog(self, task_id: int) -> Task:
        return self.order.backlog(task_id)

    def release_backlogged(self, task_id: int) -> Task:
        """Put a backlogged task back in the queue (pending, or blocked on its dependencies)."""
        return self.order.release(task_id)

    def pause(self, agent: str | None = None) -> None:
        self.control.pause(agent)

    def resume(self, agent: str | None = None) -> None:
        self.control.resume(agent)

    def is_paused(self, agent: str | None = None) -> bool:
        return self.control.is_paused(agent)

    # -- reading (Reads) -------------------------------------------------------------------------------

    def get(self, task_id: int) -> Task:
        return self.reads.get(_id(task_id))

    def get_many(self, ids: Iterable[int]) -> dict[int, Task]:
        return self.reads.get_many(check.task_ids("ids", ids))

    def peek(self, limit: int = 10) -> list[Task]:
        return self.reads.peek(limit)

    def list_tasks(
        self,
        status: str | Iterable[str] | None = None,
        agent: str | None = None,
        search: str | None = None,
        offset: int = 0,
        limit: int = 100,
        *,
        before_id: int | None = None,
    ) -> list[Task]:
        return self.reads.list_tasks(status, agent, search, offset, limit, before_id=before_id)

    def count_tasks(
        self, status: str | Iterable[str] | None = None, agent: str | None = None, search: str | None = None
    ) -> int:
        return self.reads.count_tasks(status, agent, search)

    def page(
        self,
        status: str | Iterable[str] | None = None,
        agent: str | None = None,
        search: str | None = None,
        *,
        sort: str = "id",
        descending: bool = True,
        after: tuple[Any, int] | None = None,
        limit: int = 100,
    ) -> TaskPage:
        """A keyset page of tasks in any sort order (see Reads.page)."""
        return self.reads.page(status, agent, search, sort=sort, descending=descending, after=after, limit=limit)

    def dependencies(self, task_id: int) -> list[int]:
        return self.reads.dependencies(_id(task_id))

    def attempts(self, task_id: int) -> list[Attempt]:
        return self.reads.attempts(_id(task_id))

    def wait_reasons(self, tasks: Iterable[Task]) -> dict[int, str]:
        """Why each pending, blocked or retrying task among `tasks` is not running, by id (waits.py)."""
        return wait_reasons(self.store, tasks)

    def throughput_series(self, minutes: int = 60) -> list[tuple[datetime, int, int]]:
        return self.reads.throughput_series(minutes)

    def throughput(self, bucket_s: float, buckets: int) -> list[tuple[datetime, int, int]]:
        """(bucket start, succeeded, failed attempts) per bucket of `bucket_s` seconds over the
        last `buckets` buckets, oldest first (the chart: per minute, or from hourly totals)."""
        return totals.series(self.store, bucket_s, buckets)

    def attempt_totals(self) -> list[tuple[str, str, int, float]]:
        """(agent, outcome, attempts, total seconds) over all time: counters that never go down."""
        return totals.totals_by_agent(self.store)

    # -- lock keys (Locks) -------------------------------------------------------------------------------

    def set_lock_capacity(self, key: str, capacity: int) -> None:
        """Let at most `capacity` tasks with lock key `key` run at once (1 unless set)."""
        self.lock_keys.set_lock_capacity(key, capacity)

    def lock_capacity(self, key: str) -> int:
        return self.lock_keys.lock_capacity(key)

    def locks(self) -> list[LockInfo]:
        """Holders of lock keys now, with each key's capacity."""
        return self.lock_keys.locks()

    def stats(self) -> QueueStats:
        return self.reads.stats()

    # -- agents (Agents) -------------------------------------------------------------------------------

    def add_agent(
        self,
        name: str,
        kind: str,
        config: dict[str, Any] | None = None,
        *,
        concurrency: int = 1,
        timeout_s: float | None = None,
        max_retries: int | None = None,
        retry_base_s: float | None = None,
        retry_cap_s: float | None = None,
        paused: bool = False,
        notify_url: str | None = None,
        daily_budget_usd: float | None = None,
        escalate_priority: bool = False,
        max_pending: int | None = None,
    ) -> Agent:
        return self.agents.add_agent(
            name, kind, config, concurrency=concurrency, timeout_s=timeout_s, max_retries=max_retries,
            retry_base_s=retry_base_s, retry_cap_s=retry_cap_s, paused=paused, notify_url=notify_url,
            daily_budget_usd=daily_budget_usd, escalate_priority=escalate_priority, max_pending=max_pending,
        )

    def get_agent(self, name: str) -> Agent:
        return self.agents.get_agent(name)

    def list_agents(self) -> list[Agent]:
        return self.agents.list_agents()

    def update_agent(self, name: str, **changes: Any) -> Agent:
        return self.agents.update_agent(name, **changes)

    def remove_agent(self, name: str, *, cancel_tasks: bool = False) -> None:
        self.agents.remove_agent(name, cancel_tasks=cancel_tasks)

    # -- schedules (Schedules) ---------------------------------------------------------------------------

    def add_schedule(
        self,
        name: str,
        cron: str,
        agent: str,
        payload: Any = None,
        *,
        timezone: str = "UTC",
        priority: int = 3,
        lock_key: str | None = None,
        task_type: str | None = None,
        enabled: bool = True,
    ) -> Schedule:
        return self.schedules.add_schedule(
            name, cron, agent, payload, timezone=timezone, priority=priority, lock_key=lock_key,
            task_type=task_type, enabled=enabled,
        )

    def list_schedules(self) -> list[Schedule]:
        return self.schedules.list_schedules()

    def set_schedule_enabled(self, name: str, enabled: bool) -> Schedule:
        return self.schedules.set_schedule_enabled(name, enabled)

    def remove_schedule(self, name: str) -> None:
        self.schedules.remove_schedule(name)

    # -- repositories (Repos) and the folders tasks work in (WorkspaceRecords) ------------------------

    def add_repo(self, name: str, *, source: str, local_path: str, **settings: Any) -> Repo:
        """Register a repository whose folder was checked (desktop.workspaces.register_repo does
        that, and clones a URL): see Repos.add_repo for the settings."""
        return self.repos.add_repo(name, source=source, local_path=local_path, **settings)

    def get_repo(self, name: str) -> Repo:
        return self.repos.get_repo(name)

    def find_repo(self, ref: str) -> Repo | None:
        """The repository called `ref`, or registered from the path or URL `ref`."""
        return self.repos.find_repo(ref)

    def list_repos(self) -> list[Repo]:
        return self.repos.list_repos()

    def repo_waiting_counts(self) -> dict[str, int]:
        """How many tasks of each repository wait (pending, retrying or blocked)."""
        return self.repos.waiting_counts()

    def update_repo(self, name: str, **changes: Any) -> Repo:
        return self.repos.update_repo(name, **changes)

    def remove_repo(self, name: str) -> Repo:
        """Forget a repository; its folder (and a clone the app made) stays on disk."""
        return self.repos.remove_repo(name)

    def task_workspace(self, task_id: int) -> WorkspaceRecord | None:
        return self.workspaces.of_task(_id(task_id))

    # -- budgets and the ledger (Budgets) ---------------------------------------------------------------

    def enforce_budgets(self) -> list[str]:
        """Pause agents whose daily budget is spent, lift such pauses at local midnight (Budgets)."""
        return self.budgets.run_once(self.store.clock())

    def ledger(self, days: int = 7) -> Ledger:
        """Cost and tokens per agent, per repository, and per local day over the last `days`."""
        return ledger(self.store, self.store.clock(), days)


def _id(task_id: int) -> int:
    """A task id the database can hold (TaskValidationError on 'task_id' if not)."""
    return check.task_ids("task_id", [task_id])[0]
