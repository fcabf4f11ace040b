"""The presets: each program's non-interactive flags, config and payload validation, registration."""

from __future__ import annotations

from typing import Any

import pytest

from desktop.agents.coding import DEFAULT_TIMEOUT_S, PRESETS, CodingAgentKind, Invocation, codex_cost
from desktop.agents.coding.display import describe_tool, render
from desktop.agents.coding.events import RateLimit, Raw, ToolResult
from desktop.agents.registry import get_kind, validate_agent
from desktop.errors import TaskValidationError

FULL = Invocation("-fix the bug", "m1", 7, 1.5, "sess-1", ("--extra", "x"), ("/repo/.git",))


@pytest.mark.parametrize(
    ("name", "argv"),
    [
        ("claude", ["claude", "-p", "--output-format", "stream-json", "--verbose", "--permission-mode", "acceptEdits",
                    "--model", "m1", "--max-turns", "7", "--max-budget-usd", "1.5", "--resume", "sess-1",
                    "--add-dir", "/repo/.git", "--extra", "x", "--", "-fix the bug"]),
        ("codex", ["codex", "exec", "--json", "--sandbox", "workspace-write", "-m", "m1", "--add-dir", "/repo/.git",
                   "--extra", "x", "resume", "sess-1", "--", "-fix the bug"]),
        ("aider", ["aider", "--yes-always", "--no-pretty", "--model", "m1", "--extra", "x", "--message=-fix the bug"]),
        ("gemini", ["gemini", "--approval-mode", "auto_edit", "--model", "m1", "--extra", "x",
                    "--prompt=-fix the bug"]),
        ("cursor", ["cursor-agent", "--print", "--force", "--output-format", "text", "--model", "m1", "--extra", "x",
                    "--", "-fix the bug"]),
    ],
)
def test_each_preset_knows_its_programs_flags(name: str, argv: list[str]) -> None:
    preset = PRESETS[name]
    assert preset.argv([preset.program], FULL) == argv


def test_the_minimal_claude_and_codex_commands() -> None:
    assert PRESETS["claude"].argv(["claude"], Invocation("go")) == [
        "claude", "-p", "--output-format", "stream-json", "--verbose", "--permission-mode", "acceptEdits", "--", "go",
    ]
    assert PRESETS["codex"].argv(["npx", "codex"], Invocation("go")) == [
        "npx", "codex", "exec", "--json", "--sandbox", "workspace-write", "--", "go",
    ]


def test_the_kinds_are_registered_with_a_two_hour_default_timeout() -> None:
    for name in ("claude", "codex", "aider", "gemini", "cursor"):
        kind = get_kind(name)
        assert isinstance(kind, CodingAgentKind) and kind.default_timeout_s == DEFAULT_TIMEOUT_S == 7200
        assert kind.timeout_for({}) == 7200 and kind.timeout_for({"timeout_s": 60}) == 60
        assert kind.description


def test_a_full_claude_config_is_valid() -> None:
    validate_agent("claude", {
        "cli": "/opt/claude", "model": "opus", "max_turns": 30, "max_budget_usd": 2.5,
        "extra_args": ["--add-dir", "../lib"], "timeout_s": 3600, "env": {"ANTHROPIC_API_KEY": "k"},
    })
    validate_agent("codex", {"cli": ["npx", "@openai/codex"], "model": "gpt-5"})
    validate_agent("aider", {})


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("claude", {"cli": ""}, "config.cli"),
        ("claude", {"cli": []}, "config.cli"),
        ("claude", {"cli": ["npx", 3]}, "config.cli"),
        ("claude", {"model": ""}, "config.model"),
        ("claude", {"max_turns": 0}, "config.max_turns"),
        ("claude", {"max_turns": 2.5}, "config.max_turns"),
        ("claude", {"max_turns": True}, "config.max_turns"),
        ("claude", {"max_budget_usd": -1}, "config.max_budget_usd"),
        ("claude", {"max_budget_usd": float("inf")}, "config.max_budget_usd"),
        ("claude", {"extra_args": "--verbose"}, "config.extra_args"),
        ("claude", {"extra_args": ["ok", 5]}, "config.extra_args[1]"),
        ("claude", {"env": {"A": 1}}, "config.env.A"),
        ("claude", {"timeout_s": 0}, "config.timeout_s"),
        ("claude", {"argv": ["x"]}, "config.argv"),
        ("codex", {"max_turns": 5}, "config.max_turns"),
        ("aider", {"max_budget_usd": 1}, "config.max_budget_usd"),
        ("gemini", {"max_turns": 5}, "config.max_turns"),
    ],
)
def test_bad_configs_name_the_field(kind: str, config: dict[str, Any], field: str) -> None:
    with pytest.raises(TaskValidationError) as info:
        validate_agent(kind, config)
    assert info.value.field == field and info.value.rule


def test_an_option_the_program_lacks_is_named_with_what_it_has() -> None:
    with pytest.raises(TaskValidationError) as info:
        validate_agent("codex", {"max_turns": 5})
    assert info.value.rule == "Codex CLI has no such option (its settings: model)"


@pytest.mark.parametrize(
    ("kind", "payload", "field"),
    [
        ("claude", None, "payload"),
        ("claude", {}, "payload.prompt"),
        ("claude", {"prompt": ""}, "payload.prompt"),
        ("claude", {"prompt": "   "}, "payload.prompt"),
        ("claude", {"prompt": 5}, "payload.prompt"),
        ("claude", {"prompt": "a\0b"}, "payload.prompt"),
        ("claude", {"prompt": "x", "workdir": ""}, "payload.workdir"),
        ("claude", {"prompt": "x", "session_id": 3}, "payload.session_id"),
        ("aider", {"prompt": "x", "session_id": "s"}, "payload.session_id"),
    ],
)
def test_bad_payloads_name_the_field(kind: str, payload: Any, field: str) -> None:
    with pytest.raises(TaskValidationError) as info:
        get_kind(kind).validate_payload(payload)  # type: ignore[attr-defined]
    assert info.value.field == field


def test_tools_are_described_in_a_few_words() -> None:
    assert describe_tool("Edit", {"file_path": "/w/src/app.py"}, "/w") == "Edit src/app.py"
    assert describe_tool("Edit", {"file_path": "/elsewhere/x.py"}, "/w") == "Edit /elsewhere/x.py"
    assert describe_tool("Bash", {"command": "npm test\n  --watch=false"}) == "Bash npm test --watch=false"
    assert describe_tool("shell", {"command": "bash -lc ls"}) == "Run bash -lc ls"
    assert describe_tool("edit", {"changes": [{"path": "/w/a.py"}, {"path": "/w/b.py"}]}, "/w") == "Edit a.py, b.py"
    assert describe_tool("TodoWrite", {"todos": []}) == "TodoWrite"
    assert describe_tool("mcp.tool", {"q": "docs"}) == "mcp.tool docs"
    assert len(describe_tool("Bash", {"command": "x" * 500})) <= 85


def test_the_readable_tail_shows_no_raw_json() -> None:
    assert render(Raw('{"type":"assistant","message":{"content":[{"ty', broken=True)) == [
        "(a damaged output line of 46 characters; kept in the transcript)"
    ]
    assert render(ToolResult("t", "ok")) == [] and render(ToolResult("t", "boom", True)) == ["← failed: boom"]
    assert render(RateLimit("allowed", 5.0)) == []
    assert render(RateLimit("rejected", 1800000000.0, "five_hour"))[0].startswith("usage limit reached (five_hour")


def test_codex_cost_comes_from_the_price_table() -> None:
    # 1000 fresh input tokens at $1.25/M, 9000 cached at $0.125/M, 500 output at $10/M
    assert codex_cost("gpt-5", 10_000, 9_000, 500) == pytest.approx((1000 * 1.25 + 9000 * 0.125 + 500 * 10) / 1e6)
    assert codex_cost("GPT-5-Codex", 0, 0, 1_000_000) == 10.0
    assert codex_cost("some-new-model", 10, 0, 10) is None
    assert codex_cost(None, 10, 0, 10) is None
