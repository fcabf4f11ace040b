"""Agents: what runs a task (kind and config) and its limits (concurrency, timeout, retries)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from desktop.errors import NotFoundError, TaskStateError, TaskValidationError
from desktop.queue import validation as check
from desktop.queue.rows import agent_from_row
from desktop.queue.settling import Settler
from desktop.queue.store import Store
from desktop.queue.tables import FINISHED as _FINISHED
from desktop.queue.tables import G, T
from desktop.queue.types import Agent, TaskStatus

AgentValidator = Callable[[str, dict[str, Any]], None]


class SecretKeeper(Protocol):
    """Where agents' secrets live, so that the agents table holds references only (desktop.secrets)."""

    def keep(self, agent: str, kind: str, config: dict[str, Any]) -> dict[str, Any]:
        """`config` with its secrets stored and replaced by references."""
        ...

    def forget(self, agent: str, config: dict[str, Any], in_use: Iterable[dict[str, Any]]) -> None:
        """Delete `agent`'s own stored secrets that `config` refers to and no config of `in_use` does."""
        ...

_AGENT_FIELDS = frozenset(
    {
        "kind", "config", "concurrency", "timeout_s", "max_retries", "retry_base_s", "retry_cap_s",
        "paused", "notify_url", "daily_budget_usd", "escalate_priority", "max_pending",
    }
)


class Agents:
    """Defining, changing and removing agents. `validate_agent` (the agent kinds' check of a kind
    and its config) runs on every add and on changes of kind or config, when given; then
    `keep_secrets` takes the config's secrets out (to the keyring or a private file), so the
    agents table holds references only."""

    def __init__(
        self,
        store: Store,
        settler: Settler,
        validate_agent: AgentValidator | None = None,
        keep_secrets: SecretKeeper | None = None,
    ) -> None:
        self.store = store
        self.settler = settler
        self.validate_agent = validate_agent
        self.keep_secrets = keep_secrets

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
        """Define an agent. Its config is checked by `validate_agent` (the agent kinds) if set."""
        name = check.agent_name(name)
        values = self._agent_values(
            name,
            {
                "kind": kind, "config": config, "concurrency": concurrency, "timeout_s": timeout_s,
                "max_retries": max_retries, "retry_base_s": retry_base_s,
                "retry_cap_s": retry_cap_s, "paused": paused, "notify_url": notify_url,
                "daily_budget_usd": daily_budget_usd, "escalate_priority": escalate_priority,
                "max_pending": max_pending,
            },
        )
        now = self.store.clock()
        values.update(name=name, created_at=now, updated_at=now)
        try:
            with self.store.write() as conn:
                row = conn.execute(insert(G).values(values).returning(*G.c)).one()
        except IntegrityError as exc:
            raise TaskValidationError("name", f"an agent named {name!r} already exists") from exc
        return agent_from_row(row._mapping)

    def _agent_values(self, agent: str, fields: Mapping[str, Any], current: Agent | None = None) -> dict[str, Any]:
        unknown = sorted(set(fields) - _AGENT_FIELDS)
        if unknown:
            raise TaskValidationError(unknown[0], "is not an agent setting")
        values: dict[str, Any] = {}
        if "kind" in fields:
            values["kind"] = check.label("kind", fields["kind"]) or ""
            if not values["kind"].strip():
                raise TaskValidationError("kind", "must name an agent kind")
        if "config" in fields:
            values["config"] = check.agent_config(fields["config"])
        if "concurrency" in fields:
            values["concurrency"] = check.concurrency(fields["concurrency"])
        if "timeout_s" in fields:
            values["timeout_s"] = check.positive_seconds("timeout_s", fields["timeout_s"])
        if "max_retries" in fields:
            values["max_retries"] = check.retries("max_retries", fields["max_retries"])
        for name in ("retry_base_s", "retry_cap_s"):
            if name in fields:
                values[name] = check.non_negative_seconds(name, fields[name])
        if "paused" in fields:
            values["paused"] = bool(fields["paused"])
            values.update(pause_reason=None, paused_until=None)  # a user's pause or resume has no end
        if "daily_budget_usd" in fields:
            values["daily_budget_usd"] = check.dollars("daily_budget_usd", fields["daily_budget_usd"])
        if "escalate_priority" in fields:
            values["escalate_priority"] = check.flag("escalate_priority", fields["escalate_priority"])
        if "max_pending" in fields:
            values["max_pending"] = check.max_pending("max_pending", fields["max_pending"])
        if "notify_url" in fields:
            values["notify_url"] = check.url("notify_url", fields["notify_url"])
        if "kind" in fields or "config" in fields:
            kind = fields.get("kind", current.kind if current else "")
            config = fields.get("config", current.config if current else {}) or {}
            if self.validate_agent is not None:
                self.validate_agent(kind, config)
            if self.keep_secrets is not None:  # last: every check has passed
                values["config"] = check.agent_config(self.keep_secrets.keep(agent, kind, config))
        return values

    def get_agent(self, name: str) -> Agent:
        with self.store.read() as conn:
            row = conn.execute(select(G).where(G.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"agent: there is no agent named {name!r}")
        return agent_from_row(row._mapping)

    def list_agents(self) -> list[Agent]:
        with self.store.read() as conn:
            rows = conn.execute(select(G).order_by(G.c.name)).all()
        return [agent_from_row(r._mapping) for r in rows]

    def update_agent(self, name: str, **changes: Any) -> Agent:
        """Change an agent's settings (kind, config, concurrency, timeout_s, retries, paused)."""
        current = self.get_agent(name)
        values = self._agent_values(name, changes, current)
        values["updated_at"] = self.store.clock()
        with self.store.write() as conn:
            row = conn.execute(update(G).where(G.c.name == name).values(values).returning(*G.c)).first()
        if row is None:
            raise NotFoundError(f"agent: there is no agent named {name!r}")
        if "config" in values:
            self._forget_secrets(name, current.config)  # those the new config no longer refers to
        return agent_from_row(row._mapping)

    def _forget_secrets(self, name: str, config: dict[str, Any]) -> None:
        """Delete the stored secrets of agent `name` that `config` referred to and no agent's config
        refers to now (another agent's config may have been copied with its references)."""
        if self.keep_secrets is not None:
            self.keep_secrets.forget(name, config, [agent.config for agent in self.list_agents()])

    def move_secrets_out(self) -> list[str]:
        """Agents saved with their secrets in the config (by a version before `keep_secrets`):
        store those secrets and write references instead; returns the agents' names."""
        if self.keep_secrets is None:
            return []
        moved = []
        for agent in self.list_agents():
            config = self.keep_secrets.keep(agent.name, agent.kind, agent.config)
            if config != agent.config:
                with self.store.write() as conn:
                    conn.execute(update(G).where(G.c.name == agent.name).values(config=check.agent_config(config)))
                moved.append(agent.name)
        return moved

    def remove_agent(self, name: str, *, cancel_tasks: bool = False) -> None:
        """Delete an agent. Refused while it has unfinished tasks, unless `cancel_tasks` is set.

        Finished tasks keep the agent's name in the history.
        """
        with self.store.write() as conn:
            # The agent's row first: enqueues of it wait, or see it gone (they lock it to share).
            row = conn.execute(select(G).where(G.c.name == name).with_for_update()).first()
            if row is None:
                raise NotFoundError(f"agent: there is no agent named {name!r}")
            statuses = conn.execute(
                select(T.c.id, T.c.status)
                .where(T.c.agent == name, T.c.status.not_in(_FINISHED))
                .order_by(T.c.id)
                .with_for_update()
            ).all()
            unfinished = [task_id for task_id, _ in statuses]
            running = sum(status == TaskStatus.RUNNING.value for _, status in statuses)
            if unfinished and not cancel_tasks:
                raise TaskStateError(
                    f"agent {name!r} has {len(unfinished)} unfinished tasks; cancel them first "
                    "or remove it with cancel_tasks"
                )
            if running:
                raise TaskStateError(
                    f"agent {name!r} has {running} running tasks; wait for them or cancel them first"
                )
            for task_id in unfinished:
                self.settler.cancel_now(conn, task_id, "cancelled: its agent was removed", self.store.clock())
            conn.execute(delete(G).where(G.c.name == name))
        self._forget_secrets(name, agent_from_row(row._mapping).config)
