"""The parsers on good lines, broken lines (cut, not JSON, an event written mid-line) and odd ones."""

from __future__ import annotations

import json

import pytest

from desktop.agents.coding import (
    ApiRetry,
    AssistantText,
    ErrorEvent,
    RateLimit,
    Raw,
    Result,
    SessionStarted,
    ToolCall,
    ToolResult,
    TurnUsage,
    parser_for,
)
from desktop.agents.coding.events import SALVAGE_MAX_CHARS, Other, json_objects


def claude(*events: object) -> list:
    parser = parser_for("claude-stream")
    out = []
    for event in events:
        out.extend(parser.feed(event if isinstance(event, str) else json.dumps(event)))
    return out


def codex(*events: object) -> list:
    parser = parser_for("codex-json")
    out = []
    for event in events:
        out.extend(parser.feed(event if isinstance(event, str) else json.dumps(event)))
    return out


def test_claude_init_gives_the_session() -> None:
    line = {"type": "system", "subtype": "init", "session_id": "s-1", "model": "claude-x", "cwd": "/w", "tools": []}
    assert claude(line) == [SessionStarted("s-1", "claude-x", "/w")]


def test_claude_assistant_blocks_become_text_and_tool_calls() -> None:
    message = {
        "id": "msg_1",
        "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_1", "name": "Edit", "input": {"file_path": "/w/a.py", "old_string": "x"}},
            {"type": "thinking", "thinking": "hmm"},
        ],
    }
    assert claude({"type": "assistant", "message": message, "session_id": "s"}) == [
        AssistantText("Let me look.", "msg_1"),
        ToolCall("Edit", {"file_path": "/w/a.py", "old_string": "x"}, "toolu_1", "msg_1"),
    ]


def test_claude_tool_results_with_string_or_block_content() -> None:
    blocks = [
        {"type": "tool_result", "tool_use_id": "t1", "content": "ok"},
        {"type": "tool_result", "tool_use_id": "t2", "is_error": True,
         "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
    ]
    assert claude({"type": "user", "message": {"role": "user", "content": blocks}}) == [
        ToolResult("t1", "ok", False),
        ToolResult("t2", "a\nb", True),
    ]


def test_claude_result_counts_every_input_token_and_the_cached_part() -> None:
    line = {
        "type": "result", "subtype": "success", "is_error": False, "duration_ms": 5000, "num_turns": 6,
        "result": "All done.", "session_id": "s-1", "total_cost_usd": 0.4321,
        "usage": {"input_tokens": 100, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 3000,
                  "output_tokens": 700},
    }
    assert claude(line) == [
        Result("success", False, "All done.", 6, 0.4321, 3120, 700, 3000, "s-1", None, 5000)
    ]


def test_claude_error_results_keep_the_subtype_and_the_api_status() -> None:
    (result,) = claude({"type": "result", "subtype": "success", "is_error": True, "result": "API Error: 529",
                        "api_error_status": 529})
    assert isinstance(result, Result) and result.is_error and result.api_error_status == 529
    (turns,) = claude({"type": "result", "subtype": "error_max_turns", "is_error": True, "num_turns": 3})
    assert turns.subtype == "error_max_turns" and turns.text is None and turns.input_tokens is None


def test_claude_rate_limit_events_and_retries() -> None:
    info = {"status": "rejected", "resetsAt": 1778565600, "rateLimitType": "five_hour", "overageStatus": "rejected"}
    assert claude({"type": "rate_limit_event", "rate_limit_info": info}) == [
        RateLimit("rejected", 1778565600.0, "five_hour")
    ]
    assert claude({"type": "rate_limit_event", "rate_limit_info": {"status": "allowed", "isUsingOverage": False}}) == [
        RateLimit("allowed", None, None)
    ]
    assert claude({"type": "rate_limit_event"}) == [RateLimit(None, None, None)]
    retry = {"type": "system", "subtype": "api_retry", "attempt": 2, "error_status": 529, "error": "overloaded_error"}
    assert claude(retry) == [ApiRetry("529: overloaded_error", 2)]


def test_claude_assistant_errors_are_error_events_with_their_kind() -> None:
    line = {"type": "assistant", "message": {"id": "m", "content": [{"type": "text", "text": "Invalid API key"}]},
            "error": "authentication_failed"}
    assert claude(line) == [
        AssistantText("Invalid API key", "m"),
        ErrorEvent("Invalid API key", kind="authentication_failed"),
    ]


def test_claude_lines_of_no_interest_are_other() -> None:
    assert claude({"type": "system", "subtype": "status"}, {"type": "stream_event"}) == [
        Other("system/status"), Other("stream_event"),
    ]


def test_codex_thread_items_and_usage() -> None:
    command = {"id": "item_0", "type": "command_execution", "command": "bash -lc ls", "aggregated_output": "",
               "exit_code": None, "status": "in_progress"}
    events = codex(
        {"type": "thread.started", "thread_id": "th-1"},
        {"type": "turn.started"},
        {"type": "item.started", "item": command},
        {"type": "item.completed", "item": {**command, "aggregated_output": "a\n", "exit_code": 2, "status": "failed"}},
        {"type": "item.completed", "item": {"id": "item_1", "type": "file_change", "status": "completed",
                                            "changes": [{"path": "/w/a.py", "kind": "update"}]}},
        {"type": "item.completed", "item": {"id": "item_2", "type": "reasoning", "text": "thinking"}},
        {"type": "item.completed", "item": {"id": "item_3", "type": "agent_message", "text": "Fixed it."}},
        {"type": "turn.completed", "usage": {"input_tokens": 1000, "cached_input_tokens": 800, "output_tokens": 50}},
    )
    assert events == [
        SessionStarted("th-1"),
        Other("turn.started"),
        ToolCall("shell", {"command": "bash -lc ls"}, "item_0"),
        ToolResult("item_0", "a\n", True),
        ToolCall("edit", {"changes": [{"path": "/w/a.py", "kind": "update"}]}, "item_1"),
        ToolResult("item_1", "completed", False),
        Other("item.completed/reasoning"),
        AssistantText("Fixed it."),
        TurnUsage(1000, 800, 50),
    ]


def test_codex_mcp_calls_and_web_searches() -> None:
    call = {"id": "i", "type": "mcp_tool_call", "server": "docs", "tool": "lookup", "arguments": {"q": "x"},
            "status": "in_progress"}
    events = codex(
        {"type": "item.started", "item": call},
        {"type": "item.completed", "item": {**call, "status": "failed", "error": {"message": "server down"}}},
        {"type": "item.completed", "item": {"id": "w", "type": "web_search", "query": "git worktree"}},
    )
    assert events == [
        ToolCall("docs.lookup", {"q": "x"}, "i"),
        ToolResult("i", "server down", True),
        ToolCall("web_search", {"query": "git worktree"}, "w"),
        ToolResult("w", "", False),
    ]


def test_codex_failures_are_fatal_error_events() -> None:
    assert codex(
        {"type": "item.completed", "item": {"id": "e", "type": "error", "message": "a tool warning"}},
        {"type": "error", "message": "stream disconnected"},
        {"type": "turn.failed", "error": {"message": "You've hit your usage limit."}},
    ) == [
        ErrorEvent("a tool warning", kind="item.error"),
        ErrorEvent("stream disconnected", kind="error", fatal=True),
        ErrorEvent("You've hit your usage limit.", kind="turn.failed", fatal=True),
    ]


@pytest.mark.parametrize("format", ["claude-stream", "codex-json"])
def test_lines_that_are_not_json_are_kept_as_raw_text(format: str) -> None:
    parser = parser_for(format)
    assert parser.feed("Warning: something on stderr") == [Raw("Warning: something on stderr")]
    assert parser.feed("") == [] and parser.feed("   ") == []
    assert parser.feed("[1, 2]") == [Raw("[1, 2]", broken=True)]
    assert parser.feed('"just a string"') == [Raw('"just a string"')]


def test_a_line_cut_at_64_kib_is_kept_broken_and_nothing_else_is_lost() -> None:
    line = json.dumps({"type": "user", "message": {"content": [{"type": "tool_result", "content": "x" * 70000}]}})
    events = claude(line[:65536], {"type": "result", "subtype": "success", "is_error": False, "result": "ok"})
    assert events[0] == Raw(line[:65536], broken=True)
    assert isinstance(events[1], Result) and events[1].text == "ok"


def test_an_event_written_into_the_middle_of_another_is_recovered() -> None:
    inner = {"type": "rate_limit_event", "rate_limit_info": {"status": "rejected", "resetsAt": 1800000000}}
    first = '{"type":"assistant","message":{"content":[{"type":"text","text":"partial ' + json.dumps(inner)
    second = ' the rest of the text"}]}}'
    events = claude(first, second)
    assert RateLimit("rejected", 1800000000.0, None) in events
    assert [e for e in events if isinstance(e, Raw)] == [
        Raw('{"type":"assistant","message":{"content":[{"type":"text","text":"partial', broken=True),
        Raw(second.strip(), broken=True),
    ]


def test_two_events_on_one_line_are_both_read() -> None:
    line = json.dumps({"type": "thread.started", "thread_id": "a"}) + json.dumps({"type": "turn.started"})
    assert codex(line) == [SessionStarted("a"), Other("turn.started")]


def test_json_objects_splits_objects_from_text() -> None:
    assert json_objects('noise {"type": "x", "n": 1} more') == ["noise", {"type": "x", "n": 1}, "more"]
    assert json_objects('{"a": 1}') == [{"a": 1}]  # a whole line is taken as the program meant it
    assert json_objects("{not json") == ["{not json"]


def test_a_huge_broken_line_is_not_searched_for_events() -> None:
    line = '{"type":"x","y":"' + "z" * SALVAGE_MAX_CHARS
    assert json_objects(line) == [line]


def test_text_output_is_raw_lines() -> None:
    parser = parser_for("text")
    assert parser.feed("Applied edit to app.py") == [Raw("Applied edit to app.py")]
    assert parser.feed('{"type": "looks like json"}') == [Raw('{"type": "looks like json"}')]
    with pytest.raises(ValueError, match="unknown output format"):
        parser_for("xml")
