"""The coding-agent kinds (`claude`, `codex`, `aider`, `gemini`, `cursor`): run the program on a
prompt in a working folder, read what it prints, report the attempt, decide what a failure means.

Config (every setting optional)::

    {"cli": "claude",             # the program: a path or name, or an argv prefix such as ["npx", "x"]
     "model": "sonnet",           # --model
     "max_turns": 30,             # claude only
     "max_budget_usd": 2.5,       # claude only
     "extra_args": ["--add-dir", "../lib"],   # added after the preset's own flags
     "timeout_s": 7200,           # default 2 hours; the task's own timeout wins
     "env": {"ANTHROPIC_API_KEY": "..."}}     # added to the worker's environment

Payload: ``{"prompt": "...", "workdir": "/path/to/worktree", "session_id": "..."}``. ``prompt`` is
required; ``workdir`` is the folder the agent works in (the engine will pass the task's worktree:
until then the payload names it); ``session_id`` resumes that session (claude, codex). The program
also gets ``AGENTQ_TASK_ID`` in its environment.

The raw output of each attempt is kept in ``<transcripts_dir>/task-<id>-attempt-<n>.jsonl``
(bounded, see transcript.py); the output tail and the task log get a readable version: the
agent's text and tool calls, never raw JSON.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from desktop.agents._config import config_dict, positive_seconds, string_map, validated
from desktop.agents.base import PermanentError, TaskContext
from desktop.agents.coding.display import render
from desktop.agents.coding.failures import Evidence, classify, not_installed
from desktop.agents.coding.parsers import parser_for
from desktop.agents.coding.presets import Invocation, Preset
from desktop.agents.coding.summary import RunSummary
from desktop.agents.coding.transcript import TranscriptWriter, transcripts_dir
from desktop.agents.process import ProgramNotFound, run_program
from desktop.errors import TaskValidationError
from desktop.queue.types import Task

DEFAULT_TIMEOUT_S = 2 * 60 * 60.0
LINE_BYTES = 8 * 1024 * 1024  # one JSON line can carry a whole file read by a tool
FINAL_MESSAGE_CHARS = 32 * 1024
_SETTINGS = ("cli", "model", "max_turns", "max_budget_usd", "extra_args", "timeout_s", "env")
_OPTIONS = ("model", "max_turns", "max_budget_usd")  # settings only some programs have


class CodingAgentKind:
    """One coding-agent program as an agent kind.

    Attributes:
        preset: the program and its flags.
        default_timeout_s: the timeout when neither the task, the agent nor its config sets one.
        transcripts_dir: where raw transcripts go (default: ``<data folder>/transcripts``).
    """

    default_timeout_s = DEFAULT_TIMEOUT_S

    def __init__(
        self,
        preset: Preset,
        *,
        transcripts_dir: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.preset = preset
        self.name = preset.name
        self.description = f"Run {preset.title} on a prompt in a working folder (session, cost and tokens read)."
        self.transcripts_dir = Path(transcripts_dir) if transcripts_dir is not None else None
        self._clock = clock

    # -- validation ---------------------------------------------------------------------------

    def validate(self, config: dict[str, Any]) -> None:
        config = config_dict(config, _SETTINGS, self.name)
        cli = config.get("cli")
        if cli is not None:
            items = [cli] if isinstance(cli, str) else cli
            if not isinstance(items, list) or not items or not all(isinstance(i, str) and i.strip() for i in items):
                raise TaskValidationError("config.cli", "must be the program (a path or name) or a non-empty argv list")
            if any("\0" in item for item in items):
                raise TaskValidationError("config.cli", "must not contain a NUL character")
        for key in _OPTIONS:
            if config.get(key) is not None and key not in self.preset.options:
                supported = ", ".join(sorted(o for o in self.preset.options if o != "resume")) or "none"
                raise TaskValidationError(
                    f"config.{key}", f"{self.preset.title} has no such option (its settings: {supported})"
                )
        model = config.get("model")
        if model is not None and (not isinstance(model, str) or not model.strip() or "\0" in model):
            raise TaskValidationError("config.model", "must be a model name such as 'sonnet'")
        turns = config.get("max_turns")
        if turns is not None and (isinstance(turns, bool) or not isinstance(turns, int) or turns < 1):
            raise TaskValidationError("config.max_turns", "must be a whole number of turns, at least 1")
        budget = config.get("max_budget_usd")
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, int | float) or not math.isfinite(budget) or budget <= 0
        ):
            raise TaskValidationError("config.max_budget_usd", "must be a positive number of US dollars")
        extra = config.get("extra_args")
        if extra is not None:
            if not isinstance(extra, list):
                raise TaskValidationError("config.extra_args", "must be a list of strings")
            for i, arg in enumerate(extra):
                if not isinstance(arg, str) or "\0" in arg:
                    raise TaskValidationError(f"config.extra_args[{i}]", "must be a string without NUL characters")
        for key, value in string_map(config, "env").items():
            if "=" in key or "\0" in key or "\0" in value:
                raise TaskValidationError(f"config.env.{key}", "names must not contain '=' and nothing may contain NUL")
        positive_seconds(config, "timeout_s")

    def validate_payload(self, payload: Any) -> None:
        """Check a task's payload for this kind (TaskValidationError naming ``payload.<key>``)."""
        if not isinstance(payload, dict):
            raise TaskValidationError("payload", 'must be a JSON object such as {"prompt": "fix the failing test"}')
        prompt = payload.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise TaskValidationError("payload.prompt", "must be a non-empty string: what the agent should do")
        if "\0" in prompt:
            raise TaskValidationError("payload.prompt", "must not contain a NUL character")
        workdir = payload.get("workdir")
        if workdir is not None and (not isinstance(workdir, str) or not workdir.strip() or "\0" in workdir):
            raise TaskValidationError("payload.workdir", "must be the path of the folder the agent works in")
        session = payload.get("session_id")
        if session is not None:
            if not isinstance(session, str) or not session.strip() or "\0" in session:
                raise TaskValidationError("payload.session_id", "must be the id of a session to resume")
            if "resume" not in self.preset.options:
                raise TaskValidationError("payload.session_id", f"{self.preset.title} cannot resume a session")

    def timeout_for(self, config: Mapping[str, Any]) -> float:
        """The config's ``timeout_s``, else this kind's default (2 hours)."""
        return positive_seconds(dict(config), "timeout_s") or self.default_timeout_s

    # -- running ------------------------------------------------------------------------------

    def run(self, task: Task, config: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        try:
            self.validate_payload(task.payload)
        except TaskValidationError as exc:
            raise PermanentError(str(exc)) from None
        workdir = task.payload.get("workdir")
        if workdir is None:
            raise PermanentError("payload.workdir: the folder the agent works in is missing")
        return self.execute(
            task, config, ctx, prompt=task.payload["prompt"], workdir=workdir, session_id=task.payload.get("session_id")
        )

    def execute(
        self,
        task: Task,
        config: dict[str, Any],
        ctx: TaskContext,
        *,
        prompt: str,
        workdir: str | os.PathLike[str],
        session_id: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        writable_dirs: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """Run the program on `prompt` in `workdir` (resuming `session_id`), with `extra_env` added
        (the engine's AGENTQ_WORKTREE, AGENTQ_BRANCH, PORT) and `writable_dirs` open to it (for a
        worktree: the repository's shared git folder, so it can commit). Returns the run's figures;
        raises UsageLimitReached, PermanentError or AgentRunFailed as failures.py decides."""
        config = validated(self.validate, config)
        folder = str(workdir)
        if not os.path.isdir(folder):
            raise PermanentError(f"payload.workdir: the folder {folder!r} does not exist")
        cli = config.get("cli") or self.preset.program
        cli_argv = [cli] if isinstance(cli, str) else list(cli)
        argv = self.preset.argv(
            cli_argv,
            Invocation(
                prompt=prompt,
                model=config.get("model"),
                max_turns=config.get("max_turns"),
                max_budget_usd=config.get("max_budget_usd"),
                session_id=session_id,
                extra_args=tuple(config.get("extra_args") or ()),
                writable_dirs=tuple(writable_dirs),
            ),
        )
        env = {**os.environ, **(config.get("env") or {}), "AGENTQ_TASK_ID": str(task.id), **(extra_env or {})}
        timeout = ctx.timeout_s if ctx.timeout_s is not None else self.timeout_for(config)
        ctx.check_cancelled()
        transcript = TranscriptWriter(self._transcript_path(task), self.preset.output)
        summary = RunSummary(workdir=folder, model=config.get("model"))
        reader = _OutputReader(ctx, summary, transcript, parser_for(self.preset.output), config.get("max_turns"))
        try:
            code = run_program(
                argv,
                on_line=reader.on_line,
                on_note=reader.log,
                cancel_event=ctx.cancel_event,
                timeout_s=timeout,
                cwd=folder,
                env=env,
                max_line_bytes=LINE_BYTES,
                name=self.preset.title,
                on_started=ctx.started_process,
            )
        except ProgramNotFound:
            raise not_installed(self.preset.title, cli_argv[0], self.preset.install) from None
        finally:
            transcript.close()
            if self.preset.cost is not None and summary.cost_usd is None and summary.input_tokens is not None:
                summary.cost_usd = self.preset.cost(
                    config.get("model"), summary.input_tokens, summary.cached_tokens or 0, summary.output_tokens or 0
                )
            details = _details(summary, transcript.path)
            ctx.report(**{k: v for k, v in details.items() if v is not None})
        evidence = Evidence(
            self.preset.name, code, summary, config, {"login": self.preset.login, "install": self.preset.install}
        )
        verdict = classify(evidence, structured=self.preset.output != "text", now=self._clock())
        if verdict is not None:
            rule, error = verdict
            reader.log(f"({rule}) {error}")
            raise error
        return {"exit_code": code, "workdir": folder, **details}

    def _transcript_path(self, task: Task) -> Path:
        folder = self.transcripts_dir or transcripts_dir()
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"task-{task.id}-attempt-{task.attempts}"
        path, n = folder / f"{stem}.jsonl", 1
        while path.exists():  # a run parked at a usage limit comes back with the same attempt number
            n += 1
            path = folder / f"{stem}.{n}.jsonl"
        return path


def _details(summary: RunSummary, transcript: Path) -> dict[str, Any]:
    final = summary.final_message
    return {
        "session_id": summary.session_id,
        "turns": summary.turns,
        "cost_usd": summary.cost_usd,
        "input_tokens": summary.input_tokens,
        "output_tokens": summary.output_tokens,
        "cached_tokens": summary.cached_tokens,
        "final_message": final[:FINAL_MESSAGE_CHARS] if final else None,
        "error_subtype": summary.error_subtype,
        "transcript_path": str(transcript),
        "model": summary.model,
    }


class _OutputReader:
    """Handles each line of output on the reader thread: transcript, events, readable log, progress."""

    def __init__(
        self, ctx: TaskContext, summary: RunSummary, transcript: TranscriptWriter, parser: Any, max_turns: int | None
    ) -> None:
        self._ctx = ctx
        self._summary = summary
        self._transcript = transcript
        self._parser = parser
        self._max_turns = max_turns
        self._last_progress: str | None = None
        self._log_broken = False
        self._lock = threading.Lock()

    def log(self, line: str) -> None:
        if self._log_broken:
            return
        try:
            self._ctx.log(line)
        except Exception:  # e.g. a full disk: keep reading so the program never blocks
            self._log_broken = True

    def on_line(self, line: str) -> None:
        with self._lock:
            self._summary.lines += 1
            self._transcript.write(line)
            for event in self._parser.feed(line):
                self._summary.apply(event)
                for text in render(event, self._summary.workdir):
                    self.log(text)
            message = self._summary.progress_message()
            if message is not None and message != self._last_progress:
                self._last_progress = message
                turns = self._summary.turns_seen
                percent = min(99, turns * 100 // self._max_turns) if self._max_turns else 0
                self._ctx.progress(percent, message)
