"""Claude Code's ``--output-format stream-json --verbose`` lines, as events.

The documented shape: ``system``/``init`` (session_id, model, cwd, tools); ``assistant`` and
``user`` messages whose content blocks are ``text``, ``tool_use`` (name, input) and
``tool_result``; a last ``result`` (subtype success / error_max_turns / error_max_budget_usd /
error_during_execution, is_error, num_turns, result, session_id, total_cost_usd, usage,
api_error_status). Recent versions add ``rate_limit_event`` (rate_limit_info: status, resetsAt in
epoch seconds, rateLimitType) and ``system``/``api_retry``.
"""

from __future__ import annotations

from typing import Any

from desktop.agents.coding.events import (
    ApiRetry,
    AssistantText,
    ErrorEvent,
    Event,
    Other,
    RateLimit,
    Result,
    SessionStarted,
    ToolCall,
    ToolResult,
    as_dict,
    as_float,
    as_int,
    as_str,
    json_objects,
    raw,
    text_of,
)


class ClaudeStreamParser:
    """Turns stream-json lines into events; a line that is not JSON becomes `Raw`."""

    format = "claude-stream"

    def feed(self, line: str) -> list[Event]:
        events: list[Event] = []
        for part in json_objects(line):
            if isinstance(part, str):
                events.append(raw(part))
            else:
                events.extend(self._event(part))
        return events

    def _event(self, data: dict[str, Any]) -> list[Event]:
        kind = data.get("type")
        if kind == "system":
            return _system(data)
        if kind == "assistant":
            return _assistant(data)
        if kind == "user":
            return _user(data)
        if kind == "result":
            return [_result(data)]
        if kind == "rate_limit_event":
            info = as_dict(data.get("rate_limit_info"))
            status, limit = as_str(info.get("status")), as_str(info.get("rateLimitType"))
            return [RateLimit(status, as_float(info.get("resetsAt")), limit)]
        return [Other(str(kind))]


def _system(data: dict[str, Any]) -> list[Event]:
    subtype = data.get("subtype")
    if subtype == "init" and as_str(data.get("session_id")):
        return [SessionStarted(data["session_id"], as_str(data.get("model")), as_str(data.get("cwd")))]
    if subtype == "api_retry":
        error = data.get("error")
        message = error if isinstance(error, str) else text_of(error) or "the API request failed"
        status = as_int(data.get("error_status"))
        return [ApiRetry(f"{status}: {message}" if status else message, as_int(data.get("attempt")))]
    return [Other(f"system/{subtype}")]


def _assistant(data: dict[str, Any]) -> list[Event]:
    message = as_dict(data.get("message"))
    message_id = as_str(message.get("id"))
    events: list[Event] = []
    texts: list[str] = []
    for block in message.get("content") or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
            events.append(AssistantText(block["text"], message_id))
        elif block.get("type") == "tool_use":
            tool_input = as_dict(block.get("input"))
            events.append(ToolCall(str(block.get("name") or "tool"), tool_input, as_str(block.get("id")), message_id))
    error = as_str(data.get("error"))
    if error:  # e.g. "rate_limit", "authentication_failed": the message text says it in words
        events.append(ErrorEvent("\n".join(texts) or error, kind=error))
    return events or [Other("assistant")]


def _user(data: dict[str, Any]) -> list[Event]:
    message = as_dict(data.get("message"))
    content = message.get("content")
    events: list[Event] = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            call_id, output = as_str(block.get("tool_use_id")), text_of(block.get("content"))
            events.append(ToolResult(call_id, output, bool(block.get("is_error"))))
    return events or [Other("user")]


def _result(data: dict[str, Any]) -> Result:
    usage = as_dict(data.get("usage"))
    fresh = as_int(usage.get("input_tokens"))
    written = as_int(usage.get("cache_creation_input_tokens")) or 0
    read = as_int(usage.get("cache_read_input_tokens")) or 0
    result_text = data.get("result")
    return Result(
        subtype=as_str(data.get("subtype")),
        is_error=bool(data.get("is_error")),
        text=result_text if isinstance(result_text, str) else None,
        turns=as_int(data.get("num_turns")),
        cost_usd=as_float(data.get("total_cost_usd")),
        input_tokens=None if fresh is None else fresh + written + read,
        output_tokens=as_int(usage.get("output_tokens")),
        cached_tokens=read if fresh is not None else None,
        session_id=as_str(data.get("session_id")),
        api_error_status=as_int(data.get("api_error_status")),
        duration_ms=as_int(data.get("duration_ms")),
    )
