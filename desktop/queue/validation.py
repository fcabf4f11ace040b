"""Checks on what callers hand the queue; each failure names the field and the rule."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from desktop.errors import TaskValidationError

MAX_PAYLOAD_BYTES = 1 << 20
MAX_KEY_LENGTH = 500
MAX_LABEL_LENGTH = 100
MAX_CREATED_BY_LENGTH = 200
PRIORITY_MIN, PRIORITY_MAX = 1, 5
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

ENQUEUE_FIELDS = frozenset(
    {
        "agent", "payload", "priority", "scheduled_for", "max_retries", "lock_key", "unique_key",
        "depends_on", "task_type", "timeout_s", "retry_base_s", "retry_cap_s", "created_by",
        "notify_url",
    }
)


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task that passed validation, with its payload already serialised."""

    agent: str
    payload_json: str
    priority: int
    scheduled_for: float | None
    max_retries: int | None
    lock_key: str | None
    unique_key: str | None
    depends_on: tuple[int, ...]
    task_type: str | None
    timeout_s: float | None
    retry_base_s: float | None
    retry_cap_s: float | None
    created_by: str | None
    notify_url: str | None = None


def new_task(
    agent: str,
    payload: Any = None,
    *,
    priority: int = 3,
    scheduled_for: datetime | str | None = None,
    max_retries: int | None = None,
    lock_key: str | None = None,
    unique_key: str | None = None,
    depends_on: Iterable[int] = (),
    task_type: str | None = None,
    timeout_s: float | None = None,
    retry_base_s: float | None = None,
    retry_cap_s: float | None = None,
    created_by: str | None = None,
    notify_url: str | None = None,
    max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    prefix: str = "",
) -> NewTask:
    """Validate one task's arguments (the same as TaskQueueService.enqueue's)."""
    if not isinstance(agent, str) or not agent.strip():
        raise TaskValidationError(prefix + "agent", "must be the name of an agent")
    return NewTask(
        agent=agent,
        payload_json=json_text(prefix + "payload", payload, max_payload_bytes),
        priority=priority_value(prefix + "priority", priority),
        scheduled_for=timestamp(prefix + "scheduled_for", scheduled_for),
        max_retries=non_negative_int(prefix + "max_retries", max_retries),
        lock_key=key(prefix + "lock_key", lock_key),
        unique_key=key(prefix + "unique_key", unique_key),
        depends_on=task_ids(prefix + "depends_on", depends_on),
        task_type=label(prefix + "task_type", task_type),
        timeout_s=positive_seconds(prefix + "timeout_s", timeout_s),
        retry_base_s=non_negative_seconds(prefix + "retry_base_s", retry_base_s),
        retry_cap_s=non_negative_seconds(prefix + "retry_cap_s", retry_cap_s),
        created_by=label(prefix + "created_by", created_by, MAX_CREATED_BY_LENGTH),
        notify_url=url(prefix + "notify_url", notify_url),
    )


def new_tasks(items: Iterable[Mapping[str, Any]], max_payload_bytes: int) -> list[NewTask]:
    """Validate every item of an enqueue_many call before anything is written."""
    result = []
    for index, item in enumerate(items):
        prefix = f"items[{index}]."
        if not isinstance(item, Mapping):
            raise TaskValidationError(f"items[{index}]", "must be a mapping of enqueue arguments")
        unknown = sorted(set(item) - ENQUEUE_FIELDS)
        if unknown:
            raise TaskValidationError(prefix + unknown[0], "is not an enqueue argument")
        if "agent" not in item:
            raise TaskValidationError(prefix + "agent", "is required")
        result.append(new_task(**item, max_payload_bytes=max_payload_bytes, prefix=prefix))
    return result


def json_text(field: str, value: Any, limit: int = MAX_PAYLOAD_BYTES) -> str:
    """Serialise `value` as JSON text no larger than `limit` bytes."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TaskValidationError(field, f"must be JSON-serialisable ({exc})") from exc
    size = len(text.encode("utf-8"))
    if size > limit:
        raise TaskValidationError(field, f"is {size:,} bytes as JSON; the limit is {limit:,} bytes")
    return text


def priority_value(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not PRIORITY_MIN <= value <= PRIORITY_MAX:
        raise TaskValidationError(
            field, f"must be an integer from {PRIORITY_MIN} to {PRIORITY_MAX} (got {value!r})"
        )
    return value


def timestamp(field: str, value: datetime | str | None) -> float | None:
    """A timezone-aware datetime or ISO 8601 string with an offset, as UTC epoch seconds."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise TaskValidationError(
                field, f"must be an ISO 8601 date and time with a UTC offset (got {value!r})"
            ) from exc
    if not isinstance(value, datetime):
        raise TaskValidationError(field, "must be a timezone-aware datetime or an ISO 8601 string")
    if value.tzinfo is None or value.utcoffset() is None:
        raise TaskValidationError(
            field, "must be timezone-aware (a naive datetime is ambiguous; add a UTC offset)"
        )
    return value.timestamp()


def non_negative_int(field: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TaskValidationError(field, f"must be a whole number, 0 or more (got {value!r})")
    return value


def _seconds(field: str, value: Any, *, allow_zero: bool) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        rule = "0 or more" if allow_zero else "more than 0"
        raise TaskValidationError(field, f"must be a number of seconds, {rule} (got {value!r})")
    return float(value)


def positive_seconds(field: str, value: Any) -> float | None:
    return _seconds(field, value, allow_zero=False)


def non_negative_seconds(field: str, value: Any) -> float | None:
    return _seconds(field, value, allow_zero=True)


def key(field: str, value: Any) -> str | None:
    """A lock or unique key: None, or a non-blank string of at most MAX_KEY_LENGTH characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise TaskValidationError(field, "must be a non-empty string")
    if len(value) > MAX_KEY_LENGTH:
        raise TaskValidationError(field, f"must be at most {MAX_KEY_LENGTH} characters (got {len(value)})")
    return value


def label(field: str, value: Any, limit: int = MAX_LABEL_LENGTH) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise TaskValidationError(field, f"must be a string of at most {limit} characters")
    return value


def task_ids(field: str, values: Iterable[int]) -> tuple[int, ...]:
    try:
        ids = tuple(dict.fromkeys(values))
    except TypeError as exc:
        raise TaskValidationError(field, "must be a list of task ids") from exc
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TaskValidationError(field, f"must hold task ids, positive integers (got {value!r})")
    return ids


def url(field: str, value: Any) -> str | None:
    """None, or an http(s) URL with a host."""
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 2000:
        raise TaskValidationError(field, "must be an http:// or https:// URL")
    return value


def agent_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise TaskValidationError(
            "name",
            "must be 1-100 characters: letters, digits, '_', '.', '-', starting with a letter or digit",
        )
    return value


def concurrency(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TaskValidationError("concurrency", f"must be a whole number, 1 or more (got {value!r})")
    return value


def agent_config(value: Any) -> str:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise TaskValidationError("config", "must be a JSON object (a dict)")
    return json_text("config", value)
