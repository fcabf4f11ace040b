"""Which parser reads which output format: Claude Code stream-json, Codex exec --json, plain text."""

from __future__ import annotations

from typing import Protocol

from desktop.agents.coding.claude_stream import ClaudeStreamParser
from desktop.agents.coding.codex_json import CodexJsonParser
from desktop.agents.coding.events import Event, Raw

FORMATS = ("claude-stream", "codex-json", "text")


class Parser(Protocol):
    format: str

    def feed(self, line: str) -> list[Event]:
        """The events one line of output holds (never raises: what does not parse is `Raw`)."""


class TextParser:
    """Programs without structured output (Aider, Gemini CLI and Cursor in text mode): every line is text."""

    format = "text"

    def feed(self, line: str) -> list[Event]:
        return [Raw(line)] if line.strip() else []


def parser_for(format: str) -> Parser:
    """A fresh parser for `format` (one of FORMATS)."""
    if format == "claude-stream":
        return ClaudeStreamParser()
    if format == "codex-json":
        return CodexJsonParser()
    if format == "text":
        return TextParser()
    raise ValueError(f"unknown output format {format!r}; known: {', '.join(FORMATS)}")
