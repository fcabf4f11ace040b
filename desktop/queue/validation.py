"""Checks on what callers hand the queue; each failure names the field and the rule."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from desktop.errors import TaskValidationError

MAX_PAYLOAD_BYTES = 1 << 20
MAX_KEY_LENGTH = 500
MAX_LABEL_LENGTH = 100
MAX_CREATED_BY_LENGTH = 200
PRIORITY_MIN, PRIORITY_MAX = 1, 5
MAX_RETRIES = 1_000_000
MAX_SECONDS = 100 * 366 * 86_400  # a century: any wait, timeout or backoff; epoch + this fits a datetime
# The times a datetime (and so every reader) can hold, a day inside year 1 and year 9999.
MIN_TIMESTAMP = datetime(1, 1, 2, tzinfo=UTC).timestamp()
MAX_TIMESTAMP = datetime(9999, 12, 30, tzinfo=UTC).timestamp()
MAX_TASK_ID = 2**63 - 1
MAX_CONCURRENCY = 1_000_000  # also a lock key's capacity
MAX_DETAILS_BYTES = 256 * 1024
DETAIL_SUMS = ("cost_usd", "input_tokens", "output_tokens", "cached_tokens")  # attempt columns, for sums
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def json_text(field: str, value: Any, limit: int = MAX_PAYLOAD_BYTES) -> str:
    """Serialise `value` as JSON text no larger than `limit` bytes."""
    if value is None:  # most results: skip the encoder
        return "null"
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        size = len(text.encode("utf-8"))  # a lone surrogate cannot be encoded
    except RecursionError as exc:
        raise TaskValidationError(field, "is nested too deeply to be stored as JSON") from exc
    except (TypeError, ValueError) as exc:
        raise TaskValidationError(field, f"must be JSON-serialisable ({exc})") from exc
    if size > limit:
        raise TaskValidationError(field, f"is {size:,} bytes as JSON; the limit is {limit:,} bytes")
    return text


def agent_ref(field: str, value: Any) -> str:
    """The name of the agent a task is for (that it exists is checked when the task is written)."""
    if not isinstance(value, str) or not value.strip():
        raise TaskValidationError(field, "must be the name of an agent")
    return value


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
    try:
        epoch = value.timestamp()
    except (OverflowError, ValueError, OSError):
        epoch = math.inf
    if not MIN_TIMESTAMP <= epoch <= MAX_TIMESTAMP:
        raise TaskValidationError(field, f"must be between the years 1 and 9999 in UTC (got {value.isoformat()})")
    return epoch


def epoch_seconds(field: str, value: Any) -> float:
    """A time as UTC epoch seconds (a number), within what a datetime holds."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not MIN_TIMESTAMP <= value <= MAX_TIMESTAMP:
        raise TaskValidationError(field, f"must be a time in epoch seconds between the years 1 and 9999 (got {value!r})")
    return float(value)


def attempt_details(details: Mapping[str, Any] | None) -> tuple[dict[str, Any], str | None]:
    """What an action reported about an attempt, split for storage: the sums (cost_usd and the
    token counts) for their columns, and everything else as JSON text.

    Raises TaskValidationError naming the key (``details.cost_usd``) for a value that breaks its rule.
    """
    sums: dict[str, Any] = dict.fromkeys(DETAIL_SUMS)
    if details is None:
        return sums, None
    if not isinstance(details, Mapping):
        raise TaskValidationError("details", "must be a mapping of attempt details")
    rest: dict[str, Any] = {}
    for key, value in details.items():
        if not isinstance(key, str):
            raise TaskValidationError("details", f"keys must be strings (got {key!r})")
        if key not in DETAIL_SUMS or value is None:
            rest[key] = value
        elif key == "cost_usd":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf
            if not ok:
                raise TaskValidationError("details.cost_usd", f"must be a number of US dollars, 0 or more (got {value!r})")
            sums[key] = float(value)
        else:
            sums[key] = non_negative_int(f"details.{key}", value)
    return sums, (json_text("details", rest, MAX_DETAILS_BYTES) if rest else None)


def dollars(field: str, value: Any) -> float | None:
    """None, or a positive, finite amount of US dollars."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise TaskValidationError(field, f"must be a positive number of US dollars (got {value!r})")
    return float(value)


def non_negative_int(field: str, value: Any, limit: int = MAX_TASK_ID) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise TaskValidationError(field, f"must be a whole number, 0 or more and at most {limit:,} (got {value!r})")
    return value


def retries(field: str, value: Any) -> int | None:
    """A number of retries: 0 to MAX_RETRIES."""
    return non_negative_int(field, value, MAX_RETRIES)


def _seconds(field: str, value: Any, *, allow_zero: bool, limit: float = MAX_SECONDS) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and -math.inf < value < math.inf
    if not ok or value < 0 or (value == 0 and not allow_zero) or value > limit:
        rule = "0 or more" if allow_zero else "more than 0"
        raise TaskValidationError(
            field, f"must be a number of seconds, {rule} and at most {limit:,.0f} (got {value!r})"
        )
    return float(value)


def positive_seconds(field: str, value: Any) -> float | None:
    """A timeout: more than 0 seconds and at most MAX_SECONDS."""
    return _seconds(field, value, allow_zero=False)


def non_negative_seconds(field: str, value: Any) -> float | None:
    """A backoff or a wait: 0 to MAX_SECONDS seconds."""
    return _seconds(field, value, allow_zero=True)


def age_seconds(field: str, value: Any) -> float:
    """An age such as a retention period: any finite number of seconds, 0 or more."""
    seconds = _seconds(field, value, allow_zero=True, limit=math.inf)
    if seconds is None:
        raise TaskValidationError(field, "must be a number of seconds, 0 or more")
    return seconds


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
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TASK_ID:
            raise TaskValidationError(field, f"must hold task ids, positive integers (got {value!r})")
    return ids


def task_id(field: str, value: Any) -> int | None:
    """None, or one task id."""
    if value is None:
        return None
    return task_ids(field, [value])[0]


def url(field: str, value: Any) -> str | None:
    """None, or an http(s) URL with a host."""
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 2000:
        raise TaskValidationError(field, "must be an http:// or https:// URL")
    return str(value)


def flag(field: str, value: Any) -> bool:
    """A yes/no value: JSON true or false only (not 1, 0 or "yes")."""
    if not isinstance(value, bool):
        raise TaskValidationError(field, f"must be true or false (got {value!r})")
    return value


def max_pending(field: str, value: Any) -> int | None:
    """None (no limit) or a limit of waiting tasks, 1 or more."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TASK_ID:
        raise TaskValidationError(field, f"must be a whole number, 1 or more (got {value!r})")
    return value


def agent_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise TaskValidationError(
            "name",
            "must be 1-100 characters: letters, digits, '_', '.', '-', starting with a letter or digit",
        )
    return value


def concurrency(value: Any, field: str = "concurrency") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise TaskValidationError(
            field, f"must be a whole number, 1 or more and at most {MAX_CONCURRENCY:,} (got {value!r})"
        )
    return value


def agent_config(value: Any) -> str:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise TaskValidationError("config", "must be a JSON object (a dict)")
    return json_text("config", value)
