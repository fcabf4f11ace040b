"""What a new task is made of: one table of fields drives enqueue, enqueue_many, their validation
and the row written, and tells the command line and other callers what they may pass.

Adding a field means one entry in TASK_FIELDS (and its column in models.py and a migration):
enqueue and enqueue_many accept it, validate it with its rule, and store it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from desktop.errors import TaskValidationError
from desktop.queue import validation as check
from desktop.queue.retry import RetryPolicy

REQUIRED: Final = object()  # the default of a field that must be given


@dataclass(frozen=True, slots=True)
class TaskField:
    """One thing a caller may say about a new task.

    `type` names the value's kind for people and command-line parsers: str, int, float (seconds
    unless said otherwise), json, datetime (aware, or ISO 8601 with an offset), url, ids (task ids),
    bool.
    `inherits` names the agent setting, then the retry policy setting, that a None takes.
    """

    name: str
    type: str
    default: Any
    help: str
    rule: Callable[[str, Any], Any]  # (field name as reported, value) -> the value to store
    column: bool = True  # stored in the tasks column of the same name
    inherits: tuple[str, str | None] | None = None


def _payload_rule(limit: int) -> Callable[[str, Any], Any]:
    return lambda field, value: check.json_text(field, value, limit)


TASK_FIELDS: tuple[TaskField, ...] = (
    TaskField("agent", "str", REQUIRED, "the agent whose action runs the task", check.agent_ref),
    TaskField("payload", "json", None, "the value handed to the action (at most 1 MiB as JSON)", check.json_text),
    TaskField("priority", "int", 3, "1 (low) to 5: higher runs first", check.priority_value),
    TaskField("scheduled_for", "datetime", None, "not before this time (default: now)", check.timestamp),
    TaskField(
        "max_retries", "int", None, "retries after a failed attempt (default: the agent's, else the policy's)",
        check.retries, inherits=("max_retries", "max_retries"),
    ),
    TaskField(
        "lock_key", "str", None, "tasks sharing a lock key run at most its capacity at once (default 1)",
        check.key,
    ),
    TaskField("unique_key", "str", None, "while a task with this key is unfinished, enqueue returns it", check.key),
    TaskField("depends_on", "ids", (), "tasks that must complete first", check.task_ids, column=False),
    TaskField("task_type", "str", None, "a label workers can filter on", check.label),
    TaskField(
        "timeout_s", "float", None, "seconds the action may run (default: the agent's, else the worker's)",
        check.positive_seconds, inherits=("timeout_s", None),
    ),
    TaskField(
        "retry_base_s", "float", None, "backoff before the first retry, doubling after each (default: agent, policy)",
        check.non_negative_seconds, inherits=("retry_base_s", "base_s"),
    ),
    TaskField(
        "retry_cap_s", "float", None, "the longest backoff (default: the agent's, else the policy's)",
        check.non_negative_seconds, inherits=("retry_cap_s", "cap_s"),
    ),
    TaskField(
        "created_by", "str", None, "who or what enqueued it (shown in the history)",
        lambda field, value: check.label(field, value, check.MAX_CREATED_BY_LENGTH),
    ),
    TaskField(
        "notify_url", "url", None, "webhook told when it completes or fails for good (default: the agent's)",
        check.url, inherits=("notify_url", None),
    ),
    TaskField(
        "repo", "str", None,
        "the registered repository it works on: its name, path or URL (its lock key and workspace come with it)",
        check.key,
    ),
    TaskField(
        "backlog", "bool", False, "kept in the backlog, not run until released (agentq release ID)",
        check.flag, column=False,
    ),
    TaskField(
        "follow_up_of", "int", None,
        "a task of a repository this one continues after it completes: its worktree, branch and session",
        check.task_id,
    ),
)
FIELDS_BY_NAME: Mapping[str, TaskField] = {f.name: f for f in TASK_FIELDS}
# Each default in stored form, through its own rule once (a field left out costs nothing).
_DEFAULTS: Mapping[str, Any] = {f.name: f.rule(f.name, f.default) for f in TASK_FIELDS if f.default is not REQUIRED}


@dataclass(frozen=True, slots=True)
class NewTask:
    """A validated description of a task, by field name, in stored form: the payload as JSON text,
    times as epoch seconds; None where the agent or the retry policy decides."""

    values: Mapping[str, Any]

    @property
    def agent(self) -> str:
        return str(self.values["agent"])

    @property
    def unique_key(self) -> str | None:
        return self.values["unique_key"]  # type: ignore[no-any-return]

    @property
    def backlog(self) -> bool:
        return bool(self.values["backlog"])

    @property
    def depends_on(self) -> tuple[int, ...]:
        return self.values["depends_on"]  # type: ignore[no-any-return]

    def row(self, agent: Any, policy: RetryPolicy, *, status: str, now: float) -> dict[str, Any]:
        """The tasks row, with inherited settings resolved from `agent` (its row) and `policy`."""
        row: dict[str, Any] = {}
        for field in TASK_FIELDS:
            if not field.column:
                continue
            value = self.values[field.name]
            if value is None and field.inherits is not None:
                own, policy_setting = field.inherits
                value = getattr(agent, own)
                if value is None and policy_setting is not None:
                    value = getattr(policy, policy_setting)
            row[field.name] = value
        if row["scheduled_for"] is None:
            row["scheduled_for"] = now
        row.update(status=status, created_at=now, attempts=0, progress=0, cancel_requested=False, sort_order=0)
        return row


def new_task(
    values: Mapping[str, Any], *, prefix: str = "", max_payload_bytes: int = check.MAX_PAYLOAD_BYTES
) -> NewTask:
    """Validate one task's fields; errors name the field (after `prefix`, e.g. ``items[3].``).

    Raises TaskValidationError for an unknown field, a missing required one, or a value that
    breaks its field's rule. Nothing is written here.
    """
    unknown = sorted(set(values) - set(FIELDS_BY_NAME))
    if unknown:
        raise TaskValidationError(prefix + unknown[0], "is not an enqueue argument")
    parsed: dict[str, Any] = {}
    for field in TASK_FIELDS:
        if field.name not in values:
            if field.default is REQUIRED:
                raise TaskValidationError(prefix + field.name, "is required")
            parsed[field.name] = _DEFAULTS[field.name]  # checked once, below
            continue
        rule = _payload_rule(max_payload_bytes) if field.name == "payload" else field.rule
        parsed[field.name] = rule(prefix + field.name, values[field.name])
    parent = parsed["follow_up_of"]
    if parent is not None and parent not in parsed["depends_on"]:
        parsed["depends_on"] = (*parsed["depends_on"], parent)  # a follow-up runs after its parent
    return NewTask(parsed)


def new_tasks(items: Iterable[Any], *, max_payload_bytes: int = check.MAX_PAYLOAD_BYTES) -> list[NewTask]:
    """Validate every item of an enqueue_many call before anything is written."""
    result = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise TaskValidationError(f"items[{index}]", "must be a mapping of enqueue arguments")
        result.append(new_task(item, prefix=f"items[{index}].", max_payload_bytes=max_payload_bytes))
    return result
