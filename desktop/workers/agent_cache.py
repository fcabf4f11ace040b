"""What a claimed task needs before a slot can run it: its agent's definition, kind and timeout.

A busy pool claims many tasks of the same agent each second, so `AgentCache` keeps each agent's
definition for AGENT_CACHE_S and, with it, the attempt timeouts worked out for that agent (see
desktop.agents.timeouts.attempt_timeout). `prepare` turns a claim into the task's running state;
a task whose agent is gone or whose kind is not installed here comes back with the reason it
cannot run. The dispatcher uses it; `forget_timeouts` may come from the thread that changes the
pool's settings (it swaps the whole dict).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

from desktop.agents.base import AgentKind, TaskContext
from desktop.agents.timeouts import attempt_timeout
from desktop.config import Settings
from desktop.errors import AgentQueueError
from desktop.queue import Agent, Claim, Task, TaskQueueService
from desktop.workers.execution import RunningTask

AGENT_CACHE_S = 2.0


class Prepared(NamedTuple):
    """A claimed task's running state, its agent kind (None: it cannot run here, `error` says why)
    and its agent's config."""

    running: RunningTask
    kind: AgentKind | None
    config: dict[str, Any]
    error: str


class AgentCache:
    """Agents' definitions and attempt timeouts, each kept for a moment."""

    def __init__(
        self, service: TaskQueueService, kinds: dict[str, AgentKind], worker_id: str, settings: Callable[[], Settings]
    ) -> None:
        self.service = service
        self.kinds = kinds
        self.worker_id = worker_id
        self._settings = settings  # the pool's current settings
        self._agents: dict[str, tuple[Agent, float]] = {}
        self._timeouts: dict[tuple[str, float | None], float] = {}  # (agent, task's own) -> seconds, with _agents

    def forget_timeouts(self) -> None:
        """Work the timeouts out again: the profile's default timeout may have changed."""
        self._timeouts = {}

    def prepare(self, claim: Claim) -> Prepared:
        task = claim.task
        agent: Agent | None
        error = ""
        try:
            agent = self._agent(task.agent)
        except AgentQueueError as exc:
            agent, kind, error = None, None, str(exc)
        else:
            kind = self.kinds.get(agent.kind)
            if kind is None:
                error = f"agent kind {agent.kind!r} is not installed on worker {self.worker_id}"
        timeout = self._timeout(task, agent, kind)
        ctx = TaskContext(task=task, timeout_s=timeout)
        running = RunningTask(task=task, token=claim.token, ctx=ctx, timeout_s=timeout)
        return Prepared(running, kind, agent.config if agent else {}, error)

    def _agent(self, name: str) -> Agent:
        now = time.monotonic()
        cached = self._agents.get(name)
        if cached is None or now - cached[1] > AGENT_CACHE_S:
            cached = (self.service.get_agent(name), now)
            self._agents[name] = cached
            self._timeouts = {key: value for key, value in self._timeouts.items() if key[0] != name}
        return cached[0]

    def _timeout(self, task: Task, agent: Agent | None, kind: AgentKind | None) -> float:
        """The attempt's timeout, kept with the agent's cached definition."""
        key = (task.agent, task.timeout_s)
        seconds = self._timeouts.get(key) if agent is not None else None
        if seconds is None:
            settings = self._settings()
            seconds = attempt_timeout(
                task_timeout_s=task.timeout_s, agent_timeout_s=agent.timeout_s if agent else None,
                config=agent.config if agent else None, kind=kind, profile_timeout_s=settings.timeout_s,
                profile=settings.profile,
            ).seconds
            if agent is not None:
                self._timeouts[key] = seconds
        return seconds
