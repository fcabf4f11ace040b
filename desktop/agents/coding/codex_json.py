"""Codex CLI's ``codex exec --json`` lines, as events.

The documented shape: ``thread.started`` (thread_id: the session to resume), ``turn.started``,
``item.started`` / ``item.updated`` / ``item.completed`` with an ``item`` of type
``agent_message`` (text), ``reasoning``, ``command_execution`` (command, aggregated_output,
exit_code, status), ``file_change`` (changes: path, kind), ``mcp_tool_call``, ``web_search``,
``todo_list`` or ``error``; then ``turn.completed`` with ``usage`` (input_tokens,
cached_input_tokens, output_tokens) or ``turn.failed`` with ``error.message``; ``error`` for a
failure of the stream itself. There is no cost field.
"""

from __future__ import annotations

from typing import Any

from desktop.agents.coding.events import (
    AssistantText,
    ErrorEvent,
    Event,
    Other,
    SessionStarted,
    ToolCall,
    ToolResult,
    TurnUsage,
    as_dict,
    as_int,
    as_str,
    json_objects,
    raw,
)

_TOOL_ITEMS = {"command_execution", "file_change", "mcp_tool_call", "web_search"}


class CodexJsonParser:
    """Turns ``exec --json`` lines into events. Keeps which items it has seen start, so a tool call
    is reported once whether Codex sends it as started-then-completed or only completed."""

    format = "codex-json"

    def __init__(self) -> None:
        self._started: set[str] = set()

    def feed(self, line: str) -> list[Event]:
        events: list[Event] = []
        for part in json_objects(line):
            if isinstance(part, str):
                events.append(raw(part))
            else:
                events.extend(self._event(part))
        return events

    def _event(self, data: dict[str, Any]) -> list[Event]:
        kind = str(data.get("type"))
        if kind == "thread.started" and as_str(data.get("thread_id")):
            return [SessionStarted(data["thread_id"])]
        if kind == "turn.completed":
            usage = as_dict(data.get("usage"))
            return [
                TurnUsage(
                    as_int(usage.get("input_tokens")) or 0,
                    as_int(usage.get("cached_input_tokens")) or 0,
                    as_int(usage.get("output_tokens")) or 0,
                )
            ]
        if kind == "turn.failed":
            error = as_dict(data.get("error"))
            return [ErrorEvent(as_str(error.get("message")) or "the turn failed", kind="turn.failed", fatal=True)]
        if kind == "error":
            return [ErrorEvent(as_str(data.get("message")) or "error", kind="error", fatal=True)]
        if kind in ("item.started", "item.updated", "item.completed") and isinstance(data.get("item"), dict):
            return self._item(kind, data["item"])
        return [Other(kind)]

    def _item(self, kind: str, item: dict[str, Any]) -> list[Event]:
        item_type = item.get("type")
        item_id = as_str(item.get("id"))
        if item_type == "agent_message":
            done = kind == "item.completed" and as_str(item.get("text"))
            return [AssistantText(item["text"])] if done else []  # turns are counted by turn.completed
        if item_type == "error":
            return [ErrorEvent(as_str(item.get("message")) or "error", kind="item.error")]
        if item_type not in _TOOL_ITEMS:
            return [Other(f"{kind}/{item_type}")]
        events: list[Event] = []
        if item_id is None or item_id not in self._started:
            if item_id is not None:
                self._started.add(item_id)
            events.append(_tool_call(item, item_id))
        if kind == "item.completed":
            events.append(_tool_result(item, item_id))
        return events


def _tool_call(item: dict[str, Any], item_id: str | None) -> ToolCall:
    item_type = item.get("type")
    if item_type == "command_execution":
        return ToolCall("shell", {"command": item.get("command")}, item_id)
    if item_type == "file_change":
        changes = [c for c in item.get("changes") or [] if isinstance(c, dict)]
        return ToolCall("edit", {"changes": changes}, item_id)
    if item_type == "mcp_tool_call":
        arguments = as_dict(item.get("arguments"))
        return ToolCall(f"{item.get('server')}.{item.get('tool')}", arguments, item_id)
    return ToolCall("web_search", {"query": item.get("query")}, item_id)


def _tool_result(item: dict[str, Any], item_id: str | None) -> ToolResult:
    status = item.get("status")
    failed = status in ("failed", "declined")
    if item.get("type") == "command_execution":
        code = as_int(item.get("exit_code"))
        output = as_str(item.get("aggregated_output")) or ""
        return ToolResult(item_id, output, failed or (code is not None and code != 0))
    if item.get("type") == "mcp_tool_call" and isinstance(item.get("error"), dict):
        return ToolResult(item_id, str(item["error"].get("message") or ""), True)
    return ToolResult(item_id, str(status or ""), failed)
