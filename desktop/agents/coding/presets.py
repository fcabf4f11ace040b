"""The coding-agent programs Agent Queue knows, and how each is run non-interactively.

- ``claude``: ``claude -p --output-format stream-json --verbose --permission-mode acceptEdits
  [--model M] [--max-turns N] [--max-budget-usd X] [--resume SESSION] [--add-dir D] -- PROMPT``
- ``codex``: ``codex exec --json --sandbox workspace-write [-m M] [--add-dir D] [resume SESSION] -- PROMPT``
- ``aider``: ``aider --yes-always --no-pretty [--model M] --message=PROMPT`` (Aider commits itself)
- ``gemini``: ``gemini --approval-mode auto_edit [--model M] --prompt=PROMPT``
- ``cursor``: ``cursor-agent --print --force --output-format text [--model M] -- PROMPT``

``--add-dir`` names folders the agent may write besides its working folder: a worktree's commits
go to the repository's shared ``.git`` folder, which Codex's sandbox blocks otherwise. Claude Code
and Codex print JSON lines that are parsed into events (session, turns, cost, tokens);
the other three print text, kept as it comes.

Each lets the agent edit files in its working folder without asking (Claude Code's
``acceptEdits``, Codex's ``workspace-write`` sandbox, Aider's ``--yes-always``, Gemini's
``auto_edit``, Cursor's ``--force``); anything more goes in ``config.extra_args``, which come
after these flags (for Claude Code the last ``--permission-mode`` given wins). The prompt is always
passed as one argument after ``--`` or in ``--flag=PROMPT`` form, so a prompt starting with a dash
is never read as an option.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from desktop.agents.coding.pricing import codex_cost


@dataclass(frozen=True, slots=True)
class Invocation:
    """What one run asks of the program."""

    prompt: str
    model: str | None = None
    max_turns: int | None = None
    max_budget_usd: float | None = None
    session_id: str | None = None  # resume this session
    extra_args: tuple[str, ...] = ()
    writable_dirs: tuple[str, ...] = ()  # beyond the working folder, e.g. a worktree's shared .git folder


@dataclass(frozen=True, slots=True)
class Preset:
    """A coding-agent program: its kind name, default program, output format and flags.

    Attributes:
        options: the optional settings it supports, of ``model``, ``max_turns``,
            ``max_budget_usd``, ``resume``.
        login / install: what to tell a user whose program is not logged in / not installed.
    """

    name: str
    program: str
    title: str
    output: str  # a format of parsers.FORMATS
    options: frozenset[str]
    login: str
    install: str
    build: Callable[[Sequence[str], Invocation], list[str]]
    # (model, input tokens, cached tokens, output tokens) -> USD, for programs that print no cost
    cost: Callable[[str | None, int, int, int], float | None] | None = None

    def argv(self, cli: Sequence[str], run: Invocation) -> list[str]:
        return self.build(cli, run)


def _claude(cli: Sequence[str], run: Invocation) -> list[str]:
    argv = [*cli, "-p", "--output-format", "stream-json", "--verbose", "--permission-mode", "acceptEdits"]
    if run.model:
        argv += ["--model", run.model]
    if run.max_turns is not None:
        argv += ["--max-turns", str(run.max_turns)]
    if run.max_budget_usd is not None:
        argv += ["--max-budget-usd", f"{run.max_budget_usd:g}"]
    if run.session_id:
        argv += ["--resume", run.session_id]
    for folder in run.writable_dirs:
        argv += ["--add-dir", folder]
    return [*argv, *run.extra_args, "--", run.prompt]


def _codex(cli: Sequence[str], run: Invocation) -> list[str]:
    argv = [*cli, "exec", "--json", "--sandbox", "workspace-write"]
    if run.model:
        argv += ["-m", run.model]
    for folder in run.writable_dirs:
        argv += ["--add-dir", folder]
    argv += run.extra_args
    if run.session_id:
        argv += ["resume", run.session_id]
    return [*argv, "--", run.prompt]


def _aider(cli: Sequence[str], run: Invocation) -> list[str]:
    argv = [*cli, "--yes-always", "--no-pretty"]
    if run.model:
        argv += ["--model", run.model]
    return [*argv, *run.extra_args, f"--message={run.prompt}"]


def _gemini(cli: Sequence[str], run: Invocation) -> list[str]:
    argv = [*cli, "--approval-mode", "auto_edit"]
    if run.model:
        argv += ["--model", run.model]
    return [*argv, *run.extra_args, f"--prompt={run.prompt}"]


def _cursor(cli: Sequence[str], run: Invocation) -> list[str]:
    argv = [*cli, "--print", "--force", "--output-format", "text"]
    if run.model:
        argv += ["--model", run.model]
    return [*argv, *run.extra_args, "--", run.prompt]


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "claude", "claude", "Claude Code", "claude-stream",
            frozenset({"model", "max_turns", "max_budget_usd", "resume"}),
            login="run `claude` once in a terminal to log in, or set ANTHROPIC_API_KEY in config.env",
            install="npm install -g @anthropic-ai/claude-code",
            build=_claude,
        ),
        Preset(
            "codex", "codex", "Codex CLI", "codex-json", frozenset({"model", "resume"}),
            login="run `codex login` in a terminal, or set OPENAI_API_KEY in config.env",
            install="npm install -g @openai/codex",
            build=_codex,
            cost=codex_cost,
        ),
        Preset(
            "aider", "aider", "Aider", "text", frozenset({"model"}),
            login="set the model provider's API key (ANTHROPIC_API_KEY, OPENAI_API_KEY, ...) in config.env",
            install="python -m pip install aider-install && aider-install",
            build=_aider,
        ),
        Preset(
            "gemini", "gemini", "Gemini CLI", "text", frozenset({"model"}),
            login="run `gemini` once in a terminal to sign in, or set GEMINI_API_KEY in config.env",
            install="npm install -g @google/gemini-cli",
            build=_gemini,
        ),
        Preset(
            "cursor", "cursor-agent", "Cursor's agent", "text", frozenset({"model"}),
            login="run `cursor-agent login` in a terminal, or set CURSOR_API_KEY in config.env",
            install="curl https://cursor.com/install -fsS | bash",
            build=_cursor,
        ),
    )
}
