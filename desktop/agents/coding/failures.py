"""Why a coding agent's run failed, and what happens next: every rule in one table.

A run succeeded when the program exited 0 and, for programs with a result event, that result is
not an error. Otherwise the rules of RULES are tried in order, and the first that matches decides:

| rule              | evidence                                                  | outcome                     |
| ----------------- | --------------------------------------------------------- | --------------------------- |
| rate_limit_event  | a ``rate_limit_event`` not allowed, with ``resetsAt``     | park until the reset        |
| usage_limit_epoch | Claude's older "usage limit reached" text with an epoch   | park until the reset        |
| rate_limited      | HTTP 429, "rate limit exceeded", "hit your limit", ...    | park until the reset named  |
| not_logged_in     | HTTP 401, "invalid API key", "please run /login", ...     | fail now: how to log in     |
| unknown_flag      | "unknown option", "unexpected argument", ...              | fail now: update, fix flags |
| max_turns         | result ``error_max_turns`` (Gemini CLI: exit code 53)     | fail now, naming the limit  |
| max_budget        | result ``error_max_budget_usd``                           | fail now, naming the limit  |
| transient         | HTTP 5xx, "overloaded", connection reset, DNS, cut stream | retry with backoff          |
| empty_output      | the program printed nothing                               | retry with backoff          |
| failed            | anything else                                             | retry with backoff          |

A limit that names no reset time parks for DEFAULT_LIMIT_WAIT_S. UsageLimitReached carries the
reset time as announced; the worker adds its margin (execution.PARK_MARGIN_S) before the next try.

Parking raises UsageLimitReached (the engine waits, the attempt is not counted); failing now raises
PermanentError; retrying raises AgentRunFailed, an ordinary error. A program that is not installed
never gets this far: `not_installed` says how to install it. Text is matched only where programs
report errors (the result of a failed run, error events, lines that are not JSON), never in what the
agent wrote, so a prompt about "rate limiting" cannot look like a usage limit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from desktop.agents.base import PermanentError, UsageLimitReached
from desktop.agents.coding.summary import RunSummary

DEFAULT_LIMIT_WAIT_S = 15 * 60.0  # when a limit names no reset time
DETAIL_CHARS = 300


class AgentRunFailed(Exception):
    """A run failed in a way a later attempt may not (the service, the network, the agent itself)."""

    def __init__(self, message: str, *, rule: str, exit_code: int | None) -> None:
        super().__init__(message)
        self.rule = rule
        self.exit_code = exit_code


@dataclass(frozen=True)
class Evidence:
    """What a finished run left to judge it by."""

    program: str  # the preset's name: claude, codex, aider, gemini, cursor
    exit_code: int
    summary: RunSummary
    config: dict[str, Any] = field(default_factory=dict)
    advice: dict[str, str] = field(default_factory=dict)  # "login", "install": what the user should do

    @property
    def api_status(self) -> int | None:
        return self.summary.result.api_error_status if self.summary.result else None

    @property
    def subtype(self) -> str | None:
        return self.summary.result.subtype if self.summary.result else None

    @property
    def error_text(self) -> str:
        """Everything the program said about an error, newest last."""
        parts: list[str] = []
        result = self.summary.result
        if result is not None and result.is_error and result.text:
            parts.append(result.text)
        parts.extend(e.message for e in self.summary.errors)
        parts.extend(e.kind for e in self.summary.errors if e.kind)
        parts.extend(self.summary.raw_tail)
        return "\n".join(parts)

    def detail(self) -> str:
        """The most telling error message, shortened."""
        result = self.summary.result
        candidates = [e.message for e in self.summary.errors if e.fatal] + [e.message for e in self.summary.errors]
        if result is not None and result.is_error and result.text:
            candidates.insert(0, result.text)
        candidates += [line for line in reversed(self.summary.raw_tail) if line.strip()]
        text = next((c for c in candidates if c and c.strip()), "")
        text = " ".join(text.split())
        return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


def succeeded(evidence: Evidence, structured: bool) -> bool:
    """Exit code 0 and, for programs with a result event (`structured`), a result that is not an error."""
    if evidence.exit_code != 0:
        return False
    summary = evidence.summary
    if summary.result is not None:
        return not summary.result.is_error and summary.result.subtype in (None, "success")
    if any(e.fatal for e in summary.errors):
        return False
    # A structured run that never reported a turn or a result did not happen.
    return not (structured and summary.result is None and not summary.turns_seen)


Rule = Callable[[Evidence, float], BaseException | None]

_EPOCH_RE = re.compile(r"usage limit reached\|(\d{9,11})", re.IGNORECASE)
_RATE_RE = re.compile(
    r"rate[ _-]?limit(?:ed|_error| exceeded| reached)|usage limit|hit your limit|too many requests|quota exceeded"
    r"|resource_exhausted|out of (?:extra )?usage|429 too many requests|status(?: code)?:? 429|error:? 429"
    r"|\b429 \{",
    re.IGNORECASE,
)
_LOGIN_RE = re.compile(
    r"invalid api key|please run /login|run /login|not logged in|missing api key|authentication_failed"
    r"|authentication_error|401 unauthorized|status(?: code)?:? 401|\b401 \{|oauth token has expired"
    r"|invalid x-api-key|codex login"
    r"|please sign in|not authenticated|no api key",
    re.IGNORECASE,
)
_FLAG_RE = re.compile(
    r"unknown option|unexpected argument|unrecognized arguments?|unknown argument|unrecognized option"
    r"|invalid value .* for '--",
    re.IGNORECASE,
)
_TRANSIENT_RE = re.compile(
    r"overloaded|api error:? 5\d\d|status(?: code)?:? 5\d\d|\b5\d\d \{|internal server error|bad gateway"
    r"|service unavailable|gateway timeout|econnreset"
    r"|econnrefused|etimedout|enotfound|eai_again|fetch failed|network error|connection error|connection reset"
    r"|socket hang up|stream disconnected|timed out|temporarily unavailable",
    re.IGNORECASE,
)


def _park(resets_at: float, why: str) -> UsageLimitReached:
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(resets_at))
    return UsageLimitReached(resets_at, f"{why}; it resets at {when}")


def rate_limit_event(e: Evidence, now: float) -> BaseException | None:
    limit = e.summary.rate_limit
    if limit is None or limit.resets_at is None:
        return None
    kind = f" ({limit.limit_type})" if limit.limit_type else ""
    return _park(limit.resets_at, f"{e.program} hit its usage limit{kind}")


def usage_limit_epoch(e: Evidence, now: float) -> BaseException | None:
    match = _EPOCH_RE.search(e.error_text)
    return _park(float(match.group(1)), f"{e.program} hit its usage limit") if match else None


def rate_limited(e: Evidence, now: float) -> BaseException | None:
    if e.api_status != 429 and not _RATE_RE.search(e.error_text):
        return None
    resets_at = reset_time(e.error_text, now)
    if resets_at is None:
        return _park(now + DEFAULT_LIMIT_WAIT_S, f"{e.program} was rate limited: {e.detail()}")
    return _park(resets_at, f"{e.program} was rate limited: {e.detail()}")


def not_logged_in(e: Evidence, now: float) -> BaseException | None:
    if e.api_status != 401 and not _LOGIN_RE.search(e.error_text):
        return None
    return PermanentError(f"{e.program} is not logged in ({e.detail()}): {e.advice.get('login', 'log in first')}")


def unknown_flag(e: Evidence, now: float) -> BaseException | None:
    if not _FLAG_RE.search(e.error_text):
        return None
    return PermanentError(
        f"{e.program} does not accept the arguments it was given ({e.detail()}): update {e.program}, "
        "or fix config.extra_args"
    )


def max_turns(e: Evidence, now: float) -> BaseException | None:
    if e.subtype != "error_max_turns" and not (e.program == "gemini" and e.exit_code == 53):
        return None
    limit = e.config.get("max_turns")
    setting = f" (config.max_turns = {limit})" if limit is not None else ""
    return PermanentError(f"{e.program} stopped at its turn limit{setting} before finishing")


def max_budget(e: Evidence, now: float) -> BaseException | None:
    if e.subtype != "error_max_budget_usd":
        return None
    limit = e.config.get("max_budget_usd")
    setting = f" (config.max_budget_usd = {limit})" if limit is not None else ""
    return PermanentError(f"{e.program} stopped at its budget limit{setting} before finishing")


def transient(e: Evidence, now: float) -> BaseException | None:
    status = e.api_status
    if not (status is not None and status >= 500) and not _TRANSIENT_RE.search(e.error_text):
        return None
    return AgentRunFailed(
        f"{e.program} failed for a passing reason (service or network): {e.detail()}", rule="transient",
        exit_code=e.exit_code,
    )


def empty_output(e: Evidence, now: float) -> BaseException | None:
    if e.summary.lines:
        return None
    return AgentRunFailed(
        f"{e.program} printed nothing and exited with code {e.exit_code}", rule="empty_output", exit_code=e.exit_code
    )


def failed(e: Evidence, now: float) -> BaseException | None:
    detail = e.detail() or (e.summary.error_subtype or "no message")
    message = f"{e.program} failed (exit code {e.exit_code}): {detail}"
    return AgentRunFailed(message, rule="failed", exit_code=e.exit_code)


RULES: tuple[tuple[str, Rule], ...] = (
    ("rate_limit_event", rate_limit_event),
    ("usage_limit_epoch", usage_limit_epoch),
    ("rate_limited", rate_limited),
    ("not_logged_in", not_logged_in),
    ("unknown_flag", unknown_flag),
    ("max_turns", max_turns),
    ("max_budget", max_budget),
    ("transient", transient),
    ("empty_output", empty_output),
    ("failed", failed),
)


def classify(evidence: Evidence, *, structured: bool, now: float | None = None) -> tuple[str, BaseException] | None:
    """None for a successful run; else the name of the first matching rule and the error to raise."""
    if succeeded(evidence, structured):
        return None
    moment = time.time() if now is None else now
    for name, rule in RULES:
        error = rule(evidence, moment)
        if error is not None:
            return name, error
    raise AssertionError("the last rule always matches")  # pragma: no cover


def not_installed(program: str, cli: str, install: str) -> PermanentError:
    """The program to run is not there: say how to install it, or where to point config.cli."""
    return PermanentError(f"{cli!r} was not found: install {program} ({install}), or set config.cli to its path")


_IN_RE = re.compile(
    r"(?:try again|resets?|available again)\s+in\s+((?:\d+\s*(?:d|days?|h|hours?|hrs?|m|min|mins|minutes?|s|secs?"
    r"|seconds?)\b[\s,]*(?:and\s+)?)+)",
    re.IGNORECASE,
)
_UNIT_RE = re.compile(r"(\d+)\s*(d|days?|h|hours?|hrs?|m|mins?|minutes?|s|secs?|seconds?)\b")
_AT_EPOCH_RE = re.compile(r"resets?\s*(?:at\s*)?[|:]?\s*(\d{10})\b", re.IGNORECASE)
_AT_CLOCK_RE = re.compile(
    r"(?:try again|resets?)\s+(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*([ap]\.?m\.?)?"
    r"(?:\s*\(([A-Za-z_]+/[A-Za-z_/]+|UTC)\))?",
    re.IGNORECASE,
)
_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def reset_time(text: str, now: float) -> float | None:
    """When a limit message says it resets: ``usage limit reached|1753077600``, ``resets at 1753077600``,
    ``try again in 2 hours 5 minutes``,
    ``resets 2pm (Europe/Paris)``, ``try again at 3:28 PM`` (local time); None when it does not say."""
    match = _EPOCH_RE.search(text) or _AT_EPOCH_RE.search(text)
    if match:
        return float(match.group(1))
    match = _IN_RE.search(text)
    if match:
        seconds = sum(int(n) * _SECONDS[unit[0].lower()] for n, unit in _UNIT_RE.findall(match.group(1)))
        return now + seconds if seconds else None
    match = _AT_CLOCK_RE.search(text)
    if match:
        return _next_clock_time(match, now)
    return None


def _next_clock_time(match: re.Match[str], now: float) -> float | None:
    hour, minute, meridiem, zone_name = match.group(1), match.group(2), match.group(3), match.group(4)
    if minute is None and meridiem is None:
        return None  # a bare number is not a time of day
    hour_n, minute_n = int(hour), int(minute or 0)
    if meridiem:
        if not 1 <= hour_n <= 12:
            return None
        hour_n = hour_n % 12 + (12 if meridiem.lower().startswith("p") else 0)
    if hour_n > 23 or minute_n > 59:
        return None
    try:
        zone = ZoneInfo(zone_name) if zone_name else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    current = datetime.fromtimestamp(now, zone) if zone else datetime.fromtimestamp(now).astimezone()
    moment = current.replace(hour=hour_n, minute=minute_n, second=0, microsecond=0)
    if moment.timestamp() <= now:
        moment += timedelta(days=1)
    return moment.timestamp()
