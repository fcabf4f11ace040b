"""Coding-agent kinds: Claude Code, Codex CLI, Aider, Gemini CLI and Cursor's agent, run on a prompt
in a working folder, with what they print read into events, figures and failure classes. No Qt."""

from desktop.agents.coding.display import describe_tool, render
from desktop.agents.coding.events import (
    ApiRetry,
    AssistantText,
    ErrorEvent,
    Event,
    Omitted,
    Other,
    RateLimit,
    Raw,
    Result,
    SessionStarted,
    ToolCall,
    ToolResult,
    TurnUsage,
)
from desktop.agents.coding.failures import RULES, AgentRunFailed, Evidence, classify, reset_time
from desktop.agents.coding.kind import DEFAULT_TIMEOUT_S, CodingAgentKind
from desktop.agents.coding.parsers import parser_for
from desktop.agents.coding.presets import PRESETS, Invocation, Preset
from desktop.agents.coding.pricing import PRICES, codex_cost
from desktop.agents.coding.summary import RunSummary
from desktop.agents.coding.transcript import (
    TranscriptFollower,
    TranscriptWriter,
    read_transcript,
    transcript_files,
    transcripts_dir,
)


def coding_kinds() -> list[CodingAgentKind]:
    """One kind per known coding-agent program."""
    return [CodingAgentKind(preset) for preset in PRESETS.values()]


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "PRESETS",
    "PRICES",
    "RULES",
    "AgentRunFailed",
    "ApiRetry",
    "AssistantText",
    "CodingAgentKind",
    "ErrorEvent",
    "Event",
    "Evidence",
    "Invocation",
    "Omitted",
    "Other",
    "Preset",
    "RateLimit",
    "Raw",
    "Result",
    "RunSummary",
    "SessionStarted",
    "ToolCall",
    "ToolResult",
    "TranscriptFollower",
    "TranscriptWriter",
    "TurnUsage",
    "classify",
    "codex_cost",
    "coding_kinds",
    "describe_tool",
    "parser_for",
    "read_transcript",
    "render",
    "reset_time",
    "transcript_files",
    "transcripts_dir",
]
